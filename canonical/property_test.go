package canonical

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// The property test applies random commits to the store and to a plain
// in-memory model and checks that current state, every AS OF state (under
// every scan plan, with checkpoints at random commits), index scans,
// bounded scans, every adjacent diff, random net and range diffs,
// the change feed and per-key history agree, across a close/reopen and an
// ADD COLUMN in the middle of the sequence.

type modelState map[string]map[string][]any // table -> encoded pk -> row

func (m modelState) clone() modelState {
	n := modelState{}
	for t, rows := range m {
		n[t] = map[string][]any{}
		for k, r := range rows {
			n[t][k] = r
		}
	}
	return n
}

func rowEq(a, b []any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ea, err1 := encodeRow(nil, nil, a)
	eb, err2 := encodeRow(nil, nil, b)
	if err1 != nil || err2 != nil {
		panic(fmt.Sprint(err1, err2))
	}
	return bytes.Equal(ea, eb)
}

func propSchemas() []TableSchema {
	return []TableSchema{
		{Name: "t1", Columns: []Column{
			{Name: "id", Kind: KindInt64}, {Name: "name", Kind: KindString, Nullable: true},
			{Name: "n", Kind: KindInt64}, {Name: "amt", Kind: KindDecimal, Nullable: true}},
			PrimaryKey: []string{"id"}, Indexes: []Index{{Name: "by_n", Columns: []string{"n"}}}},
		{Name: "t2", Columns: []Column{
			{Name: "a", Kind: KindString}, {Name: "b", Kind: KindInt64}, {Name: "f", Kind: KindFloat64, Nullable: true},
			{Name: "ts", Kind: KindTime, Nullable: true}, {Name: "flag", Kind: KindBool}},
			PrimaryKey: []string{"a", "b"}, Indexes: []Index{{Name: "by_flag_f", Columns: []string{"flag", "f"}}}},
	}
}

type propRun struct {
	t      *testing.T
	r      *rand.Rand
	s      *Store
	dir    string
	states []modelState // states[c] after commit c; states[0] empty
	cols   map[string]int
	addAt  uint64 // commit of ADD COLUMN t1.extra
}

func (p *propRun) schema(table string) *TableSchema {
	ts, err := p.s.Schema(table, HEAD)
	if err != nil {
		p.t.Fatal(err)
	}
	return ts
}

func (p *propRun) randRow(table string) []any {
	r := p.r
	var row []any
	if table == "t1" {
		var name any = fmt.Sprintf("n%d", r.Intn(4))
		if r.Intn(5) == 0 {
			name = nil
		}
		var amt any = decimal.New(int64(r.Intn(2000)-1000), int32(-r.Intn(3)))
		if r.Intn(6) == 0 {
			amt = nil
		}
		row = []any{int64(r.Intn(30)), name, int64(r.Intn(7) - 3), amt}
		if p.cols["t1"] == 5 {
			row = append(row, []string{"d", "e", "f"}[r.Intn(3)])
		}
		return row
	}
	var f any = float64(r.Intn(9)-4) / 2
	if r.Intn(5) == 0 {
		f = nil
	}
	var ts any = time.UnixMicro(int64(r.Intn(1000)) * 1_000_001).UTC()
	if r.Intn(5) == 0 {
		ts = nil
	}
	return []any{[]string{"x", "y", "z\x00", ""}[r.Intn(4)], int64(r.Intn(7) - 3), f, ts, r.Intn(2) == 0}
}

func (p *propRun) pkEnc(table string, key []any) string {
	ts := p.schema(table)
	b, err := AppendKey(nil, ts.pkKinds(), key)
	if err != nil {
		p.t.Fatal(err)
	}
	return string(b)
}

