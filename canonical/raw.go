package canonical

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
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
	at := t.now.UnixMicro()
	// A large delivery is encoded in two halves at once (encoding is pure);
	// nothing is staged unless every row encodes.
	parts := 1
	if len(rows) >= 8192 && runtime.GOMAXPROCS(0) > 1 {
		parts = 2
	}
	type encoded struct {
		arena []byte
		ends  []int
		err   error
	}
	out := make([]encoded, parts)
	var wg sync.WaitGroup
	for p := range out {
		lo, hi := len(rows)*p/parts, len(rows)*(p+1)/parts
		encode := func() {
			out[p].arena, out[p].ends, out[p].err = encodeRaws(rows[lo:hi], lo, source, at, batchID)
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
	for _, e := range out {
		if e.err != nil {
			return 0, 0, e.err
		}
	}
	t.raws = slices.Grow(t.raws, len(rows))
	for _, e := range out {
		start := 0
		for _, end := range e.ends {
			last++
			t.raws = append(t.raws, rawPending{source: source, seq: last, val: e.arena[start:end:end]})
			start = end
		}
	}
	t.rawNext[source] = last
	if len(rows) == 0 {
		return 0, 0, nil
	}
	return last - uint64(len(rows)) + 1, last, nil
}

// encodeRaws encodes raw rows (the first being row first of the delivery,
// for errors) into one arena: per row the ingest time at, the batch id and
// the row without kinds (encodeRow with nil kinds). ends are the end
// offsets of the rows in the arena.
func encodeRaws(rows [][]any, first int, source string, at int64, batchID string) ([]byte, []int, error) {
	var arena []byte
	ends := make([]int, 0, len(rows))
	for i, r := range rows {
		arena = binary.AppendVarint(arena, at)
		arena = binary.AppendUvarint(arena, uint64(len(batchID)))
		arena = append(arena, batchID...)
		arena = binary.AppendUvarint(arena, uint64(len(r)))
		for j, v := range r {
			if v == nil {
				arena = append(arena, vtNull)
				continue
			}
			k, err := inferKind(v)
			if err != nil {
				return nil, nil, fmt.Errorf("raw %s row %d column %d: %w", source, first+i, j, err)
			}
			if v, err = fastNormalize(k, v); err != nil {
				return nil, nil, fmt.Errorf("raw %s row %d column %d: %w", source, first+i, j, err)
			}
			if arena, err = appendValue(arena, 0, v); err != nil {
				return nil, nil, fmt.Errorf("raw %s row %d: %w", source, first+i, err)
			}
		}
		ends = append(ends, len(arena))
		if i == 0 && len(rows) > 1 {
			// Room for the other rows, guessed from the first.
			arena = slices.Grow(arena, (len(arena)+16)*(len(rows)-1)*5/4)
		}
	}
	return arena, ends, nil
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
	var k []byte
	src, plen := "", 0
	for _, r := range t.raws {
		if r.source != src || k == nil {
			src = r.source
			k = rawPrefix(src)
			plen = len(k)
		}
		k = u64(k[:plen], r.seq)
		if err := b.Set(k, r.val, nil); err != nil {
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
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := it.Key()
		if len(k) != len(p)+8 {
			continue
		}
		d := &dec{b: it.Value()}
		r := RawRecord{Seq: binary.BigEndian.Uint64(k[len(p):])}
		r.IngestedAt = time.UnixMicro(d.iv()).UTC()
		r.Batch = d.str()
		if d.err != nil {
			return fmt.Errorf("%w: raw %s seq %d", errCorrupt, source, r.Seq)
		}
		row, err := decodeRow(d.b)
		if err != nil {
			return fmt.Errorf("raw %s seq %d: %w", source, r.Seq, err)
		}
		r.Row = row
		if err := fn(r); err != nil {
			return err
		}
	}
	return it.Error()
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
