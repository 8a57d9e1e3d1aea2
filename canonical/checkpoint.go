package canonical

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// Checkpoints: a table's rows as of a commit, in key order.
//
// A scan AS OF an old commit c of a table whose keys were rewritten many
// times since c reads, walking the versioned keyspace, every version newer
// than c (ten times a head scan after ten versions per key); merging the
// head with the change log after c seeks once per changed key, which is no
// cheaper when most keys changed. A checkpoint makes such a scan read about
// what a head scan reads: K|tid|cp|pk -> row (the row encoding of the key's
// version at cp) holds the table's live rows as of commit cp, so a scan AS
// OF c reads the nearest checkpoint (below or above c) and resolves only the
// keys the change log names between the checkpoint and c, with one seek
// each (the merge plan of asof.go, with the checkpoint in place of the head).
//
// When: a background goroutine (the checkpointer) follows the change log
// of each table; when the rows modified or removed since the table's last
// checkpoint reach checkpointFraction of its live rows (and at least
// minCheckpointChanges), it writes a checkpoint as of the commit before
// the one where the count crossed: the newest state that much history has
// piled up on (the state after it is served by the next checkpoint or the
// head). Only modifications and removals count: they are what puts old
// versions in the way of a walk (a key added after c costs a walk AS OF c
// one entry, as it costs a head scan), so tables that only grow -- bulk
// loads, append-style ingest -- are never checkpointed. A checkpoint costs
// one copy of the live rows per checkpointFraction*live rows modified, so
// disk stays a constant factor (at most 1/checkpointFraction rows) per
// changed row amortised: O(changed rows). A table whose every row is
// rewritten by every commit gets a checkpoint per commit. The commit path
// only wakes the goroutine; a small commit never pays for a checkpoint,
// and a large one does not wait for it.
//
// Crash safety: the rows are written as an sstable that is ingested
// (durable once Ingest returns), the index entries in NoSync batches,
// then a marker P|tid|^cp -> live rows with pebble.Sync. Readers use a
// checkpoint only through its marker, read from their snapshot: a marker in the snapshot
// means every row batch before it is in it too (one WAL, applied in
// order; a synced record makes the records before it durable). Rows of a
// checkpoint whose marker never made it (a crash or Close while writing)
// are deleted when the store is opened. Checkpoints are derived data,
// outside the hash chain, like the latest keyspace.
//
// Compatibility: the K, N and P keyspaces are additive and need no format
// version of their own. A store written before them has no checkpoint,
// reads as before (walk or head merge), and gets its checkpoints written in
// the background after it is opened (TestCheckpointer); older code reading
// a store with checkpoints never looks at them, and its commits only
// extend the change log the checkpointer reads on the next open (a
// checkpoint is immutable: the state as of its commit).

const (
	// defaultCheckpointFraction is Options.CheckpointFraction's default:
	// a checkpoint after as many modified rows as the table has live rows
	// (one extra row copy per modified row at most).
	defaultCheckpointFraction = 1.0
	// minCheckpointChanges: smaller tables are cheap to walk whatever
	// their history; they are checkpointed only after this many changes.
	minCheckpointChanges = 1024
	// checkpointBatchBytes bounds the batches of a checkpoint's index
	// entries (its rows go into an ingested sstable): below half of
	// Pebble's default 4 MiB memtable, so a batch is applied to the
	// memtable rather than held whole as a flushable batch.
	checkpointBatchBytes = 512 << 10
)

func checkpointPrefix(tid uint32, cp uint64) []byte { return u64(tablePrefix(pCheckpoint, tid), cp) }

// checkpointIndexPrefix is the prefix of index ix's entries (index values
// | pk -> ()) in the checkpoint of table tid at cp.
func checkpointIndexPrefix(tid uint32, cp uint64, ix int) []byte {
	return append(u64(tablePrefix(pCheckpointIndex, tid), cp), byte(ix))
}

func checkpointMarkKey(tid uint32, cp uint64) []byte {
	return u64(tablePrefix(pCheckpointMark, tid), ^cp)
}

