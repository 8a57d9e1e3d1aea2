package ingest_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/canonical/ingest"
	"github.com/dualgate/dualgate/canonical/ingest/kvbench"
	"github.com/dualgate/dualgate/catalog"
)

// benchKV is the ingest bar's catalog (package kvbench).
const benchKV = kvbench.Catalog

func kvRows(from, n int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		id := int64(from + i + 1)
		rows[i] = []any{id, fmt.Sprintf("value-%d", id), id * 7}
	}
	return rows
}

// ingestRows is the rows of one Ingest in BenchmarkIngestKV; the bar is
// 1M (-args -ingest-rows 1000000).
var ingestRows = flag.Int("ingest-rows", 100_000, "rows per Ingest of BenchmarkIngestKV")

// BenchmarkIngestKV ingests -ingest-rows (100k by default) new kv rows per
// iteration through the pipeline (raw capture, dedupe, mapping, checks,
// one synced commit), as the gateway's COPY into raw.kv_src does after
// parsing.
//
//	go test ./canonical/ingest/ -run '^$' -bench IngestKV -benchtime 5x -cpuprofile /tmp/ing.prof
func BenchmarkIngestKV(b *testing.B) {
	n := *ingestRows
	ctx := context.Background()
	cat, err := catalog.LoadFiles(catalog.File{Name: "bench.yaml", Data: []byte(benchKV)})
	if err != nil {
		b.Fatal(err)
	}
	s, err := canonical.Open(ctx, b.TempDir(), canonical.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p, err := ingest.New(s, cat, query, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	if err := p.EnsureSchema(ctx); err != nil {
		b.Fatal(err)
	}
	batches := make([][][]any, b.N)
	for i := range batches {
		batches[i] = kvRows(i*n, n)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		rep, err := p.Ingest(ctx, "kv_src", batches[i], "bench")
		if err != nil {
			b.Fatal(err)
		}
		if rep.Committed != n {
			b.Fatalf("committed %d of %d: %s", rep.Committed, n, rep.Notice())
		}
	}
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "rows/s")
}
