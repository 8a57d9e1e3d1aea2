package sqltables

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/analyzer"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/expression/function/aggregation"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/canonical"
)

// Aggregate pushdown.
//
// The engine aggregates row at a time: every row of a canonical table is
// converted to an engine row, passed up a chain of iterators, hashed with
// fmt.Fprintf per grouping value and fed to boxed aggregation buffers. For a
// GROUP BY over a whole entity that is most of the query's time (DESIGN.md,
// "Bars"). The rule below replaces a GroupBy whose input is one canonical
// table -- optionally behind a Filter, a table alias, a projection, an index
// lookup or AS OF -- with a leaf node, canonicalAggregate, that reads the
// store itself (only the columns the query uses, into one reused row) and
// hash-aggregates in Go.
//
// Semantics are the engine's, by construction or by copy:
//   - WHERE, grouping keys and aggregate arguments are the engine's own
//     expressions, evaluated on a row shaped like the table's (column
//     references re-pointed at the table's columns);
//   - groups are keyed by exactly what the engine hashes (collation weight
//     strings for text, the %v rendering otherwise), but compared exactly
//     rather than by a 64-bit hash; groups come out in order of first
//     appearance, as the engine's do (ORDER BY decides the order anyway);
//   - count(*), count(col), and sum/avg over integer, float and decimal
//     columns are computed natively with the engine's result types and
//     rounding (sum of integers is a float64, as the engine reports it; sum
//     of numeric is an exact decimal whose scale is the largest input scale,
//     never a float; avg of numeric divides with the engine's scale + 4);
//     every other aggregate (min, max, count(DISTINCT), group_concat, ...)
//     runs the engine's own aggregation buffer, so it cannot differ;
//   - a query without GROUP BY yields one row even over no rows (count 0,
//     sum NULL); with GROUP BY, no rows yield no groups.
//
// Anything else falls back to the engine: joins, subqueries in the
// aggregated expressions, outer-scope references, window functions,
// any_value-only selections, and tables that are not a bare
// *CanonicalTable. The last point is what keeps masks, row filters and
// column grants in force: a session with masks or row filters on the entity
// reads it through the gateway's maskedTable wrapper, which is not a
// *CanonicalTable, so its aggregates run over the masked rows in the engine
// as before (README: "aggregates run over the masked value"). Column grants
// are checked on the bound statement before it is analysed, so they are
// unaffected.

// AggregatePushdownRuleID is the analyzer rule id of the pushdown (outside
// GMS's own range).
const AggregatePushdownRuleID analyzer.RuleId = 9001

// aggregatePushdownOff disables the rule (tests compare with the engine).
// DUALGATE_AGGREGATE_PUSHDOWN=off in the environment starts with it off:
// a kill switch, and the "before" of a benchmark on the same binary.
var aggregatePushdownOff atomic.Bool

func init() {
	if strings.EqualFold(os.Getenv("DUALGATE_AGGREGATE_PUSHDOWN"), "off") {
		aggregatePushdownOff.Store(true)
	}
}

// SetAggregatePushdown turns the aggregate pushdown on (the default) or off
// for every engine in the process; it returns the previous setting. Tests
// use it to run the same query both ways.
func SetAggregatePushdown(on bool) (was bool) {
	return !aggregatePushdownOff.Swap(!on)
}

// aggregatesPushed counts the GroupBy nodes the rule replaced (tests use it
// to prove a plan took the pushdown).
var aggregatesPushed atomic.Int64

// pushedBySession counts pushed GROUP BY nodes per engine session id, once
// TrackPushedAggregates was called.
var (
	trackSessions   atomic.Bool
	pushedBySession sync.Map // uint32 -> *atomic.Int64
)

// TrackPushedAggregates starts counting pushed-down GROUP BY nodes per
// engine session (for PushedAggregates). It is for tests: the counts are
// kept for the life of the process.
func TrackPushedAggregates() { trackSessions.Store(true) }

