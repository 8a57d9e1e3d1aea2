package canonical

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Op is the operation of a Change.
type Op uint8

// Change operations.
const (
	OpUpsert Op = iota + 1
	OpDelete
)

// Change is one row operation in a commit. For OpUpsert, Row is the full row
// in the table's current column order; for OpDelete, Row may be the full row
// or just the primary key values (in primary key order).
type Change struct {
	Table string
	Op    Op
	Row   []any
}

// CommitRequest describes a commit. Changes are applied in order; several
// changes to one key within a commit collapse to their net effect.
type CommitRequest struct {
	Committer      string
	Source         string
	Kind           CommitKind
	MappingVersion int64
	Message        string
	// RawFromSeq/RawToSeq name the raw rows this commit was derived from.
	// Left zero, they are filled from the Txn's raw appends when those are
	// all of one source.
	RawFromSeq uint64
	RawToSeq   uint64
	// Schema changes (only with Kind == KindSchema) are applied before Changes.
	Schema  []SchemaChange
	Changes []Change
	// Upserts, if set, are further changes after Changes: one OpUpsert of
	// each of its rows. A bulk load passes its rows so, without a Change
	// per row (48 bytes each: for 1M rows, 46 MB of fresh memory).
	Upserts *Upserts
}

// Upserts are full rows of Table, in its current column order, each
// upserted as an OpUpsert Change would (CommitRequest.Upserts).
type Upserts struct {
	Table string
	Rows  [][]any
}

// changeCount is the number of changes of req: Changes, then Upserts.
func (req *CommitRequest) changeCount() int {
	n := len(req.Changes)
	if req.Upserts != nil {
		n += len(req.Upserts.Rows)
	}
	return n
}

// change returns req's change i (of changeCount).
func (req *CommitRequest) change(i int) Change {
	if i < len(req.Changes) {
		return req.Changes[i]
	}
	return Change{Table: req.Upserts.Table, Op: OpUpsert, Row: req.Upserts.Rows[i-len(req.Changes)]}
}

// CommitResult is what Commit returns.
type CommitResult struct {
	// Commit is the new commit, or the unchanged head when Created is false.
	Commit CommitInfo
	// Created is false when every change was a no-op (an upsert identical to
	// the current row, or a delete of an absent key) and there were no schema
	// changes: then no commit is made (commit ids stay gap-free and retries
	// are idempotent), but raw appends and quarantine records of the same Txn
	// are still written durably.
	Created bool
	// Unchanged counts changes that were no-ops (duplicates), after
	// collapsing repeated changes to one key.
	Unchanged int
}

// Diff types (Dolt's dolt_diff diff_type values).
const (
	DiffAdded    = "added"
	DiffModified = "modified"
	DiffRemoved  = "removed"
)

// Txn is an open write transaction. It holds the store's single writer lock
// from Begin until Commit or Rollback, so commits serialize: commit ids are
// assigned, validated and applied one at a time. Reads never take this lock.
// A Txn is not safe for concurrent use.
type Txn struct {
	s    *Store
	done bool
	now  time.Time

	rawNext  map[string]uint64 // last seq assigned per source in this txn
	raws     []rawRun
	rawRows  int // rows in raws
	quarNext uint64
	quars    []QuarantineRecord
	quarKeys map[string]uint64
	scratch  []byte
	cur      []curEntry // head rows read by Current, reused by Commit
}

// Begin starts a write transaction, waiting for the writer lock (or ctx).
func (s *Store) Begin(ctx context.Context) (*Txn, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	select {
	case s.wsem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("canonical: waiting for writer lock: %w", ctx.Err())
	}
	if s.closed.Load() {
		<-s.wsem
		return nil, ErrClosed
	}
	return &Txn{s: s, now: s.clock(), rawNext: map[string]uint64{}, quarNext: s.lastQuar, quarKeys: map[string]uint64{}}, nil
}

// Rollback abandons the transaction (nothing is written). It is a no-op after
// Commit.
func (t *Txn) Rollback() {
	if !t.done {
		t.done = true
		<-t.s.wsem
	}
}

// Commit applies req as one commit (see Txn.Commit) in its own transaction.
func (s *Store) Commit(ctx context.Context, req CommitRequest) (CommitResult, error) {
	t, err := s.Begin(ctx)
	if err != nil {
		return CommitResult{}, err
	}
	return t.Commit(ctx, req)
}

