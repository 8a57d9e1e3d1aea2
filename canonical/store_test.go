package canonical

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/shopspring/decimal"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func openTest(t testing.TB, dir string) (*Store, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, err := Open(context.Background(), dir, Options{Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	// Closed when the test ends (a no-op for a store the test closed
	// itself): an unclosed store keeps its Pebble goroutines, cache and
	// files open for the rest of the package's tests, and a reader left
	// open shows up here as an error.
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close the store of %s: %v", dir, err)
		}
	})
	return s, clk
}

var ordersSchema = TableSchema{
	Name: "orders",
	Columns: []Column{
		{Name: "order_id", Kind: KindString},
		{Name: "status", Kind: KindString},
		{Name: "total", Kind: KindDecimal, Nullable: true},
		{Name: "accepted_at", Kind: KindTime, Nullable: true},
	},
	PrimaryKey: []string{"order_id"},
	Indexes:    []Index{{Name: "by_status", Columns: []string{"status"}}},
}

func mustCommit(t testing.TB, s *Store, req CommitRequest) CommitResult {
	t.Helper()
	if req.Kind == "" {
		req.Kind = KindIngest
	}
	res, err := s.Commit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func createOrders(t testing.TB, s *Store) {
	ts := ordersSchema
	mustCommit(t, s, CommitRequest{Kind: KindSchema, Committer: "admin", Message: "create orders",
		Schema: []SchemaChange{{CreateTable: &ts}}})
}

func order(id, status string, total string) []any {
	return []any{id, status, decimal.RequireFromString(total), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
}

// rowsOrPanic drains a RowIter (panicking on errors, which fails the test).
func rowsOrPanic(it *RowIter, err error) [][]any {
	if err != nil {
		panic(err)
	}
	defer it.Close()
	var out [][]any
	for it.Next() {
		out = append(out, it.Row())
	}
	if it.Err() != nil {
		panic(it.Err())
	}
	return out
}

func keysOf(rows [][]any) string {
	var s []string
	for _, r := range rows {
		s = append(s, fmt.Sprint(r[0]))
	}
	return strings.Join(s, ",")
}

func TestCommitBasics(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, t.TempDir())
	defer s.Close()
	if h := s.Head(); h.ID != 0 {
		t.Fatalf("empty head %d", h.ID)
	}
	createOrders(t, s)
	r1 := mustCommit(t, s, CommitRequest{Committer: "ing", Source: "oms", MappingVersion: 2, Message: "b1",
		Changes: []Change{{Table: "orders", Op: OpUpsert, Row: order("o1", "accepted", "10.50")},
			{Table: "orders", Op: OpUpsert, Row: order("o2", "accepted", "5")}}})
	if !r1.Created || r1.Commit.ID != 2 || r1.Commit.RowsAdded != 2 || r1.Commit.ParentHash != s.mustByID(t, 1).Hash {
		t.Fatalf("bad commit 2: %+v", r1)
	}
	// Idempotent retry: no new commit.
	r2 := mustCommit(t, s, CommitRequest{Changes: []Change{{Table: "orders", Op: OpUpsert, Row: order("o1", "accepted", "10.50")}}})
	if r2.Created || r2.Commit.ID != 2 || r2.Unchanged != 1 {
		t.Fatalf("no-op commit: %+v", r2)
	}
	r3 := mustCommit(t, s, CommitRequest{Kind: KindCorrection, Committer: "steward", Message: "fix",
		Changes: []Change{{Table: "orders", Op: OpUpsert, Row: order("o1", "paid", "10.50")},
			{Table: "orders", Op: OpDelete, Row: []any{"o2"}},
			{Table: "orders", Op: OpDelete, Row: []any{"nope"}},
			{Table: "orders", Op: OpUpsert, Row: order("o3", "accepted", "1")},
			{Table: "orders", Op: OpDelete, Row: []any{"o3"}}}})
	if r3.Commit.ID != 3 || r3.Commit.RowsModified != 1 || r3.Commit.RowsRemoved != 1 || r3.Commit.RowsAdded != 0 || r3.Unchanged != 2 {
		t.Fatalf("commit 3: %+v", r3)
	}
	if r3.Commit.Tables[0] != "orders" || r3.Commit.Kind != KindCorrection {
		t.Fatalf("commit 3 info: %+v", r3.Commit)
	}
	row, ok, err := s.Get(ctx, "orders", []any{"o1"}, HEAD)
	if err != nil || !ok || row[1] != "paid" {
		t.Fatalf("get head: %v %v %v", row, ok, err)
	}
	row, ok, _ = s.Get(ctx, "orders", []any{"o1"}, 2)
	if !ok || row[1] != "accepted" || !row[2].(decimal.Decimal).Equal(decimal.RequireFromString("10.5")) {
		t.Fatalf("get as of 2: %v", row)
	}
	if _, ok, _ = s.Get(ctx, "orders", []any{"o2"}, 3); ok {
		t.Fatal("o2 deleted at 3")
	}
	if _, ok, _ = s.Get(ctx, "orders", []any{"o2"}, 2); !ok {
		t.Fatal("o2 present at 2")
	}
	if _, _, err = s.Get(ctx, "orders", []any{"o2"}, 9); !errors.Is(err, ErrNoSuchCommit) {
		t.Fatalf("as of future: %v", err)
	}
	if _, _, err = s.Get(ctx, "orders", []any{"o2"}, 1); err != nil {
		t.Fatalf("as of schema commit: %v", err)
	}
	if _, _, err = s.Get(ctx, "nosuch", []any{"o2"}, HEAD); !errors.Is(err, ErrNoSuchTable) {
		t.Fatalf("no such table: %v", err)
	}
	// Validation errors write nothing.
	if _, err := s.Commit(ctx, CommitRequest{Kind: KindIngest, Changes: []Change{{Table: "orders", Op: OpUpsert, Row: []any{"x", nil, nil, nil}}}}); !errors.Is(err, ErrBadValue) {
		t.Fatalf("null status: %v", err)
	}
	if _, err := s.Commit(ctx, CommitRequest{Kind: KindIngest, Changes: []Change{{Table: "orders", Op: OpUpsert, Row: []any{"x", "s", "abc", nil}}}}); !errors.Is(err, ErrBadValue) {
		t.Fatalf("bad decimal: %v", err)
	}
	if _, err := s.Commit(ctx, CommitRequest{Kind: "weird"}); err == nil {
		t.Fatal("bad kind accepted")
	}
	if s.Head().ID != 3 {
		t.Fatalf("head %d", s.Head().ID)
	}
	cs, err := s.Commits(ctx, 0, 0)
	if err != nil || len(cs) != 3 || cs[1].Committer != "ing" || cs[1].MappingVersion != 2 || cs[1].Source != "oms" {
		t.Fatalf("commits: %+v %v", cs, err)
	}
	for i := 1; i < len(cs); i++ {
		if cs[i].ParentHash != cs[i-1].Hash || cs[i].CommittedAt.Before(cs[i-1].CommittedAt) {
			t.Fatal("chain")
		}
	}
}

func (s *Store) mustByID(t testing.TB, id uint64) CommitInfo {
	ci, err := s.CommitByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return ci
}

func TestScanAndIndex(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, t.TempDir())
	defer s.Close()
	createOrders(t, s)
	var ch []Change
	for i := 0; i < 10; i++ {
		st := "accepted"
		if i%3 == 0 {
			st = "paid"
		}
		ch = append(ch, Change{Table: "orders", Op: OpUpsert, Row: order(fmt.Sprintf("o%d", i), st, fmt.Sprint(i))})
	}
	mustCommit(t, s, CommitRequest{Changes: ch}) // 2
	mustCommit(t, s, CommitRequest{Changes: []Change{
		{Table: "orders", Op: OpUpsert, Row: order("o1", "paid", "1")},
		{Table: "orders", Op: OpDelete, Row: order("o3", "paid", "3")},
		{Table: "orders", Op: OpUpsert, Row: order("o10", "shipped", "10")},
	}}) // 3
	all := rowsOrPanic(s.Scan(ctx, "orders", ScanOptions{}))
	if got := keysOf(all); got != "o0,o1,o10,o2,o4,o5,o6,o7,o8,o9" {
		t.Fatalf("head scan %s", got)
	}
	old := rowsOrPanic(s.Scan(ctx, "orders", ScanOptions{AsOf: 2}))
	if got := keysOf(old); got != "o0,o1,o2,o3,o4,o5,o6,o7,o8,o9" {
		t.Fatalf("as of 2 scan %s", got)
	}
	rev := rowsOrPanic(s.Scan(ctx, "orders", ScanOptions{AsOf: 2, Reverse: true}))
	if got := keysOf(rev); got != "o9,o8,o7,o6,o5,o4,o3,o2,o1,o0" {
		t.Fatalf("as of 2 reverse %s", got)
	}
	rng := rowsOrPanic(s.Scan(ctx, "orders", ScanOptions{Lower: []any{"o1"}, Upper: []any{"o4"}}))
	if got := keysOf(rng); got != "o1,o10,o2" {
		t.Fatalf("range %s", got)
	}
	rng = rowsOrPanic(s.Scan(ctx, "orders", ScanOptions{AsOf: 2, Lower: []any{"o1"}, LowerExclusive: true, Upper: []any{"o4"}, UpperInclusive: true, Reverse: true}))
	if got := keysOf(rng); got != "o4,o3,o2" {
		t.Fatalf("range as of 2 %s", got)
	}
	if it, err := s.Scan(ctx, "orders", ScanOptions{}); err != nil || func() uint64 { defer it.Close(); return it.AsOf() }() != 3 {
		t.Fatalf("asof %v", err)
	}
	paid := rowsOrPanic(s.ScanIndex(ctx, "orders", "by_status", IndexScanOptions{Lower: []any{"paid"}, Upper: []any{"paid"}, UpperInclusive: true}))
	if got := keysOf(paid); got != "o0,o1,o6,o9" {
		t.Fatalf("index head %s", got)
	}
	paid = rowsOrPanic(s.ScanIndex(ctx, "orders", "by_status", IndexScanOptions{AsOf: 2, Lower: []any{"paid"}, Upper: []any{"paid"}, UpperInclusive: true}))
	if got := keysOf(paid); got != "o0,o3,o6,o9" {
		t.Fatalf("index as of 2 %s", got)
	}
	allIdx := rowsOrPanic(s.ScanIndex(ctx, "orders", "by_status", IndexScanOptions{Reverse: true}))
	if got := keysOf(allIdx); got != "o10,o9,o6,o1,o0,o8,o7,o5,o4,o2" {
		t.Fatalf("index reverse %s", got)
	}
}