// PushedAggregates returns how many GROUP BY nodes the rule has replaced in
// statements of the engine session id (the gateway's backend PID) since
// TrackPushedAggregates. Tests use it to prove a statement took, or did not
// take, the pushdown.
func PushedAggregates(session uint32) int64 {
	if c, ok := pushedBySession.Load(session); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

// RegisterAggregatePushdown adds the aggregate pushdown to an analyzer, as
// the last rule before execution indexes are assigned (after validation, so
// the engine has checked the GroupBy it replaces).
func RegisterAggregatePushdown(a *analyzer.Analyzer) {
	for _, b := range a.Batches {
		if b.Desc == "post-validation" {
			for _, r := range b.Rules {
				if r.Id == AggregatePushdownRuleID {
					return
				}
			}
			b.Rules = append(b.Rules, analyzer.Rule{Id: AggregatePushdownRuleID, Apply: aggregatePushdownRule})
			return
		}
	}
}

func aggregatePushdownRule(ctx *sql.Context, _ *analyzer.Analyzer, n sql.Node, _ *plan.Scope, _ analyzer.RuleSelector, _ *sql.QueryFlags) (sql.Node, transform.TreeIdentity, error) {
	if aggregatePushdownOff.Load() {
		return n, transform.SameTree, nil
	}
	return transform.Node(n, func(n sql.Node) (sql.Node, transform.TreeIdentity, error) {
		gb, ok := n.(*plan.GroupBy)
		if !ok {
			return n, transform.SameTree, nil
		}
		agg := pushAggregate(gb)
		if agg == nil {
			return n, transform.SameTree, nil
		}
		aggregatesPushed.Add(1)
		if trackSessions.Load() && ctx.Session != nil {
			c, _ := pushedBySession.LoadOrStore(ctx.Session.ID(), new(atomic.Int64))
			c.(*atomic.Int64).Add(1)
		}
		return agg, transform.NewTree, nil
	})
}

// pushAggregate returns the pushed-down form of gb, or nil if it does not
// qualify.
func pushAggregate(gb *plan.GroupBy) *canonicalAggregate {
	child := gb.Child
	var filter sql.Expression
	if f, ok := child.(*plan.Filter); ok {
		filter, child = f.Expression, f.Child
	}
	alias := ""
	if ta, ok := child.(*plan.TableAlias); ok {
		alias, child = ta.Name(), ta.Child
	}
	var t *CanonicalTable
	switch c := child.(type) {
	case *plan.ResolvedTable:
		t, _ = c.Table.(*CanonicalTable)
	case *plan.IndexedTableAccess:
		if !c.IsStatic() {
			return nil
		}
		t, _ = c.Table.(*CanonicalTable)
		if t != nil && t.lookup == nil {
			return nil
		}
	}
	if t == nil {
		return nil
	}
	full := *t
	full.proj = nil
	t = &full
	names := map[string]bool{strings.ToLower(t.entity.Name): true}
	if alias != "" {
		names = map[string]bool{strings.ToLower(alias): true}
	}
	a := &canonicalAggregate{gb: gb, t: t, need: make([]bool, len(t.sch))}
	hasAgg := false
	for _, e := range gb.SelectedExprs {
		if ag, ok := e.(sql.Aggregation); ok {
			if _, any := ag.(*aggregation.AnyValue); any {
				return nil
			}
			if w, ok := ag.(sql.WindowAdaptableExpression); ok && w.Window() != nil {
				return nil
			}
			hasAgg = true
		}
	}
	if !hasAgg {
		return nil
	}
	var ok bool
	if filter != nil {
		if a.filter, ok = a.rebind(filter, names); !ok {
			return nil
		}
	}
	for _, e := range gb.GroupByExprs {
		g, ok := a.rebind(e, names)
		if !ok {
			return nil
		}
		a.groups = append(a.groups, g)
	}
	for _, e := range gb.SelectedExprs {
		s, ok := a.rebind(e, names)
		if !ok {
			return nil
		}
		a.sel = append(a.sel, s)
	}
	return a
}

// rebind re-points the column references of e at the table's full row and
// reports whether e can be evaluated on that row alone.
func (a *canonicalAggregate) rebind(e sql.Expression, names map[string]bool) (sql.Expression, bool) {
	ok := true
	out, _, err := transform.Expr(e, func(e sql.Expression) (sql.Expression, transform.TreeIdentity, error) {
		switch x := e.(type) {
		case *expression.GetField:
			if tn := x.Table(); tn != "" && !names[strings.ToLower(tn)] {
				ok = false
				return e, transform.SameTree, nil
			}
			i := a.t.sch.IndexOfColName(x.Name())
			if i < 0 {
				ok = false
				return e, transform.SameTree, nil
			}
			a.need[i] = true
			return x.WithIndex(i), transform.NewTree, nil
		case *plan.Subquery, *expression.BindVar, *expression.ProcedureParam, *expression.UserVar,
			*expression.SystemVar, *expression.DefaultColumn, *expression.Star:
			ok = false
		case sql.WindowAdaptableExpression:
			if x.Window() != nil {
				ok = false
			}
		}
		return e, transform.SameTree, nil
	})
	if err != nil || !ok {
		return nil, false
	}
	return out, true
}

// canonicalAggregate is a GroupBy over one canonical table, computed by
// reading the store directly (see the comment at the top of the file). It
// is a leaf: the analyzer sees its output columns through ProjectedExprs,
// exactly as it saw the GroupBy's.
type canonicalAggregate struct {
	gb     *plan.GroupBy
	t      *CanonicalTable
	filter sql.Expression   // rebound WHERE, nil if none
	groups []sql.Expression // rebound grouping expressions
	sel    []sql.Expression // rebound selected expressions
	need   []bool           // table columns the query reads
}

var (
	_ sql.Node          = (*canonicalAggregate)(nil)
	_ sql.ExecSourceRel = (*canonicalAggregate)(nil)
	_ sql.Projector     = (*canonicalAggregate)(nil)
)

// Resolved implements sql.Node.
func (a *canonicalAggregate) Resolved() bool { return true }

// IsReadOnly implements sql.Node.
func (a *canonicalAggregate) IsReadOnly() bool { return true }

// Schema implements sql.Node: the GroupBy's.
func (a *canonicalAggregate) Schema() sql.Schema { return a.gb.Schema() }

// Children implements sql.Node (a leaf).
func (a *canonicalAggregate) Children() []sql.Node { return nil }

// WithChildren implements sql.Node.
func (a *canonicalAggregate) WithChildren(children ...sql.Node) (sql.Node, error) {
	if len(children) != 0 {
		return nil, sql.ErrInvalidChildrenNumber.New(a, len(children), 0)
	}
	return a, nil
}

// ProjectedExprs implements sql.Projector (the column ids of the output).
func (a *canonicalAggregate) ProjectedExprs() []sql.Expression { return a.gb.SelectedExprs }

// String implements sql.Node.
func (a *canonicalAggregate) String() string {
	p := sql.NewTreePrinter()
	sel := make([]string, len(a.gb.SelectedExprs))
	for i, e := range a.gb.SelectedExprs {
		sel[i] = e.String()
	}
	grp := make([]string, len(a.gb.GroupByExprs))
	for i, e := range a.gb.GroupByExprs {
		grp[i] = e.String()
	}
	_ = p.WriteNode("CanonicalAggregate(%s)", a.t)
	kids := []string{"select: " + strings.Join(sel, ", "), "group: " + strings.Join(grp, ", ")}
	if a.filter != nil {
		kids = append(kids, "filter: "+a.filter.String())
	}
	if a.t.lookup != nil {
		kids = append(kids, "lookup: "+a.t.lookup.Index.ID())
	}
	_ = p.WriteChildren(kids...)
	return p.String()
}

// RowIter implements sql.ExecSourceRel: it reads and aggregates every row,
// then returns the groups.
func (a *canonicalAggregate) RowIter(ctx *sql.Context, _ sql.Row) (sql.RowIter, error) {
	st := newAggState(a)
	err := a.scan(ctx, func(row sql.Row) error {
		if a.filter != nil {
			ok, err := sql.EvaluateCondition(ctx, a.filter, row)
			if err != nil {
				return err
			}
			if !sql.IsTrue(ok) {
				return nil
			}
		}
		return st.add(ctx, row)
	})
	if err != nil {
		return nil, err
	}
	rows, err := st.results(ctx)
	if err != nil {
		return nil, err
	}
	return &sliceIter{rows: rows}, nil
}

// scan calls fn with every row of the table (lookup applied), as a
// full-width engine row with only the needed columns set. The row is reused
// between calls.
func (a *canonicalAggregate) scan(ctx *sql.Context, fn func(sql.Row) error) error {
	t := a.t
	if t.ts == nil {
		return nil
	}
	if t.lookup == nil {
		return t.scanReuse(ctx, a.need, fn)
	}
	parts, err := t.Partitions(ctx)
	if err != nil {
		return err
	}
	defer parts.Close(ctx)
	for {
		p, err := parts.Next(ctx)
		if err == ioEOF {
			return nil
		}
		if err != nil {
			return err
		}
		lp, ok := p.(*lookupPartition)
		if !ok {
			return fmt.Errorf("sqltables: %s: unexpected partition %T", t, p)
		}
		// The range re-check reads the index columns.
		need := append([]bool(nil), a.need...)
		if lp.idx != nil {
			for _, c := range lp.idx.cols {
				need[c] = true
			}
		}
		it, err := t.rows(ctx, lp, need)
		if err != nil {
			return err
		}
		for {
			row, err := it.Next(ctx)
			if err == ioEOF {
				break
			}
			if err != nil {
				_ = it.Close(ctx)
				return err
			}
			if err := fn(row); err != nil {
				_ = it.Close(ctx)
				return err
			}
		}
		if err := it.Close(ctx); err != nil {
			return err
		}
	}
}

// scanReuse reads the whole table (at the table's commit) into one reused
// engine row, converting only the columns in need.
func (t *CanonicalTable) scanReuse(ctx *sql.Context, need []bool, fn func(sql.Row) error) error {
	storeCalls.scan.Add(1)
	cols := neededColumns(need)
	it, err := t.e.store.Scan(ctx, t.entity.Name, canonical.ScanOptions{AsOf: t.asOf, Columns: cols, ReuseRow: true})
	if err != nil {
		return t.wrap(err)
	}
	row := make(sql.Row, len(t.sch))
	for it.Next() {
		r := it.Row()
		for _, i := range cols {
			if i >= len(r) {
				row[i] = nil
				continue
			}
			v, err := toEngine(t.sch[i].Type, r[i])
			if err != nil {
				_ = it.Close()
				return fmt.Errorf("%s.%s: %w", t, t.sch[i].Name, err)
			}
			row[i] = v
		}
		if err := fn(row); err != nil {
			_ = it.Close()
			return err
		}
	}
	err = it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return t.wrap(err)
	}
	return nil
}