// pend is one key a commit changes: its row encodings before and after.
// A commit has one per change (1M for a 1M-row load), so the decoded rows,
// which only index maintenance needs, are kept apart (rows, nil for a
// table without indexes).
type pend struct {
	ts        *TableSchema
	pk        []byte
	oldEnc    []byte
	newEnc    []byte
	oldCommit uint64
	rows      *pendRows
	oldExists bool
	newExists bool
}

// pendRows are the decoded old and new rows of a pend.
type pendRows struct{ old, new []any }

type change struct {
	*pend
	op byte // diff op: 1 added, 2 modified, 3 removed
}

const (
	opAdded    = 1
	opModified = 2
	opRemoved  = 3
)

func opName(op byte) string {
	switch op {
	case opAdded:
		return DiffAdded
	case opModified:
		return DiffModified
	case opRemoved:
		return DiffRemoved
	}
	return "?"
}

// Commit validates req, and writes it, the Txn's raw appends and quarantine
// records in ONE Pebble batch applied with pebble.Sync -- or, for a data
// commit of Options.CommitSSTableBytes or more, in sstables applied by ONE
// Ingest (commitsst.go): on return without error everything is durable,
// and a crash never leaves one part without the others. The new head is
// published to readers only after the batch or Ingest is applied. The Txn
// is finished afterwards whatever the outcome.
func (t *Txn) Commit(ctx context.Context, req CommitRequest) (CommitResult, error) {
	if t.done {
		return CommitResult{}, ErrTxnDone
	}
	defer t.Rollback()
	s := t.s
	if err := ctx.Err(); err != nil {
		return CommitResult{}, err
	}
	if !req.Kind.valid() {
		return CommitResult{}, fmt.Errorf("canonical: bad commit kind %q", req.Kind)
	}
	if len(req.Schema) > 0 && req.Kind != KindSchema {
		return CommitResult{}, fmt.Errorf("canonical: schema changes need a commit of kind %q", KindSchema)
	}
	head := s.head.Load()
	id := head.ID + 1
	oldCat := s.cat.Load()
	cat := oldCat
	var schemaTables []uint32
	var schemaVals = map[uint32][]byte{}
	backfill := map[uint32]int{} // table id -> first index the commit added
	if len(req.Schema) > 0 {
		cat = oldCat.clone()
		for i, sc := range req.Schema {
			if sc.AddIndex != nil {
				if cur, ok := cat.head(sc.AddIndex.Table); ok {
					if _, seen := backfill[cur.ID]; !seen {
						backfill[cur.ID] = len(cur.Indexes)
					}
				}
			}
			ts, err := applySchemaChange(cat, sc, id)
			if err != nil {
				return CommitResult{}, fmt.Errorf("canonical: schema change %d: %w", i, err)
			}
			b, err := ts.marshal()
			if err != nil {
				return CommitResult{}, err
			}
			if _, dup := schemaVals[ts.ID]; !dup {
				schemaTables = append(schemaTables, ts.ID)
			}
			schemaVals[ts.ID] = b
		}
		sort.Slice(schemaTables, func(i, j int) bool { return schemaTables[i] < schemaTables[j] })
	}

	// Collapse changes per key and compare with the current rows. Each
	// change is validated and its key and row encoded (preparePends); a
	// large commit does that on two goroutines, each over its own half of
	// the changes.
	nchanges := req.changeCount()
	pends := make([]pend, nchanges)
	if err := preparePends(&req, cat, pends, parallelStage); err != nil {
		return CommitResult{}, err
	}
	// Key order (table id, then key); of several changes to one key the
	// last one is its net effect.
	sorted := make([]int32, len(pends))
	for i := range sorted {
		sorted[i] = int32(i)
	}
	slices.SortFunc(sorted, func(a, b int32) int {
		pa, pb := &pends[a], &pends[b]
		if pa.ts.ID != pb.ts.ID {
			return cmp.Compare(pa.ts.ID, pb.ts.ID)
		}
		if c := bytes.Compare(pa.pk, pb.pk); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	order := make([]*pend, 0, len(sorted))
	for n, i := range sorted {
		if n+1 < len(sorted) {
			next := &pends[sorted[n+1]]
			if next.ts.ID == pends[i].ts.ID && bytes.Equal(next.pk, pends[i].pk) {
				continue
			}
		}
		order = append(order, &pends[i])
	}
	// Read the current rows of all touched keys in key order: those that
	// Current already read in this Txn are taken from it, the others
	// through one iterator (forward seeks are cheaper than independent
	// point reads). A schema commit reads everything afresh.
	if len(order) > 0 {
		cache := t.cur
		if len(req.Schema) > 0 {
			cache = nil
		}
		slices.SortFunc(cache, func(a, b curEntry) int { return cmpCur(&a, &b) })
		var lit *pebble.Iterator
		var lk []byte
		lvalid, positioned := false, false
		ci := 0
		for _, p := range order {
			for ci < len(cache) && (cache[ci].ts.ID < p.ts.ID || (cache[ci].ts.ID == p.ts.ID && cache[ci].pk < string(p.pk))) {
				ci++
			}
			if ci < len(cache) && cache[ci].ts == p.ts && cache[ci].pk == string(p.pk) {
				if e := cache[ci].old; e != nil {
					p.oldExists, p.oldCommit, p.oldEnc = true, e.commit, e.enc
					if p.rows != nil {
						p.rows.old = e.row
					}
				}
				continue
			}
			if lit == nil {
				var err error
				if lit, err = s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pLatest}, UpperBound: []byte{pLatest + 1}}); err != nil {
					return CommitResult{}, fmt.Errorf("canonical: read current rows: %w", err)
				}
			}
			// Keys ascend: when the iterator already rests past this key
			// (or is exhausted), the key has no row and needs no seek (a
			// load of new keys seeks once).
			lk = append(append(lk[:0], pLatest), 0, 0, 0, 0)
			binary.BigEndian.PutUint32(lk[1:], p.ts.ID)
			lk = append(lk, p.pk...)
			if positioned && (!lvalid || bytes.Compare(lit.Key(), lk) > 0) {
				continue
			}
			lvalid, positioned = lit.SeekGE(lk), true
			if err := loadCurrent(lit, lvalid, lk, p); err != nil {
				_ = lit.Close()
				return CommitResult{}, err
			}
		}
		if lit != nil {
			if err := closeIter(lit); err != nil {
				return CommitResult{}, err
			}
		}
	}
	changes := make([]change, 0, len(order))
	unchanged := 0
	ci := &CommitInfo{ID: id, ParentHash: head.Hash, Committer: req.Committer, Source: req.Source,
		Kind: req.Kind, MappingVersion: req.MappingVersion, Message: req.Message,
		RawFromSeq: req.RawFromSeq, RawToSeq: req.RawToSeq, schemaTables: schemaTables}
	for _, p := range order {
		var op byte
		switch {
		case !p.oldExists && !p.newExists:
		case !p.oldExists:
			op = opAdded
			ci.RowsAdded++
		case !p.newExists:
			op = opRemoved
			ci.RowsRemoved++
		case !bytes.Equal(p.oldEnc, p.newEnc):
			op = opModified
			ci.RowsModified++
		}
		if op == 0 {
			unchanged++
			continue
		}
		changes = append(changes, change{pend: p, op: op})
		if n := len(ci.tables); n == 0 || ci.tables[n-1] != p.ts.ID {
			ci.tables = append(ci.tables, p.ts.ID)
		}
	}
	if ci.RawFromSeq == 0 && ci.RawToSeq == 0 && len(t.raws) > 0 {
		src := t.raws[0].source
		one := true
		for _, r := range t.raws {
			one = one && r.source == src
		}
		if one {
			lr := &t.raws[len(t.raws)-1]
			ci.RawFromSeq, ci.RawToSeq = t.raws[0].from, lr.from+uint64(lr.n)-1
		}
	}

	if len(changes) > 0 || len(schemaTables) > 0 {
		at := s.clock().UTC().Truncate(time.Microsecond)
		if at.Before(head.CommittedAt) {
			at = head.CommittedAt
		}
		ci.CommittedAt = at
	}

	size := t.batchSize(changes)
	if len(schemaTables) == 0 && t.useSSTables(size) {
		// A large data commit: sstables and one Ingest (commitsst.go).
		cip := ci
		if len(changes) == 0 {
			cip = nil // raw rows and quarantine records only
		}
		err := t.ingestCommit(ctx, id, changes, cip)
		switch {
		case err == nil && cip == nil:
			t.publishCounters()
			return CommitResult{Commit: *head, Created: false, Unchanged: unchanged}, nil
		case err == nil:
			return t.published(ci, cat, unchanged), nil
		case !errors.Is(err, errUnsorted):
			return CommitResult{}, fmt.Errorf("canonical: commit %d: %w", id, err)
		}
		s.log.Warn().Uint64("commit_id", id).Msg("commit keys out of order for sstables; applying a batch")
	}

	var b *pebble.Batch
	if len(changes) > 0 && len(schemaTables) == 0 && t.stageInParallel(changes) {
		b = s.db.NewBatch() // stageChanges sets its representation
	} else {
		b = s.db.NewBatchWithSize(size)
	}
	defer b.Close()
	if len(changes) == 0 && len(schemaTables) == 0 {
		if err := t.writeRawAndQuarantine(b); err != nil {
			return CommitResult{}, err
		}
		if b.Count() > 0 {
			if err := s.db.Apply(b, pebble.Sync); err != nil {
				return CommitResult{}, fmt.Errorf("canonical: write raw/quarantine: %w", err)
			}
			t.publishCounters()
		}
		return CommitResult{Commit: *head, Created: false, Unchanged: unchanged}, nil
	}

	// Content: schema records and changes, hashed in one order.
	h := newCommitHasher(ci)
	if len(schemaTables) > 0 {
		// A schema commit: schema records, index backfills, then the
		// changes (whose index entries must come after the backfill's).
		if err := t.writeRawAndQuarantine(b); err != nil {
			return CommitResult{}, err
		}
		for _, tid := range schemaTables {
			v := schemaVals[tid]
			hashSchema(h, tid, v)
			if err := b.Set(schemaKey(tid, id), v, nil); err != nil {
				return CommitResult{}, err
			}
		}
		if err := s.backfillIndexes(b, cat, backfill, id); err != nil {
			return CommitResult{}, err
		}
		ch := changeHasher{h: h}
		for _, c := range changes {
			vv, dv := ch.add(c)
			for _, part := range changeParts {
				if err := writeChange(b, &t.scratch, id, c, vv, dv, part); err != nil {
					return CommitResult{}, err
				}
			}
		}
	} else if err := t.stageChanges(b, h, id, changes); err != nil {
		return CommitResult{}, err
	}
	copy(ci.Hash[:], h.Sum(nil))
	if err := writeCommitRecord(b, ci); err != nil {
		return CommitResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return CommitResult{}, err
	}
	// Schemas become visible before the data: a reader that sees the new
	// commit must find its schema. Readers at older commits are unaffected
	// (schema lookups filter by SinceCommit).
	if cat != oldCat {
		s.cat.Store(cat)
	}
	if err := s.db.Apply(b, pebble.Sync); err != nil {
		s.cat.Store(oldCat)
		return CommitResult{}, fmt.Errorf("canonical: apply commit %d: %w", id, err)
	}
	return t.published(ci, cat, unchanged), nil
}

