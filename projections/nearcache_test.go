package projections

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Near cache tests, on a real redis-server. A "writer" store without a
// cache stands for another process (the primary, seen from a sidecar):
// its writes reach the cached "reader" only through Redis's invalidation
// messages, never through the reader's own local invalidation.

func newCachedStore(t testing.TB, url, inst string, maxBytes int64) *RedisStore {
	t.Helper()
	s, err := NewRedisStoreWith(context.Background(), url, RedisOptions{Instance: inst, NearCacheBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if maxBytes >= 0 {
		if !s.NearCache() {
			t.Fatal("near cache off on a single-node store")
		}
		waitEnabled(t, s)
	}
	return s
}

// waitEnabled waits until s's tracking connection is up.
func waitEnabled(t testing.TB, s *RedisStore) {
	t.Helper()
	waitUntil(t, "near cache tracking on", func() bool { return s.NearCacheStats().Enabled })
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRedisNearCacheStoreSuites: the store and read-stamp suites pass with
// the near cache on (each subtest its own instance and tracking prefix).
func TestRedisNearCacheStoreSuites(t *testing.T) {
	url := startRedis(t)
	n := 0
	next := func(t *testing.T) Store {
		n++
		return newCachedStore(t, url, fmt.Sprintf("nc%d", n), 0)
	}
	storeSuite(t, next)
	readStampSuite(t, next)
}

// cachedGet is a stamped Get that fails the test on error.
func cachedGet(t testing.TB, s Store, proj string, key int64) ([]any, bool, Watermark) {
	t.Helper()
	var st ReadStamp
	row, found, err := s.Get(WithReadStamp(context.Background(), &st), proj, []any{key})
	if err != nil || st.Err != nil {
		t.Fatalf("get %d: %v (stamp %v)", key, err, st.Err)
	}
	return row, found, st.Watermark
}

// TestRedisNearCacheServesAndFollows: a repeated lookup is answered
// without Redis once the watermark is confirmed; another process's commit,
// generation switch and drop reach the cache through Redis, and every
// answer on the way pairs a row with a watermark at which it was the
// projection's value.
func TestRedisNearCacheServesAndFollows(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	w := newCachedStore(t, url, "f", -1) // the other process: no cache
	r := newCachedStore(t, url, "f", 0)
	apply := func(gen string, c uint64, key int64, v string) {
		t.Helper()
		if err := w.Apply(ctx, "p", gen, c, []Entry{{Key: []any{key}, Row: []any{key, v}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	apply("g1", 5, 1, "v5")
	apply("g1", 5, 2, "w5")
	if err := w.SwitchGeneration(ctx, "p", "g1"); err != nil {
		t.Fatal(err)
	}
	// Misses until the watermark is confirmed, then hits.
	waitUntil(t, "a hit", func() bool {
		before := r.NearCacheStats().Hits
		row, found, wm := cachedGet(t, r, "p", 1)
		if !found || row[1] != "v5" || wm != (Watermark{Commit: 5, Generation: "g1"}) {
			t.Fatalf("get 1 = %v %v %+v", row, found, wm)
		}
		return r.NearCacheStats().Hits > before
	})
	h := &countHook{}
	r.c.AddHook(h)
	for i := 0; i < 10; i++ {
		if row, _, wm := cachedGet(t, r, "p", 1); row[1] != "v5" || wm.Commit != 5 {
			t.Fatalf("hit = %v at %+v", row, wm)
		}
	}
	if trips, cmds := h.count(); trips != 0 {
		t.Fatalf("cached lookups went to Redis: %v", cmds)
	}
	// A miss (absent key) is cached as well.
	waitUntil(t, "absent key cached", func() bool {
		h.reset()
		_, found, wm := cachedGet(t, r, "p", 99)
		if found || wm.Commit != 5 {
			t.Fatalf("absent key: found %v at %+v", found, wm)
		}
		trips, _ := h.count()
		return trips == 0
	})

	// follow reads key until it shows want at wantWM, checking on the way
	// that every answer is either the old pair or the new one.
	follow := func(key int64, old, want string, oldWM, wantWM Watermark) {
		t.Helper()
		waitUntil(t, fmt.Sprintf("key %d = %s at %+v", key, want, wantWM), func() bool {
			row, found, wm := cachedGet(t, r, "p", key)
			v := ""
			if found {
				v = row[1].(string)
			}
			switch {
			case v == want && wm == wantWM:
				return true
			case v == old && wm.Generation == oldWM.Generation && wm.Commit >= oldWM.Commit && wm.Commit < wantWM.Commit:
				return false // the previous value, labeled with a watermark it held at
			case v == want && wm.Generation == wantWM.Generation && wm.Commit > wantWM.Commit:
				return true
			}
			t.Fatalf("key %d: %q (found %v) labeled %+v; want %q at %+v or %q before it", key, v, found, wm, want, wantWM, old)
			return false
		})
	}
	g1 := func(c uint64) Watermark { return Watermark{Commit: c, Generation: "g1"} }
	// A commit to key 1 by the other process.
	apply("g1", 6, 1, "v6")
	follow(1, "v5", "v6", g1(5), g1(6))
	// Key 2 was not touched: it is still right, now labeled 6.
	follow(2, "w5", "w5", g1(5), g1(6))
	// A rebuild: generation g2 written beside g1 is invisible, then the
	// switch moves every key at once; dropping g1 follows.
	if err := w.Apply(ctx, "p", "g2", 8, []Entry{{Key: []any{int64(1)}, Row: []any{int64(1), "r8"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if row, _, wm := cachedGet(t, r, "p", 1); row[1] != "v6" || wm != g1(6) {
		t.Fatalf("during rebuild: %v at %+v", row, wm)
	}
	if err := w.SwitchGeneration(ctx, "p", "g2"); err != nil {
		t.Fatal(err)
	}
	g2 := Watermark{Commit: 8, Generation: "g2"}
	follow(1, "v6", "r8", g1(6), g2)
	follow(2, "w5", "", g1(6), g2) // not in the rebuilt generation
	if err := w.DropGeneration(ctx, "p", "g1"); err != nil {
		t.Fatal(err)
	}
	follow(1, "r8", "r8", g2, g2)
	if st := r.NearCacheStats(); st.Invalidations == 0 || st.Hits == 0 || st.Misses == 0 {
		t.Fatalf("stats %+v: want invalidations, hits and misses counted", st)
	}
}

// TestRedisNearCacheConsistencyStress: a writer (another process) applies
// commits whose row values are the commit id, to random keys, with
// rebuilds into new generations (switch, then drop the old one) now and
// then; readers through the cache check every (row, label) pair: the row's
// commit is <= the label's watermark and no newer commit of that row in
// the label's generation is <= it. Run it under -race.
func TestRedisNearCacheConsistencyStress(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	w := newCachedStore(t, url, "s", -1)
	r := newCachedStore(t, url, "s", 0)
	const keys = 64
	commits := 400
	if testing.Short() {
		commits = 150
	}
	// history[gen][key] = commits that wrote the key in gen, ascending.
	// The writer records a commit before applying it, so a reader never
	// sees a row whose commit it cannot find.
	var mu sync.RWMutex
	history := map[string][][]uint64{}
	record := func(gen string, c uint64, ks []int) {
		mu.Lock()
		h := history[gen]
		if h == nil {
			h = make([][]uint64, keys)
			history[gen] = h
		}
		for _, k := range ks {
			h[k] = append(h[k], c)
		}
		mu.Unlock()
	}
	write := func(gen string, c uint64, ks []int) error {
		record(gen, c, ks)
		ups := make([]Entry, len(ks))
		for i, k := range ks {
			ups[i] = Entry{Key: []any{int64(k)}, Row: []any{int64(k), int64(c)}}
		}
		return w.Apply(ctx, "p", gen, c, ups, nil)
	}
	all := make([]int, keys)
	for i := range all {
		all[i] = i
	}
	if err := write("g0", 1, all); err != nil {
		t.Fatal(err)
	}
	if err := w.SwitchGeneration(ctx, "p", "g0"); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stop.Store(true)
		gen, g := "g0", 0
		rng := rand.New(rand.NewPCG(1, 2))
		for c := uint64(2); c <= uint64(commits); c++ {
			if c%60 == 0 {
				g++
				old := gen
				gen = fmt.Sprintf("g%d", g)
				if err := write(gen, c, all); err != nil {
					errc <- err
					return
				}
				if err := w.SwitchGeneration(ctx, "p", gen); err != nil {
					errc <- err
					return
				}
				if err := w.DropGeneration(ctx, "p", old); err != nil {
					errc <- err
					return
				}
				continue
			}
			ks := []int{rng.IntN(keys), rng.IntN(keys), rng.IntN(keys)}
			if err := write(gen, c, ks); err != nil {
				errc <- err
				return
			}
			if c%4 == 0 {
				time.Sleep(200 * time.Microsecond) // let readers hit between commits
			}
		}
	}()
	check := func(key int, row []any, wm Watermark) error {
		got := uint64(row[1].(int64))
		mu.RLock()
		defer mu.RUnlock()
		h := history[wm.Generation]
		if h == nil {
			return fmt.Errorf("key %d: label names unknown generation %+v", key, wm)
		}
		if got > wm.Commit {
			return fmt.Errorf("key %d: row of commit %d labeled with older watermark %+v", key, got, wm)
		}
		seen := false
		for _, c := range h[key] {
			if c == got {
				seen = true
			}
			if c > got && c <= wm.Commit {
				return fmt.Errorf("key %d: row of commit %d labeled %+v, but commit %d rewrote it at or before that watermark", key, got, wm, c)
			}
		}
		if !seen {
			return fmt.Errorf("key %d: row of commit %d never written in generation %s", key, got, wm.Generation)
		}
		return nil
	}
	var reads atomic.Int64
	for rd := 0; rd < 4; rd++ {
		wg.Add(1)
		go func(rd int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(rd), 7))
			for !stop.Load() {
				key := rng.IntN(keys)
				var st ReadStamp
				row, found, err := r.Get(WithReadStamp(ctx, &st), "p", []any{int64(key)})
				if err == nil && !found {
					err = fmt.Errorf("key %d missing at %+v", key, st.Watermark)
				}
				if err == nil {
					err = check(key, row, st.Watermark)
				}
				if err != nil {
					errc <- err
					return
				}
				reads.Add(1)
			}
		}(rd)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	st := r.NearCacheStats()
	t.Logf("%d reads, near cache %+v", reads.Load(), st)
	if st.Hits == 0 || st.Invalidations == 0 {
		t.Fatalf("the cache served no hits or saw no invalidations (%+v): the test tested nothing", st)
	}
	// Once the writer stops, the cache converges on Redis's final state.
	final, err := w.Watermark(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < keys; k++ {
		waitUntil(t, fmt.Sprintf("key %d at the final watermark", k), func() bool {
			row, _, wm := cachedGet(t, r, "p", int64(k))
			if err := check(k, row, wm); err != nil {
				t.Fatal(err)
			}
			return wm == final
		})
	}
}

// TestRedisNearCacheFlush: FLUSHALL drops the cache (the lookups answer
// "not materialized" instead of the cached rows), and it comes back once
// tracking is re-established.
func TestRedisNearCacheFlush(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	w := newCachedStore(t, url, "fl", -1)
	r := newCachedStore(t, url, "fl", 0)
	if err := w.Apply(ctx, "p", "g", 3, []Entry{{Key: []any{int64(1)}, Row: []any{int64(1), "x"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.SwitchGeneration(ctx, "p", "g"); err != nil {
		t.Fatal(err)
	}
	warm(t, r, "p", 1)
	resets := r.NearCacheStats().Resets
	for _, flush := range []string{"FLUSHALL", "FLUSHDB"} {
		if err := w.c.Do(ctx, flush).Err(); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "lookup after "+flush+" fails", func() bool {
			_, _, err := r.Get(ctx, "p", []any{int64(1)})
			return errors.Is(err, ErrNoGeneration)
		})
		if st := r.NearCacheStats(); st.Resets <= resets {
			t.Fatalf("after %s: stats %+v, want a reset", flush, st)
		}
		waitEnabled(t, r)
		if err := w.Apply(ctx, "p", "g", 4, []Entry{{Key: []any{int64(1)}, Row: []any{int64(1), "y"}}}, nil); err != nil {
			t.Fatal(err)
		}
		if err := w.SwitchGeneration(ctx, "p", "g"); err != nil {
			t.Fatal(err)
		}
		warm(t, r, "p", 1)
		if row, _, wm := cachedGet(t, r, "p", 1); row[1] != "y" || wm.Commit != 4 {
			t.Fatalf("after %s and rewrite: %v at %+v", flush, row, wm)
		}
		resets = r.NearCacheStats().Resets
	}
}

// warm reads key until it is a cache hit.
func warm(t testing.TB, s *RedisStore, proj string, key int64) {
	t.Helper()
	waitUntil(t, "a cache hit", func() bool {
		before := s.NearCacheStats().Hits
		cachedGet(t, s, proj, key)
		return s.NearCacheStats().Hits > before
	})
}

// TestRedisNearCacheTrackingLost: when the tracking connection is killed,
// the cache is dropped and unused until tracking is back; a write made
// meanwhile is what the lookups return afterwards. A redis-server
// restart (empty) makes lookups fail instead of answering from the cache.
func TestRedisNearCacheTrackingLost(t *testing.T) {
	p := startRedisProc(t)
	ctx := context.Background()
	url := "redis://" + p.addr
	w := newCachedStore(t, url, "tl", -1)
	r := newCachedStore(t, url, "tl", 0)
	put := func(c uint64, v string) {
		t.Helper()
		if err := w.Apply(ctx, "p", "g", c, []Entry{{Key: []any{int64(1)}, Row: []any{int64(1), v}}}, nil); err != nil {
			t.Fatal(err)
		}
		if err := w.SwitchGeneration(ctx, "p", "g"); err != nil {
			t.Fatal(err)
		}
	}
	put(1, "a")
	warm(t, r, "p", 1)
	resets := r.NearCacheStats().Resets
	// Kill the tracking connection (the only Pub/Sub client).
	if err := w.c.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "reset after the tracking connection died", func() bool { return r.NearCacheStats().Resets > resets })
	put(2, "b") // possibly while tracking is down: no invalidation for r
	waitEnabled(t, r)
	row, _, wm := cachedGet(t, r, "p", 1)
	if row[1] != "b" || wm.Commit != 2 {
		t.Fatalf("after tracking came back: %v at %+v, want b at 2", row, wm)
	}
	warm(t, r, "p", 1)

	// Restart: stopped, lookups fail (never the cached row); back empty,
	// still "not materialized"; materialized again, served again.
	p.stop()
	waitUntil(t, "cache off with redis-server stopped", func() bool { return !r.NearCacheStats().Enabled })
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if _, _, err := r.Get(gctx, "p", []any{int64(1)}); err == nil {
		t.Fatal("lookup with redis-server stopped: no error")
	}
	cancel()
	if st := r.NearCacheStats(); st.Enabled || st.Entries != 0 {
		t.Fatalf("stats with redis-server stopped: %+v", st)
	}
	p.restart()
	waitEnabled(t, r)
	if _, _, err := r.Get(ctx, "p", []any{int64(1)}); !errors.Is(err, ErrNoGeneration) {
		t.Fatalf("lookup after an empty restart: %v, want ErrNoGeneration", err)
	}
	put(3, "c")
	warm(t, r, "p", 1)
	if row, _, wm := cachedGet(t, r, "p", 1); row[1] != "c" || wm.Commit != 3 {
		t.Fatalf("after restart: %v at %+v", row, wm)
	}
}

// TestRedisNearCacheBounded: the cache stays within its byte bound by
// evicting, and evicted rows are read again correctly.
func TestRedisNearCacheBounded(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	const max = 32 << 10
	s := newCachedStore(t, url, "b", max)
	const n = 2000
	ups := make([]Entry, n)
	for i := range ups {
		ups[i] = Entry{Key: []any{int64(i)}, Row: []any{int64(i), strings.Repeat("x", 20)}}
	}
	if err := s.Apply(ctx, "p", "g", 1, ups, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SwitchGeneration(ctx, "p", "g"); err != nil {
		t.Fatal(err)
	}
	warm(t, s, "p", 0)
	for round := 0; round < 2; round++ {
		for i := 0; i < n; i++ {
			row, found, _ := cachedGet(t, s, "p", int64(i))
			if !found || row[0] != int64(i) {
				t.Fatalf("key %d: %v %v", i, row, found)
			}
			if st := s.NearCacheStats(); st.Bytes > max {
				t.Fatalf("cache at %d bytes, bound %d", st.Bytes, max)
			}
		}
	}
	st := s.NearCacheStats()
	if st.Evictions == 0 || st.Entries == 0 || st.Entries >= n {
		t.Fatalf("stats %+v: want evictions and a partial cache", st)
	}
}

// TestRedisNearCacheOff: near_cache=off in the URL, a negative bound, and
// Redis Cluster have no near cache; a bad value is refused.
func TestRedisNearCacheOff(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	for _, tc := range []struct {
		url  string
		opts RedisOptions
		on   bool
	}{
		{url + "?near_cache=off", RedisOptions{}, false},
		{url + "?near_cache=0", RedisOptions{}, false},
		{url, RedisOptions{NearCacheBytes: -1}, false},
		{url + "?near_cache=8MB", RedisOptions{}, true},
		{url, RedisOptions{}, true},
	} {
		s, err := NewRedisStoreWith(ctx, tc.url, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if s.NearCache() != tc.on {
			t.Errorf("%s %+v: near cache %v, want %v", tc.url, tc.opts, s.NearCache(), tc.on)
		}
		s.Close()
	}
	if s, err := NewRedisStore(ctx, url+"?near_cache=lots"); err == nil {
		s.Close()
		t.Error("near_cache=lots accepted")
	}
	if n, err := parseNearCache("128MB"); err != nil || n != 128<<20 {
		t.Errorf("128MB = %d, %v", n, err)
	}
	cl := NewRedisClusterForTest(t)
	if cl.NearCache() {
		t.Error("near cache on Redis Cluster")
	}
}
