package dialect

import (
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Column attribution and expression typing.
//
// The engine keeps timestamptz and timestamp alike (a DATETIME holding the
// UTC instant for timestamptz), so what Postgres decides from types — read
// an untyped literal compared with a timestamptz in the session TimeZone,
// truncate or extract a timestamptz in the session TimeZone, convert with
// AT TIME ZONE one way or the other — the printer decides from what it
// can prove about an expression's type: table columns (Options.ColumnType),
// columns of derived tables and CTEs (typed from the defining query's
// select list, in that query's own FROM), casts, and the functions and
// operators whose result type follows from their arguments. What it cannot
// type is treated as it was before (UTC), which is exact whenever the
// session TimeZone is UTC (the default).

// scopeRel is one relation of a FROM list: a table (rv), or a derived table
// or CTE reference, typed through the query that defines it (sub).
type scopeRel struct {
	rv   *pg.RangeVar // the table; for a CTE reference, the reference
	name string       // the name a qualifier uses: the alias, else the relation name
	sub  *pg.SelectStmt
	cols []string // column aliases of a derived table or CTE: s(a, b)
}

// enterScope records the relations of a FROM list for column lookups and
// returns the function that forgets them.
func (p *printer) enterScope(from []*pg.Node) func() {
	var rels []scopeRel
	var walk func(n *pg.Node)
	walk = func(n *pg.Node) {
		switch {
		case n.GetRangeVar() != nil:
			rv := n.GetRangeVar()
			r := scopeRel{rv: rv, name: rv.Relname}
			if rv.Alias != nil {
				r.name = rv.Alias.Aliasname
				r.cols = p.aliasNames(rv.Alias.Colnames)
			}
			if cte := p.ctes[rv.Relname]; rv.Schemaname == "" && cte != nil {
				r.sub = cte.Ctequery.GetSelectStmt()
				if len(r.cols) == 0 {
					r.cols = p.aliasNames(cte.Aliascolnames)
				}
			}
			rels = append(rels, r)
		case n.GetRangeSubselect() != nil:
			rs := n.GetRangeSubselect()
			if sel := rs.Subquery.GetSelectStmt(); sel != nil && rs.Alias != nil {
				rels = append(rels, scopeRel{name: rs.Alias.Aliasname, sub: sel, cols: p.aliasNames(rs.Alias.Colnames)})
			}
		case n.GetJoinExpr() != nil:
			walk(n.GetJoinExpr().Larg)
			walk(n.GetJoinExpr().Rarg)
		}
	}
	for _, n := range from {
		walk(n)
	}
	p.scope = append(p.scope, rels)
	return func() { p.scope = p.scope[:len(p.scope)-1] }
}

func (p *printer) aliasNames(ns []*pg.Node) []string {
	var out []string
	for _, n := range ns {
		s, _ := strVal(n)
		out = append(out, s)
	}
	return out
}

// columns lists r's column names; ok is false when they are not known
// (a table without Options.TableColumns, a query with * in its select list).
func (p *printer) columns(r scopeRel) (cols []string, ok bool) {
	if r.sub == nil {
		if p.opts.TableColumns == nil {
			return nil, false
		}
		return p.opts.TableColumns(r.rv.Schemaname, r.rv.Relname), true
	}
	names, _, ok := selectOutputs(r.sub)
	if !ok {
		return nil, false
	}
	for i, c := range r.cols {
		if i < len(names) {
			names[i] = c
		}
	}
	return names, true
}

// selectOutputs lists the output columns of a query (its leftmost branch
// for a set operation): names as Postgres gives them and the expressions
// computing them; ok is false when a * hides some.
func selectOutputs(s *pg.SelectStmt) (names []string, exprs []*pg.Node, ok bool) {
	s = leftmost(s)
	if len(s.ValuesLists) > 0 {
		row := s.ValuesLists[0].GetList()
		if row == nil {
			return nil, nil, false
		}
		for i, n := range row.Items {
			names = append(names, "column"+strconv.Itoa(i+1))
			exprs = append(exprs, n)
		}
		return names, exprs, true
	}
	for _, t := range s.TargetList {
		rt := t.GetResTarget()
		if rt == nil || isStar(rt.Val) {
			return nil, nil, false
		}
		name := rt.Name
		if name == "" {
			name, _ = figureColname(rt.Val)
		}
		names = append(names, name)
		exprs = append(exprs, rt.Val)
	}
	return names, exprs, true
}

// columnRel finds the relation a column reference belongs to: by qualifier
// (alias or name) in any enclosing FROM, or, unqualified, the only relation
// of the innermost one or the only one of its relations that has such a
// column (as Postgres resolves it; two would be ambiguous). nil if unsure.
func (p *printer) columnRel(cr *pg.ColumnRef) (*scopeRel, string) {
	var parts []string
	for _, f := range cr.Fields {
		s, ok := strVal(f)
		if !ok {
			return nil, ""
		}
		parts = append(parts, s)
	}
	switch len(parts) {
	case 1:
		n := len(p.scope)
		if n == 0 {
			break
		}
		if len(p.scope[n-1]) == 1 {
			return &p.scope[n-1][0], parts[0]
		}
		var found *scopeRel
		for i := range p.scope[n-1] {
			cols, ok := p.columns(p.scope[n-1][i])
			if !ok {
				return nil, "" // this one might have it too
			}
			for _, c := range cols {
				if strings.EqualFold(c, parts[0]) {
					if found != nil {
						return nil, ""
					}
					found = &p.scope[n-1][i]
					break
				}
			}
		}
		if found != nil {
			return found, parts[0]
		}
	case 2:
		for i := len(p.scope) - 1; i >= 0; i-- {
			for j := range p.scope[i] {
				if p.scope[i][j].name == parts[0] {
					return &p.scope[i][j], parts[1]
				}
			}
		}
	}
	return nil, ""
}

// isWholeRow reports whether an unqualified name is, as Postgres resolves
// it, a reference to a whole row of a relation in scope: no relation in
// scope has a column of that name (all their columns being known) and one
// is called so.
func (p *printer) isWholeRow(name string) bool {
	for _, o := range p.outNames {
		if o == name {
			return false // GROUP BY / ORDER BY an output column
		}
	}
	found := false
	for i := len(p.scope) - 1; i >= 0; i-- {
		for _, r := range p.scope[i] {
			cols, ok := p.columns(r)
			if !ok {
				return false
			}
			for _, c := range cols {
				if strings.EqualFold(c, name) {
					return false
				}
			}
			found = found || r.name == name
		}
	}
	return found
}

// maxTypingDepth bounds typeOf through derived tables and CTEs (a
// recursive CTE refers to itself).
const maxTypingDepth = 8

// typeOf returns the Postgres type OID n is known to have, 0 if unsure.
func (p *printer) typeOf(n *pg.Node) uint32 {
	if n == nil {
		return 0
	}
	switch e := n.Node.(type) {
	case *pg.Node_ColumnRef:
		r, col := p.columnRel(e.ColumnRef)
		if r == nil {
			return 0
		}
		if r.sub == nil {
			if p.opts.ColumnType == nil {
				return 0
			}
			return p.opts.ColumnType(r.rv.Schemaname, r.rv.Relname, col)
		}
		return p.outputType(*r, col)
	case *pg.Node_TypeCast:
		return typeNameOf(e.TypeCast.TypeName).oid
	case *pg.Node_AExpr:
		a := e.AExpr
		if a.Kind != pg.A_Expr_Kind_AEXPR_OP || a.Lexpr == nil || a.Rexpr == nil {
			break
		}
		// timestamptz ± interval is a timestamptz.
		if op := opName(a.Name); op == "+" || op == "-" {
			if tc := a.Rexpr.GetTypeCast(); tc != nil && typeNameOf(tc.TypeName).canon == "interval" {
				if l := p.typeOf(a.Lexpr); l == oidTimestamptz {
					return l
				}
			}
		}
	case *pg.Node_FuncCall:
		name := funcName(e.FuncCall)
		args := e.FuncCall.Args
		switch name {
		case "date_trunc":
			// date_trunc(field, timestamptz [, zone]) is a timestamptz.
			if len(args) >= 2 {
				return p.typeOf(args[1])
			}
		case "min", "max":
			if len(args) == 1 {
				return p.typeOf(args[0])
			}
		case "to_timestamp":
			return oidTimestamptz
		case "timezone":
			// x AT TIME ZONE z flips between timestamp and timestamptz.
			if len(args) == 2 {
				switch p.typeOf(args[1]) {
				case oidTimestamptz:
					return oidTimestamp
				case oidTimestamp:
					return oidTimestamptz
				}
			}
		}
	case *pg.Node_CoalesceExpr:
		return p.commonType(e.CoalesceExpr.Args)
	case *pg.Node_MinMaxExpr:
		return p.commonType(e.MinMaxExpr.Args)
	}
	return resultOID(n)
}

// commonType is the type of COALESCE/GREATEST/LEAST over args: the type
// of the typed ones when they agree (untyped literals take it).
func (p *printer) commonType(args []*pg.Node) uint32 {
	var oid uint32
	for _, a := range args {
		if c := a.GetAConst(); c != nil && (c.Isnull || c.GetSval() != nil) {
			continue
		}
		t := p.typeOf(a)
		if t == 0 || (oid != 0 && t != oid) {
			return 0
		}
		oid = t
	}
	return oid
}

// outputType types column col of a derived table or CTE from the
// expression computing it, in the scope of its defining query.
func (p *printer) outputType(r scopeRel, col string) uint32 {
	if p.typing >= maxTypingDepth {
		return 0
	}
	names, exprs, ok := selectOutputs(r.sub)
	if !ok {
		return 0
	}
	for i, c := range r.cols {
		if i < len(names) {
			names[i] = c
		}
	}
	for i, name := range names {
		if !strings.EqualFold(name, col) {
			continue
		}
		p.typing++
		defer func() { p.typing-- }()
		defer p.enterScope(leftmost(r.sub).FromClause)()
		return p.typeOf(exprs[i])
	}
	return 0
}

// isTimestamptz reports whether n is known to be a timestamptz.
func (p *printer) isTimestamptz(n *pg.Node) bool { return p.typeOf(n) == oidTimestamptz }

// tzLiteral returns the printed operand val of a comparison, wrapped in
// pg_timestamptz when it is an untyped string literal compared with a
// timestamptz (other), so it is read in the session TimeZone.
func (p *printer) tzLiteral(other, lit *pg.Node, val string) string {
	ac := lit.GetAConst()
	if ac == nil || ac.GetSval() == nil || !p.isTimestamptz(other) {
		return val
	}
	return "pg_timestamptz(" + val + ")"
}

func funcName(f *pg.FuncCall) string {
	if len(f.Funcname) == 0 {
		return ""
	}
	s, _ := strVal(f.Funcname[len(f.Funcname)-1])
	return strings.ToLower(s)
}
