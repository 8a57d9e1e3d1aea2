package canonical

import (
	"context"
	"fmt"
	"sort"
	"testing"
)

// asofRun keeps a model of one table (id int64 PK, grp string, v int64, and
// from the ADD COLUMN on an extra string) per commit, for checking AS OF
// scans under each plan.
type asofRun struct {
	t      *testing.T
	s      *Store
	states []map[int64][]any // states[c]: rows as of commit c, shaped by the schema at c
	cols   int
	// idxAt maps an index name to the commit that added it.
	idxAt map[string]uint64
}

func (a *asofRun) commit(req CommitRequest, apply func(m map[int64][]any)) {
	a.t.Helper()
	res := mustCommit(a.t, a.s, req)
	if !res.Created {
		a.t.Fatal("commit created nothing")
	}
	next := map[int64][]any{}
	for k, r := range a.states[len(a.states)-1] {
		next[k] = r
	}
	apply(next)
	if res.Commit.ID != uint64(len(a.states)) {
		a.t.Fatalf("commit %d, want %d", res.Commit.ID, len(a.states))
	}
	a.states = append(a.states, next)
}

func (a *asofRun) row(id int64, grp string, v int64, extra ...any) []any {
	r := []any{id, grp, v}
	if a.cols == 4 {
		x := any("dflt")
		if len(extra) > 0 {
			x = extra[0]
		}
		r = append(r, x)
	}
	return r
}

func (a *asofRun) upsert(rows ...[]any) {
	a.t.Helper()
	var ch []Change
	for _, r := range rows {
		ch = append(ch, Change{Table: "t", Op: OpUpsert, Row: r})
	}
	a.commit(CommitRequest{Changes: ch}, func(m map[int64][]any) {
		for _, r := range rows {
			m[r[0].(int64)] = r
		}
	})
}

func (a *asofRun) del(ids ...int64) {
	a.t.Helper()
	var ch []Change
	for _, id := range ids {
		ch = append(ch, Change{Table: "t", Op: OpDelete, Row: []any{id}})
	}
	a.commit(CommitRequest{Changes: ch}, func(m map[int64][]any) {
		for _, id := range ids {
			delete(m, id)
		}
	})
}

