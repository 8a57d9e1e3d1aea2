// Command dgbench measures dualgate against PostgreSQL 15 side by side on
// the same machine in one run, and prints each result as a ratio against
// the peer. It starts a throwaway PostgreSQL (package pgtest) and a
// `dualgate serve` process (the binary users run, built from this module
// or -dualgate-bin), loads the same rows into both, then drives both with
// the same pgbench script; the CPU each side spent comes from /proc. The
// memory and sidecar-start bars run the binary too (memory.go, sidecar.go):
// RSS is the process's as the kernel reports it, start time is from exec;
// the reconciliation bars run a primary in this process. `make bench`
// runs it; BENCHMARKS.md records the output with the command that produced
// it.
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dualgate/dualgate/canonical/ingest/kvbench"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/gateway/pgtest"
)

type target struct {
	name string
	host string
	port int
	user string
	db   string
	// cpu, when set, is the CPU the server behind the target has used so
	// far (user + system), read before and after each pgbench run.
	cpu func() time.Duration
	// options is PGOPTIONS for pgbench (settings of its sessions).
	options string
	// mallocs, when set, counts the heap allocations of the server so
	// far (dualgate processes, from their /metrics).
	mallocs func() uint64
	// admin is a dualgate process's admin listener (profiles of
	// -profile-target are taken from its /debug/pprof).
	admin string
}

// quiet is t with the per-result label NOTICE off in its sessions.
func quiet(t target) target {
	t.options = "-c dualgate.label_notices=off"
	return t
}

func (t target) dsn() string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", t.user, t.host, t.port, t.db)
}

// profileTarget restricts -cpuprofile to the first run of one point-lookup
// target, so its profile holds that target's transactions only.
var profileTarget = flag.String("profile-target", "", "with -cpuprofile: profile only the first run of this point-lookup target (pg-point, canonical-point, canonical-asof, serving-point, serving-point-quiet, serving-redis, serving-redis-quiet)")

// result is one pgbench run.
type result struct {
	tps      float64
	p50, p99 time.Duration
	txns     int
	// server and client are the CPU the server and pgbench spent in the
	// run (server zero when the target has no cpu reader).
	server, client time.Duration
	allocs         uint64 // server heap allocations in the run, when counted
}

// perTxn is a CPU figure per transaction of r, in microseconds.
func (r result) perTxn(d time.Duration) float64 {
	if r.txns == 0 {
		return 0
	}
	return float64(d) / float64(time.Microsecond) / float64(r.txns)
}

