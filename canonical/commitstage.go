package canonical

import (
	"encoding/binary"
	"fmt"
	"hash"
	"runtime"

	"github.com/cockroachdb/pebble/v2"
)

// parallelStage is the number of rows (raw rows plus changes) from which a
// commit stages its raw rows, quarantine records and versions (and hashes
// the changes) on a second goroutine, in a batch of their own that is then
// appended to the commit's batch. Below it the goroutine and the extra copy
// cost more than they save.
var parallelStage = 4096

// stageChanges stages a data commit's changes, raw rows and quarantine
// records in b and hashes the changes into h (see newCommitHasher). The
// batch ends up in key order, prefix by prefix (change log, index entries,
// latest rows, raw rows and quarantine, versions), so sorting it when it is
// applied (a large batch becomes a flushable memtable) finds it sorted but
// for a few runs. A large commit stages the raw rows, quarantine records and
// versions (and computes the hash) on another goroutine while this one
// stages the rest: the two halves share nothing but the read-only changes.
func (t *Txn) stageChanges(b *pebble.Batch, h hash.Hash, id uint64, changes []change) error {
	if len(changes)+len(t.raws) < parallelStage || runtime.GOMAXPROCS(0) < 2 {
		if err := t.stageCurrent(b, id, changes); err != nil {
			return err
		}
		return t.stageHistory(b, h, id, changes)
	}
	side := t.s.db.NewBatchWithSize(t.historySize(changes))
	defer side.Close()
	errc := make(chan error, 1)
	go func() { errc <- t.stageHistory(side, h, id, changes) }()
	err := t.stageCurrent(b, id, changes)
	if herr := <-errc; err == nil {
		err = herr
	}
	if err != nil {
		return err
	}
	if err := b.Apply(side, nil); err != nil {
		return fmt.Errorf("canonical: stage commit %d: %w", id, err)
	}
	return nil
}

// stageCurrent stages the change-log entries, index entries and latest
// rows of changes (the keyspaces before raw rows).
func (t *Txn) stageCurrent(b *pebble.Batch, id uint64, changes []change) error {
	var dv []byte
	for _, part := range changeParts {
		if part == pVersion {
			continue
		}
		for _, c := range changes {
			if part == pChange {
				dv = appendChangeValue(dv[:0], c)
			}
			if err := t.writeChange(b, id, c, nil, dv, part); err != nil {
				return err
			}
		}
	}
	return nil
}

// stageHistory stages the Txn's raw rows and quarantine records, then the
// versions of changes, hashing each change into h on the way. It does not
// touch the Txn's scratch buffer, so it may run beside stageCurrent.
func (t *Txn) stageHistory(b *pebble.Batch, h hash.Hash, id uint64, changes []change) error {
	if err := t.writeRawAndQuarantine(b); err != nil {
		return err
	}
	var vv, dv, hb, k []byte
	curT := uint32(0)
	for _, c := range changes {
		if c.ts.ID != curT {
			curT = c.ts.ID
			hashTable(h, curT)
		}
		vv, dv = appendVersionValue(vv[:0], c), appendChangeValue(dv[:0], c)
		hb = appendHashChange(hb[:0], c.pk, dv, vv)
		h.Write(hb)
		k = append(k[:0], pVersion)
		k = binary.BigEndian.AppendUint32(k, c.ts.ID)
		k = append(k, c.pk...)
		k = binary.BigEndian.AppendUint64(k, ^id)
		if err := b.Set(k, vv, nil); err != nil {
			return err
		}
	}
	return nil
}

// appendVersionValue appends the version value of c: deleted flag,
// previous commit, new row encoding.
func appendVersionValue(b []byte, c change) []byte {
	flag := byte(0)
	if !c.newExists {
		flag = 1
	}
	b = binary.AppendUvarint(append(b, flag), c.oldCommit)
	return append(b, c.newEnc...)
}

// appendChangeValue appends the change-log value of c: diff op, previous
// commit.
func appendChangeValue(b []byte, c change) []byte {
	return binary.AppendUvarint(append(b, c.op), c.oldCommit)
}

// historySize estimates the bytes stageHistory stages (see batchSize).
func (t *Txn) historySize(changes []change) int {
	n := 4096
	for _, r := range t.raws {
		n += len(r.val) + len(r.source) + 32
	}
	n += len(t.quars) * 256
	for _, c := range changes {
		n += 2*len(c.pk) + len(c.newEnc) + 48
	}
	return n
}