// ---- aggregation state ----

// accumulator is one aggregate of one group.
type accumulator interface {
	update(ctx *sql.Context, row sql.Row) error
	result(ctx *sql.Context) (any, error)
}

// accMaker makes a fresh accumulator for a new group.
type accMaker func() (accumulator, error)

type aggState struct {
	a      *canonicalAggregate
	makers []accMaker
	// groups by exact key, in order of first appearance.
	index  map[string]int
	groups [][]accumulator
	key    []byte
	types  []sql.Type
	keyFns []func([]byte, sql.Row) []byte // native grouping keys (nil: evaluate)
	// copyRow: some accumulator may keep the row it is given.
	copyRow bool
}

func newAggState(a *canonicalAggregate) *aggState {
	st := &aggState{a: a, index: map[string]int{}}
	for _, e := range a.sel {
		m, keeps := makerFor(e)
		st.makers = append(st.makers, m)
		st.copyRow = st.copyRow || keeps
	}
	for _, g := range a.groups {
		st.types = append(st.types, g.Type())
		st.keyFns = append(st.keyFns, intKeyFn(g))
	}
	return st
}

// intKeyFn returns a native grouping key for an integer column, or an
// integer column modulo a non-zero integer constant (`n % 100`; the
// gateway's pg_mod function is the same operation), or nil. The engine
// evaluates the modulo through decimals and groups by their rendering;
// integer remainders (truncated division, as the engine's) are equal
// exactly when those renderings are, so keying by the remainder groups
// identically.
func intKeyFn(e sql.Expression) func(b []byte, row sql.Row) []byte {
	if al, ok := e.(*expression.Alias); ok {
		e = al.Child
	}
	var col int
	var div int64
	switch x := e.(type) {
	case *expression.GetField:
		if numKind(x.Type()) != numInt {
			return nil
		}
		col = x.Index()
	case *expression.Mod:
		c, d, ok := intModArgs(x.Left(), x.Right())
		if !ok {
			return nil
		}
		col, div = c, d
	case sql.FunctionExpression:
		ch := x.Children()
		if x.FunctionName() != "pg_mod" || len(ch) != 2 {
			return nil
		}
		c, d, ok := intModArgs(ch[0], ch[1])
		if !ok {
			return nil
		}
		col, div = c, d
	default:
		return nil
	}
	return func(b []byte, row sql.Row) []byte {
		var n int64
		switch v := row[col].(type) {
		case int64:
			n = v
		case int32:
			n = int64(v)
		case int16:
			n = int64(v)
		case int8:
			n = int64(v)
		default: // NULL
			return append(b, 0)
		}
		if div != 0 {
			n %= div
		}
		return binary.AppendVarint(append(b, 1), n)
	}
}