// preparePends fills pends (one per change of req) with each change's
// table, encoded key and, for an upsert, encoded row, normalizing and
// checking the values. From parallelAt changes on, with two processors
// and two CPUs, the changes are split in two halves prepared at once:
// the work is per change, the halves share only read-only schemas, and on
// a large load it is a serial step between the COPY's last byte and the
// commit. Of several bad changes, the error is always the first one's.
func preparePends(req *CommitRequest, cat *catalogState, pends []pend, parallelAt int) error {
	fill := func(lo, hi int) error { return (&pendFiller{req: req, cat: cat, pends: pends}).fill(lo, hi) }
	n := len(pends)
	if n < parallelAt || runtime.GOMAXPROCS(0) < 2 || runtime.NumCPU() < 2 {
		return fill(0, n)
	}
	half := n / 2
	errc := make(chan error, 1)
	go func() { errc <- fill(half, n) }()
	err := fill(0, half)
	if herr := <-errc; err == nil {
		err = herr
	}
	return err
}

// pendFiller prepares a range of a commit's pends. Keys and row
// encodings go to one arena, rows to one slab: a commit of many rows
// allocates per commit (per half), not per row.
type pendFiller struct {
	req       *CommitRequest
	cat       *catalogState
	pends     []pend
	arena     []byte
	slab      []any
	keyBuf    []any
	lastTS    *TableSchema
	lastKinds []Kind
}

