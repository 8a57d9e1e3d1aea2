package dialect

import (
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Set-returning functions over arrays. The engine has no arrays (they are
// Postgres array text, see ARRAY(subquery)) and no set-returning functions
// in a select list, so the printer puts them on pgfunc's pg_unnest table
// function:
//
//   - unnest(a[, b ...]) [WITH ORDINALITY] in FROM is a derived table over
//     pg_unnest(a, b, ...) (zipped, as Postgres does).
//   - unnest(a), generate_subscripts(a, 1) and
//     information_schema._pg_expandarray(a) in a select list (pgJDBC's
//     getPrimaryKeys/getIndexInfo, SQLAlchemy's get_pk_constraint) become
//     one LATERAL pg_unnest over the distinct array arguments, joined to
//     the query's FROM: Postgres runs a select list's set-returning
//     functions in lockstep (as many rows as the longest), which is
//     pg_unnest's zip, and a row whose arrays are all empty yields no row,
//     which is the inner lateral join.
//   - _pg_expandarray's result is a record (x, n): (f(a)).x and (f(a)).n
//     are columns of the lateral table; the record itself prints as
//     record_out does (pg_record), and a field of a subquery's record
//     column, (q.keys).x, reads the text back (pg_record_field).
//
// Select lists with aggregates or GROUP BY around such calls (Postgres
// expands after grouping), and other set-returning functions there, are
// refused with 0A000.

// srfKind is an array set-returning function the printer expands.
type srfKind int

const (
	srfNone srfKind = iota
	srfUnnest
	srfSubscripts
	srfExpandArray
)

// recordFields names the fields of _pg_expandarray's record, in order.
var expandArrayFields = []string{"x", "n"}

// srfCall is one expanded call: its lateral column for each use.
type srfCall struct {
	kind  srfKind
	arg   int // 1-based index of its array among pg_unnest's arguments
	alias string
}

// arraySRF classifies a function call as one of the array set-returning
// functions.
func (p *printer) arraySRF(f *pg.FuncCall) srfKind {
	var names []string
	for _, n := range f.Funcname {
		s, ok := strVal(n)
		if !ok {
			return srfNone
		}
		names = append(names, strings.ToLower(s))
	}
	if len(names) == 0 || f.Over != nil || f.AggStar || len(f.AggOrder) > 0 {
		return srfNone
	}
	name := names[len(names)-1]
	schema := ""
	if len(names) == 2 {
		schema = names[0]
	} else if len(names) > 2 {
		return srfNone
	}
	switch {
	case name == "unnest" && (schema == "" || schema == "pg_catalog") && len(f.Args) == 1:
		return srfUnnest
	case name == "generate_subscripts" && (schema == "" || schema == "pg_catalog") && (len(f.Args) == 2 || len(f.Args) == 3):
		return srfSubscripts
	case name == "_pg_expandarray" && schema == "information_schema" && len(f.Args) == 1:
		return srfExpandArray
	}
	return srfNone
}

// findCalls returns the function calls in the expressions of nodes, not
// descending into subqueries (their select lists are their own).
func findCalls(nodes []*pg.Node) []*pg.FuncCall {
	var out []*pg.FuncCall
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		switch v := m.Interface().(type) {
		case *pg.SubLink:
			return
		case *pg.FuncCall:
			out = append(out, v)
		}
		m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
			if fd.Kind() != protoreflect.MessageKind {
				return true
			}
			if fd.IsList() {
				l := val.List()
				for i := 0; i < l.Len(); i++ {
					walk(l.Get(i).Message())
				}
			} else if !fd.IsMap() {
				walk(val.Message())
			}
			return true
		})
	}
	for _, n := range nodes {
		if n != nil {
			walk(n.ProtoReflect())
		}
	}
	return out
}

