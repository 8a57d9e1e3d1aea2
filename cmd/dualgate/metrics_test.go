package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/projections"
	"github.com/dualgate/dualgate/projections/redistest"
	"github.com/dualgate/dualgate/testdata"
)

// startObserved runs `dualgate serve` in-process like startPrimary, with the
// admin listener on a free port, and returns the Postgres address and the
// admin base URL. tweak may change the options first.
func startObserved(t *testing.T, tweak func(*serveOptions)) (pgAddr, adminURL string) {
	t.Helper()
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	o := &serveOptions{listen: "127.0.0.1:0", data: t.TempDir(), admin: "127.0.0.1:0", trust: true,
		shutdownGrace: 2 * time.Second, maxMessage: 1 << 20}
	adminAddr := make(chan string, 1)
	o.onAdmin = func(a net.Addr) { adminAddr <- a.String() }
	if tweak != nil {
		tweak(o)
	}
	return serveForTest(t, o, cat), "http://" + <-adminAddr
}

// get fetches url and returns the status code and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// waitReady polls /readyz until it answers want (or fails after a minute)
// and returns its last body.
func waitReady(t *testing.T, adminURL string, want int) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := get(t, adminURL+"/readyz")
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answered %d, want %d:\n%s", code, want, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrape fetches and parses /metrics.
func scrape(t *testing.T, adminURL string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, adminURL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics answered %d:\n%s", code, body)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not valid Prometheus text: %v", err)
	}
	return fams
}

// value sums the series of metric name whose labels include want: the
// value of counters and gauges, the sample count of histograms. ok is
// false when no series matches.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) (sum float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
series:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue series
			}
		}
		ok = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum, ok
}

