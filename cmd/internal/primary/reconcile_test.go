package primary

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/gateway/pgtest"
	"github.com/dualgate/dualgate/projections"
	"github.com/dualgate/dualgate/projections/redistest"
	"github.com/dualgate/dualgate/reconcile"
)

// suite is the divergence-injection suite's world: a primary side over the
// suite catalog with real data, a reconciliation engine on a fake clock, a
// real PostgreSQL 15 as the legacy mart and a local webhook receiver.
type suite struct {
	t      *testing.T
	ctx    context.Context
	side   *Side
	re     *reconcile.Engine
	ledger *reconcile.Ledger
	legacy *pgx.Conn
	now    time.Time
	clkMu  sync.Mutex
	hookMu sync.Mutex
	hooks  []map[string]any
}

const suiteOrders = 2000

var suiteBase = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func (s *suite) clock() time.Time {
	s.clkMu.Lock()
	defer s.clkMu.Unlock()
	return s.now
}

func (s *suite) advance(d time.Duration) {
	s.clkMu.Lock()
	s.now = s.now.Add(d)
	s.clkMu.Unlock()
}

func region(i int) string { return fmt.Sprintf("R%d", i%8) }

// orderRow is order i's source event; the seeded invariant violations are
// paid orders 3, 33 and 63 with a zero total.
func orderRow(i int, status string) []any {
	total := int64(i*37%5000 + 1)
	if i == 3 || i == 33 || i == 63 {
		total = 0
	}
	placed := suiteBase.Add(-10*24*time.Hour + time.Duration(i)*time.Minute)
	if i == 80 || i == 90 {
		placed = suiteBase.Add(-time.Hour) // shipped, carrier event not in yet: inside the SLA
	}
	return []any{fmt.Sprintf("e-%d-%s", i, status), fmt.Sprintf("O%04d", i), status, region(i), total, placed}
}

func statusOf(i int) string {
	switch {
	case i%10 == 0:
		return "shipped"
	case i%3 == 0:
		return "paid"
	}
	return "open"
}

// Seeded temporal divergences: shipped 3 days after placement, and shipped
// orders with no shipment event long after the SLA.
var lateShipped = []int{10, 20, 30, 40}
var neverShipped = []int{50, 60, 70}

func contains(list []int, i int) bool {
	for _, x := range list {
		if x == i {
			return true
		}
	}
	return false
}

