package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The ingest bar: COPY of -ingest-rows rows (1M, the bar's size) into
// PostgreSQL's indexed table against COPY into dualgate's raw source,
// mapped and committed, each side acknowledged only once durable.
//
// One load per side is a poor estimate on a shared 2-core machine: the
// same 1M-row COPY into PostgreSQL took anywhere from 490k to 810k rows/s
// between identical runs, and the ratio of single loads moved from 0.46x
// to 0.78x with no code change. So the bar takes -ingest-loads loads per
// side, alternating which side goes first in each round, and reports each
// side's median. Every dualgate load goes into a fresh `dualgate serve`
// on an empty data directory (the bench catalog, its projection
// included), every PostgreSQL load into a freshly created table, so no
// load finds the previous one's rows.
type ingestResult struct {
	rows   int
	pg, dg []time.Duration
}

func ingestBench(ctx context.Context, peer target, rows, loads int) (ingestResult, error) {
	res := ingestResult{rows: rows}
	pgLoad := func() error {
		d, err := load(ctx, peer,
			"DROP TABLE IF EXISTS kv_ingest; CREATE TABLE kv_ingest (id int8 PRIMARY KEY, val text NOT NULL, n int8 NOT NULL)",
			"COPY kv_ingest (id, val, n) FROM STDIN", rows)
		if err != nil {
			return fmt.Errorf("ingest into postgresql: %w", err)
		}
		res.pg = append(res.pg, d)
		return nil
	}
	dgLoad := func() error {
		dg, err := startDualgate(ctx, "")
		if err != nil {
			return fmt.Errorf("ingest: start dualgate: %w", err)
		}
		defer dg.stop()
		d, err := load(ctx, dg.target, "", "COPY raw.kv_src (id, val, n) FROM STDIN", rows)
		if err != nil {
			return fmt.Errorf("ingest into dualgate: %w", err)
		}
		res.dg = append(res.dg, d)
		return nil
	}
	for r := 0; r < loads; r++ {
		order := []func() error{pgLoad, dgLoad}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, f := range order {
			if err := f(); err != nil {
				return res, err
			}
		}
	}
	if err := execSQL(ctx, peer, "DROP TABLE IF EXISTS kv_ingest"); err != nil {
		return res, err
	}
	return res, nil
}

// rates is each load's rows/s, in load order.
func (r ingestResult) rates(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = rows2s(r.rows, d)
	}
	return out
}

// median is the median rows/s of ds (the lower middle of an even count).
func (r ingestResult) median(ds []time.Duration) float64 {
	rs := r.rates(ds)
	slices.Sort(rs)
	return rs[(len(rs)-1)/2]
}

// loadsLine lists every load's rows/s per side, in thousands.
func (r ingestResult) loadsLine() string {
	list := func(ds []time.Duration) string {
		var parts []string
		for _, v := range r.rates(ds) {
			parts = append(parts, fmt.Sprintf("%.0fk", v/1000))
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprintf("  %d loads of %d rows each, rows/s: postgresql %s; dualgate %s", len(r.pg), r.rows, list(r.pg), list(r.dg))
}
