package projections_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/canonical/sqltables"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/projections"
)

// shopYAML is the tiny catalog of the materializer tests: one projection
// per maintenance shape (key lookup with a correlated subquery, GROUP BY,
// a cast key, a join keyed by a non-key column, and "*").
const shopYAML = `
context: shop
owner: team
entities:
  orders:
    key: [order_id]
    columns: {order_id: text, status: text, total_cents: bigint, region: text, placed_at: timestamptz}
  shipments:
    key: [shipment_id]
    columns: {shipment_id: text, order_id: text, units: integer}
projections:
  order_timeline:
    key: [order_id]
    freshness_sla: 2s
    select: |
      SELECT o.order_id, o.status, o.total_cents,
             (SELECT count(*) FROM canonical.shipments s WHERE s.order_id = o.order_id) AS shipments
      FROM canonical.orders o
    affected_by: {orders: order_id, shipments: order_id}
  region_kpis:
    key: [region]
    freshness_sla: 5s
    select: SELECT region, count(*) AS orders, sum(total_cents) AS gross_cents FROM canonical.orders GROUP BY region
    affected_by: {orders: region}
  daily_sales:
    key: [sales_date, region]
    freshness_sla: 1m
    select: SELECT placed_at::date AS sales_date, region, count(*) AS orders FROM canonical.orders GROUP BY 1, 2
    affected_by: {orders: [placed_at, region]}
  ship_board:
    key: [shipment_id]
    freshness_sla: 1s
    select: |
      SELECT s.shipment_id, s.order_id, s.units, o.region, o.status
      FROM canonical.shipments s JOIN canonical.orders o ON o.order_id = s.order_id
      WHERE o.status <> 'cancelled'
    affected_by:
      shipments: shipment_id
      orders: {order_id: order_id}
  totals:
    key: [one]
    freshness_sla: 1s
    select: SELECT 1 AS one, count(*) AS orders FROM canonical.orders
    affected_by: {orders: "*"}
`

type env struct {
	t     *testing.T
	cat   *catalog.Catalog
	canon *canonical.Store
	eng   *gateway.Engine
	store projections.Store
	q     projections.QueryFunc

	mu      sync.Mutex
	queries []string // SQL the materializers ran (unpinned)
}

func loadCatalog(t *testing.T, yaml string) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.LoadFiles(catalog.File{Name: "shop.yaml", Data: []byte(yaml)})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// newEnv opens a real canonical store in t.TempDir(), creates the catalog's
// tables in a schema commit, and builds a QueryFunc on the real gateway
// engine (PinAsOf + Engine.QueryBatch), as the binary will.
func newEnv(t *testing.T, store projections.Store) *env {
	e := newEmptyEnv(t, store)
	e.createSchema()
	return e
}

// createSchema commits the catalog's tables (a schema commit).
func (e *env) createSchema() {
	var changes []canonical.SchemaChange
	for _, en := range e.cat.Entities() {
		ts := sqltables.EntitySchema(en)
		changes = append(changes, canonical.SchemaChange{CreateTable: &ts})
	}
	if _, err := e.canon.Commit(context.Background(), canonical.CommitRequest{Kind: canonical.KindSchema, Committer: "test", Schema: changes}); err != nil {
		e.t.Fatal(err)
	}
}