// checkpointNear returns the commits of the checkpoints of table tid
// nearest to asOf in r (a snapshot): below is the newest <= asOf, above the
// oldest > asOf (0 when there is none).
func checkpointNear(r iterMaker, tid uint32, asOf uint64) (below, above uint64, err error) {
	base := tablePrefix(pCheckpointMark, tid)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: base, UpperBound: prefixEnd(base)})
	if err != nil {
		return 0, 0, fmt.Errorf("canonical: read checkpoints: %w", err)
	}
	defer it.Close()
	at := func() uint64 {
		k := it.Key()
		if len(k) != len(base)+8 {
			return 0
		}
		return ^binary.BigEndian.Uint64(k[len(base):])
	}
	// Markers sort newest first.
	k := u64(append([]byte{}, base...), ^asOf)
	if it.SeekGE(k) {
		below = at()
	}
	if it.SeekLT(k) {
		above = at()
	}
	return below, above, it.Error()
}

// ckptTable is the checkpointer's count for one table.
type ckptTable struct {
	through uint64 // change log counted through this commit
	last    uint64 // commit of the last checkpoint (0: none)
	changed int64  // rows modified or removed after last, through through
	live    int64  // live rows at through
}

// checkpointer is the background goroutine that writes checkpoints.
type checkpointer struct {
	s      *Store
	frac   float64
	kickc  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex // held by a pass (and by tests writing checkpoints)
	tables map[uint32]*ckptTable
}

// startCheckpointer starts s's checkpointer (frac < 0: none).
func (s *Store) startCheckpointer(frac float64) {
	if frac < 0 {
		return
	}
	if frac == 0 {
		frac = defaultCheckpointFraction
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{s: s, frac: frac, kickc: make(chan struct{}, 1), cancel: cancel,
		done: make(chan struct{}), tables: map[uint32]*ckptTable{}}
	s.ckpt = c
	// Before any reader or the goroutine runs (one seek per checkpoint).
	if err := s.dropUnmarkedCheckpoints(); err != nil {
		s.log.Error().Err(err).Msg("checkpoint cleanup")
	}
	go c.run(ctx)
}

// kick wakes the checkpointer after a commit (never blocks).
func (c *checkpointer) kick() {
	if c == nil {
		return
	}
	select {
	case c.kickc <- struct{}{}:
	default:
	}
}

// stop stops the checkpointer and waits for it. A checkpoint being written
// is abandoned (its rows are deleted at the next start).
func (c *checkpointer) stop() {
	if c == nil {
		return
	}
	c.cancel()
	<-c.done
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	for {
		c.mu.Lock()
		err := c.pass(ctx)
		c.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.s.log.Error().Err(err).Msg("checkpoint")
		}
		select {
		case <-ctx.Done():
			return
		case <-c.kickc:
		}
	}
}

// sync runs a pass now: every checkpoint due at the current head is
// written when it returns.
func (c *checkpointer) sync(ctx context.Context) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pass(ctx)
}

// SyncCheckpoints writes now every checkpoint due at the current head
// (checkpoints are otherwise written in the background shortly after the
// commits that make them due) and returns when they are durable. It is for
// benchmarks and tools that measure AS OF reads right after loading
// history; a no-op when checkpoints are disabled.
func (s *Store) SyncCheckpoints(ctx context.Context) error { return s.ckpt.sync(ctx) }

// pass counts the change log of every table up to the head of a fresh
// snapshot and writes the checkpoints that became due, each as of the
// commit where its table's count crossed the threshold.
func (c *checkpointer) pass(ctx context.Context) error {
	view, _, err := c.s.openView(HEAD)
	if err != nil {
		return err
	}
	defer view.snap.Close()
	for _, ts := range c.s.Tables() {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, ok := c.tables[ts.ID]
		if !ok {
			st = &ckptTable{}
			if st.last, _, err = checkpointNear(view.snap, ts.ID, view.head); err != nil {
				return err
			}
			if st.last != 0 {
				v, err := getFrom(view.snap, checkpointMarkKey(ts.ID, st.last))
				if err != nil {
					return err
				}
				n, m := binary.Uvarint(v)
				if m <= 0 {
					return fmt.Errorf("%w: checkpoint marker", errCorrupt)
				}
				st.live, st.through = int64(n), st.last
			}
		}
		next := *st
		if err := c.count(ctx, view, ts.ID, &next); err != nil {
			return err
		}
		c.tables[ts.ID] = &next
	}
	return nil
}