// selectListSRFs prepares the expansion of array set-returning functions
// in s's select list: it registers each call's replacement and returns
// the LATERAL FROM item to add ("" when there is none).
func (p *printer) selectListSRFs(s *pg.SelectStmt) string {
	var calls []*pg.FuncCall
	for _, f := range findCalls(s.TargetList) {
		if p.arraySRF(f) != srfNone {
			calls = append(calls, f)
		}
	}
	if len(calls) == 0 {
		return ""
	}
	if len(s.GroupClause) > 0 || s.HavingClause != nil || len(s.WindowClause) > 0 {
		p.unsupported(calls[0].Location, "set-returning function in a grouped select list")
	}
	for _, f := range findCalls(s.TargetList) {
		if f.Over != nil || isAggregateName(f) {
			p.unsupported(f.Location, "set-returning function next to aggregates or window functions")
		}
	}
	p.nAlias++
	alias := "_srf" + strconv.Itoa(p.nAlias)
	var arrays []string
	index := map[string]int{}
	if p.srf == nil {
		p.srf = map[*pg.FuncCall]srfCall{}
	}
	for _, f := range calls {
		kind := p.arraySRF(f)
		if kind == srfSubscripts {
			if d, ok := ordinal(f.Args[1]); !ok || d != 1 {
				p.unsupported(f.Location, "generate_subscripts over a dimension other than 1")
			}
			if len(f.Args) == 3 {
				p.unsupported(f.Location, "generate_subscripts in reverse")
			}
		}
		a := p.expr(f.Args[0])
		i, ok := index[a]
		if !ok {
			arrays = append(arrays, a)
			i = len(arrays)
			index[a] = i
		}
		p.srf[f] = srfCall{kind: kind, arg: i, alias: alias}
	}
	var cols []string
	for i := range arrays {
		n := strconv.Itoa(i + 1)
		cols = append(cols, ident("v"+n), ident("s"+n), ident("o"+n))
	}
	return "LATERAL (SELECT " + strings.Join(cols, ", ") + " FROM pg_unnest(" + strings.Join(arrays, ", ") + ")) AS " + ident(alias)
}

// inlineArraySubquery says whether ARRAY(sel) can aggregate over sel's
// FROM directly: one plain select item with no aggregate, window or
// set-returning call, and no grouping, DISTINCT, ORDER BY, LIMIT or WITH.
func inlineArraySubquery(sel *pg.SelectStmt) bool {
	if sel.Op != pg.SetOperation_SETOP_NONE || len(sel.ValuesLists) > 0 || len(sel.DistinctClause) > 0 ||
		len(sel.GroupClause) > 0 || sel.HavingClause != nil || len(sel.WindowClause) > 0 || len(sel.SortClause) > 0 ||
		sel.LimitCount != nil || sel.LimitOffset != nil || sel.WithClause != nil || len(sel.LockingClause) > 0 ||
		len(sel.TargetList) != 1 {
		return false
	}
	rt := sel.TargetList[0].GetResTarget()
	if rt == nil || isStar(rt.Val) || len(rt.Indirection) > 0 {
		return false
	}
	for _, f := range findCalls(sel.TargetList) {
		if f.Over != nil || isAggregateName(f) || len(f.AggOrder) > 0 || f.AggStar || f.AggFilter != nil {
			return false
		}
		if s, ok := strVal(f.Funcname[len(f.Funcname)-1]); ok {
			switch strings.ToLower(s) {
			case "unnest", "generate_subscripts", "_pg_expandarray", "generate_series":
				return false
			}
		}
	}
	return true
}

// isAggregateName says whether f calls one of the aggregates the printer
// knows.
func isAggregateName(f *pg.FuncCall) bool {
	s, ok := strVal(f.Funcname[len(f.Funcname)-1])
	if !ok {
		return false
	}
	switch strings.ToLower(s) {
	case "count", "sum", "avg", "min", "max", "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp",
		"var_pop", "bool_and", "bool_or", "every", "string_agg", "array_agg":
		return true
	}
	return false
}

// srfColumn prints an expanded call (f, registered by selectListSRFs), or
// reports false.
func (p *printer) srfColumn(f *pg.FuncCall) (string, bool) {
	c, ok := p.srf[f]
	if !ok {
		return "", false
	}
	n := strconv.Itoa(c.arg)
	col := func(prefix string) string { return ident(c.alias) + "." + ident(prefix+n) }
	switch c.kind {
	case srfUnnest:
		return col("v"), true
	case srfSubscripts:
		return col("s"), true
	}
	return "pg_record(" + col("v") + ", " + col("o") + ")", true
}

