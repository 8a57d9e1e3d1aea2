package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/projections"
)

// summaryCatalog: an entity, two projections of every column of it (one
// in another column order) and a bucketable record rule over each.
const summaryCatalog = `context: summary_test
owner: test
sources:
  account_events:
    columns: {id: bigint, owner: text, bal: numeric}
    dedupe_key: [id]
entities:
  accounts:
    key: [id]
    columns: {id: bigint, owner: text, bal: numeric}
    mappings:
      - {source: account_events, version: 1, select: "SELECT id, owner, bal FROM batch"}
projections:
  account_view:
    key: [id]
    freshness_sla: 1s
    select: SELECT id, owner, bal FROM canonical.accounts
    affected_by: {accounts: id}
  account_rev:
    key: [id]
    freshness_sla: 1s
    select: SELECT bal, owner, id FROM canonical.accounts
    affected_by: {accounts: id}
reconciliations:
  accounts_records:
    level: record
    left: SELECT id, owner, bal FROM canonical.accounts
    right: SELECT id, owner, bal FROM serving.account_view
    match: [id]
  accounts_rev_records:
    level: record
    left: SELECT id, owner, bal FROM canonical.accounts
    right: SELECT bal, owner, id FROM serving.account_rev
    match: [id]
`

// summaryFixture is a real Pebble canonical store, a real embedded serving
// store and an engine over them. The serving store is written by mirror
// (each canonical commit's changes, as a 1:1 projection's materializer
// would write them), not by a running Materializer: what is under test is
// the canonical side's summaries, and the projection's content must be
// exactly what the test says (plus the differences it seeds).
type summaryFixture struct {
	t      testing.TB
	ctx    context.Context
	canon  *canonical.Store
	store  *projections.MemoryStore
	mat    *projections.Materializer
	ledger *Ledger
	cat    *catalog.Catalog
	e      *Engine
	r      *rand.Rand
	gens   map[string]string
	next   int64 // next new id
}

