package audit

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// A batch value holds the records one group commit wrote, under key
// 'b' + big-endian seq of its first record. Version 1, all integers
// varints (encoding/binary's; "zigzag" ones signed):
//
//	byte     version (1)
//	uvarint  seq of the first record (the rest follow consecutively)
//	uvarint  number of records n (at least 1)
//	uvarint  number of strings m, then m times: uvarint length, UTF-8 bytes
//	[32]byte the first record's prev_hash (a later record's is the hash
//	         of the one before it)
//	n records, each:
//	  9 uvarint string indexes: user_name, role, application_name,
//	    client_addr, fingerprint, statement, authority, sqlstate, via
//	  uvarint  relations: 0 for none (JSON null), else 1 + count, then
//	           count string indexes ([] is 1, then nothing)
//	  zigzag   at: whole Unix seconds minus the previous record's (the
//	           first record's: minus 0)
//	  zigzag   at: nanoseconds minus the previous record's (0..999999999
//	           after adding; the first's: minus 0); at is always UTC
//	  zigzag   as_of minus the previous record's (as uint64, wrapping)
//	  zigzag   rows
//	  uvarint  duration_ms: 2*µs when duration_ms is exactly µs/1000 for a
//	           whole µs (how the gateway makes it), else 1 and the
//	           float64's 8 bits little-endian (NaN, -0 and the rest exact)
//	  [32]byte hash
//
// Why this shape: a batch holds up to a few thousand records of the
// same few sessions and statements, so every text field is an index into
// the batch's string table (one or two bytes) instead of the text; at and
// as_of barely move between neighbours, so deltas take a byte or three;
// seq and prev_hash are implied by the chain. What stays is mostly the
// 32-byte hash: about 50 bytes a record against about 500 of JSON (its
// two hashes in hex alone are 128). Seconds and nanoseconds are separate
// deltas because at spans years 0-9999 (the JSON the hash is over refuses
// others), beyond int64 nanoseconds. The chain does not change: a
// record's hash is still over its JSON (chain), rebuilt by Verify from the
// decoded record, so the stored form is free.
const batchVersion = 1

// minBatchRecord is the fewest bytes a record takes in a batch (10 one-byte
// uvarints, 5 one-byte varints, the hash): the decoder refuses a record
// count the value cannot hold before allocating for it.
const minBatchRecord = 15 + 32

// batchStrings indexes a batch's string table while encoding it.
type batchStrings struct {
	index map[string]uint64
	list  []string
}

func (s *batchStrings) ref(str string) uint64 {
	if i, ok := s.index[str]; ok {
		return i
	}
	i := uint64(len(s.list))
	s.index[str] = i
	s.list = append(s.list, str)
	return i
}

// batchEncoder keeps the writer's scratch space across batches.
type batchEncoder struct {
	strs batchStrings
	recs []byte // the records' part, written before the string table is known
	last [9]fieldRef
}

// fieldRef is a text field's last string and its index in the table.
type fieldRef struct {
	s  string
	i  uint64
	ok bool
}

// appendBatch appends recs, chained records with consecutive seqs, as one
// batch value. Only recs[0]'s PrevHash is stored; the others' are implied
// (the writer always chains them). A hash that is not 64 hex digits, or a
// time not in UTC, cannot be stored and is an error.
func (e *batchEncoder) appendBatch(dst []byte, recs []*Record) ([]byte, error) {
	if len(recs) == 0 {
		return dst, errors.New("audit batch: no records")
	}
	if e.strs.index == nil {
		e.strs.index = make(map[string]uint64)
	}
	clear(e.strs.index)
	e.strs.list = e.strs.list[:0]
	e.last = [9]fieldRef{}
	b := e.recs[:0]
	var sec, nsec int64
	var asOf uint64
	for _, r := range recs {
		if r.At.Location() != time.UTC {
			return dst, fmt.Errorf("audit batch: record %d: time %v is not UTC", r.Seq, r.At)
		}
		for f, s := range [...]string{r.User, r.Role, r.Application, r.ClientAddr, r.Fingerprint, r.Statement, r.Authority, r.SQLState, r.Via} {
			// Most records repeat the previous one's field: compare with
			// it (often the same string, a pointer compare) before hashing
			// the text into the table's map.
			if last := &e.last[f]; !last.ok || last.s != s {
				*last = fieldRef{s: s, i: e.strs.ref(s), ok: true}
			}
			b = binary.AppendUvarint(b, e.last[f].i)
		}
		if r.Relations == nil {
			b = append(b, 0)
		} else {
			b = binary.AppendUvarint(b, uint64(len(r.Relations))+1)
			for _, rel := range r.Relations {
				b = binary.AppendUvarint(b, e.strs.ref(rel))
			}
		}
		s, ns := r.At.Unix(), int64(r.At.Nanosecond())
		b = binary.AppendVarint(b, s-sec)
		b = binary.AppendVarint(b, ns-nsec)
		sec, nsec = s, ns
		b = binary.AppendVarint(b, int64(r.AsOf-asOf))
		asOf = r.AsOf
		b = binary.AppendVarint(b, r.Rows)
		b = appendDuration(b, r.DurationMS)
		var err error
		if b, err = appendHash(b, r.Hash); err != nil {
			return dst, fmt.Errorf("audit batch: record %d: %w", r.Seq, err)
		}
	}
	e.recs = b
	dst = append(dst, batchVersion)
	dst = binary.AppendUvarint(dst, recs[0].Seq)
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	dst = binary.AppendUvarint(dst, uint64(len(e.strs.list)))
	for _, s := range e.strs.list {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	dst, err := appendHash(dst, recs[0].PrevHash)
	if err != nil {
		return dst, fmt.Errorf("audit batch: record %d prev_hash: %w", recs[0].Seq, err)
	}
	return append(dst, b...), nil
}

// appendHash appends a hash given as 64 lower-case hex digits (what
// chain writes and the decoder gives back) as its 32 bytes.
func appendHash(b []byte, h string) ([]byte, error) {
	if len(h) != 2*32 {
		return b, fmt.Errorf("hash %q is not 32 bytes of hex", h)
	}
	for i := 0; i < len(h); i += 2 {
		hi, lo := unhex[h[i]], unhex[h[i+1]]
		if hi|lo > 15 {
			return b, fmt.Errorf("hash %q is not lower-case hex", h)
		}
		b = append(b, hi<<4|lo)
	}
	return b, nil
}

// unhex maps a lower-case hex digit to its value, any other byte to 0xff
// (a table: the writer decodes every record's hash).
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range []byte(hexDigits) {
		t[c] = byte(i)
	}
	return t
}()

