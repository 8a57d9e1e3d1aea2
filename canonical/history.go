package canonical

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"github.com/cockroachdb/pebble/v2"
)

// Iter is a forward iterator over items of type T. Use:
// for it.Next() { it.Item() }; then it.Err() and it.Close().
type Iter[T any] struct {
	ctx   context.Context
	next  func() (T, bool, error)
	close []func() error
	cur   T
	err   error
	done  bool
	n     int
}

// Next advances to the next item.
func (it *Iter[T]) Next() bool {
	if it.done {
		return false
	}
	it.n++
	if it.n&255 == 0 {
		if err := it.ctx.Err(); err != nil {
			it.err, it.done = err, true
			return false
		}
	}
	v, ok, err := it.next()
	if err != nil || !ok {
		var zero T
		it.cur, it.err, it.done = zero, err, true
		return false
	}
	it.cur = v
	return true
}

// Item returns the current item.
func (it *Iter[T]) Item() T { return it.cur }

// Err returns the error that ended iteration, if any.
func (it *Iter[T]) Err() error { return it.err }

// Close releases resources; safe to call twice.
func (it *Iter[T]) Close() error {
	it.done = true
	var first error
	for i := len(it.close) - 1; i >= 0; i-- {
		if err := it.close[i](); err != nil && first == nil {
			first = fmt.Errorf("canonical: close iterator: %w", err)
		}
	}
	it.close = nil
	return first
}

// Collect drains the iterator into a slice and closes it.
func (it *Iter[T]) Collect() ([]T, error) {
	var out []T
	for it.Next() {
		out = append(out, it.Item())
	}
	err := it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return out, err
}

// HistoryEntry is one version of one row (a row of history.<entity>).
type HistoryEntry struct {
	Key []any
	// Row is the row as written by Commit, shaped by the table's current
	// schema; nil when Deleted.
	Row     []any
	Commit  CommitInfo
	Deleted bool
}

// HistoryOptions filter History. FromCommit/ToCommit are inclusive; 0 means
// unbounded.
type HistoryOptions struct {
	Key        []any
	FromCommit uint64
	ToCommit   uint64
}

// versionCtx bundles what the history readers share.
type versionCtx struct {
	s    *Store
	ctx  context.Context
	ts   *TableSchema
	pit  *pebble.Iterator
	snap *pebble.Snapshot
}

func (s *Store) newVersionCtx(ctx context.Context, table string) (*versionCtx, error) {
	ts, err := s.tableAt(table, HEAD)
	if err != nil {
		return nil, err
	}
	snap := s.db.NewSnapshot()
	vbase := tablePrefix(pVersion, ts.ID)
	pit, err := snap.NewIter(&pebble.IterOptions{LowerBound: vbase, UpperBound: prefixEnd(vbase)})
	if err != nil {
		_ = snap.Close()
		return nil, fmt.Errorf("canonical: %s: %w", table, err)
	}
	return &versionCtx{s: s, ctx: ctx, ts: ts, pit: pit, snap: snap}, nil
}

func (v *versionCtx) closers() []func() error { return []func() error{v.snap.Close, v.pit.Close} }

// rowOf decodes a version value into (row padded to the head schema or nil
// if a tombstone, prev commit).
func (v *versionCtx) rowOf(val []byte) ([]any, bool, uint64, error) {
	del, prev, rb, err := decodeVersion(val)
	if err != nil || del {
		return nil, del, prev, err
	}
	row, err := decodeRow(rb)
	if err != nil {
		return nil, false, 0, err
	}
	return v.ts.pad(row), false, prev, nil
}

// exact reads the version of pk written by commit c.
func (v *versionCtx) exact(pk []byte, c uint64) ([]any, bool, uint64, error) {
	val, got, err := versionAt(v.pit, nil, v.ts.ID, pk, c)
	if err != nil {
		return nil, false, 0, err
	}
	if val == nil || got != c {
		return nil, false, 0, fmt.Errorf("%w: table %s: version at commit %d missing", errCorrupt, v.ts.Name, c)
	}
	return v.rowOf(val)
}

