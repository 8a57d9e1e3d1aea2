package canonical

import (
	"encoding/binary"
	"fmt"
	"hash"
	"runtime"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/batchrepr"
)

// parallelStage is the number of rows (raw rows plus changes) from which a
// commit stages its raw rows, quarantine records and versions (and hashes
// the changes) on a second goroutine. Below it the goroutine costs more
// than it saves.
var parallelStage = 4096

// tightBound, set by tests, makes stageChanges bound the first half's
// size at 0, exercising the path that assembles halves that did not fit.
var tightBound = false

// batchWriter is what staging writes to: a *pebble.Batch, or a reprWriter
// building a region of a batch representation.
type batchWriter interface {
	Set(key, value []byte, _ *pebble.WriteOptions) error
	Delete(key []byte, _ *pebble.WriteOptions) error
}

// stageInParallel reports whether stageChanges stages changes on two
// goroutines (the Commit then starts from an empty batch: see stageChanges).
func (t *Txn) stageInParallel(changes []change) bool {
	return len(changes)+t.rawRows >= parallelStage && runtime.GOMAXPROCS(0) >= 2
}

// stageChanges stages a data commit's changes, raw rows and quarantine
// records in b and hashes the changes into h (see newCommitHasher). The
// batch ends up in key order, prefix by prefix (change log, index entries,
// latest rows, raw rows and quarantine, versions), so sorting it when it is
// applied (a batch of half a memtable or more becomes a flushable memtable;
// by default such commits are written as sstables instead, commitsst.go,
// through the same stageCurrent and stageHistory) finds it sorted but for
// a few runs. A large commit (stageInParallel; b is then empty) stages
// the raw rows, quarantine records and versions (and computes the hash) on
// another goroutine while this one stages the rest: the two halves share
// nothing but the read-only changes.
//
// The halves are written as Pebble batch records straight into two regions
// of ONE buffer, which becomes b's representation (Batch.SetRepr): the
// second half's size is computed exactly and the first half's bounded, so
// the buffer is allocated once at about its final size and nothing is
// copied but, when the first half came out shorter than its bound, the
// second half moved down over the gap. (Staging into a second Pebble batch
// and appending it allocated and touched the second half twice, and the
// batches' size estimates overshot; for a 1M-row COPY that was hundreds of
// MB of fresh memory, whose page faults cost more than the staging.)
func (t *Txn) stageChanges(b *pebble.Batch, h hash.Hash, id uint64, changes []change) error {
	if !t.stageInParallel(changes) || b.Count() != 0 || len(b.Repr()) > batchrepr.HeaderLen {
		if err := t.stageCurrent(b, &t.scratch, id, changes); err != nil {
			return err
		}
		return t.stageHistory(b, h, id, changes)
	}
	curBound, histSize := t.currentBound(id, changes), t.historyExact(changes)
	if tightBound {
		curBound = 0
	}
	// Room after the records for the commit record and hash entry Commit
	// appends to the batch.
	const spare = 64 << 10
	buf := make([]byte, batchrepr.HeaderLen, batchrepr.HeaderLen+curBound+histSize+spare)
	cur := &reprWriter{b: buf[batchrepr.HeaderLen : batchrepr.HeaderLen : batchrepr.HeaderLen+curBound]}
	histAt := batchrepr.HeaderLen + curBound
	hist := &reprWriter{b: buf[histAt : histAt : histAt+histSize]}
	errc := make(chan error, 1)
	go func() { errc <- t.stageHistory(hist, h, id, changes) }()
	var scratch []byte
	err := t.stageCurrent(cur, &scratch, id, changes)
	if herr := <-errc; err == nil {
		err = herr
	}
	if err != nil {
		return err
	}
	n := batchrepr.HeaderLen + len(cur.b) + len(hist.b)
	inPlace := func(w *reprWriter, at int) bool {
		return len(w.b) == 0 || &w.b[0] == &buf[:cap(buf)][at]
	}
	var repr []byte
	if inPlace(cur, batchrepr.HeaderLen) && inPlace(hist, histAt) {
		// copy handles the overlap (it moves the half down).
		repr = buf[:n]
		copy(repr[batchrepr.HeaderLen+len(cur.b):], hist.b)
	} else {
		// A bound was exceeded (a writer grew into a buffer of its own):
		// assemble the halves in a new buffer.
		repr = make([]byte, n, n+spare)
		copy(repr, buf[:batchrepr.HeaderLen])
		copy(repr[batchrepr.HeaderLen:], cur.b)
		copy(repr[batchrepr.HeaderLen+len(cur.b):], hist.b)
	}
	binary.LittleEndian.PutUint32(repr[8:batchrepr.HeaderLen], cur.n+hist.n)
	if err := b.SetRepr(repr); err != nil {
		return fmt.Errorf("canonical: stage commit %d: %w", id, err)
	}
	return nil
}

