package canonical

import (
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// TestRawFormats: raw rows of format 1 (a time and batch id in every row,
// as written before format 2) and of format 2 (both once per delivery, on
// its first row) read back alike, whole or from any row of a delivery
// (a single row after the first included), and a format 2 row points at
// its delivery's first row.
func TestRawFormats(t *testing.T) {
	ctx := context.Background()
	s, clk := openTest(t, t.TempDir())
	defer s.Close()
	// Format 1 rows 1-3 written as the store wrote them before.
	old := time.Date(2025, 6, 1, 12, 0, 0, 123000, time.UTC)
	b := s.db.NewBatch()
	for seq := uint64(1); seq <= 3; seq++ {
		v := binary.AppendVarint(nil, old.UnixMicro())
		v = binary.AppendUvarint(v, uint64(len("old-batch")))
		v = append(v, "old-batch"...)
		v, err := encodeRow(v, nil, []any{int64(seq), fmt.Sprint("old-", seq)})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Set(rawKey("src", seq), v, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	// Format 2: two deliveries, the second one large enough to be encoded
	// in parts.
	const n = 10000
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{int64(i), fmt.Sprint("new-", i)}
	}
	if from, to, err := s.AppendRaw(ctx, "src", rows[:2], "b-small"); err != nil || from != 4 || to != 5 {
		t.Fatalf("seqs %d-%d: %v", from, to, err)
	}
	t1 := clk.t
	clk.t = clk.t.Add(time.Hour)
	if from, to, err := s.AppendRaw(ctx, "src", rows, "b-large"); err != nil || from != 6 || to != n+5 {
		t.Fatalf("seqs %d-%d: %v", from, to, err)
	}
	t2 := clk.t
	want := func(seq uint64) RawRecord {
		switch {
		case seq <= 3:
			return RawRecord{Seq: seq, IngestedAt: old, Batch: "old-batch", Row: []any{int64(seq), fmt.Sprint("old-", seq)}}
		case seq <= 5:
			return RawRecord{Seq: seq, IngestedAt: t1, Batch: "b-small", Row: rows[seq-4]}
		}
		return RawRecord{Seq: seq, IngestedAt: t2, Batch: "b-large", Row: rows[seq-6]}
	}
	for _, r := range [][2]uint64{{0, 0}, {2, 7}, {5, 5}, {n, n + 2}, {n + 5, 0}, {9000, 9000}} {
		recs, err := s.ScanRaw(ctx, "src", r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		from, to := max(r[0], 1), r[1]
		if to == 0 {
			to = n + 5
		}
		if len(recs) != int(to-from+1) {
			t.Fatalf("range %v: %d rows", r, len(recs))
		}
		for i, rec := range recs {
			if w := want(from + uint64(i)); !reflect.DeepEqual(rec, w) {
				t.Fatalf("range %v: row %d is %+v, want %+v", r, i, rec, w)
			}
		}
	}
	// Only the delivery's first row carries the time and batch id.
	v, err := s.get(rawKey("src", 7))
	if err != nil || len(v) == 0 || v[0] != rawTailRow {
		t.Fatalf("seq 7 is %x (%v), want a format 2 row after the first", v, err)
	}
	if off, _ := binary.Uvarint(v[1:]); off != 1 {
		t.Fatalf("seq 7 points %d rows back, want 1", off)
	}
	if v, err := s.get(rawKey("src", 6)); err != nil || len(v) == 0 || v[0] != rawHeadRow {
		t.Fatalf("seq 6 is %x (%v), want a delivery's first row", v, err)
	}
}

// TestFormatUpgrade: a store of format 1 opens and is marked format 2 (so
// a binary that would misread format 2 raw rows refuses it); an unknown
// format is refused.
func TestFormatUpgrade(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	setFormat := func(v string) {
		s, _ := openTest(t, dir)
		if err := s.db.Set(metaFormatKey, []byte(v), pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	setFormat(formatVersion1)
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatalf("format 1 store: %v", err)
	}
	if v, err := s.get(metaFormatKey); err != nil || string(v) != formatVersion {
		t.Fatalf("format after open: %q %v", v, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	setFormat("dualgate-canonical/99")
	if s, err := Open(ctx, dir, Options{}); err == nil {
		s.Close()
		t.Fatal("unknown format opened")
	}
}
