package canonical

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Raw capture.
//
// Each source has its own append-only log keyed R|source|seq. _seq is
// per-source, starts at 1 and is gap-free: seqs are assigned under the writer
// lock and become durable only with the batch that carries them, so a
// rolled-back or failed Txn leaves no hole (its seqs are reused). Raw rows are
// never updated or deleted by this package. Per-source (not global) seqs keep
// raw.<source> dense and make replay ranges per source natural.

// RawRecord is one captured source row.
type RawRecord struct {
	Seq        uint64
	IngestedAt time.Time
	Batch      string
	Row        []any
}

// QuarantineRecord is a rejected row (a row of dualgate.quarantine).
// Records are deduplicated on (Source, RawSeq, Entity, Rule): quarantining the
// same raw row for the same rule again (e.g. on replay) keeps the first
// record and its FirstSeen.
type QuarantineRecord struct {
	ID        uint64
	Source    string
	RawSeq    uint64
	Entity    string
	Rule      string
	Reason    string
	Payload   string // JSON
	FirstSeen time.Time
}

func rawPrefix(source string) []byte { return appendEscaped([]byte{pRaw}, source) }

func rawKey(source string, seq uint64) []byte { return u64(rawPrefix(source), seq) }

// lastRawSeq returns the last durable seq of source (writer lock held).
func (s *Store) lastRawSeq(source string) (uint64, error) {
	if v, ok := s.rawSeq[source]; ok {
		return v, nil
	}
	p := rawPrefix(source)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return 0, fmt.Errorf("canonical: raw seq of %s: %w", source, err)
	}
	var last uint64
	if it.Last() {
		k := it.Key()
		last = binary.BigEndian.Uint64(k[len(k)-8:])
	}
	if err := closeIter(it); err != nil {
		return 0, err
	}
	s.rawSeq[source] = last
	return last, nil
}

// Raw row values. Format 1 (written before format 2; still read) is, per
// row: varint ingest time (µs), uvarint length and bytes of the batch id,
// the row (encodeRow without kinds). Format 2 keeps the ingest time and
// batch id once per delivery (they were ~half of a raw row's bytes: a
// 1M-row COPY wrote ~34 MB of them into the batch, the WAL and the
// memtable): the delivery's first row is rawHeadRow followed by format 1,
// every other row is rawTailRow, uvarint (seq - the first row's seq), the
// row. The tag bytes are not first bytes of format 1 values of real
// times: a varint time starts below 0x80 only within 64 µs of the Unix
// epoch.
const (
	rawHeadRow = 0x7e
	rawTailRow = 0x7f
)

// rawRun is the rows of one AppendRaw of one source (or a part of them),
// encoded as Pebble batch set records (key R|source|seq, format 2 value;
// see reprWriter) in one buffer: staging a large delivery copies it whole
// instead of setting its rows one by one, and holds no pointer per row.
type rawRun struct {
	source string
	from   uint64 // seq of the run's first row
	n      int    // rows
	recs   []byte
}