func newSummaryFixture(t testing.TB, seed int64, yaml string) *summaryFixture {
	t.Helper()
	ctx := context.Background()
	canon, err := canonical.Open(ctx, t.TempDir(), canonical.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = canon.Close() })
	create := []canonical.SchemaChange{
		{CreateTable: &canonical.TableSchema{Name: "accounts", PrimaryKey: []string{"id"}, Columns: []canonical.Column{
			{Name: "id", Kind: canonical.KindInt64}, {Name: "owner", Kind: canonical.KindString, Nullable: true},
			{Name: "bal", Kind: canonical.KindDecimal, Nullable: true}}}},
		{CreateTable: &canonical.TableSchema{Name: "other", PrimaryKey: []string{"k"}, Columns: []canonical.Column{
			{Name: "k", Kind: canonical.KindInt64}}}},
	}
	if _, err := canon.Commit(ctx, canonical.CommitRequest{Kind: canonical.KindSchema, Committer: "test", Schema: create}); err != nil {
		t.Fatal(err)
	}
	ledger, err := OpenLedger(ctx, t.TempDir(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ledger.Close() })
	f := &summaryFixture{t: t, ctx: ctx, canon: canon, store: projections.NewMemoryStore(), ledger: ledger,
		r: rand.New(rand.NewSource(seed)), gens: map[string]string{}}
	f.engine(yaml)
	for _, p := range f.cat.Projections() {
		gen := projections.DefinitionHash(p) + "-test"
		f.gens[p.Name] = gen
		if err := f.store.Apply(ctx, p.Name, gen, 1, nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := f.store.SwitchGeneration(ctx, p.Name, gen); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// engine (re)creates the engine from yaml over the same stores and ledger,
// as a restart or a catalog change does.
func (f *summaryFixture) engine(yaml string) {
	f.t.Helper()
	if f.e != nil {
		f.e.Close()
	}
	cat, err := catalog.LoadFiles(catalog.File{Name: "summary.yaml", Data: []byte(yaml)})
	if err != nil {
		f.t.Fatal(err)
	}
	notUsed := func(context.Context, string, uint64) ([]string, [][]any, error) {
		return nil, nil, errors.New("the test writes the serving store itself")
	}
	if f.mat, err = projections.New(cat, f.store, f.canon, notUsed, projections.Options{}); err != nil {
		f.t.Fatal(err)
	}
	q := func(context.Context, string) ([]string, [][]any, error) {
		return nil, nil, errors.New("bucketed rules over an entity read the canonical store directly")
	}
	if f.e, err = New(cat, Options{Canon: f.canon, Materializer: f.mat, Query: q, Ledger: f.ledger, Logger: zerolog.Nop()}); err != nil {
		f.t.Fatal(err)
	}
	f.cat = cat
}

var owners = []any{"ann", "bob", nil, "ço", ""}

// randRow is a row of id with random values; balances in several scales
// (5 and 5.00 are one value to the key encoding, not to the row encoding).
func (f *summaryFixture) randRow(id int64) []any {
	var bal any
	if f.r.Intn(6) > 0 {
		bal = decimal.New(f.r.Int63n(20000)-1000, -int32(f.r.Intn(3)))
	}
	row := []any{id, owners[f.r.Intn(len(owners))], bal}
	if ts, err := f.canon.Schema("accounts", 0); err == nil {
		for len(row) < len(ts.Columns) { // columns added by the test read NULL
			row = append(row, nil)
		}
	}
	return row
}

// commit makes one canonical commit of random upserts (new and existing
// keys) and deletes of accounts, sometimes with a change to another table,
// mirrors it to serving and returns its id (0: nothing changed).
func (f *summaryFixture) commit(n int) uint64 {
	f.t.Helper()
	var ch []canonical.Change
	for i := 0; i < n; i++ {
		switch x := f.r.Intn(10); {
		case x < 4 || f.next == 0:
			ch = append(ch, canonical.Change{Table: "accounts", Op: canonical.OpUpsert, Row: f.randRow(f.next)})
			f.next++
		case x < 8:
			ch = append(ch, canonical.Change{Table: "accounts", Op: canonical.OpUpsert, Row: f.randRow(f.r.Int63n(f.next))})
		default:
			ch = append(ch, canonical.Change{Table: "accounts", Op: canonical.OpDelete, Row: []any{f.r.Int63n(f.next)}})
		}
	}
	if f.r.Intn(4) == 0 {
		ch = append(ch, canonical.Change{Table: "other", Op: canonical.OpUpsert, Row: []any{f.r.Int63n(100)}})
	}
	res, err := f.canon.Commit(f.ctx, canonical.CommitRequest{Kind: canonical.KindIngest, Committer: "test", Changes: ch})
	if err != nil {
		f.t.Fatal(err)
	}
	if !res.Created {
		return 0
	}
	f.mirror(res.Commit.ID)
	return res.Commit.ID
}

// mirror writes commit c's accounts changes to every projection.
func (f *summaryFixture) mirror(c uint64) {
	f.t.Helper()
	it, err := f.canon.Changes(f.ctx, c)
	if err != nil {
		f.t.Fatal(err)
	}
	recs, err := it.Collect()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, p := range f.cat.Projections() {
		var ups []projections.Entry
		var dels [][]any
		for _, rc := range recs {
			if rc.Table != "accounts" {
				continue
			}
			if rc.New == nil {
				dels = append(dels, rc.Key)
				continue
			}
			row := make([]any, len(p.Columns))
			for i, c := range p.Columns {
				row[i] = rc.New[slices.Index([]string{"id", "owner", "bal"}, c.Name)]
			}
			ups = append(ups, projections.Entry{Key: rc.Key, Row: row})
		}
		if err := f.store.Apply(f.ctx, p.Name, f.gens[p.Name], c, ups, dels); err != nil {
			f.t.Fatal(err)
		}
	}
}

// existing returns n distinct ids of accounts present at the head.
func (f *summaryFixture) existing(n int) []int64 {
	f.t.Helper()
	var out []int64
	for id := int64(0); id < f.next && len(out) < n; id++ {
		if _, ok, err := f.canon.Get(f.ctx, "accounts", []any{id}, canonical.HEAD); err != nil {
			f.t.Fatal(err)
		} else if ok {
			out = append(out, id)
		}
	}
	if len(out) < n {
		f.t.Fatalf("fewer than %d accounts", n)
	}
	return out
}

// streamed is the reference: the whole entity streamed at w and hashed.
func (f *summaryFixture) streamed(b bucketRule, w uint64) []projections.Bucket {
	f.t.Helper()
	_, _, sums, _, ok, err := f.e.canonicalBuckets(f.ctx, b.spec.table, b.spec.names, b.spec.keyIdx, w, nil)
	if err != nil || !ok {
		f.t.Fatalf("stream at %d: ok %v, %v", w, ok, err)
	}
	return sums
}

func (f *summaryFixture) run(rule string) Run {
	f.t.Helper()
	run, err := f.e.Run(f.ctx, rule, "call")
	if err != nil {
		f.t.Fatalf("run %s: %v", rule, err)
	}
	return run
}

// TestSummaryMovesMatchStream: random sequences of upserts and deletes in
// commits; at random commits, forwards and backwards, near and far, the
// summary moved there equals the entity streamed and hashed there, for
// two column orders.
func TestSummaryMovesMatchStream(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			f := newSummaryFixture(t, seed, summaryCatalog)
			for i := 0; i < 30; i++ { // ~300 rows to start
				f.commit(20)
			}
			hows := map[string]int{}
			backward := 0
			for step := 0; step < 120; step++ {
				for k := f.r.Intn(3); k > 0; k-- {
					f.commit(1 + f.r.Intn(8))
				}
				head := f.canon.Head().ID
				w := head - uint64(f.r.Intn(6)) // near the head, either side of the summary
				if f.r.Intn(8) == 0 {
					w = 2 + uint64(f.r.Int63n(int64(head-1))) // anywhere
				}
				for _, rule := range []string{"accounts_records", "accounts_rev_records"} {
					b := f.e.bucketSpecs[rule]
					before := f.e.summary(b.spec).commit
					got, rd, ok, err := f.e.summaryAt(f.ctx, b.spec, w)
					if err != nil || !ok {
						t.Fatalf("summary at %d: ok %v, %v", w, ok, err)
					}
					if want := f.streamed(b, w); !slices.Equal(got, want) {
						t.Fatalf("step %d, %s: summary %s from commit %d to %d differs from the stream", step, rule, rd.how, before, w)
					}
					hows[rd.how]++
					if rd.how == "moved" && w < before {
						backward++
					}
				}
			}
			t.Logf("summary reads: %v (%d backward)", hows, backward)
			if hows["moved"] < 50 || backward < 10 || hows["streamed"] < 2 {
				t.Errorf("the sequence did not exercise every path: %v, %d backward", hows, backward)
			}
		})
	}
}