func main() {
	rows := flag.Int("rows", 100_000, "rows in the point-lookup table")
	dur := flag.Duration("duration", 20*time.Second, "pgbench -T per target")
	clients := flag.Int("clients", 8, "pgbench -c")
	threads := flag.Int("threads", 2, "pgbench -j")
	rounds := flag.Int("rounds", 3, "rounds of the point-lookup runs (each target once per round, rotated order); each line is a target's median run")
	profile := flag.String("cpuprofile", "", "write a CPU profile to this file: of the dualgate process behind -profile-target over its first run, or without it of dgbench itself (the reconciliation bars' primaries run in it)")
	rebuildRows := flag.Int("rebuild-rows", 1_000_000, "rows of the projection the rebuild bar rebuilds")
	ingestRows := flag.Int("ingest-rows", 1_000_000, "rows of each load of the ingest bar")
	ingestLoads := flag.Int("ingest-loads", 3, "loads per side of the ingest bar (median reported); 0 skips it")
	serving := flag.Bool("serving", true, "run the serving lane's Redis, freshness, GROUP BY and rebuild bars after the point lookups")
	reconRows := flag.String("reconcile", "1000000", "entity sizes of the reconciliation bar, comma-separated (empty: skip)")
	reconDiffs := flag.Int("reconcile-diffs", 1000, "differences seeded into serving for the reconciliation bar")
	reconOnly := flag.Bool("reconcile-only", false, "run only the reconciliation bar (no PostgreSQL comparison)")
	reconExt := flag.String("reconcile-external", "", "entity sizes reconciled against a legacy PostgreSQL mart (right_dsn), comma-separated (empty: skip)")
	reconExtDiffs := flag.Int("reconcile-external-diffs", 100, "differences seeded into the legacy mart for -reconcile-external")
	memRows := flag.Int("memory-rows", 1_000_000, "canonical rows of the memory bar (each with -memory-versions versions); 0 skips it")
	memVersions := flag.Int("memory-versions", 10, "versions of every row of the memory bar")
	memHeap := flag.String("memory-heap", "", "save the memory bar's process heap profile (after its queries) to this file")
	memProj := flag.Bool("memory-projection", false, "measure the memory bar's store again with a projection of every row in the embedded store (reference)")
	sidecarRuns := flag.Int("sidecar-runs", 5, "starts of the sidecar-start bar; 0 skips it")
	sidecarRows := flag.Int("sidecar-rows", 10_000, "rows of the projection the sidecar-start bar's sidecar serves")
	only := flag.String("only", "", "run only these bars, comma-separated: main (pgbench comparison and serving lane), memory, sidecar, reconcile, reconcile-external (empty: every bar its flags enable)")
	flag.Parse()
	if *serveFloor {
		err := runFloor()
		fmt.Fprintln(os.Stderr, "dgbench:", err)
		os.Exit(1)
	}
	lanes := map[string]bool{}
	for _, l := range strings.Split(*only, ",") {
		switch l = strings.TrimSpace(l); l {
		case "":
		case "main", "memory", "sidecar", "reconcile", "reconcile-external":
			lanes[l] = true
		default:
			fmt.Fprintf(os.Stderr, "dgbench: -only %q: use main, memory, sidecar, reconcile, reconcile-external\n", l)
			os.Exit(2)
		}
	}
	if *reconOnly {
		lanes["reconcile"], lanes["reconcile-external"] = true, true
	}
	enabled := func(lane string) bool { return len(lanes) == 0 || lanes[lane] }
	defer func() {
		for _, c := range cleanups {
			c()
		}
	}()
	if *profile != "" && *profileTarget == "" {
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dgbench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "dgbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	fail := func(err error) {
		pprof.StopCPUProfile()
		for _, c := range cleanups {
			c()
		}
		fmt.Fprintln(os.Stderr, "dgbench:", err)
		os.Exit(1)
	}
	// The reconciliation bars' primaries run in this process: with the
	// processors `dualgate serve` gives itself (GOMAXPROCS in the
	// environment wins).
	gateway.SetProcessors(0)
	if *rounds < 1 {
		fail(fmt.Errorf("-rounds %d: at least one round", *rounds))
	}
	if enabled("main") {
		if err := run(context.Background(), *rows, *dur, *clients, *threads, *rounds, *serving, *rebuildRows, *ingestRows, *ingestLoads); err != nil {
			fail(err)
		}
	}
	if enabled("memory") && *memRows > 0 {
		if err := memoryBench(context.Background(), *memRows, max(*memVersions, 1), *memHeap, *memProj); err != nil {
			fail(fmt.Errorf("memory bar: %w", err))
		}
	}
	if enabled("sidecar") && *sidecarRuns > 0 {
		if err := sidecarBench(context.Background(), *sidecarRuns, max(*sidecarRows, 100)); err != nil {
			fail(fmt.Errorf("sidecar-start bar: %w", err))
		}
	}
	for _, s := range strings.Split(*reconRows, ",") {
		if !enabled("reconcile") {
			break
		}
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < *reconDiffs {
			fail(fmt.Errorf("-reconcile %q: sizes are row counts of at least -reconcile-diffs", s))
		}
		// The key-by-key comparison is shown next to the bucketed one up
		// to 1M rows.
		if err := reconcileBench(context.Background(), n, *reconDiffs, n <= 1_000_000); err != nil {
			fail(err)
		}
	}
	for _, s := range strings.Split(*reconExt, ",") {
		if !enabled("reconcile-external") {
			break
		}
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < *reconExtDiffs || *reconExtDiffs < 1 {
			fail(fmt.Errorf("-reconcile-external %q: sizes are row counts of at least -reconcile-external-diffs (>= 1)", s))
		}
		if err := reconcileExternalBench(context.Background(), n, *reconExtDiffs); err != nil {
			fail(err)
		}
	}
}

