package dialect

import (
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// selectTop prints a top-level query and fills ResultTypes/StarIndex.
func (p *printer) selectTop(s *pg.SelectStmt, st *Statement) string {
	// A reg* cast sent to the client as a column is output as text (its
	// name), as PostgreSQL's regclass/regproc/regtype output functions do.
	if s.Op == pg.SetOperation_SETOP_NONE {
		for _, t := range s.TargetList {
			if rt := t.GetResTarget(); rt != nil {
				p.markRegOut(rt.Val)
			}
		}
	}
	q := p.selectStmt(s, st)
	if l := lookupOf(s); l != nil {
		l.Table.AsOf = p.asOf[l.loc]
		st.Lookup = l
	}
	return q
}

// leftmost returns the first arm of a set operation.
func leftmost(s *pg.SelectStmt) *pg.SelectStmt {
	for s.Op != pg.SetOperation_SETOP_NONE && s.Larg != nil {
		s = s.Larg
	}
	return s
}

// fillResultTypes records what the translator knows of the result types.
func fillResultTypes(s *pg.SelectStmt, st *Statement) {
	s = leftmost(s)
	st.StarIndex = -1
	if len(s.ValuesLists) > 0 {
		row := s.ValuesLists[0].GetList()
		if row == nil {
			return
		}
		st.ResultTypes = make([]uint32, len(row.Items))
		for i, n := range row.Items {
			st.ResultTypes[i] = resultOID(n)
		}
		return
	}
	types := make([]uint32, len(s.TargetList))
	var columns []string
	stars := 0
	for i, t := range s.TargetList {
		rt := t.GetResTarget()
		if rt == nil {
			continue
		}
		if isStar(rt.Val) {
			stars++
			st.StarIndex = i
			continue
		}
		types[i] = resultOID(rt.Val)
		if cr := rt.Val.GetColumnRef(); cr != nil && rt.Name != "" && len(cr.Fields) > 0 {
			if name, ok := strVal(cr.Fields[len(cr.Fields)-1]); ok && name != rt.Name {
				if columns == nil {
					columns = make([]string, len(s.TargetList))
				}
				columns[i] = name
			}
		}
	}
	if stars > 1 {
		st.ResultTypes = nil
		return
	}
	st.ResultTypes, st.ResultColumns = types, columns
}

func isStar(n *pg.Node) bool {
	cr := n.GetColumnRef()
	if cr == nil || len(cr.Fields) == 0 {
		return false
	}
	return cr.Fields[len(cr.Fields)-1].GetAStar() != nil
}

// selectStmt prints any SELECT / set operation / VALUES query. st, when not
// nil, receives the result types.
func (p *printer) selectStmt(s *pg.SelectStmt, st *Statement) string {
	if s.IntoClause != nil {
		p.unsupported(-1, "SELECT INTO")
	}
	if st != nil {
		fillResultTypes(s, st)
	}
	var b strings.Builder
	if s.WithClause != nil {
		b.WriteString(p.with(s.WithClause))
	}
	switch {
	case s.Op != pg.SetOperation_SETOP_NONE:
		b.WriteString(p.setOp(s))
	case len(s.ValuesLists) > 0:
		b.WriteString(p.valuesQuery(s))
	case len(s.DistinctClause) > 0 && s.DistinctClause[0] != nil && s.DistinctClause[0].Node != nil:
		b.WriteString(p.distinctOn(s))
	default:
		b.WriteString(p.simpleSelect(s))
	}
	if st != nil {
		p.refineResultTypes(s, st)
	}
	return b.String()
}

// refineResultTypes types the result columns fillResultTypes left unknown
// that typeOf proves to be a timestamptz or a bool (date_trunc of a
// timestamptz, a derived table's or CTE's column computed by a boolean
// function …), including the columns a single star expands to over one
// derived table or CTE (StarTypes): the engine holds timestamptz and
// timestamp alike and booleans as tinyint, and would describe them as
// timestamp and int2. Other types the engine describes as Postgres does.
func (p *printer) refineResultTypes(s *pg.SelectStmt, st *Statement) {
	s = leftmost(s)
	if len(s.ValuesLists) > 0 || len(st.ResultTypes) != len(s.TargetList) {
		return
	}
	defer p.enterScope(s.FromClause)()
	for i, t := range s.TargetList {
		rt := t.GetResTarget()
		if st.ResultTypes[i] != 0 || rt == nil {
			continue
		}
		if isStar(rt.Val) {
			st.StarTypes = p.starTypes(rt.Val.GetColumnRef())
			continue
		}
		if oid := p.typeOf(rt.Val); engineLosesType(oid) {
			st.ResultTypes[i] = oid
		}
	}
}

// engineLosesType reports whether the engine describes a value of this
// Postgres type as another type (so the translator's typing must win).
func engineLosesType(oid uint32) bool { return oid == oidTimestamptz || oid == oidBool }

// starTypes types the columns a star (`*` or `q.*`) expands to when it
// covers exactly one derived table or CTE whose columns are all known:
// timestamptz and bool where typeOf proves them, 0 elsewhere; nil when
// the expansion is not known.
func (p *printer) starTypes(cr *pg.ColumnRef) []uint32 {
	if cr == nil || len(p.scope) == 0 {
		return nil
	}
	rels := p.scope[len(p.scope)-1]
	var r *scopeRel
	switch len(cr.Fields) {
	case 1:
		if len(rels) != 1 {
			return nil
		}
		r = &rels[0]
	case 2:
		q, ok := strVal(cr.Fields[0])
		if !ok {
			return nil
		}
		for i := range rels {
			if rels[i].name == q {
				r = &rels[i]
			}
		}
	}
	if r == nil || r.sub == nil {
		return nil
	}
	cols, ok := p.columns(*r)
	if !ok {
		return nil
	}
	out := make([]uint32, len(cols))
	known := false
	for i, c := range cols {
		if oid := p.outputType(*r, c); engineLosesType(oid) {
			out[i], known = oid, true
		}
	}
	if !known {
		return nil
	}
	return out
}

func (p *printer) with(w *pg.WithClause) string {
	if p.ctes == nil {
		p.ctes = map[string]*pg.CommonTableExpr{}
	}
	var parts []string
	for _, c := range w.Ctes {
		cte := c.GetCommonTableExpr()
		if cte == nil {
			p.unsupported(w.Location, "WITH item %s", nodeName(c))
		}
		if cte.SearchClause != nil || cte.CycleClause != nil {
			p.unsupported(cte.Location, "SEARCH/CYCLE in WITH RECURSIVE")
		}
		p.ctes[cte.Ctename] = cte
		sel := cte.Ctequery.GetSelectStmt()
		if sel == nil {
			p.unsupported(cte.Location, "data-modifying statement in WITH")
		}
		s := ident(cte.Ctename)
		if len(cte.Aliascolnames) > 0 {
			s += " (" + identList(p.names(cte.Aliascolnames)) + ")"
		}
		parts = append(parts, s+" AS ("+p.selectStmt(sel, nil)+")")
	}
	rec := ""
	if w.Recursive {
		rec = "RECURSIVE "
	}
	return "WITH " + rec + strings.Join(parts, ", ") + " "
}

func (p *printer) setOp(s *pg.SelectStmt) string {
	arm := func(a *pg.SelectStmt) string {
		q := p.selectStmt(a, nil)
		if a.Op != pg.SetOperation_SETOP_NONE || len(a.SortClause) > 0 || a.LimitCount != nil || a.LimitOffset != nil || a.WithClause != nil {
			return "(" + q + ")"
		}
		return q
	}
	op := map[pg.SetOperation]string{
		pg.SetOperation_SETOP_UNION:     " UNION ",
		pg.SetOperation_SETOP_INTERSECT: " INTERSECT ",
		pg.SetOperation_SETOP_EXCEPT:    " EXCEPT ",
	}[s.Op]
	if s.All {
		op += "ALL "
	}
	q := arm(s.Larg) + op + arm(s.Rarg)
	names := p.outputNames(leftmost(s))
	if len(s.SortClause) > 0 {
		q += " ORDER BY " + p.sortList(s.SortClause, func(n *pg.Node) (string, string, bool) {
			name := ""
			if k, ok := ordinal(n); ok {
				if k < 1 || k > len(names) || names[k-1] == "" {
					p.unsupported(-1, "ORDER BY position %d of a set operation", k)
				}
				name = names[k-1]
			} else if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
				name, _ = strVal(cr.Fields[0])
			}
			if name == "" {
				p.unsupported(-1, "ORDER BY expression on a set operation (use an output column name)")
			}
			return ident(name), ident(name), true
		})
	}
	return q + p.limit(s)
}