// TestSummaryWarmRunReadsNoRows: a bucketed run whose summary is at the
// pairing commit reads no canonical row; after commits it reads only the
// changed rows; a restart keeps the summary (ledger); differences seeded
// in serving after incremental moves are found with the right kinds.
func TestSummaryWarmRunReadsNoRows(t *testing.T) {
	f := newSummaryFixture(t, 7, summaryCatalog)
	for i := 0; i < 10; i++ {
		f.commit(200)
	}
	rows := func() int64 {
		n := int64(0)
		for _, b := range f.streamed(f.e.bucketSpecs["accounts_records"], f.canon.Head().ID) {
			n += b.Count
		}
		return n
	}
	total := rows()
	check := func(what string, run Run, wantRows int64, wantCoverage string) {
		t.Helper()
		if run.Outcome != "clean" || run.Compared != total || run.Matched != total {
			t.Errorf("%s: %s, compared %d, matched %d, want clean over %d rows: %s", what, run.Outcome, run.Compared, run.Matched, total, run.Coverage)
		}
		if run.CanonicalRows != wantRows || !strings.Contains(run.Coverage, wantCoverage) {
			t.Errorf("%s: read %d canonical rows (want %d): %s", what, run.CanonicalRows, wantRows, run.Coverage)
		}
	}
	check("first run", f.run("accounts_records"), total, "streamed")
	check("second run", f.run("accounts_records"), 0, "from its bucket summary)")
	check("the other column order: a summary of its own", f.run("accounts_rev_records"), total, "streamed")

	// One modified (two rows read), one added, one deleted: four rows.
	ids := f.existing(2)
	upd := []any{ids[0], "zed", decimal.RequireFromString("1.50")}
	ins := []any{int64(1_000_000), "new", nil}
	res, err := f.canon.Commit(f.ctx, canonical.CommitRequest{Kind: canonical.KindCorrection, Committer: "test", Changes: []canonical.Change{
		{Table: "accounts", Op: canonical.OpUpsert, Row: upd},
		{Table: "accounts", Op: canonical.OpUpsert, Row: ins},
		{Table: "accounts", Op: canonical.OpDelete, Row: []any{ids[1]}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.mirror(res.Commit.ID)
	total = rows()
	check("after a small commit", f.run("accounts_records"), 4, "moved from commit")
	check("after a small commit, again", f.run("accounts_records"), 0, "from its bucket summary)")

	// A restart: the summary comes back from the ledger.
	f.engine(summaryCatalog)
	check("after a restart", f.run("accounts_records"), 0, "from its bucket summary)")

	// More commits (moved incrementally), then differences in serving:
	// a deleted key, a changed value, a key canonical does not have.
	for i := 0; i < 3; i++ {
		f.commit(5)
	}
	wm, err := f.store.Watermark(f.ctx, "account_view")
	if err != nil {
		t.Fatal(err)
	}
	b := f.e.bucketSpecs["accounts_records"]
	sums, rd, _, err := f.e.summaryAt(f.ctx, b.spec, wm.Commit)
	if err != nil || rd.how != "moved" || !slices.Equal(sums, f.streamed(b, wm.Commit)) {
		t.Fatalf("the summary was not moved incrementally and right: %s, %v", rd.how, err)
	}
	ids = f.existing(2)
	tampered := []any{ids[0], "tampered", decimal.RequireFromString("2")}
	ghost := []any{int64(2_000_000), "ghost", nil}
	if err := f.store.Apply(f.ctx, "account_view", wm.Generation, wm.Commit,
		[]projections.Entry{{Key: []any{ids[0]}, Row: tampered}, {Key: []any{int64(2_000_000)}, Row: ghost}},
		[][]any{{ids[1]}}); err != nil {
		t.Fatal(err)
	}
	cmp, _, err := f.e.compareRule(f.ctx, f.e.byName["accounts_records"])
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Kind{fmt.Sprintf(`{"id": %d}`, ids[0]): KindValueMismatch, fmt.Sprintf(`{"id": %d}`, ids[1]): KindMissingRight,
		`{"id": 2000000}`: KindMissingLeft}
	if got := kinds(cmp); !maps.Equal(got, want) {
		t.Errorf("differences %v, want %v", got, want)
	}
	if cmp.Descended < 1 || cmp.Descended > 3 {
		t.Errorf("descended into %d buckets; the differences are in at most 3", cmp.Descended)
	}
}

// TestSummaryInvalidation: a schema commit on the entity, a persisted
// summary of another canonical store, and a catalog change of the rule's
// columns each make the summary be rebuilt by streaming; the summary of a
// spec no rule uses is dropped from the ledger.
func TestSummaryInvalidation(t *testing.T) {
	f := newSummaryFixture(t, 11, summaryCatalog)
	for i := 0; i < 5; i++ {
		f.commit(100)
	}
	f.run("accounts_records")
	if run := f.run("accounts_records"); run.CanonicalRows != 0 {
		t.Fatalf("warm run read %d rows", run.CanonicalRows)
	}
	// A schema commit (a column the projection does not read): the entity's
	// schema version changed, so the summary is rebuilt.
	res, err := f.canon.Commit(f.ctx, canonical.CommitRequest{Kind: canonical.KindSchema, Committer: "test", Schema: []canonical.SchemaChange{
		{AddColumn: &canonical.AddColumn{Table: "accounts", Column: canonical.Column{Name: "note", Kind: canonical.KindString, Nullable: true}}}}})
	if err != nil {
		t.Fatal(err)
	}
	f.mirror(res.Commit.ID)
	run := f.run("accounts_records")
	if run.Outcome != "clean" || !strings.Contains(run.Coverage, "streamed") || run.CanonicalRows != run.Compared {
		t.Errorf("after a schema commit: %s, %d rows read: %s", run.Outcome, run.CanonicalRows, run.Coverage)
	}
	// Commits after it move the summary again.
	f.commit(3)
	if run := f.run("accounts_records"); run.Outcome != "clean" || !strings.Contains(run.Coverage, "moved") {
		t.Errorf("after the schema commit, a small commit: %s: %s", run.Outcome, run.Coverage)
	}

	// A persisted summary whose commit hash is not canonical's (the store
	// was replaced under the ledger) is not trusted.
	b := f.e.bucketSpecs["accounts_records"]
	s := f.e.summary(b.spec)
	s.mu.Lock()
	s.hash[0] ^= 1
	s.sums[0].Count += 1000 // wrong on purpose: used, it would make the run divergent
	if err := f.ledger.putSummary(s.id, s.encode()); err != nil {
		t.Fatal(err)
	}
	s.mu.Unlock()
	f.engine(summaryCatalog)
	if run := f.run("accounts_records"); run.Outcome != "clean" || !strings.Contains(run.Coverage, "streamed") {
		t.Errorf("a summary of another store was used: %s: %s", run.Outcome, run.Coverage)
	}

	// The rule's projection drops a column: another spec. The old one is
	// dropped from the ledger at New; the new one starts by streaming.
	oldID := b.spec.id()
	changed := strings.ReplaceAll(summaryCatalog, "SELECT id, owner, bal FROM canonical.accounts\n    affected_by", "SELECT id, bal FROM canonical.accounts\n    affected_by")
	changed = strings.ReplaceAll(changed, "right: SELECT id, owner, bal FROM serving.account_view", "right: SELECT id, bal FROM serving.account_view")
	if changed == summaryCatalog {
		t.Fatal("the catalog edit did not apply")
	}
	f.engine(changed)
	if _, ok := f.ledger.summary(oldID); ok {
		t.Error("the summary of a spec no rule uses is still in the ledger")
	}
	nb := f.e.bucketSpecs["accounts_records"]
	if nb.spec.id() == oldID || len(nb.spec.names) != 2 {
		t.Fatalf("new spec %+v", nb.spec)
	}
	got, rd, ok, err := f.e.summaryAt(f.ctx, nb.spec, f.canon.Head().ID)
	if err != nil || !ok || rd.how != "streamed" || !slices.Equal(got, f.streamed(nb, f.canon.Head().ID)) {
		t.Errorf("new spec's summary: %s, ok %v, %v", rd.how, ok, err)
	}
}

// TestSummaryKeptWarm: with the engine started, commits move the summary
// to the projection's watermark by themselves, so the next run reads no
// canonical row.
func TestSummaryKeptWarm(t *testing.T) {
	f := newSummaryFixture(t, 13, summaryCatalog)
	for i := 0; i < 5; i++ {
		f.commit(100)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.e.Start(ctx, time.Hour) // no scheduled run in the test's time
	}()
	defer func() { cancel(); <-done }()
	b := f.e.bucketSpecs["accounts_records"]
	for round := 0; round < 2; round++ {
		f.commit(10)
		head := f.canon.Head().ID
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := f.e.summary(b.spec)
			s.mu.Lock()
			at := s.commit
			s.mu.Unlock()
			if at == head {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the summary stayed at commit %d, head %d", round, at, head)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if run := f.run("accounts_records"); run.Outcome != "clean" || run.CanonicalRows != 0 {
			t.Errorf("round %d: %s, %d rows read: %s", round, run.Outcome, run.CanonicalRows, run.Coverage)
		}
	}
}