// fill prepares pends[lo:hi].
func (f *pendFiller) fill(lo, hi int) error {
	for i := lo; i < hi; i++ {
		c := f.req.change(i)
		ts := f.lastTS
		if ts == nil || ts.Name != c.Table {
			var ok bool
			if ts, ok = f.cat.head(c.Table); !ok {
				return fmt.Errorf("change %d: %w: %s", i, ErrNoSuchTable, c.Table)
			}
			f.lastTS, f.lastKinds = ts, ts.pkKinds()
		}
		var row, key []any
		var err error
		switch c.Op {
		case OpUpsert:
			if ts.normalRow(c.Row) {
				// Already normalized (the pipeline's rows are): used as it
				// is (a commit only reads it) rather than copied.
				row = c.Row
			} else {
				if len(f.slab) < len(ts.Columns) {
					f.slab = make([]any, len(ts.Columns)*max(1, min(hi-i, 1024)))
				}
				dst := f.slab[:len(ts.Columns):len(ts.Columns)]
				if row, err = ts.normalizeRowInto(dst, c.Row); err != nil {
					return fmt.Errorf("change %d: %w", i, err)
				}
				f.slab = f.slab[len(ts.Columns):]
			}
			f.keyBuf = f.keyBuf[:0]
			for _, j := range ts.pkIdx {
				f.keyBuf = append(f.keyBuf, row[j])
			}
			key = f.keyBuf
		case OpDelete:
			key = c.Row
			if len(c.Row) == len(ts.Columns) && len(ts.Columns) != len(ts.pkIdx) {
				key = ts.KeyOf(c.Row)
			}
			if len(key) != len(ts.pkIdx) {
				return fmt.Errorf("change %d: %w: delete needs the full row or the %d key values", i, ErrBadValue, len(ts.pkIdx))
			}
			if key, err = ts.normalizeKey(key); err != nil {
				return fmt.Errorf("change %d: %w", i, err)
			}
		default:
			return fmt.Errorf("change %d: bad op %d", i, c.Op)
		}
		for j, v := range key {
			if v == nil {
				return fmt.Errorf("change %d: %w: primary key column %s is NULL", i, ErrBadValue, ts.PrimaryKey[j])
			}
		}
		at := len(f.arena)
		if f.arena, err = AppendKey(f.arena, f.lastKinds, key); err != nil {
			return fmt.Errorf("change %d: %w", i, err)
		}
		p := &f.pends[i]
		*p = pend{ts: ts, pk: f.arena[at:len(f.arena):len(f.arena)]}
		if len(ts.Indexes) > 0 {
			p.rows = &pendRows{}
		}
		if c.Op == OpUpsert {
			at = len(f.arena)
			if f.arena, err = encodeRow(f.arena, ts.kinds, row); err != nil {
				return fmt.Errorf("change %d: %w", i, err)
			}
			p.newExists, p.newEnc = true, f.arena[at:len(f.arena):len(f.arena)]
			if p.rows != nil {
				p.rows.new = row
			}
		}
		if i == lo && hi-lo > 1 {
			// Room for the other changes, guessed from the first.
			f.arena = growFresh(f.arena, (len(f.arena)+16)*(hi-lo-1)*5/4)
		}
	}
	return nil
}

