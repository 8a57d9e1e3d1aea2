package canonical

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// Scans AS OF an older commit: two plans, and a third with checkpoints.
//
// The walk (verScanner over V, or J for an index) reads every version of
// every key in the range that is newer than or at the AS OF commit: its cost
// is the size of the range's history, up to (versions per key) times a head
// scan, whether or not those keys changed after the commit. An index walk
// also reads each row: from L when it did not change after the commit
// (what a head scan reads), else from V (latestProbe).
//
// The merge reads what a head scan reads (L, or I for an index) and the
// change log D of the commits after the AS OF commit. A key that no commit
// in (asOf, head] changed has, at asOf, exactly the row L holds (L's row
// bytes are the bytes of the key's newest version, and that version is
// <= asOf), so it is served from L; a key the change log names is resolved
// by a seek to its version at asOf (deleted keys included, keys added later
// dropping out). This is the Dolt-style cost: O(head scan + changes since
// the commit), independent of how much older history there is.
//
// Neither dominates. The merge's seeks land in the versioned keyspace,
// which it otherwise does not read: changed keys spread over the table (one
// in ten, say) touch nearly every data block of V, so the merge then reads
// the head, the change log and most of the history's blocks -- more than
// the walk, which reads the history's blocks once, in order. Measured on the
// benchmark fixtures (bench_test.go, forced plans): AS OF commit 2 of the
// dense fixture (every key rewritten nine times since) the merge took about
// twice the walk; on the sparse fixture (one key in ten rewritten nine times,
// history about twice the head) the merge was no faster than the walk,
// which there is already close to a head scan. The merge wins when history
// is deep and the keys changed since the commit are few or clustered (see
// TestAsOfPlanChoice).
//
// Neither reads only what a head scan reads when most keys changed after
// the commit: the checkpoints (checkpoint.go) do. A checkpoint is the
// table's rows (and index entries) as of a commit; the merge reads the
// checkpoint nearest to the commit, below or above it, in place of the
// head, with the change log between the two. AS OF the checkpoint's own
// commit that is a head-sized scan and nothing else.
//
// So the plan is chosen per scan from counts that are cheap to get:
// Pebble's estimate of the on-disk size of each keyspace range (from the
// sstables' index blocks, no data read) and the number of change-log entries
// between asOf and each merge's base and of distinct keys they name, which
// a merge needs anyway: it reads them first (the base nearest in commits
// first) and gives up as soon as its estimated cost passes the cheapest
// plan's so far (the walk's to begin with). Data still in memtables is not
// in the size estimates, so a small, fresh table walks (any plan is cheap
// then).
//
// Costs are in bytes of (compressed) keyspace read: the walk reads hist
// (V or J over the bounds); a merge reads its base (L or I, or a
// checkpoint's K or N, over the bounds; "head" below),
// mergeChangeBytes per change-log entry (reading and deduplicating it),
// mergeSeekBytes of CPU per changed key, and, for the seeks, one data block
// (mergeBlockBytes) per changed key up to the size of the versioned
// keyspace they seek in. The constants are rough fits to the fixtures.
const (
	mergeChangeBytes = 16
	mergeSeekBytes   = 64
	mergeBlockBytes  = 1024
)

const (
	planAuto int32 = iota
	planWalk
	planMerge           // the head (L) merged with the changes after asOf
	planCheckpointBelow // the nearest checkpoint <= asOf merged with the changes up to asOf
	planCheckpointAbove // the nearest checkpoint > asOf merged with the changes down to asOf
	planWalkLatest      // forced only: the walk, index scans looking every row up in L first
)

// asOfPlan forces the plan of AS OF scans (tests and benchmarks only; the
// default planAuto chooses by cost; a forced checkpoint plan without such a
// checkpoint merges from the head). lastAsOfPlan records the plan the last
// AS OF scan took (for tests).
var asOfPlan, lastAsOfPlan atomic.Int32