// intModArgs recognises (integer column, non-zero integer constant).
func intModArgs(l, r sql.Expression) (col int, div int64, ok bool) {
	gf, isGF := l.(*expression.GetField)
	lit, isLit := r.(*expression.Literal)
	if !isGF || !isLit || numKind(gf.Type()) != numInt {
		return 0, 0, false
	}
	switch v := lit.Value().(type) {
	case int8:
		div = int64(v)
	case int16:
		div = int64(v)
	case int32:
		div = int64(v)
	case int64:
		div = v
	default:
		return 0, 0, false
	}
	return gf.Index(), div, div != 0
}

func (st *aggState) add(ctx *sql.Context, row sql.Row) error {
	var accs []accumulator
	if len(st.a.groups) == 0 {
		if len(st.groups) == 0 {
			if err := st.newGroup(""); err != nil {
				return err
			}
		}
		accs = st.groups[0]
	} else {
		st.key = st.key[:0]
		for i, g := range st.a.groups {
			if kf := st.keyFns[i]; kf != nil {
				st.key = kf(st.key, row)
				continue
			}
			v, err := g.Eval(ctx, row)
			if err != nil {
				return err
			}
			if st.key, err = appendGroupKey(ctx, st.key, st.types[i], v); err != nil {
				return err
			}
		}
		gi, ok := st.index[string(st.key)]
		if !ok {
			gi = len(st.groups)
			k := string(st.key)
			if err := st.newGroup(k); err != nil {
				return err
			}
			st.index[k] = gi
		}
		accs = st.groups[gi]
	}
	if st.copyRow {
		row = row.Copy()
	}
	for _, acc := range accs {
		if err := acc.update(ctx, row); err != nil {
			return err
		}
	}
	return nil
}