func TestHistoryDiffChanges(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, t.TempDir())
	defer s.Close()
	createOrders(t, s)                                                                                                    // 1
	mustCommit(t, s, CommitRequest{Changes: []Change{{Table: "orders", Op: OpUpsert, Row: order("a", "accepted", "1")}}}) // 2
	mustCommit(t, s, CommitRequest{Changes: []Change{{Table: "orders", Op: OpUpsert, Row: order("b", "accepted", "2")}}}) // 3
	mustCommit(t, s, CommitRequest{Changes: []Change{{Table: "orders", Op: OpUpsert, Row: order("a", "paid", "1")}}})     // 4
	mustCommit(t, s, CommitRequest{Changes: []Change{{Table: "orders", Op: OpDelete, Row: []any{"a"}}}})                  // 5
	mustCommit(t, s, CommitRequest{Changes: []Change{{Table: "orders", Op: OpUpsert, Row: order("a", "accepted", "7")}}}) // 6
	h, err := s.History(ctx, "orders", HistoryOptions{Key: []any{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := h.Collect()
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, e := range hs {
		st := "deleted"
		if !e.Deleted {
			st = e.Row[1].(string)
		}
		desc = append(desc, fmt.Sprintf("%d:%s", e.Commit.ID, st))
	}
	if strings.Join(desc, " ") != "6:accepted 5:deleted 4:paid 2:accepted" {
		t.Fatalf("history %v", desc)
	}
	h, _ = s.History(ctx, "orders", HistoryOptions{FromCommit: 3, ToCommit: 4})
	hs, _ = h.Collect()
	if len(hs) != 2 || hs[0].Key[0] != "b" || hs[1].Commit.ID != 4 {
		t.Fatalf("history range %+v", hs)
	}
	h, _ = s.History(ctx, "orders", HistoryOptions{})
	hs, _ = h.Collect()
	if len(hs) != 5 {
		t.Fatalf("full history %d", len(hs))
	}
	d, err := s.Diff(ctx, "orders", DiffOptions{FromCommit: 1, ToCommit: 6})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := d.Collect()
	if err != nil {
		t.Fatal(err)
	}
	desc = nil
	for _, e := range ds {
		desc = append(desc, fmt.Sprintf("%d>%d:%v:%s", e.FromCommit.ID, e.ToCommit.ID, e.Key[0], e.Type))
	}
	if strings.Join(desc, " ") != "1>2:a:added 2>3:b:added 3>4:a:modified 4>5:a:removed 5>6:a:added" {
		t.Fatalf("diff %v", desc)
	}
	d, _ = s.Diff(ctx, "orders", DiffOptions{FromCommit: 0, ToCommit: 6, Key: []any{"a"}})
	ds2, _ := d.Collect()
	if len(ds2) != 4 || ds2[1].From[1] != "accepted" || ds2[1].To[1] != "paid" || ds2[2].To != nil {
		t.Fatalf("diff key %+v", ds2)
	}
	d, _ = s.Diff(ctx, "orders", DiffOptions{FromCommit: 2, ToCommit: 6, Net: true})
	ds, _ = d.Collect()
	if len(ds) != 2 || ds[0].Type != DiffModified || ds[0].From[2].(decimal.Decimal).String() != "1" || ds[1].Type != DiffAdded || ds[1].FromCommit.ID != 2 || ds[1].ToCommit.ID != 6 {
		t.Fatalf("net diff %+v", ds)
	}
	d, _ = s.Diff(ctx, "orders", DiffOptions{FromCommit: 3, ToCommit: 5, Net: true})
	ds, _ = d.Collect()
	if len(ds) != 1 || ds[0].Type != DiffRemoved {
		t.Fatalf("net diff removed %+v", ds)
	}
	c, err := s.Changes(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := c.Collect()
	if err != nil || len(cs) != 1 || cs[0].Old[1] != "accepted" || cs[0].New[1] != "paid" || cs[0].Type != DiffModified || cs[0].Table != "orders" {
		t.Fatalf("changes %+v %v", cs, err)
	}
	c, _ = s.Changes(ctx, 1)
	if cs, _ = c.Collect(); len(cs) != 0 {
		t.Fatalf("schema commit has no row changes: %+v", cs)
	}
}

func TestResolveRev(t *testing.T) {
	ctx := context.Background()
	s, clk := openTest(t, t.TempDir())
	defer s.Close()
	if _, err := s.ResolveRev(ctx, "HEAD"); !errors.Is(err, ErrNoSuchCommit) {
		t.Fatalf("HEAD on empty: %v", err)
	}
	createOrders(t, s)
	var infos []CommitInfo
	for i := 0; i < 40; i++ {
		r := mustCommit(t, s, CommitRequest{Changes: []Change{{Table: "orders", Op: OpUpsert, Row: order("a", fmt.Sprint(i), "1")}}})
		infos = append(infos, r.Commit)
	}
	head := s.Head()
	check := func(rev string, want uint64) {
		t.Helper()
		ci, err := s.ResolveRev(ctx, rev)
		if err != nil || ci.ID != want {
			t.Fatalf("%s: %d %v, want %d", rev, ci.ID, err, want)
		}
	}
	check("HEAD", head.ID)
	check("head~3", head.ID-3)
	check("HEAD^", head.ID-1)
	check("HEAD~", head.ID-1)
	check("7", 7)
	check(infos[5].Hash.String(), infos[5].ID)
	check(strings.ToUpper(infos[5].Hash.String()[:12]), infos[5].ID)
	check(infos[9].CommittedAt.Format(time.RFC3339Nano), infos[9].ID)
	check(infos[9].CommittedAt.Add(500*time.Millisecond).Format("2006-01-02 15:04:05.999"), infos[9].ID)
	if _, err := s.ResolveRev(ctx, "HEAD~41"); !errors.Is(err, ErrNoSuchCommit) {
		t.Fatalf("HEAD~41: %v", err)
	}
	if _, err := s.ResolveRev(ctx, "2020-01-01"); !errors.Is(err, ErrNoSuchCommit) {
		t.Fatalf("before first: %v", err)
	}
	_ = clk
	// Find an ambiguous 4-hex prefix among 41 commits (likely for 1 hex char,
	// so use the shortest allowed length and search).
	seen := map[string]int{}
	cs, _ := s.Commits(ctx, 0, 0)
	for _, c := range cs {
		seen[c.Hash.String()[:4]]++
	}
	for p, n := range seen {
		if n > 1 {
			if _, err := s.ResolveRev(ctx, p); !errors.Is(err, ErrAmbiguousRev) {
				t.Fatalf("ambiguous %s: %v", p, err)
			}
		}
	}
	// Odd-length prefixes work too.
	check(infos[3].Hash.String()[:9], infos[3].ID)
	if _, err := s.ResolveRev(ctx, "zzz-not-a-rev"); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestSchemaEvolution(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, _ := openTest(t, dir)
	createOrders(t, s)
	mustCommit(t, s, CommitRequest{Changes: []Change{{Table: "orders", Op: OpUpsert, Row: order("a", "accepted", "1")}}}) // 2
	mustCommit(t, s, CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{AddColumn: &AddColumn{Table: "orders",
		Column: Column{Name: "channel", Kind: KindString, Default: "web"}}}}}) // 3
	if _, err := s.Commit(ctx, CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{AddColumn: &AddColumn{Table: "orders",
		Column: Column{Name: "bad", Kind: KindInt64}}}}}); !errors.Is(err, ErrSchema) {
		t.Fatalf("NOT NULL without default: %v", err)
	}
	if _, err := s.Commit(ctx, CommitRequest{Kind: KindIngest, Schema: []SchemaChange{{CreateTable: &ordersSchema}}}); err == nil {
		t.Fatal("schema change in ingest commit")
	}
	row, _, _ := s.Get(ctx, "orders", []any{"a"}, HEAD)
	if len(row) != 5 || row[4] != "web" {
		t.Fatalf("padded row %v", row)
	}
	row, _, _ = s.Get(ctx, "orders", []any{"a"}, 2)
	if len(row) != 4 {
		t.Fatalf("as of 2 row has old schema: %v", row)
	}
	// Upsert equal to the padded row is a no-op.
	r := mustCommit(t, s, CommitRequest{Changes: []Change{{Table: "orders", Op: OpUpsert, Row: append(order("a", "accepted", "1"), "web")}}})
	if r.Created {
		t.Fatal("padded-equal upsert should be a no-op")
	}
	if _, err := s.Commit(ctx, CommitRequest{Kind: KindIngest, Changes: []Change{{Table: "orders", Op: OpUpsert, Row: order("b", "accepted", "1")}}}); !errors.Is(err, ErrBadValue) {
		t.Fatalf("short row: %v", err)
	}
	mustCommit(t, s, CommitRequest{Changes: []Change{{Table: "orders", Op: OpUpsert, Row: append(order("b", "accepted", "1"), "store")}}}) // 4
	rows := rowsOrPanic(s.Scan(ctx, "orders", ScanOptions{AsOf: 3}))
	if len(rows) != 1 || rows[0][4] != "web" {
		t.Fatalf("scan as of 3: %v", rows)
	}
	if _, err := s.Schema("orders", 1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, _ = openTest(t, dir)
	defer s.Close()
	ts, err := s.Schema("orders", HEAD)
	if err != nil || len(ts.Columns) != 5 || ts.Columns[4].Default != "web" {
		t.Fatalf("schema after reopen %+v %v", ts, err)
	}
	if ts2, _ := s.Schema("orders", 2); len(ts2.Columns) != 4 {
		t.Fatal("schema history lost")
	}
	rows = rowsOrPanic(s.Scan(ctx, "orders", ScanOptions{}))
	if len(rows) != 2 || rows[0][4] != "web" || rows[1][4] != "store" {
		t.Fatalf("after reopen %v", rows)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK {
		t.Fatalf("verify %+v %v", rep, err)
	}
}

func TestRawAndQuarantineAtomic(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, _ := openTest(t, dir)
	createOrders(t, s)
	from, to, err := s.AppendRaw(ctx, "oms", [][]any{{"e1", "o1", int64(5)}, {"e2", "o2", nil}}, "b0")
	if err != nil || from != 1 || to != 2 {
		t.Fatalf("append raw %d %d %v", from, to, err)
	}
	head := s.Head().ID
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, l, err := tx.AppendRaw("oms", [][]any{{"e3", "o3", 7}, {"e4", "o4", -1}}, "b1")
	if err != nil || f != 3 || l != 4 {
		t.Fatal(f, l, err)
	}
	id, isNew, err := tx.Quarantine(QuarantineRecord{Source: "oms", RawSeq: 4, Entity: "orders", Rule: "non_negative_total", Reason: "total < 0", Payload: `{"total":-1}`})
	if err != nil || !isNew || id != 1 {
		t.Fatal(id, isNew, err)
	}
	res, err := tx.Commit(ctx, CommitRequest{Kind: KindIngest, Source: "oms", Changes: []Change{{Table: "orders", Op: OpUpsert, Row: order("o3", "accepted", "7")}}})
	if err != nil || res.Commit.RawFromSeq != 3 || res.Commit.RawToSeq != 4 || res.Commit.ID != head+1 {
		t.Fatalf("%+v %v", res, err)
	}
	// Rolled back: nothing, and the seqs are reused.
	tx, _ = s.Begin(ctx)
	_, _, _ = tx.AppendRaw("oms", [][]any{{"lost"}}, "b2")
	_, _, _ = tx.Quarantine(QuarantineRecord{Source: "oms", RawSeq: 5, Entity: "orders", Rule: "r"})
	tx.Rollback()
	if _, err := tx.Commit(ctx, CommitRequest{Kind: KindIngest}); !errors.Is(err, ErrTxnDone) {
		t.Fatal(err)
	}
	// A batch whose rows are all rejected: raw and quarantine, no commit.
	tx, _ = s.Begin(ctx)
	f, _, _ = tx.AppendRaw("oms", [][]any{{"e5"}}, "b3")
	if f != 5 {
		t.Fatalf("seq after rollback %d", f)
	}
	_, _, _ = tx.Quarantine(QuarantineRecord{Source: "oms", RawSeq: 5, Entity: "orders", Rule: "r", Reason: "bad"})
	// Dedupe: same raw row, entity and rule.
	id2, isNew, _ := tx.Quarantine(QuarantineRecord{Source: "oms", RawSeq: 4, Entity: "orders", Rule: "non_negative_total"})
	if isNew || id2 != 1 {
		t.Fatalf("dedupe %d %v", id2, isNew)
	}
	res, err = tx.Commit(ctx, CommitRequest{Kind: KindIngest})
	if err != nil || res.Created {
		t.Fatalf("%+v %v", res, err)
	}
	s.Close()
	s, _ = openTest(t, dir)
	defer s.Close()
	raws, err := s.ScanRaw(ctx, "oms", 0, 0)
	if err != nil || len(raws) != 5 {
		t.Fatalf("raw %v %v", raws, err)
	}
	for i, r := range raws {
		if r.Seq != uint64(i+1) {
			t.Fatalf("gap at %d: %d", i, r.Seq)
		}
	}
	if raws[2].Batch != "b1" || raws[2].Row[2] != int64(7) || raws[1].Row[2] != nil || raws[0].IngestedAt.IsZero() {
		t.Fatalf("raw content %+v", raws[2])
	}
	part, _ := s.ScanRaw(ctx, "oms", 2, 3)
	if len(part) != 2 || part[0].Seq != 2 {
		t.Fatalf("raw range %+v", part)
	}
	if other, _ := s.ScanRaw(ctx, "om", 0, 0); len(other) != 0 {
		t.Fatal("source prefix leak")
	}
	q, err := s.Quarantined(ctx, 0, 0)
	if err != nil || len(q) != 2 || q[0].Rule != "non_negative_total" || q[0].Payload != `{"total":-1}` || q[1].ID != 2 || q[0].FirstSeen.IsZero() {
		t.Fatalf("quarantine %+v %v", q, err)
	}
	tx, _ = s.Begin(ctx)
	f, _, _ = tx.AppendRaw("oms", [][]any{{"e6"}}, "b4")
	id, _, _ = tx.Quarantine(QuarantineRecord{Source: "oms", RawSeq: 6, Entity: "orders", Rule: "r"})
	tx.Rollback()
	if f != 6 || id != 3 {
		t.Fatalf("counters after reopen: seq %d quarantine id %d", f, id)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	ctx := context.Background()
	build := func(t *testing.T) *Store {
		s, _ := openTest(t, t.TempDir())
		createOrders(t, s)
		for i := 0; i < 5; i++ {
			mustCommit(t, s, CommitRequest{Changes: []Change{
				{Table: "orders", Op: OpUpsert, Row: order("a", fmt.Sprint(i), "1")},
				{Table: "orders", Op: OpUpsert, Row: order(fmt.Sprint("k", i), "x", "2")}}})
		}
		rep, err := s.Verify(ctx)
		if err != nil || !rep.OK || rep.Commits != 6 || rep.Versions != 10 || rep.HeadHash != s.Head().Hash {
			t.Fatalf("clean verify %+v %v", rep, err)
		}
		return s
	}
	set := func(t *testing.T, s *Store, k, v []byte) {
		if err := s.DB().Set(k, v, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	pk := func(id string) []byte { b, _ := AppendKey(nil, nil, []any{id}); return b }
	cases := map[string]struct {
		tamper func(t *testing.T, s *Store)
		at     uint64
	}{
		"version row": {func(t *testing.T, s *Store) {
			k := versionKey(1, pk("a"), 4)
			v, _ := s.get(k)
			row, _ := encodeRow(nil, ordersSchema.kindsForTest(), order("a", "forged", "1"))
			set(t, s, k, append(v[:2], row...))
		}, 4},
		"commit message": {func(t *testing.T, s *Store) {
			ci, _ := s.CommitByID(ctx, 3)
			ci.Message = "rewritten"
			set(t, s, commitKey(3), encodeCommit(&ci))
		}, 3},
		"deleted version": {func(t *testing.T, s *Store) {
			if err := s.DB().Delete(versionKey(1, pk("k3"), 5), pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, 5},
		"forged extra version": {func(t *testing.T, s *Store) {
			row, _ := encodeRow(nil, ordersSchema.kindsForTest(), order("zz", "x", "1"))
			set(t, s, versionKey(1, pk("zz"), 3), append([]byte{0, 0}, row...))
		}, 3},
		"latest row": {func(t *testing.T, s *Store) {
			row, _ := encodeRow(nil, ordersSchema.kindsForTest(), order("a", "forged", "1"))
			set(t, s, latestKey(1, pk("a")), append([]byte{6}, row...))
		}, 6},
		"schema": {func(t *testing.T, s *Store) {
			ts := ordersSchema
			ts.ID, ts.SinceCommit = 1, 1
			ts.Columns = append(append([]Column{}, ts.Columns...), Column{Name: "x", Kind: KindBool, Nullable: true})
			_ = ts.prepare()
			b, _ := ts.marshal()
			set(t, s, schemaKey(1, 1), b)
		}, 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := build(t)
			defer s.Close()
			tc.tamper(t, s)
			rep, err := s.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.BrokenAt != tc.at {
				t.Fatalf("tampering not detected at %d: %+v", tc.at, rep)
			}
			t.Logf("%s: %s", name, rep.Problem)
		})
	}
}

func (t TableSchema) kindsForTest() []Kind {
	var k []Kind
	for _, c := range t.Columns {
		k = append(k, c.Kind)
	}
	return k
}

func TestReadersDuringWrites(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t, t.TempDir())
	defer s.Close()
	createOrders(t, s)
	// Each commit moves one unit between two rows; every consistent view
	// sums to 100.
	mustCommit(t, s, CommitRequest{Changes: []Change{
		{Table: "orders", Op: OpUpsert, Row: order("a", "x", "100")},
		{Table: "orders", Op: OpUpsert, Row: order("b", "x", "0")}}})
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				it, err := s.Scan(ctx, "orders", ScanOptions{})
				if err != nil {
					errs <- err
					return
				}
				sum := decimal.Zero
				n := 0
				for it.Next() {
					sum = sum.Add(it.Row()[2].(decimal.Decimal))
					n++
				}
				asOf := it.AsOf()
				it.Close()
				if !sum.Equal(decimal.NewFromInt(100)) || n != 2 {
					errs <- fmt.Errorf("inconsistent view at %d: sum %s rows %d", asOf, sum, n)
					return
				}
			}
		}()
	}
	for i := 1; i <= 60; i++ {
		mustCommit(t, s, CommitRequest{Changes: []Change{
			{Table: "orders", Op: OpUpsert, Row: order("a", "x", fmt.Sprint(100-i))},
			{Table: "orders", Op: OpUpsert, Row: order("b", "x", fmt.Sprint(i))}}})
	}
	close(done)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

func TestCommitRejectsAfterClose(t *testing.T) {
	s, _ := openTest(t, t.TempDir())
	s.Close()
	if _, err := s.Commit(context.Background(), CommitRequest{Kind: KindIngest}); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	_ = reflect.DeepEqual
}