// fieldSelect prints (arg).field: a field of an expanded _pg_expandarray
// call, or of a column holding such a record (by the column's name, as
// registered when a select list named it).
func (p *printer) fieldSelect(arg *pg.Node, field string, loc int32) string {
	field = strings.ToLower(field)
	pos := -1
	for i, f := range expandArrayFields {
		if f == field {
			pos = i
		}
	}
	if f := arg.GetFuncCall(); f != nil {
		if c, ok := p.srf[f]; ok && c.kind == srfExpandArray && pos >= 0 {
			prefix := []string{"v", "o"}[pos]
			return ident(c.alias) + "." + ident(prefix+strconv.Itoa(c.arg))
		}
	}
	if cr := arg.GetColumnRef(); cr != nil && len(cr.Fields) > 0 && pos >= 0 {
		if name, ok := strVal(cr.Fields[len(cr.Fields)-1]); ok && p.records[name] {
			v := "pg_record_field(" + p.expr(arg) + ", " + strconv.Itoa(pos+1) + ")"
			if field == "n" {
				v = "CAST(" + v + " AS SIGNED)"
			}
			return v
		}
	}
	p.unsupported(loc, "field selection .%s", field)
	return ""
}

// noteFromRecords records the output names of the select-list items of
// the subqueries in a FROM list that are _pg_expandarray records, for
// fieldSelect in the query reading them (printed before its FROM).
func (p *printer) noteFromRecords(from []*pg.Node) {
	var walk func(n *pg.Node)
	walk = func(n *pg.Node) {
		switch {
		case n.GetRangeSubselect() != nil:
			if sel := n.GetRangeSubselect().Subquery.GetSelectStmt(); sel != nil {
				p.noteRecordTargets(leftmost(sel))
			}
		case n.GetJoinExpr() != nil:
			walk(n.GetJoinExpr().Larg)
			walk(n.GetJoinExpr().Rarg)
		}
	}
	for _, n := range from {
		walk(n)
	}
}

func (p *printer) noteRecordTargets(s *pg.SelectStmt) {
	for _, t := range s.TargetList {
		rt := t.GetResTarget()
		if rt == nil || rt.Name == "" {
			continue
		}
		if f := rt.Val.GetFuncCall(); f != nil && p.arraySRF(f) == srfExpandArray {
			if p.records == nil {
				p.records = map[string]bool{}
			}
			p.records[rt.Name] = true
		}
	}
}

// rangeUnnest prints unnest(a[, b ...]) [WITH ORDINALITY] in FROM as a
// derived table over pg_unnest. Column names follow Postgres: the column
// aliases, else the table alias for a single array, else "unnest"; the
// ordinality column is "ordinality" unless aliased.
func (p *printer) rangeUnnest(rf *pg.RangeFunction, fc *pg.FuncCall) string {
	if len(fc.Args) == 0 {
		p.unsupported(fc.Location, "unnest without arguments")
	}
	alias := "unnest"
	var colnames []string
	if rf.Alias != nil {
		alias = rf.Alias.Aliasname
		colnames = p.names(rf.Alias.Colnames)
	}
	want := len(fc.Args)
	if rf.Ordinality {
		want++
	}
	if len(colnames) > want {
		p.unsupported(-1, "more column aliases than unnest has columns")
	}
	name := func(i int) string {
		if i < len(colnames) {
			return colnames[i]
		}
		if rf.Ordinality && i == len(fc.Args) {
			return "ordinality"
		}
		if len(fc.Args) == 1 && rf.Alias != nil {
			return rf.Alias.Aliasname
		}
		return "unnest"
	}
	var cols, args, ords []string
	for i, a := range fc.Args {
		n := strconv.Itoa(i + 1)
		args = append(args, p.expr(a))
		cols = append(cols, ident("v"+n)+" AS "+ident(name(i)))
		ords = append(ords, ident("o"+n))
	}
	if rf.Ordinality {
		o := ords[0]
		if len(ords) > 1 {
			o = "COALESCE(" + strings.Join(ords, ", ") + ")"
		}
		cols = append(cols, o+" AS "+ident(name(len(fc.Args))))
	}
	return "(SELECT " + strings.Join(cols, ", ") + " FROM pg_unnest(" + strings.Join(args, ", ") + ")) AS " + ident(alias)
}
