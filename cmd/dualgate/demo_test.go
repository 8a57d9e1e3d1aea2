package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
// edit, when given, changes the demo catalog first.
func startDemo(t *testing.T, dir string, d *demoOptions, edit ...func(*catalog.Catalog)) (string, demoLoad, func()) {
	t.Helper()
	return startDemoServe(t, dir, d, nil, edit...)
}

// startDemoServe is startDemo with the serve flags changed by serve first
// (e.g. --redis).
func startDemoServe(t *testing.T, dir string, d *demoOptions, serve func(*serveOptions), edit ...func(*catalog.Catalog)) (string, demoLoad, func()) {
	t.Helper()
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		e(cat)
	}
	var out bytes.Buffer
	loaded := make(chan demoLoad, 1)
	d.out, d.onLoaded = &out, func(l demoLoad) { loaded <- l }
	o := &serveOptions{listen: "127.0.0.1:0", data: dir, trust: true, shutdownGrace: 2 * time.Second, maxMessage: 1 << 20, demo: d.load}
	if serve != nil {
		serve(o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	go func() {
		done <- runServe(ctx, o, cat, log, func(a net.Addr) { d.listening(a); addr <- a.String() })
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
	baskets := make(chan int, 1)
	d := &demoOptions{orders: 400, days: 3, seed: 7, trickleEvery: 100 * time.Millisecond, trickleOrders: 5, stewardFixes: 3,
		onBaskets: func(n int) { baskets <- n }}
	addr, l, stop := startDemo(t, dir, d)
	if l.Skipped || l.Rows == 0 || l.Batches == 0 || l.Duplicates == 0 || l.Quarantine == 0 || l.Corrections == 0 || l.BasketEvents == 0 {
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
	checkDemoBaskets(t, addr, conn, l, baskets)
	checkDemoSettlementFiles(t, addr, conn, l)
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

// checkDemoBaskets: the digital channel's backend wrote the history's
// basket events to serving.basket_events (as web_backend, over the wire),
// they read as derived, they hold checkout retries of placed orders (that
// canonical knows) and of abandoned baskets, and live ticks add more.
func checkDemoBaskets(t *testing.T, addr string, conn *pgconn.PgConn, l demoLoad, written chan int) {
	t.Helper()
	select {
	case n := <-written:
		if n != l.BasketEvents {
			t.Fatalf("%d basket events of the history written, %d spooled", n, l.BasketEvents)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the history's basket events were not written")
	}
	n := queryInt(t, conn, "SELECT count(*) FROM serving.basket_events")
	if n < l.BasketEvents {
		t.Fatalf("serving.basket_events holds %d rows, the history has %d", n, l.BasketEvents)
	}
	if a := conn.ParameterStatus("dualgate.authority"); a != "derived" {
		t.Errorf("serving.basket_events read as %q, want derived", a)
	}
	orderRetries := queryInt(t, conn, `SELECT count(*) FROM serving.basket_events b
		JOIN canonical.commercial_orders o ON o.order_id = b.order_id WHERE b.event_type = 'checkout_retry'`)
	abandonedRetries := queryInt(t, conn, `SELECT count(*) FROM serving.basket_events
		WHERE event_type = 'checkout_retry' AND order_id IS NULL AND basket_id LIKE '%-A'`)
	completed := queryInt(t, conn, `SELECT count(*) FROM serving.basket_events b
		JOIN canonical.commercial_orders o ON o.order_id = b.order_id WHERE b.event_type = 'checkout_completed'`)
	t.Logf("basket events: %d, checkout retries of placed orders %d, of abandoned baskets %d, completed checkouts %d",
		n, orderRetries, abandonedRetries, completed)
	if orderRetries == 0 || abandonedRetries == 0 || completed == 0 {
		t.Errorf("checkout retries of orders %d, of abandoned baskets %d, completed checkouts %d", orderRetries, abandonedRetries, completed)
	}
	auditor, err := pgconn.Connect(context.Background(), dsn(addr, "audrey"))
	if err != nil {
		t.Fatal(err)
	}
	defer auditor.Close(context.Background())
	if who := queryInt(t, auditor, `SELECT count(*) FROM dualgate.audit WHERE user_name = 'web_backend' AND statement LIKE 'COPY serving.basket_events%'`); who == 0 {
		t.Error("no COPY into serving.basket_events by web_backend in the audit trail")
	}
	deadline := time.Now().Add(30 * time.Second)
	for queryInt(t, conn, "SELECT count(*) FROM serving.basket_events") == n {
		if time.Now().After(deadline) {
			t.Fatal("the live trickle wrote no basket events")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkDemoSettlementFiles: the marketplaces' settlement files of the
// history were loaded the way a file connector loads them, one COPY …
// (FORMAT csv, HEADER) each over the wire by settlement_sftp (the audit
// trail has them), and their rows are in raw and canonical.
func checkDemoSettlementFiles(t *testing.T, addr string, conn *pgconn.PgConn, l demoLoad) {
	t.Helper()
	if l.SettlementFiles == 0 {
		t.Fatalf("no marketplace files in the history: %+v", l)
	}
	auditor, err := pgconn.Connect(context.Background(), dsn(addr, "audrey"))
	if err != nil {
		t.Fatal(err)
	}
	defer auditor.Close(context.Background())
	copies := queryInt(t, auditor, `SELECT count(*) FROM dualgate.audit WHERE user_name = 'settlement_sftp'
		AND statement LIKE 'COPY raw.marketplace_settlements%' AND sqlstate = '00000'`)
	if copies < l.SettlementFiles {
		t.Errorf("%d successful COPYs into raw.marketplace_settlements by settlement_sftp in the audit trail, %d files loaded", copies, l.SettlementFiles)
	}
	if n := queryInt(t, conn, "SELECT count(*) FROM dualgate.commits WHERE committer = 'settlement_sftp'"); n == 0 {
		t.Error("no commits by settlement_sftp")
	}
	raw := queryInt(t, conn, "SELECT count(*) FROM raw.marketplace_settlements")
	settled := queryInt(t, conn, "SELECT count(*) FROM canonical.settlement_events")
	if raw == 0 || settled == 0 {
		t.Errorf("raw.marketplace_settlements has %d rows, canonical.settlement_events %d", raw, settled)
	}
	t.Logf("%d marketplace files COPYed (%d in the audit trail): %d raw rows, %d settlement events", l.SettlementFiles, copies, raw, settled)
}

// TestDemoGenerateOnly runs `dualgate demo --generate-only DIR` (as the
// README shows it) at a small size: the command writes the source files
// without serving, the same seed writes the same files, and the load
// script it writes loads them into a primary serving the demo catalog with
// psql (each source COPYed as its connector, the basket events into
// serving.basket_events as web_backend).
func TestDemoGenerateOnly(t *testing.T) {
	generate := func(dir string) string {
		t.Helper()
		cmd := newDemo()
		var out bytes.Buffer
		cmd.SetArgs([]string{"--generate-only", dir, "--orders", "300", "--days", "4", "--seed", "5"})
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("demo --generate-only: %v\n%s", err, out.String())
		}
		return out.String()
	}
	dir := filepath.Join(t.TempDir(), "retailer")
	t.Logf("output: %s", generate(dir))
	// The same seed and size write the same files (the history ends at
	// today's midnight, so this holds all day).
	again := filepath.Join(t.TempDir(), "again")
	generate(again)
	day := time.Now().UTC().AddDate(0, 0, -2).Format("2006-01-02")
	for _, rel := range []string{filepath.Join("oms_orders", day+".csv"), filepath.Join("basket_events", day+".csv"), "finance_mart.daily_recognized_sales.csv"} {
		a, errA := os.ReadFile(filepath.Join(dir, rel))
		b, errB := os.ReadFile(filepath.Join(again, rel))
		if errA != nil || errB != nil || !bytes.Equal(a, b) || len(a) == 0 {
			t.Errorf("%s differs between two runs with the same seed (%v, %v)", rel, errA, errB)
		}
	}
	psql := filepath.Join(pgtest.BinDir, "psql")
	if _, err := os.Stat(psql); err != nil {
		if os.Getenv("DUALGATE_CI") != "" {
			t.Fatalf("psql is required: %v", err)
		}
		t.Skipf("psql not installed: %v", err)
	}
	addr := startPrimary(t, "")
	host, port, _ := net.SplitHostPort(addr)
	load := exec.Command(psql, "-X", "-h", host, "-p", port, "-U", "ops", "-d", "dualgate", "-v", "ON_ERROR_STOP=1",
		"-f", filepath.Join(dir, "load.sql"))
	load.Env = append(os.Environ(), "PGSSLMODE=disable")
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("psql -f load.sql: %v\n%s", err, out)
	}
	script, err := os.ReadFile(filepath.Join(dir, "load.sql"))
	if err != nil {
		t.Fatal(err)
	}
	copies := strings.Count(string(script), "\\copy ")
	conn, err := pgconn.Connect(context.Background(), dsn(addr, "ops"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Every data file is COPYed; the sources' connectors committed them.
	rows := 0
	for _, src := range []string{"oms_orders", "payment_events", "fraud_decisions", "warehouse_shipments", "marketplace_settlements"} {
		n := queryInt(t, conn, "SELECT count(*) FROM raw."+src)
		if n == 0 {
			t.Errorf("raw.%s is empty after the load", src)
		}
		rows += n
	}
	if n := queryInt(t, conn, "SELECT count(*) FROM canonical.commercial_orders"); n < 250 {
		t.Errorf("canonical.commercial_orders has %d orders from 300 generated", n)
	}
	if n := queryInt(t, conn, "SELECT count(*) FROM serving.basket_events WHERE event_type = 'checkout_retry'"); n == 0 {
		t.Error("no checkout retries in serving.basket_events after the load")
	}
	if n := queryInt(t, conn, "SELECT count(*) FROM dualgate.commits WHERE committer = 'oms_connector'"); n == 0 {
		t.Error("no commits by oms_connector")
	}
	t.Logf("loaded %d COPYs: %d raw rows", copies, rows)
}

// TestDemoFlags: the data flags exist with their defaults.
func TestDemoFlags(t *testing.T) {
	cmd := newDemo()
	for name, def := range map[string]string{"orders": "2000", "days": "7", "seed": "1", "trickle-interval": "2s", "trickle-orders": "2",
		"steward-fixes": "3", "legacy-every": "30", "generate-only": ""} {
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
// PostgreSQL, republishes it while the trickle runs (each run one run
// behind, logged in finance_mart.load_runs), and reconciles canonical
// against it: on closed sales dates the mart's known defects (the missing
// day in every region, the double count) are pending on the first run and
// open exceptions once the grace has passed; dates still settling are
// compared by the settling rule and stay pending.
func TestDemoLegacyMart(t *testing.T) {
	pg := legacyPostgres(t)
	t.Setenv("DUALGATE_LEGACY_FINANCE_DSN", "") // restored after the demo sets it
	const closed, settling = "recognized_sales_vs_legacy_mart", "recognized_sales_settling_vs_legacy_mart"
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	// The catalog's grace lets a demo session see the exceptions open
	// within minutes; the test shortens it to a second.
	if g := cat.Reconciliation(closed).Grace; g <= 0 || g > 2*time.Minute {
		t.Fatalf("%s grace %s: a demo session would not see its exceptions open", closed, g)
	}
	if g := cat.Reconciliation(settling).Grace; g < 5*24*time.Hour {
		t.Fatalf("%s grace %s: lag on settling dates would open exceptions", settling, g)
	}
	published := make(chan int, 100)
	// 8 days: the defects' dates (the history's second and third) are
	// closed (five or more days old).
	d := &demoOptions{orders: 400, days: 8, seed: 3, stewardFixes: 0, legacyDSN: pg.DSN("postgres"),
		trickleEvery: 100 * time.Millisecond, trickleOrders: 2, legacyEvery: 3, onLegacy: func(n int) { published <- n }}
	addr, l, stop := startDemo(t, t.TempDir(), d, func(c *catalog.Catalog) { c.Reconciliation(closed).Grace = time.Second })
	defer stop()
	if l.LegacyRows == 0 {
		t.Fatalf("no legacy mart rows published: %+v", l)
	}
	var last int
	for i := 0; i < 3; i++ { // the first run and two republishes
		select {
		case last = <-published:
		case <-time.After(60 * time.Second):
			t.Fatalf("the legacy mart was published %d times", i)
		}
	}
	peer, err := pgconn.Connect(context.Background(), pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close(context.Background())
	// Each run's cutoff is the previous run's time (to the minute), the
	// first run's the last midnight: the mart stays a run behind.
	res, err := peer.Exec(context.Background(), `SELECT r.run, r.fulfilled_before = date_trunc('minute', p.published_at),
		r.fulfilled_before >= p.fulfilled_before FROM finance_mart.load_runs r JOIN finance_mart.load_runs p ON p.run = r.run - 1
		ORDER BY r.run`).ReadAll()
	if err != nil || len(res) != 1 || len(res[0].Rows) < 2 {
		t.Fatalf("load runs: %v %+v", err, res)
	}
	for _, r := range res[0].Rows {
		if string(r[1]) != "t" || string(r[2]) != "t" {
			t.Errorf("load run %s: cutoff is not the previous run's time (%s, %s)", r[0], r[1], r[2])
		}
	}
	if n := queryInt(t, peer, "SELECT count(*) FROM finance_mart.daily_recognized_sales"); n < l.LegacyRows {
		t.Errorf("the republished mart holds %d rows, the first run %d (last published %d)", n, l.LegacyRows, last)
	}
	conn, err := pgconn.Connect(context.Background(), dsn(addr, "ops"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	run := func(rule string) (outcome string, compared, matched, pending, divergent int) {
		t.Helper()
		if _, err := conn.Exec(context.Background(), "CALL reconcile.run('"+rule+"')").ReadAll(); err != nil {
			t.Fatal(err)
		}
		res, err := conn.Exec(context.Background(), `SELECT outcome, compared, matched, pending, divergent FROM reconcile.runs
			WHERE rule = '`+rule+`' ORDER BY id DESC LIMIT 1`).ReadAll()
		if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
			t.Fatalf("runs: %v %+v", err, res)
		}
		r := res[0].Rows[0]
		num := func(i int) int { n, _ := strconv.Atoi(string(r[i])); return n }
		t.Logf("%s: outcome %s, compared %d, matched %d, pending %d, divergent %d", rule, r[0], num(1), num(2), num(3), num(4))
		return string(r[0]), num(1), num(2), num(3), num(4)
	}
	// Settling dates: lag, pending (never divergent).
	if o, c, m, p, dv := run(settling); c == 0 || dv != 0 || m+p != c || (o != "pending" && o != "clean") {
		t.Errorf("settling run: outcome %s compared %d matched %d pending %d divergent %d", o, c, m, p, dv)
	}
	// Closed dates: the defects are pending on the first run ...
	if o, c, m, p, dv := run(closed); o != "pending" || p < 4 || m == 0 || dv != 0 || m+p != c {
		t.Errorf("first closed run: outcome %s compared %d matched %d pending %d divergent %d", o, c, m, p, dv)
	}
	time.Sleep(1500 * time.Millisecond)
	// ... and open exceptions after the grace.
	if o, _, _, _, dv := run(closed); dv < 4 || o != "divergent" {
		t.Logf("second closed run: outcome %s, divergent %d", o, dv)
		if dv < 4 {
			t.Errorf("second closed run: %d divergent, want the defects (>= 4)", dv)
		}
	}
	res, err = conn.Exec(context.Background(), `SELECT key, kind, status FROM reconcile.exceptions
		WHERE rule = '`+closed+`' AND status = 'open' ORDER BY key`).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// The missing day is the history's third date: today - 8 + 2.
	day := time.Now().UTC().AddDate(0, 0, -6).Format("2006-01-02")
	missing := 0
	for _, r := range res[0].Rows {
		t.Logf("open exception: %s %s", r[0], r[1])
		if strings.Contains(string(r[0]), `"`+day+`"`) {
			missing++
		}
	}
	if len(res[0].Rows) < 4 || missing != 3 {
		t.Errorf("%d open exceptions, %d of them on the missing day %s; want the missing day in every region and the double count", len(res[0].Rows), missing, day)
	}
}

// legacyPostgres starts a PostgreSQL 15 for a test's legacy mart, stopped
// when the test ends; without one installed the test is skipped, or fails
// under DUALGATE_CI.
func legacyPostgres(t *testing.T) *pgtest.Server {
	t.Helper()
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
	t.Cleanup(pg.Stop)
	return pg
}
