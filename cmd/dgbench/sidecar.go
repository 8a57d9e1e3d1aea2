package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// sidecarStart is one start of the sidecar binary, each time since exec.
type sidecarStart struct {
	ready   time.Duration // /readyz answered 200
	serving time.Duration // first serving.* point lookup answered (from Redis)
	forward time.Duration // first canonical.* lookup answered (forwarded to the primary)
	logged  time.Duration // the "sidecar ready" log's startup figure (in-process, from runSidecar's start)
}

// sidecarBench measures DESIGN.md's sidecar-start bar ("ready in <= 1 s";
// the sidecar holds no canonical data): runs times, it execs `dualgate serve
// --role sidecar --redis URL --primary postgres://…` next to a primary
// primary whose projection is materialized in a real redis-server, and
// times /readyz answering 200 and the first queries answered over the wire.
// `dualgate version` is timed too: what exec and the binary's
// initialization cost before serve's own work starts.
func sidecarBench(ctx context.Context, runs, rows int) error {
	bin, err := binary(ctx)
	if err != nil {
		return err
	}
	redisPort, stopRedis, err := startRedis()
	if err != nil {
		return err
	}
	defer stopRedis()
	redisURL := fmt.Sprintf("redis://127.0.0.1:%d/0", redisPort)
	prim, err := startDualgate(ctx, redisURL)
	if err != nil {
		return err
	}
	defer prim.stop()
	if _, err := load(ctx, prim.target, "", "COPY raw.kv_src (id, val, n) FROM STDIN", rows); err != nil {
		return fmt.Errorf("load the primary: %w", err)
	}
	if err := execSQL(ctx, prim.target, "CALL dualgate.rebuild('kv_view')"); err != nil {
		return fmt.Errorf("materialize kv_view on redis: %w", err)
	}
	primaryURL := fmt.Sprintf("postgres://127.0.0.1:%d/dualgate?sslmode=disable", prim.port)

	var starts []sidecarStart
	var versions []time.Duration
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		if out, err := exec.CommandContext(ctx, bin, "version").CombinedOutput(); err != nil {
			return fmt.Errorf("dualgate version: %w\n%s", err, out)
		}
		versions = append(versions, time.Since(t0))
		s, err := startSidecar(ctx, bin, redisURL, primaryURL)
		if err != nil {
			return err
		}
		starts = append(starts, s)
	}

	fmt.Printf("\nsidecar start: `dualgate serve --role sidecar` (real binary) next to a primary (real binary too), kv_view (%d rows) in a real redis-server; %d starts\n", rows, runs)
	fmt.Printf("%-52s %12s %12s %12s %10s\n", "since exec", "median (ms)", "min (ms)", "max (ms)", "goal")
	line := func(name string, pick func(sidecarStart) time.Duration, goal string) {
		ds := make([]time.Duration, len(starts))
		for i, s := range starts {
			ds[i] = pick(s)
		}
		printDurations(name, ds, goal)
	}
	printDurations("`dualgate version` exits (exec + init, reference)", versions, "")
	line("\"sidecar ready\" logged (in-process startup)", func(s sidecarStart) time.Duration { return s.logged }, "")
	line("/readyz answers 200", func(s sidecarStart) time.Duration { return s.ready }, "<= 1000")
	line("first serving.kv_view point lookup answered", func(s sidecarStart) time.Duration { return s.serving }, "<= 1000")
	line("first canonical.kv lookup answered (forwarded)", func(s sidecarStart) time.Duration { return s.forward }, "")
	return nil
}

// printDurations prints one line of median, min and max of ds in ms.
func printDurations(name string, ds []time.Duration, goal string) {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	fmt.Printf("%-52s %12.1f %12.1f %12.1f %10s\n", name, ms(medianDuration(s)), ms(s[0]), ms(s[len(s)-1]), goal)
}

// startSidecar execs one sidecar, times it and stops it.
func startSidecar(ctx context.Context, bin, redisURL, primaryURL string) (sidecarStart, error) {
	p, port, admin, err := startServe(bin, "--role", "sidecar", "--redis", redisURL, "--primary", primaryURL, "--log-level", "info")
	if err != nil {
		return sidecarStart{}, err
	}
	defer p.stop()
	const every, limit = 2 * time.Millisecond, 30 * time.Second
	var s sidecarStart
	type res struct {
		serving, forward time.Duration
		err              error
	}
	queried := make(chan res, 1)
	go func() {
		var r res
		r.serving, r.forward, r.err = firstQueries(ctx, p, port, every, limit)
		queried <- r
	}()
	s.ready, err = p.waitReady(ctx, admin, every, limit)
	r := <-queried
	if err != nil {
		return s, err
	}
	if r.err != nil {
		return s, r.err
	}
	s.serving, s.forward = r.serving, r.forward
	s.logged, err = loggedStartup(p.stderr.String())
	return s, err
}

// firstQueries connects to the sidecar as soon as it accepts and times
// the first serving lookup and the first forwarded one, since exec.
func firstQueries(ctx context.Context, p *process, port int, every, limit time.Duration) (serving, forward time.Duration, err error) {
	dsn := fmt.Sprintf("postgres://bench@127.0.0.1:%d/dualgate?sslmode=disable&connect_timeout=1", port)
	var conn *pgconn.PgConn
	for {
		if conn, err = pgconn.Connect(ctx, dsn); err == nil {
			break
		}
		select {
		case <-p.exited:
			return 0, 0, p.failed(errors.New("sidecar exited before accepting a connection"))
		case <-time.After(every):
		}
		if time.Since(p.start) > limit {
			return 0, 0, p.failed(fmt.Errorf("no connection within %s: %w", limit, err))
		}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	one := func(sql string) error {
		res, err := conn.Exec(ctx, sql).ReadAll()
		if err != nil {
			return p.failed(fmt.Errorf("%s: %w", sql, err))
		}
		if len(res) != 1 || len(res[0].Rows) != 1 {
			return p.failed(fmt.Errorf("%s: want one row, got %v", sql, res))
		}
		return nil
	}
	if err := one("SELECT id, val, n FROM serving.kv_view WHERE id = 42"); err != nil {
		return 0, 0, err
	}
	serving = time.Since(p.start)
	if err := one("SELECT id, val, n FROM canonical.kv WHERE id = 42"); err != nil {
		return 0, 0, err
	}
	return serving, time.Since(p.start), nil
}

// loggedStartup finds the "sidecar ready" log line's startup duration (ms).
func loggedStartup(logs string) (time.Duration, error) {
	for _, l := range strings.Split(logs, "\n") {
		var rec struct {
			Message string  `json:"message"`
			Startup float64 `json:"startup"`
		}
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Message == "sidecar ready" {
			return time.Duration(rec.Startup * float64(time.Millisecond)), nil
		}
	}
	return 0, fmt.Errorf("no \"sidecar ready\" log line in:\n%s", logs)
}
