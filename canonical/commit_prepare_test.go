package canonical

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// manyOrders is n upserts of orders o00000.. with status "s<i>".
func manyOrders(n int) []Change {
	cs := make([]Change, n)
	for i := range cs {
		row := order(fmt.Sprintf("o%05d", i), fmt.Sprintf("s%d", i), "1")
		cs[i] = Change{Table: "orders", Op: OpUpsert, Row: row}
	}
	return cs
}

// A commit large enough to prepare its changes in two halves stores every
// row of both halves.
func TestCommitPreparesBothHalves(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, t.TempDir())
	createOrders(t, s)
	n := parallelStage + 904
	res := mustCommit(t, s, CommitRequest{Committer: "ing", Changes: manyOrders(n)})
	if res.Commit.RowsAdded != int64(n) {
		t.Fatalf("rows added %d, want %d", res.Commit.RowsAdded, n)
	}
	for _, i := range []int{0, n/2 - 1, n / 2, n - 1} {
		id := fmt.Sprintf("o%05d", i)
		row, ok, err := s.Get(ctx, "orders", []any{id}, HEAD)
		if err != nil || !ok {
			t.Fatalf("get %s: %v %v", id, ok, err)
		}
		if row[1] != fmt.Sprintf("s%d", i) {
			t.Fatalf("%s: status %v", id, row[1])
		}
	}
}

// Of several bad changes the commit names the first, whichever half it is
// in, and commits nothing.
func TestCommitNamesFirstBadChange(t *testing.T) {
	s, _ := openTest(t, t.TempDir())
	createOrders(t, s)
	head := s.Head().ID
	n := parallelStage + 904
	for _, tc := range []struct {
		bad   []int
		first int
	}{
		{[]int{100, n - 10}, 100},
		{[]int{n - 10}, n - 10},
		{[]int{n/2 + 1, n - 1}, n/2 + 1},
	} {
		cs := manyOrders(n)
		for _, i := range tc.bad {
			cs[i].Row[1] = nil // status is NOT NULL
		}
		_, err := s.Commit(context.Background(), CommitRequest{Committer: "ing", Kind: KindIngest, Changes: cs})
		if !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), fmt.Sprintf("change %d:", tc.first)) {
			t.Fatalf("bad changes %v: error %v, want change %d named", tc.bad, err, tc.first)
		}
		if h := s.Head().ID; h != head {
			t.Fatalf("bad changes %v: head moved %d -> %d", tc.bad, head, h)
		}
	}
	// preparePends itself, split at every change count: the same error.
	cat := s.cat.Load()
	cs := manyOrders(64)
	cs[9].Row[1], cs[40].Row[1] = nil, nil
	req := CommitRequest{Changes: cs}
	for _, at := range []int{1, 64, 1 << 30} {
		err := preparePends(&req, cat, make([]pend, len(cs)), at)
		if err == nil || !strings.Contains(err.Error(), "change 9:") {
			t.Fatalf("parallelAt %d: %v, want change 9 named", at, err)
		}
	}
}
