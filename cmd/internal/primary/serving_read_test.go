package primary

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/dualgate/dualgate/projections/redistest"
)

// TestServingLookupLabelFromRead: a fast-path key lookup of a projection
// is labeled with the watermark its row was read at (the store reads both
// in one go): behind canonical after a commit the projection has not
// applied, caught up after it has, and at the new generation after a
// rebuild. On Redis each lookup is at most one round trip: one EVALSHA, or
// nothing when the near cache answers; nothing else reaches the server.
func TestServingLookupLabelFromRead(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testLookupLabelFromRead(t, "") })
	t.Run("redis", func(t *testing.T) {
		url, _ := redistest.Start(t)
		testLookupLabelFromRead(t, url)
	})
}

func testLookupLabelFromRead(t *testing.T, redisURL string) {
	h := newServingHarness(t, redisURL)
	c := h.connect(t)
	ctx := context.Background()
	order := func(event, id, status string) string {
		return `INSERT INTO raw.oms_orders VALUES ('` + event + `','` + id + `',1,'` + status + `','c1','ann@example.com','+3311','web','eu','eur','sku-1',2,500,1000,'2024-05-01 10:00:00+00','2024-05-01 10:00:00+00')`
	}
	const q = `SELECT order_id, status FROM serving.order_timeline WHERE order_id = $1`
	// The same lookup as a statement prepared once: its label is kept on
	// the prepared statement between executions and must follow the
	// projection exactly as a freshly parsed statement's does.
	if _, err := c.Prepare(ctx, "lk", q, nil); err != nil {
		t.Fatal(err)
	}
	prepared := true
	lookupWith := func(id, stmt string) (rows string, asOf, notice string) {
		t.Helper()
		c.lastNotice()
		hits := h.srv.FastPathHits()
		var rr *pgconn.ResultReader
		if stmt == "" {
			rr = c.ExecParams(ctx, q, [][]byte{[]byte(id)}, nil, nil, nil)
		} else {
			rr = c.ExecPrepared(ctx, stmt, [][]byte{[]byte(id)}, nil, nil)
		}
		res := rr.Read()
		if res.Err != nil {
			t.Fatalf("lookup %s: %v", id, res.Err)
		}
		if h.srv.FastPathHits() != hits+1 {
			t.Fatalf("lookup %s did not take the fast path", id)
		}
		if a := c.ParameterStatus("dualgate.authority"); a != "derived" {
			t.Fatalf("lookup %s: authority %q", id, a)
		}
		return fmtRows(textRows(res.Rows)), c.ParameterStatus("dualgate.as_of"), c.lastNotice()
	}
	lookup := func(id string) (rows string, asOf, notice string) {
		t.Helper()
		rows, asOf, notice = lookupWith(id, "")
		if prepared {
			pr, pa, pn := lookupWith(id, "lk")
			// The lag in ms may tick between the two: compare up to it.
			cut := func(n string) string { b, _, _ := strings.Cut(n, " commits ("); return b }
			if pr != rows || pa != asOf || cut(pn) != cut(notice) {
				t.Fatalf("prepared lookup %s: %s as of %s, notice %q; unnamed: %s as of %s, notice %q", id, pr, pa, pn, rows, asOf, notice)
			}
		}
		return rows, asOf, notice
	}
	mat := h.side.serving.mat

	c.exec(t, order("e1", "o-1", "SUBMITTED"))
	c.exec(t, `CALL dualgate.rebuild('order_timeline')`)
	h1 := h.side.Head()
	wm, err := mat.Store().Watermark(ctx, "order_timeline")
	if err != nil || wm.Commit != h1 {
		t.Fatalf("watermark %+v (%v), want commit %d", wm, err, h1)
	}
	rows, asOf, notice := lookup("o-1")
	if rows != "[[o-1 submitted]]" || asOf != itoa(h1) || !strings.HasPrefix(notice, fmt.Sprintf("derived: serving.order_timeline at commit %d, 0 commits (", h1)) {
		t.Fatalf("fresh lookup: %s as of %s, notice %q; want o-1 as of %d", rows, asOf, notice, h1)
	}

	// A commit the projection has not applied (nothing follows here): the
	// row is the old one and so is the label, one commit behind.
	c.exec(t, order("e2", "o-2", "SUBMITTED"))
	h2 := h.side.Head()
	if h2 <= h1 {
		t.Fatalf("head %d after a commit, was %d", h2, h1)
	}
	rows, asOf, notice = lookup("o-2")
	if rows != "[]" || asOf != itoa(h1) || !strings.HasPrefix(notice, fmt.Sprintf("derived: serving.order_timeline at commit %d, %d commits (", h1, h2-h1)) {
		t.Fatalf("lookup behind: %s as of %s, notice %q; want no row as of %d", rows, asOf, notice, h1)
	}

	// Applied: the new row with the new watermark.
	if err := mat.Sync(ctx, "order_timeline"); err != nil {
		t.Fatal(err)
	}
	rows, asOf, _ = lookup("o-2")
	if rows != "[[o-2 submitted]]" || asOf != itoa(h2) {
		t.Fatalf("lookup caught up: %s as of %s, want o-2 as of %d", rows, asOf, h2)
	}

	// A rebuild switches to a new generation at the same commit.
	c.exec(t, `CALL dualgate.rebuild('order_timeline')`)
	wm2, err := mat.Store().Watermark(ctx, "order_timeline")
	if err != nil || wm2.Generation == wm.Generation || wm2.Commit != h2 {
		t.Fatalf("after rebuild: %+v (%v), was %+v", wm2, err, wm)
	}
	rows, asOf, _ = lookup("o-1")
	if rows != "[[o-1 submitted]]" || asOf != itoa(h2) {
		t.Fatalf("lookup after rebuild: %s as of %s, want o-1 as of %d", rows, asOf, h2)
	}

	// Caught up again at a newer commit, with no lookup in between: the
	// same lag, another watermark.
	c.exec(t, order("e3", "o-3", "SUBMITTED"))
	h3 := h.side.Head()
	if err := mat.Sync(ctx, "order_timeline"); err != nil {
		t.Fatal(err)
	}
	rows, asOf, notice = lookup("o-3")
	if rows != "[[o-3 submitted]]" || asOf != itoa(h3) || !strings.HasPrefix(notice, fmt.Sprintf("derived: serving.order_timeline at commit %d, 0 commits (", h3)) {
		t.Fatalf("lookup caught up again: %s as of %s, notice %q; want o-3 as of %d", rows, asOf, notice, h3)
	}

	if redisURL == "" {
		return
	}
	// One round trip per lookup: count what the server executes.
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(o)
	defer admin.Close()
	if err := admin.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	prepared = false // count one lookup each
	const n = 10
	for i := 0; i < n; i++ {
		id, want := "o-1", "[[o-1 submitted]]"
		if i%2 == 1 {
			id, want = "o-404", "[]" // a miss costs the same
		}
		if rows, asOf, _ := lookup(id); rows != want || asOf != itoa(h3) {
			t.Fatalf("lookup %s: %s as of %s, want %s as of %d", id, rows, asOf, want, h3)
		}
	}
	info, err := admin.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		var k int
		fmt.Sscanf(rest, "%d", &k)
		calls[name] = k
	}
	delete(calls, "config|resetstat")
	delete(calls, "info")
	delete(calls, "ping") // the near cache's tracking connection
	// commandstats counts the Get script's own calls too (GET cur, GET wm,
	// HGET): the client sent at most one EVALSHA per lookup (none for
	// those the near cache answered) and nothing else.
	e := calls["evalsha"]
	want := map[string]int{}
	if e > 0 {
		want = map[string]int{"evalsha": e, "get": 2 * e, "hget": e}
	}
	if e > n || fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("%d lookups made Redis run %v, want at most one EVALSHA each and nothing else", n, calls)
	}
}
