package main

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dualgate/dualgate/canonical"
)

// memoryCatalog is the accounts entity alone: no projection, so the
// embedded serving store (which holds projections in memory) holds
// nothing and the RSS measured is the canonical side's, the engine's and
// the runtime's.
const memoryCatalog = `context: memory_bench
owner: bench
` + accountsYAML

// memoryRow is version v (0-based) of account i: every version changes
// the balance (104729 is prime to 10^6) and the owner.
func memoryRow(i, v int) []any {
	return []any{int64(i), fmt.Sprintf("owner-%d", (i+v)%9973), int64((i*7919+v*104729)%1_000_000) - 500_000}
}

// memoryProjectionCatalog adds a projection of every accounts row; the
// embedded serving store holds it in the process's memory.
const memoryProjectionCatalog = memoryCatalog + `projections:
  account_view:
    key: [id]
    freshness_sla: 5s
    select: SELECT id, owner, balance_cents FROM canonical.accounts
    affected_by: {accounts: id}
`

// memoryBench measures DESIGN.md's memory bar: the RSS of a `dualgate
// serve` process over a canonical store of rows x versions, idle and while
// it answers representative queries over the wire.
//
// The store is built in-process through the store's commit API
// (canonical.Store.Commit, 100k rows a commit), not through COPY into raw:
// the bar is about canonical rows and versions, and the ingest path would
// take minutes to make 10M versions while adding only raw capture on disk,
// which the serving process does not hold in memory either. The process
// measured is the real binary on that --data directory, started fresh,
// with a catalog of the entity alone (the bar); withProjection measures it
// again with a projection of every row in the embedded store, for
// reference.
func memoryBench(ctx context.Context, rows, versions int, heapProfile string, withProjection bool) error {
	bin, err := binary(ctx)
	if err != nil {
		return err
	}
	bp, err := openPrimary(ctx, "memory_bench.yaml", memoryCatalog, "")
	if err != nil {
		return err
	}
	dir := bp.dir
	defer os.RemoveAll(dir)
	start := time.Now()
	const per = 100_000
	var firstVersion uint64 // the commit that completes version 0
	for v := 0; v < versions; v++ {
		for lo := 0; lo < rows; lo += per {
			hi := min(lo+per, rows)
			ch := make([]canonical.Change, 0, hi-lo)
			for i := lo; i < hi; i++ {
				ch = append(ch, canonical.Change{Table: "accounts", Op: canonical.OpUpsert, Row: memoryRow(i, v)})
			}
			res, err := bp.side.Store().Commit(ctx, canonical.CommitRequest{Kind: canonical.KindIngest, Committer: "dgbench", Changes: ch})
			if err != nil {
				bp.Close()
				return err
			}
			if v == 0 {
				firstVersion = res.Commit.ID
			}
		}
	}
	head := bp.side.Head()
	build := time.Since(start)
	if err := bp.side.Close(); err != nil {
		return err
	}
	bp.eng.Close()
	disk, _ := dirSize(dir)
	fmt.Printf("\nmemory: `dualgate serve` (real binary) over %d canonical rows x %d versions = %d versions in %d commits (store commit API, built in %s), %.0f MiB on disk\n",
		rows, versions, rows*versions, head, build.Round(time.Second), mib(disk))
	m := memoryRun{bin: bin, dir: dir, rows: rows, versions: versions, firstVersion: firstVersion}
	if err := m.measure(ctx, "entity only, no projection (the bar)", memoryCatalog, heapProfile, true); err != nil {
		return err
	}
	if withProjection {
		return m.measure(ctx, fmt.Sprintf("plus a %d-row projection in the embedded store (reference, not the bar)", rows), memoryProjectionCatalog, "", false)
	}
	return nil
}

// memoryRun is the store the memory bar's processes serve.
type memoryRun struct {
	bin, dir     string
	rows         int
	versions     int
	firstVersion uint64 // the commit that completes every row's first version
}

