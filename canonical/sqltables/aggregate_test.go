package sqltables

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/expression/function/aggregation"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

const aggCatalog = `
context: agg_test
owner: test-team
entities:
  facts:
    key: [id]
    columns:
      id: bigint
      grp: text
      small: smallint
      i: integer
      b: bigint
      amt: "numeric(12,2)"
      big: numeric
      f: double precision
      r: real
      flag: boolean
      at: timestamptz
      note: text
`

type aggFixture struct {
	eng *sqle.Engine
	ctx *sql.Context
}

// newAggFixture commits generated rows with NULLs in every nullable column
// over three commits (inserts, then updates and deletes, then more
// inserts), so AS OF 2 and head differ.
func newAggFixture(t *testing.T, seed int64) *aggFixture {
	t.Helper()
	cat, err := catalog.LoadFiles(catalog.File{Name: "agg.yaml", Data: []byte(aggCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := canonical.Open(ctx, t.TempDir(), canonical.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ts := EntitySchema(cat.Entity("facts"))
	ts.Indexes = []canonical.Index{{Name: "by_grp", Columns: []string{"grp"}}}
	if _, err := st.Commit(ctx, canonical.CommitRequest{Kind: canonical.KindSchema, Committer: "admin",
		Schema: []canonical.SchemaChange{{CreateTable: &ts}}}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(seed))
	maybe := func(v any) any {
		if r.Intn(8) == 0 {
			return nil
		}
		return v
	}
	gen := func(id int64) []any {
		return []any{id,
			maybe([]string{"a", "b", "c", "B", "d e", ""}[r.Intn(6)]),
			maybe(int64(r.Intn(200) - 100)),
			maybe(int64(r.Intn(2_000_000) - 1_000_000)),
			maybe(r.Int63n(1<<50) - 1<<49),
			maybe(decimal.New(r.Int63n(10_000_000)-5_000_000, -2)),
			maybe(decimal.New(r.Int63n(1_000_000_000), -int32(r.Intn(6)))),
			maybe(r.NormFloat64() * 1e3),
			maybe(float64(float32(r.NormFloat64()))),
			maybe(r.Intn(2) == 0),
			maybe(time.Date(2026, 1, 1+r.Intn(5), 0, 0, 0, 0, time.UTC)),
			maybe(fmt.Sprintf("n%d", r.Intn(4))),
		}
	}
	commit := func(ch []canonical.Change) {
		t.Helper()
		if _, err := st.Commit(ctx, canonical.CommitRequest{Kind: canonical.KindIngest, Committer: "ingest", Changes: ch}); err != nil {
			t.Fatal(err)
		}
	}
	var ch []canonical.Change
	for id := int64(1); id <= 400; id++ {
		ch = append(ch, canonical.Change{Table: "facts", Op: canonical.OpUpsert, Row: gen(id)})
	}
	commit(ch) // 2
	ch = nil
	for id := int64(1); id <= 400; id += 3 {
		op := canonical.OpUpsert
		if id%2 == 0 {
			op = canonical.OpDelete
		}
		ch = append(ch, canonical.Change{Table: "facts", Op: op, Row: gen(id)})
	}
	commit(ch) // 3
	ch = nil
	for id := int64(401); id <= 600; id++ {
		ch = append(ch, canonical.Change{Table: "facts", Op: canonical.OpUpsert, Row: gen(id)})
	}
	commit(ch) // 4
	pro := memory.NewDBProvider(Databases(st, cat, nil)...)
	eng := sqle.NewDefault(pro)
	RegisterAggregatePushdown(eng.Analyzer)
	sctx := sql.NewContext(ctx, sql.WithSession(memory.NewSession(sql.NewBaseSession(), pro)))
	return &aggFixture{eng: eng, ctx: sctx}
}

// run returns the result schema and rows rendered with their Go types (and
// decimal exponents), so a float where the engine gives a decimal, or a
// different scale, is a difference.
func (f *aggFixture) run(t *testing.T, q string) (string, []string) {
	t.Helper()
	sch, it, _, err := f.eng.Query(f.ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var cols []string
	for _, c := range sch {
		cols = append(cols, fmt.Sprintf("%s %s %v", c.Name, c.Type, c.Nullable))
	}
	var out []string
	for {
		row, err := it.Next(f.ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		parts := make([]string, len(row))
		for i, v := range row {
			switch x := v.(type) {
			case decimal.Decimal:
				parts[i] = fmt.Sprintf("decimal:%s@%d", x.String(), x.Exponent())
			case time.Time:
				parts[i] = "time:" + x.UTC().Format(time.RFC3339Nano)
			default:
				parts[i] = fmt.Sprintf("%T:%v", v, v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := it.Close(f.ctx); err != nil {
		t.Fatal(err)
	}
	return strings.Join(cols, ", "), out
}

// TestAggregatePushdownMatchesEngine runs every query with the pushdown off
// (the engine's own GROUP BY) and on, over generated data with NULLs, and
// requires identical schemas and rows (values, Go types, decimal scales,
// row order); pushed says whether the plan must use the pushdown.
func TestAggregatePushdownMatchesEngine(t *testing.T) {
	queries := []struct {
		q      string
		pushed bool
	}{
		{"SELECT grp, count(*), count(i), sum(i), sum(b), sum(small), sum(amt), sum(big), sum(f), sum(r) FROM canonical.facts GROUP BY grp ORDER BY grp", true},
		{"SELECT grp, avg(i), avg(b), avg(amt), avg(big), avg(f), avg(small) FROM canonical.facts GROUP BY grp ORDER BY grp", true},
		{"SELECT grp, min(amt), max(amt), min(grp), max(at), min(note), max(f), min(flag) FROM canonical.facts GROUP BY grp ORDER BY grp", true},
		{"SELECT grp, count(*), sum(amt) FROM canonical.facts GROUP BY grp", true}, // group order: first appearance
		{"SELECT count(*), count(amt), sum(amt), avg(amt), sum(i), min(b) FROM canonical.facts", true},
		{"SELECT count(*), sum(amt), avg(amt), sum(i), avg(f), min(b) FROM canonical.facts WHERE i > 5000000", true}, // no rows: one row
		{"SELECT grp, count(*), sum(amt) FROM canonical.facts WHERE i > 5000000 GROUP BY grp", true},                 // no rows: no groups
		{"SELECT i % 7 AS g, count(*), sum(b) FROM canonical.facts GROUP BY 1 ORDER BY 1", true},
		{"SELECT flag, count(*), sum(amt) FROM canonical.facts GROUP BY flag ORDER BY flag", true},
		{"SELECT at, count(*), avg(amt) FROM canonical.facts GROUP BY at ORDER BY at", true},
		{"SELECT amt, count(*) FROM canonical.facts GROUP BY amt ORDER BY amt LIMIT 20", true},
		{"SELECT f, count(*) FROM canonical.facts GROUP BY f ORDER BY f LIMIT 20", true},
		{"SELECT big, count(*) FROM canonical.facts GROUP BY big ORDER BY big LIMIT 20", true},
		{"SELECT grp, note, count(*), sum(i) FROM canonical.facts GROUP BY grp, note ORDER BY grp, note", true},
		{"SELECT upper(grp) AS u, count(*), sum(amt) FROM canonical.facts GROUP BY upper(grp) ORDER BY 1", true},
		{"SELECT grp, count(DISTINCT note), count(DISTINCT flag, note) FROM canonical.facts GROUP BY grp ORDER BY grp", true},
		{"SELECT grp, group_concat(note ORDER BY note) FROM canonical.facts GROUP BY grp ORDER BY grp", true},
		{"SELECT grp, count(*) FROM canonical.facts GROUP BY grp HAVING count(*) > 60 ORDER BY grp", true},
		{"SELECT sum(amt) + 1, count(*) * 2, sum(amt) / count(*) FROM canonical.facts", true},
		{"SELECT grp, sum(amt) FROM canonical.facts WHERE flag AND amt > 0 GROUP BY grp ORDER BY grp", true},
		{"SELECT grp, sum(amt), count(*) FROM canonical.facts WHERE id BETWEEN 50 AND 250 GROUP BY grp ORDER BY grp", true},
		{"SELECT count(*), sum(amt) FROM canonical.facts WHERE grp = 'b'", true},
		{"SELECT x.grp, count(*), sum(x.amt) FROM canonical.facts x WHERE x.small < 0 GROUP BY x.grp ORDER BY x.grp", true},
		{"SELECT grp, count(*), sum(amt), avg(i) FROM canonical.facts AS OF 2 GROUP BY grp ORDER BY grp", true},
		{"SELECT count(*), sum(amt), sum(f) FROM canonical.facts AS OF 3 WHERE note = 'n1'", true},
		{"SELECT grp, i, count(*) FROM canonical.facts GROUP BY grp ORDER BY grp", true}, // first non-NULL i
		// Fall back to the engine (still compared).
		{"SELECT a.grp, count(*), sum(b.amt) FROM canonical.facts a JOIN canonical.facts b ON a.id = b.id GROUP BY a.grp ORDER BY a.grp", false},
		{"SELECT grp, count(*) FROM canonical.facts WHERE i > (SELECT avg(i) FROM canonical.facts) GROUP BY grp ORDER BY grp", false},
		{"SELECT grp FROM canonical.facts GROUP BY grp ORDER BY grp", false},
	}
	for _, seed := range []int64{1, 2} {
		f := newAggFixture(t, seed)
		for _, c := range queries {
			was := SetAggregatePushdown(false)
			before := aggregatesPushed.Load()
			wantSch, want := f.run(t, c.q)
			if n := aggregatesPushed.Load() - before; n != 0 {
				t.Fatalf("pushdown off but %d aggregates pushed", n)
			}
			SetAggregatePushdown(true)
			before = aggregatesPushed.Load()
			gotSch, got := f.run(t, c.q)
			pushed := aggregatesPushed.Load() - before
			SetAggregatePushdown(was)
			if c.pushed && pushed == 0 {
				t.Errorf("seed %d: %s: not pushed down", seed, c.q)
			}
			if !c.pushed && pushed != 0 && !strings.Contains(c.q, "(SELECT") {
				t.Errorf("seed %d: %s: pushed down, expected the engine", seed, c.q)
			}
			if gotSch != wantSch {
				t.Errorf("seed %d: %s: schema\n got: %s\nwant: %s", seed, c.q, gotSch, wantSch)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("seed %d: %s:\n got: %q\nwant: %q", seed, c.q, got, want)
			}
			if len(want) == 0 && !strings.Contains(c.q, "5000000") {
				t.Errorf("seed %d: %s: no rows (the test compares nothing)", seed, c.q)
			}
		}
	}
}

// wrappedTable stands for the gateway's masking wrapper: any table that is
// not a bare *CanonicalTable.
type wrappedTable struct{ sql.Table }

// TestAggregatePushdownOnlyBareCanonical: a GroupBy over a wrapped table
// (masks, row filters) is left to the engine, so its aggregates see the
// wrapper's rows.
func TestAggregatePushdownOnlyBareCanonical(t *testing.T) {
	f := newAggFixture(t, 3)
	db, err := f.eng.Analyzer.Catalog.Database(f.ctx, "canonical")
	if err != nil {
		t.Fatal(err)
	}
	tbl, ok, err := db.GetTableInsensitive(f.ctx, "facts")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	ct := tbl.(*CanonicalTable)
	count := aggregation.NewCount(expression.NewLiteral(int64(1), types.Int64))
	gf := expression.NewGetFieldWithTable(1, 1, ct.sch[1].Type, "canonical", "facts", "grp", true)
	mk := func(t sql.Table) *plan.GroupBy {
		return plan.NewGroupBy([]sql.Expression{count, gf}, []sql.Expression{gf}, plan.NewResolvedTable(t, db, nil))
	}
	if pushAggregate(mk(ct)) == nil {
		t.Fatal("bare canonical table not pushed")
	}
	if pushAggregate(mk(&wrappedTable{ct})) != nil {
		t.Fatal("wrapped table pushed down: masks and row filters would be bypassed")
	}
	// A column reference to another relation is not evaluated here.
	other := expression.NewGetFieldWithTable(1, 1, ct.sch[1].Type, "canonical", "elsewhere", "grp", true)
	gb := plan.NewGroupBy([]sql.Expression{count, other}, []sql.Expression{other}, plan.NewResolvedTable(ct, db, nil))
	if pushAggregate(gb) != nil {
		t.Fatal("outer reference pushed down")
	}
}

// pgModLike stands for the gateway's pg_mod function (the translation of
// Postgres' %): a function expression over the engine's modulo.
type pgModLike struct{ *expression.Mod }

func (pgModLike) FunctionName() string { return "pg_mod" }
func (pgModLike) Description() string  { return "modulo" }

// TestIntKeyFnGroupsLikeTheEngine: the native grouping key of an integer
// column, and of an integer column modulo a constant (as an operator or as
// pg_mod), puts two rows in the same group exactly when the engine's key
// (its evaluated value, rendered) does, NULLs included.
func TestIntKeyFnGroupsLikeTheEngine(t *testing.T) {
	ctx := sql.NewEmptyContext()
	var vals []any
	for x := int64(-250); x <= 250; x += 7 {
		vals = append(vals, x)
	}
	vals = append(vals, int64(math.MinInt64), int64(math.MaxInt64), nil)
	for _, typ := range []sql.Type{types.Int64, types.Int32} {
		gf := expression.NewGetFieldWithTable(0, 0, typ, "canonical", "t", "n", true)
		exprs := []sql.Expression{gf}
		for _, d := range []any{int8(100), int64(-7), int32(3)} {
			lt := types.Int8
			switch d.(type) {
			case int64:
				lt = types.Int64
			case int32:
				lt = types.Int32
			}
			m := expression.NewMod(gf, expression.NewLiteral(d, lt))
			exprs = append(exprs, m, pgModLike{m}, expression.NewAlias("g", m))
		}
		for _, e := range exprs {
			kf := intKeyFn(e)
			if kf == nil {
				t.Fatalf("%s: no native key", e)
			}
			var native, engine []string
			for _, v := range vals {
				if v != nil && typ == types.Int32 {
					x := v.(int64)
					if x < math.MinInt32 || x > math.MaxInt32 {
						continue
					}
					v = int32(x)
				}
				row := sql.Row{v}
				native = append(native, string(kf(nil, row)))
				ev, err := e.Eval(ctx, row)
				if err != nil {
					t.Fatal(err)
				}
				k, err := appendGroupKey(ctx, nil, e.Type(), ev)
				if err != nil {
					t.Fatal(err)
				}
				engine = append(engine, string(k))
			}
			for i := range native {
				for j := range native {
					if (native[i] == native[j]) != (engine[i] == engine[j]) {
						t.Fatalf("%s over %s: rows %d and %d group differently (native %v, engine %v)", e, typ, i, j, native[i] == native[j], engine[i] == engine[j])
					}
				}
			}
		}
	}
	// Not integer arithmetic: evaluated by the engine.
	if intKeyFn(expression.NewMod(expression.NewGetField(0, types.Float64, "f", true), expression.NewLiteral(int64(2), types.Int64))) != nil {
		t.Fatal("float modulo keyed natively")
	}
	if intKeyFn(expression.NewMod(expression.NewGetField(0, types.Int64, "n", true), expression.NewLiteral(int64(0), types.Int64))) != nil {
		t.Fatal("modulo by zero keyed natively (the engine raises or returns NULL)")
	}
}
