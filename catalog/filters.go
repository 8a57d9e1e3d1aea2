package catalog

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Row filters follow copies: a condition over canonical.<entity>'s columns
// (policies.row_filters) is carried to the relations holding copies of the
// entity's rows by rewriting it over their columns. Where the rewrite is
// not exact the functions report !ok, and the gateway hides every row of
// that relation from the filtered session (fail closed).

// aggregateNames are functions that make a mapping's output a summary of
// several source rows, which a per-row condition cannot follow.
var aggregateNames = map[string]bool{"count": true, "sum": true, "min": true, "max": true, "avg": true, "array_agg": true,
	"string_agg": true, "bool_and": true, "bool_or": true, "every": true, "json_agg": true, "jsonb_agg": true,
	"json_object_agg": true, "jsonb_object_agg": true, "stddev": true, "variance": true}

// FilterThroughMapping rewrites where, a condition over the columns of
// m's entity, into a condition over raw.<m.Source>'s columns: each entity
// column is replaced by the expression m computes it with (so a raw row
// passes when the row it maps to would), ANDed with m's own WHERE (a raw row
// m does not map is not shown). !ok for a mapping that is not a per-row
// SELECT … FROM batch (joins, subqueries, grouping, aggregates, set
// operations, DISTINCT) or a condition naming a column m does not produce.
func FilterThroughMapping(m *Mapping, where string) (string, bool) {
	sel, ok := singleSelect(m.Select, false)
	if !ok || len(sel.FromClause) != 1 {
		return "", false
	}
	if rv := sel.FromClause[0].GetRangeVar(); rv == nil || rv.Schemaname != "" || rv.Relname != "batch" {
		return "", false
	}
	outs := map[string]*pg_query.Node{}
	for _, t := range sel.TargetList {
		rt := t.GetResTarget()
		if rt == nil {
			return "", false
		}
		name := rt.Name
		if name == "" {
			if cr := rt.Val.GetColumnRef(); cr != nil {
				fields := refFields(cr)
				name = fields[len(fields)-1]
			}
		}
		if name == "" || name == "*" {
			return "", false
		}
		outs[name] = unqualify(rt.Val, batchAlias(sel))
	}
	cond, ok := substitute(where, func(fields []string) (*pg_query.Node, bool) {
		n, ok := outs[fields[len(fields)-1]]
		return n, ok && len(fields) == 1
	})
	if !ok {
		return "", false
	}
	if sel.WhereClause != nil {
		mw, ok := deparseExpr(unqualify(sel.WhereClause, batchAlias(sel)))
		if !ok {
			return "", false
		}
		cond = "(" + mw + ") AND (" + cond + ")"
	}
	return cond, true
}

// FilterThroughProjection rewrites where, a condition over the columns of
// canonical.<entity>, into a condition over serving.<p>'s columns: each
// entity column it names must be an output of p that is a plain reference
// to that column of the entity, read once in p's FROM. !ok otherwise (the
// column is computed, not in the output, or the entity is read twice or
// only inside subqueries).
func FilterThroughProjection(p *Projection, entity, where string) (string, bool) {
	// Scalar subqueries computing other output columns do not change which
	// rows the projection has.
	sel, ok := singleSelect(p.Select, true)
	if !ok {
		return "", false
	}
	// The entity's name in p's FROM (its alias), found once at top level.
	alias := ""
	var walk func(n *pg_query.Node) bool
	walk = func(n *pg_query.Node) bool {
		switch {
		case n.GetRangeVar() != nil:
			rv := n.GetRangeVar()
			if rv.Schemaname == "canonical" && rv.Relname == entity {
				if alias != "" {
					return false
				}
				alias = rv.Relname
				if rv.Alias != nil {
					alias = rv.Alias.Aliasname
				}
			}
		case n.GetJoinExpr() != nil:
			return walk(n.GetJoinExpr().Larg) && walk(n.GetJoinExpr().Rarg)
		}
		return true
	}
	for _, f := range sel.FromClause {
		if !walk(f) {
			return "", false
		}
	}
	if alias == "" {
		return "", false
	}
	single := len(sel.FromClause) == 1 && sel.FromClause[0].GetRangeVar() != nil
	outs := map[string]string{} // entity column -> output name
	for _, t := range sel.TargetList {
		rt := t.GetResTarget()
		cr := rt.GetVal().GetColumnRef()
		if cr == nil {
			continue
		}
		fields := refFields(cr)
		col := fields[len(fields)-1]
		if col == "*" || (len(fields) == 2 && fields[0] != alias) || len(fields) > 2 || (len(fields) == 1 && !single) {
			continue
		}
		name := rt.Name
		if name == "" {
			name = col
		}
		if _, dup := outs[col]; !dup {
			outs[col] = name
		}
	}
	return substitute(where, func(fields []string) (*pg_query.Node, bool) {
		name, ok := outs[fields[len(fields)-1]]
		if !ok || len(fields) != 1 {
			return nil, false
		}
		return columnRef(name), true
	})
}