func run(ctx context.Context, rows int, dur time.Duration, clients, threads, rounds int, serving bool, rebuildRows, ingestRows, ingestLoads int) error {
	if _, err := exec.LookPath("pgbench"); err != nil {
		return fmt.Errorf("pgbench not found (apt-get install postgresql-contrib or postgresql-15): %w", err)
	}
	pg, err := pgtest.Start(ctx, pgtest.Options{Durable: true})
	if err != nil {
		return err
	}
	defer pg.Stop()

	dg, err := startDualgate(ctx, "")
	if err != nil {
		return err
	}
	defer dg.stop()
	dgT := dg.target

	floorT, stopFloor, err := startFloor()
	if err != nil {
		return err
	}
	defer stopFloor()
	peerT := target{name: "postgresql-15", host: "127.0.0.1", port: pg.Port, user: "postgres", db: "postgres", cpu: postmasterCPU(pg.Pid())}
	// The ingest bar first, while the other servers are still empty: so
	// that nothing else of the run (the lookup tables' loads and whatever
	// background work their history starts) runs beside its loads.
	var ingest ingestResult
	if ingestLoads > 0 {
		if ingest, err = ingestBench(ctx, peerT, ingestRows, ingestLoads); err != nil {
			return err
		}
	}
	// The lookup tables; the ingest bar timed loads of its own
	// (ingest.go).
	if _, err := load(ctx, peerT, "CREATE TABLE kv (id int8 PRIMARY KEY, val text NOT NULL, n int8 NOT NULL)", "COPY kv (id, val, n) FROM STDIN", rows); err != nil {
		return fmt.Errorf("load postgresql: %w", err)
	}
	if _, err := load(ctx, dgT, "", "COPY raw.kv_src (id, val, n) FROM STDIN", rows); err != nil {
		return fmt.Errorf("load dualgate: %w", err)
	}
	// Nine more versions of one key in ten, so AS OF an old commit has
	// history to skip: commits 3..11 each rewrite rows/10 keys.
	for v := 1; v <= 9; v++ {
		if err := rewrite(ctx, dgT, rows, v); err != nil {
			return fmt.Errorf("versions: %w", err)
		}
	}

	dir, err := os.MkdirTemp("", "dgbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bench := func(name, query string, t target, dur time.Duration) (result, error) {
		script := filepath.Join(dir, name+".sql")
		body := fmt.Sprintf("\\set id random(1, %d)\n%s\n", rows, query)
		if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
			return result{}, err
		}
		r, err := pgbench(ctx, t, script, dir, name, dur, clients, threads)
		if err != nil {
			return r, fmt.Errorf("pgbench %s on %s: %w", name, t.name, err)
		}
		return r, nil
	}
	if err := execSQL(ctx, dgT, "CALL dualgate.rebuild('kv_view')"); err != nil {
		return fmt.Errorf("materialize kv_view: %w", err)
	}
	// The targets run in rounds, each round in a rotated order, and
	// each line reports a target's median run: one pgbench window per
	// target moves with whatever else the machine does in it (the peer's
	// TPS moved by a third between identical single runs), and a fixed
	// order would give one target the warmest or the coldest slot.
	type benchTarget struct {
		name, query string
		t           target
	}
	targets := []benchTarget{
		{"pg-point", "SELECT id, val, n FROM kv WHERE id = :id;", peerT},
		{"canonical-point", "SELECT id, val, n FROM canonical.kv WHERE id = :id;", dgT},
		{"canonical-asof", "SELECT id, val, n FROM canonical.kv AS OF 2 WHERE id = :id;", dgT},
		{"serving-point", "SELECT id, val, n FROM serving.kv_view WHERE id = :id;", dgT},
		// The same lookup with the per-result label NOTICE off (the
		// ParameterStatus label stays): libpq prints every NOTICE to
		// pgbench's stderr, a cost of the client's on this shared machine.
		{"serving-point-quiet", "SELECT id, val, n FROM serving.kv_view WHERE id = :id;", quiet(dgT)},
		// What any Go server costs to answer the script (floor.go).
		{"protocol-floor", "SELECT id, val, n FROM kv WHERE id = :id;", floorT},
	}
	// The Redis-backed serving lookup runs in the same rounds (its own
	// primary on a throwaway redis-server; servingBars then measures
	// freshness and raw GET on it).
	var onRedis *redisServing
	if serving {
		if onRedis, err = startRedisServing(ctx, rows); err != nil {
			return err
		}
		defer onRedis.stop()
		targets = append(targets,
			benchTarget{"serving-redis", "SELECT id, val, n FROM serving.kv_view WHERE id = :id;", onRedis.dg.target},
			benchTarget{"serving-redis-quiet", "SELECT id, val, n FROM serving.kv_view WHERE id = :id;", quiet(onRedis.dg.target)})
	}
	// One unmeasured run per target first, so that the rounds measure each
	// in its steady state: the Redis near cache starts empty after the
	// load (a first run against it went at half the speed of the next).
	if *warmup >= time.Second {
		for _, tg := range targets {
			if _, err := bench(tg.name+"-warmup", tg.query, tg.t, *warmup); err != nil {
				return err
			}
		}
	}
	runs := make([][]result, len(targets))
	for r := 0; r < rounds; r++ {
		for j := range targets {
			k := (j + r) % len(targets)
			tg := targets[k]
			stopProfile, err := startTargetProfile(ctx, tg.name, tg.t, r, dur)
			if err != nil {
				return err
			}
			res, err := bench(fmt.Sprintf("%s-%d", tg.name, r), tg.query, tg.t, dur)
			if perr := stopProfile(); err == nil {
				err = perr
			}
			if err != nil {
				return err
			}
			runs[k] = append(runs[k], res)
		}
	}
	median := func(name string) result {
		for k, tg := range targets {
			if tg.name == name {
				return medianRun(runs[k])
			}
		}
		panic("dgbench: no target " + name)
	}
	peer, head, old, serve, serveQuiet, floor := median("pg-point"), median("canonical-point"), median("canonical-asof"), median("serving-point"), median("serving-point-quiet"), median("protocol-floor")
	fmt.Printf("dgbench: %d rows (x10 versions for one key in ten), pgbench -n -M prepared -c %d -j %d -T %s, median of %d rotated rounds after a %s warm-up run each; ingest: median of %d loads of %d rows per side, same machine\n\n", rows, clients, threads, dur, rounds, *warmup, ingestLoads, ingestRows)
	fmt.Printf("%-44s %14s %14s %10s\n", "benchmark", "postgresql-15", "dualgate", "ratio")
	row := func(name string, p, d float64, unit string) {
		fmt.Printf("%-44s %14.3f %14.3f %9.2fx\n", name+" ("+unit+")", p, d, d/p)
	}
	row("canonical point lookup TPS", peer.tps, head.tps, "tx/s")
	row("canonical point lookup p50", ms(peer.p50), ms(head.p50), "ms")
	row("canonical point lookup p99", ms(peer.p99), ms(head.p99), "ms")
	row("serving point lookup TPS (embedded store)", peer.tps, serve.tps, "tx/s")
	row("serving point lookup p99 (embedded store)", ms(peer.p99), ms(serve.p99), "ms")
	row("  same, label NOTICE off: TPS", peer.tps, serveQuiet.tps, "tx/s")
	row("  same, label NOTICE off: p99", ms(peer.p99), ms(serveQuiet.p99), "ms")
	row("protocol floor (Go, constant work): TPS", peer.tps, floor.tps, "tx/s")
	if ingestLoads > 0 {
		row("ingest: COPY rows, mapped and committed", ingest.median(ingest.pg), ingest.median(ingest.dg), "rows/s")
	}
	fmt.Printf("%-44s %14s %14.0f %9.2fx  (AS OF commit 2 vs head, TPS; goal <= 1.2x time)\n", "AS OF old commit point lookup TPS", "-", old.tps, head.tps/old.tps)
	if ingestLoads > 0 {
		fmt.Println(ingest.loadsLine())
	}
	fmt.Printf("\n%-44s %14s %14s %10s\n", "CPU per transaction, median runs (µs)", "server", "pgbench", "allocs")
	for k, tg := range targets {
		m := medianRun(runs[k])
		allocs := "-"
		if tg.t.mallocs != nil && m.txns > 0 {
			allocs = fmt.Sprintf("%.1f", float64(m.allocs)/float64(m.txns))
		}
		fmt.Printf("%-44s %14.1f %14.1f %10s\n", tg.name, m.perTxn(m.server), m.perTxn(m.client), allocs)
	}
	fmt.Println()
	if !serving {
		return nil
	}
	onRedis.lookup, onRedis.quiet = median("serving-redis"), median("serving-redis-quiet")
	// The server above is done; stop it before the serving bars start
	// theirs.
	dg.stop()
	dg.stop = func() {}
	return servingBars(ctx, peerT, peer, onRedis, rows, rebuildRows, clients)
}