// due reports whether st's table needs a checkpoint.
func (c *checkpointer) due(st *ckptTable) bool {
	return st.changed >= minCheckpointChanges && float64(st.changed) >= c.frac*float64(st.live)
}

// count reads table tid's change log after st.through in view, updating
// st and writing each checkpoint that falls due on the way.
func (c *checkpointer) count(ctx context.Context, view *readView, tid uint32, st *ckptTable) error {
	dbase := tablePrefix(pChange, tid)
	it, err := view.snap.NewIter(&pebble.IterOptions{LowerBound: u64(append([]byte{}, dbase...), st.through+1), UpperBound: prefixEnd(dbase)})
	if err != nil {
		return fmt.Errorf("canonical: read change log: %w", err)
	}
	defer it.Close()
	var cur uint64
	var curChanged int64 // rows modified or removed by commit cur
	endCommit := func() error {
		if cur == 0 || !c.due(st) {
			return nil
		}
		// As of the commit before cur; cur's own changes count towards
		// the next checkpoint.
		if cp := cur - 1; cp > st.last {
			if _, err := c.s.writeCheckpoint(ctx, view, tid, cp); err != nil {
				return err
			}
			st.last = cp
		}
		st.changed = curChanged
		return nil
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) < len(dbase)+8 {
			return fmt.Errorf("%w: change key", errCorrupt)
		}
		if x := binary.BigEndian.Uint64(k[len(dbase):]); x != cur {
			if err := endCommit(); err != nil {
				return err
			}
			cur, curChanged = x, 0
		}
		op, _, err := decodeChange(it.Value())
		if err != nil {
			return err
		}
		switch op {
		case opAdded:
			st.live++
			continue
		case opRemoved:
			st.live--
		}
		st.changed++
		curChanged++
	}
	if err := it.Error(); err != nil {
		return err
	}
	if err := endCommit(); err != nil {
		return err
	}
	st.through = view.head
	return nil
}

// writeCheckpoint writes the checkpoint of table tid as of commit cp (<=
// view.head), reading the rows AS OF cp from view by the cheapest plan
// (which may start from an earlier checkpoint), and returns its row count.
func (s *Store) writeCheckpoint(ctx context.Context, view *readView, tid uint32, cp uint64) (int64, error) {
	mark := checkpointMarkKey(tid, cp)
	if v, err := getFrom(view.snap, mark); err != nil || v != nil {
		if err != nil {
			return 0, err
		}
		n, _ := binary.Uvarint(v)
		return int64(n), nil
	}
	src, closers, err := s.scanRaw(view, tid, cp, fullRange, false)
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
	}()
	if err != nil {
		return 0, err
	}
	ts, ok := s.cat.Load().atID(tid, cp)
	if !ok {
		return 0, fmt.Errorf("canonical: checkpoint of table %d at %d: %w", tid, cp, ErrNoSuchTable)
	}
	prefix := checkpointPrefix(tid, cp)
	key := append([]byte{}, prefix...)
	// The rows arrive in key order, so they are written as one sstable
	// and ingested: no WAL copy and no memtable, which a checkpoint of
	// a large table would otherwise fill many times over (and hold in
	// memory while flushes catch up). Index entries do not arrive in
	// their own order; they go through batches.
	sst, err := s.newIngestFile(fmt.Sprintf("%s%d-%d%s", checkpointFilePrefix, tid, cp, ingestFileSuffix))
	if err != nil {
		return 0, err
	}
	defer sst.abandon()
	b := s.db.NewBatch()
	defer func() { _ = b.Close() }()
	var n int64
	for {
		pk, rb, ok, err := src()
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		key = append(key[:len(prefix)], pk...)
		if err := sst.set(key, rb); err != nil {
			return 0, fmt.Errorf("canonical: write checkpoint: %w", err)
		}
		if len(ts.Indexes) > 0 {
			row, err := decodeRow(rb)
			if err != nil {
				return 0, err
			}
			row = ts.pad(row)
			for ix := range ts.Indexes {
				e, err := indexEntryKey(ts, ix, row, pk)
				if err != nil {
					return 0, err
				}
				if err := b.Set(append(checkpointIndexPrefix(tid, cp, ix), e...), nil, nil); err != nil {
					return 0, err
				}
			}
		}
		n++
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
		if b.Len() >= checkpointBatchBytes {
			if err := b.Commit(pebble.NoSync); err != nil {
				return 0, fmt.Errorf("canonical: write checkpoint: %w", err)
			}
			b.Reset()
		}
	}
	if err := s.ingestFiles(ctx, []*ingestFile{sst}); err != nil {
		return 0, fmt.Errorf("canonical: checkpoint: %w", err)
	}
	// The marker last, synced: it makes the ingested rows and the index
	// batches before it part of the checkpoint (see Crash safety above).
	if err := b.Set(mark, binary.AppendUvarint(nil, uint64(n)), nil); err != nil {
		return 0, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("canonical: write checkpoint: %w", err)
	}
	s.log.Debug().Uint32("table_id", tid).Uint64("commit_id", cp).Int64("rows", n).Msg("checkpoint written")
	return n, nil
}