// measure starts `dualgate serve` on the store with catalog yaml, runs the
// queries, prints the table titled title and, when bar, the verdict.
func (mr memoryRun) measure(ctx context.Context, title, yaml, heapProfile string, bar bool) error {
	bin, dir, rows, firstVersion := mr.bin, mr.dir, mr.rows, mr.firstVersion
	catFile := filepath.Join(dir, "memory_bench.yaml")
	if err := os.WriteFile(catFile, []byte(yaml), 0o644); err != nil {
		return err
	}

	p, port, admin, err := startServe(bin, "--data", dir, "--catalog", catFile, "--pprof", "--log-level", "warn")
	if err != nil {
		return err
	}
	defer p.stop()
	ready, err := p.waitReady(ctx, admin, 20*time.Millisecond, 5*time.Minute)
	if err != nil {
		return err
	}
	pid := p.cmd.Process.Pid
	sampler := startSampler(pid, 10*time.Millisecond)
	defer sampler.close()
	time.Sleep(2 * time.Second) // background work after open (compactions) settles a little

	t := target{name: "dualgate", host: "127.0.0.1", port: port, user: "bench", db: "dualgate"}
	conn, err := pgx.Connect(ctx, t.dsn())
	if err != nil {
		return p.failed(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SET dualgate.label_notices = off"); err != nil {
		return p.failed(err)
	}

	type phase struct {
		name       string
		rss, peak  uint64
		anon       uint64
		took       time.Duration
		resultRows int
	}
	var phases []phase
	measure := func(name string, run func() (int, error)) error {
		sampler.take() // a new period
		t0 := time.Now()
		n, err := run()
		took := time.Since(t0)
		if err != nil {
			return p.failed(fmt.Errorf("%s: %w", name, err))
		}
		m, err := readProcMem(pid)
		if err != nil {
			return err
		}
		phases = append(phases, phase{name: name, rss: m.rss, anon: m.anon, peak: sampler.take(), took: took, resultRows: n})
		return nil
	}
	query := func(sql string, args ...any) func() (int, error) {
		return func() (int, error) {
			rs, err := conn.Query(ctx, sql, args...)
			if err != nil {
				return 0, err
			}
			n := 0
			for rs.Next() {
				n++
			}
			rs.Close()
			return n, rs.Err()
		}
	}
	if err := measure("started: exec to /readyz 200, then 2 s idle", func() (int, error) { return 0, nil }); err != nil {
		return err
	}
	phases[0].took = ready
	rng := rand.New(rand.NewPCG(1, 2))
	// lookups runs 1000 prepared point lookups of rel.
	lookups := func(rel string) func() (int, error) {
		return func() (int, error) {
			n := 0
			for i := 0; i < 1000; i++ {
				var id, bal int64
				var owner string
				if err := conn.QueryRow(ctx, "SELECT id, owner, balance_cents FROM "+rel+" WHERE id = $1", rng.Int64N(int64(rows))).Scan(&id, &owner, &bal); err != nil {
					return n, err
				}
				n++
			}
			return n, nil
		}
	}
	if err := measure("1000 canonical point lookups (prepared)", lookups("canonical.accounts")); err != nil {
		return err
	}
	if !bar {
		if err := measure("1000 serving.account_view point lookups", lookups("serving.account_view")); err != nil {
			return err
		}
	}
	steps := []struct{ name, sql string }{
		{"count(*) over canonical (full scan)", "SELECT count(*) FROM canonical.accounts"},
		{fmt.Sprintf("count, sum AS OF commit %d (version 1 of %d)", firstVersion, mr.versions), fmt.Sprintf("SELECT count(*), sum(balance_cents) FROM canonical.accounts AS OF %d", firstVersion)},
		{fmt.Sprintf("point lookup AS OF commit %d", firstVersion), fmt.Sprintf("SELECT * FROM canonical.accounts AS OF %d WHERE id = 4242", firstVersion)},
		{"GROUP BY owner (9973 groups)", "SELECT owner, count(*), sum(balance_cents) FROM canonical.accounts GROUP BY owner"},
		{"history of one key", "SELECT * FROM history.accounts WHERE id = 4242"},
		{"every row streamed to the client", "SELECT id, owner, balance_cents FROM canonical.accounts"},
	}
	for _, s := range steps {
		if err := measure(s.name, query(s.sql)); err != nil {
			return err
		}
	}
	const idle = 10 * time.Second
	if err := measure(fmt.Sprintf("steady: %s idle after the queries", idle), func() (int, error) {
		time.Sleep(idle)
		return 0, nil
	}); err != nil {
		return err
	}
	// What the steady RSS is made of: the runtime's own figures
	// (Prometheus Go collector on /metrics) against the kernel's.
	var metricsText strings.Builder
	if err := httpGetTo(ctx, "http://"+admin+"/metrics", &metricsText); err != nil {
		return err
	}
	goMem := parseGoMemstats(metricsText.String())
	final, err := readProcMem(pid)
	if err != nil {
		return err
	}
	if heapProfile != "" {
		if err := fetchHeap(ctx, admin, heapProfile); err != nil {
			return err
		}
	}

	fmt.Printf("\n%s; pid %d\n", title, pid)
	fmt.Printf("%-52s %12s %12s %12s %10s %10s\n", "phase", "VmRSS (MiB)", "peak (MiB)", "anon (MiB)", "time (s)", "rows")
	for _, ph := range phases {
		fmt.Printf("%-52s %12.1f %12.1f %12.1f %10.3f %10d\n", ph.name, mib(ph.rss), mib(ph.peak), mib(ph.anon), ph.took.Seconds(), ph.resultRows)
	}
	verdict := ""
	switch {
	case !bar:
	case rows < 1_000_000 || mr.versions < 10:
		verdict = "  (a smaller store than the bar's 1M rows x 10 versions: no verdict)"
	case final.hwm > 300_000_000:
		verdict = "  (goal <= 300 MB = 286.1 MiB: NOT met)"
	default:
		verdict = "  (goal <= 300 MB = 286.1 MiB: met)"
	}
	fmt.Printf("%-52s %12.1f %12s %12s %10s %10s%s\n", "VmHWM, the process's peak RSS", mib(final.hwm), "", "", "", "", verdict)
	goHeld := goMem["sys"] - goMem["heap_released"]
	fmt.Printf("steady VmRSS %.1f MiB = binary and files %.1f (RssFile) + Go runtime <= %.1f (heap in use %.1f, idle kept %.1f) + other anonymous >= %.1f (C heap: Pebble block caches and memtables, pg_query)\n",
		mib(final.rss), mib(final.file), mib(goHeld), mib(goMem["heap_inuse"]), mib(goMem["heap_idle"]-goMem["heap_released"]),
		mib(final.anon)-min(mib(goHeld), mib(final.anon)))
	return nil
}

// fetchHeap saves the process's heap profile (after a GC) to file.
func fetchHeap(ctx context.Context, admin, file string) error {
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	defer out.Close()
	return httpGetTo(ctx, "http://"+admin+"/debug/pprof/heap?gc=1", out)
}

// dirSize is the bytes of the regular files under dir.
func dirSize(dir string) (uint64, error) {
	var n uint64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += uint64(fi.Size())
			}
		}
		return nil
	})
	return n, err
}

// parseGoMemstats reads the go_memstats_<name>_bytes gauges of a
// Prometheus text exposition (name without prefix and suffix).
func parseGoMemstats(text string) map[string]uint64 {
	out := map[string]uint64{}
	for _, l := range strings.Split(text, "\n") {
		name, rest, ok := strings.Cut(l, " ")
		if !ok || !strings.HasPrefix(name, "go_memstats_") || !strings.HasSuffix(name, "_bytes") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			continue
		}
		out[strings.TrimSuffix(strings.TrimPrefix(name, "go_memstats_"), "_bytes")] = uint64(v)
	}
	return out
}