// at reads the version of pk visible at commit c (nil if none or deleted).
func (v *versionCtx) at(pk []byte, c uint64) ([]any, error) {
	if c == 0 {
		return nil, nil
	}
	val, _, err := versionAt(v.pit, nil, v.ts.ID, pk, c)
	if err != nil || val == nil {
		return nil, err
	}
	row, _, _, err := v.rowOf(val)
	return row, err
}

func (v *versionCtx) info(id uint64) (CommitInfo, error) {
	if id == 0 {
		return CommitInfo{}, nil
	}
	ci, err := v.s.commitByID(v.ctx, id)
	if err != nil {
		return CommitInfo{}, err
	}
	return *ci, nil
}

func (v *versionCtx) pkOf(key []any) ([]byte, error) {
	if len(key) != len(v.ts.pkIdx) {
		return nil, fmt.Errorf("%w: table %s key has %d columns, got %d", ErrBadValue, v.ts.Name, len(v.ts.pkIdx), len(key))
	}
	nk, err := v.ts.normalizeKey(key)
	if err != nil {
		return nil, err
	}
	return AppendKey(nil, v.ts.pkKinds(), nk)
}

// History iterates every version of table's rows (of one key if opts.Key is
// set) with its commit: Dolt's history table restricted to the commits where
// a row changed, deletions included as Deleted entries. Costs: one key: a
// range read of that key's versions (newest first). All keys without commit
// filter: a sequential read of the table's versioned keyspace (key order,
// newest version first per key). All keys with a commit filter: a range read
// of the change log for those commits (commit order, then key) plus one seek
// per version.
func (s *Store) History(ctx context.Context, table string, opts HistoryOptions) (*Iter[HistoryEntry], error) {
	v, err := s.newVersionCtx(ctx, table)
	if err != nil {
		return nil, err
	}
	from, to := opts.FromCommit, opts.ToCommit
	if from == 0 {
		from = 1
	}
	if to == 0 {
		to = math.MaxUint64
	}
	if from > to {
		_ = v.pit.Close()
		_ = v.snap.Close()
		return nil, fmt.Errorf("canonical: history from commit %d is after to commit %d", from, to)
	}
	out := &Iter[HistoryEntry]{ctx: ctx, close: v.closers()}
	tid := v.ts.ID
	vbase := tablePrefix(pVersion, tid)
	switch {
	case opts.Key != nil || (opts.FromCommit == 0 && opts.ToCommit == 0):
		var lo, hi []byte
		if opts.Key != nil {
			pk, err := v.pkOf(opts.Key)
			if err != nil {
				_ = out.Close()
				return nil, err
			}
			lo, hi = versionKey(tid, pk, to), versionKey(tid, pk, from-1)
		} else {
			lo, hi = vbase, prefixEnd(vbase)
		}
		it, err := v.snap.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			_ = out.Close()
			return nil, fmt.Errorf("canonical: history %s: %w", table, err)
		}
		out.close = append(out.close, it.Close)
		started := false
		out.next = func() (HistoryEntry, bool, error) {
			var ok bool
			if started {
				ok = it.Next()
			} else {
				ok, started = it.First(), true
			}
			if !ok {
				return HistoryEntry{}, false, it.Error()
			}
			k := it.Key()
			c := ^binary.BigEndian.Uint64(k[len(k)-8:])
			key, err := DecodeKey(k[len(vbase) : len(k)-8])
			if err != nil {
				return HistoryEntry{}, false, err
			}
			row, del, _, err := v.rowOf(it.Value())
			if err != nil {
				return HistoryEntry{}, false, err
			}
			ci, err := v.info(c)
			if err != nil {
				return HistoryEntry{}, false, err
			}
			return HistoryEntry{Key: key, Row: row, Commit: ci, Deleted: del}, true, nil
		}
	default:
		dbase := tablePrefix(pChange, tid)
		hi := prefixEnd(dbase)
		if to != math.MaxUint64 {
			hi = u64(append([]byte{}, dbase...), to+1)
		}
		it, err := v.snap.NewIter(&pebble.IterOptions{LowerBound: u64(append([]byte{}, dbase...), from), UpperBound: hi})
		if err != nil {
			_ = out.Close()
			return nil, fmt.Errorf("canonical: history %s: %w", table, err)
		}
		out.close = append(out.close, it.Close)
		started := false
		out.next = func() (HistoryEntry, bool, error) {
			var ok bool
			if started {
				ok = it.Next()
			} else {
				ok, started = it.First(), true
			}
			if !ok {
				return HistoryEntry{}, false, it.Error()
			}
			k := it.Key()
			if len(k) < len(dbase)+8 {
				return HistoryEntry{}, false, fmt.Errorf("%w: change key", errCorrupt)
			}
			c := binary.BigEndian.Uint64(k[len(dbase):])
			pk := append([]byte{}, k[len(dbase)+8:]...)
			key, err := DecodeKey(pk)
			if err != nil {
				return HistoryEntry{}, false, err
			}
			row, del, _, err := v.exact(pk, c)
			if err != nil {
				return HistoryEntry{}, false, err
			}
			ci, err := v.info(c)
			if err != nil {
				return HistoryEntry{}, false, err
			}
			return HistoryEntry{Key: key, Row: row, Commit: ci, Deleted: del}, true, nil
		}
	}
	return out, nil
}