// published makes commit ci, just made durable, the head readers see and
// returns Commit's result.
func (t *Txn) published(ci *CommitInfo, cat *catalogState, unchanged int) CommitResult {
	s := t.s
	s.fillNames(ci, cat)
	s.cacheInfo(ci)
	s.head.Store(ci)
	s.ckpt.kick()
	t.publishCounters()
	s.log.Debug().Uint64("commit_id", ci.ID).Str("kind", string(ci.Kind)).Int64("added", ci.RowsAdded).
		Int64("modified", ci.RowsModified).Int64("removed", ci.RowsRemoved).Msg("commit")
	return CommitResult{Commit: *ci, Created: true, Unchanged: unchanged}
}

func applySchemaChange(cat *catalogState, sc SchemaChange, id uint64) (*TableSchema, error) {
	n := 0
	for _, set := range []bool{sc.CreateTable != nil, sc.AddColumn != nil, sc.AddIndex != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%w: a schema change needs exactly one of CreateTable, AddColumn, AddIndex", ErrSchema)
	}
	switch {
	case sc.AddIndex != nil:
		cur, ok := cat.head(sc.AddIndex.Table)
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNoSuchTable, sc.AddIndex.Table)
		}
		ts := cur.clone()
		ix := sc.AddIndex.Index
		ts.Indexes = append(ts.Indexes, Index{Name: ix.Name, Columns: append([]string(nil), ix.Columns...)})
		ts.SinceCommit = id
		if err := ts.prepare(); err != nil {
			return nil, err
		}
		cat.replaceHead(ts, id)
		return ts, nil
	case sc.CreateTable != nil:
		ts := sc.CreateTable.clone()
		if _, exists := cat.byName[ts.Name]; exists {
			return nil, fmt.Errorf("%w: table %s already exists", ErrSchema, ts.Name)
		}
		ts.ID = cat.nextID
		ts.SinceCommit = id
		if err := ts.prepare(); err != nil {
			return nil, err
		}
		cat.nextID++
		cat.byName[ts.Name] = ts.ID
		cat.history[ts.ID] = []*TableSchema{ts}
		return ts, nil
	default: // AddColumn
		cur, ok := cat.head(sc.AddColumn.Table)
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNoSuchTable, sc.AddColumn.Table)
		}
		col := sc.AddColumn.Column
		if col.Default == nil && !col.Nullable {
			return nil, fmt.Errorf("%w: ADD COLUMN %s.%s: a NOT NULL column needs a default", ErrSchema, cur.Name, col.Name)
		}
		ts := cur.clone()
		ts.Columns = append(ts.Columns, col)
		ts.SinceCommit = id
		if err := ts.prepare(); err != nil {
			return nil, err
		}
		cat.replaceHead(ts, id)
		return ts, nil
	}
}