// check compares every scan shape AS OF every commit, under every plan,
// with the model.
func (a *asofRun) check() {
	a.t.Helper()
	ctx := context.Background()
	head := uint64(len(a.states) - 1)
	for c := uint64(2); c <= head; c++ {
		st := a.states[c]
		var ids []int64
		for id := range st {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		pick := func(keep func(r []any) bool, reverse bool) [][]any {
			var out [][]any
			for _, id := range ids {
				if keep(st[id]) {
					out = append(out, st[id])
				}
			}
			if reverse {
				for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
					out[i], out[j] = out[j], out[i]
				}
			}
			return out
		}
		// byIndex orders rows by (col, id), as index col returns them.
		byIndex := func(rows [][]any, col int, reverse bool) [][]any {
			sort.SliceStable(rows, func(i, j int) bool {
				x, y := fmt.Sprint(rows[i][col]), fmt.Sprint(rows[j][col])
				if x != y {
					return (x < y) != reverse
				}
				return (rows[i][0].(int64) < rows[j][0].(int64)) != reverse
			})
			return rows
		}
		all := func([]any) bool { return true }
		for _, plan := range allPlans {
			asOfPlan.Store(plan)
			what := func(s string) string { return fmt.Sprintf("%s as of %d (plan %d)", s, c, plan) }
			for _, rev := range []bool{false, true} {
				checkRowsEq(a.t, what(fmt.Sprint("scan reverse=", rev)), rowsOrPanic(a.s.Scan(ctx, "t", ScanOptions{AsOf: c, Reverse: rev})), pick(all, rev))
				checkRowsEq(a.t, what(fmt.Sprint("bounded scan [8,22] reverse=", rev)),
					rowsOrPanic(a.s.Scan(ctx, "t", ScanOptions{AsOf: c, Lower: []any{int64(8)}, Upper: []any{int64(22)}, UpperInclusive: true, Reverse: rev})),
					pick(func(r []any) bool { id := r[0].(int64); return id >= 8 && id <= 22 }, rev))
				checkRowsEq(a.t, what(fmt.Sprint("bounded scan (30,..) reverse=", rev)),
					rowsOrPanic(a.s.Scan(ctx, "t", ScanOptions{AsOf: c, Lower: []any{int64(30)}, LowerExclusive: true, Reverse: rev})),
					pick(func(r []any) bool { return r[0].(int64) > 30 }, rev))
				checkRowsEq(a.t, what(fmt.Sprint("index by_grp reverse=", rev)),
					rowsOrPanic(a.s.ScanIndex(ctx, "t", "by_grp", IndexScanOptions{AsOf: c, Reverse: rev})),
					byIndex(pick(all, false), 1, rev))
				checkRowsEq(a.t, what(fmt.Sprint("index by_grp = g1 reverse=", rev)),
					rowsOrPanic(a.s.ScanIndex(ctx, "t", "by_grp", IndexScanOptions{AsOf: c, Lower: []any{"g1"}, Upper: []any{"g1"}, UpperInclusive: true, Reverse: rev})),
					byIndex(pick(func(r []any) bool { return r[1] == "g1" }, false), 1, rev))
				if at, ok := a.idxAt["by_extra"]; ok && c >= at {
					checkRowsEq(a.t, what(fmt.Sprint("index by_extra >= e reverse=", rev)),
						rowsOrPanic(a.s.ScanIndex(ctx, "t", "by_extra", IndexScanOptions{AsOf: c, Lower: []any{"e"}, Reverse: rev})),
						byIndex(pick(func(r []any) bool { return fmt.Sprint(r[3]) >= "e" }, false), 3, rev))
				} else if _, err := a.s.ScanIndex(ctx, "t", "by_extra", IndexScanOptions{AsOf: c}); err == nil {
					a.t.Fatalf("%s: index by_extra readable before its commit", what("index"))
				}
			}
		}
		asOfPlan.Store(planAuto)
	}
}

