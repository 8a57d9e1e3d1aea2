package primary

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/projections"
	"github.com/dualgate/dualgate/projections/redistest"
	"github.com/dualgate/dualgate/testdata"
)

// servingHarness is a primary on the demo catalog behind a gateway server
// on loopback. Its projections do not follow canonical unless Run is
// called, so tests control how far behind they are.
type servingHarness struct {
	side *Side
	srv  *gateway.Server
	addr string
}

func newServingHarness(t *testing.T, redisURL string) *servingHarness {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	eng := gateway.NewEngine()
	t.Cleanup(func() { eng.Close() })
	side, err := Open(ctx, t.TempDir(), cat, eng, redisURL, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { side.Close() })
	cfg := gateway.Config{Listen: "127.0.0.1:0", Trust: true, ShutdownGrace: time.Second, Log: zerolog.Nop()}
	side.Configure(&cfg)
	srv, err := gateway.NewServer(cfg, eng)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(sctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return &servingHarness{side: side, srv: srv, addr: srv.Addr().String()}
}

// client is a connection that records NOTICEs.
type client struct {
	*pgconn.PgConn
	mu      sync.Mutex
	notices []string
}

func (h *servingHarness) connect(t *testing.T) *client {
	t.Helper()
	c := &client{}
	cfg, err := pgconn.ParseConfig("postgres://steward@" + h.addr + "/dualgate?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		c.mu.Lock()
		c.notices = append(c.notices, n.Message)
		c.mu.Unlock()
	}
	if c.PgConn, err = pgconn.ConnectConfig(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// exec runs sql (simple protocol) and returns its last result's rows as
// text, failing the test on error.
func (c *client) exec(t *testing.T, sql string) [][]string {
	t.Helper()
	rs, err := c.Exec(context.Background(), sql).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return textRows(rs[len(rs)-1].Rows)
}

func textRows(rows [][][]byte) [][]string {
	var out [][]string
	for _, r := range rows {
		var row []string
		for _, v := range r {
			if v == nil {
				row = append(row, "NULL")
			} else {
				row = append(row, string(v))
			}
		}
		out = append(out, row)
	}
	return out
}

// lastNotice is the last NOTICE received (and forgets them all).
func (c *client) lastNotice() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := ""
	if len(c.notices) > 0 {
		n = c.notices[len(c.notices)-1]
	}
	c.notices = nil
	return n
}

func pgCode(err error) (code, hint string) {
	if pe, ok := err.(*pgconn.PgError); ok {
		return pe.Code, pe.Hint
	}
	return "", ""
}

// TestServingTableWritesAndLabels writes serving.basket_events over the
// wire (INSERT, COPY), reads it back with its label, and purges rows past
// the retention (30d on occurred_at) with the background loop.
func TestServingTableWritesAndLabels(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testServingTable(t, "") })
	t.Run("redis", func(t *testing.T) {
		url, _ := redistest.Start(t)
		testServingTable(t, url)
	})
}