// outputNames returns the output column names of a simple select ("" for
// stars).
func (p *printer) outputNames(s *pg.SelectStmt) []string {
	if len(s.ValuesLists) > 0 {
		row := s.ValuesLists[0].GetList()
		var names []string
		if row != nil {
			for i := range row.Items {
				names = append(names, "column"+strconv.Itoa(i+1))
			}
		}
		return names
	}
	names := make([]string, len(s.TargetList))
	for i, t := range s.TargetList {
		rt := t.GetResTarget()
		if rt == nil || isStar(rt.Val) {
			continue
		}
		names[i] = rt.Name
		if names[i] == "" {
			names[i], _ = figureColname(rt.Val)
		}
	}
	return names
}

func ordinal(n *pg.Node) (int, bool) {
	if c := n.GetAConst(); c != nil && c.GetIval() != nil {
		return int(c.GetIval().Ival), true
	}
	return 0, false
}

type target struct {
	text  string // printed, with AS alias
	expr  string // the expression alone ("" for stars)
	name  string // output column name
	alias bool   // name came from AS
	star  bool
}

func (p *printer) targets(list []*pg.Node) []target {
	out := make([]target, 0, len(list))
	for _, t := range list {
		rt := t.GetResTarget()
		if rt == nil {
			p.unsupported(-1, "select item %s", nodeName(t))
		}
		if len(rt.Indirection) > 0 {
			p.unsupported(rt.Location, "subscripts in the select list")
		}
		if isStar(rt.Val) {
			s := p.expr(rt.Val)
			out = append(out, target{text: s, star: true})
			continue
		}
		e := p.expr(rt.Val)
		tg := target{expr: e, name: rt.Name, alias: rt.Name != ""}
		if tg.name == "" {
			tg.name, _ = figureColname(rt.Val)
		}
		if rt.Val.GetColumnRef() != nil && !tg.alias {
			tg.text = e // the engine names it after the column, as Postgres does
		} else {
			tg.text = e + " AS " + ident(tg.name)
		}
		out = append(out, tg)
	}
	return out
}