// latestProbe decides, row by row, where an index scan's walk reads a row
// at asOf: L first, or V only. The walk finds the index entries live at
// asOf in J; their rows are in V, one seek each. A key whose latest
// version is at or before asOf has that version at asOf, and L holds it
// where a head scan reads it: a seek that mostly stays in the block the
// previous one loaded (the keys of one index value come in key order, and
// L holds one entry per key). V holds every version, so the same seeks
// there cross more blocks, and a key changed after asOf sits among keys
// that did not. Measured on the sparse fixture (AS OF commit 2, one key in
// ten changed since, a third of the rows through the index; thread CPU
// per scan, head and AS OF interleaved in one process, shared machine):
// the walk took 38.0-45.5 ms against 18-24 for the head scan; without
// versionAt's copy and key allocation per row, 31.9-38.5; with L first,
// 29.8-37.2 (min-median ranges). What is left over the head scan: the V
// seeks of the keys that did change (a tenth of the rows, but about one
// data block each, since they are spread over the table: ~3 us a row),
// and the walk of J, which holds every index entry each such key ever had
// (about three times the entries of I over the range there). Both are the
// layout's: rows and index entries at asOf of keys changed since are
// stored densely only in a checkpoint at asOf.
// When most keys changed since asOf (the dense fixture), looking in L
// first is a wasted seek per row; so the probe turns L off for
// latestProbeOff rows when more than three in four of a window of
// latestProbeWindow rows missed there (the break-even: an L seek costs
// about a third of a V seek in the walk), and then tries again.
type latestProbe struct {
	mode      int32 // planAuto: adaptive; planWalk: V only; planWalkLatest: L first always
	n, missed int   // rows looked up in L in this window, and misses
	off       int   // rows left to read from V only
}

const (
	latestProbeWindow = 256
	latestProbeOff    = 4096
)

// newLatestProbe returns the probe of one scan, adaptive unless a walk
// plan is forced (tests, benchmarks).
func newLatestProbe() *latestProbe {
	m := asOfPlan.Load()
	if m != planWalk && m != planWalkLatest {
		m = planAuto
	}
	return &latestProbe{mode: m}
}

// try reports whether to look the next row up in L.
func (p *latestProbe) try() bool {
	switch {
	case p.mode != planAuto:
		return p.mode == planWalkLatest
	case p.off > 0:
		p.off--
		return false
	}
	return true
}

// result records whether L had the row at asOf.
func (p *latestProbe) result(hit bool) {
	p.n++
	if !hit {
		p.missed++
	}
	if p.n == latestProbeWindow {
		if 4*p.missed > 3*p.n {
			p.off = latestProbeOff
		}
		p.n, p.missed = 0, 0
	}
}

// estimate returns Pebble's estimate of the on-disk size of [lo, hi).
func (s *Store) estimate(lo, hi []byte) float64 {
	if bytes.Compare(lo, hi) >= 0 {
		return 0
	}
	n, err := s.db.EstimateDiskUsage(lo, hi)
	if err != nil {
		return 0
	}
	return float64(n)
}

// changedKeys is the set of primary keys of one table changed by a commit
// in a range of commits, in key order.
type changedKeys struct {
	keys    []string
	set     map[string]struct{} // built on demand (has)
	entries int                 // change-log entries read
}

func (c *changedKeys) has(pk []byte) bool {
	if c.set == nil {
		c.set = make(map[string]struct{}, len(c.keys))
		for _, k := range c.keys {
			c.set[k] = struct{}{}
		}
	}
	_, ok := c.set[string(pk)]
	return ok
}

// mergeCost is the merge's estimated cost after reading nD change-log
// entries naming nK distinct kept keys.
func mergeCost(head, seekSpace float64, nD, nK int) float64 {
	return head + float64(nD)*mergeChangeBytes + float64(nK)*mergeSeekBytes + min(float64(nK)*mergeBlockBytes, seekSpace)
}