// reprWriter appends Pebble batch records (the batch representation's
// format: kind, uvarint key length, key, and for a set the uvarint value
// length and value) to b, counting them.
type reprWriter struct {
	b []byte
	n uint32
}

// Set implements batchWriter.
func (w *reprWriter) Set(key, value []byte, _ *pebble.WriteOptions) error {
	w.b = append(w.b, byte(pebble.InternalKeyKindSet))
	w.b = binary.AppendUvarint(w.b, uint64(len(key)))
	w.b = append(w.b, key...)
	w.b = binary.AppendUvarint(w.b, uint64(len(value)))
	w.b = append(w.b, value...)
	w.n++
	return nil
}

// Delete implements batchWriter.
func (w *reprWriter) Delete(key []byte, _ *pebble.WriteOptions) error {
	w.b = append(w.b, byte(pebble.InternalKeyKindDelete))
	w.b = binary.AppendUvarint(w.b, uint64(len(key)))
	w.b = append(w.b, key...)
	w.n++
	return nil
}

// uvarintLen is the length of x as a uvarint.
func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// setLen is the length of a set record of a key and value of these lengths.
func setLen(k, v int) int { return 1 + uvarintLen(uint64(k)) + k + uvarintLen(uint64(v)) + v }

// currentBound bounds the bytes of the records stageCurrent writes for
// changes: exact for change-log entries and latest rows, an estimate for
// index entries (staging stays correct if it is exceeded, only slower).
func (t *Txn) currentBound(id uint64, changes []change) int {
	n := 0
	for _, c := range changes {
		n += setLen(1+4+8+len(c.pk), 1+uvarintLen(c.oldCommit))
		if c.newExists {
			n += setLen(1+4+len(c.pk), uvarintLen(id)+len(c.newEnc))
		} else {
			n += setLen(1+4+len(c.pk), 0)
		}
		if k := len(c.ts.Indexes); k > 0 {
			n += k * 4 * setLen(1+4+1+2*(len(c.oldEnc)+len(c.newEnc))+len(c.pk)+8, 1)
		}
	}
	return n
}

// historyExact is the exact number of bytes of the records stageHistory
// writes for the Txn's raw rows and quarantine records and the versions
// of changes.
func (t *Txn) historyExact(changes []change) int {
	n := 0
	for _, r := range t.raws {
		n += len(r.recs)
	}
	for i := range t.quars {
		q := &t.quars[i]
		n += setLen(9, len(encodeQuarantine(q))) + setLen(len(quarDedupeKey(q)), 8)
	}
	for _, c := range changes {
		n += setLen(1+4+len(c.pk)+8, 1+uvarintLen(c.oldCommit)+len(c.newEnc))
	}
	return n
}

// stageCurrent stages the change-log entries, index entries and latest
// rows of changes (the keyspaces before raw rows).
func (t *Txn) stageCurrent(b batchWriter, scratch *[]byte, id uint64, changes []change) error {
	var dv []byte
	for _, part := range changeParts {
		if part == pVersion {
			continue
		}
		for _, c := range changes {
			if part == pChange {
				dv = appendChangeValue(dv[:0], c)
			}
			if err := writeChange(b, scratch, id, c, nil, dv, part); err != nil {
				return err
			}
		}
	}
	return nil
}

// stageHistory stages the Txn's raw rows and quarantine records, then the
// versions of changes, hashing each change into h on the way. It does not
// touch the Txn's scratch buffer, so it may run beside stageCurrent.
func (t *Txn) stageHistory(b batchWriter, h hash.Hash, id uint64, changes []change) error {
	if err := t.writeRawAndQuarantine(b); err != nil {
		return err
	}
	var k []byte
	ch := changeHasher{h: h}
	for _, c := range changes {
		vv, _ := ch.add(c)
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