func newSuite(t *testing.T, redisURL string) *suite {
	t.Helper()
	if _, err := os.Stat(pgtest.BinDir + "/postgres"); err != nil {
		if os.Getenv("DUALGATE_CI") != "" {
			t.Fatalf("PostgreSQL 15 is required: %v", err)
		}
		t.Skipf("PostgreSQL 15 not installed: %v", err)
	}
	ctx := context.Background()
	s := &suite{t: t, ctx: ctx, now: suiteBase}

	pg, err := pgtest.Start(ctx, pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	t.Setenv("DUALGATE_TEST_LEGACY_DSN", pg.DSN("postgres"))
	if s.legacy, err = pgx.Connect(ctx, pg.DSN("postgres")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.legacy.Close(ctx) })

	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.hookMu.Lock()
		s.hooks = append(s.hooks, ev)
		s.hookMu.Unlock()
	}))
	t.Cleanup(hookSrv.Close)

	yml, err := os.ReadFile("../../../testdata/reconcile/suite.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yml = []byte(strings.Replace(string(yml), "http://127.0.0.1:1/replaced-by-the-test", hookSrv.URL+"/hook", 1))
	cat, err := catalog.LoadFiles(catalog.File{Name: "suite.yaml", Data: yml})
	if err != nil {
		t.Fatal(err)
	}
	eng := gateway.NewEngine()
	t.Cleanup(func() { eng.Close() })
	if s.side, err = Open(ctx, t.TempDir(), cat, eng, redisURL, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.side.Close() })

	// Data: every order, and a shipment for each shipped order but the
	// seeded ones.
	var orders, ships [][]any
	for i := 0; i < suiteOrders; i++ {
		o := orderRow(i, statusOf(i))
		orders = append(orders, o)
		if statusOf(i) != "shipped" || contains(neverShipped, i) || i == 80 || i == 90 {
			continue
		}
		delay := 24 * time.Hour
		if contains(lateShipped, i) {
			delay = 72 * time.Hour
		}
		ships = append(ships, []any{fmt.Sprintf("s-%d", i), o[1], o[5].(time.Time).Add(delay)})
	}
	s.ingest("order_events", orders)
	s.ingest("ship_events", ships)
	s.syncProjections()

	// The legacy mart starts as a faithful copy of canonical totals.
	_, err = s.legacy.Exec(ctx, `CREATE SCHEMA legacy; CREATE TABLE legacy.region_sales (region text PRIMARY KEY, total_cents bigint)`)
	if err != nil {
		t.Fatal(err)
	}
	totals := map[string]int64{}
	for _, o := range orders {
		totals[o[3].(string)] += o[4].(int64)
	}
	for r, v := range totals {
		if _, err := s.legacy.Exec(ctx, `INSERT INTO legacy.region_sales VALUES ($1, $2)`, r, v); err != nil {
			t.Fatal(err)
		}
	}

	if s.ledger, err = reconcile.OpenLedger(ctx, t.TempDir(), zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.ledger.Close() })
	s.re, err = reconcile.New(cat, reconcile.Options{
		Canon: s.side.store, Materializer: s.side.serving.mat, Ledger: s.ledger, Clock: s.clock,
		Query: func(ctx context.Context, q string) ([]string, [][]any, error) {
			return eng.QueryBatch(ctx, q, nil, nil)
		},
		Webhooks: cat.Webhooks(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.re.Close)
	return s
}

func (s *suite) ingest(source string, rows [][]any) {
	s.t.Helper()
	rep, err := s.side.Pipeline().Ingest(s.ctx, source, rows, "suite_loader")
	if err != nil {
		s.t.Fatal(err)
	}
	if rep.Quarantined != 0 {
		s.t.Fatalf("%s: %d rows quarantined", source, rep.Quarantined)
	}
}

func (s *suite) syncProjections() {
	s.t.Helper()
	for _, p := range []string{"order_view", "region_totals"} {
		if err := s.side.serving.mat.Sync(s.ctx, p); err != nil {
			s.t.Fatal(err)
		}
	}
}

// runAll runs every rule and returns the runs by rule.
func (s *suite) runAll(rules ...string) map[string]reconcile.Run {
	s.t.Helper()
	if len(rules) == 0 {
		for _, r := range s.re.Rules() {
			rules = append(rules, r.Name)
		}
	}
	out := map[string]reconcile.Run{}
	for _, r := range rules {
		run, err := s.re.Run(s.ctx, r, "call")
		if err != nil {
			s.t.Fatalf("run %s: %v", r, err)
		}
		out[r] = run
	}
	return out
}

// finding identifies a divergence independent of ids.
type finding struct {
	rule string
	kind reconcile.Kind
	key  string
}

func (s *suite) active() map[finding]reconcile.Exception {
	out := map[finding]reconcile.Exception{}
	for _, e := range s.re.Exceptions() {
		if e.Status.Active() {
			out[finding{e.Rule, e.Kind, e.Key}] = e
		}
	}
	return out
}

// score compares the active exceptions with the seeded divergences and
// fails on any miss or false alarm.
func (s *suite) score(phase string, want map[finding]bool) {
	s.t.Helper()
	got := s.active()
	tp := 0
	var fps, fns []string
	for f := range got {
		if want[f] {
			tp++
		} else {
			fps = append(fps, fmt.Sprintf("%s %s %s", f.rule, f.kind, f.key))
		}
	}
	for f := range want {
		if _, ok := got[f]; !ok {
			fns = append(fns, fmt.Sprintf("%s %s %s", f.rule, f.kind, f.key))
		}
	}
	sort.Strings(fps)
	sort.Strings(fns)
	precision, recall := 1.0, 1.0
	if len(got) > 0 {
		precision = float64(tp) / float64(len(got))
	}
	if len(want) > 0 {
		recall = float64(tp) / float64(len(want))
	}
	s.t.Logf("%s: seeded %d, found %d, precision %.3f, recall %.3f", phase, len(want), len(got), precision, recall)
	if len(fps) > 0 || len(fns) > 0 {
		s.t.Fatalf("%s: false alarms %v; missed %v", phase, fps, fns)
	}
}

func key(col, v string) string { return fmt.Sprintf(`{%q: %q}`, col, v) }

// TestReconcileDivergenceInjection seeds divergences into the sources, the
// serving store (deleted keys, altered values, a dropped bucket, skewed
// aggregates), a lagging projection and an external PostgreSQL mart, and
// checks every one is found with the right kind, that lag alone opens
// nothing, and that repair clears what it can. Precision and recall are
// printed per phase. It runs on the embedded store and on a real Redis.
func TestReconcileDivergenceInjection(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { divergenceSuite(t, "") })
	t.Run("redis", func(t *testing.T) {
		url, _ := redistest.Start(t)
		divergenceSuite(t, url)
	})
}