// changedSince reads the change log of table tid for the commits in
// (from, to] in snap and returns the distinct keys it names for which keep
// (nil: all) is true. It returns ok false as soon as cost(entries read,
// keys kept) exceeds limit.
func changedSince(snap *pebble.Snapshot, tid uint32, from, to uint64, keep func(pk []byte) bool, cost func(nD, nK int) float64, limit float64) (*changedKeys, bool, error) {
	dbase := tablePrefix(pChange, tid)
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: u64(append([]byte{}, dbase...), from+1), UpperBound: u64(append([]byte{}, dbase...), to+1)})
	if err != nil {
		return nil, false, fmt.Errorf("canonical: read change log: %w", err)
	}
	defer it.Close()
	out := &changedKeys{}
	var seen map[string]struct{}
	sorted := true // keys appended so far are strictly increasing
	read := 0
	for ok := it.First(); ok; ok = it.Next() {
		read++
		if read&255 == 0 && cost(read, len(out.keys)) > limit {
			return nil, false, nil
		}
		k := it.Key()
		if len(k) < len(dbase)+8 {
			return nil, false, fmt.Errorf("%w: change key", errCorrupt)
		}
		pk := k[len(dbase)+8:]
		if keep != nil && !keep(pk) {
			continue
		}
		if sorted {
			if n := len(out.keys); n == 0 || string(pk) > out.keys[n-1] {
				out.keys = append(out.keys, string(pk))
				continue
			}
			// A second commit's keys: from now on deduplicate.
			sorted = false
			seen = make(map[string]struct{}, 2*len(out.keys))
			for _, k := range out.keys {
				seen[k] = struct{}{}
			}
		}
		if _, dup := seen[string(pk)]; !dup {
			s := string(pk)
			seen[s] = struct{}{}
			out.keys = append(out.keys, s)
		}
	}
	if err := it.Error(); err != nil {
		return nil, false, err
	}
	if cost(read, len(out.keys)) > limit {
		return nil, false, nil
	}
	if !sorted {
		slices.Sort(out.keys)
		out.set = seen
	}
	out.entries = read
	return out, true, nil
}

// mergeBase is what a merge plan reads for the keys unchanged between
// asOf and the base: the head (L, or I for an index) or a checkpoint (K),
// over [lo, hi), with the change log of the commits in (from, to].
type mergeBase struct {
	plan     int32  // planMerge or a checkpoint plan
	cp       uint64 // the checkpoint's commit (checkpoint plans)
	prefix   []byte // the keyspace prefix the base's keys start with
	lo, hi   []byte
	from, to uint64
}

// mergeBases returns the merge bases of an AS OF scan of table tid at asOf
// in view: the head (the keyspace at headPrefix), then the checkpoints
// nearest below and above asOf for which cpPrefix returns a keyspace (ok
// false: the checkpoint cannot serve, e.g. it predates the index). bounds
// maps a keyspace prefix to the scan's range in it.
func mergeBases(view *readView, tid uint32, asOf uint64, headPrefix []byte, cpPrefix func(cp uint64) ([]byte, bool), bounds func([]byte) ([]byte, []byte, error)) ([]*mergeBase, error) {
	b := &mergeBase{plan: planMerge, prefix: headPrefix, from: asOf, to: view.head}
	var err error
	if b.lo, b.hi, err = bounds(headPrefix); err != nil {
		return nil, err
	}
	bases := []*mergeBase{b}
	below, above, err := checkpointNear(view.snap, tid, asOf)
	if err != nil {
		return nil, err
	}
	for _, cp := range []uint64{below, above} {
		prefix, ok := cpPrefix(cp)
		if cp == 0 || !ok {
			continue
		}
		b := &mergeBase{plan: planCheckpointBelow, cp: cp, prefix: prefix, from: cp, to: asOf}
		if cp > asOf {
			b.plan, b.from, b.to = planCheckpointAbove, asOf, cp
		}
		if b.lo, b.hi, err = bounds(prefix); err != nil {
			return nil, err
		}
		bases = append(bases, b)
	}
	return bases, nil
}

// planIndexScan chooses the plan of an AS OF scan of index ix of ts (nil:
// the walk of J) and returns the changed keys of the merge it chose.
func (s *Store) planIndexScan(view *readView, ts *TableSchema, ix int, asOf uint64, bounds func([]byte) ([]byte, []byte, error)) (*mergeBase, *changedKeys, error) {
	jlo, jhi, err := bounds(indexPrefix(pIndexVer, ts.ID, ix))
	if err != nil {
		return nil, nil, err
	}
	cat := s.cat.Load()
	bases, err := mergeBases(view, ts.ID, asOf, indexPrefix(pIndex, ts.ID, ix), func(cp uint64) ([]byte, bool) {
		// Indexes are only appended: ix is the same index at cp if the
		// table had it then.
		cts, ok := cat.atID(ts.ID, cp)
		return checkpointIndexPrefix(ts.ID, cp, ix), ok && len(cts.Indexes) > ix
	}, bounds)
	if err != nil {
		return nil, nil, err
	}
	return s.planScanMerge(view.snap, ts.ID, jlo, jhi, bases, nil)
}