// newEmptyEnv is newEnv without the schema commit: canonical has no commit.
func newEmptyEnv(t *testing.T, store projections.Store) *env {
	ctx := context.Background()
	cat := loadCatalog(t, shopYAML)
	st, err := canonical.Open(ctx, t.TempDir(), canonical.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := gateway.NewEngine()
	t.Cleanup(func() { eng.Close() })
	for _, db := range sqltables.Databases(st, cat, nil) {
		eng.AddDatabase(db)
	}
	q := func(ctx context.Context, sql string, asOf uint64) ([]string, [][]any, error) {
		pinned, err := projections.PinAsOf(sql, asOf)
		if err != nil {
			return nil, nil, err
		}
		return eng.QueryBatch(ctx, pinned, nil, nil)
	}
	return &env{t: t, cat: cat, canon: st, eng: eng, store: store, q: q}
}

func (e *env) materializer(cat *catalog.Catalog, opts projections.Options) *projections.Materializer {
	if cat == nil {
		cat = e.cat
	}
	rec := func(ctx context.Context, sql string, asOf uint64) ([]string, [][]any, error) {
		e.mu.Lock()
		e.queries = append(e.queries, sql)
		e.mu.Unlock()
		return e.q(ctx, sql, asOf)
	}
	m, err := projections.New(cat, e.store, e.canon, rec, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) commit(changes ...canonical.Change) uint64 {
	e.t.Helper()
	r, err := e.canon.Commit(context.Background(), canonical.CommitRequest{Kind: canonical.KindIngest, Committer: "test", Changes: changes})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.Commit.ID
}

var day0 = time.Date(2024, 5, 1, 22, 0, 0, 0, time.UTC)

func order(id, status string, total int64, region string, hours int) canonical.Change {
	return canonical.Change{Table: "orders", Op: canonical.OpUpsert,
		Row: []any{id, status, total, region, day0.Add(time.Duration(hours) * time.Hour)}}
}

func ship(id, orderID string, units int64) canonical.Change {
	return canonical.Change{Table: "shipments", Op: canonical.OpUpsert, Row: []any{id, orderID, units}}
}

func del(table string, key string) canonical.Change {
	return canonical.Change{Table: table, Op: canonical.OpDelete, Row: []any{key}}
}

// expected recomputes a projection from canonical at head, as rows keyed
// by their encoded key.
func (e *env) expected(name string) (map[string][]any, []string) {
	e.t.Helper()
	p := e.cat.Projection(name)
	cols, rows, err := e.q(context.Background(), p.Select, e.canon.Head().ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return keyed(e.t, p, cols, rows), cols
}

func keyed(t *testing.T, p *catalog.Projection, cols []string, rows [][]any) map[string][]any {
	t.Helper()
	out := map[string][]any{}
	for _, r := range rows {
		n, err := projections.NormalizeRow(r)
		if err != nil {
			t.Fatal(err)
		}
		out[keyString(t, p, cols, n)] = n
	}
	return out
}

func keyString(t *testing.T, p *catalog.Projection, cols []string, row []any) string {
	var key []any
	for _, k := range p.Key {
		for i, c := range cols {
			if c == k {
				key = append(key, row[i])
			}
		}
	}
	b, err := projections.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *env) stored(name string) map[string][]any {
	e.t.Helper()
	out := map[string][]any{}
	err := e.store.Scan(context.Background(), name, func(key, row []any) error {
		b, err := projections.EncodeKey(key)
		if err != nil {
			return err
		}
		out[string(b)] = row
		return nil
	})
	if err != nil {
		e.t.Fatalf("scan %s: %v", name, err)
	}
	return out
}

// check asserts that every projection equals a full recomputation at head,
// its bucket sums equal a recomputation, and its watermark is the head.
func (e *env) check(when string) {
	e.t.Helper()
	ctx := context.Background()
	head := e.canon.Head().ID
	for _, p := range e.cat.Projections() {
		want, cols := e.expected(p.Name)
		got := e.stored(p.Name)
		if !reflect.DeepEqual(got, want) {
			e.t.Fatalf("%s: %s differs from a full recomputation at commit %d:\n got  %v\n want %v", when, p.Name, head, values(got), values(want))
		}
		var rows [][]any
		for _, r := range want {
			rows = append(rows, r)
		}
		wantSums, err := projections.ComputeBuckets(rows, func(r []any) []any {
			var k []any
			for _, kc := range p.Key {
				for i, c := range cols {
					if c == kc {
						k = append(k, r[i])
					}
				}
			}
			return k
		})
		if err != nil {
			e.t.Fatal(err)
		}
		sums, wm, err := e.store.BucketSums(ctx, p.Name)
		if err != nil {
			e.t.Fatal(err)
		}
		if !reflect.DeepEqual(sums, wantSums) {
			e.t.Fatalf("%s: %s bucket sums differ from a recomputation", when, p.Name)
		}
		if wm.Commit != head {
			e.t.Fatalf("%s: %s watermark %d, head %d", when, p.Name, wm.Commit, head)
		}
	}
}

func values(m map[string][]any) []string {
	var out []string
	for _, r := range m {
		out = append(out, fmt.Sprint(r))
	}
	sort.Strings(out)
	return out
}

// suites runs f on the embedded store and on a real redis-server (and,
// with cluster, on a real 3-node Redis Cluster).
func suites(t *testing.T, f func(t *testing.T, e *env), cluster ...bool) {
	t.Run("memory", func(t *testing.T) { f(t, newEnv(t, projections.NewMemoryStore())) })
	t.Run("redis", func(t *testing.T) { f(t, newEnv(t, newRedis(t))) })
	if len(cluster) > 0 && cluster[0] {
		t.Run("redis-cluster", func(t *testing.T) { f(t, newEnv(t, projections.NewRedisClusterForTest(t))) })
	}
}

// TestIncrementalEqualsRebuild applies a random sequence of commits
// (inserts, updates that move rows between keys and groups, deletes,
// shipments added and removed) incrementally and compares every projection
// with a full recomputation after each step.
func TestIncrementalEqualsRebuild(t *testing.T) {
	suites(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		m := e.materializer(nil, projections.Options{})
		e.commit(order("o'1", "paid", 100, "EU", 0), order("o2", "paid", 50, "NA", 3))
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		e.check("start")
		gens := map[string]string{}
		for _, p := range e.cat.Projections() {
			wm, _ := e.store.Watermark(ctx, p.Name)
			gens[p.Name] = wm.Generation
		}
		e.mu.Lock()
		e.queries = nil
		e.mu.Unlock()
		rng := rand.New(rand.NewSource(7))
		statuses := []string{"paid", "shipped", "cancelled"}
		regions := []string{"EU", "NA", "APAC"}
		live := map[string]bool{}
		for step := 0; step < 25; step++ {
			var ch []canonical.Change
			for i := 0; i < 1+rng.Intn(4); i++ {
				id := fmt.Sprintf("o%d", rng.Intn(12))
				sid := fmt.Sprintf("s%d", rng.Intn(10))
				switch rng.Intn(6) {
				case 0:
					ch = append(ch, del("orders", id))
				case 1:
					ch = append(ch, ship(sid, id, int64(1+rng.Intn(3))))
				case 2:
					ch = append(ch, del("shipments", sid))
				default:
					ch = append(ch, order(id, statuses[rng.Intn(3)], int64(rng.Intn(500)), regions[rng.Intn(3)], rng.Intn(6)))
					live[id] = true
				}
			}
			// Several commits between syncs: they are applied one by one.
			e.commit(ch...)
			if rng.Intn(3) == 0 {
				continue
			}
			if err := m.Start(ctx); err != nil {
				t.Fatal(err)
			}
			e.check(fmt.Sprintf("step %d", step))
		}
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		e.check("end")
		// Only the "*" projection ever ran its whole SELECT after the start.
		e.mu.Lock()
		for _, q := range e.queries {
			for _, p := range e.cat.Projections() {
				if q == p.Select && p.Name != "totals" {
					t.Errorf("%s recomputed in full during incremental maintenance", p.Name)
				}
			}
		}
		e.mu.Unlock()
		// Incremental maintenance, never a rebuild: generations unchanged.
		for _, p := range e.cat.Projections() {
			wm, _ := e.store.Watermark(ctx, p.Name)
			if wm.Generation != gens[p.Name] {
				t.Errorf("%s was rebuilt (generation %s -> %s)", p.Name, gens[p.Name], wm.Generation)
			}
		}
	})
}

// TestDeletesPropagate checks deletes by hand: a removed order leaves the
// timeline, its region's group when it was the last one, and the board.
func TestDeletesPropagate(t *testing.T) {
	suites(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		m := e.materializer(nil, projections.Options{})
		e.commit(order("a", "paid", 10, "EU", 0), order("b", "paid", 20, "APAC", 0), ship("s1", "b", 2))
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := e.store.Get(ctx, "region_kpis", []any{"APAC"}); !ok || err != nil {
			t.Fatalf("APAC group missing: %v %v", ok, err)
		}
		e.commit(del("orders", "b"))
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			proj string
			key  []any
		}{{"order_timeline", []any{"b"}}, {"region_kpis", []any{"APAC"}}, {"ship_board", []any{"s1"}}} {
			if r, ok, err := e.store.Get(ctx, c.proj, c.key); ok || err != nil {
				t.Errorf("%s %v still present after delete: %v %v", c.proj, c.key, r, err)
			}
		}
		// Cancelling an order (an update) removes its shipments from the board
		// although the board is keyed by shipment: affected_by on a non-key column.
		e.commit(ship("s2", "a", 1))
		e.commit(order("a", "cancelled", 10, "EU", 0))
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := e.store.Get(ctx, "ship_board", []any{"s2"}); ok {
			t.Error("s2 on the board after its order was cancelled")
		}
		if r, ok, _ := e.store.Get(ctx, "totals", []any{int64(1)}); !ok || r[1] != int64(1) {
			t.Errorf("totals = %v %v", r, ok)
		}
		e.check("after deletes")
	})
}