// warmup is the unmeasured run each point-lookup target gets first.
var warmup = flag.Duration("warmup", 5*time.Second, "an unmeasured pgbench run of each point-lookup target before the rounds (fills caches: PostgreSQL's buffers, the Redis near cache); under 1s skips it")

// memProfile, with -profile-target, takes that target's allocation profile
// over its first run.
var memProfile = flag.String("memprofile", "", "with -profile-target: write the allocations of that target's first run to this file (the dualgate process's /debug/pprof/allocs over the run)")

// startTargetProfile takes the CPU (and allocation) profiles of
// -profile-target's first run, when name and round are those, from the
// dualgate process behind t (its /debug/pprof, over the run's duration);
// the returned func waits for them and writes the files.
func startTargetProfile(ctx context.Context, name string, t target, round int, dur time.Duration) (stop func() error, err error) {
	cpuPath := flag.Lookup("cpuprofile").Value.String()
	if *profileTarget != name || round != 0 || (cpuPath == "" && *memProfile == "") {
		return func() error { return nil }, nil
	}
	if t.admin == "" {
		return nil, fmt.Errorf("-profile-target %s: not a dualgate process (no profiles to take)", name)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	take := func(path, profile string) {
		if path == "" {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- fetchProfile(ctx, t.admin, profile, dur, path)
		}()
	}
	take(cpuPath, "profile")
	take(*memProfile, "allocs")
	return func() error {
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// fetchProfile saves admin's /debug/pprof/<profile> over dur to path (a
// CPU profile of that window, or the delta of a cumulative profile).
func fetchProfile(ctx context.Context, admin, profile string, dur time.Duration, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", admin, profile, int(dur.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", profile, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func rows2s(rows int, d time.Duration) float64 { return float64(rows) / d.Seconds() }

// medianRun is the run of median TPS (its latencies come with it); the
// lower middle one of an even count.
func medianRun(rs []result) result {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b result) int { return cmp.Compare(a.tps, b.tps) })
	return sorted[(len(sorted)-1)/2]
}

// benchCatalog is the ingest bar's catalog (package kvbench) with a
// projection copying canonical.kv, for the point-lookup and serving bars.
const benchCatalog = kvbench.Catalog + kvbench.ServingProjection

// execSQL runs one statement.
func execSQL(ctx context.Context, t target, sql string) error {
	c, err := pgconn.Connect(ctx, t.dsn())
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql).ReadAll()
	return err
}

// rewrite makes one more version of every tenth key.
func rewrite(ctx context.Context, t target, rows, v int) error {
	c, err := pgconn.Connect(ctx, t.dsn())
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriter(pw)
		for i := 1; i <= rows; i += 10 {
			fmt.Fprintf(w, "%d\tvalue-%d-v%d\t%d\n", i, i, v, i*7+v)
		}
		_ = w.Flush()
		_ = pw.Close()
	}()
	_, err = c.CopyFrom(ctx, pr, "COPY raw.kv_src (id, val, n) FROM STDIN")
	return err
}