// TestMetricsMove scrapes /metrics before and after a session (queries of
// both labels, a fast-path lookup, a syntax error, an ingested row,
// procedures) and checks every metric family moved as it should.
func TestMetricsMove(t *testing.T) {
	addr, adminURL := startObserved(t, nil)
	if code, body := get(t, adminURL+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	body := waitReady(t, adminURL, http.StatusOK)
	for _, want := range []string{"[+] catalog:", "[+] store: open", "[+] listener:", "[+] projections:", "ready\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz body lacks %q:\n%s", want, body)
		}
	}
	if code, _ := get(t, adminURL+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ answered %d without --pprof, want 404", code)
	}
	before := scrape(t, adminURL)
	delta := func(after map[string]*dto.MetricFamily, name string, labels ...string) float64 {
		a, ok := value(after, name, labels...)
		if !ok {
			t.Errorf("%s%v: no such series", name, labels)
		}
		b, _ := value(before, name, labels...)
		return a - b
	}
	head0, _ := value(before, "dualgate_canonical_head_commit")

	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, dsn(addr, "loader"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(q string) error {
		_, err := conn.Exec(ctx, q).ReadAll()
		return err
	}
	for _, q := range []string{
		`SELECT count(*) FROM canonical.commercial_orders`,
		`SELECT count(*) FROM serving.order_timeline`,
		`SET application_name = 'metrics-test'`,
		`INSERT INTO raw.oms_orders VALUES ('m-e1','m-o1',1,'SUBMITTED','c1','x@example.com','+1','web','eu','eur','sku-1',1,100,100,'2024-05-01 10:00:00+00','2024-05-01 10:00:00+00')`,
		`CALL dualgate.verify()`,
		`CALL dualgate.rebuild('order_timeline')`,
		`CALL reconcile.run('shipped_lines_in_canonical')`,
	} {
		if err := run(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := run(`SELEC 1`); err == nil {
		t.Fatal("a syntax error succeeded")
	}
	r := conn.ExecParams(ctx, `SELECT order_id, status FROM canonical.commercial_orders WHERE order_id = $1`, [][]byte{[]byte("m-o1")}, nil, nil, nil).Read()
	if r.Err != nil || len(r.Rows) != 1 {
		t.Fatalf("fast-path lookup: %v, %d rows", r.Err, len(r.Rows))
	}

	after := scrape(t, adminURL)
	checks := []struct {
		name   string
		labels []string
		min    float64 // the delta must be at least min ...
		exact  bool    // ... or exactly min
	}{
		{"dualgate_connections_total", nil, 1, true},
		{"dualgate_connections_open", nil, 1, true},
		{"dualgate_statements_total", []string{"authority", "authoritative", "outcome", "ok", "sqlstate_class", "00"}, 2, false}, // count(*) + lookup
		{"dualgate_statements_total", []string{"authority", "derived", "outcome", "ok"}, 1, false},
		{"dualgate_statements_total", []string{"authority", "none", "outcome", "ok"}, 1, false}, // SET
		{"dualgate_statements_total", []string{"outcome", "error", "sqlstate_class", "42"}, 1, true},
		{"dualgate_statement_duration_seconds", []string{"authority", "authoritative"}, 2, false},
		{"dualgate_fastpath_hits_total", nil, 1, true},
		{"dualgate_ingest_batches_total", []string{"kind", "ingest", "source", "oms_orders", "outcome", "ok"}, 1, true},
		{"dualgate_ingest_rows_total", []string{"kind", "ingest", "source", "oms_orders", "result", "received"}, 1, true},
		{"dualgate_ingest_rows_total", []string{"kind", "ingest", "source", "oms_orders", "result", "committed"}, 1, true},
		{"dualgate_canonical_commits_total", []string{"kind", "ingest"}, 1, true},
		{"dualgate_canonical_head_commit", nil, 1, true},
		{"dualgate_procedure_calls_total", []string{"procedure", "dualgate.verify", "outcome", "ok"}, 1, true},
		{"dualgate_procedure_calls_total", []string{"procedure", "dualgate.rebuild", "outcome", "ok"}, 1, true},
		{"dualgate_projection_rebuilds_total", []string{"projection", "order_timeline", "outcome", "ok"}, 1, false},
		{"dualgate_reconcile_runs_total", []string{"rule", "shipped_lines_in_canonical", "outcome", "clean"}, 1, false},
	}
	for _, c := range checks {
		d := delta(after, c.name, c.labels...)
		if (c.exact && d != c.min) || d < c.min {
			t.Errorf("%s%v moved by %v, want %s%v", c.name, c.labels, d, map[bool]string{true: "", false: ">= "}[c.exact], c.min)
		}
	}
	if v, _ := value(after, "dualgate_projection_freshness_sla_seconds", "projection", "order_timeline"); v != 2 {
		t.Errorf("order_timeline SLA = %v s, want 2 (catalog freshness_sla: 2s)", v)
	}
	if _, ok := value(after, "dualgate_projection_lag_seconds", "projection", "order_timeline"); !ok {
		t.Error("no dualgate_projection_lag_seconds for order_timeline")
	}
	for _, name := range []string{"dualgate_build_info", "dualgate_projection_watermark_commit", "dualgate_projection_lag_commits",
		"dualgate_projection_within_sla", "dualgate_projection_state", "dualgate_canonical_head_commit_timestamp_seconds",
		"go_goroutines", "process_open_fds", "dualgate_reconcile_open_exceptions"} {
		if _, ok := value(after, name); !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	// The ingested row reaches the projection: its watermark catches up
	// with the new head.
	deadline := time.Now().Add(30 * time.Second)
	for {
		fams := scrape(t, adminURL)
		wm, _ := value(fams, "dualgate_projection_watermark_commit", "projection", "order_timeline")
		if wm >= head0+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order_timeline watermark %v never reached commit %v", wm, head0+1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn.Close(ctx)
	deadline = time.Now().Add(10 * time.Second)
	for {
		if open, _ := value(scrape(t, adminURL), "dualgate_connections_open"); open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dualgate_connections_open did not return to 0 after the connection closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetricsPprofFlag: --pprof serves Go profiles on the admin listener.
func TestMetricsPprofFlag(t *testing.T) {
	_, adminURL := startObserved(t, func(o *serveOptions) { o.pprof = true })
	if code, body := get(t, adminURL+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/ with --pprof: %d\n%s", code, body)
	}
}

// TestMetricsReadyzStates checks /readyz's verdicts on projection states:
// a lagging or failing projection makes the server not ready, unless
// --ready-when-degraded, and before the store is open it is not ready.
func TestMetricsReadyzStates(t *testing.T) {
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	a := newAdmin(&serveOptions{}, cat)
	ctx := context.Background()
	if _, ready, _ := a.ready(ctx); ready {
		t.Fatal("ready before the store is open")
	}
	sts := []projections.Status{
		{Name: "fine", Generation: "g1", State: projections.StateOK, SLA: time.Second},
		{Name: "slow", Generation: "g1", State: projections.StateLagging, LagCommits: 3, Lag: 5 * time.Second, SLA: 2 * time.Second},
	}
	a.head = func() uint64 { return 7 }
	a.statuses = func(context.Context) []projections.Status { return sts }
	srv, err := gateway.NewServer(gateway.Config{Listen: "127.0.0.1:0", Trust: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	a.setServer(srv, ctx)
	checks, ready, degraded := a.ready(ctx)
	if ready || degraded {
		t.Fatalf("lagging projection: ready=%v degraded=%v %+v", ready, degraded, checks)
	}
	if last := checks[len(checks)-1]; last.ok || !strings.Contains(last.detail, "slow 3 commits (5s) behind, SLA 2s") {
		t.Fatalf("projections check: %+v", last)
	}
	a.allowDegraded = true
	if checks, ready, degraded = a.ready(ctx); !ready || !degraded {
		t.Fatalf("--ready-when-degraded: ready=%v degraded=%v %+v", ready, degraded, checks)
	}
	a.allowDegraded = false
	sts[1] = projections.Status{Name: "slow", Generation: "g1", State: projections.StateError, Err: "redis: connection refused", SLA: time.Second}
	if checks, ready, _ = a.ready(ctx); ready || !strings.Contains(checks[len(checks)-1].detail, "connection refused") {
		t.Fatalf("failing projection: ready=%v %+v", ready, checks)
	}
	sts[1] = projections.Status{Name: "slow", State: projections.StateRebuilding, SLA: time.Second}
	if checks, ready, _ = a.ready(ctx); ready || !strings.Contains(checks[len(checks)-1].detail, "slow is being built") {
		t.Fatalf("unmaterialized projection: ready=%v %+v", ready, checks)
	}
	// Within the SLA while behind: ready.
	sts[1] = projections.Status{Name: "slow", Generation: "g2", State: projections.StateOK, LagCommits: 1, Lag: time.Millisecond, SLA: time.Second}
	if checks, ready, _ = a.ready(ctx); !ready {
		t.Fatalf("projection within SLA: not ready %+v", checks)
	}
}

// TestMetricsRedisDown serves projections from a real redis-server, stops
// it, and checks that /readyz turns 503 naming the failing projections and
// that dualgate_redis_errors_total counts the failures.
func TestMetricsRedisDown(t *testing.T) {
	url, stop := startRedisServer(t)
	_, adminURL := startObserved(t, func(o *serveOptions) { o.redis = url })
	waitReady(t, adminURL, http.StatusOK)
	if v, _ := value(scrape(t, adminURL), "dualgate_projection_materialized", "store", "redis"); v == 0 {
		t.Fatal("no projection materialized in redis")
	}
	stop()
	body := waitReady(t, adminURL, http.StatusServiceUnavailable)
	if !strings.Contains(body, "[-] projections:") || !strings.Contains(body, "not ready") {
		t.Fatalf("/readyz with Redis down:\n%s", body)
	}
	if v, _ := value(scrape(t, adminURL), "dualgate_redis_errors_total"); v == 0 {
		t.Fatal("dualgate_redis_errors_total did not count the failures")
	}
}

// startRedisServer starts an empty redis-server (no persistence) on a free
// loopback port; stop (also run at cleanup) kills it.
func startRedisServer(t *testing.T) (url string, stop func()) {
	t.Helper()
	return redistest.Start(t)
}