func (st *aggState) newGroup(string) error {
	accs := make([]accumulator, len(st.makers))
	for i, m := range st.makers {
		acc, err := m()
		if err != nil {
			return err
		}
		accs[i] = acc
	}
	st.groups = append(st.groups, accs)
	return nil
}

func (st *aggState) results(ctx *sql.Context) ([]sql.Row, error) {
	if len(st.a.groups) == 0 && len(st.groups) == 0 {
		// No GROUP BY: one row even over no input.
		if err := st.newGroup(""); err != nil {
			return nil, err
		}
	}
	out := make([]sql.Row, len(st.groups))
	for gi, accs := range st.groups {
		row := make(sql.Row, len(accs))
		for i, acc := range accs {
			v, err := acc.result(ctx)
			if err != nil {
				return nil, err
			}
			row[i] = v
		}
		out[gi] = row
	}
	return out, nil
}

// appendGroupKey appends an exact encoding of what the engine's grouping
// hashes for v (rowexec.groupingKey): the collation weight string of text,
// the %v rendering of anything else. Integers are encoded directly (their
// %v renderings are equal exactly when the values are). NULL is its own
// group.
func appendGroupKey(ctx *sql.Context, b []byte, t sql.Type, v any) ([]byte, error) {
	if v == nil {
		return append(b, 0), nil
	}
	if st, ok := t.(sql.StringType); ok {
		s, err := types.ConvertToString(ctx, v, st, nil)
		if err != nil {
			return nil, err
		}
		b = append(b, 2)
		if c := st.Collation(); c == sql.Collation_utf8mb4_0900_bin || c == sql.Collation_binary {
			if c != sql.Collation_binary && !utf8.ValidString(s) {
				return nil, sql.ErrCollationMalformedString.New("hashing")
			}
			b = binary.AppendUvarint(b, uint64(len(s)))
			return append(b, s...), nil
		}
		w := &byteWriter{}
		if err := st.Collation().WriteWeightString(w, s); err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(len(w.b)))
		return append(b, w.b...), nil
	}
	switch x := v.(type) {
	case int64:
		return binary.AppendVarint(append(b, 1), x), nil
	case int32:
		return binary.AppendVarint(append(b, 1), int64(x)), nil
	case int16:
		return binary.AppendVarint(append(b, 1), int64(x)), nil
	case int8:
		return binary.AppendVarint(append(b, 1), int64(x)), nil
	}
	s := fmt.Sprintf("%v", v)
	b = binary.AppendUvarint(append(b, 3), uint64(len(s)))
	return append(b, s...), nil
}