func checkRowsEq(t *testing.T, what string, got, want [][]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d\ngot  %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if !rowEq(got[i], want[i]) {
			t.Fatalf("%s: row %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestAsOfScanPlans runs a scripted history through both AS OF scan plans
// (history walk, head merged with the change log) and checks every scan
// shape AS OF every commit against a model: keys modified, deleted,
// re-inserted, changed and changed back, a column added with a default
// (rows stored before it read with the default AS OF later commits and
// without the column AS OF earlier ones), an index added after older
// commits, keys created after a commit, all across a reopen and with part of
// the history flushed to sstables (so the cost-based choice sees sizes).
func TestAsOfScanPlans(t *testing.T) {
	defer asOfPlan.Store(planAuto)
	ctx := context.Background()
	dir := t.TempDir()
	s, _ := openTest(t, dir)
	a := &asofRun{t: t, s: s, states: []map[int64][]any{{}}, cols: 3, idxAt: map[string]uint64{}}
	a.commit(CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{CreateTable: &TableSchema{Name: "t",
		Columns:    []Column{{Name: "id", Kind: KindInt64}, {Name: "grp", Kind: KindString}, {Name: "v", Kind: KindInt64}},
		PrimaryKey: []string{"id"}, Indexes: []Index{{Name: "by_grp", Columns: []string{"grp"}}}}}}}, func(map[int64][]any) {})
	var rows [][]any
	for i := int64(0); i < 60; i++ {
		rows = append(rows, a.row(i, fmt.Sprintf("g%d", i%3), i))
	}
	a.upsert(rows...) // 2
	rows = nil
	for i := int64(0); i < 10; i++ {
		rows = append(rows, a.row(i, fmt.Sprintf("g%d", (i+1)%3), i+100))
	}
	a.upsert(rows...)                                                    // 3: modify, index values move
	a.del(10, 11, 12, 13, 14)                                            // 4: delete
	a.upsert(a.row(10, "g2", 7), a.row(11, "g1", 8), a.row(12, "g0", 9)) // 5: re-insert
	a.upsert(a.row(20, "g9", 999))                                       // 6: change key 20 ...
	a.upsert(a.row(20, "g2", 20))                                        // 7: ... and change it back
	if err := s.DB().Flush(); err != nil {
		t.Fatal(err)
	}
	a.commit(CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{AddColumn: &AddColumn{Table: "t", // 8
		Column: Column{Name: "extra", Kind: KindString, Nullable: true, Default: "dflt"}}}}}, func(m map[int64][]any) {
		for k, r := range m {
			m[k] = append(append([]any{}, r...), "dflt")
		}
	})
	a.cols = 4
	a.upsert(a.row(30, "g0", 30, "x"), a.row(31, "g1", 31, "e"), a.row(32, "g1", 32, nil), a.row(60, "g1", 60, "new"), a.row(61, "g0", 61)) // 9
	a.commit(CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{AddIndex: &AddIndex{Table: "t",                                        // 10
		Index: Index{Name: "by_extra", Columns: []string{"extra"}}}}}}, func(map[int64][]any) {})
	a.idxAt["by_extra"] = 10
	a.del(0, 60)                                                              // 11
	a.upsert(a.row(1, "g0", 1, "zz"), a.row(13, "g1", 13), a.row(0, "g2", 0)) // 12: 0 re-inserted, 13 back
	a.check()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	a.s, _ = openTest(t, dir)
	defer a.s.Close()
	if err := a.s.DB().Compact(ctx, []byte{0}, []byte{0xFF}, true); err != nil {
		t.Fatal(err)
	}
	a.check()
}

// TestAsOfPlanChoice checks which plan the cost-based choice takes on a
// table in sstables with about ten versions per key. Without checkpoints:
// the merge AS OF a commit after which one key in ten changed, the walk AS
// OF a commit after which every key changed (the merge would seek every
// key). With them (each of commits 2..9 rewrote every key, so each is
// checkpointed): the checkpoint at the commit itself.
func TestAsOfPlanChoice(t *testing.T) {
	t.Run("no checkpoints", func(t *testing.T) {
		testAsOfPlanChoice(t, -1, []planWant{{9, planMerge}, {2, planWalk}})
	})
	t.Run("checkpoints", func(t *testing.T) {
		testAsOfPlanChoice(t, 0, []planWant{{9, planCheckpointBelow}, {2, planCheckpointBelow}})
	})
}

// planWant is a plan the cost-based choice should take AS OF a commit.
type planWant struct {
	asOf uint64
	plan int32
}

