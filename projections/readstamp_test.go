package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// readStampSuite checks that Get reports, in a ReadStamp, the generation
// and watermark the row was read at, on every store.
func readStampSuite(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("ReadStampFollowsCommitsAndRebuilds", func(t *testing.T) { testReadStampSequence(t, newStore(t)) })
	t.Run("ReadStampMatchesRowUnderConcurrentWrites", func(t *testing.T) { testReadStampConcurrent(t, newStore(t)) })
}

func TestMemoryStoreReadStamp(t *testing.T) {
	readStampSuite(t, func(t *testing.T) Store { return NewMemoryStore() })
}

func TestRedisStoreReadStamp(t *testing.T) {
	s := newRedisStoreForTest(t)
	n := 0
	readStampSuite(t, func(t *testing.T) Store {
		n++
		return &RedisStore{c: s.c, inst: fmt.Sprintf("rs%d", n)}
	})
}

func stampedGet(t *testing.T, s Store, key int64) ([]any, bool, ReadStamp) {
	t.Helper()
	var st ReadStamp
	row, found, err := s.Get(WithReadStamp(context.Background(), &st), "p", []any{key})
	if err != nil {
		t.Fatalf("get %d: %v", key, err)
	}
	if !st.Set || st.Proj != "p" || st.Err != nil {
		t.Fatalf("get %d: stamp %+v, want one set for p without error", key, st)
	}
	return row, found, st
}

