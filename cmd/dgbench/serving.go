package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/cmd/internal/primary"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/projections/redistest"
)

// The serving lane's bars beyond the embedded point lookup of run():
// point lookups on Redis next to raw redis GET (redis-benchmark),
// freshness from an acknowledged canonical commit to the change visible in
// serving on both stores, a full projection rebuild, and a GROUP BY over
// canonical against PostgreSQL on the same rows.

// benchPrimary is a dualgate primary in this process over a fresh data
// directory, for the bars that build their store through its API (memory,
// reconciliation); the point-lookup and serving bars run startDualgate.
type benchPrimary struct {
	side *primary.Side
	eng  *gateway.Engine
	dir  string
}

// openPrimary opens a primary with the catalog yaml (named name), the
// embedded serving store (redisURL "") or Redis.
func openPrimary(ctx context.Context, name, yaml, redisURL string) (*benchPrimary, error) {
	dir, err := os.MkdirTemp("", "dgbench-data-")
	if err != nil {
		return nil, err
	}
	cat, err := catalog.LoadFiles(catalog.File{Name: name, Data: []byte(yaml)})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	eng := gateway.NewEngine()
	// The catalog.* views, as `dualgate serve` registers them (a sidecar
	// reads the projections' definitions from them).
	if err := eng.AddCatalogViews(cat); err != nil {
		eng.Close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	side, err := primary.Open(ctx, dir, cat, eng, redisURL, zerolog.Nop())
	if err != nil {
		eng.Close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &benchPrimary{side: side, eng: eng, dir: dir}, nil
}

// Close closes the store and removes the data directory.
func (b *benchPrimary) Close() {
	_ = b.side.Close()
	b.eng.Close()
	_ = os.RemoveAll(b.dir)
}

// dualgateOn is a `dualgate serve` process (the binary users run) over a
// fresh data directory with the bench catalog: its projections follow
// canonical commits, as a deployed primary's do.
type dualgateOn struct {
	target
	stop func()
}

// startDualgate starts the bench catalog's primary on the embedded store
// (redisURL "") or Redis and waits until /readyz answers 200.
func startDualgate(ctx context.Context, redisURL string) (_ *dualgateOn, err error) {
	bin, err := binary(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dgbench-data-")
	if err != nil {
		return nil, err
	}
	stop := func() { _ = os.RemoveAll(dir) }
	defer func() {
		if err != nil {
			stop()
		}
	}()
	catFile := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(catFile, []byte(benchCatalog), 0o644); err != nil {
		return nil, err
	}
	args := []string{"--data", filepath.Join(dir, "data"), "--catalog", catFile, "--pprof", "--log-level", "warn"}
	if redisURL != "" {
		args = append(args, "--redis", redisURL)
	}
	p, port, admin, err := startServe(bin, args...)
	if err != nil {
		return nil, err
	}
	stop = func() { p.stop(); _ = os.RemoveAll(dir) }
	if _, err := p.waitReady(ctx, admin, 20*time.Millisecond, 2*time.Minute); err != nil {
		return nil, err
	}
	t := target{name: "dualgate", host: "127.0.0.1", port: port, user: "bench", db: "dualgate",
		cpu: procCPU(p.cmd.Process.Pid, false), mallocs: metricsMallocs(admin), admin: admin}
	return &dualgateOn{target: t, stop: stop}, nil
}

// startRedis starts a throwaway redis-server (persistence off) on a free
// loopback port.
func startRedis() (port int, stop func(), err error) {
	port, _, stop, err = startRedisPid()
	return port, stop, err
}

// startRedisPid is startRedis that also gives the server's process id.
func startRedisPid() (port, pid int, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, nil, err
	}
	port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(redistest.Bin(), "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // gone with dgbench
	if err := cmd.Start(); err != nil {
		return 0, 0, nil, fmt.Errorf("redis-server (apt-get install redis-server): %w", err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	if !redistest.Wait(fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second) {
		stop()
		return 0, 0, nil, errors.New("redis-server did not answer PING")
	}
	return port, cmd.Process.Pid, stop, nil
}

// freshness commits n single-row changes through raw.kv_src and, for each,
// measures the time from the INSERT being acknowledged (committed) to the
// new value being read from serving.kv_view.
func freshness(ctx context.Context, t target, rows, n int) (p50, p99 time.Duration, err error) {
	conn, err := pgx.Connect(ctx, t.dsn())
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SET dualgate.label_notices = off"); err != nil {
		return 0, 0, err
	}
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		id := int64(i*7919%rows + 1)
		val := fmt.Sprintf("fresh-%d", i)
		if _, err := conn.Exec(ctx, "INSERT INTO raw.kv_src (id, val, n) VALUES ($1, $2, $3)", id, val, int64(rows*10+i)); err != nil {
			return 0, 0, err
		}
		acked := time.Now()
		for {
			var got string
			if err := conn.QueryRow(ctx, "SELECT val FROM serving.kv_view WHERE id = $1", id).Scan(&got); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return 0, 0, err
			}
			if got == val {
				break
			}
			if time.Since(acked) > 30*time.Second {
				return 0, 0, fmt.Errorf("freshness: key %d not visible in serving after 30 s", id)
			}
		}
		lat = append(lat, time.Since(acked))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[len(lat)/2], lat[len(lat)*99/100], nil
}

var getRe = regexp.MustCompile(`GET: ([0-9.]+) requests per second`)

// redisGET is raw redis GET throughput from redis-benchmark with the same
// client count as pgbench.
func redisGET(ctx context.Context, port, clients int) (float64, error) {
	out, err := exec.CommandContext(ctx, "redis-benchmark", "-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"-t", "get", "-n", "400000", "-c", strconv.Itoa(clients), "-q").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("redis-benchmark: %w\n%s", err, out)
	}
	m := getRe.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no GET rate in redis-benchmark output:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// redisServing is a served bench primary on a throwaway redis-server,
// loaded with the bench rows and kv_view materialized.
type redisServing struct {
	dg     *dualgateOn
	port   int    // the redis-server's
	lookup result // measured by run() with the rest, label NOTICE on
	quiet  result // and off
	stop   func()
}

// startRedisServing starts redis-server and a primary serving from it,
// loaded with rows rows.
func startRedisServing(ctx context.Context, rows int) (*redisServing, error) {
	port, pid, stopRedis, err := startRedisPid()
	if err != nil {
		return nil, err
	}
	dg, err := startDualgate(ctx, fmt.Sprintf("redis://127.0.0.1:%d/0", port))
	if err != nil {
		stopRedis()
		return nil, err
	}
	// The Redis-backed lookup's server CPU is dualgate's and Redis's.
	dgCPU, redisCPU := dg.target.cpu, procCPU(pid, false)
	dg.target.cpu = func() time.Duration { return dgCPU() + redisCPU() }
	rs := &redisServing{dg: dg, port: port, stop: func() { dg.stop(); stopRedis() }}
	if _, err := load(ctx, dg.target, "", "COPY raw.kv_src (id, val, n) FROM STDIN", rows); err != nil {
		rs.stop()
		return nil, fmt.Errorf("load dualgate (redis): %w", err)
	}
	if err := execSQL(ctx, dg.target, "CALL dualgate.rebuild('kv_view')"); err != nil {
		rs.stop()
		return nil, fmt.Errorf("materialize kv_view on redis: %w", err)
	}
	return rs, nil
}

// servingBars runs the serving lane's remaining bars, on dualgate
// instances of its own (projections following commits) and on onRedis,
// whose point-lookup result run() measured in its rounds. peer is
// PostgreSQL's primary-key lookup result of run() on the same rows, pg the
// peer itself (with kv loaded).
func servingBars(ctx context.Context, pg target, peer result, onRedis *redisServing, rows, rebuildRows, clients int) error {
	const freshN = 300
	emb, err := startDualgate(ctx, "")
	if err != nil {
		return err
	}
	defer emb.stop()
	if _, err := load(ctx, emb.target, "", "COPY raw.kv_src (id, val, n) FROM STDIN", rows); err != nil {
		return fmt.Errorf("load dualgate (embedded): %w", err)
	}
	if err := execSQL(ctx, emb.target, "CALL dualgate.rebuild('kv_view')"); err != nil {
		return fmt.Errorf("materialize kv_view: %w", err)
	}
	e50, e99, err := freshness(ctx, emb.target, rows, freshN)
	if err != nil {
		return fmt.Errorf("freshness (embedded): %w", err)
	}

	raw, err := redisGET(ctx, onRedis.port, clients)
	if err != nil {
		return err
	}
	r50, r99, err := freshness(ctx, onRedis.dg.target, rows, freshN)
	if err != nil {
		return fmt.Errorf("freshness (redis): %w", err)
	}

	// GROUP BY over every canonical row, against the same on PostgreSQL:
	// the median of -group-runs runs of each, alternating, so one run
	// disturbed by the machine does not decide the ratio.
	groupSQL := "SELECT n %% 100 AS g, count(*), sum(n) FROM %s GROUP BY 1 ORDER BY 1"
	var pgRuns, dgRuns []time.Duration
	for i := 0; i < max(*groupRuns, 1); i++ {
		d, err := timeQuery(ctx, pg, fmt.Sprintf(groupSQL, "kv"))
		if err != nil {
			return fmt.Errorf("group by on postgresql: %w", err)
		}
		pgRuns = append(pgRuns, d)
		if d, err = timeQuery(ctx, emb.target, fmt.Sprintf(groupSQL, "canonical.kv")); err != nil {
			return fmt.Errorf("group by on dualgate: %w", err)
		}
		dgRuns = append(dgRuns, d)
	}
	pgGroup, dgGroup := medianDuration(pgRuns), medianDuration(dgRuns)

	// A full rebuild of a projection of rebuildRows rows (embedded store).
	rb, err := startDualgate(ctx, "")
	if err != nil {
		return err
	}
	defer rb.stop()
	if _, err := load(ctx, rb.target, "", "COPY raw.kv_src (id, val, n) FROM STDIN", rebuildRows); err != nil {
		return fmt.Errorf("load %d rows for the rebuild: %w", rebuildRows, err)
	}
	rebuild, err := timeQuery(ctx, rb.target, "CALL dualgate.rebuild('kv_view')")
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}

	fmt.Printf("\n%-44s %14s %14s %10s\n", "serving lane", "postgresql-15", "dualgate", "ratio")
	fmt.Printf("%-44s %14.3f %14.3f %9.2fx  (goal >= 1.0x)\n", "serving point lookup TPS (Redis) (tx/s)", peer.tps, onRedis.lookup.tps, onRedis.lookup.tps/peer.tps)
	fmt.Printf("%-44s %14.3f %14.3f %9.2fx  (goal p99 <= 2 ms)\n", "serving point lookup p99 (Redis) (ms)", ms(peer.p99), ms(onRedis.lookup.p99), ms(onRedis.lookup.p99)/ms(peer.p99))
	fmt.Printf("%-44s %14.3f %14.3f %9.2fx\n", "  same, label NOTICE off: TPS (tx/s)", peer.tps, onRedis.quiet.tps, onRedis.quiet.tps/peer.tps)
	fmt.Printf("%-44s %14.3f %14.3f %9.2fx\n", "  same, label NOTICE off: p99 (ms)", ms(peer.p99), ms(onRedis.quiet.p99), ms(onRedis.quiet.p99)/ms(peer.p99))
	fmt.Printf("%-44s %14s %14.0f %10s  (redis-benchmark -t get -c %d; the ceiling under a Redis-backed lookup)\n", "raw redis GET (req/s)", "-", raw, "", clients)
	fmt.Printf("%-44s %14s %14.2f %10s  (goal p99 <= 100 ms)\n", "freshness p50 / p99, embedded (ms)", "-", ms(e50), fmt.Sprintf("%.2f", ms(e99)))
	fmt.Printf("%-44s %14s %14.2f %10s  (goal p99 <= 250 ms)\n", "freshness p50 / p99, Redis (ms)", "-", ms(r50), fmt.Sprintf("%.2f", ms(r99)))
	fmt.Printf("%-44s %14.3f %14.3f %9.2fx  (goal <= 3x time; median of %d runs)\n", fmt.Sprintf("canonical GROUP BY over %d rows (s)", rows), pgGroup.Seconds(), dgGroup.Seconds(), dgGroup.Seconds()/pgGroup.Seconds(), len(dgRuns))
	fmt.Printf("%-44s %14s %14.3f\n", fmt.Sprintf("projection rebuild, %d rows (s)", rebuildRows), "-", rebuild.Seconds())
	return nil
}

// groupRuns is how many times the GROUP BY bar runs its query on each side.
var groupRuns = flag.Int("group-runs", 5, "runs of the GROUP BY bar's query on each side (the median is reported)")

// medianDuration returns the median of ds (the upper one of an even count).
func medianDuration(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// timeQuery runs one statement and returns how long it took to complete
// (rows read and discarded).
func timeQuery(ctx context.Context, t target, sql string) (time.Duration, error) {
	conn, err := pgx.Connect(ctx, t.dsn())
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	if strings.HasPrefix(t.name, "dualgate") {
		if _, err := conn.Exec(ctx, "SET dualgate.label_notices = off"); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
	}
	rows.Close()
	return time.Since(start), rows.Err()
}
