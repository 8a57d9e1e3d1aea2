package projections

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"
)

// storeSuite runs the same tests against every Store implementation.
func storeSuite(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("GetScanApply", func(t *testing.T) { testGetScanApply(t, newStore(t)) })
	t.Run("Values", func(t *testing.T) { testValues(t, newStore(t)) })
	t.Run("WatermarkOrder", func(t *testing.T) { testWatermarkOrder(t, newStore(t)) })
	t.Run("BucketSumsMatchRecomputation", func(t *testing.T) { testBucketSums(t, newStore(t)) })
	t.Run("Generations", func(t *testing.T) { testGenerations(t, newStore(t)) })
	t.Run("AtomicApply", func(t *testing.T) { testAtomicApply(t, newStore(t)) })
}

func TestMemoryStore(t *testing.T) {
	storeSuite(t, func(t *testing.T) Store { return NewMemoryStore() })
}

func TestRedisStore(t *testing.T) {
	s := newRedisStoreForTest(t)
	n := 0
	storeSuite(t, func(t *testing.T) Store {
		// One server for the suite; each subtest gets its own instance namespace.
		n++
		return &RedisStore{c: s.c, inst: fmt.Sprintf("t%d", n)}
	})
}

// TestRedisClusterStore runs the suite on a real 3-node Redis Cluster: the
// hash tag keeps each projection's keys in one slot, so MULTI/EXEC, WATCH
// and the Get script work, while different projections spread over the
// nodes.
func TestRedisClusterStore(t *testing.T) {
	url := startRedisCluster(t)
	ctx := context.Background()
	n := 0
	storeSuite(t, func(t *testing.T) Store {
		n++
		s, err := NewRedisStoreWith(ctx, url, RedisOptions{Instance: fmt.Sprintf("c%d", n)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
	s, err := NewRedisStore(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	withKeys := 0
	err = s.Client().(interface {
		ForEachMaster(context.Context, func(context.Context, *redis.Client) error) error
	}).ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		n, err := c.DBSize(ctx).Result()
		if n > 0 {
			mu.Lock()
			withKeys++
			mu.Unlock()
		}
		return err
	})
	if err != nil || withKeys < 2 {
		t.Fatalf("projections on %d of 3 nodes (%v); want them spread", withKeys, err)
	}
}

func TestRedisURLs(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"http://x", "mysql://a:1", ""} {
		if _, err := NewRedisStore(ctx, u); err == nil {
			t.Errorf("NewRedisStore(%q): want error", u)
		}
	}
	if _, err := NewRedisStoreWith(ctx, "redis://127.0.0.1:1", RedisOptions{Instance: "a{b"}); err == nil {
		t.Error("instance with braces accepted")
	}
	// Nothing listens on port 1: a clear error, not a hang.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := NewRedisStore(cctx, "redis://127.0.0.1:1"); err == nil {
		t.Error("connect to a closed port: want error")
	}
}

func row(id int64, name string, amt int64) Entry {
	return Entry{Key: []any{id}, Row: []any{id, name, amt}}
}

func mustApply(t *testing.T, s Store, proj, gen string, c uint64, ups []Entry, dels [][]any) {
	t.Helper()
	if err := s.Apply(context.Background(), proj, gen, c, ups, dels); err != nil {
		t.Fatalf("Apply(%s, %s, %d): %v", proj, gen, c, err)
	}
}

func scanAll(t *testing.T, s Store, proj string) map[string][]any {
	t.Helper()
	out := map[string][]any{}
	err := s.Scan(context.Background(), proj, func(key, row []any) error {
		out[fmt.Sprint(key)] = row
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

func testGetScanApply(t *testing.T, s Store) {
	ctx := context.Background()
	if _, _, err := s.Get(ctx, "p", []any{int64(1)}); !errors.Is(err, ErrNoGeneration) {
		t.Fatalf("Get before materialization: %v, want ErrNoGeneration", err)
	}
	if _, err := s.Watermark(ctx, "p"); !errors.Is(err, ErrNoGeneration) {
		t.Fatalf("Watermark before materialization: %v", err)
	}
	mustApply(t, s, "p", "g1", 1, []Entry{row(1, "a", 10), row(2, "b", 20), row(3, "c", 30)}, nil)
	// Not visible before the switch.
	if _, _, err := s.Get(ctx, "p", []any{int64(1)}); !errors.Is(err, ErrNoGeneration) {
		t.Fatalf("Get before switch: %v", err)
	}
	if err := s.SwitchGeneration(ctx, "p", "g1"); err != nil {
		t.Fatal(err)
	}
	r, ok, err := s.Get(ctx, "p", []any{1}) // int normalizes to int64
	if err != nil || !ok || !reflect.DeepEqual(r, []any{int64(1), "a", int64(10)}) {
		t.Fatalf("Get 1 = %v %v %v", r, ok, err)
	}
	if _, ok, err := s.Get(ctx, "p", []any{int64(9)}); ok || err != nil {
		t.Fatalf("Get missing = %v %v", ok, err)
	}
	mustApply(t, s, "p", "g1", 2, []Entry{row(2, "bb", 21), row(4, "d", 40)}, [][]any{{int64(1)}, {int64(99)}})
	got := scanAll(t, s, "p")
	want := map[string][]any{
		"[2]": {int64(2), "bb", int64(21)},
		"[3]": {int64(3), "c", int64(30)},
		"[4]": {int64(4), "d", int64(40)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("scan = %v, want %v", got, want)
	}
	// Delete and upsert of the same key in one Apply: the upsert wins.
	mustApply(t, s, "p", "g1", 3, []Entry{row(3, "c3", 33)}, [][]any{{int64(3)}})
	if r, ok, _ := s.Get(ctx, "p", []any{int64(3)}); !ok || r[1] != "c3" {
		t.Fatalf("delete+upsert: %v %v", r, ok)
	}
	wm, err := s.Watermark(ctx, "p")
	if err != nil || wm != (Watermark{Commit: 3, Generation: "g1"}) {
		t.Fatalf("watermark = %+v, %v", wm, err)
	}
	// Projections are independent.
	if _, _, err := s.Get(ctx, "other", []any{int64(2)}); !errors.Is(err, ErrNoGeneration) {
		t.Fatalf("other projection: %v", err)
	}
	// Scan stops on the callback's error.
	stop := errors.New("stop")
	if err := s.Scan(ctx, "p", func(_, _ []any) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("scan error = %v", err)
	}
}

func testValues(t *testing.T, s Store) {
	ctx := context.Background()
	ts := time.Date(2024, 3, 1, 12, 30, 0, 123456789, time.FixedZone("x", 3600))
	dec := decimal.RequireFromString("-12.3400")
	big := decimal.RequireFromString("123456789012345678901234567890.5")
	in := []any{"k\x00ey", int32(-7), int8(1), uint64(1 << 63), float32(1.5), 2.25, dec, big, ts, []byte{0, 1, 2}, true, false, nil, "ünïcode"}
	key := []any{"k\x00ey", dec, ts}
	mustApply(t, s, "v", "g", 1, []Entry{{Key: key, Row: in}}, nil)
	if err := s.SwitchGeneration(ctx, "v", "g"); err != nil {
		t.Fatal(err)
	}
	// A decimal key with another scale is the same key.
	r, ok, err := s.Get(ctx, "v", []any{"k\x00ey", decimal.RequireFromString("-12.34"), ts.UTC()})
	if err != nil || !ok {
		t.Fatalf("Get = %v %v", ok, err)
	}
	want := []any{"k\x00ey", int64(-7), int64(1), decimal.RequireFromString("9223372036854775808"), 1.5, 2.25, dec, big,
		time.Date(2024, 3, 1, 11, 30, 0, 123456000, time.UTC), []byte{0, 1, 2}, true, false, nil, "ünïcode"}
	if len(r) != len(want) {
		t.Fatalf("row = %v", r)
	}
	for i := range want {
		switch w := want[i].(type) {
		case decimal.Decimal:
			g, ok := r[i].(decimal.Decimal)
			if !ok || !g.Equal(w) || g.String() != w.String() || g.Exponent() != w.Exponent() {
				t.Errorf("col %d = %#v, want %v (scale kept)", i, r[i], w)
			}
		case time.Time:
			if g, ok := r[i].(time.Time); !ok || !g.Equal(w) || g.Location() != time.UTC {
				t.Errorf("col %d = %#v, want %v UTC", i, r[i], w)
			}
		default:
			if !reflect.DeepEqual(r[i], w) {
				t.Errorf("col %d = %#v, want %#v", i, r[i], w)
			}
		}
	}
	if err := s.Apply(ctx, "v", "g", 2, []Entry{{Key: []any{struct{}{}}, Row: []any{1}}}, nil); !errors.Is(err, ErrBadValue) {
		t.Errorf("unsupported value: %v", err)
	}
	if err := s.Apply(ctx, "v", "bad gen", 2, nil, nil); err == nil {
		t.Error("bad generation name accepted")
	}
}

func testWatermarkOrder(t *testing.T, s Store) {
	ctx := context.Background()
	mustApply(t, s, "w", "g", 5, []Entry{row(1, "a", 1)}, nil)
	mustApply(t, s, "w", "g", 5, []Entry{row(2, "b", 2)}, nil) // same commit, more rows: allowed
	mustApply(t, s, "w", "g", 6, nil, nil)                     // empty commit advances the watermark
	if err := s.Apply(ctx, "w", "g", 4, []Entry{row(1, "old", 0)}, nil); !errors.Is(err, ErrStale) {
		t.Fatalf("older commit: %v, want ErrStale", err)
	}
	if err := s.SwitchGeneration(ctx, "w", "g"); err != nil {
		t.Fatal(err)
	}
	if wm, _ := s.Watermark(ctx, "w"); wm.Commit != 6 {
		t.Fatalf("watermark %d", wm.Commit)
	}
	if r, _, _ := s.Get(ctx, "w", []any{int64(1)}); r[1] != "a" {
		t.Fatalf("stale write applied: %v", r)
	}
	if c, ok, err := s.GenerationWatermark(ctx, "w", "g"); c != 6 || !ok || err != nil {
		t.Fatalf("GenerationWatermark = %d %v %v", c, ok, err)
	}
	if _, ok, _ := s.GenerationWatermark(ctx, "w", "nope"); ok {
		t.Fatal("unknown generation has a watermark")
	}
}

// testBucketSums applies random upserts and deletes and checks the
// maintained counts and checksums against a recomputation from the rows.
func testBucketSums(t *testing.T, s Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewSource(42))
	live := map[int64]Entry{}
	for c := uint64(1); c <= 40; c++ {
		var ups []Entry
		var dels [][]any
		for i := 0; i < 30; i++ {
			id := int64(rng.Intn(300))
			if rng.Intn(4) == 0 {
				dels = append(dels, []any{id})
				delete(live, id)
			} else {
				e := row(id, fmt.Sprintf("n%d", rng.Intn(5)), int64(rng.Intn(1000)))
				ups = append(ups, e)
			}
		}
		for _, e := range ups {
			live[e.Key[0].(int64)] = e
		}
		mustApply(t, s, "b", "g", c, ups, dels)
		if c == 1 {
			if err := s.SwitchGeneration(ctx, "b", "g"); err != nil {
				t.Fatal(err)
			}
		}
	}
	var rows [][]any
	for _, e := range live {
		rows = append(rows, e.Row)
	}
	want, err := ComputeBuckets(rows, func(r []any) []any { return r[:1] })
	if err != nil {
		t.Fatal(err)
	}
	got, wm, err := s.BucketSums(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if wm.Commit != 40 || wm.Generation != "g" {
		t.Fatalf("watermark %+v", wm)
	}
	if !reflect.DeepEqual(got, want) {
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("bucket %d: got %+v want %+v", i, got[i], want[i])
			}
		}
		t.FailNow()
	}
	var n int64
	for _, b := range got {
		n += b.Count
	}
	if n != int64(len(live)) || len(scanAll(t, s, "b")) != len(live) {
		t.Fatalf("count %d, scan %d, want %d", n, len(scanAll(t, s, "b")), len(live))
	}
}

func testGenerations(t *testing.T, s Store) {
	ctx := context.Background()
	mustApply(t, s, "r", "g1", 3, []Entry{row(1, "old", 1)}, nil)
	if err := s.SwitchGeneration(ctx, "r", "g1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SwitchGeneration(ctx, "r", "missing"); err == nil {
		t.Fatal("switch to a missing generation accepted")
	}
	// Build g2 while g1 serves.
	mustApply(t, s, "r", "g2", 3, []Entry{row(1, "new", 1), row(2, "new", 2)}, nil)
	if r, _, _ := s.Get(ctx, "r", []any{int64(1)}); r[1] != "old" {
		t.Fatalf("g2 visible before switch: %v", r)
	}
	gens, _ := s.Generations(ctx, "r")
	if !reflect.DeepEqual(gens, []string{"g1", "g2"}) {
		t.Fatalf("generations = %v", gens)
	}
	if err := s.SwitchGeneration(ctx, "r", "g2"); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := s.Get(ctx, "r", []any{int64(1)}); r[1] != "new" {
		t.Fatalf("after switch: %v", r)
	}
	if err := s.DropGeneration(ctx, "r", "g2"); err == nil {
		t.Fatal("dropped the current generation")
	}
	if err := s.DropGeneration(ctx, "r", "g1"); err != nil {
		t.Fatal(err)
	}
	gens, _ = s.Generations(ctx, "r")
	if !reflect.DeepEqual(gens, []string{"g2"}) {
		t.Fatalf("generations after drop = %v", gens)
	}
	if _, ok, _ := s.GenerationWatermark(ctx, "r", "g1"); ok {
		t.Fatal("dropped generation still has a watermark")
	}
	// Recreating a dropped generation starts empty.
	mustApply(t, s, "r", "g1", 1, []Entry{row(7, "x", 7)}, nil)
	if err := s.SwitchGeneration(ctx, "r", "g1"); err != nil {
		t.Fatal(err)
	}
	if got := scanAll(t, s, "r"); len(got) != 1 {
		t.Fatalf("recreated generation = %v", got)
	}
}

// testAtomicApply: concurrent readers never see a commit half applied.
// Each commit c rewrites all rows to amount c and sets the watermark c; a
// concurrent reader's BucketSums (sums and watermark read atomically) must
// always equal the recomputation of the rows of its watermark's commit.
func testAtomicApply(t *testing.T, s Store) {
	ctx := context.Background()
	const n = 50
	rowsAt := func(c uint64) []Entry {
		out := make([]Entry, n)
		for i := range out {
			out[i] = row(int64(i), "x", int64(c))
		}
		return out
	}
	mustApply(t, s, "a", "g", 1, rowsAt(1), nil)
	if err := s.SwitchGeneration(ctx, "a", "g"); err != nil {
		t.Fatal(err)
	}
	want := map[uint64][]Bucket{}
	var mu sync.Mutex
	for c := uint64(1); c <= 20; c++ {
		var rows [][]any
		for _, e := range rowsAt(c) {
			rows = append(rows, e.Row)
		}
		b, _ := ComputeBuckets(rows, func(r []any) []any { return r[:1] })
		want[c] = b
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var bad []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			got, wm, err := s.BucketSums(ctx, "a")
			if err != nil {
				mu.Lock()
				bad = append(bad, err.Error())
				mu.Unlock()
				return
			}
			if !reflect.DeepEqual(got, want[wm.Commit]) {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("sums at watermark %d differ from that commit's rows", wm.Commit))
				mu.Unlock()
				return
			}
		}
	}()
	for c := uint64(2); c <= 20; c++ {
		mustApply(t, s, "a", "g", c, rowsAt(c), nil)
	}
	close(done)
	wg.Wait()
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Fatal(bad[0])
	}
}