// planScanMerge decides between the walk and the merges for an AS OF scan
// of table tid whose walk reads [histLo, histHi) and returns the base and
// changed keys of the merge it chose (nil for the walk). bases[0] is the
// head. Under planAuto it computes each merge's cost (base size plus the
// change log it must read and the keys it must seek), cheapest first by
// commit distance, each bounded by the cheapest plan so far.
func (s *Store) planScanMerge(snap *pebble.Snapshot, tid uint32, histLo, histHi []byte, bases []*mergeBase, keep func([]byte) bool) (*mergeBase, *changedKeys, error) {
	lastAsOfPlan.Store(planWalk)
	free := func(int, int) float64 { return 0 }
	switch p := asOfPlan.Load(); p {
	case planWalk, planWalkLatest:
		return nil, nil, nil
	case planMerge, planCheckpointBelow, planCheckpointAbove:
		pick := bases[0]
		for _, b := range bases {
			if b.plan == p {
				pick = b
			}
		}
		ch, _, err := changedSince(snap, tid, pick.from, pick.to, keep, free, math.Inf(1))
		if err != nil {
			return nil, nil, err
		}
		lastAsOfPlan.Store(pick.plan)
		return pick, ch, nil
	}
	limit := s.estimate(histLo, histHi)
	seekSpace := limit // a scan's kept keys lie in the walk's range of V
	if keep == nil {
		vbase := tablePrefix(pVersion, tid)
		seekSpace = s.estimate(vbase, prefixEnd(vbase))
	}
	slices.SortStableFunc(bases, func(a, b *mergeBase) int { return cmp.Compare(a.to-a.from, b.to-b.from) })
	var best *mergeBase
	var bestCh *changedKeys
	for _, b := range bases {
		head := s.estimate(b.lo, b.hi)
		if head >= limit {
			continue
		}
		cost := func(nD, nK int) float64 { return mergeCost(head, seekSpace, nD, nK) }
		ch, ok, err := changedSince(snap, tid, b.from, b.to, keep, cost, limit)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			best, bestCh, limit = b, ch, cost(ch.entries, len(ch.keys))
		}
	}
	if best != nil {
		lastAsOfPlan.Store(best.plan)
	}
	return best, bestCh, nil
}

// inRange returns a filter accepting the primary keys pk with base|pk in
// [lo, hi), or nil if that is every key.
func inRange(base, lo, hi []byte) func([]byte) bool {
	if bytes.Equal(lo, base) && bytes.Equal(hi, prefixEnd(base)) {
		return nil
	}
	buf := append([]byte{}, base...)
	return func(pk []byte) bool {
		buf = append(buf[:len(base)], pk...)
		return bytes.Compare(buf, lo) >= 0 && bytes.Compare(buf, hi) < 0
	}
}

// versionRow returns the row bytes of pk's version at asOf, nil if there is
// none or it is a tombstone; valid until it moves. it ranges over the
// table's versioned keyspace; key is versionAt's seek key buffer.
func versionRow(it *pebble.Iterator, key *[]byte, tid uint32, pk []byte, asOf uint64) ([]byte, error) {
	v, _, err := versionAt(it, key, tid, pk, asOf)
	if err != nil || v == nil {
		return nil, err
	}
	del, _, rb, err := decodeVersion(v)
	if err != nil || del {
		return nil, err
	}
	return rb, nil
}

// latestRow returns the row encoding of a latest-keyspace value (commit,
// row).
func latestRow(v []byte) ([]byte, error) {
	_, n := binary.Uvarint(v)
	if n <= 0 {
		return nil, fmt.Errorf("%w: latest value", errCorrupt)
	}
	return v[n:], nil
}

// checkpointRow returns the row encoding of a checkpoint value (the row).
func checkpointRow(v []byte) ([]byte, error) { return v, nil }