// each calls fn with the key and value of each of the run's records.
func (r *rawRun) each(fn func(k, v []byte) error) error {
	b := r.recs
	for len(b) > 0 {
		kl, n := binary.Uvarint(b[1:])
		k := b[1+n : 1+n+int(kl)]
		b = b[1+n+int(kl):]
		vl, n := binary.Uvarint(b)
		v := b[n : n+int(vl)]
		b = b[n+int(vl):]
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// AppendRaw assigns the next seqs of source to rows and stages them in the
// Txn; they are written with the Txn's commit. Values are Go values of the
// kinds this package supports (ints, floats, decimals, strings, bytes, bools,
// times, json.RawMessage) or nil.
func (t *Txn) AppendRaw(source string, rows [][]any, batchID string) (fromSeq, toSeq uint64, err error) {
	if t.done {
		return 0, 0, ErrTxnDone
	}
	if source == "" {
		return 0, 0, errors.New("canonical: raw source name is empty")
	}
	last, ok := t.rawNext[source]
	if !ok {
		if last, err = t.s.lastRawSeq(source); err != nil {
			return 0, 0, err
		}
	}
	if len(rows) == 0 {
		return 0, 0, nil
	}
	at := t.now.UnixMicro()
	first := last + 1
	// A large delivery is encoded in two parts at once (encoding is pure);
	// nothing is staged unless every row encodes.
	parts := 1
	if len(rows) >= 8192 && runtime.GOMAXPROCS(0) > 1 {
		parts = 2
	}
	runs := make([]rawRun, parts)
	errs := make([]error, parts)
	prefix := rawPrefix(source)
	var wg sync.WaitGroup
	for p := range runs {
		lo, hi := len(rows)*p/parts, len(rows)*(p+1)/parts
		runs[p] = rawRun{source: source, from: first + uint64(lo), n: hi - lo}
		encode := func() {
			runs[p].recs, errs[p] = encodeRaws(rows[lo:hi], lo, prefix, first, at, batchID, source)
		}
		if p == parts-1 {
			encode()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			encode()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, 0, err
		}
	}
	t.raws = append(t.raws, runs...)
	t.rawRows += len(rows)
	last += uint64(len(rows))
	t.rawNext[source] = last
	return first, last, nil
}

// encodeRaws encodes rows (rows first.. of a delivery whose row 0 gets seq
// seq0) as batch set records of the raw log whose key prefix is prefix, in
// format 2 (row 0 carries the ingest time at and the batch id).
func encodeRaws(rows [][]any, first int, prefix []byte, seq0 uint64, at int64, batchID, source string) ([]byte, error) {
	var recs, val []byte
	for i, r := range rows {
		val = val[:0]
		if d := first + i; d == 0 {
			val = append(val, rawHeadRow)
			val = binary.AppendVarint(val, at)
			val = binary.AppendUvarint(val, uint64(len(batchID)))
			val = append(val, batchID...)
		} else {
			val = binary.AppendUvarint(append(val, rawTailRow), uint64(d))
		}
		val = binary.AppendUvarint(val, uint64(len(r)))
		for j, v := range r {
			if v == nil {
				val = append(val, vtNull)
				continue
			}
			k, err := inferKind(v)
			if err != nil {
				return nil, fmt.Errorf("raw %s row %d column %d: %w", source, first+i, j, err)
			}
			if v, err = fastNormalize(k, v); err != nil {
				return nil, fmt.Errorf("raw %s row %d column %d: %w", source, first+i, j, err)
			}
			if val, err = appendValue(val, 0, v); err != nil {
				return nil, fmt.Errorf("raw %s row %d: %w", source, first+i, err)
			}
		}
		recs = append(recs, byte(pebble.InternalKeyKindSet))
		recs = binary.AppendUvarint(recs, uint64(len(prefix)+8))
		recs = append(recs, prefix...)
		recs = binary.BigEndian.AppendUint64(recs, seq0+uint64(first+i))
		recs = binary.AppendUvarint(recs, uint64(len(val)))
		recs = append(recs, val...)
		if i == 0 && len(rows) > 1 {
			// Room for the other rows, guessed from the first.
			recs = growFresh(recs, (len(recs)+16)*(len(rows)-1)*9/8)
		}
	}
	return recs, nil
}

func quarDedupeKey(r *QuarantineRecord) []byte {
	k := appendEscaped([]byte{pQuarKey}, r.Source)
	k = u64(k, r.RawSeq)
	k = appendEscaped(k, r.Entity)
	return appendEscaped(k, r.Rule)
}

// Quarantine stages a quarantine record in the Txn. It returns the record's
// id and whether it is new (false: the same source row was already
// quarantined for the same entity and rule; nothing is written).
func (t *Txn) Quarantine(rec QuarantineRecord) (id uint64, isNew bool, err error) {
	if t.done {
		return 0, false, ErrTxnDone
	}
	dk := quarDedupeKey(&rec)
	if id, ok := t.quarKeys[string(dk)]; ok {
		return id, false, nil
	}
	v, err := t.s.get(dk)
	if err != nil {
		return 0, false, err
	}
	if v != nil {
		return binary.BigEndian.Uint64(v), false, nil
	}
	t.quarNext++
	rec.ID = t.quarNext
	if rec.FirstSeen.IsZero() {
		rec.FirstSeen = t.now
	}
	rec.FirstSeen = rec.FirstSeen.UTC().Truncate(time.Microsecond)
	t.quarKeys[string(dk)] = rec.ID
	t.quars = append(t.quars, rec)
	return rec.ID, true, nil
}

func encodeQuarantine(r *QuarantineRecord) []byte {
	e := &enc{}
	e.str(r.Source)
	e.uv(r.RawSeq)
	e.str(r.Entity)
	e.str(r.Rule)
	e.str(r.Reason)
	e.str(r.Payload)
	e.iv(r.FirstSeen.UnixMicro())
	return e.b
}

func decodeQuarantine(id uint64, b []byte) (QuarantineRecord, error) {
	d := &dec{b: b}
	r := QuarantineRecord{ID: id, Source: d.str(), RawSeq: d.uv(), Entity: d.str(), Rule: d.str(), Reason: d.str(), Payload: d.str()}
	r.FirstSeen = time.UnixMicro(d.iv()).UTC()
	if d.err != nil {
		return r, fmt.Errorf("%w: quarantine record %d", errCorrupt, id)
	}
	return r, nil
}

func (t *Txn) writeRawAndQuarantine(b batchWriter) error {
	runs := make([]int, len(t.raws))
	for i := range runs {
		runs[i] = i
	}
	if _, ok := b.(*sstStager); ok && len(runs) > 1 {
		// An sstable takes keys in order: runs source by source (each
		// source's runs ascend by seq; see commitsst.go).
		slices.SortStableFunc(runs, func(x, y int) int { return strings.Compare(t.raws[x].source, t.raws[y].source) })
	}
	for _, i := range runs {
		r := &t.raws[i]
		if w, ok := b.(*reprWriter); ok {
			// The run's records are already in the representation's format.
			w.b = append(w.b, r.recs...)
			w.n += uint32(r.n)
			continue
		}
		if err := r.each(func(k, v []byte) error { return b.Set(k, v, nil) }); err != nil {
			return err
		}
	}
	for i := range t.quars {
		q := &t.quars[i]
		if err := b.Set(u64([]byte{pQuar}, q.ID), encodeQuarantine(q), nil); err != nil {
			return err
		}
		if err := b.Set(quarDedupeKey(q), u64(nil, q.ID), nil); err != nil {
			return err
		}
	}
	return nil
}

// publishCounters makes the Txn's seqs and ids the store's (after a
// successful apply).
func (t *Txn) publishCounters() {
	for src, last := range t.rawNext {
		t.s.rawSeq[src] = last
	}
	t.s.lastQuar = t.quarNext
}

// AppendRaw durably appends rows to source's raw log on their own (no
// canonical commit). To make raw capture and its commit atomic, use Begin,
// Txn.AppendRaw and Txn.Commit instead.
func (s *Store) AppendRaw(ctx context.Context, source string, rows [][]any, batchID string) (fromSeq, toSeq uint64, err error) {
	t, err := s.Begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer t.Rollback()
	if fromSeq, toSeq, err = t.AppendRaw(source, rows, batchID); err != nil {
		return 0, 0, err
	}
	if _, err := t.Commit(ctx, CommitRequest{Kind: KindIngest}); err != nil {
		return 0, 0, err
	}
	return fromSeq, toSeq, nil
}

// ScanRaw returns source's raw rows with fromSeq <= seq <= toSeq (toSeq 0:
// to the end), in seq order.
func (s *Store) ScanRaw(ctx context.Context, source string, fromSeq, toSeq uint64) ([]RawRecord, error) {
	var out []RawRecord
	err := s.EachRaw(ctx, source, fromSeq, toSeq, func(r RawRecord) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// EachRaw calls fn for each raw row of source in [fromSeq, toSeq] (toSeq 0:
// to the end), in seq order, without materializing the range.
func (s *Store) EachRaw(ctx context.Context, source string, fromSeq, toSeq uint64, fn func(RawRecord) error) error {
	p := rawPrefix(source)
	upper := prefixEnd(p)
	if toSeq != 0 {
		upper = u64(append([]byte{}, p...), toSeq+1)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: u64(append([]byte{}, p...), fromSeq), UpperBound: upper})
	if err != nil {
		return fmt.Errorf("canonical: scan raw %s: %w", source, err)
	}
	defer it.Close()
	var head rawHead
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := it.Key()
		if len(k) != len(p)+8 {
			continue
		}
		r := RawRecord{Seq: binary.BigEndian.Uint64(k[len(p):])}
		if err := s.decodeRaw(source, &r, it.Value(), &head); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return it.Error()
}

// rawHead is the ingest time and batch id of a delivery's rows: read from
// its first row (format 2) and kept while the rows of the delivery are
// decoded.
type rawHead struct {
	seq   uint64 // the delivery's first row; 0: none yet
	at    time.Time
	batch string
}

// decodeRaw decodes the raw row value v of r.Seq (either format) into r;
// a format 2 row after the first of its delivery takes the time and batch
// id from head, which is read from the delivery's first row when it is
// another delivery's.
func (s *Store) decodeRaw(source string, r *RawRecord, v []byte, head *rawHead) error {
	corrupt := func() error { return fmt.Errorf("%w: raw %s seq %d", errCorrupt, source, r.Seq) }
	if len(v) > 0 && v[0] == rawTailRow {
		off, n := binary.Uvarint(v[1:])
		if n <= 0 || off == 0 || off >= r.Seq {
			return corrupt()
		}
		hs := r.Seq - off
		if head.seq != hs {
			hv, err := s.get(rawKey(source, hs))
			if err != nil {
				return err
			}
			if len(hv) == 0 || hv[0] != rawHeadRow {
				return corrupt()
			}
			hr := RawRecord{Seq: hs}
			if err := s.decodeRaw(source, &hr, hv, head); err != nil {
				return err
			}
		}
		r.IngestedAt, r.Batch = head.at, head.batch
		v = v[1+n:]
	} else {
		if len(v) > 0 && v[0] == rawHeadRow {
			v = v[1:]
		}
		d := &dec{b: v}
		r.IngestedAt = time.UnixMicro(d.iv()).UTC()
		r.Batch = d.str()
		if d.err != nil {
			return corrupt()
		}
		*head = rawHead{seq: r.Seq, at: r.IngestedAt, batch: r.Batch}
		v = d.b
	}
	row, err := decodeRow(v)
	if err != nil {
		return fmt.Errorf("raw %s seq %d: %w", source, r.Seq, err)
	}
	r.Row = row
	return nil
}

// Quarantined returns quarantine records with fromID <= id (all if 0), in id
// order, at most limit (0: no limit).
func (s *Store) Quarantined(ctx context.Context, fromID uint64, limit int) ([]QuarantineRecord, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: u64([]byte{pQuar}, fromID), UpperBound: []byte{pQuar + 1}})
	if err != nil {
		return nil, fmt.Errorf("canonical: scan quarantine: %w", err)
	}
	defer it.Close()
	var out []QuarantineRecord
	for ok := it.First(); ok && (limit <= 0 || len(out) < limit); ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(it.Key()) != 9 {
			continue
		}
		r, err := decodeQuarantine(binary.BigEndian.Uint64(it.Key()[1:]), it.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, it.Error()
}