// TestRebuildWhileReading rebuilds every projection while readers keep
// reading: reads never fail or miss, the generation switches, and the old
// generation is dropped.
func TestRebuildWhileReading(t *testing.T) {
	suites(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		m := e.materializer(nil, projections.Options{})
		var ch []canonical.Change
		for i := 0; i < 50; i++ {
			ch = append(ch, order(fmt.Sprintf("o%02d", i), "paid", int64(i), "EU", i%5))
		}
		e.commit(ch...)
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		before, _ := e.store.Watermark(ctx, "order_timeline")
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var bad atomic.Value
		var reads atomic.Int64
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, ok, err := e.store.Get(ctx, "order_timeline", []any{fmt.Sprintf("o%02d", i%50)})
				if err != nil || !ok {
					bad.Store(fmt.Sprintf("read during rebuild: %v %v %v", r, ok, err))
					return
				}
				reads.Add(1)
			}
		}()
		// A commit lands between the rebuild's snapshot and its switch: the
		// new generation must be caught up before it serves.
		at := e.canon.Head().ID
		e.commit(order("o07", "shipped", 7, "EU", 1))
		if err := m.Rebuild(ctx, "order_timeline", at); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(2 * time.Second); reads.Load() < 20 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		close(stop)
		wg.Wait()
		if b := bad.Load(); b != nil {
			t.Fatal(b)
		}
		after, _ := e.store.Watermark(ctx, "order_timeline")
		if after.Generation == before.Generation || after.Commit != e.canon.Head().ID {
			t.Fatalf("rebuild: %+v -> %+v (head %d)", before, after, e.canon.Head().ID)
		}
		if r, _, _ := e.store.Get(ctx, "order_timeline", []any{"o07"}); r[1] != "shipped" {
			t.Fatalf("rebuilt generation not caught up: %v", r)
		}
		gens, _ := e.store.Generations(ctx, "order_timeline")
		if !reflect.DeepEqual(gens, []string{after.Generation}) {
			t.Fatalf("generations after rebuild = %v", gens)
		}
		for _, p := range e.cat.Projections() {
			if err := m.Rebuild(ctx, p.Name, 0); err != nil {
				t.Fatal(err)
			}
		}
		e.check("after rebuild")
	})
}

