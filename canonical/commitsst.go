package canonical

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// Large commits as ingested sstables.
//
// A commit applied as a Pebble batch is written twice: to the WAL, and --
// a batch of half the memtable size or more becomes a flushable batch of
// its own, sorted when it is flushed -- to an L0 sstable that compactions
// then rewrite into the lower levels. A commit whose staged size reaches
// Options.CommitSSTableBytes is instead staged straight into sstables,
// one per keyspace (the first key byte: change log, index entries, latest
// rows, raw rows, quarantine, versions, the commit record, its hash
// entry), and applied with ONE db.Ingest: no WAL, no memtable, no sort
// of the whole commit, and each file lands in the lowest level it does
// not overlap (an append-only keyspace such as raw rows, or the versions
// of new keys, often goes straight to the bottom).
//
// Atomicity: every key the batch path writes for a data commit goes into
// the files of that one Ingest, which Pebble documents as atomic,
// equivalent to one batch of all their keys, and durable when it returns
// (pebble.DB.Ingest; ingest.go: one manifest edit, or one synced WAL
// record naming every file when they overlap a memtable). A crash before
// it leaves only the temporary files, removed at Open; after it, the whole
// commit. The head is published to readers after the Ingest returns, as
// after the batch's Apply.
//
// Layout: the files of one Ingest must not overlap each other in key
// range (ingestSortAndVerify), and an sstable takes keys in strictly
// increasing order and one entry per key (all of a file's keys get one
// sequence number). Keyspaces are distinct prefixes, so one file each
// never overlap. Most keyspaces are staged in key order already: changes
// are sorted by (table, key), so change-log entries (D|table|commit|key),
// latest rows (L|table|key) and versions (V|table|key|^commit) arrive in
// order; raw rows ascend by seq within a source, and runs are staged
// source by source (writeRawAndQuarantine); quarantine ids ascend. Those
// are streamed to their file. Index entries (ordered by index values, not
// key) and quarantine dedupe keys are collected and sorted when the file
// is finished; that sort is the price of the path for indexed tables. A
// key of a streamed keyspace out of order (only possible for raw sources
// whose escaped names are prefixes of each other, with seqs in the
// 2^56 range) fails the staging with errUnsorted, and the commit falls
// back to the batch path (nothing was ingested).
//
// Equivalence with the batch path: a commit's changes are collapsed to
// one per key, so each key is written once (a deleted latest row or index
// entry as a point tombstone); keys written by earlier commits are
// shadowed, since an Ingest's sequence numbers are above every earlier
// write. TestSSTCommitsMatchBatch compares every read of both paths.

// errUnsorted: a streamed keyspace's key arrived out of order.
var errUnsorted = errors.New("canonical: sstable commit keys out of order")

// sortedKeyspace reports whether keyspace p is staged in key order (see
// Layout above); the others are sorted before they are written.
func sortedKeyspace(p byte) bool { return p != pIndex && p != pIndexVer && p != pQuarKey }

// sstStager is a batchWriter that writes a commit's keys into one sstable
// per keyspace. A commit stages on two goroutines with one stager each;
// their keyspaces are disjoint (stageCurrent, stageHistory), so the two
// never name the same file.
type sstStager struct {
	s     *Store
	id    uint64
	files [256]*ingestFile
	last  [256][]byte        // last key of each streamed keyspace
	bufs  [256]*unsortedKeys // keyspaces sorted at finish
	all   []*ingestFile
}

func (s *Store) newSSTStager(id uint64) *sstStager { return &sstStager{s: s, id: id} }

// unsortedKeys are the entries of a keyspace staged out of order, in
// one arena.
type unsortedKeys struct {
	arena []byte
	ents  []unsortedEntry
}

type unsortedEntry struct {
	off        int
	klen, vlen uint32
	del        bool
}

func (e *unsortedEntry) key(a []byte) []byte { return a[e.off : e.off+int(e.klen)] }

func (st *sstStager) file(p byte) (*ingestFile, error) {
	if f := st.files[p]; f != nil {
		return f, nil
	}
	f, err := st.s.newIngestFile(fmt.Sprintf("%s%d-%02x%s", commitFilePrefix, st.id, p, ingestFileSuffix))
	if err != nil {
		return nil, err
	}
	st.files[p] = f
	st.all = append(st.all, f)
	return f, nil
}

