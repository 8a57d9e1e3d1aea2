package canonical

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/shopspring/decimal"
)

// TestScanColumnsAndReuse: a scan reading only some columns returns the
// same values for them as a full scan (at head, AS OF, after a column was
// added, so padding with the default still applies), nil for the others;
// ReuseRow returns one slice whose values stay valid once copied out.
func TestScanColumnsAndReuse(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, t.TempDir())
	createOrders(t, s)
	mustCommit(t, s, CommitRequest{Changes: []Change{
		{Table: "orders", Op: OpUpsert, Row: order("a", "accepted", "1.50")},
		{Table: "orders", Op: OpUpsert, Row: []any{"b", "paid", nil, nil}},
		{Table: "orders", Op: OpUpsert, Row: order("c", "accepted", "-123456789012345678901.25")},
	}}) // 2
	mustCommit(t, s, CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{AddColumn: &AddColumn{Table: "orders",
		Column: Column{Name: "channel", Kind: KindString, Default: "web"}}}}}) // 3
	mustCommit(t, s, CommitRequest{Changes: []Change{
		{Table: "orders", Op: OpUpsert, Row: append(order("d", "new", "7"), "store")},
		{Table: "orders", Op: OpUpsert, Row: append(order("a", "paid", "1.50"), "app")},
	}}) // 4
	for _, asOf := range []uint64{HEAD, 2, 3} {
		full := rowsOrPanic(s.Scan(ctx, "orders", ScanOptions{AsOf: asOf}))
		if len(full) == 0 {
			t.Fatalf("as of %d: no rows", asOf)
		}
		width := len(full[0])
		for _, cols := range [][]int{{0}, {2}, {1, 4}, {4}, {0, 1, 2, 3}} {
			valid := []int{} // non-nil: an empty list decodes no column
			for _, c := range cols {
				if c < width {
					valid = append(valid, c)
				}
			}
			for _, reuse := range []bool{false, true} {
				it, err := s.Scan(ctx, "orders", ScanOptions{AsOf: asOf, Columns: valid, ReuseRow: reuse})
				if err != nil {
					t.Fatal(err)
				}
				var got [][]any
				var first []any
				for it.Next() {
					r := it.Row()
					if first == nil {
						first = r
					} else if reuse && &first[0] != &r[0] {
						t.Fatal("ReuseRow returned a new slice")
					}
					got = append(got, append([]any(nil), r...))
				}
				if err := it.Err(); err != nil {
					t.Fatal(err)
				}
				_ = it.Close()
				if len(got) != len(full) {
					t.Fatalf("as of %d cols %v: %d rows, want %d", asOf, valid, len(got), len(full))
				}
				need := map[int]bool{}
				for _, c := range valid {
					need[c] = true
				}
				for i := range full {
					if len(got[i]) != width {
						t.Fatalf("as of %d: row width %d, want %d", asOf, len(got[i]), width)
					}
					for c := 0; c < width; c++ {
						want := full[i][c]
						if !need[c] {
							want = nil
						}
						if fmt.Sprint(got[i][c]) != fmt.Sprint(want) {
							t.Fatalf("as of %d cols %v reuse %v: row %d col %d = %v, want %v", asOf, valid, reuse, i, c, got[i][c], want)
						}
					}
				}
			}
		}
	}
	if _, err := s.Scan(ctx, "orders", ScanOptions{Columns: []int{9}}); !errors.Is(err, ErrBadValue) {
		t.Fatalf("column out of range: %v", err)
	}
}

// TestDecodeValuesRoundTrip: every kind survives encodeRow/decodeRow and
// the column-selecting decoder, including decimals just below and above
// the small-coefficient path (7 bytes) and negative ones.
func TestDecodeValuesRoundTrip(t *testing.T) {
	huge, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	vals := []any{nil, int64(-1), int64(1 << 62), 3.25, "text", []byte{0, 1}, true, false,
		decimal.New(1<<55, -3), decimal.New(-(1 << 55), -3), decimal.New(1<<56, 2), decimal.New(-(1<<62)+7, -9),
		decimal.NewFromBigInt(huge, -4), decimal.Zero, decimal.New(0, -2), "", `{"a":1}`}
	kinds := make([]Kind, len(vals))
	cols := make([]Column, len(vals))
	for i, v := range vals {
		k := KindString
		if v != nil {
			k, _ = inferKind(v)
		}
		kinds[i], cols[i] = k, Column{Name: fmt.Sprint("c", i), Kind: k, Nullable: true}
	}
	enc, err := encodeRow(nil, kinds, vals)
	if err != nil {
		t.Fatal(err)
	}
	row, err := decodeRow(enc)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newRowDecoder(&TableSchema{Name: "t", Columns: cols}, []int{3, 8, 12}, true)
	if err != nil {
		t.Fatal(err)
	}
	part, err := d.decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		same := func(a, b any) bool {
			if da, ok := a.(decimal.Decimal); ok {
				db, ok := b.(decimal.Decimal)
				return ok && da.Equal(db) && da.Exponent() == db.Exponent()
			}
			return fmt.Sprintf("%T %v", a, a) == fmt.Sprintf("%T %v", b, b)
		}
		if !same(row[i], v) {
			t.Errorf("col %d: decoded %T %v, want %T %v", i, row[i], row[i], v, v)
		}
		want := any(nil)
		if i == 3 || i == 8 || i == 12 {
			want = v
		}
		if !same(part[i], want) {
			t.Errorf("col %d (selected decode): %v, want %v", i, part[i], want)
		}
	}
	// Truncated input is an error, never a panic.
	for n := 0; n < len(enc); n++ {
		if _, err := d.decode(enc[:n]); err == nil {
			t.Fatalf("truncated row (%d of %d bytes) decoded", n, len(enc))
		}
	}
}