func divergenceSuite(t *testing.T, redisURL string) {
	s := newSuite(t, redisURL)
	ctx := s.ctx
	store := s.side.serving.mat.Store()

	// Baseline: only the divergences seeded in the sources themselves.
	want := map[finding]bool{}
	for _, i := range []int{3, 33, 63} {
		want[finding{"no_free_paid_orders", reconcile.KindInvariant, key("order_id", fmt.Sprintf("O%04d", i))}] = true
	}
	for _, i := range append(append([]int{}, lateShipped...), neverShipped...) {
		want[finding{"shipped_within_sla", reconcile.KindLate, key("order_id", fmt.Sprintf("O%04d", i))}] = true
	}
	runs := s.runAll()
	s.score("baseline", want)
	if r := runs["shipped_within_sla"]; r.Pending != 2 {
		t.Errorf("temporal run pending %d, want 2 (orders 80 and 90 inside their SLA)", r.Pending)
	}
	if r := runs["order_view_records"]; r.Buckets != projections.NumBuckets || r.Descended != 0 || r.Matched != suiteOrders {
		t.Errorf("clean bucketed run: %+v", r)
	}
	// Again: the canonical side comes from its bucket summary, kept since
	// the first run: no canonical row is read.
	if r := s.runAll("order_view_records")["order_view_records"]; r.Outcome != "clean" || r.CanonicalRows != 0 {
		t.Errorf("second clean bucketed run read %d canonical rows: %+v", r.CanonicalRows, r)
	}

	// Lag only: canonical moves on, projections do not follow. Nothing
	// opens: the serving side is compared with canonical at its watermark.
	var more [][]any
	for i := suiteOrders; i < suiteOrders+50; i++ {
		more = append(more, orderRow(i, "open"))
	}
	s.ingest("order_events", more)
	head := s.side.store.Head().ID
	runs = s.runAll("order_view_records", "order_view_status", "region_counts", "region_balance", "graced_records")
	for name, r := range runs {
		if r.Outcome != "clean" || r.Watermark == nil || *r.Watermark >= head || r.AsOf != *r.Watermark {
			t.Errorf("%s under lag: outcome %s, as of %d, watermark %v, head %d", name, r.Outcome, r.AsOf, r.Watermark, head)
		}
	}
	s.score("lag only", want)
	s.syncProjections()

	// Corrupt serving: delete keys, alter values, drop a bucket, skew two
	// aggregate groups (a third within tolerance).
	wm, err := store.Watermark(ctx, "order_view")
	if err != nil {
		t.Fatal(err)
	}
	oid := func(i int) string { return fmt.Sprintf("O%04d", i) }
	var dels [][]any
	var ups []projections.Entry
	affected := map[string]bool{}
	for _, i := range []int{101, 202, 303, 404, 505} {
		dels = append(dels, []any{oid(i)})
		affected[oid(i)] = true
		for _, r := range []string{"order_view_records", "order_view_status"} {
			want[finding{r, reconcile.KindMissingRight, key("order_id", oid(i))}] = true
		}
	}
	for _, i := range []int{111, 222, 333, 444, 555} {
		row, ok, err := store.Get(ctx, "order_view", []any{oid(i)})
		if err != nil || !ok {
			t.Fatalf("get %s: %v %v", oid(i), ok, err)
		}
		alt := append([]any(nil), row...)
		alt[1] = "cancelled"
		ups = append(ups, projections.Entry{Key: []any{oid(i)}, Row: alt})
		affected[oid(i)] = true
		want[finding{"order_view_records", reconcile.KindValueMismatch, key("order_id", oid(i))}] = true
		want[finding{"order_view_status", reconcile.KindStateMismatch, key("order_id", oid(i))}] = true
	}
	k, _ := projections.EncodeKey([]any{oid(7)})
	dropped := projections.BucketOf(k)
	for i := 0; i < suiteOrders+50; i++ {
		k, _ := projections.EncodeKey([]any{oid(i)})
		if projections.BucketOf(k) != dropped || affected[oid(i)] {
			continue
		}
		dels = append(dels, []any{oid(i)})
		for _, r := range []string{"order_view_records", "order_view_status"} {
			want[finding{r, reconcile.KindMissingRight, key("order_id", oid(i))}] = true
		}
	}
	if err := store.Apply(ctx, "order_view", wm.Generation, wm.Commit, ups, dels); err != nil {
		t.Fatal(err)
	}
	rwm, err := store.Watermark(ctx, "region_totals")
	if err != nil {
		t.Fatal(err)
	}
	skew := func(region string, dOrders int64, dTotal int64) {
		row, ok, err := store.Get(ctx, "region_totals", []any{region})
		if err != nil || !ok {
			t.Fatalf("get %s: %v %v", region, ok, err)
		}
		alt := append([]any(nil), row...)
		alt[1] = row[1].(int64) + dOrders
		switch x := row[2].(type) {
		case int64:
			alt[2] = x + dTotal
		case decimal.Decimal:
			alt[2] = x.Add(decimal.NewFromInt(dTotal))
		case float64: // the engine's SUM over integers
			alt[2] = x + float64(dTotal)
		default:
			t.Fatalf("region total is %T", row[2])
		}
		if err := store.Apply(ctx, "region_totals", rwm.Generation, rwm.Commit, []projections.Entry{{Key: []any{region}, Row: alt}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	skew("R1", 1, 0)  // count off by one
	skew("R2", 0, 11) // total off by 11: outside the tolerance of 10
	skew("R3", 0, 5)  // total off by 5: inside it
	want[finding{"region_counts", reconcile.KindCountMismatch, key("region", "R1")}] = true
	want[finding{"region_balance", reconcile.KindBalance, key("region", "R2")}] = true

	// Corrupt the legacy mart: two totals changed, one region missing, one
	// region that canonical does not have.
	for _, q := range []string{
		`UPDATE legacy.region_sales SET total_cents = total_cents + 1 WHERE region = 'R4'`,
		`UPDATE legacy.region_sales SET total_cents = total_cents - 500 WHERE region = 'R5'`,
		`DELETE FROM legacy.region_sales WHERE region = 'R6'`,
		`INSERT INTO legacy.region_sales VALUES ('R9', 42)`,
	} {
		if _, err := s.legacy.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// canonical gained 50 orders since the mart was filled: fix the mart
	// for those (the legacy load is current) except where seeded.
	extra := map[string]int64{}
	for _, o := range more {
		extra[o[3].(string)] += o[4].(int64)
	}
	for r, v := range extra {
		if _, err := s.legacy.Exec(ctx, `UPDATE legacy.region_sales SET total_cents = total_cents + $2 WHERE region = $1`, r, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []string{"R4", "R5", "R6", "R9"} {
		want[finding{"legacy_mart", reconcile.KindBalance, key("region", r)}] = true
	}

	runs = s.runAll()
	s.score("corrupted", want)
	if r := runs["order_view_records"]; r.Descended == 0 || r.Descended > 11 {
		t.Errorf("bucketed run descended into %d buckets; the corruption touches at most 11", r.Descended)
	}
	// graced_records sees the same serving corruption but holds it as
	// pending until its grace (1h) has passed.
	if r := runs["graced_records"]; r.Pending == 0 || r.Opened != 0 || r.Outcome != "pending" {
		t.Errorf("graced run: %+v", r)
	}
	s.advance(2 * time.Hour)
	run, err := s.re.Run(ctx, "graced_records", "recheck")
	if err != nil {
		t.Fatal(err)
	}
	if run.Opened == 0 || run.Opened != runs["graced_records"].Pending {
		t.Errorf("after grace: opened %d, want the %d pending", run.Opened, runs["graced_records"].Pending)
	}
	for f := range s.active() {
		if f.rule == "graced_records" {
			want[f] = true
		}
	}

	// Webhooks: every exception opened was POSTed once to its owner,
	// late ones as escalations.
	total := len(s.re.Exceptions())
	waitFor(t, func() bool { s.hookMu.Lock(); defer s.hookMu.Unlock(); return len(s.hooks) >= total }, func() string {
		return fmt.Sprintf("%d webhook events for %d exceptions", len(s.hooks), total)
	})
	s.hookMu.Lock()
	ids := map[float64]bool{}
	for _, ev := range s.hooks {
		exc := ev["exception"].(map[string]any)
		ids[exc["id"].(float64)] = true
		wantEv := "opened"
		if exc["kind"] == string(reconcile.KindLate) {
			wantEv = "escalated"
		}
		if ev["event"] != wantEv || exc["owner"] != "suite-team" {
			t.Errorf("webhook event %v for %v", ev["event"], exc)
		}
	}
	if len(ids) != total || len(s.hooks) != total {
		t.Errorf("%d webhook events for %d distinct exceptions; want one each of %d", len(s.hooks), len(ids), total)
	}
	s.hookMu.Unlock()

	// Recurrence updates, it does not multiply.
	before := len(s.re.Exceptions())
	s.runAll("no_free_paid_orders")
	if n := len(s.re.Exceptions()); n != before {
		t.Errorf("a recurring divergence made %d new exceptions", n-before)
	}
	for _, e := range s.re.Exceptions() {
		if e.Rule == "no_free_paid_orders" && e.Seen < 3 {
			t.Errorf("exception %d seen %d times, want >= 3", e.ID, e.Seen)
		}
	}

	// Repair: rebuild re-projects the differing keys (record/state) or
	// the projection (aggregates), then re-verifies; every serving
	// exception resolves as repaired.
	dry, err := s.re.Repair(ctx, "order_view_records", true, "tester")
	if err != nil || dry.Verify != nil || len(dry.Steps) == 0 || !strings.Contains(dry.Steps[0], "re-project") {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if got := s.active(); len(got) != len(want) {
		t.Fatalf("a dry run changed the exceptions: %d active, want %d", len(got), len(want))
	}
	for _, r := range []string{"order_view_records", "order_view_status", "region_counts", "region_balance"} {
		rep, err := s.re.Repair(ctx, r, false, "tester")
		if err != nil {
			t.Fatalf("repair %s: %v", r, err)
		}
		if rep.Verify == nil || rep.Verify.Outcome != "clean" {
			t.Fatalf("repair %s did not verify clean: %+v", r, rep.Verify)
		}
	}
	s.runAll("graced_records")
	for f := range want {
		if strings.HasPrefix(f.rule, "order_view") || strings.HasPrefix(f.rule, "region_") || f.rule == "graced_records" {
			delete(want, f)
		}
	}
	s.score("repaired", want)
	for _, e := range s.re.Exceptions() {
		if e.Rule == "order_view_records" && (e.Status != reconcile.StatusResolved || e.Resolution != "repaired") {
			t.Errorf("exception %d: %s/%s, want resolved/repaired", e.ID, e.Status, e.Resolution)
		}
	}

	// People work the queue: ack, then accept a variance; a resolved
	// divergence that comes back reopens.
	var legacyIDs []uint64
	for f, e := range s.active() {
		if f.rule == "legacy_mart" {
			legacyIDs = append(legacyIDs, e.ID)
		}
	}
	sort.Slice(legacyIDs, func(i, j int) bool { return legacyIDs[i] < legacyIDs[j] })
	if _, err := s.re.Ack(ctx, legacyIDs[0], "", "alice"); err == nil {
		t.Error("an ack without a note must be refused")
	}
	if _, err := s.re.Ack(ctx, legacyIDs[0], "looking into the R4 load", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.re.Resolve(ctx, legacyIDs[0], "accepted_variance", "legacy rounds R4 up by a cent", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.re.Resolve(ctx, legacyIDs[1], "fixed", "x", "alice"); err == nil {
		t.Error("an unknown resolution must be refused")
	}
	if _, err := s.re.Resolve(ctx, legacyIDs[1], "resolved", "the mart was reloaded", "alice"); err != nil {
		t.Fatal(err)
	}
	s.runAll("legacy_mart")
	e1, e2 := findException(t, s.re, legacyIDs[0]), findException(t, s.re, legacyIDs[1])
	if e1.Status != reconcile.StatusAcceptedVariance {
		t.Errorf("accepted variance became %s", e1.Status)
	}
	if e2.Status != reconcile.StatusReopened {
		t.Errorf("a divergence seen again after resolve is %s, want reopened", e2.Status)
	}
	var trail []string
	for _, h := range s.re.History() {
		if h.Exception == legacyIDs[0] {
			trail = append(trail, fmt.Sprintf("%s>%s", h.From, h.To))
		}
	}
	if strings.Join(trail, " ") != ">open open>acknowledged acknowledged>accepted_variance" {
		t.Errorf("history of %d: %v", legacyIDs[0], trail)
	}

	// Fixing the mart resolves its exceptions on the next run.
	if _, err := s.legacy.Exec(ctx, `DELETE FROM legacy.region_sales`); err != nil {
		t.Fatal(err)
	}
	totals := map[string]int64{}
	for i := 0; i < suiteOrders+50; i++ {
		st := statusOf(i)
		if i >= suiteOrders {
			st = "open"
		}
		o := orderRow(i, st)
		totals[o[3].(string)] += o[4].(int64)
	}
	for r, v := range totals {
		if _, err := s.legacy.Exec(ctx, `INSERT INTO legacy.region_sales VALUES ($1, $2)`, r, v); err != nil {
			t.Fatal(err)
		}
	}
	if r := s.runAll("legacy_mart")["legacy_mart"]; r.Outcome != "clean" || r.Resolved == 0 {
		t.Errorf("legacy run after the fix: %+v", r)
	}

	if redisURL == "" {
		return
	}
	// Redis flushed: while it is empty the serving rules are pending (not
	// divergent); the materializer rebuilds by itself and reconciliation
	// is clean afterwards.
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opts)
	defer rc.Close()
	if err := rc.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.re.Run(ctx, "order_view_records", "call"); !errors.Is(err, reconcile.ErrNotMaterialized) {
		t.Errorf("a run on a flushed store: %v, want ErrNotMaterialized", err)
	}
	s.syncProjections()
	for name, r := range s.runAll("order_view_records", "order_view_status", "region_counts", "region_balance") {
		if r.Outcome != "clean" || r.Divergent != 0 {
			t.Errorf("%s after the flush and rebuild: %+v", name, r)
		}
	}
}

func findException(t *testing.T, re *reconcile.Engine, id uint64) reconcile.Exception {
	t.Helper()
	for _, e := range re.Exceptions() {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("exception %d not found", id)
	return reconcile.Exception{}
}

func waitFor(t *testing.T, ok func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReconcileScheduler: scheduled rules run when due, and a difference
// held for its grace is re-checked when the grace has passed and opens.
func TestReconcileScheduler(t *testing.T) {
	s := newSuite(t, "")
	store := s.side.serving.mat.Store()
	wm, err := store.Watermark(s.ctx, "order_view")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(s.ctx, "order_view", wm.Generation, wm.Commit, nil, [][]any{{"O0042"}}); err != nil {
		t.Fatal(err)
	}
	if r := s.runAll("graced_records")["graced_records"]; r.Pending != 1 || r.Opened != 0 {
		t.Fatalf("first run: %+v", r)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.re.Start(ctx, 0) }()
	defer func() { cancel(); <-done }()
	runsOf := func(rule, trigger string) int {
		n := 0
		for _, r := range s.re.Runs() {
			if r.Rule == rule && r.Trigger == trigger {
				n++
			}
		}
		return n
	}
	waitFor(t, func() bool { return runsOf("region_counts", "schedule") == 1 }, func() string { return "no scheduled run of region_counts" })
	if n := runsOf("order_view_records", "schedule"); n != 0 {
		t.Errorf("a rule without a schedule ran %d times on its own", n)
	}
	s.advance(2 * time.Hour)
	s.re.Wake()
	waitFor(t, func() bool { return runsOf("graced_records", "recheck") == 1 }, func() string { return "no grace re-check of graced_records" })
	if _, ok := s.active()[finding{"graced_records", reconcile.KindMissingRight, key("order_id", "O0042")}]; !ok {
		t.Errorf("the re-check after the grace opened nothing: %v", s.active())
	}
	// An hour of fake time later region_counts is due again.
	s.advance(time.Hour)
	s.re.Wake()
	waitFor(t, func() bool { return runsOf("region_counts", "schedule") == 2 }, func() string { return "region_counts not re-run after its schedule" })
}
