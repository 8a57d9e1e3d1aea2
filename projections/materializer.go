package projections

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

// QueryFunc runs one Postgres SELECT over canonical as of commit asOf and
// returns its column names and rows (the engine's Go values). The binary
// implements it with the gateway engine (e.g. PinAsOf + Engine.QueryBatch);
// the materializer never imports the gateway.
type QueryFunc func(ctx context.Context, sql string, asOf uint64) (cols []string, rows [][]any, err error)

// State is a projection's maintenance state.
type State string

// States.
const (
	StateOK         State = "ok"         // within its freshness SLA
	StateLagging    State = "lagging"    // behind canonical by more than its SLA
	StateRebuilding State = "rebuilding" // a new generation is being built (the old one serves)
	StateError      State = "error"      // the last maintenance step failed (see Status.Err)
)

// Status is a projection's freshness (a row of dualgate.projections).
type Status struct {
	Name       string
	Store      string // "memory" or "redis"
	Generation string // "" when not materialized
	Watermark  uint64 // last canonical commit applied
	Head       uint64 // canonical head
	LagCommits uint64 // Head - Watermark
	// LagSince is the commit time of the oldest canonical commit not yet
	// applied (zero when caught up); Lag is now - LagSince.
	LagSince time.Time
	Lag      time.Duration
	SLA      time.Duration
	State    State
	Err      string // the last error, when State is error
	// Rebuilds and RebuildFailures count the rebuilds (automatic and
	// requested) that finished since the materializer was made (/metrics).
	Rebuilds, RebuildFailures uint64
}

// Options tune a Materializer. Zero values are defaults.
type Options struct {
	Logger zerolog.Logger
	// PollInterval is how often Follow checks canonical's head when not
	// notified (default 10ms). Notify wakes it at once.
	PollInterval time.Duration
	// RetryInterval is the pause after a failed step (default 500ms),
	// doubling with each consecutive failure up to 30s.
	RetryInterval time.Duration
	// ChunkRows is how many rows a rebuild writes per Apply (default 2000).
	ChunkRows int
	// MaxCatchUp: a projection more commits behind than this is rebuilt
	// instead of caught up commit by commit (default 10000).
	MaxCatchUp uint64
	// Clock is the time source for lag (default time.Now).
	Clock func() time.Time
}

// Materializer keeps a catalog's projections materialized in a Store from
// canonical commits (see the package comment).
type Materializer struct {
	cat    *catalog.Catalog
	store  Store
	canon  *canonical.Store
	query  QueryFunc
	opts   Options
	log    zerolog.Logger
	projs  []*projState
	byName map[string]*projState

	sigMu    sync.Mutex
	sig      chan struct{} // closed and replaced by Notify
	notified atomic.Uint64 // canonical head at the last Notify that woke Follow
}

type projState struct {
	p   *catalog.Projection
	def string // definition hash: generations of other definitions are rebuilt

	mu sync.Mutex // serializes writes to the projection (steps, rebuild switch)

	stMu       sync.Mutex
	rebuilding int
	building   map[string]bool // generations being built (never dropped as leftovers)
	lastErr    error
	rebuilt    uint64 // rebuilds finished
	rebuildErr uint64 // rebuilds failed (not counting canceled ones)
}