// backfillIndexes writes the entries of the indexes a schema commit added
// (positions from[tid] onward of table tid's new schema) for every current
// row of the table: the current-index entry and a versioned entry at the
// commit. It runs before the commit's own changes are written to the same
// batch, so a row the commit also changes ends with the change's entries.
func (s *Store) backfillIndexes(b *pebble.Batch, cat *catalogState, from map[uint32]int, id uint64) error {
	for tid, first := range from {
		ts := cat.byID(tid)
		prefix := tablePrefix(pLatest, tid)
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: tablePrefix(pLatest, tid+1)})
		if err != nil {
			return fmt.Errorf("canonical: backfill indexes of %s: %w", ts.Name, err)
		}
		for ok := it.First(); ok; ok = it.Next() {
			v, err := it.ValueAndErr()
			if err != nil {
				_ = it.Close()
				return fmt.Errorf("canonical: backfill indexes of %s: %w", ts.Name, err)
			}
			_, n := binary.Uvarint(v)
			if n <= 0 {
				_ = it.Close()
				return fmt.Errorf("%w: latest value", errCorrupt)
			}
			row, err := decodeRow(v[n:])
			if err != nil {
				_ = it.Close()
				return err
			}
			row = ts.pad(row)
			pk := it.Key()[len(prefix):]
			for i := first; i < len(ts.Indexes); i++ {
				ik, err := indexEntryKey(ts, i, row, pk)
				if err != nil {
					_ = it.Close()
					return err
				}
				if err := b.Set(append(indexPrefix(pIndex, tid, i), ik...), nil, nil); err != nil {
					_ = it.Close()
					return err
				}
				if err := b.Set(u64(append(indexPrefix(pIndexVer, tid, i), ik...), ^id), []byte{1}, nil); err != nil {
					_ = it.Close()
					return err
				}
			}
		}
		if err := closeIter(it); err != nil {
			return fmt.Errorf("canonical: backfill indexes of %s: %w", ts.Name, err)
		}
	}
	return nil
}