// targetResolver resolves ORDER BY ordinals and output aliases against a
// select list (see sortList). byExpr makes the key the expression itself
// (for window ORDER BY, which cannot see output aliases).
func (p *printer) targetResolver(tgs []target, byExpr bool) func(*pg.Node) (string, string, bool) {
	return func(n *pg.Node) (string, string, bool) {
		if k, ok := ordinal(n); ok {
			for i := 0; i < k && i < len(tgs); i++ {
				if tgs[i].star {
					p.unsupported(-1, "ORDER BY position with * in the select list")
				}
			}
			if k < 1 || k > len(tgs) {
				return "", "", false // let the engine report it
			}
			key := strconv.Itoa(k)
			if byExpr {
				key = tgs[k-1].expr
			}
			return key, tgs[k-1].expr, true
		}
		if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
			name, ok := strVal(cr.Fields[0])
			if !ok {
				return "", "", false
			}
			for _, t := range tgs {
				if t.alias && t.name == name {
					key := ident(name)
					if byExpr {
						key = t.expr
					}
					return key, t.expr, true
				}
			}
		}
		return "", "", false
	}
}

func joinTargets(tgs []target) string {
	parts := make([]string, len(tgs))
	for i, t := range tgs {
		parts[i] = t.text
	}
	return strings.Join(parts, ", ")
}

// enterWindows makes the WINDOW clause of s visible to windowSpec; the
// returned func restores the enclosing query's windows.
func (p *printer) enterWindows(s *pg.SelectStmt) func() {
	saved := p.windows
	p.windows = map[string]*pg.WindowDef{}
	for _, n := range s.WindowClause {
		if wd := n.GetWindowDef(); wd != nil {
			p.windows[wd.Name] = wd
		}
	}
	return func() { p.windows = saved }
}

