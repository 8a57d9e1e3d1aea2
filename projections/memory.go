package projections

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// MemoryStore is the embedded, in-process store used when no Redis is
// configured. It keeps decoded rows (reads do no decoding) in the same
// bucket layout as Redis, with the same counts and checksums.
type MemoryStore struct {
	mu    sync.RWMutex
	projs map[string]*memProj
}

type memProj struct {
	cur   string
	gens  map[string]*memGen
	hints map[string]int // rows expected by generations not yet created (SizeHint)
}

type memEntry struct {
	key, row []any
	hash     uint64
}

type memGen struct {
	wm      uint64
	buckets [NumBuckets]map[string]memEntry
	sums    [NumBuckets]Bucket
}

// NewMemoryStore returns an empty embedded store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{projs: map[string]*memProj{}} }

// Kind implements Store.
func (m *MemoryStore) Kind() string { return "memory" }

// Close implements Store.
func (m *MemoryStore) Close() error { return nil }

func (m *MemoryStore) current(proj string) (*memGen, string, error) {
	p := m.projs[proj]
	if p == nil || p.cur == "" {
		return nil, "", fmt.Errorf("%w: %s", ErrNoGeneration, proj)
	}
	return p.gens[p.cur], p.cur, nil
}

// Get implements Store.
func (m *MemoryStore) Get(ctx context.Context, proj string, key []any) ([]any, bool, error) {
	var buf [64]byte
	k, err := AppendKey(buf[:0], key)
	if err != nil {
		return nil, false, err
	}
	b := BucketOf(k)
	m.mu.RLock()
	g, cur, err := m.current(proj)
	if err != nil {
		m.mu.RUnlock()
		stamp(ctx, proj, Watermark{}, err)
		return nil, false, err
	}
	e, ok := g.buckets[b][string(k)]
	wm := Watermark{Commit: g.wm, Generation: cur}
	m.mu.RUnlock()
	stamp(ctx, proj, wm, nil)
	return e.row, ok, nil
}

// Scan implements Store. It holds a read lock for the whole scan, so it
// sees one commit (fn must not write to this store).
func (m *MemoryStore) Scan(ctx context.Context, proj string, fn func(key, row []any) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g, _, err := m.current(proj)
	if err != nil {
		return err
	}
	return g.scan(ctx, fn)
}

// ScanGeneration implements Store (under a read lock, like Scan).
func (m *MemoryStore) ScanGeneration(ctx context.Context, proj, gen string, fn func(key, row []any) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if p := m.projs[proj]; p != nil {
		if g := p.gens[gen]; g != nil {
			return g.scan(ctx, fn)
		}
	}
	return nil
}

func (g *memGen) scan(ctx context.Context, fn func(key, row []any) error) error {
	for b := range g.buckets {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, e := range g.buckets[b] {
			if err := fn(e.key, e.row); err != nil {
				return err
			}
		}
	}
	return nil
}