// loadCurrent reads the current (latest) row of p's key k from it (an
// iterator over the latest keyspace, just sought to k: valid is what
// SeekGE returned). The old row is decoded only when index maintenance or
// padding needs it.
func loadCurrent(it *pebble.Iterator, valid bool, k []byte, p *pend) error {
	if !valid {
		return it.Error()
	}
	if !bytes.Equal(it.Key(), k) {
		return nil
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return fmt.Errorf("canonical: read current row: %w", err)
	}
	c, n := binary.Uvarint(v)
	if n <= 0 {
		return fmt.Errorf("%w: latest value", errCorrupt)
	}
	p.oldExists, p.oldCommit = true, c
	enc := v[n:]
	ncols, m := binary.Uvarint(enc)
	if m <= 0 {
		return fmt.Errorf("%w: latest row", errCorrupt)
	}
	if len(p.ts.Indexes) == 0 && ncols == uint64(len(p.ts.Columns)) {
		p.oldEnc = append([]byte{}, enc...)
		return nil
	}
	row, err := decodeRow(enc)
	if err != nil {
		return err
	}
	old := p.ts.pad(row)
	if p.rows != nil {
		p.rows.old = old
	}
	if len(row) == len(p.ts.Columns) {
		p.oldEnc = append([]byte{}, enc...)
	} else if p.oldEnc, err = encodeRow(nil, p.ts.kinds, old); err != nil {
		return err
	}
	return nil
}

// changeParts are the keyspaces a change writes, in key order: change
// log, current index entries, versioned index entries, latest row,
// version.
var changeParts = []byte{pChange, pIndex, pIndexVer, pLatest, pVersion}