// TestStartCatchesUpOrRebuilds: a new materializer (a restart) catches a
// projection up when it is behind, rebuilds it when its definition changed
// or the store lost it.
func TestStartCatchesUpOrRebuilds(t *testing.T) {
	suites(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.commit(order("a", "paid", 10, "EU", 0))
		if err := e.materializer(nil, projections.Options{}).Start(ctx); err != nil {
			t.Fatal(err)
		}
		gen := func(p string) string {
			wm, err := e.store.Watermark(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			return wm.Generation
		}
		g0 := gen("region_kpis")
		// Restart behind head: caught up, same generation.
		e.commit(order("b", "paid", 5, "EU", 0))
		e.commit(order("c", "paid", 5, "NA", 0))
		if err := e.materializer(nil, projections.Options{}).Start(ctx); err != nil {
			t.Fatal(err)
		}
		if gen("region_kpis") != g0 {
			t.Fatal("caught-up projection was rebuilt")
		}
		e.check("restart behind")
		// Changed definition: rebuilt.
		changed := strings.Replace(shopYAML, "sum(total_cents) AS gross_cents", "sum(total_cents) + 0 AS gross_cents", 1)
		cat2 := loadCatalog(t, changed)
		if projections.DefinitionHash(cat2.Projection("region_kpis")) == projections.DefinitionHash(e.cat.Projection("region_kpis")) {
			t.Fatal("definition hash ignores the SELECT")
		}
		if err := e.materializer(cat2, projections.Options{}).Start(ctx); err != nil {
			t.Fatal(err)
		}
		if g := gen("region_kpis"); g == g0 || !strings.HasPrefix(g, projections.DefinitionHash(cat2.Projection("region_kpis"))+"-") {
			t.Fatalf("changed definition not rebuilt: %s -> %s", g0, g)
		}
		if gens, _ := e.store.Generations(ctx, "region_kpis"); len(gens) != 1 {
			t.Fatalf("old generation kept: %v", gens)
		}
		// A leftover generation (a crashed rebuild) is dropped at start.
		if err := e.store.Apply(ctx, "order_timeline", "zz-crashed", 1, []projections.Entry{{Key: []any{"x"}, Row: []any{"x"}}}, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.materializer(nil, projections.Options{}).Start(ctx); err != nil {
			t.Fatal(err)
		}
		if gens, _ := e.store.Generations(ctx, "order_timeline"); len(gens) != 1 || gens[0] == "zz-crashed" {
			t.Fatalf("leftover generation kept: %v", gens)
		}
	})
}

// TestFollow runs Follow in the background: commits become visible by
// themselves, a flushed store is rebuilt by itself, Status reports ok, and
// cancelling the context stops Follow.
func TestFollow(t *testing.T) {
	suites(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithCancel(context.Background())
		m := e.materializer(nil, projections.Options{PollInterval: 5 * time.Millisecond, RetryInterval: 20 * time.Millisecond})
		done := make(chan error, 1)
		go func() { done <- m.Follow(ctx) }()
		waitFor := func(what string, f func() bool) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for !f() {
				if time.Now().After(deadline) {
					t.Fatalf("timed out waiting for %s", what)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		caughtUp := func() bool {
			for _, p := range e.cat.Projections() {
				wm, err := e.store.Watermark(context.Background(), p.Name)
				if err != nil || wm.Commit != e.canon.Head().ID {
					return false
				}
			}
			return true
		}
		for i := 0; i < 5; i++ {
			e.commit(order(fmt.Sprintf("f%d", i), "paid", int64(i), "EU", 0))
			m.Notify()
		}
		waitFor("follow", caughtUp)
		e.check("follow")
		c := e.commit(order("w", "paid", 1, "EU", 0))
		m.Notify()
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		if err := m.WaitFor(wctx, "order_timeline", c); err != nil {
			t.Fatal(err)
		}
		wcancel()
		if _, ok, _ := e.store.Get(ctx, "order_timeline", []any{"w"}); !ok {
			t.Fatal("WaitFor returned before the commit was visible")
		}
		short, scancel := context.WithTimeout(ctx, 20*time.Millisecond)
		if err := m.WaitFor(short, "order_timeline", c+100); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitFor a future commit = %v", err)
		}
		scancel()
		st, err := m.Status(context.Background(), "order_timeline")
		if err != nil || st.State != projections.StateOK || st.LagCommits != 0 || st.Watermark != e.canon.Head().ID || st.SLA != 2*time.Second || st.Generation == "" {
			t.Fatalf("status = %+v, %v", st, err)
		}
		// The store loses everything (Redis flushed or restarted empty).
		flush(t, e.store)
		e.commit(order("g", "paid", 1, "NA", 0))
		m.Notify()
		waitFor("rebuild after flush", caughtUp)
		e.check("after flush")
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Follow returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Follow did not stop")
		}
	}, true)
}