func appendDuration(b []byte, ms float64) []byte {
	if ms >= 0 && ms < 1<<40 {
		us := math.Round(ms * 1000)
		if math.Float64bits(us/1000) == math.Float64bits(ms) {
			return binary.AppendUvarint(b, uint64(us)<<1)
		}
	}
	b = append(b, 1)
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(ms))
}

// batchReader reads a batch value, bounds-checked: a truncated or garbled
// value is an error, never a panic or an outsized allocation.
type batchReader struct {
	b   []byte
	err error
}

var errBatchShort = errors.New("value ends early")

func (r *batchReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *batchReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errBatchShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *batchReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errBatchShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *batchReader) bytes(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.fail(errBatchShort)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *batchReader) hash() string {
	return hex.EncodeToString(r.bytes(32))
}

// count reads a count of items each taking at least size bytes, refusing
// one the rest of the value cannot hold.
func (r *batchReader) count(size int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/size) {
		r.fail(fmt.Errorf("count %d does not fit the value", n))
		return 0
	}
	return int(n)
}

// decodeBatch decodes a batch value into dst (reused) and returns the
// records, each exactly as the writer chained it.
func decodeBatch(dst []Record, v []byte) ([]Record, error) {
	r := batchReader{b: v}
	if len(v) == 0 || v[0] != batchVersion {
		if len(v) == 0 {
			return dst[:0], errors.New("audit batch: empty value")
		}
		return dst[:0], fmt.Errorf("audit batch: unknown version %d", v[0])
	}
	r.b = r.b[1:]
	seq := r.uvarint()
	n := r.count(1)
	m := r.count(1)
	strs := make([]string, m)
	for i := range strs {
		s := r.bytes(r.uvarint())
		if !utf8.Valid(s) {
			r.fail(fmt.Errorf("string %d is not UTF-8", i))
		}
		strs[i] = string(s)
	}
	prev := r.hash()
	if n == 0 && r.err == nil {
		r.fail(errors.New("no records"))
	}
	if r.err == nil && n > len(r.b)/minBatchRecord {
		r.fail(fmt.Errorf("%d records do not fit the value", n))
	}
	if r.err != nil {
		return dst[:0], fmt.Errorf("audit batch: %w", r.err)
	}
	str := func() string {
		i := r.uvarint()
		if i >= uint64(len(strs)) {
			r.fail(fmt.Errorf("string index %d out of %d", i, len(strs)))
			return ""
		}
		return strs[i]
	}
	dst = dst[:0]
	// One backing array for the batch's relations, each record its own
	// capped stretch of it: a caller appending to one record's relations
	// reallocates instead of writing over the next record's. Never nil, so
	// an empty stretch is [] and not null.
	rels := make([]string, 0, 2*n)
	var sec, nsec int64
	var asOf uint64
	for i := 0; i < n && r.err == nil; i++ {
		rec := Record{Seq: seq + uint64(i), PrevHash: prev}
		for _, f := range [...]*string{&rec.User, &rec.Role, &rec.Application, &rec.ClientAddr, &rec.Fingerprint, &rec.Statement, &rec.Authority, &rec.SQLState, &rec.Via} {
			*f = str()
		}
		if k := r.count(1); k > 0 {
			start := len(rels)
			for j := 1; j < k; j++ {
				rels = append(rels, str())
			}
			rec.Relations = rels[start:len(rels):len(rels)]
		}
		sec += r.varint()
		nsec += r.varint()
		if nsec < 0 || nsec >= 1e9 {
			r.fail(fmt.Errorf("record %d: nanoseconds %d out of range", rec.Seq, nsec))
		}
		rec.At = time.Unix(sec, nsec).UTC()
		asOf += uint64(r.varint())
		rec.AsOf = asOf
		rec.Rows = r.varint()
		if d := r.uvarint(); d == 1 {
			if p := r.bytes(8); p != nil {
				rec.DurationMS = math.Float64frombits(binary.LittleEndian.Uint64(p))
			}
		} else if d&1 == 0 {
			rec.DurationMS = float64(d>>1) / 1000
		} else {
			r.fail(fmt.Errorf("record %d: bad duration tag %d", rec.Seq, d))
		}
		rec.Hash = r.hash()
		prev = rec.Hash
		dst = append(dst, rec)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Errorf("%d bytes after the last record", len(r.b)))
	}
	if r.err != nil {
		return dst[:0], fmt.Errorf("audit batch at seq %d: %w", seq, r.err)
	}
	return dst, nil
}
