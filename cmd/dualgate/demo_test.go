package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway/pgtest"
	"github.com/dualgate/dualgate/testdata"
)

// startDemo runs the demo's serve path in-process (small history, fast
// trickle) on dir and returns its address, the load summary and a stop.
func startDemo(t *testing.T, dir string, d *demoOptions) (string, demoLoad, func()) {
	t.Helper()
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	loaded := make(chan demoLoad, 1)
	d.out, d.onLoaded = &out, func(l demoLoad) { loaded <- l }
	o := &serveOptions{listen: "127.0.0.1:0", data: dir, trust: true, shutdownGrace: 2 * time.Second, maxMessage: 1 << 20, demo: d.load}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	go func() {
		done <- runServe(ctx, o, cat, log, func(a net.Addr) { addr <- a.String() })
	}()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}
	select {
	case a := <-addr:
		l := <-loaded
		t.Logf("demo output: %s", out.String())
		return a, l, stop
	case err := <-done:
		cancel()
		t.Fatalf("demo: %v", err)
	case <-time.After(120 * time.Second):
		cancel()
		t.Fatal("demo did not start")
	}
	return "", demoLoad{}, nil
}

func queryInt(t *testing.T, conn *pgconn.PgConn, sql string) int {
	t.Helper()
	res, err := conn.Exec(context.Background(), sql).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 {
		t.Fatalf("%s: unexpected result %+v", sql, res)
	}
	n, err := strconv.Atoi(string(res[0].Rows[0][0]))
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestDemoLoadsHistoryAndTrickles starts the demo with a small history:
// canonical has orders, quarantine and steward corrections have content,
// and the live trickle keeps committing.
func TestDemoLoadsHistoryAndTrickles(t *testing.T) {
	dir := t.TempDir()
	d := &demoOptions{orders: 400, days: 3, seed: 7, trickleEvery: 100 * time.Millisecond, trickleOrders: 5, stewardFixes: 3}
	addr, l, stop := startDemo(t, dir, d)
	if l.Skipped || l.Rows == 0 || l.Batches == 0 || l.Duplicates == 0 || l.Quarantine == 0 || l.Corrections == 0 {
		t.Fatalf("load summary: %+v", l)
	}
	if l.Committed+l.Duplicates+l.Quarantine > l.Rows {
		t.Fatalf("load summary does not add up: %+v", l)
	}
	t.Logf("initial load: %+v", l)
	conn, err := pgconn.Connect(context.Background(), dsn(addr, "ops"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if n := queryInt(t, conn, "SELECT count(*) FROM canonical.commercial_orders"); n < 300 {
		t.Errorf("canonical.commercial_orders has %d orders", n)
	}
	if n := queryInt(t, conn, "SELECT count(*) FROM dualgate.quarantine"); n == 0 {
		t.Error("quarantine is empty")
	}
	if n := queryInt(t, conn, "SELECT count(*) FROM dualgate.commits WHERE kind = 'correction'"); n != l.Corrections {
		t.Errorf("%d correction commits, the demo made %d", n, l.Corrections)
	}
	head := queryInt(t, conn, "SELECT max(commit_id) FROM dualgate.commits")
	deadline := time.Now().Add(30 * time.Second)
	for queryInt(t, conn, "SELECT max(commit_id) FROM dualgate.commits") == head {
		if time.Now().After(deadline) {
			t.Fatal("the live trickle made no commit")
		}
		time.Sleep(100 * time.Millisecond)
	}
	conn.Close(context.Background())
	stop()

	// A second start on the same data loads nothing again.
	d2 := &demoOptions{orders: 400, days: 3, seed: 7, trickleEvery: time.Second, trickleOrders: 1}
	_, l2, stop2 := startDemo(t, dir, d2)
	defer stop2()
	if !l2.Skipped {
		t.Fatalf("second start loaded history again: %+v", l2)
	}
}

// TestDemoFlags: the data flags exist with their defaults.
func TestDemoFlags(t *testing.T) {
	cmd := newDemo()
	for name, def := range map[string]string{"orders": "2000", "days": "7", "seed": "1", "trickle-interval": "2s", "trickle-orders": "2", "steward-fixes": "3"} {
		f := cmd.Flags().Lookup(name)
		if f == nil || f.DefValue != def {
			t.Errorf("--%s: %+v, want default %s", name, f, def)
		}
	}
	if !strings.Contains(cmd.Short, "demo") {
		t.Errorf("short help: %q", cmd.Short)
	}
}

// TestDemoLegacyMart publishes the legacy finance mart to a real
// PostgreSQL and reconciles canonical against it: the rule reads its right
// side over pgx, most groups agree, and the mart's known defects (and its
// one-day delay) are held as differences within the rule's 1-day grace.
func TestDemoLegacyMart(t *testing.T) {
	if _, err := os.Stat(pgtest.BinDir + "/postgres"); err != nil {
		if os.Getenv("DUALGATE_CI") != "" {
			t.Fatalf("PostgreSQL 15 is required: %v", err)
		}
		t.Skipf("PostgreSQL 15 not installed: %v", err)
	}
	pg, err := pgtest.Start(context.Background(), pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	t.Setenv("DUALGATE_LEGACY_FINANCE_DSN", "") // restored after the demo sets it
	d := &demoOptions{orders: 300, days: 6, seed: 3, stewardFixes: 0, legacyDSN: pg.DSN("postgres")}
	addr, l, stop := startDemo(t, t.TempDir(), d)
	defer stop()
	if l.LegacyRows == 0 {
		t.Fatalf("no legacy mart rows published: %+v", l)
	}
	peer, err := pgconn.Connect(context.Background(), pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close(context.Background())
	if n := queryInt(t, peer, "SELECT count(*) FROM finance_mart.daily_recognized_sales"); n != l.LegacyRows {
		t.Errorf("the mart holds %d rows, the demo published %d", n, l.LegacyRows)
	}
	conn, err := pgconn.Connect(context.Background(), dsn(addr, "ops"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CALL reconcile.run('recognized_sales_vs_legacy_mart')").ReadAll(); err != nil {
		t.Fatal(err)
	}
	res, err := conn.Exec(context.Background(), `SELECT outcome, compared, matched, pending, divergent FROM reconcile.runs
		WHERE rule = 'recognized_sales_vs_legacy_mart' ORDER BY id DESC LIMIT 1`).ReadAll()
	if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
		t.Fatalf("runs: %v %+v", err, res)
	}
	r := res[0].Rows[0]
	num := func(i int) int { n, _ := strconv.Atoi(string(r[i])); return n }
	t.Logf("legacy reconciliation: outcome %s, compared %d, matched %d, pending %d, divergent %d", r[0], num(1), num(2), num(3), num(4))
	// Three defects touch at least: one day of every region (missing
	// load), one double-counted group, the APAC groups (rounding).
	if string(r[0]) != "pending" || num(3) < 3 || num(2) == 0 || num(4) != 0 || num(2)+num(3) != num(1) {
		t.Errorf("legacy run: outcome %s compared %d matched %d pending %d divergent %d", r[0], num(1), num(2), num(3), num(4))
	}
}
