package canonical

import (
	"context"
	"fmt"
	"testing"
)

// TestUpsertsAreChanges: rows passed as CommitRequest.Upserts commit
// exactly as the same rows passed as OpUpsert Changes after the request's
// other changes (same hashes, counts and rows), including keys the
// Changes touch too.
func TestUpsertsAreChanges(t *testing.T) {
	ctx := context.Background()
	var heads [2]CommitInfo
	var rows [2][][]any
	for mode := range 2 {
		s, _ := openTest(t, t.TempDir())
		createOrders(t, s)
		for round := range 2 {
			changes := []Change{
				{Table: "orders", Op: OpUpsert, Row: order("o-1", fmt.Sprint("first-", round), "1.00")},
				{Table: "orders", Op: OpDelete, Row: []any{"o-3"}},
			}
			var ups [][]any
			for i := range 5 {
				ups = append(ups, order(fmt.Sprintf("o-%d", i), fmt.Sprint("S", (i+round)%2), "2.50"))
			}
			req := CommitRequest{Kind: KindIngest, Committer: "t", Changes: changes}
			if mode == 0 {
				for _, r := range ups {
					req.Changes = append(req.Changes, Change{Table: "orders", Op: OpUpsert, Row: r})
				}
			} else {
				req.Upserts = &Upserts{Table: "orders", Rows: ups}
			}
			res, err := s.Commit(ctx, req)
			if err != nil || !res.Created {
				t.Fatalf("mode %d round %d: %+v %v", mode, round, res, err)
			}
		}
		heads[mode] = s.Head()
		rows[mode] = rowsOrPanic(s.Scan(ctx, "orders", ScanOptions{AsOf: HEAD}))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if heads[0].Hash != heads[1].Hash || heads[0].RowsAdded != heads[1].RowsAdded || heads[0].RowsModified != heads[1].RowsModified {
		t.Fatalf("as changes %+v, as upserts %+v", heads[0], heads[1])
	}
	if fmt.Sprint(rows[0]) != fmt.Sprint(rows[1]) || len(rows[0]) != 5 {
		t.Fatalf("rows as changes %v, as upserts %v", rows[0], rows[1])
	}
}