// testReadStampSequence: a commit moves the stamped watermark with the
// row; a rebuild's generation is invisible (rows and watermark) until the
// switch, then both change at once.
func testReadStampSequence(t *testing.T, s Store) {
	ctx := context.Background()
	// Not materialized: the stamp carries ErrNoGeneration.
	var st ReadStamp
	if _, _, err := s.Get(WithReadStamp(ctx, &st), "p", []any{int64(1)}); !errors.Is(err, ErrNoGeneration) {
		t.Fatalf("get before materialization: %v, want ErrNoGeneration", err)
	}
	if !st.Set || !errors.Is(st.Err, ErrNoGeneration) {
		t.Fatalf("stamp before materialization: %+v", st)
	}
	// A Get without a stamp still works.
	apply := func(gen string, commit uint64, v string) {
		t.Helper()
		if err := s.Apply(ctx, "p", gen, commit, []Entry{{Key: []any{int64(1)}, Row: []any{int64(1), v}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	apply("g1", 5, "at5")
	if err := s.SwitchGeneration(ctx, "p", "g1"); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.Get(ctx, "p", []any{int64(1)}); err != nil || !found {
		t.Fatalf("get without stamp: found %v, %v", found, err)
	}
	check := func(wantGen string, wantWM uint64, wantVal string) {
		t.Helper()
		row, found, st := stampedGet(t, s, 1)
		if !found || row[1] != wantVal {
			t.Fatalf("row %v (found %v), want %q", row, found, wantVal)
		}
		if st.Watermark != (Watermark{Commit: wantWM, Generation: wantGen}) {
			t.Fatalf("stamp %+v, want generation %s at %d", st.Watermark, wantGen, wantWM)
		}
		// A miss is stamped too.
		_, found, st = stampedGet(t, s, 999)
		if found || st.Watermark != (Watermark{Commit: wantWM, Generation: wantGen}) {
			t.Fatalf("miss: found %v, stamp %+v", found, st.Watermark)
		}
	}
	check("g1", 5, "at5")
	apply("g1", 6, "at6") // a commit
	check("g1", 6, "at6")
	apply("g2", 8, "at8") // a rebuild in progress: not visible yet
	check("g1", 6, "at6")
	if err := s.SwitchGeneration(ctx, "p", "g2"); err != nil {
		t.Fatal(err)
	}
	check("g2", 8, "at8")
	if err := s.DropGeneration(ctx, "p", "g1"); err != nil {
		t.Fatal(err)
	}
	check("g2", 8, "at8")
}

// testReadStampConcurrent: while a writer applies commits (each rewrites
// every key with the commit's number) and now and then rebuilds into a new
// generation and switches, readers' stamps always name the commit their
// row was written by: never a newer (or older) watermark.
func testReadStampConcurrent(t *testing.T, s Store) {
	ctx := context.Background()
	const keys = 4
	write := func(gen string, commit uint64) error {
		ups := make([]Entry, keys)
		for k := range ups {
			ups[k] = Entry{Key: []any{int64(k)}, Row: []any{int64(k), int64(commit)}}
		}
		return s.Apply(ctx, "p", gen, commit, ups, nil)
	}
	if err := write("g0", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SwitchGeneration(ctx, "p", "g0"); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stop.Store(true)
		gen, g := "g0", 0
		for c := uint64(2); c <= 120; c++ {
			if c%25 == 0 { // a rebuild: a new generation at c, then the switch
				g++
				old := gen
				gen = fmt.Sprintf("g%d", g)
				if err := write(gen, c); err != nil {
					errc <- err
					return
				}
				if err := s.SwitchGeneration(ctx, "p", gen); err != nil {
					errc <- err
					return
				}
				if err := s.DropGeneration(ctx, "p", old); err != nil {
					errc <- err
					return
				}
				continue
			}
			if err := write(gen, c); err != nil {
				errc <- err
				return
			}
		}
	}()
	var reads atomic.Int64
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for i := 0; !stop.Load() || i < 20; i++ {
				var st ReadStamp
				key := int64((i + r) % keys)
				row, found, err := s.Get(WithReadStamp(ctx, &st), "p", []any{key})
				if err != nil {
					errc <- err
					return
				}
				if !found || !st.Set || st.Err != nil {
					errc <- fmt.Errorf("key %d: found %v, stamp %+v", key, found, st)
					return
				}
				if got := uint64(row[1].(int64)); got != st.Watermark.Commit {
					errc <- fmt.Errorf("key %d: row written by commit %d labeled with watermark %d (generation %s)", key, got, st.Watermark.Commit, st.Watermark.Generation)
					return
				}
				reads.Add(1)
			}
		}(r)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if reads.Load() == 0 {
		t.Fatal("no reads")
	}
}

// countHook counts the commands (and round trips) a go-redis client sends.
type countHook struct {
	mu    sync.Mutex
	trips int
	cmds  []string
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.trips++
		h.cmds = append(h.cmds, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		h.trips++
		for _, c := range cmds {
			h.cmds = append(h.cmds, c.Name())
		}
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (h *countHook) count() (int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.trips, append([]string(nil), h.cmds...)
}

func (h *countHook) reset() {
	h.mu.Lock()
	h.trips, h.cmds = 0, nil
	h.mu.Unlock()
}

// TestRedisGetOneRoundTrip: a stamped point lookup that the near cache
// does not answer (here: it is off) is one round trip and one command (the
// Get script) on a real redis-server, by the client's own count and by the
// server's INFO commandstats.
func TestRedisGetOneRoundTrip(t *testing.T) {
	s := newCachedStore(t, startRedis(t), "test", -1)
	ctx := context.Background()
	if err := s.Apply(ctx, "p", "g1", 7, []Entry{{Key: []any{int64(1)}, Row: []any{int64(1), "x"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SwitchGeneration(ctx, "p", "g1"); err != nil {
		t.Fatal(err)
	}
	// Load the script once (the first EVALSHA of a fresh server falls back
	// to EVAL), then count.
	if _, _, err := s.Get(ctx, "p", []any{int64(1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	h := &countHook{}
	s.c.AddHook(h)
	const n = 25
	for i := 0; i < n; i++ {
		var st ReadStamp
		key := int64(1 + i%2) // hits and misses
		if _, _, err := s.Get(WithReadStamp(ctx, &st), "p", []any{key}); err != nil {
			t.Fatal(err)
		}
		if st.Watermark.Commit != 7 {
			t.Fatalf("stamp %+v", st)
		}
	}
	h.mu.Lock()
	trips, cmds := h.trips, append([]string(nil), h.cmds...)
	h.mu.Unlock()
	if trips != n {
		t.Fatalf("%d lookups made %d round trips (%v), want one each", n, trips, cmds)
	}
	for _, c := range cmds {
		if c != "evalsha" {
			t.Fatalf("lookup commands %v, want only evalsha", cmds)
		}
	}
	h.reset()
	info, err := s.c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		var c int
		fmt.Sscanf(rest, "%d", &c)
		calls[name] = c
	}
	delete(calls, "config|resetstat")
	delete(calls, "info")
	// commandstats counts the script's own calls too: per lookup GET cur,
	// GET wm and HGET inside the one EVALSHA the client sent.
	want := map[string]int{"evalsha": n, "get": 2 * n, "hget": n}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("server saw %v for %d lookups, want %v (one EVALSHA each)", calls, n, want)
	}
}