// dropUnmarkedCheckpoints deletes the rows and index entries of
// checkpoints whose marker was never written (a crash or Close while
// writing one). One seek per checkpoint.
func (s *Store) dropUnmarkedCheckpoints() error {
	for _, p := range []byte{pCheckpoint, pCheckpointIndex} {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
		if err != nil {
			return fmt.Errorf("canonical: read checkpoints: %w", err)
		}
		for ok := it.First(); ok; {
			k := it.Key()
			if len(k) < 1+4+8 {
				_ = it.Close()
				return fmt.Errorf("%w: checkpoint key", errCorrupt)
			}
			tid, cp := binary.BigEndian.Uint32(k[1:]), binary.BigEndian.Uint64(k[5:])
			lo := append([]byte{}, k[:1+4+8]...)
			hi := prefixEnd(lo)
			v, err := s.get(checkpointMarkKey(tid, cp))
			if err == nil && v == nil {
				s.log.Info().Uint32("table_id", tid).Uint64("commit_id", cp).Msg("dropping unfinished checkpoint")
				if err = s.db.DeleteRange(lo, hi, pebble.Sync); err != nil {
					err = fmt.Errorf("canonical: drop unfinished checkpoint: %w", err)
				}
			}
			if err != nil {
				_ = it.Close()
				return err
			}
			ok = it.SeekGE(hi)
		}
		if err := closeIter(it); err != nil {
			return err
		}
	}
	return nil
}

// fullRange is the bounds function of an unbounded scan.
func fullRange(base []byte) ([]byte, []byte, error) { return base, prefixEnd(base), nil }

// verifyCheckpoints is Verify's check of the checkpoints in snap (whose
// newest commit is head): each marker names a commit of the chain, and
// each checkpoint holds exactly the table's rows as of its commit (as many
// as its marker says) and exactly their index entries. The rows are
// re-derived from the history the way the AS OF plans read it: a table's
// oldest checkpoint from the walk of its versions, each later one from the
// previous (already checked) checkpoint merged with the changes between --
// so checking costs about one scan per checkpoint plus the changes between
// them, not a walk of the history per checkpoint.
func (s *Store) verifyCheckpoints(ctx context.Context, snap *pebble.Snapshot, head uint64, rep *VerifyReport) error {
	cat := s.cat.Load()
	for _, hts := range s.Tables() {
		tid := hts.ID
		mbase := tablePrefix(pCheckpointMark, tid)
		var cps []uint64
		var counts []uint64
		mit, err := snap.NewIter(&pebble.IterOptions{LowerBound: mbase, UpperBound: prefixEnd(mbase)})
		if err != nil {
			return fmt.Errorf("canonical: verify: %w", err)
		}
		for ok := mit.Last(); ok; ok = mit.Prev() { // oldest first
			k := mit.Key()
			n, m := binary.Uvarint(mit.Value())
			if len(k) != len(mbase)+8 || m <= 0 {
				_ = mit.Close()
				rep.fail(0, "malformed checkpoint marker %x", k)
				return nil
			}
			cps = append(cps, ^binary.BigEndian.Uint64(k[len(mbase):]))
			counts = append(counts, n)
		}
		if err := closeIter(mit); err != nil {
			return err
		}
		var prev uint64
		for i, cp := range cps {
			if err := ctx.Err(); err != nil {
				return err
			}
			ts, ok := cat.atID(tid, cp)
			if cp == 0 || cp > head || !ok {
				rep.fail(cp, "checkpoint of table %d at commit %d: no such commit or table", tid, cp)
				return nil
			}
			bad, err := s.verifyCheckpoint(snap, ts, prev, cp, counts[i])
			if err != nil {
				return err
			}
			if bad != "" {
				rep.fail(cp, "checkpoint of table %s at commit %d: %s", ts.Name, cp, bad)
				return nil
			}
			prev = cp
		}
	}
	return nil
}