// writeChange stages the part (one of changeParts) of change c of commit
// id: its version (value vval), its change-log entry (dval), its latest
// row, or its current or versioned index entries. Keys are built in
// *scratch.
func writeChange(b batchWriter, scratch *[]byte, id uint64, c change, vval, dval []byte, part byte) error {
	// The batch copies keys and values, so one scratch buffer serves every
	// key.
	tid := c.ts.ID
	k := (*scratch)[:0]
	defer func() { *scratch = k }()
	switch part {
	case pVersion:
		k = append(k, pVersion)
		k = binary.BigEndian.AppendUint32(k, tid)
		k = append(k, c.pk...)
		k = binary.BigEndian.AppendUint64(k, ^id)
		return b.Set(k, vval, nil)
	case pChange:
		k = append(k, pChange)
		k = binary.BigEndian.AppendUint32(k, tid)
		k = binary.BigEndian.AppendUint64(k, id)
		k = append(k, c.pk...)
		return b.Set(k, dval, nil)
	case pLatest:
		k = append(k, pLatest)
		k = binary.BigEndian.AppendUint32(k, tid)
		k = append(k, c.pk...)
		if c.newExists {
			n := len(k)
			k = binary.AppendUvarint(k, id)
			k = append(k, c.newEnc...)
			return b.Set(k[:n], k[n:], nil)
		}
		return b.Delete(k, nil)
	}
	for i := range c.ts.Indexes {
		var oldIK, newIK []byte
		var err error
		if c.oldExists {
			if oldIK, err = indexEntryKey(c.ts, i, c.rows.old, c.pk); err != nil {
				return err
			}
		}
		if c.newExists {
			if newIK, err = indexEntryKey(c.ts, i, c.rows.new, c.pk); err != nil {
				return err
			}
		}
		if bytes.Equal(oldIK, newIK) {
			continue
		}
		if part == pIndex {
			if oldIK != nil {
				if err := b.Delete(append(indexPrefix(pIndex, tid, i), oldIK...), nil); err != nil {
					return err
				}
			}
			if newIK != nil {
				if err := b.Set(append(indexPrefix(pIndex, tid, i), newIK...), nil, nil); err != nil {
					return err
				}
			}
			continue
		}
		if oldIK != nil {
			if err := b.Set(u64(append(indexPrefix(pIndexVer, tid, i), oldIK...), ^id), []byte{0}, nil); err != nil {
				return err
			}
		}
		if newIK != nil {
			if err := b.Set(u64(append(indexPrefix(pIndexVer, tid, i), newIK...), ^id), []byte{1}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeCommitRecord stages commit ci's record (C|id) and hash entry
// (H|hash -> id), once its hash is computed.
func writeCommitRecord(b batchWriter, ci *CommitInfo) error {
	if err := b.Set(commitKey(ci.ID), encodeCommit(ci), nil); err != nil {
		return err
	}
	return b.Set(append([]byte{pHash}, ci.Hash[:]...), u64(nil, ci.ID), nil)
}

// indexEntryKey is the encoded index values followed by the primary key.
func indexEntryKey(ts *TableSchema, i int, row []any, pk []byte) ([]byte, error) {
	cols := ts.idxIdx[i]
	vals := make([]any, len(cols))
	kinds := make([]Kind, len(cols))
	for j, c := range cols {
		vals[j], kinds[j] = row[c], ts.kinds[c]
	}
	b, err := AppendKey(nil, kinds, vals)
	if err != nil {
		return nil, err
	}
	return append(b, pk...), nil
}

// ---- hashing ----

// The commit hash is SHA-256 over: a domain tag, the parent hash, the
// canonical metadata encoding (metaBytes), then for each schema-changed table
// in ID order 'S', table id, stored schema bytes; then for each changed table
// in ID order 'T', table id, and for each changed key in key order the key,
// the change-log value and the version value (length-prefixed). Verify
// recomputes exactly this stream from the stored records.
func newCommitHasher(ci *CommitInfo) hash.Hash {
	h := sha256.New()
	h.Write([]byte("dualgate/commit/v1\x00"))
	h.Write(ci.ParentHash[:])
	m := metaBytes(ci)
	h.Write(binary.AppendUvarint(nil, uint64(len(m))))
	h.Write(m)
	return h
}

func hashSchema(h hash.Hash, tid uint32, v []byte) {
	e := &enc{b: []byte{'S'}}
	e.uv(uint64(tid))
	e.raw(v)
	h.Write(e.b)
}

func hashTable(h hash.Hash, tid uint32) {
	e := &enc{b: []byte{'T'}}
	e.uv(uint64(tid))
	h.Write(e.b)
}

// changeHasher hashes a commit's changes, in order, into its hash: a
// table marker where the table changes, then each change's key, change-log
// value and version value. Both commit paths (serial in Commit, parallel
// in stageHistory) hash through it, so their hashes cannot drift apart.
type changeHasher struct {
	h          hash.Hash
	curT       uint32
	vv, dv, hb []byte
}

// add hashes c and returns its version and change-log values (valid until
// the next add).
func (ch *changeHasher) add(c change) (vv, dv []byte) {
	if c.ts.ID != ch.curT {
		ch.curT = c.ts.ID
		hashTable(ch.h, ch.curT)
	}
	ch.vv, ch.dv = appendVersionValue(ch.vv[:0], c), appendChangeValue(ch.dv[:0], c)
	ch.hb = appendHashChange(ch.hb[:0], c.pk, ch.dv, ch.vv)
	ch.h.Write(ch.hb)
	return ch.vv, ch.dv
}

func hashChange(h hash.Hash, pk, dval, vval []byte) {
	h.Write(appendHashChange(nil, pk, dval, vval))
}

// appendHashChange appends what hashChange hashes for one change.
func appendHashChange(b, pk, dval, vval []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(pk)))
	b = append(b, pk...)
	b = binary.AppendUvarint(b, uint64(len(dval)))
	b = append(b, dval...)
	b = binary.AppendUvarint(b, uint64(len(vval)))
	return append(b, vval...)
}

// batchSize estimates the bytes of the Pebble batch of a commit (raw rows,
// quarantine records and changes), so it is allocated once rather than
// grown and copied while a large ingest is staged.
func (t *Txn) batchSize(changes []change) int {
	n := 4096
	for _, r := range t.raws {
		n += len(r.recs)
	}
	n += len(t.quars) * 256
	for _, c := range changes {
		n += 3*len(c.pk) + 2*len(c.newEnc) + 96 + len(c.ts.Indexes)*(4*len(c.pk)+64)
	}
	return n
}

// growFresh is slices.Grow for a buffer sized by an estimate, without
// clearing the room it adds: a large allocation comes from the OS already
// zeroed, and slices.Grow writing zeros over it would touch (page-fault
// in) every page of the room, the estimate's unused tail too. Fresh pages
// are the dominant cost of a large ingest on a VM, so only what is written
// is touched.
func growFresh(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}
