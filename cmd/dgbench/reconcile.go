package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/cmd/internal/primary"
	"github.com/dualgate/dualgate/gateway/pgtest"
	"github.com/dualgate/dualgate/projections"
)

// accountsYAML is the accounts entity (and its source) of the
// reconciliation benches' catalogs.
const accountsYAML = `sources:
  account_events:
    columns: {id: bigint, owner: text, balance_cents: bigint}
    dedupe_key: [id]
entities:
  accounts:
    key: [id]
    columns: {id: bigint, owner: text, balance_cents: bigint}
    mappings:
      - {source: account_events, version: 1, select: "SELECT id, owner, balance_cents FROM batch"}
`

// reconcileCatalog is one entity, a projection of every column of it, and
// two record rules over the pair: the bucketed one (the right side reads the
// whole projection) and the same comparison forced key by key (a WHERE
// clause makes the right side an arbitrary query).
const reconcileCatalog = `context: recon_bench
owner: bench
` + accountsYAML + `projections:
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
	bp, load, err := loadAccounts(ctx, "recon_bench.yaml", reconcileCatalog, n)
	if err != nil {
		return err
	}
	defer bp.Close()
	side := bp.side
	mat := side.Materializer()
	start := time.Now()
	if err := mat.Rebuild(ctx, "account_view", 0); err != nil {
		return err
	}
	build := time.Since(start)
	runtime.GC()
	fmt.Printf("\nreconcile: %d-row entity vs its projection (embedded store); loaded in %s, materialized in %s\n",
		n, load.Round(time.Millisecond), build.Round(time.Millisecond))
	fmt.Printf("%-60s %10s %10s %10s %10s %10s\n", "rule run", "time", "cpu", "compared", "found", "goal")
	re := side.Reconciler()
	measure := func(rule, label string, want int) error {
		t0, c0 := time.Now(), cpuTime()
		run, err := re.Run(ctx, rule, "bench")
		took, cpu := time.Since(t0), cpuTime()-c0
		if err != nil {
			return err
		}
		goal := "<= 2 s"
		if n > 1_000_000 {
			goal = fmt.Sprintf("<= %d s", 2*n/1_000_000)
		}
		fmt.Printf("%-60s %9.3fs %9.3fs %10d %10d %10s\n", label, took.Seconds(), cpu.Seconds(), run.Compared, run.Divergent, goal)
		if int(run.Divergent) != want {
			return fmt.Errorf("%s: found %d differences, seeded %d", rule, run.Divergent, want)
		}
		return nil
	}
	if err := measure("accounts_bucketed", "record, bucketed, 0 differences", 0); err != nil {
		return err
	}
	// The canonical side's bucket summary is kept from the first run on:
	// a second run reads none of its rows, and one after a commit reads
	// only the rows that commit changed.
	if err := measure("accounts_bucketed", "record, bucketed, 0 differences, warm summary", 0); err != nil {
		return err
	}
	changed := min(1000, n)
	ch := make([]canonical.Change, 0, changed)
	for i := 0; i < changed; i++ {
		row := accountRow(i * (n / changed))
		row[2] = row[2].(int64) + 1
		ch = append(ch, canonical.Change{Table: "accounts", Op: canonical.OpUpsert, Row: row})
	}
	if _, err := side.Store().Commit(ctx, canonical.CommitRequest{Kind: canonical.KindCorrection, Committer: "dgbench", Changes: ch}); err != nil {
		return err
	}
	if err := mat.Sync(ctx, "account_view"); err != nil {
		return err
	}
	if err := measure("accounts_bucketed", fmt.Sprintf("record, bucketed, 0 differences, after a %d-row commit", changed), 0); err != nil {
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

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// externalCatalog reconciles the same accounts against a legacy PostgreSQL
// mart (right_dsn): by key-range bisection, and read whole for reference
// (OFFSET 0 makes the right side one that cannot be range-restricted).
const externalCatalog = `context: recon_external_bench
owner: bench
` + accountsYAML + `reconciliations:
  accounts_legacy:
    level: record
    left: SELECT id, owner, balance_cents FROM canonical.accounts
    right: SELECT id, owner, balance_cents FROM legacy.accounts
    right_dsn: ${DGBENCH_LEGACY_DSN}
    match: [id]
  accounts_legacy_whole:
    level: record
    left: SELECT id, owner, balance_cents FROM canonical.accounts
    right: SELECT id, owner, balance_cents FROM legacy.accounts OFFSET 0
    right_dsn: ${DGBENCH_LEGACY_DSN}
    match: [id]
