package canonical

import (
	"context"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// TestAddIndex adds a secondary index to a table that already has rows and
// history: the schema commit backfills it from the current rows (a column
// added in the same commit included), later commits maintain it, reads at
// and after the commit use it, reads before it do not see it, and it all
// survives a reopen and verification.
func TestAddIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, _ := openTest(t, dir)
	createOrders(t, s)                                // 1
	mustCommit(t, s, CommitRequest{Changes: []Change{ // 2
		{Table: "orders", Op: OpUpsert, Row: order("a", "accepted", "30")},
		{Table: "orders", Op: OpUpsert, Row: order("b", "accepted", "10")},
		{Table: "orders", Op: OpUpsert, Row: order("c", "accepted", "20")},
		{Table: "orders", Op: OpUpsert, Row: order("d", "accepted", "5")},
	}})
	mustCommit(t, s, CommitRequest{Changes: []Change{ // 3: history the backfill must not index
		{Table: "orders", Op: OpUpsert, Row: order("a", "shipped", "31")},
		{Table: "orders", Op: OpDelete, Row: []any{"d"}},
	}})
	// 4: a column and an index over it, plus an index on an old column, and
	// a data change in the same commit that the index must reflect.
	res := mustCommit(t, s, CommitRequest{Kind: KindSchema, Committer: "admin",
		Schema: []SchemaChange{
			{AddColumn: &AddColumn{Table: "orders", Column: Column{Name: "channel", Kind: KindString, Default: "web"}}},
			{AddIndex: &AddIndex{Table: "orders", Index: Index{Name: "by_total", Columns: []string{"total"}}}},
			{AddIndex: &AddIndex{Table: "orders", Index: Index{Name: "by_channel", Columns: []string{"channel", "total"}}}},
		}})
	added := res.Commit.ID
	if _, err := s.Commit(ctx, CommitRequest{Kind: KindSchema, Schema: []SchemaChange{
		{AddIndex: &AddIndex{Table: "orders", Index: Index{Name: "by_total", Columns: []string{"status"}}}}}}); err == nil {
		t.Fatal("a second index named by_total was accepted")
	}
	if _, err := s.Commit(ctx, CommitRequest{Kind: KindSchema, Schema: []SchemaChange{
		{AddIndex: &AddIndex{Table: "orders", Index: Index{Name: "by_nothing", Columns: []string{"nope"}}}}}}); err == nil {
		t.Fatal("an index on a missing column was accepted")
	}
	scan := func(index string, asOf uint64) string {
		t.Helper()
		it, err := s.ScanIndex(ctx, "orders", index, IndexScanOptions{AsOf: asOf})
		if err != nil {
			t.Fatalf("scan %s as of %d: %v", index, asOf, err)
		}
		return keysOf(rowsOrPanic(it, nil))
	}
	if got := scan("by_total", HEAD); got != "b,c,a" {
		t.Fatalf("by_total at head after backfill: %s", got)
	}
	if got := scan("by_channel", HEAD); got != "b,c,a" {
		t.Fatalf("by_channel at head after backfill: %s", got)
	}
	mustCommit(t, s, CommitRequest{Changes: []Change{ // 5
		{Table: "orders", Op: OpUpsert, Row: append(order("b", "accepted", "40"), "store")},
		{Table: "orders", Op: OpUpsert, Row: append(order("e", "accepted", "1"), "web")},
		{Table: "orders", Op: OpDelete, Row: []any{"c"}},
	}})
	if got := scan("by_total", HEAD); got != "e,a,b" {
		t.Fatalf("by_total at head: %s", got)
	}
	if got := scan("by_channel", HEAD); got != "b,e,a" {
		t.Fatalf("by_channel at head: %s", got)
	}
	if got := scan("by_total", added); got != "b,c,a" {
		t.Fatalf("by_total as of its commit: %s", got)
	}
	if _, err := s.ScanIndex(ctx, "orders", "by_total", IndexScanOptions{AsOf: added - 1}); err == nil || !strings.Contains(err.Error(), "no index") {
		t.Fatalf("by_total before it existed: %v", err)
	}
	bounded := func(asOf uint64) string {
		it, err := s.ScanIndex(ctx, "orders", "by_total", IndexScanOptions{AsOf: asOf, Lower: []any{decimal.RequireFromString("10")}, Upper: []any{decimal.RequireFromString("31")}, UpperInclusive: true})
		return keysOf(rowsOrPanic(it, err))
	}
	if got := bounded(added); got != "b,c,a" {
		t.Fatalf("by_total in [10, 31] as of %d: %s", added, got)
	}
	if got := bounded(HEAD); got != "a" {
		t.Fatalf("by_total in [10, 31] at head: %s", got)
	}
	s.Close()
	s, _ = openTest(t, dir)
	defer s.Close()
	if got := scan("by_total", HEAD); got != "e,a,b" {
		t.Fatalf("by_total after reopen: %s", got)
	}
	if got := scan("by_total", added); got != "b,c,a" {
		t.Fatalf("by_total as of its commit after reopen: %s", got)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK {
		t.Fatalf("verify %+v %v", rep, err)
	}
}