func testAsOfPlanChoice(t *testing.T, frac float64, cases []planWant) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{CheckpointFraction: frac})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := benchSchema
	mustCommit(t, s, CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{CreateTable: &ts}}})
	const n = 5000
	write := func(v int, keep func(id int) bool) { writeAccounts(t, s, n, v, keep) }
	write(0, func(int) bool { return true }) // 2
	for v := 1; v <= 7; v++ {                // 3..9: every key
		write(v, func(int) bool { return true })
	}
	for v := 8; v <= 12; v++ { // 10..14: a tenth of the keys
		write(v, func(id int) bool { return id%10 == 0 })
	}
	if err := s.SyncCheckpoints(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().Compact(ctx, []byte{0}, []byte{0xFF}, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		it, err := s.Scan(ctx, "accounts", ScanOptions{AsOf: tc.asOf})
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		for it.Next() {
			rows++
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		_ = it.Close()
		if got := lastAsOfPlan.Load(); got != tc.plan || rows != n {
			t.Errorf("scan as of %d: plan %d, %d rows; want plan %d, %d rows", tc.asOf, got, rows, tc.plan, n)
		}
	}
}

// TestLatestProbe checks the index walk's choice of where to read rows: L
// first while at most three in four rows miss there, V only for
// latestProbeOff rows after a window with more misses, then L again; and
// the forced walk plans.
func TestLatestProbe(t *testing.T) {
	p := &latestProbe{mode: planAuto}
	feed := func(hit func(i int) bool) {
		for i := 0; i < latestProbeWindow; i++ {
			if !p.try() {
				t.Fatalf("row %d of a window: L not tried", i)
			}
			p.result(hit(i))
		}
	}
	feed(func(i int) bool { return i%4 == 0 }) // three in four miss: stays on
	if !p.try() {
		t.Fatal("L turned off at three misses in four")
	}
	p.result(true)
	p = &latestProbe{mode: planAuto}
	feed(func(i int) bool { return i%8 == 0 }) // seven in eight miss
	for i := 0; i < latestProbeOff; i++ {
		if p.try() {
			t.Fatalf("L tried %d rows after a window of misses", i)
		}
	}
	if !p.try() {
		t.Fatalf("L not tried again after %d rows", latestProbeOff)
	}
	for _, m := range []int32{planWalk, planWalkLatest} {
		p := &latestProbe{mode: m}
		for i := 0; i < 2*latestProbeWindow; i++ {
			if p.try() != (m == planWalkLatest) {
				t.Fatalf("plan %d: try = %v", m, !(m == planWalkLatest))
			}
			p.result(false)
		}
	}
}

// TestAsOfIndexWalkSwitch runs index scans whose walk turns L off part of
// the way (AS OF a commit after which every key changed, then one after
// which a tenth did) on a table large enough for several probe windows, and
// compares them with the walk reading every row from V.
func TestAsOfIndexWalkSwitch(t *testing.T) {
	defer asOfPlan.Store(planAuto)
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{CheckpointFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := benchSchema
	mustCommit(t, s, CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{CreateTable: &ts}}})
	const n = 6 * latestProbeWindow * 3
	write := func(v int, keep func(id int) bool) { writeAccounts(t, s, n, v, keep) }
	write(0, func(int) bool { return true })          // 2
	write(1, func(id int) bool { return id < n/2 })   // 3: the first half
	write(2, func(id int) bool { return id%10 == 0 }) // 4: a tenth
	write(3, func(id int) bool { return id%10 == 0 }) // 5
	if err := s.DB().Flush(); err != nil {
		t.Fatal(err)
	}
	scan := func(asOf uint64, plan int32) [][]any {
		asOfPlan.Store(plan)
		return rowsOrPanic(s.ScanIndex(ctx, "accounts", "by_status", IndexScanOptions{AsOf: asOf, Lower: []any{"frozen"}}))
	}
	for _, asOf := range []uint64{2, 3, 4} {
		want := scan(asOf, planWalk)
		if len(want) < 2*latestProbeWindow {
			t.Fatalf("as of %d: %d rows, too few for the test", asOf, len(want))
		}
		for _, plan := range []int32{planAuto, planWalkLatest} {
			checkRowsEq(t, fmt.Sprintf("index by_status >= frozen as of %d (plan %d)", asOf, plan), scan(asOf, plan), want)
			if got := lastAsOfPlan.Load(); got != planWalk {
				t.Fatalf("as of %d (plan %d): the scan took plan %d, not the walk", asOf, plan, got)
			}
		}
	}
}

// writeAccounts commits version v (benchRow) of the accounts 0..n-1 that
// keep selects.
func writeAccounts(t *testing.T, s *Store, n, v int, keep func(id int) bool) {
	t.Helper()
	var ch []Change
	for i := 0; i < n; i++ {
		if keep(i) {
			ch = append(ch, Change{Table: "accounts", Op: OpUpsert, Row: benchRow(i, v)})
		}
	}
	mustCommit(t, s, CommitRequest{Changes: ch})
}