func (st *sstStager) add(key, value []byte, del bool) error {
	if len(key) == 0 {
		return fmt.Errorf("canonical: empty key in commit %d", st.id)
	}
	p := key[0]
	if !sortedKeyspace(p) {
		u := st.bufs[p]
		if u == nil {
			u = &unsortedKeys{}
			st.bufs[p] = u
		}
		u.ents = append(u.ents, unsortedEntry{off: len(u.arena), klen: uint32(len(key)), vlen: uint32(len(value)), del: del})
		u.arena = append(append(u.arena, key...), value...)
		return nil
	}
	if l := st.last[p]; l != nil && bytes.Compare(l, key) >= 0 {
		return errUnsorted
	}
	st.last[p] = append(st.last[p][:0], key...)
	f, err := st.file(p)
	if err != nil {
		return err
	}
	if del {
		return f.del(key)
	}
	return f.set(key, value)
}

// Set implements batchWriter.
func (st *sstStager) Set(key, value []byte, _ *pebble.WriteOptions) error {
	return st.add(key, value, false)
}

// Delete implements batchWriter.
func (st *sstStager) Delete(key []byte, _ *pebble.WriteOptions) error {
	return st.add(key, nil, true)
}

// finish sorts and writes the keyspaces staged out of order and
// completes every file. Of several entries of one key (none are expected:
// see Equivalence above) the last staged wins, as in a batch.
func (st *sstStager) finish() error {
	for p, u := range st.bufs {
		if u == nil {
			continue
		}
		a := u.arena
		// Equal keys in staging order (arena offsets ascend with it),
		// as a stable sort would leave them.
		slices.SortFunc(u.ents, func(x, y unsortedEntry) int {
			if c := bytes.Compare(x.key(a), y.key(a)); c != 0 {
				return c
			}
			return cmp.Compare(x.off, y.off)
		})
		f, err := st.file(byte(p))
		if err != nil {
			return err
		}
		for i := range u.ents {
			e := &u.ents[i]
			k := e.key(a)
			if i+1 < len(u.ents) && bytes.Equal(k, u.ents[i+1].key(a)) {
				continue
			}
			if e.del {
				err = f.del(k)
			} else {
				err = f.set(k, a[e.off+int(e.klen):e.off+int(e.klen)+int(e.vlen)])
			}
			if err != nil {
				return err
			}
		}
		st.bufs[p] = nil
	}
	for _, f := range st.all {
		if err := f.finish(); err != nil {
			return err
		}
	}
	return nil
}

// abandon removes the stager's files (after a failure; ingestFiles
// removes them after an Ingest).
func (st *sstStager) abandon() {
	for _, f := range st.all {
		f.abandon()
	}
}

// useSSTables reports whether a data commit of about size staged bytes
// goes through sstables.
func (t *Txn) useSSTables(size int) bool { return t.s.sstBytes > 0 && size >= t.s.sstBytes }

// ingestCommit writes the Txn's raw rows and quarantine records and, if
// ci is not nil, commit ci (id, changes: its content, hashed into
// ci.Hash; its commit record and hash entry) as sstables applied by one
// Ingest (see the top of this file). errUnsorted means nothing was
// written and the batch path must be taken.
func (t *Txn) ingestCommit(ctx context.Context, id uint64, changes []change, ci *CommitInfo) error {
	cur, hist := t.s.newSSTStager(id), t.s.newSSTStager(id)
	defer cur.abandon()
	defer hist.abandon()
	if ci == nil {
		if err := t.writeRawAndQuarantine(hist); err != nil {
			return err
		}
	} else {
		h := newCommitHasher(ci)
		var err error
		if t.stageInParallel(changes) {
			errc := make(chan error, 1)
			go func() { errc <- t.stageHistory(hist, h, id, changes) }()
			err = t.stageCurrent(cur, &t.scratch, id, changes)
			if herr := <-errc; err == nil {
				err = herr
			}
		} else if err = t.stageCurrent(cur, &t.scratch, id, changes); err == nil {
			err = t.stageHistory(hist, h, id, changes)
		}
		if err != nil {
			return err
		}
		copy(ci.Hash[:], h.Sum(nil))
		if err := writeCommitRecord(cur, ci); err != nil {
			return err
		}
	}
	// Sorting the out-of-order keyspaces and writing the files' indexes
	// and filters: the two stagers on two goroutines.
	var wg sync.WaitGroup
	var herr error
	wg.Add(1)
	go func() { defer wg.Done(); herr = hist.finish() }()
	err := cur.finish()
	wg.Wait()
	if err == nil {
		err = herr
	}
	if err != nil {
		return err
	}
	files := append(cur.all, hist.all...)
	if err := t.s.ingestFiles(ctx, files); err != nil {
		return err
	}
	t.s.log.Debug().Uint64("commit_id", id).Int("files", len(files)).Msg("commit ingested as sstables")
	return nil
}
