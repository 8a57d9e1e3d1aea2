package canonical

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// TestCurrentReusedByCommit: head rows read with Txn.Current are what
// Store.Get reads, and a commit that reuses them is identical (same hash,
// rows, index entries, history) to one that reads the keys itself, with
// keys absent, present, deleted, repeated within the commit, rows written
// under an older schema (padding) and an index to maintain.
func TestCurrentReusedByCommit(t *testing.T) {
	ctx := context.Background()
	var heads [2]CommitInfo
	var states [2][][]any
	for mode := 0; mode < 2; mode++ {
		s, _ := openTest(t, t.TempDir())
		createOrders(t, s)
		var rows [][]any
		for i := 0; i < 50; i++ {
			rows = append(rows, order(fmt.Sprintf("o%02d", i), []string{"new", "paid"}[i%2], fmt.Sprint(i)))
		}
		var changes []Change
		for _, r := range rows {
			changes = append(changes, Change{Table: "orders", Op: OpUpsert, Row: r})
		}
		mustCommit(t, s, CommitRequest{Changes: changes})
		mustCommit(t, s, CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{AddColumn: &AddColumn{Table: "orders",
			Column: Column{Name: "note", Kind: KindString, Nullable: true, Default: "none"}}}}})
		// Keys: present (some under the old schema), absent, repeated.
		var keys []string
		changes = nil
		for i := 40; i < 70; i++ {
			id := fmt.Sprintf("o%02d", i)
			k, err := AppendKey(nil, []Kind{KindString}, []any{id})
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, string(k))
			switch {
			case i%5 == 0:
				changes = append(changes, Change{Table: "orders", Op: OpDelete, Row: []any{id}})
			case i%3 == 0: // unchanged
				if i < 50 {
					changes = append(changes, Change{Table: "orders", Op: OpUpsert, Row: append(order(id, []string{"new", "paid"}[i%2], fmt.Sprint(i)), "none")})
				}
			default:
				changes = append(changes, Change{Table: "orders", Op: OpUpsert, Row: append(order(id, "shipped", "1.50"), nil)},
					Change{Table: "orders", Op: OpUpsert, Row: append(order(id, "paid", "2.5"), "x")})
			}
		}
		keys = append(keys, keys[3], keys[0])
		txn, err := s.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if mode == 1 {
			cur, err := txn.Current(ctx, "orders", keys)
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range keys {
				vals, err := DecodeKey([]byte(k))
				if err != nil {
					t.Fatal(err)
				}
				row, found, err := s.Get(ctx, "orders", vals, HEAD)
				if err != nil {
					t.Fatal(err)
				}
				if found != cur[i].Found || !reflect.DeepEqual(row, cur[i].Row) {
					t.Fatalf("key %v: Current %v %v, Get %v %v", vals, cur[i].Found, cur[i].Row, found, row)
				}
			}
		}
		res, err := txn.Commit(ctx, CommitRequest{Kind: KindIngest, Committer: "t", Changes: changes})
		if err != nil {
			t.Fatal(err)
		}
		heads[mode] = res.Commit
		states[mode] = append(rowsOrPanic(s.Scan(ctx, "orders", ScanOptions{AsOf: HEAD})),
			rowsOrPanic(s.ScanIndex(ctx, "orders", "by_status", IndexScanOptions{AsOf: HEAD}))...)
		if rep, err := s.Verify(ctx); err != nil || !rep.OK {
			t.Fatalf("verify: %+v %v", rep, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if heads[0].Hash != heads[1].Hash || heads[0].RowsAdded != heads[1].RowsAdded || heads[0].RowsModified != heads[1].RowsModified ||
		heads[0].RowsRemoved != heads[1].RowsRemoved || heads[0].RowsModified == 0 || heads[0].RowsRemoved == 0 || heads[0].RowsAdded == 0 {
		t.Fatalf("commits differ:\n%+v\n%+v", heads[0], heads[1])
	}
	if !reflect.DeepEqual(states[0], states[1]) {
		t.Fatalf("rows differ:\n%v\n%v", states[0], states[1])
	}
}

// TestAppendRawLarge: a delivery large enough to be encoded in parts
// reads back in order, every value normalized, with gap-free seqs.
func TestAppendRawLarge(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, t.TempDir())
	defer s.Close()
	const n = 20000
	rows := make([][]any, n)
	at := time.Date(2026, 1, 1, 0, 0, 0, 1500, time.FixedZone("x", 3600))
	for i := range rows {
		rows[i] = []any{int64(i), fmt.Sprint("v", i), nil, int32(i % 7), decimal.New(int64(i), -2), at, i%2 == 0, []byte{byte(i)}, float64(i) / 4}
	}
	if _, _, err := s.AppendRaw(ctx, "src", rows[:1], "b0"); err != nil {
		t.Fatal(err)
	}
	from, to, err := s.AppendRaw(ctx, "src", rows, "b1")
	if err != nil || from != 2 || to != n+1 {
		t.Fatalf("seqs %d-%d: %v", from, to, err)
	}
	recs, err := s.ScanRaw(ctx, "src", 2, 0)
	if err != nil || len(recs) != n {
		t.Fatalf("%d rows: %v", len(recs), err)
	}
	for i, r := range recs {
		want := []any{int64(i), fmt.Sprint("v", i), nil, int64(i % 7), decimal.New(int64(i), -2), time.UnixMicro(at.UnixMicro()).UTC(), i%2 == 0, []byte{byte(i)}, float64(i) / 4}
		if r.Seq != uint64(i+2) || r.Batch != "b1" || !reflect.DeepEqual(r.Row, want) {
			t.Fatalf("row %d: seq %d batch %s %#v, want %#v", i, r.Seq, r.Batch, r.Row, want)
		}
	}
	// A row that does not encode refuses the whole delivery.
	bad := append(append([][]any(nil), rows...), []any{struct{}{}})
	if _, _, err := s.AppendRaw(ctx, "src", bad, "b2"); err == nil {
		t.Fatal("bad row accepted")
	}
	if from, _, err := s.AppendRaw(ctx, "src", rows[:1], "b3"); err != nil || from != n+2 {
		t.Fatalf("after a refused delivery: seq %d: %v", from, err)
	}
}