// DiffEntry is one changed row (a row of diff.<entity>): From is the row at
// FromCommit (nil if added), To the row at ToCommit (nil if removed). Rows
// are shaped by the table's current schema.
type DiffEntry struct {
	Key        []any
	From, To   []any
	FromCommit CommitInfo // ID 0: before the first commit
	ToCommit   CommitInfo
	Type       string // DiffAdded, DiffModified or DiffRemoved
}

// DiffOptions select a Diff. ToCommit 0 means head.
type DiffOptions struct {
	FromCommit uint64
	ToCommit   uint64
	Key        []any
	// Net false (Dolt's dolt_diff_<table>): one entry per row change of each
	// commit c in (FromCommit, ToCommit], compared with its parent c-1.
	// Net true (Dolt's dolt_diff(from, to)): one entry per key whose row
	// differs between FromCommit and ToCommit.
	Net bool
}

// Diff iterates the changes to table between two commits (see DiffOptions).
// Costs: adjacent mode reads the table's change log for the commit range
// (one range read) plus two seeks per change; with a Key, the key's versions
// in the range. Net mode additionally holds the set of changed keys in
// memory (O(changed keys)) and reads each key's version at both ends.
func (s *Store) Diff(ctx context.Context, table string, opts DiffOptions) (*Iter[DiffEntry], error) {
	head := s.head.Load().ID
	to := opts.ToCommit
	if to == 0 {
		to = head
	}
	if to > head {
		if err := s.checkAsOf(to); err != nil {
			return nil, err
		}
	}
	if opts.FromCommit > to {
		return nil, fmt.Errorf("canonical: diff from commit %d is after to commit %d", opts.FromCommit, to)
	}
	v, err := s.newVersionCtx(ctx, table)
	if err != nil {
		return nil, err
	}
	out := &Iter[DiffEntry]{ctx: ctx, close: v.closers()}
	tid := v.ts.ID
	var pk []byte
	if opts.Key != nil {
		if pk, err = v.pkOf(opts.Key); err != nil {
			_ = out.Close()
			return nil, err
		}
	}
	mk := func(key []any, from, to []any, fc, tc uint64) (DiffEntry, error) {
		e := DiffEntry{Key: key, From: from, To: to}
		switch {
		case from == nil:
			e.Type = DiffAdded
		case to == nil:
			e.Type = DiffRemoved
		default:
			e.Type = DiffModified
		}
		var err error
		if e.FromCommit, err = v.info(fc); err != nil {
			return e, err
		}
		e.ToCommit, err = v.info(tc)
		return e, err
	}
	if opts.Net {
		var keys [][]byte
		if pk != nil {
			keys = [][]byte{pk}
		} else {
			set := map[string]struct{}{}
			dbase := tablePrefix(pChange, tid)
			it, err := v.snap.NewIter(&pebble.IterOptions{LowerBound: u64(append([]byte{}, dbase...), opts.FromCommit+1), UpperBound: u64(append([]byte{}, dbase...), to+1)})
			if err != nil {
				_ = out.Close()
				return nil, fmt.Errorf("canonical: diff %s: %w", table, err)
			}
			for ok := it.First(); ok; ok = it.Next() {
				set[string(it.Key()[len(dbase)+8:])] = struct{}{}
			}
			if err := it.Close(); err != nil {
				_ = out.Close()
				return nil, fmt.Errorf("canonical: diff %s: %w", table, err)
			}
			for k := range set {
				keys = append(keys, []byte(k))
			}
			sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
		}
		i := 0
		out.next = func() (DiffEntry, bool, error) {
			for i < len(keys) {
				k := keys[i]
				i++
				a, err := v.at(k, opts.FromCommit)
				if err != nil {
					return DiffEntry{}, false, err
				}
				b, err := v.at(k, to)
				if err != nil {
					return DiffEntry{}, false, err
				}
				if a == nil && b == nil {
					continue
				}
				if a != nil && b != nil {
					ea, err1 := encodeRow(nil, v.ts.kinds, a)
					eb, err2 := encodeRow(nil, v.ts.kinds, b)
					if err1 != nil || err2 != nil {
						return DiffEntry{}, false, fmt.Errorf("canonical: diff encode: %v %v", err1, err2)
					}
					if bytes.Equal(ea, eb) {
						continue
					}
				}
				key, err := DecodeKey(k)
				if err != nil {
					return DiffEntry{}, false, err
				}
				e, err := mk(key, a, b, opts.FromCommit, to)
				return e, err == nil, err
			}
			return DiffEntry{}, false, nil
		}
		return out, nil
	}
	if pk != nil {
		// The key's versions in (from, to], oldest first.
		it, err := v.snap.NewIter(&pebble.IterOptions{LowerBound: versionKey(tid, pk, to), UpperBound: versionKey(tid, pk, opts.FromCommit)})
		if err != nil {
			_ = out.Close()
			return nil, fmt.Errorf("canonical: diff %s: %w", table, err)
		}
		out.close = append(out.close, it.Close)
		key, _ := DecodeKey(pk)
		started := false
		out.next = func() (DiffEntry, bool, error) {
			var ok bool
			if started {
				ok = it.Prev()
			} else {
				ok, started = it.Last(), true
			}
			if !ok {
				return DiffEntry{}, false, it.Error()
			}
			k := it.Key()
			c := ^binary.BigEndian.Uint64(k[len(k)-8:])
			row, _, prev, err := v.rowOf(it.Value())
			if err != nil {
				return DiffEntry{}, false, err
			}
			var old []any
			if prev != 0 {
				// A separate lookup: pit is not it.
				if old, _, _, err = v.exact(pk, prev); err != nil {
					return DiffEntry{}, false, err
				}
			}
			e, err := mk(key, old, row, c-1, c)
			return e, err == nil, err
		}
		return out, nil
	}
	dbase := tablePrefix(pChange, tid)
	it, err := v.snap.NewIter(&pebble.IterOptions{LowerBound: u64(append([]byte{}, dbase...), opts.FromCommit+1), UpperBound: u64(append([]byte{}, dbase...), to+1)})
	if err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("canonical: diff %s: %w", table, err)
	}
	out.close = append(out.close, it.Close)
	started := false
	out.next = func() (DiffEntry, bool, error) {
		var ok bool
		if started {
			ok = it.Next()
		} else {
			ok, started = it.First(), true
		}
		if !ok {
			return DiffEntry{}, false, it.Error()
		}
		k := it.Key()
		c := binary.BigEndian.Uint64(k[len(dbase):])
		pk := append([]byte{}, k[len(dbase)+8:]...)
		_, prev, err := decodeChange(it.Value())
		if err != nil {
			return DiffEntry{}, false, err
		}
		row, _, _, err := v.exact(pk, c)
		if err != nil {
			return DiffEntry{}, false, err
		}
		var old []any
		if prev != 0 {
			if old, _, _, err = v.exact(pk, prev); err != nil {
				return DiffEntry{}, false, err
			}
		}
		key, err := DecodeKey(pk)
		if err != nil {
			return DiffEntry{}, false, err
		}
		e, err := mk(key, old, row, c-1, c)
		return e, err == nil, err
	}
	return out, nil
}