func (p *propRun) step() {
	ctx := context.Background()
	cur := p.states[len(p.states)-1]
	next := cur.clone()
	var changes []Change
	n := 1 + p.r.Intn(8)
	for i := 0; i < n; i++ {
		table := []string{"t1", "t2"}[p.r.Intn(2)]
		ts := p.schema(table)
		row := p.randRow(table)
		key := ts.KeyOf(row)
		k := p.pkEnc(table, key)
		switch x := p.r.Intn(10); {
		case x < 2 && next[table][k] != nil:
			row = next[table][k] // identical upsert
			changes = append(changes, Change{Table: table, Op: OpUpsert, Row: row})
		case x < 6:
			changes = append(changes, Change{Table: table, Op: OpUpsert, Row: row})
			next[table][k] = row
		default:
			if p.r.Intn(2) == 0 {
				changes = append(changes, Change{Table: table, Op: OpDelete, Row: key})
			} else {
				changes = append(changes, Change{Table: table, Op: OpDelete, Row: row})
			}
			delete(next[table], k)
		}
	}
	// Normalize model rows the way the store does.
	for _, rows := range next {
		for k, r := range rows {
			nr := make([]any, len(r))
			for i, v := range r {
				if tm, ok := v.(time.Time); ok {
					v = tm.UTC()
				}
				nr[i] = v
			}
			rows[k] = nr
		}
	}
	changed := false
	for t := range next {
		if len(next[t]) != len(cur[t]) {
			changed = true
		}
		for k, r := range next[t] {
			if !rowEq(r, cur[t][k]) {
				changed = true
			}
		}
	}
	res, err := p.s.Commit(ctx, CommitRequest{Kind: KindIngest, Committer: "prop", Changes: changes})
	if err != nil {
		p.t.Fatal(err)
	}
	if res.Created != changed {
		p.t.Fatalf("commit created=%v but model changed=%v (changes %v)", res.Created, changed, changes)
	}
	if changed {
		if res.Commit.ID != uint64(len(p.states)) {
			p.t.Fatalf("commit id %d, want %d", res.Commit.ID, len(p.states))
		}
		p.states = append(p.states, next)
	}
	// Checkpoints at random commits, past ones included (the tables are
	// too small for the checkpointer's own), so the checkpoint plans have
	// bases below and above the commits read.
	if p.r.Intn(4) == 0 {
		checkpointAt(p.t, p.s, []string{"t1", "t2"}[p.r.Intn(2)], 1+uint64(p.r.Intn(len(p.states)-1)))
	}
}

func (p *propRun) addColumn() {
	res, err := p.s.Commit(context.Background(), CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{AddColumn: &AddColumn{Table: "t1",
		Column: Column{Name: "extra", Kind: KindString, Default: "d"}}}}})
	if err != nil {
		p.t.Fatal(err)
	}
	p.addAt = res.Commit.ID
	p.cols["t1"] = 5
	next := p.states[len(p.states)-1].clone()
	for k, r := range next["t1"] {
		next["t1"][k] = append(append([]any{}, r...), "d")
	}
	p.states = append(p.states, next)
}