// Apply implements Store.
func (m *MemoryStore) Apply(_ context.Context, proj, gen string, commit uint64, upserts []Entry, deletes [][]any) error {
	if err := checkGen(gen); err != nil {
		return err
	}
	w, err := encodeWrites(upserts, deletes)
	if err != nil {
		return err
	}
	// Decode back what readers will see (normalized values), outside the lock.
	type op struct {
		b        int
		k        string
		key, row []any
		hash     uint64
	}
	ops := make([]op, 0, len(w.order))
	for _, k := range w.order {
		o := op{b: BucketOf([]byte(k)), k: k}
		if v := w.fields[k]; v != nil {
			if o.key, err = DecodeKey([]byte(k)); err != nil {
				return err
			}
			if o.row, err = DecodeRow(v); err != nil {
				return err
			}
			o.hash = EntryHash([]byte(k), v)
		}
		ops = append(ops, o)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.projOrNew(proj)
	g := p.gens[gen]
	if g == nil {
		g = newMemGen(p.hints[gen])
		delete(p.hints, gen)
		p.gens[gen] = g
	} else if commit < g.wm {
		return fmt.Errorf("%w: %s generation %s is at commit %d, got %d", ErrStale, proj, gen, g.wm, commit)
	}
	for _, o := range ops {
		bm := g.buckets[o.b]
		if bm == nil {
			bm = map[string]memEntry{}
			g.buckets[o.b] = bm
		}
		s := &g.sums[o.b]
		if old, ok := bm[o.k]; ok {
			s.Count--
			s.Sum -= old.hash
			delete(bm, o.k)
		}
		if o.row != nil {
			bm[o.k] = memEntry{key: o.key, row: o.row, hash: o.hash}
			s.Count++
			s.Sum += o.hash
		}
	}
	g.wm = commit
	return nil
}

// SizeHint tells the store that generation gen of proj, not yet written,
// is about to receive about rows rows (a rebuild knows its result's size
// before writing it). The generation's bucket maps are then made at their
// final size when its first Apply creates it, instead of growing and
// rehashing while it fills (a sixth of a 1M-row rebuild's CPU). It creates
// no generation and changes no content; a hint for a generation that
// already exists is ignored.
func (m *MemoryStore) SizeHint(proj, gen string, rows int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.projOrNew(proj)
	if _, ok := p.gens[gen]; ok || rows <= 0 {
		return
	}
	if p.hints == nil {
		p.hints = map[string]int{}
	}
	p.hints[gen] = rows
}

// projOrNew returns projection proj's state, made empty if it has none.
// m.mu is held.
func (m *MemoryStore) projOrNew(proj string) *memProj {
	p := m.projs[proj]
	if p == nil {
		p = &memProj{gens: map[string]*memGen{}}
		m.projs[proj] = p
	}
	return p
}

// newMemGen is an empty generation, its bucket maps sized for rows rows
// (none made yet when rows is 0: Apply makes them as keys arrive).
func newMemGen(rows int) *memGen {
	g := &memGen{}
	if rows > 0 {
		per := rows/NumBuckets + rows/NumBuckets/8 + 8 // keys spread evenly, with room for the spread
		for b := range g.buckets {
			g.buckets[b] = make(map[string]memEntry, per)
		}
	}
	return g
}

// Watermark implements Store.
func (m *MemoryStore) Watermark(_ context.Context, proj string) (Watermark, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g, cur, err := m.current(proj)
	if err != nil {
		return Watermark{}, err
	}
	return Watermark{Commit: g.wm, Generation: cur}, nil
}

// GenerationWatermark implements Store.
func (m *MemoryStore) GenerationWatermark(_ context.Context, proj, gen string) (uint64, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if p := m.projs[proj]; p != nil {
		if g := p.gens[gen]; g != nil {
			return g.wm, true, nil
		}
	}
	return 0, false, nil
}

// BucketSums implements Store.
func (m *MemoryStore) BucketSums(_ context.Context, proj string) ([]Bucket, Watermark, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g, cur, err := m.current(proj)
	if err != nil {
		return nil, Watermark{}, err
	}
	return append([]Bucket(nil), g.sums[:]...), Watermark{Commit: g.wm, Generation: cur}, nil
}

// Generations implements Store.
func (m *MemoryStore) Generations(_ context.Context, proj string) ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	if p := m.projs[proj]; p != nil {
		for g := range p.gens {
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out, nil
}

// SwitchGeneration implements Store.
func (m *MemoryStore) SwitchGeneration(_ context.Context, proj, gen string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.projs[proj]
	if p == nil || p.gens[gen] == nil {
		return fmt.Errorf("projections: %s has no generation %q", proj, gen)
	}
	p.cur = gen
	return nil
}

// DropGeneration implements Store.
func (m *MemoryStore) DropGeneration(_ context.Context, proj, gen string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.projs[proj]
	if p == nil {
		return nil
	}
	if p.cur == gen {
		return fmt.Errorf("projections: cannot drop the current generation %q of %s", gen, proj)
	}
	delete(p.gens, gen)
	delete(p.hints, gen)
	return nil
}