`

// reconcileExternalBench reconciles an n-row entity against a legacy
// PostgreSQL 15 mart holding the same rows (balances as numeric(14,2):
// equal values in another format), with no differences and with diffs
// seeded into the mart, by key-range bisection and read whole. There is no
// DESIGN.md bar for it; the figure that matters is how few of the mart's
// rows bisection reads.
func reconcileExternalBench(ctx context.Context, n, diffs int) error {
	pg, err := pgtest.Start(ctx, pgtest.Options{})
	if err != nil {
		return err
	}
	defer pg.Stop()
	if err := os.Setenv("DGBENCH_LEGACY_DSN", pg.DSN("postgres")); err != nil {
		return err
	}
	legacy, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return err
	}
	defer legacy.Close(context.WithoutCancel(ctx))
	start := time.Now()
	bp, _, err := loadAccounts(ctx, "recon_external_bench.yaml", externalCatalog, n)
	if err != nil {
		return err
	}
	defer bp.Close()
	side := bp.side
	if _, err := legacy.Exec(ctx, `CREATE SCHEMA legacy;
		CREATE TABLE legacy.accounts (id bigint PRIMARY KEY, owner text, balance_cents numeric(14,2))`); err != nil {
		return err
	}
	src := pgx.CopyFromFunc(func() func() ([]any, error) {
		i := 0
		return func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			r := accountRow(i)
			i++
			return []any{r[0], r[1], strconv.FormatInt(r[2].(int64), 10) + ".00"}, nil
		}
	}())
	if _, err := legacy.CopyFrom(ctx, pgx.Identifier{"legacy", "accounts"}, []string{"id", "owner", "balance_cents"}, src); err != nil {
		return err
	}
	if _, err := legacy.Exec(ctx, `VACUUM ANALYZE legacy.accounts`); err != nil {
		return err
	}
	fmt.Printf("\nreconcile: %d-row entity vs a legacy PostgreSQL 15 mart (right_dsn); both loaded in %s\n",
		n, time.Since(start).Round(time.Millisecond))
	fmt.Printf("%-44s %10s %10s %8s %14s %8s\n", "rule run", "time", "compared", "found", "mart rows read", "ranges")
	re := side.Reconciler()
	measure := func(rule, label string, want int) error {
		t0 := time.Now()
		run, err := re.Run(ctx, rule, "bench")
		took := time.Since(t0)
		if err != nil {
			return err
		}
		fmt.Printf("%-44s %9.3fs %10d %8d %14d %8s\n", label, took.Seconds(), run.Compared, run.Divergent, run.ExternalRows,
			fmt.Sprintf("%d/%d", run.RangesFetched, run.Ranges))
		if int(run.Divergent) != want {
			return fmt.Errorf("%s: found %d differences, seeded %d", rule, run.Divergent, want)
		}
		return nil
	}
	if err := measure("accounts_legacy", "record, bisection, 0 differences", 0); err != nil {
		return err
	}
	if err := measure("accounts_legacy_whole", "record, read whole, 0 differences", 0); err != nil {
		return err
	}
	// Seed the mart: a third of the keys deleted, a third altered, a third
	// added that canonical lacks, spread over the key space.
	for d := 0; d < diffs; d++ {
		id := int64(d) * int64(n/diffs)
		var q string
		switch d % 3 {
		case 0:
			q = fmt.Sprintf(`DELETE FROM legacy.accounts WHERE id = %d`, id)
		case 1:
			q = fmt.Sprintf(`UPDATE legacy.accounts SET owner = 'tampered' WHERE id = %d`, id)
		default:
			q = fmt.Sprintf(`INSERT INTO legacy.accounts VALUES (%d, 'ghost', 0)`, int64(n+d))
		}
		if _, err := legacy.Exec(ctx, q); err != nil {
			return err
		}
	}
	if err := measure("accounts_legacy", fmt.Sprintf("record, bisection, %d differences", diffs), diffs); err != nil {
		return err
	}
	return measure("accounts_legacy_whole", fmt.Sprintf("record, read whole, %d differences", diffs), diffs)
}

// accountRow is row i of the reconciliation benches' accounts entity.
func accountRow(i int) []any {
	return []any{int64(i), fmt.Sprintf("owner-%d", i%9973), int64(i*7919%1_000_000) - 500_000}
}

// loadAccounts opens a bench primary with the catalog yaml (named name)
// and commits n accounts rows into it; load is how long the commits took.
func loadAccounts(ctx context.Context, name, yaml string, n int) (bp *benchPrimary, load time.Duration, err error) {
	if bp, err = openPrimary(ctx, name, yaml, ""); err != nil {
		return nil, 0, err
	}
	start := time.Now()
	if err := commitAccounts(ctx, bp.side, n); err != nil {
		bp.Close()
		return nil, 0, err
	}
	return bp, time.Since(start), nil
}

// commitAccounts commits n accounts rows straight through the store (the
// ingest bar is measured elsewhere), 100k rows a commit.
func commitAccounts(ctx context.Context, side *primary.Side, n int) error {
	const per = 100_000
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		ch := make([]canonical.Change, 0, hi-lo)
		for i := lo; i < hi; i++ {
			ch = append(ch, canonical.Change{Table: "accounts", Op: canonical.OpUpsert, Row: accountRow(i)})
		}
		if _, err := side.Store().Commit(ctx, canonical.CommitRequest{Kind: canonical.KindIngest, Committer: "dgbench", Changes: ch}); err != nil {
			return err
		}
	}
	return nil
}