func testServingTable(t *testing.T, redisURL string) {
	h := newServingHarness(t, redisURL)
	c := h.connect(t)
	ctx := context.Background()

	c.exec(t, `INSERT INTO serving.basket_events (basket_id, event_seq, event_type, occurred_at) VALUES ('b-1', 1, 'item_added', now())`)
	copyIn := "b-1\t2\ts-1\tc-1\tcheckout_started\t\\N\t\\N\t\\N\t1\t\\N\t2020-01-01 00:00:00+00\n" +
		"b-2\t1\ts-2\tc-2\titem_added\tsku-9\t4\t250\t\\N\t\\N\t" + time.Now().UTC().Format("2006-01-02 15:04:05") + "+00\n"
	tag, err := c.CopyFrom(ctx, strings.NewReader(copyIn), "COPY serving.basket_events FROM STDIN")
	if err != nil {
		t.Fatalf("COPY: %v", err)
	}
	if tag.RowsAffected() != 2 {
		t.Fatalf("COPY tag %q", tag)
	}
	c.lastNotice()
	got := c.exec(t, `SELECT basket_id, event_seq, quantity FROM serving.basket_events ORDER BY basket_id, event_seq`)
	if want := "[[b-1 1 NULL] [b-1 2 NULL] [b-2 1 4]]"; fmtRows(got) != want {
		t.Fatalf("rows %v, want %s", got, want)
	}
	if n, want := c.lastNotice(), "derived: serving.basket_events (non-authoritative serving table, written by its owners)"; n != want {
		t.Errorf("notice %q, want %q", n, want)
	}
	if a := c.ParameterStatus("dualgate.authority"); a != "derived" {
		t.Errorf("authority %q", a)
	}
	// The fast path answers key lookups, labeled the same way.
	hits := h.srv.FastPathHits()
	rr := c.ExecParams(ctx, `SELECT quantity FROM serving.basket_events WHERE basket_id = $1 AND event_seq = $2`, [][]byte{[]byte("b-2"), []byte("1")}, nil, nil, nil).Read()
	if rr.Err != nil || fmtRows(textRows(rr.Rows)) != "[[4]]" {
		t.Fatalf("key lookup: %v %v", rr.Err, textRows(rr.Rows))
	}
	if n := c.lastNotice(); !strings.Contains(n, "non-authoritative serving table") {
		t.Errorf("fast path notice %q", n)
	}
	if h.srv.FastPathHits() != hits+1 {
		t.Errorf("the key lookup did not take the fast path")
	}
	// The table comment says what it is.
	got = c.exec(t, `SELECT obj_description('serving.basket_events'::regclass)`)
	if len(got) != 1 || !strings.HasPrefix(got[0][0], "DERIVED (non-authoritative)") || strings.Contains(got[0][0], "lost at restart") != (redisURL == "") {
		t.Errorf("comment %v", got)
	}

	// Retention: the 2020 event goes, the fresh ones stay; the loop stops
	// with the side (Close waits for it).
	old := RetentionInterval
	RetentionInterval = 20 * time.Millisecond
	t.Cleanup(func() { RetentionInterval = old })
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h.side.Run(rctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = c.exec(t, `SELECT basket_id, event_seq FROM serving.basket_events ORDER BY basket_id, event_seq`)
		if fmtRows(got) == "[[b-1 1] [b-2 1]]" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention did not purge the 2020 event: %v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	n, err := h.side.serving.db.Purge(ctx, time.Now().Add(31*24*time.Hour))
	if err != nil || n["basket_events"] != 2 {
		t.Fatalf("purge 31 days later: %v %v", n, err)
	}
	h.side.stopServing()
}

func fmtRows(rows [][]string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, r := range rows {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("[" + strings.Join(r, " ") + "]")
	}
	b.WriteByte(']')
	return b.String()
}

// TestStalePolicyCanonical: a projection left behind canonical (nothing
// follows commits here) and max_staleness small: stale_policy = error
// fails with 55000, stale_policy = canonical answers from canonical at head
// with the substitution named in the label; an unavailable projection
// (never materialized) is computed from canonical the same way.
func TestStalePolicyCanonical(t *testing.T) {
	h := newServingHarness(t, "")
	c := h.connect(t)
	ctx := context.Background()
	order := func(event, id, placed string) string {
		return `INSERT INTO raw.oms_orders VALUES ('` + event + `','` + id + `',1,'SUBMITTED','c1','ann@example.com','+3311','web','eu','eur','sku-1',2,500,1000,'` + placed + `','` + placed + `')`
	}
	c.exec(t, order("e1", "o-1", "2024-05-01 10:00:00+00"))
	c.exec(t, `CALL dualgate.rebuild('order_timeline')`)
	c.exec(t, order("e2", "o-2", "2024-05-01 10:05:00+00"))
	head := h.side.Head()
	time.Sleep(30 * time.Millisecond)
	c.exec(t, `SET dualgate.max_staleness = '10ms'`)

	// stale_policy = error (the default)
	_, err := c.Exec(ctx, `SELECT order_id FROM serving.order_timeline ORDER BY order_id`).ReadAll()
	if code, hint := pgCode(err); code != "55000" || !strings.Contains(err.Error(), "more than dualgate.max_staleness") || !strings.Contains(hint, "stale_policy = canonical") {
		t.Fatalf("stale read with stale_policy = error: %v (hint %q), want 55000", err, hint)
	}

	// Without a bound the projection answers, behind.
	c.exec(t, `RESET dualgate.max_staleness`)
	if got := c.exec(t, `SELECT order_id FROM serving.order_timeline ORDER BY order_id`); fmtRows(got) != "[[o-1]]" {
		t.Fatalf("projection (one commit behind): %v", got)
	}
	c.exec(t, `SET dualgate.max_staleness = '10ms'`)
	c.exec(t, `SET dualgate.stale_policy = canonical`)
	c.lastNotice()
	got := c.exec(t, `SELECT order_id, status, total_cents FROM serving.order_timeline ORDER BY order_id`)
	if fmtRows(got) != "[[o-1 submitted 1000] [o-2 submitted 1000]]" {
		t.Fatalf("computed from canonical: %v", got)
	}
	if a, asOf := c.ParameterStatus("dualgate.authority"), c.ParameterStatus("dualgate.as_of"); a != "authoritative" || asOf != itoa(head) {
		t.Errorf("label %s as of %s, want authoritative as of %d", a, asOf, head)
	}
	n := c.lastNotice()
	if !strings.HasPrefix(n, "authoritative: canonical.") || !strings.Contains(n, "as of commit "+itoa(head)) ||
		!strings.Contains(n, "computed from canonical in place of serving.order_timeline, 1 commits (") ||
		!strings.Contains(n, "more than dualgate.max_staleness = 10ms") {
		t.Errorf("notice %q", n)
	}

	// The prepared key lookup (fast path shape) gets the fresh row too.
	rr := c.ExecParams(ctx, `SELECT order_id, region FROM serving.order_timeline t WHERE t.order_id = $1`, [][]byte{[]byte("o-2")}, nil, nil, nil).Read()
	if rr.Err != nil || fmtRows(textRows(rr.Rows)) != "[[o-2 EU]]" {
		t.Fatalf("key lookup from canonical: %v %v", rr.Err, textRows(rr.Rows))
	}
	if a := c.ParameterStatus("dualgate.authority"); a != "authoritative" {
		t.Errorf("key lookup label %s", a)
	}

	// Time travel does not survive the rewrite: refused, saying why.
	_, err = c.Exec(ctx, `SELECT o.order_id FROM serving.order_timeline t JOIN canonical.commercial_orders AS OF 1 o USING (order_id)`).ReadAll()
	if code, hint := pgCode(err); code != "55000" || !strings.Contains(hint, "time travel") {
		t.Errorf("stale read with time travel: %v (hint %q)", err, hint)
	}

	// Mixed with something derived: stays derived, names the substitution.
	c.exec(t, `INSERT INTO serving.basket_events (basket_id, event_seq, order_id) VALUES ('b-1', 1, 'o-2')`)
	c.lastNotice()
	if got := c.exec(t, `SELECT b.basket_id, t.status FROM serving.basket_events b JOIN serving.order_timeline t ON t.order_id = b.order_id`); fmtRows(got) != "[[b-1 submitted]]" {
		t.Fatalf("mixed: %v", got)
	}
	if a, n := c.ParameterStatus("dualgate.authority"), c.lastNotice(); a != "derived" ||
		!strings.Contains(n, "serving.basket_events (non-authoritative serving table") || !strings.Contains(n, "computed from canonical in place of serving.order_timeline") {
		t.Errorf("mixed label %s, notice %q", a, n)
	}

	// Unavailable (never materialized here): computed from canonical under
	// stale_policy = canonical, 55000 under error.
	if got := c.exec(t, `SELECT count(*) FROM serving.fraud_features`); fmtRows(got) != "[[0]]" {
		t.Fatalf("unavailable projection from canonical: %v", got)
	}
	if n := c.lastNotice(); !strings.Contains(n, "in place of serving.fraud_features, which is not available") {
		t.Errorf("unavailable notice %q", n)
	}
	c.exec(t, `SET dualgate.stale_policy = error`)
	_, err = c.Exec(ctx, `SELECT count(*) FROM serving.fraud_features`).ReadAll()
	if code, _ := pgCode(err); code != "55000" || !strings.Contains(err.Error(), "not available") {
		t.Fatalf("unavailable with stale_policy = error: %v", err)
	}
	// A write to it is refused as computed from canonical (42809) under
	// either policy, not reported unavailable nor computed from canonical.
	for _, policy := range []string{"error", "canonical"} {
		c.exec(t, `SET dualgate.stale_policy = `+policy)
		for _, w := range []string{`INSERT INTO serving.fraud_features (order_id) VALUES ('o-9')`,
			`UPDATE serving.fraud_features SET decision = 'x' WHERE false`, `DELETE FROM serving.fraud_features`} {
			_, err = c.Exec(ctx, w).ReadAll()
			if code, _ := pgCode(err); code != "42809" || !strings.Contains(err.Error(), "computed from canonical") {
				t.Fatalf("%s on an unavailable projection (stale_policy = %s): %v, want 42809", w, policy, err)
			}
		}
	}
	c.exec(t, `SET dualgate.stale_policy = error`)

	// Caught up, the projection answers again, derived.
	c.exec(t, `SET dualgate.stale_policy = canonical`)
	if err := h.side.serving.mat.Sync(ctx, "order_timeline"); err != nil {
		t.Fatal(err)
	}
	c.lastNotice()
	if got := c.exec(t, `SELECT count(*) FROM serving.order_timeline`); fmtRows(got) != "[[2]]" {
		t.Fatalf("caught up: %v", got)
	}
	if a, n := c.ParameterStatus("dualgate.authority"), c.lastNotice(); a != "derived" || !strings.HasPrefix(n, "derived: serving.order_timeline at commit "+itoa(head)) {
		t.Errorf("caught-up label %s, notice %q", a, n)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestRedisFlushed: FLUSHALL loses the serving store. A projection read
// under stale_policy = canonical is computed from canonical; a serving
// table says its rows are lost (55000) until its owners write again.
func TestRedisFlushed(t *testing.T) {
	url, _ := redistest.Start(t)
	h := newServingHarness(t, url)
	c := h.connect(t)
	ctx := context.Background()
	c.exec(t, `INSERT INTO raw.oms_orders VALUES ('e1','o-1',1,'SUBMITTED','c1','ann@example.com','+3311','web','eu','eur','sku-1',2,500,1000,'2024-05-01 10:00:00+00','2024-05-01 10:00:00+00')`)
	c.exec(t, `CALL dualgate.rebuild('order_timeline')`)
	c.exec(t, `INSERT INTO serving.basket_events (basket_id, event_seq) VALUES ('b-1', 1)`)
	rs := h.side.serving.store.(*projections.RedisStore)
	if err := rs.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	c.exec(t, `SET dualgate.stale_policy = canonical`)
	c.lastNotice()
	if got := c.exec(t, `SELECT order_id FROM serving.order_timeline`); fmtRows(got) != "[[o-1]]" {
		t.Fatalf("flushed projection from canonical: %v", got)
	}
	if n := c.lastNotice(); !strings.Contains(n, "in place of serving.order_timeline, which is not available") {
		t.Errorf("notice %q", n)
	}
	_, err := c.Exec(ctx, `SELECT * FROM serving.basket_events`).ReadAll()
	if code, _ := pgCode(err); code != "55000" || !strings.Contains(err.Error(), "rows are lost") {
		t.Fatalf("flushed serving table: %v", err)
	}
	c.exec(t, `INSERT INTO serving.basket_events (basket_id, event_seq) VALUES ('b-2', 1)`)
	if got := c.exec(t, `SELECT basket_id FROM serving.basket_events`); fmtRows(got) != "[[b-2]]" {
		t.Fatalf("after the next write: %v", got)
	}
}

// TestCloseClosesRedisStore: closing the side closes its Redis serving
// store (the client and the near cache's goroutines), which would
// otherwise outlive it.
func TestCloseClosesRedisStore(t *testing.T) {
	url, _ := redistest.Start(t)
	h := newServingHarness(t, url)
	rs := h.side.serving.store.(*projections.RedisStore)
	ctx := context.Background()
	if err := rs.Client().Ping(ctx).Err(); err != nil {
		t.Fatalf("ping before close: %v", err)
	}
	if err := h.side.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rs.Client().Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("ping after the side closed: %v, want %v", err, redis.ErrClosed)
	}
}