// tail is the last n bytes of the file at path (for error reports).
func tail(path string, n int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return b
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// load runs create (if any) then COPYs rows with copySQL, and times the
// COPY until it is acknowledged (durable on both sides).
func load(ctx context.Context, t target, create, copySQL string, rows int) (time.Duration, error) {
	c, err := pgconn.Connect(ctx, t.dsn())
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	if create != "" {
		if _, err := c.Exec(ctx, create).ReadAll(); err != nil {
			return 0, err
		}
	}
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriter(pw)
		for i := 1; i <= rows; i++ {
			fmt.Fprintf(w, "%d\tvalue-%d\t%d\n", i, i, i*7)
		}
		_ = w.Flush()
		_ = pw.Close()
	}()
	start := time.Now()
	if _, err = c.CopyFrom(ctx, pr, copySQL); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

var tpsRe = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench runs the script against t and reads per-transaction latencies
// from pgbench's log files.
func pgbench(ctx context.Context, t target, script, dir, name string, dur time.Duration, clients, threads int) (result, error) {
	prefix := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "pgbench", "-n", "-f", script, "-M", "prepared",
		"-c", strconv.Itoa(clients), "-j", strconv.Itoa(threads), "-T", strconv.Itoa(int(dur.Seconds())),
		"-h", t.host, "-p", strconv.Itoa(t.port), "-U", t.user, "-l", "--log-prefix", prefix, t.db)
	cmd.Dir = dir
	if t.options != "" {
		cmd.Env = append(os.Environ(), "PGOPTIONS="+t.options)
	}
	// pgbench's stderr goes to a file, not a pipe: libpq prints every
	// NoticeResponse there (dualgate labels each result with one), and a
	// pipe would have this process, which hosts the dualgate servers,
	// read and buffer a line per transaction while it is measured.
	errPath := prefix + ".stderr"
	errFile, err := os.Create(errPath)
	if err != nil {
		return result{}, err
	}
	defer errFile.Close()
	cmd.Stderr = errFile
	var before time.Duration
	if t.cpu != nil {
		before = t.cpu()
	}
	var allocsBefore uint64
	if t.mallocs != nil {
		allocsBefore = t.mallocs()
	}
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("%w\n%s%s", err, out, tail(errPath, 4096))
	}
	var r result
	r.client = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if t.cpu != nil {
		r.server = t.cpu() - before
	}
	if t.mallocs != nil {
		r.allocs = t.mallocs() - allocsBefore
	}
	m := tpsRe.FindSubmatch(out)
	if m == nil {
		return result{}, fmt.Errorf("no tps in pgbench output:\n%s", out)
	}
	r.tps, _ = strconv.ParseFloat(string(m[1]), 64)
	logs, _ := filepath.Glob(prefix + ".[0-9]*")
	var lat []int64
	for _, l := range logs {
		f, err := os.Open(l)
		if err != nil {
			return r, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 3 {
				us, err := strconv.ParseInt(fields[2], 10, 64)
				if err == nil {
					lat = append(lat, us)
				}
			}
		}
		f.Close()
	}
	if len(lat) == 0 {
		return r, errors.New("pgbench wrote no latency log")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r.txns = len(lat)
	r.p50 = time.Duration(lat[len(lat)/2]) * time.Microsecond
	r.p99 = time.Duration(lat[len(lat)*99/100]) * time.Microsecond
	return r, nil
}