// mergeScan is Scan's merge plan: the rows of bit (the base, the head L or
// a checkpoint K, over the scan's bounds; keys start after plen bytes, rowOf
// extracts the row from a value) whose keys are not in ch, and the versions
// at asOf of the keys in ch (already restricted to the bounds), in key
// order.
func mergeScan(bit, vit *pebble.Iterator, plen int, rowOf func([]byte) ([]byte, error), tid uint32, asOf uint64, ch *changedKeys, reverse bool) rowSource {
	started, valid := false, false
	keys := ch.keys
	ci, step := 0, 1
	if reverse {
		ci, step = len(keys)-1, -1
	}
	advance := func() {
		if reverse {
			valid = bit.Prev()
		} else {
			valid = bit.Next()
		}
	}
	var pkBuf, vkey []byte
	// A row returned from the base is its iterator's key and value: the
	// iterator moves on at the next call.
	pending := false
	return func() ([]byte, []byte, bool, error) {
		switch {
		case !started:
			started = true
			if reverse {
				valid = bit.Last()
			} else {
				valid = bit.First()
			}
		case pending:
			pending = false
			advance()
		}
		for {
			var bpk []byte
			if valid {
				bpk = bit.Key()[plen:]
			}
			if ci >= 0 && ci < len(keys) {
				pk := keys[ci]
				c := 0
				if valid {
					switch {
					case pk == string(bpk):
					case (pk < string(bpk)) != reverse:
						c = -1
					default:
						c = 1
					}
				}
				if !valid || c <= 0 {
					ci += step
					if c == 0 && valid {
						advance()
					}
					pkBuf = append(pkBuf[:0], pk...)
					rb, err := versionRow(vit, &vkey, tid, pkBuf, asOf)
					if err != nil {
						return nil, nil, false, err
					}
					if rb == nil {
						continue
					}
					return pkBuf, rb, true, nil
				}
			}
			if !valid {
				return nil, nil, false, bit.Error()
			}
			rb, err := rowOf(bit.Value())
			if err != nil {
				return nil, nil, false, err
			}
			pending = true
			return bpk, rb, true, nil
		}
	}
}

// indexChange is a changed key's index entry (index values | pk) and row at
// asOf.
type indexChange struct {
	entry []byte
	row   []any
}

// indexChanges resolves the changed keys at asOf and returns the index
// entries of those live at asOf whose base|entry lies in [lo, hi), sorted.
func indexChanges(vit *pebble.Iterator, ts *TableSchema, ix int, asOf uint64, ch *changedKeys, base, lo, hi []byte) ([]indexChange, error) {
	var out []indexChange
	buf := append([]byte{}, base...)
	var vkey []byte
	for _, k := range ch.keys {
		pk := []byte(k)
		rb, err := versionRow(vit, &vkey, ts.ID, pk, asOf)
		if err != nil {
			return nil, err
		}
		if rb == nil {
			continue
		}
		row, err := decodeRow(rb)
		if err != nil {
			return nil, err
		}
		row = ts.pad(row)
		e, err := indexEntryKey(ts, ix, row, pk)
		if err != nil {
			return nil, err
		}
		buf = append(buf[:len(base)], e...)
		if bytes.Compare(buf, lo) < 0 || bytes.Compare(buf, hi) >= 0 {
			continue
		}
		out = append(out, indexChange{entry: e, row: row})
	}
	slices.SortFunc(out, func(a, b indexChange) int { return bytes.Compare(a.entry, b.entry) })
	return out, nil
}

// mergeIndex is ScanIndex's merge plan: the entries of iit (the current
// index over the scan's bounds) whose keys are not in ch, each fetched from
// L by fetch, and the changed keys' entries at asOf (ich), in index order.
func mergeIndex(iit *pebble.Iterator, ibase []byte, ncols int, ch *changedKeys, ich []indexChange, reverse bool, fetch func(entry []byte) ([]any, bool, error)) func() ([]any, bool, error) {
	started, valid := false, false
	ci, step := 0, 1
	if reverse {
		ci, step = len(ich)-1, -1
	}
	return func() ([]any, bool, error) {
		for {
			if !started {
				started = true
				if reverse {
					valid = iit.Last()
				} else {
					valid = iit.First()
				}
			}
			var entry []byte
			if valid {
				entry = iit.Key()[len(ibase):]
			}
			if ci >= 0 && ci < len(ich) {
				c := 0
				if valid {
					c = bytes.Compare(ich[ci].entry, entry)
					if reverse {
						c = -c
					}
				}
				// An equal current entry belongs to a changed key: it is
				// skipped below when reached.
				if !valid || c <= 0 {
					row := ich[ci].row
					ci += step
					return row, true, nil
				}
			}
			if !valid {
				return nil, false, iit.Error()
			}
			n, err := skipKeyN(entry, ncols)
			if err != nil {
				return nil, false, err
			}
			skip := ch.has(entry[n:])
			var row []any
			found := false
			if !skip {
				if row, found, err = fetch(entry); err != nil {
					return nil, false, err
				}
			}
			if reverse {
				valid = iit.Prev()
			} else {
				valid = iit.Next()
			}
			if found {
				return row, true, nil
			}
		}
	}
}
