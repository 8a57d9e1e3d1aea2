package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/cmd/internal/primary"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/projections"
)

// reconcileCatalog is one entity, a projection of every column of it, and
// two record rules over the pair: the bucketed one (the right side reads the
// whole projection) and the same comparison forced key by key (a WHERE
// clause makes the right side an arbitrary query).
const reconcileCatalog = `context: recon_bench
owner: bench
sources:
  account_events:
    columns: {id: bigint, owner: text, balance_cents: bigint}
    dedupe_key: [id]
entities:
  accounts:
    key: [id]
    columns: {id: bigint, owner: text, balance_cents: bigint}
    mappings:
      - {source: account_events, version: 1, select: "SELECT id, owner, balance_cents FROM batch"}
projections:
  account_view:
    key: [id]
    freshness_sla: 1s
    select: SELECT id, owner, balance_cents FROM canonical.accounts
    affected_by: {accounts: id}
reconciliations:
  accounts_bucketed:
    level: record
    left: SELECT id, owner, balance_cents FROM canonical.accounts
    right: SELECT id, owner, balance_cents FROM serving.account_view
    match: [id]
  accounts_keyed:
    level: record
    left: SELECT id, owner, balance_cents FROM canonical.accounts
    right: SELECT id, owner, balance_cents FROM serving.account_view WHERE id >= 0
    match: [id]
`

// reconcileBench measures the reconciliation bar of DESIGN.md: a record
// rule comparing an n-row entity with its projection, with no differences
// and with diffs seeded into the serving store. The goals are absolute
// (<= 2 s for 1M rows, <= 20 s for 10M), not ratios against PostgreSQL.
func reconcileBench(ctx context.Context, n, diffs int, keyed bool) error {
	dataDir, err := os.MkdirTemp("", "dgbench-recon-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	cat, err := catalog.LoadFiles(catalog.File{Name: "recon_bench.yaml", Data: []byte(reconcileCatalog)})
	if err != nil {
		return err
	}
	eng := gateway.NewEngine()
	defer eng.Close()
	side, err := primary.Open(ctx, dataDir, cat, eng, "", zerolog.Nop())
	if err != nil {
		return err
	}
	defer side.Close()

	// Canonical rows are committed straight through the store (the ingest
	// bar is measured elsewhere), 100k rows a commit.
	start := time.Now()
	const per = 100_000
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		ch := make([]canonical.Change, 0, hi-lo)
		for i := lo; i < hi; i++ {
			ch = append(ch, canonical.Change{Table: "accounts", Op: canonical.OpUpsert,
				Row: []any{int64(i), fmt.Sprintf("owner-%d", i%9973), int64(i*7919%1_000_000) - 500_000}})
		}
		if _, err := side.Store().Commit(ctx, canonical.CommitRequest{Kind: canonical.KindIngest, Committer: "dgbench", Changes: ch}); err != nil {
			return err
		}
	}
	load := time.Since(start)
	mat := side.Materializer()
	start = time.Now()
	if err := mat.Rebuild(ctx, "account_view", 0); err != nil {
		return err
	}
	build := time.Since(start)
	runtime.GC()
	fmt.Printf("\nreconcile: %d-row entity vs its projection (embedded store); loaded in %s, materialized in %s\n",
		n, load.Round(time.Millisecond), build.Round(time.Millisecond))
	fmt.Printf("%-52s %12s %10s %10s %10s\n", "rule run", "time", "compared", "found", "goal")
	re := side.Reconciler()
	measure := func(rule, label string, want int) error {
		t0 := time.Now()
		run, err := re.Run(ctx, rule, "bench")
		took := time.Since(t0)
		if err != nil {
			return err
		}
		goal := "<= 2 s"
		if n > 1_000_000 {
			goal = fmt.Sprintf("<= %d s", 2*n/1_000_000)
		}
		fmt.Printf("%-52s %11.3fs %10d %10d %10s\n", label, took.Seconds(), run.Compared, run.Divergent, goal)
		if int(run.Divergent) != want {
			return fmt.Errorf("%s: found %d differences, seeded %d", rule, run.Divergent, want)
		}
		return nil
	}
	if err := measure("accounts_bucketed", "record, bucketed, 0 differences", 0); err != nil {
		return err
	}
	if keyed {
		if err := measure("accounts_keyed", "record, key by key, 0 differences", 0); err != nil {
			return err
		}
	}
	// Seed differences in the serving store: a third deleted, a third
	// altered, a third added that canonical does not have.
	store := mat.Store()
	wm, err := store.Watermark(ctx, "account_view")
	if err != nil {
		return err
	}
	var ups []projections.Entry
	var dels [][]any
	for d := 0; d < diffs; d++ {
		id := int64(d) * int64(n/diffs)
		switch d % 3 {
		case 0:
			dels = append(dels, []any{id})
		case 1:
			ups = append(ups, projections.Entry{Key: []any{id}, Row: []any{id, "tampered", int64(1)}})
		default:
			nid := int64(n + d)
			ups = append(ups, projections.Entry{Key: []any{nid}, Row: []any{nid, "ghost", int64(0)}})
		}
	}
	if err := store.Apply(ctx, "account_view", wm.Generation, wm.Commit, ups, dels); err != nil {
		return err
	}
	if err := measure("accounts_bucketed", fmt.Sprintf("record, bucketed, %d differences", diffs), diffs); err != nil {
		return err
	}
	if keyed {
		if err := measure("accounts_keyed", fmt.Sprintf("record, key by key, %d differences", diffs), diffs); err != nil {
			return err
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("Go heap in use after the runs: %d MiB\n", ms.HeapInuse>>20)
	return nil
}