// verifyCheckpoint compares the checkpoint of ts at cp with the rows
// re-derived from the history (from the checkpoint at prev if not 0) and
// returns what differs ("" if nothing).
func (s *Store) verifyCheckpoint(snap *pebble.Snapshot, ts *TableSchema, prev, cp uint64, count uint64) (string, error) {
	tid := ts.ID
	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
	}()
	iter := func(lo, hi []byte) (*pebble.Iterator, error) {
		it, err := snap.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			return nil, fmt.Errorf("canonical: verify: %w", err)
		}
		closers = append(closers, it.Close)
		return it, nil
	}
	vbase := tablePrefix(pVersion, tid)
	vit, err := iter(vbase, prefixEnd(vbase))
	if err != nil {
		return "", err
	}
	var want rowSource
	if prev == 0 {
		want = walkRows(vit, len(vbase), cp, false)
	} else {
		ch, _, err := changedSince(snap, tid, prev, cp, nil, func(int, int) float64 { return 0 }, math.Inf(1))
		if err != nil {
			return "", err
		}
		pbase := checkpointPrefix(tid, prev)
		bit, err := iter(pbase, prefixEnd(pbase))
		if err != nil {
			return "", err
		}
		want = mergeScan(bit, vit, len(pbase), checkpointRow, tid, cp, ch, false)
	}
	kbase := checkpointPrefix(tid, cp)
	kit, err := iter(kbase, prefixEnd(kbase))
	if err != nil {
		return "", err
	}
	nbase := u64(tablePrefix(pCheckpointIndex, tid), cp)
	nit, err := iter(nbase, prefixEnd(nbase))
	if err != nil {
		return "", err
	}
	var rows, entries uint64
	for ok := kit.First(); ; ok = kit.Next() {
		pk, rb, wok, err := want()
		if err != nil {
			return "", err
		}
		if !ok || !wok {
			if ok || wok {
				return fmt.Sprintf("%d rows stored, not the rows as of the commit", rows+1), kit.Error()
			}
			break
		}
		if !bytes.Equal(kit.Key()[len(kbase):], pk) || !bytes.Equal(kit.Value(), rb) {
			return fmt.Sprintf("row of key %x is not its version at the commit", pk), nil
		}
		rows++
		if len(ts.Indexes) == 0 {
			continue
		}
		row, err := decodeRow(rb)
		if err != nil {
			return "", err
		}
		row = ts.pad(row)
		for ix := range ts.Indexes {
			e, err := indexEntryKey(ts, ix, row, pk)
			if err != nil {
				return "", err
			}
			k := append(checkpointIndexPrefix(tid, cp, ix), e...)
			if !nit.SeekGE(k) || !bytes.Equal(nit.Key(), k) {
				return fmt.Sprintf("index %s entry of key %x missing", ts.Indexes[ix].Name, pk), nit.Error()
			}
			entries++
		}
	}
	if err := kit.Error(); err != nil {
		return "", err
	}
	if rows != count {
		return fmt.Sprintf("marker says %d rows, %d stored", count, rows), nil
	}
	n, err := countPrefix(snap, nbase)
	if err != nil {
		return "", err
	}
	if n != entries {
		return fmt.Sprintf("%d index entries stored, %d expected", n, entries), nil
	}
	return "", nil
}
