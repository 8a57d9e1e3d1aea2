package canonical

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	// OK is true when the whole chain and every cross-check passed.
	OK bool
	// Commits and Versions checked.
	Commits  uint64
	Versions uint64
	// HeadHash is the recomputed hash of the last good commit.
	HeadHash Hash
	// BrokenAt is the first commit found broken (0 if none, or if the
	// problem is not tied to one commit); Problem describes it.
	BrokenAt uint64
	Problem  string
}

func (r *VerifyReport) fail(id uint64, format string, args ...any) {
	r.OK = false
	r.BrokenAt = id
	r.Problem = fmt.Sprintf(format, args...)
}

// Verify re-derives the hash chain from stored content and cross-checks the
// keyspaces. In order:
//
//  1. commit records 1..head are gap-free; each parent hash equals the
//     previous commit's hash; each hash equals SHA-256 recomputed from the
//     commit's metadata, schema records, change-log entries and version
//     values (so tampering with any of them breaks that commit); row counts
//     match the change log; the hash index points back;
//  2. the versioned and change-log keyspaces are in one-to-one
//     correspondence (no forged or orphaned versions);
//  3. the latest keyspace equals the newest version of every key;
//  4. every checkpoint holds exactly its table's rows as of its commit and
//     their index entries (checkpoint.go).
//
// Problems are reported in the VerifyReport (the first one found); the error
// is for I/O failures only. Verify reads a snapshot and runs concurrently
// with commits.
func (s *Store) Verify(ctx context.Context) (VerifyReport, error) {
	rep := VerifyReport{OK: true}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	all, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{pVersion}, UpperBound: []byte{pVersion + 1}})
	if err != nil {
		return rep, fmt.Errorf("canonical: verify: %w", err)
	}
	defer all.Close()

	cit, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{pCommit}, UpperBound: []byte{pCommit + 1}})
	if err != nil {
		return rep, fmt.Errorf("canonical: verify: %w", err)
	}
	defer cit.Close()
	var prev Hash
	var listed uint64
	for ok := cit.First(); ok; ok = cit.Next() {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		k := cit.Key()
		want := rep.Commits + 1
		if len(k) != 9 || binary.BigEndian.Uint64(k[1:]) != want {
			rep.fail(want, "commit %d missing (found key %x)", want, k)
			return rep, nil
		}
		ci, err := decodeCommit(cit.Value())
		if err != nil {
			rep.fail(want, "commit %d record undecodable: %v", want, err)
			return rep, nil
		}
		if ci.ID != want {
			rep.fail(want, "commit %d record says id %d", want, ci.ID)
			return rep, nil
		}
		if ci.ParentHash != prev {
			rep.fail(want, "commit %d parent hash %s does not match commit %d hash %s", want, ci.ParentHash, want-1, prev)
			return rep, nil
		}
		h := newCommitHasher(ci)
		for _, tid := range ci.schemaTables {
			v, err := getFrom(snap, schemaKey(tid, ci.ID))
			if err != nil {
				return rep, err
			}
			if v == nil {
				rep.fail(want, "commit %d: schema record of table %d missing", want, tid)
				return rep, nil
			}
			hashSchema(h, tid, v)
		}
		var counts [4]int64
		for _, tid := range ci.tables {
			hashTable(h, tid)
			dbase := u64(tablePrefix(pChange, tid), ci.ID)
			dit, err := snap.NewIter(&pebble.IterOptions{LowerBound: dbase, UpperBound: prefixEnd(dbase)})
			if err != nil {
				return rep, fmt.Errorf("canonical: verify: %w", err)
			}
			for ok := dit.First(); ok; ok = dit.Next() {
				pk := append([]byte{}, dit.Key()[len(dbase):]...)
				dval := append([]byte{}, dit.Value()...)
				op, _, err := decodeChange(dval)
				if err != nil {
					_ = dit.Close()
					rep.fail(want, "commit %d: bad change-log entry: %v", want, err)
					return rep, nil
				}
				counts[op]++
				vval, got, err := versionAt(all, nil, tid, pk, ci.ID)
				if err != nil {
					_ = dit.Close()
					return rep, err
				}
				if vval == nil || got != ci.ID {
					_ = dit.Close()
					rep.fail(want, "commit %d: version of key %x in table %d missing", want, pk, tid)
					return rep, nil
				}
				hashChange(h, pk, dval, vval)
				listed++
			}
			if err := dit.Close(); err != nil {
				return rep, fmt.Errorf("canonical: verify: %w", err)
			}
		}
		var got Hash
		copy(got[:], h.Sum(nil))
		if got != ci.Hash {
			rep.fail(want, "commit %d hash mismatch: stored %s, recomputed %s", want, ci.Hash, got)
			return rep, nil
		}
		if counts[opAdded] != ci.RowsAdded || counts[opModified] != ci.RowsModified || counts[opRemoved] != ci.RowsRemoved {
			rep.fail(want, "commit %d row counts %d/%d/%d do not match its change log %d/%d/%d", want,
				ci.RowsAdded, ci.RowsModified, ci.RowsRemoved, counts[opAdded], counts[opModified], counts[opRemoved])
			return rep, nil
		}
		hv, err := getFrom(snap, append([]byte{pHash}, ci.Hash[:]...))
		if err != nil {
			return rep, err
		}
		if len(hv) != 8 || binary.BigEndian.Uint64(hv) != ci.ID {
			rep.fail(want, "commit %d: hash index does not point to it", want)
			return rep, nil
		}
		prev = ci.Hash
		rep.Commits++
		rep.HeadHash = ci.Hash
	}
	if err := cit.Error(); err != nil {
		return rep, fmt.Errorf("canonical: verify: %w", err)
	}

	// 2 and 3: walk every version; the first of each key is its newest.
	var lastGroup []byte
	var live uint64
	for ok := all.First(); ok; ok = all.Next() {
		if rep.Versions&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
		}
		k := all.Key()
		if len(k) < 1+4+8 {
			rep.fail(0, "short version key %x", k)
			return rep, nil
		}
		rep.Versions++
		tid := binary.BigEndian.Uint32(k[1:5])
		pk := k[5 : len(k)-8]
		c := ^binary.BigEndian.Uint64(k[len(k)-8:])
		if c == 0 || c > rep.Commits {
			rep.fail(c, "version of key %x in table %d claims commit %d beyond the chain", pk, tid, c)
			return rep, nil
		}
		dv, err := getFrom(snap, changeKey(tid, c, pk))
		if err != nil {
			return rep, err
		}
		if dv == nil {
			rep.fail(c, "version of key %x in table %d at commit %d has no change-log entry", pk, tid, c)
			return rep, nil
		}
		group := k[:len(k)-8]
		if bytes.Equal(group, lastGroup) {
			continue
		}
		lastGroup = append(lastGroup[:0], group...)
		del, _, rb, err := decodeVersion(all.Value())
		if err != nil {
			rep.fail(c, "version of key %x in table %d at commit %d: %v", pk, tid, c, err)
			return rep, nil
		}
		lv, err := getFrom(snap, latestKey(tid, pk))
		if err != nil {
			return rep, err
		}
		if del {
			if lv != nil {
				rep.fail(c, "key %x in table %d is deleted at commit %d but present in the latest keyspace", pk, tid, c)
				return rep, nil
			}
			continue
		}
		live++
		want := append(binary.AppendUvarint(nil, c), rb...)
		if !bytes.Equal(lv, want) {
			rep.fail(c, "latest row of key %x in table %d does not match its newest version (commit %d)", pk, tid, c)
			return rep, nil
		}
	}
	if err := all.Error(); err != nil {
		return rep, fmt.Errorf("canonical: verify: %w", err)
	}
	if rep.Versions != listed {
		rep.fail(0, "%d versions stored but the commits list %d changes", rep.Versions, listed)
		return rep, nil
	}
	n, err := countPrefix(snap, []byte{pChange})
	if err != nil {
		return rep, err
	}
	if n != listed {
		rep.fail(0, "%d change-log entries stored but the commits list %d", n, listed)
		return rep, nil
	}
	if n, err = countPrefix(snap, []byte{pLatest}); err != nil {
		return rep, err
	}
	if n != live {
		rep.fail(0, "%d latest rows stored but %d keys are live", n, live)
		return rep, nil
	}
	return rep, s.verifyCheckpoints(ctx, snap, rep.Commits, &rep)
}

func countPrefix(r iterMaker, p []byte) (uint64, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return 0, fmt.Errorf("canonical: verify: %w", err)
	}
	var n uint64
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Error(); err != nil {
		_ = it.Close()
		return 0, err
	}
	return n, closeIter(it)
}