// TestStatusLagging: commits not yet applied make a projection lag; past
// its SLA it is "lagging", and an unknown projection is an error.
func TestStatusLagging(t *testing.T) {
	e := newEnv(t, projections.NewMemoryStore())
	ctx := context.Background()
	now := time.Now()
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	m := e.materializer(nil, projections.Options{Clock: func() time.Time { return *clock.Load() }})
	e.commit(order("a", "paid", 1, "EU", 0))
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.commit(order("b", "paid", 1, "EU", 0))
	e.commit(order("c", "paid", 1, "EU", 0))
	st, _ := m.Status(ctx, "order_timeline")
	if st.LagCommits != 2 || st.LagSince.IsZero() || st.State != projections.StateOK {
		t.Fatalf("status within SLA = %+v", st)
	}
	later := time.Now().Add(time.Hour)
	clock.Store(&later)
	st, _ = m.Status(ctx, "order_timeline")
	if st.State != projections.StateLagging || st.Lag < time.Minute {
		t.Fatalf("status past SLA = %+v", st)
	}
	if _, err := m.Status(ctx, "nope"); err == nil {
		t.Fatal("unknown projection: no error")
	}
	all := m.Statuses(ctx)
	if len(all) != 5 || all[0].Name != "order_timeline" || all[0].Store != "memory" {
		t.Fatalf("statuses = %+v", all)
	}
}