// singleSelect parses sql as one plain per-row SELECT: no set operations,
// grouping, DISTINCT, windows, subqueries, functions in FROM or aggregates;
// with outputSubqueries, select-list items that are whole scalar
// subqueries are allowed (and not looked into).
func singleSelect(sql string, outputSubqueries bool) (*pg_query.SelectStmt, bool) {
	res, err := pg_query.Parse(sql)
	if err != nil || len(res.Stmts) != 1 {
		return nil, false
	}
	sel := res.Stmts[0].GetStmt().GetSelectStmt()
	if sel == nil || sel.Op != pg_query.SetOperation_SETOP_NONE || sel.WithClause != nil || len(sel.GroupClause) > 0 ||
		sel.HavingClause != nil || len(sel.DistinctClause) > 0 || len(sel.WindowClause) > 0 || len(sel.ValuesLists) > 0 ||
		sel.LimitCount != nil || sel.LimitOffset != nil {
		return nil, false
	}
	ok := true
	check := func(m protoreflect.Message) {
		switch n := m.Interface().(type) {
		case *pg_query.SubLink, *pg_query.RangeSubselect, *pg_query.RangeFunction, *pg_query.RangeTableFunc:
			ok = false
		case *pg_query.FuncCall:
			if n.Over != nil || n.AggStar || aggregateNames[funcNameOf(n)] {
				ok = false
			}
		}
	}
	for _, t := range sel.TargetList {
		if rt := t.GetResTarget(); outputSubqueries && rt != nil && rt.Val.GetSubLink() != nil {
			continue
		}
		walkProto(t.ProtoReflect(), check)
	}
	for _, n := range sel.FromClause {
		walkProto(n.ProtoReflect(), check)
	}
	if sel.WhereClause != nil {
		walkProto(sel.WhereClause.ProtoReflect(), check)
	}
	return sel, ok
}

func funcNameOf(f *pg_query.FuncCall) string {
	if len(f.Funcname) == 0 {
		return ""
	}
	return strings.ToLower(f.Funcname[len(f.Funcname)-1].GetString_().GetSval())
}

// batchAlias is the name a mapping qualifies batch columns with.
func batchAlias(sel *pg_query.SelectStmt) string {
	if rv := sel.FromClause[0].GetRangeVar(); rv != nil && rv.Alias != nil {
		return rv.Alias.Aliasname
	}
	return "batch"
}

// unqualify returns a copy of n with column references qualified by
// qual made unqualified (raw.<source> has batch's columns).
func unqualify(n *pg_query.Node, qual string) *pg_query.Node {
	c := proto.Clone(n).(*pg_query.Node)
	walkProto(c.ProtoReflect(), func(m protoreflect.Message) {
		if cr, ok := m.Interface().(*pg_query.ColumnRef); ok && len(cr.Fields) == 2 && cr.Fields[0].GetString_().GetSval() == qual {
			cr.Fields = cr.Fields[1:]
		}
	})
	return c
}

func columnRef(name string) *pg_query.Node {
	return &pg_query.Node{Node: &pg_query.Node_ColumnRef{ColumnRef: &pg_query.ColumnRef{
		Fields: []*pg_query.Node{{Node: &pg_query.Node_String_{String_: &pg_query.String{Sval: name}}}}}}}
}

// substitute parses where (a condition) and replaces every column
// reference with what repl gives for its fields (parenthesized by the
// deparser as needed). !ok when where does not parse, has a subquery, or
// repl refuses a reference.
func substitute(where string, repl func(fields []string) (*pg_query.Node, bool)) (string, bool) {
	res, err := pg_query.Parse(exprPrefix + where)
	if err != nil || len(res.Stmts) != 1 {
		return "", false
	}
	sel := res.Stmts[0].GetStmt().GetSelectStmt()
	if sel == nil || sel.WhereClause == nil || len(sel.FromClause) > 0 {
		return "", false
	}
	ok := true
	var visit func(m protoreflect.Message)
	replace := func(n *pg_query.Node) *pg_query.Node {
		if _, sub := n.Node.(*pg_query.Node_SubLink); sub {
			ok = false
			return n
		}
		cr := n.GetColumnRef()
		if cr == nil {
			visit(n.ProtoReflect())
			return n
		}
		r, found := repl(refFields(cr))
		if !found {
			ok = false
			return n
		}
		return proto.Clone(r).(*pg_query.Node)
	}
	visit = func(m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() != protoreflect.MessageKind {
				return true
			}
			switch {
			case fd.IsList():
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					if n, isNode := l.Get(i).Message().Interface().(*pg_query.Node); isNode {
						l.Set(i, protoreflect.ValueOfMessage(replace(n).ProtoReflect()))
					} else {
						visit(l.Get(i).Message())
					}
				}
			case fd.IsMap():
			default:
				if n, isNode := v.Message().Interface().(*pg_query.Node); isNode {
					m.Set(fd, protoreflect.ValueOfMessage(replace(n).ProtoReflect()))
				} else {
					visit(v.Message())
				}
			}
			return true
		})
	}
	sel.WhereClause = replace(sel.WhereClause)
	if !ok {
		return "", false
	}
	return deparseExpr(sel.WhereClause)
}

// deparseExpr prints a condition as SQL text.
func deparseExpr(cond *pg_query.Node) (string, bool) {
	tmpl, err := pg_query.Parse(exprPrefix + "true")
	if err != nil {
		return "", false
	}
	tmpl.Stmts[0].GetStmt().GetSelectStmt().WhereClause = cond
	out, err := pg_query.Deparse(tmpl)
	if err != nil || !strings.HasPrefix(out, exprPrefix) {
		return "", false
	}
	return strings.TrimPrefix(out, exprPrefix), true
}