func sortedKeys(m map[string][]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// forceAsOfPlan makes AS OF scans use plan until the test ends.
func forceAsOfPlan(tb testing.TB, plan int32) {
	old := asOfPlan.Swap(plan)
	tb.Cleanup(func() { asOfPlan.Store(old) })
}

var allPlans = []int32{planAuto, planWalk, planWalkLatest, planMerge, planCheckpointBelow, planCheckpointAbove}

// checkpointAt writes a checkpoint of table as of commit c, as the
// checkpointer would (serialized with it).
func checkpointAt(t testing.TB, s *Store, table string, c uint64) {
	t.Helper()
	if s.ckpt != nil {
		s.ckpt.mu.Lock()
		defer s.ckpt.mu.Unlock()
	}
	view, _, err := s.openView(HEAD)
	if err != nil {
		t.Fatal(err)
	}
	defer view.snap.Close()
	ts, err := s.Schema(table, HEAD)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.writeCheckpoint(context.Background(), view, ts.ID, c); err != nil {
		t.Fatal(err)
	}
}

// checkScan checks a scan under each AS OF plan (the cost-based choice, the
// history walk, the head/change-log merge and the merges from the nearest
// checkpoint below and above).
func (p *propRun) checkScan(what string, scan func() (*RowIter, error), want [][]any) {
	p.t.Helper()
	defer asOfPlan.Store(asOfPlan.Load())
	for _, plan := range allPlans {
		asOfPlan.Store(plan)
		p.checkRows(fmt.Sprintf("%s (plan %d)", what, plan), rowsOrPanic(scan()), want)
	}
}

func (p *propRun) checkRows(what string, got [][]any, want [][]any) {
	p.t.Helper()
	if len(got) != len(want) {
		p.t.Fatalf("%s: %d rows, want %d\ngot  %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if !rowEq(got[i], want[i]) {
			p.t.Fatalf("%s: row %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// padTo pads a model row to the current schema width (what history and diff
// return).
func (p *propRun) padTo(table string, r []any) []any {
	if r == nil {
		return nil
	}
	if table == "t1" && p.cols["t1"] == 5 && len(r) == 4 {
		return append(append([]any{}, r...), "d")
	}
	return r
}

type mdiff struct {
	key      string
	from, to []any
	fc, tc   uint64
}

func (p *propRun) modelDiff(table string, a, b uint64) []mdiff {
	sa, sb := p.states[a][table], p.states[b][table]
	keys := map[string]bool{}
	for k := range sa {
		keys[k] = true
	}
	for k := range sb {
		keys[k] = true
	}
	var out []mdiff
	for k := range keys {
		fa, tb := p.padTo(table, sa[k]), p.padTo(table, sb[k])
		if !rowEq(fa, tb) {
			out = append(out, mdiff{key: k, from: fa, to: tb, fc: a, tc: b})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func (p *propRun) checkDiff(what, table string, res diffRes, want []mdiff) {
	p.t.Helper()
	it, err := res.it, res.err
	if err != nil {
		p.t.Fatal(err)
	}
	got, err := it.Collect()
	if err != nil {
		p.t.Fatal(err)
	}
	if len(got) != len(want) {
		p.t.Fatalf("%s: %d diff entries, want %d\ngot %+v\nwant %+v", what, len(got), len(want), got, want)
	}
	for i, g := range got {
		w := want[i]
		if p.pkEnc(table, g.Key) != w.key || !rowEq(g.From, w.from) || !rowEq(g.To, w.to) || g.FromCommit.ID != w.fc || g.ToCommit.ID != w.tc {
			p.t.Fatalf("%s: entry %d = %+v, want %+v", what, i, g, w)
		}
		wantType := DiffModified
		if w.from == nil {
			wantType = DiffAdded
		} else if w.to == nil {
			wantType = DiffRemoved
		}
		if g.Type != wantType {
			p.t.Fatalf("%s: type %s want %s", what, g.Type, wantType)
		}
	}
}

func (p *propRun) checkAll() {
	ctx := context.Background()
	head := uint64(len(p.states) - 1)
	if p.s.Head().ID != head {
		p.t.Fatalf("head %d want %d", p.s.Head().ID, head)
	}
	tables := []string{"t1", "t2"}
	universe := map[string][][]any{}
	for i := 0; i < 30; i++ {
		universe["t1"] = append(universe["t1"], []any{int64(i)})
	}
	for _, a := range []string{"x", "y", "z\x00", ""} {
		for b := -3; b <= 3; b++ {
			universe["t2"] = append(universe["t2"], []any{a, int64(b)})
		}
	}
	for c := uint64(1); c <= head; c++ {
		asOf := c
		if c == head && c%2 == 0 {
			asOf = HEAD
		}
		for _, table := range tables {
			st := p.states[c][table]
			var want [][]any
			for _, k := range sortedKeys(st) {
				want = append(want, st[k])
			}
			p.checkScan(fmt.Sprintf("scan %s as of %d", table, c), func() (*RowIter, error) { return p.s.Scan(ctx, table, ScanOptions{AsOf: asOf}) }, want)
			if c%3 == 0 {
				var rev [][]any
				for i := len(want) - 1; i >= 0; i-- {
					rev = append(rev, want[i])
				}
				p.checkScan(fmt.Sprintf("reverse scan %s as of %d", table, c), func() (*RowIter, error) {
					return p.s.Scan(ctx, table, ScanOptions{AsOf: asOf, Reverse: true})
				}, rev)
			}
			for _, key := range universe[table] {
				row, ok, err := p.s.Get(ctx, table, key, asOf)
				if err != nil {
					p.t.Fatal(err)
				}
				w := st[p.pkEnc(table, key)]
				if ok != (w != nil) || !rowEq(row, w) {
					p.t.Fatalf("get %s %v as of %d: %v %v, want %v", table, key, c, row, ok, w)
				}
			}
			// Adjacent diff and change feed.
			p.checkDiff(fmt.Sprintf("diff %s %d..%d", table, c-1, c), table, dr(p.s.Diff(ctx, table, DiffOptions{FromCommit: c - 1, ToCommit: c})), p.modelDiff(table, c-1, c))
		}
		// Bounded scans on t1.
		lo, hi := int64(p.r.Intn(32)-1), int64(p.r.Intn(32)-1)
		lx, ui, rev := p.r.Intn(2) == 0, p.r.Intn(2) == 0, p.r.Intn(2) == 0
		var want [][]any
		for _, k := range sortedKeys(p.states[c]["t1"]) {
			r := p.states[c]["t1"][k]
			id := r[0].(int64)
			if (id > lo || (!lx && id == lo)) && (id < hi || (ui && id == hi)) {
				want = append(want, r)
			}
		}
		if rev {
			for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
				want[i], want[j] = want[j], want[i]
			}
		}
		p.checkScan(fmt.Sprintf("bounded scan t1 as of %d (%d %v, %d %v, rev %v)", c, lo, lx, hi, ui, rev), func() (*RowIter, error) {
			return p.s.Scan(ctx, "t1", ScanOptions{AsOf: asOf, Lower: []any{lo}, LowerExclusive: lx, Upper: []any{hi}, UpperInclusive: ui, Reverse: rev})
		}, want)
		// Index scans.
		type ir struct {
			k   string
			row []any
		}
		var irs []ir
		nlo := int64(p.r.Intn(7) - 3)
		for k, r := range p.states[c]["t1"] {
			if r[2].(int64) >= nlo {
				e, _ := AppendKey(nil, nil, []any{r[2]})
				irs = append(irs, ir{string(e) + k, r})
			}
		}
		sort.Slice(irs, func(i, j int) bool { return irs[i].k < irs[j].k })
		want = nil
		for _, x := range irs {
			want = append(want, x.row)
		}
		p.checkScan(fmt.Sprintf("index t1.by_n >= %d as of %d", nlo, c), func() (*RowIter, error) {
			return p.s.ScanIndex(ctx, "t1", "by_n", IndexScanOptions{AsOf: asOf, Lower: []any{nlo}})
		}, want)
		irs = nil
		for k, r := range p.states[c]["t2"] {
			if r[4] == true {
				e, _ := AppendKey(nil, nil, []any{r[4], r[2]})
				irs = append(irs, ir{string(e) + k, r})
			}
		}
		sort.Slice(irs, func(i, j int) bool { return irs[i].k > irs[j].k })
		want = nil
		for _, x := range irs {
			want = append(want, x.row)
		}
		p.checkScan(fmt.Sprintf("index t2.by_flag_f flag=true reverse as of %d", c), func() (*RowIter, error) {
			return p.s.ScanIndex(ctx, "t2", "by_flag_f", IndexScanOptions{AsOf: asOf, Lower: []any{true}, Upper: []any{true}, UpperInclusive: true, Reverse: true})
		}, want)

		// Change feed of commit c.
		it, err := p.s.Changes(ctx, c)
		if err != nil {
			p.t.Fatal(err)
		}
		feed, err := it.Collect()
		if err != nil {
			p.t.Fatal(err)
		}
		var wantFeed []mdiff
		for _, table := range tables {
			for _, d := range p.modelDiffRaw(table, c-1, c) {
				wantFeed = append(wantFeed, d)
			}
		}
		if len(feed) != len(wantFeed) {
			p.t.Fatalf("changes %d: %d entries, want %d", c, len(feed), len(wantFeed))
		}
		for i, f := range feed {
			w := wantFeed[i]
			if p.pkEnc(f.Table, f.Key) != w.key || !rowEq(f.Old, w.from) || !rowEq(f.New, w.to) {
				p.t.Fatalf("changes %d entry %d: %+v want %+v", c, i, f, w)
			}
		}
	}
	// Random net diffs and adjacent range diffs.
	for i := 0; i < 30; i++ {
		a := uint64(p.r.Intn(int(head) + 1))
		b := a + uint64(p.r.Intn(int(head-a)+1))
		if b == 0 {
			continue // ToCommit 0 means head
		}
		for _, table := range tables {
			if _, err := p.s.Schema(table, max(b, 1)); err != nil {
				continue
			}
			p.checkDiff(fmt.Sprintf("net diff %s %d..%d", table, a, b), table, dr(p.s.Diff(ctx, table, DiffOptions{FromCommit: a, ToCommit: b, Net: true})), p.modelDiff(table, a, b))
			var want []mdiff
			for c := a + 1; c <= b; c++ {
				want = append(want, p.modelDiff(table, c-1, c)...)
			}
			p.checkDiff(fmt.Sprintf("range diff %s %d..%d", table, a, b), table, dr(p.s.Diff(ctx, table, DiffOptions{FromCommit: a, ToCommit: b})), want)
			// Per-key adjacent diffs.
			key := universe[table][p.r.Intn(len(universe[table]))]
			k := p.pkEnc(table, key)
			var wk []mdiff
			for _, d := range want {
				if d.key == k {
					wk = append(wk, d)
				}
			}
			p.checkDiff(fmt.Sprintf("key diff %s %v %d..%d", table, key, a, b), table, dr(p.s.Diff(ctx, table, DiffOptions{FromCommit: a, ToCommit: b, Key: key})), wk)
			// History with a commit filter (all keys).
			if a >= 1 {
				hit, err := p.s.History(ctx, table, HistoryOptions{FromCommit: a, ToCommit: b})
				if err != nil {
					p.t.Fatal(err)
				}
				hs, err := hit.Collect()
				if err != nil {
					p.t.Fatal(err)
				}
				var wantN int
				for c := a; c <= b; c++ {
					if c >= 1 {
						wantN += len(p.modelDiffRaw(table, c-1, c))
					}
				}
				if len(hs) != wantN {
					p.t.Fatalf("history %s %d..%d: %d entries, want %d", table, a, b, len(hs), wantN)
				}
			}
		}
	}
	// History per key.
	for _, table := range tables {
		for _, key := range universe[table] {
			k := p.pkEnc(table, key)
			var want []mdiff
			for c := head; c >= 1; c-- {
				for _, d := range p.modelDiffRaw(table, c-1, c) {
					if d.key == k {
						want = append(want, d)
					}
				}
			}
			hit, err := p.s.History(ctx, table, HistoryOptions{Key: key})
			if err != nil {
				p.t.Fatal(err)
			}
			hs, err := hit.Collect()
			if err != nil {
				p.t.Fatal(err)
			}
			if len(hs) != len(want) {
				p.t.Fatalf("history %s %v: %d versions, want %d", table, key, len(hs), len(want))
			}
			for i, h := range hs {
				w := want[i]
				if h.Commit.ID != w.tc || h.Deleted != (w.to == nil) || !rowEq(h.Row, p.padTo(table, w.to)) || h.Commit.Committer != "prop" {
					p.t.Fatalf("history %s %v entry %d: %+v want %+v", table, key, i, h, w)
				}
			}
		}
	}
}

// modelDiffRaw is modelDiff without padding (rows as of each commit), used
// for the change feed and history counts; schema-only commits change no rows.
func (p *propRun) modelDiffRaw(table string, a, b uint64) []mdiff {
	if b == p.addAt {
		return nil
	}
	sa, sb := p.states[a][table], p.states[b][table]
	keys := map[string]bool{}
	for k := range sa {
		keys[k] = true
	}
	for k := range sb {
		keys[k] = true
	}
	var out []mdiff
	for k := range keys {
		if !rowEq(sa[k], sb[k]) {
			out = append(out, mdiff{key: k, from: sa[k], to: sb[k], fc: a, tc: b})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

type diffRes struct {
	it  *Iter[DiffEntry]
	err error
}

func dr(it *Iter[DiffEntry], err error) diffRes { return diffRes{it, err} }

func TestPropertyStoreMatchesModel(t *testing.T) {
	seeds := []int64{1, 2, 3, 4}
	steps := 50
	if testing.Short() {
		seeds, steps = seeds[:1], 25
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			dir := t.TempDir()
			s, _ := openTest(t, dir)
			p := &propRun{t: t, r: rand.New(rand.NewSource(seed)), s: s, dir: dir, cols: map[string]int{"t1": 4, "t2": 5}}
			p.states = []modelState{{}}
			var create []SchemaChange
			for _, ts := range propSchemas() {
				ts := ts
				create = append(create, SchemaChange{CreateTable: &ts})
			}
			if _, err := s.Commit(context.Background(), CommitRequest{Kind: KindSchema, Schema: create}); err != nil {
				t.Fatal(err)
			}
			p.states = append(p.states, modelState{"t1": {}, "t2": {}})
			for i := 0; i < steps; i++ {
				p.step()
				if i == steps/3 {
					p.addColumn()
				}
				if i == steps/2 {
					p.checkAll()
					// Restart mid-sequence: the reopened store must hold exactly
					// the committed state.
					if err := p.s.Close(); err != nil {
						t.Fatal(err)
					}
					p.s, _ = openTest(t, dir)
					p.checkAll()
				}
			}
			p.checkAll()
			rep, err := p.s.Verify(context.Background())
			if err != nil || !rep.OK || rep.Commits != uint64(len(p.states)-1) {
				t.Fatalf("verify %+v %v", rep, err)
			}
			if err := p.s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