// New returns a materializer for every projection of cat.
func New(cat *catalog.Catalog, store Store, canon *canonical.Store, query QueryFunc, opts Options) (*Materializer, error) {
	if store == nil || canon == nil || query == nil {
		return nil, errors.New("projections: New needs a store, the canonical store and a QueryFunc")
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 10 * time.Millisecond
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = 500 * time.Millisecond
	}
	if opts.ChunkRows <= 0 {
		opts.ChunkRows = 2000
	}
	if opts.MaxCatchUp == 0 {
		opts.MaxCatchUp = 10000
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	m := &Materializer{cat: cat, store: store, canon: canon, query: query, opts: opts, log: opts.Logger,
		byName: map[string]*projState{}, sig: make(chan struct{})}
	for _, p := range cat.Projections() {
		ps := &projState{p: p, def: DefinitionHash(p)}
		m.projs = append(m.projs, ps)
		m.byName[p.Name] = ps
	}
	return m, nil
}

// DefinitionHash identifies a projection's definition (SELECT, key,
// affected_by): the prefix of its generation names. A stored generation
// with another prefix was built from another definition and is rebuilt.
func DefinitionHash(p *catalog.Projection) string {
	h := sha256.New()
	fmt.Fprintf(h, "v1\x00%s\x00%s\x00", p.Select, strings.Join(p.Key, ","))
	for _, ab := range p.AffectedBy {
		fmt.Fprintf(h, "%s:%s:%s:%v\x00", ab.Entity, strings.Join(ab.Columns, ","), strings.Join(ab.On, ","), ab.All)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func (m *Materializer) state(name string) (*projState, error) {
	ps := m.byName[name]
	if ps == nil {
		return nil, fmt.Errorf("projections: no projection %q in the catalog", name)
	}
	return ps, nil
}

// Notify tells Follow that canonical has a new commit (the commit hook
// calls it so freshness does not wait for the poll interval). The commit
// hook runs after every autocommit statement, reads included: a Notify
// that finds canonical's head where the previous one left it wakes no one
// (Follow was woken for that head already, and polls anyway).
func (m *Materializer) Notify() {
	if h := m.canon.Head().ID; m.notified.Swap(h) == h {
		return
	}
	m.sigMu.Lock()
	close(m.sig)
	m.sig = make(chan struct{})
	m.sigMu.Unlock()
}

func (m *Materializer) signal() <-chan struct{} {
	m.sigMu.Lock()
	defer m.sigMu.Unlock()
	return m.sig
}

// Start brings every projection up to canonical's head once: a projection
// whose store is missing, of another definition or ahead of canonical is
// rebuilt; one that is behind is caught up commit by commit (or rebuilt
// when more than MaxCatchUp behind). Leftover generations (e.g. of a
// rebuild interrupted by a crash) are dropped. It returns the first error.
func (m *Materializer) Start(ctx context.Context) error {
	var first error
	for _, ps := range m.projs {
		if err := m.Sync(ctx, ps.p.Name); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// maxRetry bounds Follow's retry backoff.
const maxRetry = 30 * time.Second

// Follow keeps every projection up to date until ctx is done: one
// goroutine per projection applies each new canonical commit in order
// (waking on Notify or every PollInterval), rebuilding by itself when its
// store lost the projection (e.g. Redis flushed). Errors are recorded in
// Status and retried after RetryInterval. It returns when ctx is done.
func (m *Materializer) Follow(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, ps := range m.projs {
		wg.Add(1)
		go func(ps *projState) {
			defer wg.Done()
			failures := 0
			for {
				wake := m.signal()
				wait := m.opts.PollInterval
				// The head before the step: a commit after it is caught
				// by the next step, whatever this one saw of it.
				head := m.canon.Head().ID
				if err := m.Sync(ctx, ps.p.Name); err != nil {
					if ctx.Err() != nil {
						return
					}
					// Exponential backoff from RetryInterval up to maxRetry:
					// a projection that keeps failing (bad SQL, Redis down)
					// must not spin on full recomputations.
					wait = m.opts.RetryInterval << min(failures, 16)
					wait = min(wait, maxRetry)
					failures++
					m.log.Warn().Err(err).Str("projection", ps.p.Name).Dur("retry_in", wait).Msg("projection maintenance failed")
					wake = nil
				} else {
					failures = 0
				}
				t := time.NewTimer(wait)
			idle:
				for {
					select {
					case <-ctx.Done():
						t.Stop()
						return
					case <-wake:
						// Notify comes with every autocommit statement,
						// reads included: a wake without a new commit is
						// not worth a step (a store round trip or three on
						// Redis). The poll below still runs on time.
						wake = m.signal()
						if m.canon.Head().ID == head {
							continue
						}
					case <-t.C:
					}
					break idle
				}
				t.Stop()
			}
		}(ps)
	}
	wg.Wait()
	return ctx.Err()
}

// Sync brings one projection up to canonical's current head (see Start).
func (m *Materializer) Sync(ctx context.Context, name string) error {
	ps, err := m.state(name)
	if err != nil {
		return err
	}
	err = m.sync(ctx, ps)
	m.setErr(ps, err)
	return err
}

func (m *Materializer) setErr(ps *projState, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	ps.stMu.Lock()
	ps.lastErr = err
	ps.stMu.Unlock()
}

func (m *Materializer) sync(ctx context.Context, ps *projState) error {
	name := ps.p.Name
	ps.mu.Lock()
	head := m.canon.Head().ID
	wm, err := m.store.Watermark(ctx, name)
	rebuild := ""
	switch {
	case errors.Is(err, ErrNoGeneration):
		rebuild = "not materialized"
	case err != nil:
		ps.mu.Unlock()
		return err
	case !strings.HasPrefix(wm.Generation, ps.def+"-"):
		rebuild = "definition changed"
	case wm.Commit > head:
		rebuild = fmt.Sprintf("store is at commit %d, ahead of canonical head %d", wm.Commit, head)
	case head-wm.Commit > m.opts.MaxCatchUp:
		rebuild = fmt.Sprintf("%d commits behind", head-wm.Commit)
	}
	if rebuild == "" {
		err = m.catchUp(ctx, ps, wm.Generation, wm.Commit, head)
		ps.mu.Unlock()
		if err != nil {
			return err
		}
		return m.dropStale(ctx, ps, wm.Generation)
	}
	ps.mu.Unlock()
	m.log.Info().Str("projection", name).Str("reason", rebuild).Msg("rebuilding projection")
	return m.Rebuild(ctx, name, 0)
}

// dropStale drops generations other than cur (leftovers of interrupted
// rebuilds) unless a rebuild is running.
func (m *Materializer) dropStale(ctx context.Context, ps *projState, cur string) error {
	gens, err := m.store.Generations(ctx, ps.p.Name)
	if err != nil {
		return err
	}
	for _, g := range gens {
		ps.stMu.Lock()
		busy := ps.building[g]
		ps.stMu.Unlock()
		if g != cur && !busy {
			if err := m.store.DropGeneration(ctx, ps.p.Name, g); err != nil {
				return err
			}
		}
	}
	return nil
}

// genSeq makes generation names unique within a process.
var genSeq atomic.Uint64

// Rebuild builds a new generation of projection name from canonical at
// commit atCommit (0: the current head) while the current generation keeps
// serving (and being followed), catches the new generation up to the head,
// switches to it atomically and drops the old one.
func (m *Materializer) Rebuild(ctx context.Context, name string, atCommit uint64) (err error) {
	ps, err := m.state(name)
	if err != nil {
		return err
	}
	defer func() {
		if ctx.Err() != nil && err != nil {
			return // canceled (shutdown): neither outcome
		}
		ps.stMu.Lock()
		if err != nil {
			ps.rebuildErr++
		} else {
			ps.rebuilt++
		}
		ps.stMu.Unlock()
	}()
	if atCommit == 0 {
		atCommit = m.canon.Head().ID
	}
	gen := ps.def + "-" + strconv.FormatInt(m.opts.Clock().UnixNano(), 36) + "." + strconv.FormatUint(genSeq.Add(1), 36)
	// Registered before its first write, so a concurrent leftover cleanup
	// (dropStale) never drops it.
	ps.stMu.Lock()
	ps.rebuilding++
	if ps.building == nil {
		ps.building = map[string]bool{}
	}
	ps.building[gen] = true
	ps.stMu.Unlock()
	defer func() {
		ps.stMu.Lock()
		ps.rebuilding--
		delete(ps.building, gen)
		ps.stMu.Unlock()
	}()
	start := m.opts.Clock()
	var rows [][]any
	var keyIdx []int
	if atCommit > 0 { // commit 0: canonical is empty, so is the projection
		var cols []string
		var err error
		if cols, rows, err = m.query(ctx, ps.p.Select, atCommit); err != nil {
			return fmt.Errorf("projections: rebuild %s at commit %d: %w", name, atCommit, err)
		}
		if keyIdx, err = keyPositions(ps.p, cols); err != nil {
			return err
		}
	}
	if err := checkRows(rows, keyIdx); err != nil {
		return fmt.Errorf("projections: rebuild %s: %w", name, err)
	}
	if h, ok := m.store.(sizeHinter); ok {
		h.SizeHint(name, gen, len(rows))
	}
	for i := 0; i == 0 || i < len(rows); i += m.opts.ChunkRows {
		end := min(i+m.opts.ChunkRows, len(rows))
		ups := make([]Entry, 0, end-i)
		for _, r := range rows[i:end] {
			ups = append(ups, Entry{Key: pick(r, keyIdx), Row: r})
		}
		if err := m.store.Apply(ctx, name, gen, atCommit, ups, nil); err != nil {
			_ = m.store.DropGeneration(context.WithoutCancel(ctx), name, gen)
			return fmt.Errorf("projections: rebuild %s: %w", name, err)
		}
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	old, oerr := m.store.Watermark(ctx, name)
	if err := m.catchUp(ctx, ps, gen, atCommit, m.canon.Head().ID); err != nil {
		_ = m.store.DropGeneration(context.WithoutCancel(ctx), name, gen)
		return err
	}
	if err := m.store.SwitchGeneration(ctx, name, gen); err != nil {
		return err
	}
	if oerr == nil && old.Generation != gen {
		if err := m.store.DropGeneration(ctx, name, old.Generation); err != nil {
			m.log.Warn().Err(err).Str("projection", name).Msg("dropping the old generation failed")
		}
	}
	m.log.Info().Str("projection", name).Str("generation", gen).Uint64("commit_id", atCommit).
		Int("rows", len(rows)).Dur("took", m.opts.Clock().Sub(start)).Msg("projection rebuilt")
	return nil
}

// catchUp applies commits from+1 .. to to generation gen in order. A commit
// that does not affect the projection writes nothing; the watermark of a
// run of such commits is written once, with the next write or at the end.
// The caller holds ps.mu.
func (m *Materializer) catchUp(ctx context.Context, ps *projState, gen string, from, to uint64) error {
	pending := uint64(0)
	for c := from + 1; c <= to; c++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		ups, dels, err := m.commitWrites(ctx, ps, gen, c)
		if err != nil {
			return fmt.Errorf("projections: %s at commit %d: %w", ps.p.Name, c, err)
		}
		if len(ups) == 0 && len(dels) == 0 {
			pending = c
			continue
		}
		if err := m.store.Apply(ctx, ps.p.Name, gen, c, ups, dels); err != nil {
			return err
		}
		pending = 0
	}
	if pending != 0 {
		return m.store.Apply(ctx, ps.p.Name, gen, pending, nil, nil)
	}
	return nil
}

// commitWrites computes the writes commit c makes to projection ps.
func (m *Materializer) commitWrites(ctx context.Context, ps *projState, gen string, c uint64) ([]Entry, [][]any, error) {
	it, err := m.canon.Changes(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	changes, err := it.Collect()
	if err != nil {
		return nil, nil, err
	}
	if len(changes) == 0 {
		return nil, nil, nil
	}
	r, full, err := m.restriction(ps, changes, c)
	if err != nil {
		return nil, nil, err
	}
	if full {
		return m.fullDiff(ctx, ps, gen, c)
	}
	if r == nil {
		return nil, nil, nil
	}
	// The projection's previous state is computed at c-1; if a relation it
	// reads did not exist then, diff the whole projection against the store
	// (commit 0 is no commit: canonical.HEAD is 0).
	if c == 1 {
		return m.fullDiff(ctx, ps, gen, c)
	}
	for _, e := range ps.p.Reads {
		if _, err := m.canon.Schema(e, c-1); err != nil {
			return m.fullDiff(ctx, ps, gen, c)
		}
	}
	if r.tuples > restrictChunk {
		// Recomputing a restricted region costs about 40 µs a key at each
		// of two commits; recomputing the whole projection a few µs a row.
		// Past the break-even (a sixteenth of the projection's rows) the
		// full diff is cheaper.
		if n, err := m.rowCount(ctx, ps.p.Name); err == nil && r.tuples*16 > n {
			return m.fullDiff(ctx, ps, gen, c)
		}
	}
	var keyIdx []int
	newBy, oldBy := map[string]keyedRow{}, map[string]keyedRow{}
	for _, pred := range r.preds {
		q := restrictedSQL(ps.p.Select, pred)
		cols, newRows, err := m.query(ctx, q, c)
		if err != nil {
			return nil, nil, err
		}
		if keyIdx == nil {
			if keyIdx, err = keyPositions(ps.p, cols); err != nil {
				return nil, nil, err
			}
		}
		_, oldRows, err := m.query(ctx, q, c-1)
		if err != nil {
			return nil, nil, err
		}
		if err := mergeByKey(newBy, newRows, keyIdx); err != nil {
			return nil, nil, err
		}
		if err := mergeByKey(oldBy, oldRows, keyIdx); err != nil {
			return nil, nil, err
		}
	}
	var ups []Entry
	for k, n := range newBy {
		if o, ok := oldBy[k]; ok && bytes.Equal(o.enc, n.enc) {
			continue
		}
		ups = append(ups, Entry{Key: pick(n.row, keyIdx), Row: n.row})
	}
	var dels [][]any
	for k, o := range oldBy {
		if _, ok := newBy[k]; !ok {
			dels = append(dels, pick(o.row, keyIdx))
		}
	}
	if len(dels) > 0 && !r.onKey {
		// A row that left the restricted region may still exist elsewhere
		// (its On columns changed): look the deleted keys up by key.
		stillBy := map[string]keyedRow{}
		for i := 0; i < len(dels); i += restrictChunk {
			pred, err := keyPredicate(ps.p, dels[i:min(i+restrictChunk, len(dels))])
			if err != nil {
				return nil, nil, err
			}
			_, still, err := m.query(ctx, restrictedSQL(ps.p.Select, pred), c)
			if err != nil {
				return nil, nil, err
			}
			if err := mergeByKey(stillBy, still, keyIdx); err != nil {
				return nil, nil, err
			}
		}
		kept := dels[:0]
		for _, d := range dels {
			k, err := EncodeKey(d)
			if err != nil {
				return nil, nil, err
			}
			if s, ok := stillBy[string(k)]; ok {
				ups = append(ups, Entry{Key: d, Row: s.row})
				continue
			}
			kept = append(kept, d)
		}
		dels = kept
	}
	return ups, dels, nil
}

// fullDiff recomputes the whole projection at c and diffs it against
// generation gen in the store.
func (m *Materializer) fullDiff(ctx context.Context, ps *projState, gen string, c uint64) ([]Entry, [][]any, error) {
	cols, rows, err := m.query(ctx, ps.p.Select, c)
	if err != nil {
		return nil, nil, err
	}
	keyIdx, err := keyPositions(ps.p, cols)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRows(rows, keyIdx); err != nil {
		return nil, nil, err
	}
	// The generation's rows by encoded key; each new row then either
	// matches one (and takes it out) or is new, and what is left was
	// deleted. One map, of the store's side: a projection's first load
	// (the generation empty, every row new) builds none.
	type stored struct {
		key []any
		enc []byte
	}
	have := map[string]stored{}
	err = m.store.ScanGeneration(ctx, ps.p.Name, gen, func(key, row []any) error {
		k, err := EncodeKey(key)
		if err != nil {
			return err
		}
		enc, err := EncodeRow(nil, row)
		if err != nil {
			return err
		}
		have[string(k)] = stored{key: key, enc: enc}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	ups := make([]Entry, 0, len(rows))
	if len(have) == 0 {
		for _, r := range rows {
			ups = append(ups, Entry{Key: pick(r, keyIdx), Row: r})
		}
		return ups, nil, nil
	}
	for _, r := range rows {
		n, err := NormalizeRow(r)
		if err != nil {
			return nil, nil, err
		}
		k, err := EncodeKey(pick(n, keyIdx))
		if err != nil {
			return nil, nil, err
		}
		h, ok := have[string(k)]
		if ok {
			delete(have, string(k))
			enc, err := EncodeRow(nil, n)
			if err != nil {
				return nil, nil, err
			}
			if bytes.Equal(enc, h.enc) {
				continue
			}
		}
		ups = append(ups, Entry{Key: pick(n, keyIdx), Row: n})
	}
	var dels [][]any
	for _, h := range have {
		dels = append(dels, h.key)
	}
	return ups, dels, nil
}

type keyedRow struct {
	row []any
	enc []byte
}

func byKey(rows [][]any, keyIdx []int) (map[string]keyedRow, error) {
	out := make(map[string]keyedRow, len(rows))
	for _, r := range rows {
		n, err := NormalizeRow(r)
		if err != nil {
			return nil, err
		}
		k, err := EncodeKey(pick(n, keyIdx))
		if err != nil {
			return nil, err
		}
		enc, err := EncodeRow(nil, n)
		if err != nil {
			return nil, err
		}
		if _, dup := out[string(k)]; dup {
			return nil, fmt.Errorf("%w: two rows with key %v", ErrDuplicateKey, pick(n, keyIdx))
		}
		out[string(k)] = keyedRow{row: n, enc: enc}
	}
	return out, nil
}

// sizeHinter is a store that can prepare a generation for its size
// (MemoryStore.SizeHint); Redis has nothing to prepare.
type sizeHinter interface {
	SizeHint(proj, gen string, rows int)
}

// checkRows is byKey's verdict on rows without byKey's map of encoded
// rows: an error if a value does not normalize or two rows share a key.
// A rebuild checks its whole result before writing any of it; for 1M rows
// the map was 1M encoded rows built to be dropped (a fifth of a rebuild's
// CPU, and the collector's work over it). Keys are told apart by a 64-bit
// hash, confirmed on a hit by comparing encodings; keys whose hash another
// key has are then tracked exactly.
func checkRows(rows [][]any, keyIdx []int) error {
	seed := maphash.MakeSeed()
	return checkRowsHash(rows, keyIdx, func(b []byte) uint64 { return maphash.Bytes(seed, b) })
}

// checkRowsHash is checkRows with the key hash hash (tests force
// collisions with a constant).
func checkRowsHash(rows [][]any, keyIdx []int, hash func([]byte) uint64) error {
	first := make(map[uint64]int, len(rows))
	var exact map[string]bool
	key := make([]any, len(keyIdx))
	var kb, kb2 []byte
	for i, r := range rows {
		for _, v := range r {
			if _, err := Normalize(v); err != nil {
				return err
			}
		}
		for j, c := range keyIdx {
			key[j] = r[c]
		}
		var err error
		if kb, err = AppendKey(kb[:0], key); err != nil {
			return err
		}
		h := hash(kb)
		j, hit := first[h]
		if !hit {
			first[h] = i
			continue
		}
		for c, k := range keyIdx {
			key[c] = rows[j][k]
		}
		if kb2, err = AppendKey(kb2[:0], key); err != nil {
			return err
		}
		if !bytes.Equal(kb, kb2) {
			// Not the first key of this hash (which was compared just now):
			// a duplicate only of another colliding key.
			if exact == nil {
				exact = map[string]bool{}
			}
			if !exact[string(kb)] {
				exact[string(kb)] = true
				continue
			}
		}
		n, err := NormalizeRow(r)
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: two rows with key %v", ErrDuplicateKey, pick(n, keyIdx))
	}
	return nil
}

// mergeByKey adds rows to by, keyed as byKey does. Restricted queries of
// one commit may overlap (a row matching tuples of two chunks); the same
// row twice is one row, two different rows under one key are the
// projection's duplicate-key error.
func mergeByKey(by map[string]keyedRow, rows [][]any, keyIdx []int) error {
	part, err := byKey(rows, keyIdx)
	if err != nil {
		return err
	}
	for k, r := range part {
		if have, ok := by[k]; ok {
			if !bytes.Equal(have.enc, r.enc) {
				return fmt.Errorf("%w: two rows with key %v", ErrDuplicateKey, pick(r.row, keyIdx))
			}
			continue
		}
		by[k] = r
	}
	return nil
}

// rowCount is how many rows the projection's current generation holds,
// from the store's bucket counts.
func (m *Materializer) rowCount(ctx context.Context, proj string) (int, error) {
	buckets, _, err := m.store.BucketSums(ctx, proj)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, b := range buckets {
		n += int(b.Count)
	}
	return n, nil
}

// ErrDuplicateKey: a projection's SELECT returned two rows with the same
// key (the catalog's key is not a key of the SELECT). The projection is not
// written rather than silently keeping one of them.
var ErrDuplicateKey = errors.New("projections: projection key is not unique")

func pick(row []any, idx []int) []any {
	out := make([]any, len(idx))
	for i, j := range idx {
		out[i] = row[j]
	}
	return out
}

// keyPositions finds the projection key columns among the result columns.
func keyPositions(p *catalog.Projection, cols []string) ([]int, error) {
	idx := make([]int, len(p.Key))
	for i, k := range p.Key {
		idx[i] = -1
		for j, c := range cols {
			if strings.EqualFold(c, k) {
				idx[i] = j
				break
			}
		}
		if idx[i] < 0 {
			return nil, fmt.Errorf("projections: %s: key column %s is not in the SELECT's output (%s)", p.Name, k, strings.Join(cols, ", "))
		}
	}
	return idx, nil
}

// Status reports a projection's freshness.
func (m *Materializer) Status(ctx context.Context, name string) (Status, error) {
	ps, err := m.state(name)
	if err != nil {
		return Status{}, err
	}
	st := Status{Name: name, Store: m.store.Kind(), SLA: ps.p.FreshnessSLA}
	head := m.canon.Head()
	st.Head = head.ID
	ps.stMu.Lock()
	rebuilding, lastErr := ps.rebuilding > 0, ps.lastErr
	st.Rebuilds, st.RebuildFailures = ps.rebuilt, ps.rebuildErr
	ps.stMu.Unlock()
	wm, werr := m.store.Watermark(ctx, name)
	if werr == nil {
		st.Generation, st.Watermark = wm.Generation, wm.Commit
	}
	st.LagCommits, st.LagSince, st.Lag = m.lag(ctx, st.Head, st.Watermark)
	switch {
	case rebuilding:
		st.State = StateRebuilding
	case lastErr != nil:
		st.State, st.Err = StateError, lastErr.Error()
	case werr != nil:
		st.State, st.Err = StateError, werr.Error()
	case st.LagCommits > 0 && st.Lag > ps.p.FreshnessSLA:
		st.State = StateLagging
	default:
		st.State = StateOK
	}
	return st, nil
}

// lag is how far watermark wm trails canonical's head: commits, the commit
// time of the oldest commit not applied, and the time since then.
func (m *Materializer) lag(ctx context.Context, head, wm uint64) (commits uint64, since time.Time, lag time.Duration) {
	if head <= wm {
		return 0, time.Time{}, 0
	}
	commits = head - wm
	if ci, err := m.canon.CommitByID(ctx, wm+1); err == nil {
		since = ci.CommittedAt
		lag = max(m.opts.Clock().Sub(ci.CommittedAt), 0)
	}
	return commits, since, lag
}

// ReadStatus is the freshness of the data one read returned: projection
// name at the watermark and generation a ReadStamp recorded (Get reads
// them atomically with the row), against canonical's head now. Unlike
// Status it makes no store round trip, so a point lookup's label costs
// nothing beyond the lookup. A stamp with an error reports the projection
// as not materialized (Generation ""), as Status does when the store
// cannot tell its watermark.
func (m *Materializer) ReadStatus(ctx context.Context, rs *ReadStamp) (Status, error) {
	ps, err := m.state(rs.Proj)
	if err != nil {
		return Status{}, err
	}
	st := Status{Name: rs.Proj, Store: m.store.Kind(), SLA: ps.p.FreshnessSLA, State: StateOK}
	// The head after the read: never behind the watermark read.
	st.Head = m.canon.Head().ID
	if rs.Err != nil {
		st.State, st.Err = StateError, rs.Err.Error()
	} else {
		st.Generation, st.Watermark = rs.Watermark.Generation, rs.Watermark.Commit
	}
	st.LagCommits, st.LagSince, st.Lag = m.lag(ctx, st.Head, st.Watermark)
	if st.State == StateOK && st.LagCommits > 0 && st.Lag > ps.p.FreshnessSLA {
		st.State = StateLagging
	}
	return st, nil
}

// Statuses reports every projection's freshness, in catalog order.
func (m *Materializer) Statuses(ctx context.Context) []Status {
	out := make([]Status, 0, len(m.projs))
	for _, ps := range m.projs {
		st, _ := m.Status(ctx, ps.p.Name)
		out = append(out, st)
	}
	return out
}

// WaitFor blocks until projection name's current generation has applied
// commit (or ctx is done): read-your-writes for a session that just
// committed, and the freshness benchmark's "visible in serving" moment.
func (m *Materializer) WaitFor(ctx context.Context, name string, commit uint64) error {
	if _, err := m.state(name); err != nil {
		return err
	}
	for {
		wm, err := m.store.Watermark(ctx, name)
		if err == nil && wm.Commit >= commit {
			return nil
		}
		t := time.NewTimer(time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// RepairKeys re-projects the given keys of projection name from canonical
// at the current generation's watermark and writes them in place: rows the
// projection SELECT yields are upserted, keys it no longer yields are
// deleted. It is reconciliation's targeted repair: it changes neither the
// watermark nor canonical. It returns how many rows were written.
func (m *Materializer) RepairKeys(ctx context.Context, name string, keys [][]any) (int, error) {
	ps, err := m.state(name)
	if err != nil {
		return 0, err
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	wm, err := m.store.Watermark(ctx, name)
	if err != nil {
		return 0, err
	}
	written := 0
	for i := 0; i < len(keys); i += restrictChunk {
		part := keys[i:min(i+restrictChunk, len(keys))]
		pred, err := keyPredicate(ps.p, part)
		if err != nil {
			return written, err
		}
		var rows [][]any
		var keyIdx []int
		if wm.Commit > 0 {
			cols, rs, err := m.query(ctx, restrictedSQL(ps.p.Select, pred), wm.Commit)
			if err != nil {
				return written, fmt.Errorf("projections: repair %s: %w", name, err)
			}
			if keyIdx, err = keyPositions(ps.p, cols); err != nil {
				return written, err
			}
			rows = rs
		}
		found, err := byKey(rows, keyIdx)
		if err != nil {
			return written, err
		}
		ups := make([]Entry, 0, len(rows))
		for _, r := range found {
			ups = append(ups, Entry{Key: pick(r.row, keyIdx), Row: r.row})
		}
		var dels [][]any
		for _, k := range part {
			enc, err := EncodeKey(k)
			if err != nil {
				return written, err
			}
			if _, ok := found[string(enc)]; !ok {
				dels = append(dels, k)
			}
		}
		if err := m.store.Apply(ctx, name, wm.Generation, wm.Commit, ups, dels); err != nil {
			return written, fmt.Errorf("projections: repair %s: %w", name, err)
		}
		written += len(ups) + len(dels)
	}
	m.log.Info().Str("projection", name).Uint64("commit_id", wm.Commit).Int("keys", len(keys)).Msg("projection keys repaired")
	return written, nil
}

// Projection returns the catalog definition of projection name.
func (m *Materializer) Projection(name string) (*catalog.Projection, bool) {
	ps, ok := m.byName[name]
	if !ok {
		return nil, false
	}
	return ps.p, true
}

// Store is the store the materializer writes.
func (m *Materializer) Store() Store { return m.store }