func newRedis(t *testing.T) projections.Store { return projections.NewRedisForTest(t) }
func flush(t *testing.T, s projections.Store) { projections.FlushForTest(t, s) }

// TestRedisDownAndBack: Redis stops under Follow; the projection reports
// error (reads fail clearly, never a wrong answer); Redis restarts empty;
// the projection is rebuilt by itself and equals canonical again.
func TestRedisDownAndBack(t *testing.T) {
	store, stop, restart := projections.RedisProcForTest(t)
	e := newEnv(t, store)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := e.materializer(nil, projections.Options{PollInterval: 5 * time.Millisecond, RetryInterval: 20 * time.Millisecond})
	e.commit(order("a", "paid", 10, "EU", 0))
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Follow(ctx) }()
	stop()
	e.commit(order("b", "paid", 20, "EU", 0))
	m.Notify()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := m.Status(ctx, "order_timeline")
		if st.State == projections.StateError && st.Err != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status while Redis is down = %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	gctx, gcancel := context.WithTimeout(ctx, 5*time.Second)
	if _, _, err := store.Get(gctx, "order_timeline", []any{"a"}); err == nil {
		t.Fatal("Get with Redis down: no error")
	}
	gcancel()
	restart()
	for {
		st, _ := m.Status(ctx, "order_timeline")
		if st.State == projections.StateOK && st.Watermark == e.canon.Head().ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after Redis came back = %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		ok := true
		for _, p := range e.cat.Projections() {
			if wm, err := store.Watermark(ctx, p.Name); err != nil || wm.Commit != e.canon.Head().ID {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("projections not rebuilt after Redis restart")
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.check("after Redis restart")
	cancel()
	<-done
}

// TestFromEmptyCanonical: projections materialized before canonical has any
// commit are empty at commit 0 and follow the first commits (schema, then
// data) like any other.
func TestFromEmptyCanonical(t *testing.T) {
	e := newEmptyEnv(t, projections.NewMemoryStore())
	ctx := context.Background()
	m := e.materializer(nil, projections.Options{})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if wm, err := e.store.Watermark(ctx, "order_timeline"); err != nil || wm.Commit != 0 {
		t.Fatalf("watermark on empty canonical = %+v, %v", wm, err)
	}
	e.createSchema()
	e.commit(order("a", "paid", 1, "EU", 0), ship("s", "a", 1))
	e.commit(order("b", "paid", 2, "NA", 0))
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.check("from empty")
}

// TestDuplicateKeyRefused: a SELECT that is not unique on the declared key
// is refused with a clear error, never materialized with rows dropped.
func TestDuplicateKeyRefused(t *testing.T) {
	e := newEnv(t, projections.NewMemoryStore())
	ctx := context.Background()
	bad := shopYAML + `
  by_region:
    key: [region]
    freshness_sla: 1s
    select: SELECT region, order_id FROM canonical.orders
    affected_by: {orders: region}
`
	cat := loadCatalog(t, bad)
	e.commit(order("a", "paid", 1, "EU", 0), order("b", "paid", 1, "EU", 0))
	m := e.materializer(cat, projections.Options{})
	if err := m.Sync(ctx, "by_region"); !errors.Is(err, projections.ErrDuplicateKey) {
		t.Fatalf("Sync = %v, want ErrDuplicateKey", err)
	}
	if st, _ := m.Status(ctx, "by_region"); st.State != projections.StateError || !strings.Contains(st.Err, "not unique") {
		t.Fatalf("status = %+v", st)
	}
}

// TestLargeCommits applies commits that touch more keys than one restricted
// query takes: a few hundred keys are recomputed in several restricted
// queries (never the whole SELECT), thousands in a projection of similar
// size by one full diff; both must equal a full recomputation.
func TestLargeCommits(t *testing.T) {
	suites(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		m := e.materializer(nil, projections.Options{})
		const n = 8000
		var ch []canonical.Change
		for i := 0; i < n; i++ {
			ch = append(ch, order(fmt.Sprintf("o%d", i), "paid", int64(i%700), []string{"EU", "NA", "APAC"}[i%3], i%5))
		}
		for i := 0; i < 20; i++ {
			ch = append(ch, ship(fmt.Sprintf("s%d", i), fmt.Sprintf("o%d", i*7), int64(1+i%3)))
		}
		e.commit(ch...)
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		e.check("start")
		ran := func() (restricted, full int) {
			e.mu.Lock()
			defer e.mu.Unlock()
			p := e.cat.Projection("order_timeline")
			for _, q := range e.queries {
				switch {
				case q == p.Select:
					full++
				case strings.Contains(q, "count(*) FROM canonical.shipments") && strings.Contains(q, " IN ("):
					restricted++
				}
			}
			e.queries = nil
			return restricted, full
		}
		ran()

		// 300 orders change status and region, some shipments move: more
		// keys than one restricted query takes, few for the projection.
		ch = nil
		for i := 0; i < 300; i++ {
			ch = append(ch, order(fmt.Sprintf("o%d", i*13), "shipped", int64(i), []string{"NA", "APAC", "EU"}[i%3], 2))
		}
		for i := 0; i < 10; i++ {
			ch = append(ch, ship(fmt.Sprintf("s%d", i), fmt.Sprintf("o%d", i*11), 2), del("orders", fmt.Sprintf("o%d", 5001+i*2)))
		}
		e.commit(ch...)
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		e.check("a few hundred keys")
		restricted, full := ran()
		// Each restricted query runs at the commit and at the one before.
		if full != 0 || restricted < 4 {
			t.Errorf("a few hundred keys: order_timeline ran %d restricted and %d full queries, want several restricted and no full one", restricted, full)
		}

		// Half the orders change: one full recomputation is cheaper.
		ch = nil
		for i := 0; i < n/2; i++ {
			ch = append(ch, order(fmt.Sprintf("o%d", i*2), "cancelled", int64(i), "EU", 4))
		}
		e.commit(ch...)
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		e.check("half the keys")
		if restricted, full := ran(); full != 1 || restricted != 0 {
			t.Errorf("half the keys: order_timeline ran %d restricted and %d full queries, want one full diff", restricted, full)
		}
	})
}