func decodeChange(v []byte) (op byte, prev uint64, err error) {
	if len(v) < 2 || v[0] < opAdded || v[0] > opRemoved {
		return 0, 0, fmt.Errorf("%w: change value", errCorrupt)
	}
	prev, n := binary.Uvarint(v[1:])
	if n <= 0 || 1+n != len(v) {
		return 0, 0, fmt.Errorf("%w: change value", errCorrupt)
	}
	return v[0], prev, nil
}

// ChangeRecord is one entry of the change feed: the row of Key in Table
// changed from Old (nil if added) to New (nil if removed) in commit Commit.
// Rows are shaped by the table's schema at that commit.
type ChangeRecord struct {
	Commit uint64
	Table  string
	Key    []any
	Old    []any
	New    []any
	Type   string // DiffAdded, DiffModified or DiffRemoved
}

// Changes iterates the change feed of one commit (for projections), table by
// table (table-ID order), keys in order. Cost: one range read of each changed
// table's change log for that commit plus two seeks per change.
func (s *Store) Changes(ctx context.Context, commitID uint64) (*Iter[ChangeRecord], error) {
	ci, err := s.commitByID(ctx, commitID)
	if err != nil {
		return nil, err
	}
	cat := s.cat.Load()
	snap := s.db.NewSnapshot()
	out := &Iter[ChangeRecord]{ctx: ctx, close: []func() error{snap.Close}}
	ti := -1
	var it, pit *pebble.Iterator
	var ts *TableSchema
	var dbase []byte
	closeCur := func() error {
		var err error
		if it != nil {
			err = it.Close()
			if e := pit.Close(); err == nil {
				err = e
			}
			it, pit = nil, nil
		}
		return err
	}
	out.close = append(out.close, closeCur)
	vc := &versionCtx{s: s, ctx: ctx}
	out.next = func() (ChangeRecord, bool, error) {
		for {
			var ok bool
			if it != nil {
				ok = it.Next()
				if !ok {
					if err := it.Error(); err != nil {
						return ChangeRecord{}, false, err
					}
				}
			}
			if !ok {
				if err := closeCur(); err != nil {
					return ChangeRecord{}, false, err
				}
				ti++
				if ti >= len(ci.tables) {
					return ChangeRecord{}, false, nil
				}
				tid := ci.tables[ti]
				var found bool
				if ts, found = cat.atID(tid, commitID); !found {
					return ChangeRecord{}, false, fmt.Errorf("%w: table %d at commit %d", ErrNoSuchTable, tid, commitID)
				}
				dbase = u64(tablePrefix(pChange, tid), commitID)
				var err error
				if it, err = snap.NewIter(&pebble.IterOptions{LowerBound: dbase, UpperBound: prefixEnd(dbase)}); err != nil {
					return ChangeRecord{}, false, fmt.Errorf("canonical: changes: %w", err)
				}
				vbase := tablePrefix(pVersion, tid)
				if pit, err = snap.NewIter(&pebble.IterOptions{LowerBound: vbase, UpperBound: prefixEnd(vbase)}); err != nil {
					_ = it.Close()
					it = nil
					return ChangeRecord{}, false, fmt.Errorf("canonical: changes: %w", err)
				}
				vc.ts, vc.pit = ts, pit
				if !it.First() {
					if err := it.Error(); err != nil {
						return ChangeRecord{}, false, err
					}
					continue
				}
			}
			pk := append([]byte{}, it.Key()[len(dbase):]...)
			op, prev, err := decodeChange(it.Value())
			if err != nil {
				return ChangeRecord{}, false, err
			}
			rec := ChangeRecord{Commit: commitID, Table: ts.Name, Type: opName(op)}
			if rec.Key, err = DecodeKey(pk); err != nil {
				return ChangeRecord{}, false, err
			}
			if rec.New, _, _, err = vc.exact(pk, commitID); err != nil {
				return ChangeRecord{}, false, err
			}
			if prev != 0 {
				if rec.Old, _, _, err = vc.exact(pk, prev); err != nil {
					return ChangeRecord{}, false, err
				}
			}
			return rec, true, nil
		}
	}
	return out, nil
}
