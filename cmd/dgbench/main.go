// Command dgbench measures dualgate against PostgreSQL 15 side by side on
// the same machine in one run, and prints each result as a ratio against
// the peer. It starts a throwaway PostgreSQL (package pgtest) and an
// in-process dualgate, loads the same rows into both, then drives both with
// the same pgbench script. `make bench` runs it; BENCHMARKS.md records the
// output with the command that produced it.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/gateway/pgtest"
)

type target struct {
	name string
	host string
	port int
	user string
	db   string
}

func (t target) dsn() string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", t.user, t.host, t.port, t.db)
}

// result is one pgbench run.
type result struct {
	tps      float64
	p50, p99 time.Duration
	txns     int
}

func main() {
	rows := flag.Int("rows", 100_000, "rows in the point-lookup table")
	dur := flag.Duration("duration", 20*time.Second, "pgbench -T per target")
	clients := flag.Int("clients", 8, "pgbench -c")
	threads := flag.Int("threads", 2, "pgbench -j")
	flag.Parse()
	if err := run(context.Background(), *rows, *dur, *clients, *threads); err != nil {
		fmt.Fprintln(os.Stderr, "dgbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, rows int, dur time.Duration, clients, threads int) error {
	if _, err := exec.LookPath("pgbench"); err != nil {
		return fmt.Errorf("pgbench not found (apt-get install postgresql-contrib or postgresql-15): %w", err)
	}
	pg, err := pgtest.Start(ctx, pgtest.Options{Durable: true})
	if err != nil {
		return err
	}
	defer pg.Stop()

	eng := gateway.NewEngine()
	defer eng.Close()
	srv, err := gateway.NewServer(gateway.Config{Listen: "127.0.0.1:0", Trust: true, Version: "bench", Log: zerolog.Nop()}, eng)
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = srv.Serve(sctx) }()
	_, dgPort, _ := net.SplitHostPort(srv.Addr().String())
	port, _ := strconv.Atoi(dgPort)

	targets := []target{
		{name: "postgresql-15", host: "127.0.0.1", port: pg.Port, user: "postgres", db: "postgres"},
		{name: "dualgate", host: "127.0.0.1", port: port, user: "bench", db: "dualgate"},
	}
	for _, t := range targets {
		start := time.Now()
		if err := load(ctx, t, rows); err != nil {
			return fmt.Errorf("load %s: %w", t.name, err)
		}
		fmt.Fprintf(os.Stderr, "loaded %d rows into %s in %v\n", rows, t.name, time.Since(start).Round(time.Millisecond))
	}

	dir, err := os.MkdirTemp("", "dgbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "point.sql")
	body := fmt.Sprintf("\\set id random(1, %d)\nSELECT id, val, n FROM kv WHERE id = :id;\n", rows)
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		return err
	}
	results := map[string]result{}
	for _, t := range targets {
		r, err := pgbench(ctx, t, script, dir, dur, clients, threads)
		if err != nil {
			return fmt.Errorf("pgbench %s: %w", t.name, err)
		}
		results[t.name] = r
	}
	peer, dg := results["postgresql-15"], results["dualgate"]
	fmt.Printf("point lookup by primary key, %d rows, pgbench -n -M prepared -c %d -j %d -T %s\n", rows, clients, threads, dur)
	fmt.Printf("%-24s %14s %14s %10s\n", "metric", "postgresql-15", "dualgate", "ratio")
	fmt.Printf("%-24s %14.0f %14.0f %9.2fx\n", "TPS", peer.tps, dg.tps, dg.tps/peer.tps)
	fmt.Printf("%-24s %14.3f %14.3f %9.2fx\n", "p50 latency (ms)", ms(peer.p50), ms(dg.p50), ms(dg.p50)/ms(peer.p50))
	fmt.Printf("%-24s %14.3f %14.3f %9.2fx\n", "p99 latency (ms)", ms(peer.p99), ms(dg.p99), ms(dg.p99)/ms(peer.p99))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// load creates the kv table and COPYs rows into it.
func load(ctx context.Context, t target, rows int) error {
	c, err := pgconn.Connect(ctx, t.dsn())
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE TABLE kv (id int4 PRIMARY KEY, val text NOT NULL, n int8 NOT NULL)").ReadAll(); err != nil {
		return err
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
	_, err = c.CopyFrom(ctx, pr, "COPY kv (id, val, n) FROM STDIN")
	return err
}

var tpsRe = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench runs the script against t and reads per-transaction latencies
// from pgbench's log files.
func pgbench(ctx context.Context, t target, script, dir string, dur time.Duration, clients, threads int) (result, error) {
	prefix := filepath.Join(dir, t.name)
	cmd := exec.CommandContext(ctx, "pgbench", "-n", "-f", script, "-M", "prepared",
		"-c", strconv.Itoa(clients), "-j", strconv.Itoa(threads), "-T", strconv.Itoa(int(dur.Seconds())),
		"-h", t.host, "-p", strconv.Itoa(t.port), "-U", t.user, "-l", "--log-prefix", prefix, t.db)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("%w\n%s", err, out)
	}
	m := tpsRe.FindSubmatch(out)
	if m == nil {
		return result{}, fmt.Errorf("no tps in pgbench output:\n%s", out)
	}
	var r result
	r.tps, _ = strconv.ParseFloat(string(m[1]), 64)
	logs, _ := filepath.Glob(prefix + ".*")
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