type byteWriter struct{ b []byte }

func (w *byteWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// makerFor returns the accumulator maker of a selected expression: native
// ones where the engine's result can be reproduced exactly, the engine's own
// buffer otherwise; keepsRow says whether the accumulator may keep the row
// it is given.
func makerFor(e sql.Expression) (m accMaker, keepsRow bool) {
	switch x := e.(type) {
	case *aggregation.Count:
		if lit, ok := x.Child.(*expression.Literal); ok {
			if v, _ := lit.Eval(nil, nil); v != nil {
				return func() (accumulator, error) { return &countAcc{}, nil }, false
			}
		}
		if gf, ok := x.Child.(*expression.GetField); ok {
			i := gf.Index()
			return func() (accumulator, error) { return &countAcc{col: i, nonNull: true}, nil }, false
		}
	case *aggregation.Sum:
		if gf, ok := x.Child.(*expression.GetField); ok {
			if k := numKind(gf.Type()); k != 0 {
				i := gf.Index()
				return func() (accumulator, error) { return &sumAcc{col: i, kind: k}, nil }, false
			}
		}
	case *aggregation.Avg:
		if gf, ok := x.Child.(*expression.GetField); ok {
			if k := numKind(gf.Type()); k != 0 {
				i := gf.Index()
				return func() (accumulator, error) { return &avgAcc{sumAcc: sumAcc{col: i, kind: k}}, nil }, false
			}
		}
	}
	if ag, ok := e.(sql.Aggregation); ok {
		return func() (accumulator, error) {
			buf, err := ag.NewBuffer()
			if err != nil {
				return nil, err
			}
			return &bufferAcc{buf: buf}, nil
		}, true
	}
	// A plain expression in a GROUP BY's select list is the group's first
	// non-NULL value (the engine's semantics without ONLY_FULL_GROUP_BY):
	// the engine's own First buffer.
	first := aggregation.NewFirst(e)
	return func() (accumulator, error) {
		buf, err := first.NewBuffer()
		if err != nil {
			return nil, err
		}
		return &bufferAcc{buf: buf}, nil
	}, false
}

// Numeric kinds the native sum and avg handle.
const (
	numInt = iota + 1
	numFloat
	numDecimal
)

func numKind(t sql.Type) int {
	switch {
	case t == types.Int8 || t == types.Int16 || t == types.Int24 || t == types.Int32 || t == types.Int64:
		return numInt
	case t == types.Float64 || t == types.Float32:
		return numFloat
	case types.IsDecimal(t):
		return numDecimal
	}
	return 0
}

type countAcc struct {
	col     int
	nonNull bool
	n       int64
}

func (c *countAcc) update(_ *sql.Context, row sql.Row) error {
	if !c.nonNull || row[c.col] != nil {
		c.n++
	}
	return nil
}

func (c *countAcc) result(*sql.Context) (any, error) { return c.n, nil }

// sumAcc is the engine's sum (aggregation.sumBuffer): NULL over no
// non-NULL values; integers and floats add up as float64 in row order;
// decimals add up exactly, the result's exponent being the smallest of 0
// and every input's.
type sumAcc struct {
	col  int
	kind int
	any  bool
	f    float64
	c    big.Int // decimal coefficient at exponent e
	e    int32
	tmp  big.Int
}

func (s *sumAcc) update(_ *sql.Context, row sql.Row) error {
	v := row[s.col]
	if v == nil {
		return nil
	}
	s.any = true
	switch x := v.(type) {
	case int64:
		s.f += float64(x)
	case int32:
		s.f += float64(x)
	case int16:
		s.f += float64(x)
	case int8:
		s.f += float64(x)
	case float64:
		s.f += x
	case float32:
		s.f += float64(x)
	case decimal.Decimal:
		s.addDecimal(x)
	default:
		return fmt.Errorf("sqltables: sum over unexpected %T", v)
	}
	return nil
}

var bigTen = big.NewInt(10)

func (s *sumAcc) addDecimal(d decimal.Decimal) {
	e := d.Exponent()
	if e > 0 {
		// Never produced by the store (scale >= 0), but stay exact.
		s.tmp.Exp(bigTen, big.NewInt(int64(e)), nil)
		s.tmp.Mul(&s.tmp, d.Coefficient())
		e = 0
	} else {
		s.tmp.Set(d.Coefficient())
	}
	switch {
	case e < s.e:
		var p big.Int
		p.Exp(bigTen, big.NewInt(int64(s.e-e)), nil)
		s.c.Mul(&s.c, &p)
		s.e = e
	case e > s.e:
		var p big.Int
		p.Exp(bigTen, big.NewInt(int64(e-s.e)), nil)
		s.tmp.Mul(&s.tmp, &p)
	}
	s.c.Add(&s.c, &s.tmp)
}

func (s *sumAcc) result(*sql.Context) (any, error) {
	if !s.any {
		return nil, nil
	}
	if s.kind == numDecimal {
		return decimal.NewFromBigInt(new(big.Int).Set(&s.c), s.e), nil
	}
	return s.f, nil
}

// avgAcc is the engine's avg (aggregation.avgBuffer).
type avgAcc struct {
	sumAcc
	rows int64
}

func (a *avgAcc) update(ctx *sql.Context, row sql.Row) error {
	if row[a.col] == nil {
		return nil
	}
	a.rows++
	return a.sumAcc.update(ctx, row)
}

func (a *avgAcc) result(ctx *sql.Context) (any, error) {
	if a.rows == 0 {
		return nil, nil
	}
	sum, err := a.sumAcc.result(ctx)
	if err != nil {
		return nil, err
	}
	switch s := sum.(type) {
	case float64:
		return s / float64(a.rows), nil
	case decimal.Decimal:
		scale := -s.Exponent() + 4
		return s.DivRound(decimal.NewFromInt(a.rows), scale), nil
	}
	return nil, nil
}

// bufferAcc runs the engine's own aggregation buffer. Buffers other than
// First may keep the row they are given (count(DISTINCT *) does), so they
// get a copy of the reused scan row (see aggState.add).
type bufferAcc struct{ buf sql.AggregationBuffer }

func (b *bufferAcc) update(ctx *sql.Context, row sql.Row) error { return b.buf.Update(ctx, row) }
func (b *bufferAcc) result(ctx *sql.Context) (any, error)       { return b.buf.Eval(ctx) }