func (p *printer) simpleSelect(s *pg.SelectStmt) string {
	defer p.enterWindows(s)()
	// The FROM list is the scope of the select list and ORDER BY too (for
	// column attribution: session-TimeZone literals, system columns).
	defer p.enterScope(s.FromClause)()
	defer func(saved []string) { p.outNames = saved }(p.outNames)
	p.outNames = nil
	for _, t := range s.TargetList {
		if rt := t.GetResTarget(); rt != nil && rt.Name != "" {
			p.outNames = append(p.outNames, rt.Name)
		}
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	if len(s.DistinctClause) > 0 {
		b.WriteString("DISTINCT ")
	}
	lateral := p.selectListSRFs(s)
	p.noteFromRecords(s.FromClause)
	tgs := p.targets(s.TargetList)
	if len(tgs) == 0 {
		p.unsupported(-1, "SELECT with an empty select list")
	}
	b.WriteString(joinTargets(tgs))
	b.WriteString(p.fromWhereGroup(s, lateral))
	if len(s.SortClause) > 0 {
		b.WriteString(" ORDER BY " + p.sortList(s.SortClause, p.targetResolver(tgs, false)))
	}
	b.WriteString(p.limit(s))
	b.WriteString(p.locking(s))
	return b.String()
}

// fromWhereGroup prints FROM, WHERE, GROUP BY, HAVING and WINDOW; lateral,
// if not empty, is a LATERAL item joined after the FROM list (see
// selectListSRFs).
func (p *printer) fromWhereGroup(s *pg.SelectStmt, lateral ...string) string {
	defer p.enterScope(s.FromClause)()
	var b strings.Builder
	extra := ""
	if len(lateral) > 0 {
		extra = lateral[0]
	}
	switch {
	case len(s.FromClause) > 0 && extra != "":
		b.WriteString(" FROM " + p.fromList(s.FromClause) + ", " + extra)
	case len(s.FromClause) > 0:
		b.WriteString(" FROM " + p.fromList(s.FromClause))
	case extra != "":
		b.WriteString(" FROM " + strings.TrimPrefix(extra, "LATERAL "))
	}
	if s.WhereClause != nil {
		b.WriteString(" WHERE " + p.expr(s.WhereClause))
	}
	if len(s.GroupClause) > 0 {
		if s.GroupDistinct {
			p.unsupported(-1, "GROUP BY DISTINCT")
		}
		var g []string
		for _, n := range s.GroupClause {
			if n.GetGroupingSet() != nil {
				p.unsupported(-1, "GROUPING SETS / ROLLUP / CUBE")
			}
			g = append(g, p.expr(n))
		}
		b.WriteString(" GROUP BY " + strings.Join(g, ", "))
	}
	if s.HavingClause != nil {
		b.WriteString(" HAVING " + p.expr(s.HavingClause))
	}
	// The WINDOW clause is not printed: named windows are inlined (see
	// windowSpec).
	return b.String()
}

func (p *printer) locking(s *pg.SelectStmt) string {
	for _, n := range s.LockingClause {
		lc := n.GetLockingClause()
		if lc == nil || lc.Strength != pg.LockClauseStrength_LCS_FORUPDATE || len(lc.LockedRels) > 0 || lc.WaitPolicy != pg.LockWaitPolicy_LockWaitBlock {
			p.unsupported(-1, "locking clause other than FOR UPDATE")
		}
		return " FOR UPDATE"
	}
	return ""
}

func (p *printer) limit(s *pg.SelectStmt) string {
	if s.LimitOption == pg.LimitOption_LIMIT_OPTION_WITH_TIES {
		p.unsupported(-1, "FETCH ... WITH TIES")
	}
	count := ""
	if s.LimitCount != nil {
		if c := s.LimitCount.GetAConst(); c != nil && c.Isnull {
			count = "" // LIMIT ALL
		} else {
			count = p.limitValue(s.LimitCount)
		}
	}
	off := ""
	if s.LimitOffset != nil {
		off = p.limitValue(s.LimitOffset)
	}
	switch {
	case count == "" && off == "":
		return ""
	case off == "":
		return " LIMIT " + count
	case count == "":
		// MySQL has no OFFSET without LIMIT (GMS adds LIMIT and OFFSET in int64, so 2^62-1).
		return " LIMIT 4611686018427387903 OFFSET " + off
	}
	return " LIMIT " + count + " OFFSET " + off
}

// limitValue prints a LIMIT/OFFSET operand; the engine takes only integer
// literals and bind variables there.
func (p *printer) limitValue(n *pg.Node) string {
	switch {
	case n.GetParamRef() != nil:
		return p.expr(n)
	case n.GetAConst() != nil && n.GetAConst().GetIval() != nil:
		v := n.GetAConst().GetIval().Ival
		if v < 0 {
			p.unsupported(-1, "negative LIMIT/OFFSET")
		}
		return p.expr(n)
	case n.GetTypeCast() != nil && n.GetTypeCast().Arg.GetParamRef() != nil:
		tc := n.GetTypeCast()
		s := p.expr(tc.Arg)
		p.param(int(tc.Arg.GetParamRef().Number), typeNameOf(tc.TypeName).oid)
		return s
	}
	p.unsupported(-1, "LIMIT/OFFSET expression (use a constant or a parameter)")
	return ""
}

// valuesQuery prints a standalone VALUES list as a UNION ALL of SELECTs so
// that the columns get Postgres's names column1, column2, ...
func (p *printer) valuesQuery(s *pg.SelectStmt) string {
	var rows []string
	for i, r := range s.ValuesLists {
		l := r.GetList()
		if l == nil {
			p.unsupported(-1, "VALUES row %s", nodeName(r))
		}
		vals := p.exprs(l.Items)
		if i == 0 {
			for j := range vals {
				vals[j] += " AS " + ident("column"+strconv.Itoa(j+1))
			}
		}
		rows = append(rows, "SELECT "+strings.Join(vals, ", "))
	}
	q := strings.Join(rows, " UNION ALL ")
	if len(s.SortClause) > 0 || s.LimitCount != nil || s.LimitOffset != nil {
		q = "SELECT * FROM (" + q + ") AS \"*VALUES*\""
		if len(s.SortClause) > 0 {
			q += " ORDER BY " + p.sortList(s.SortClause, nil)
		}
		q += p.limit(s)
	}
	return q
}

// distinctOn translates SELECT DISTINCT ON (k) ... ORDER BY ... with a
// window function: number the rows of each k group in the query's order,
// keep the first.
func (p *printer) distinctOn(s *pg.SelectStmt) string {
	defer p.enterWindows(s)()
	tgs := p.targets(s.TargetList)
	for _, t := range tgs {
		if t.star {
			p.unsupported(-1, "DISTINCT ON with * in the select list")
		}
	}
	res := p.targetResolver(tgs, true)
	var part []string
	for _, n := range s.DistinctClause {
		if k, _, ok := res(n); ok {
			part = append(part, k)
		} else {
			part = append(part, p.expr(n))
		}
	}
	var inner []string
	var outer []string
	for i, t := range tgs {
		c := "__c" + strconv.Itoa(i)
		inner = append(inner, t.expr+" AS "+ident(c))
		outer = append(outer, ident(c)+" AS "+ident(t.name))
	}
	over := "PARTITION BY " + strings.Join(part, ", ")
	var outerOrder []string
	if len(s.SortClause) > 0 {
		over += " ORDER BY " + p.sortList(s.SortClause, res)
		for j, n := range s.SortClause {
			sb := n.GetSortBy()
			key, _, ok := res(sb.Node)
			if !ok {
				key = p.expr(sb.Node)
			}
			o := ident("__o" + strconv.Itoa(j))
			inner = append(inner, key+" AS "+o)
			outerOrder = append(outerOrder, orderKeys(o, o, sb)...)
		}
	}
	inner = append(inner, "ROW_NUMBER() OVER ("+over+") AS \"__rn\"")
	q := "SELECT " + strings.Join(outer, ", ") + " FROM (SELECT " + strings.Join(inner, ", ") + p.fromWhereGroup(s) + ") AS \"__d\" WHERE \"__rn\" = 1"
	if len(outerOrder) > 0 {
		q += " ORDER BY " + strings.Join(outerOrder, ", ")
	}
	return q + p.limit(s)
}

func (p *printer) fromList(list []*pg.Node) string {
	parts := make([]string, len(list))
	for i, n := range list {
		parts[i] = p.fromItem(n)
	}
	return strings.Join(parts, ", ")
}

func (p *printer) alias(a *pg.Alias, allowCols bool) string {
	if a == nil {
		return ""
	}
	s := " AS " + ident(a.Aliasname)
	if len(a.Colnames) > 0 {
		if !allowCols {
			p.unsupported(-1, "column aliases on a table")
		}
		s += " (" + identList(p.names(a.Colnames)) + ")"
	}
	return s
}

func (p *printer) fromItem(n *pg.Node) string {
	switch f := n.Node.(type) {
	case *pg.Node_RangeVar:
		return p.relName(f.RangeVar) + p.alias(f.RangeVar.Alias, false)
	case *pg.Node_JoinExpr:
		j := f.JoinExpr
		if j.Alias != nil || j.JoinUsingAlias != nil {
			p.unsupported(-1, "aliased JOIN")
		}
		l := p.fromItem(j.Larg)
		r := p.fromItem(j.Rarg)
		if j.Rarg.GetJoinExpr() != nil {
			r = "(" + r + ")"
		}
		var kw string
		switch j.Jointype {
		case pg.JoinType_JOIN_INNER:
			kw = "JOIN"
			if j.Quals == nil && len(j.UsingClause) == 0 && !j.IsNatural {
				kw = "CROSS JOIN"
			}
		case pg.JoinType_JOIN_LEFT:
			kw = "LEFT JOIN"
		case pg.JoinType_JOIN_RIGHT:
			kw = "RIGHT JOIN"
		case pg.JoinType_JOIN_FULL:
			if len(j.UsingClause) > 0 || j.IsNatural {
				p.unsupported(-1, "FULL JOIN with USING or NATURAL")
			}
			kw = "FULL OUTER JOIN"
		default:
			p.unsupported(-1, "join type")
		}
		if j.IsNatural {
			kw = "NATURAL " + kw
		}
		s := l + " " + kw + " " + r
		if len(j.UsingClause) > 0 {
			s += " USING (" + identList(p.names(j.UsingClause)) + ")"
		} else if j.Quals != nil {
			s += " ON " + p.expr(j.Quals)
		}
		return s
	case *pg.Node_RangeSubselect:
		rs := f.RangeSubselect
		sel := rs.Subquery.GetSelectStmt()
		if sel == nil {
			p.unsupported(-1, "FROM item %s", nodeName(rs.Subquery))
		}
		lat := ""
		if rs.Lateral {
			lat = "LATERAL "
		}
		a := p.alias(rs.Alias, true)
		if a == "" {
			p.nAlias++
			a = " AS " + ident("__sq"+strconv.Itoa(p.nAlias))
		}
		return lat + "(" + p.selectStmt(sel, nil) + ")" + a
	case *pg.Node_RangeFunction:
		return p.rangeFunction(f.RangeFunction)
	}
	p.unsupported(-1, "FROM item %s", nodeName(n))
	return ""
}

// rangeFunction prints a set-returning function in FROM. Only
// generate_series is provided (a pgfunc table function, over integers or
// timestamps with an interval step); its single output
// column is named like Postgres names it: the alias, or the function name.
func (p *printer) rangeFunction(rf *pg.RangeFunction) string {
	if rf.Lateral || rf.IsRowsfrom || len(rf.Functions) != 1 || len(rf.Coldeflist) > 0 {
		p.unsupported(-1, "this form of function in FROM")
	}
	l := rf.Functions[0].GetList()
	if l == nil || len(l.Items) == 0 {
		p.unsupported(-1, "function in FROM")
	}
	fc := l.Items[0].GetFuncCall()
	if fc == nil {
		p.unsupported(-1, "function in FROM")
	}
	names := p.names(fc.Funcname)
	name := strings.ToLower(names[len(names)-1])
	if name == "unnest" && (len(names) == 1 || names[0] == "pg_catalog") && len(names) <= 2 {
		return p.rangeUnnest(rf, fc)
	}
	if name == "pg_partition_ancestors" && (len(names) == 1 || names[0] == "pg_catalog") && len(names) <= 2 {
		return p.partitionAncestors(rf, fc)
	}
	if rf.Ordinality {
		p.unsupported(-1, "WITH ORDINALITY on %s", name)
	}
	if name != "generate_series" && !setReturning[name] && len(names) <= 2 {
		return p.scalarInFrom(rf, fc, name)
	}
	if name != "generate_series" || (len(names) == 2 && names[0] != "pg_catalog") || len(names) > 2 {
		p.unsupported(fc.Location, "set-returning function %s in FROM", strings.Join(names, "."))
	}
	if len(fc.Args) < 2 || len(fc.Args) > 3 {
		p.unsupported(fc.Location, "generate_series with %d arguments", len(fc.Args))
	}
	alias, col := "generate_series", "generate_series"
	if rf.Alias != nil {
		alias, col = rf.Alias.Aliasname, rf.Alias.Aliasname
		if len(rf.Alias.Colnames) == 1 {
			col, _ = strVal(rf.Alias.Colnames[0])
		} else if len(rf.Alias.Colnames) > 1 {
			p.unsupported(-1, "more than one column alias for generate_series")
		}
	}
	args := make([]string, len(fc.Args))
	for i, a := range fc.Args {
		// A timestamp series steps by an interval; the engine has no
		// interval values, so the table function gets the interval text.
		if tc := a.GetTypeCast(); i == 2 && tc != nil && typeNameOf(tc.TypeName).canon == "interval" {
			if c := tc.Arg.GetAConst(); c != nil && c.GetSval() != nil {
				if _, ok := intervalParts(c.GetSval().Sval); ok {
					args[i] = strLit(c.GetSval().Sval)
					continue
				}
			}
			p.unsupported(tc.Location, "generate_series step %s", nodeName(a))
		}
		args[i] = p.expr(a)
	}
	return "(SELECT " + ident("generate_series") + " AS " + ident(col) + " FROM generate_series(" + strings.Join(args, ", ") + ")) AS " + ident(alias)
}

// partitionAncestors prints pg_partition_ancestors(rel) [WITH ORDINALITY]
// in FROM (psql's \d asks for it when describing foreign keys and
// triggers). dualgate has no partitioned tables, and Postgres lists no
// ancestors for a relation that is neither a partition nor partitioned,
// so it is an empty derived table with the function's columns: relid,
// and the ordinality column when asked for. The argument is still
// printed (and so checked) for its side of the statement's scope.
func (p *printer) partitionAncestors(rf *pg.RangeFunction, fc *pg.FuncCall) string {
	if len(fc.Args) != 1 {
		p.unsupported(fc.Location, "pg_partition_ancestors with %d arguments", len(fc.Args))
	}
	_ = p.expr(fc.Args[0])
	alias, cols := "pg_partition_ancestors", []string{"relid"}
	if rf.Ordinality {
		cols = append(cols, "ordinality")
	}
	if rf.Alias != nil {
		alias = rf.Alias.Aliasname
		if len(rf.Alias.Colnames) > len(cols) {
			p.unsupported(-1, "%d column aliases for pg_partition_ancestors", len(rf.Alias.Colnames))
		}
		for i, c := range rf.Alias.Colnames {
			cols[i], _ = strVal(c)
		}
	}
	list := make([]string, len(cols))
	for i, c := range cols {
		list[i] = "CAST(NULL AS SIGNED) AS " + ident(c)
	}
	return "(SELECT " + strings.Join(list, ", ") + " FROM dual WHERE false) AS " + ident(alias)
}

// setReturning names PostgreSQL's set-returning functions dualgate does not
// provide, so that one in FROM is refused rather than read as a scalar.
var setReturning = map[string]bool{
	"json_each": true, "json_each_text": true, "jsonb_each": true, "jsonb_each_text": true,
	"json_array_elements": true, "json_array_elements_text": true, "jsonb_array_elements": true,
	"jsonb_array_elements_text": true, "json_object_keys": true, "jsonb_object_keys": true,
	"json_to_recordset": true, "jsonb_to_recordset": true, "json_populate_recordset": true,
	"jsonb_populate_recordset": true, "jsonb_path_query": true, "regexp_matches": true,
	"regexp_split_to_table": true, "generate_subscripts": true, "pg_get_keywords": true,
	"pg_options_to_table": true, "pg_listening_channels": true, "pg_ls_dir": true,
	"pg_show_all_settings": true, "pg_event_trigger_ddl_commands": true, "pg_lock_status": true,
	"unnest": true, "pg_partition_tree": true,
}

// scalarInFrom prints a function that returns one value, used in FROM
// (Grafana's search_path query has string_to_array(...) s): as in
// PostgreSQL it is a one-row table whose single column is named by the
// column alias, else the table alias, else the function.
func (p *printer) scalarInFrom(rf *pg.RangeFunction, fc *pg.FuncCall, name string) string {
	alias, col := name, name
	if rf.Alias != nil {
		alias, col = rf.Alias.Aliasname, rf.Alias.Aliasname
		if len(rf.Alias.Colnames) == 1 {
			col, _ = strVal(rf.Alias.Colnames[0])
		} else if len(rf.Alias.Colnames) > 1 {
			p.unsupported(-1, "more than one column alias for %s, which returns one value", name)
		}
	}
	return "(SELECT " + p.funcCall(fc) + " AS " + ident(col) + ") AS " + ident(alias)
}
