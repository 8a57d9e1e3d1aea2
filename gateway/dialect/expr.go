package dialect

import (
	"regexp"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/dualgate/dualgate/gateway/pgerror"
)

func (p *printer) exprs(list []*pg.Node) []string {
	out := make([]string, len(list))
	for i, n := range list {
		out[i] = p.expr(n)
	}
	return out
}

func (p *printer) exprList(list []*pg.Node) string {
	return strings.Join(p.exprs(list), ", ")
}

// expr prints a scalar expression. Every operand is parenthesised where
// precedence could differ between the dialects.
func (p *printer) expr(n *pg.Node) string {
	if n == nil || n.Node == nil {
		p.unsupported(-1, "empty expression")
	}
	switch e := n.Node.(type) {
	case *pg.Node_ColumnRef:
		if v, ok := p.systemColumn(e.ColumnRef); ok {
			return v
		}
		return p.columnRef(e.ColumnRef)
	case *pg.Node_AConst:
		return p.constant(e.AConst)
	case *pg.Node_ParamRef:
		if e.ParamRef.Number < 1 || e.ParamRef.Number > 65535 {
			p.fail(e.ParamRef.Location, pgerror.New(pgerror.UndefinedParameter, "there is no parameter $%d", e.ParamRef.Number))
		}
		p.param(int(e.ParamRef.Number), 0)
		return ":v" + strconv.Itoa(int(e.ParamRef.Number))
	case *pg.Node_TypeCast:
		return p.cast(e.TypeCast)
	case *pg.Node_AExpr:
		return p.aexpr(e.AExpr)
	case *pg.Node_BoolExpr:
		b := e.BoolExpr
		switch b.Boolop {
		case pg.BoolExprType_AND_EXPR, pg.BoolExprType_OR_EXPR:
			op := " AND "
			if b.Boolop == pg.BoolExprType_OR_EXPR {
				op = " OR "
			}
			parts := p.exprs(b.Args)
			return "(" + strings.Join(parts, op) + ")"
		case pg.BoolExprType_NOT_EXPR:
			if sl := b.Args[0].GetSubLink(); sl != nil && sl.SubLinkType == pg.SubLinkType_EXISTS_SUBLINK {
				// GMS v0.20.0 turns NOT EXISTS into an anti-join that loses
				// rows when the correlated column holds NULLs; EXISTS is
				// never NULL, so IS NOT TRUE is the same predicate and
				// keeps the engine off that path.
				return "(" + p.expr(b.Args[0]) + " IS NOT TRUE)"
			}
			if sl := b.Args[0].GetSubLink(); sl != nil && sl.SubLinkType == pg.SubLinkType_ANY_SUBLINK {
				// NOT (x IN (subquery)): see notIn.
				return "(" + p.expr(b.Args[0]) + " = FALSE)"
			}
			return "(NOT " + p.expr(b.Args[0]) + ")"
		}
	case *pg.Node_NullTest:
		if e.NullTest.Nulltesttype == pg.NullTestType_IS_NOT_NULL {
			return "(" + p.expr(e.NullTest.Arg) + " IS NOT NULL)"
		}
		return "(" + p.expr(e.NullTest.Arg) + " IS NULL)"
	case *pg.Node_BooleanTest:
		a := p.expr(e.BooleanTest.Arg)
		switch e.BooleanTest.Booltesttype {
		case pg.BoolTestType_IS_TRUE:
			return "(" + a + " IS TRUE)"
		case pg.BoolTestType_IS_NOT_TRUE:
			return "(" + a + " IS NOT TRUE)"
		case pg.BoolTestType_IS_FALSE:
			return "(" + a + " IS FALSE)"
		case pg.BoolTestType_IS_NOT_FALSE:
			return "(" + a + " IS NOT FALSE)"
		case pg.BoolTestType_IS_UNKNOWN:
			return "(" + a + " IS NULL)"
		case pg.BoolTestType_IS_NOT_UNKNOWN:
			return "(" + a + " IS NOT NULL)"
		}
	case *pg.Node_SubLink:
		return p.sublink(e.SubLink)
	case *pg.Node_CaseExpr:
		c := e.CaseExpr
		var b strings.Builder
		b.WriteString("CASE")
		if c.Arg != nil {
			b.WriteString(" " + p.expr(c.Arg))
		}
		for _, w := range c.Args {
			cw := w.GetCaseWhen()
			if cw == nil {
				p.unsupported(c.Location, "CASE arm %s", nodeName(w))
			}
			b.WriteString(" WHEN " + p.expr(cw.Expr) + " THEN " + p.expr(cw.Result))
		}
		if c.Defresult != nil {
			b.WriteString(" ELSE " + p.expr(c.Defresult))
		}
		b.WriteString(" END")
		return b.String()
	case *pg.Node_CoalesceExpr:
		return "COALESCE(" + p.exprList(e.CoalesceExpr.Args) + ")"
	case *pg.Node_MinMaxExpr:
		// Postgres's GREATEST/LEAST ignore NULL arguments; MySQL's return
		// NULL if any is NULL. Replacing each argument a_i by
		// COALESCE(a_i, a_1, ..., a_n) keeps the result and is NULL only
		// when all arguments are.
		fn := "GREATEST"
		if e.MinMaxExpr.Op == pg.MinMaxOp_IS_LEAST {
			fn = "LEAST"
		}
		args := p.exprs(e.MinMaxExpr.Args)
		if len(args) == 1 {
			return args[0]
		}
		parts := make([]string, len(args))
		for i := range args {
			others := []string{args[i]}
			for j := range args {
				if j != i {
					others = append(others, args[j])
				}
			}
			parts[i] = "COALESCE(" + strings.Join(others, ", ") + ")"
		}
		return fn + "(" + strings.Join(parts, ", ") + ")"
	case *pg.Node_SqlvalueFunction:
		return p.sqlValueFunction(e.SqlvalueFunction)
	case *pg.Node_FuncCall:
		return p.funcCall(e.FuncCall)
	case *pg.Node_RowExpr:
		return "(" + p.exprList(e.RowExpr.Args) + ")"
	case *pg.Node_SetToDefault:
		return "DEFAULT"
	case *pg.Node_CollateClause:
		cn := p.names(e.CollateClause.Collname)
		last := strings.ToLower(cn[len(cn)-1])
		if last == "default" || last == "c" || last == "posix" {
			// The engine's default collation is binary, like "C".
			return p.expr(e.CollateClause.Arg)
		}
		p.unsupported(e.CollateClause.Location, "COLLATE %q", cn[len(cn)-1])
	case *pg.Node_AArrayExpr:
		p.unsupported(e.AArrayExpr.Location, "array constructor ARRAY[...]")
	case *pg.Node_AIndirection:
		// arr[i] on array text (catalog columns such as indkey): pgcatalog's
		// pg_array_subscript. (rec).field: see fieldSelect. Slices are not
		// supported.
		inds := e.AIndirection.Indirection
		if len(inds) == 1 {
			if field, ok := strVal(inds[0]); ok {
				return p.fieldSelect(e.AIndirection.Arg, field, -1)
			}
		}
		out := p.expr(e.AIndirection.Arg)
		for _, ind := range inds {
			ai := ind.GetAIndices()
			if ai == nil || ai.IsSlice || ai.Uidx == nil {
				p.unsupported(-1, "array slices and field selection")
			}
			out = "pg_array_subscript(" + out + ", " + p.expr(ai.Uidx) + ")"
		}
		return out
	case *pg.Node_GroupingFunc:
		p.unsupported(e.GroupingFunc.Location, "GROUPING()")
	}
	p.unsupported(-1, "expression %s", nodeName(n))
	return ""
}

// systemColumns are PostgreSQL's hidden transaction-id columns every table
// has; tools read them (DBeaver and pgAdmin ask pg_class for xmin to notice
// changes). dualgate has no Postgres transaction ids: they are 0.
var systemColumns = map[string]bool{"xmin": true, "xmax": true}

// systemColumn prints a reference to xmin or xmax of a table that has no
// such column as the xid 0.
func (p *printer) systemColumn(cr *pg.ColumnRef) (string, bool) {
	name, ok := strVal(cr.Fields[len(cr.Fields)-1])
	if !ok || !systemColumns[strings.ToLower(name)] || p.opts.TableColumns == nil {
		return "", false
	}
	r, col := p.columnRel(cr)
	if r == nil || r.sub != nil {
		return "", false
	}
	for _, c := range p.opts.TableColumns(r.rv.Schemaname, r.rv.Relname) {
		if strings.EqualFold(c, col) {
			return "", false
		}
	}
	return "0", true
}

func (p *printer) columnRef(c *pg.ColumnRef) string {
	var parts []string
	for i, f := range c.Fields {
		switch v := f.Node.(type) {
		case *pg.Node_String_:
			parts = append(parts, ident(v.String_.Sval))
		case *pg.Node_AStar:
			if i != len(c.Fields)-1 {
				p.unsupported(c.Location, "* in the middle of a name")
			}
			parts = append(parts, "*")
		default:
			p.unsupported(c.Location, "column reference part %s", nodeName(f))
		}
	}
	if len(parts) > 3 {
		p.unsupported(c.Location, "column reference with %d parts", len(parts))
	}
	if p.excluded && len(parts) == 2 && strings.EqualFold(parts[0], `"excluded"`) {
		// ON CONFLICT DO UPDATE: EXCLUDED.x is the proposed row, MySQL's VALUES(x).
		return "VALUES(" + parts[1] + ")"
	}
	if len(c.Fields) == 1 {
		if name, ok := strVal(c.Fields[0]); ok && p.isWholeRow(name) {
			p.unsupported(c.Location, "whole-row reference %s (list its columns instead)", name)
		}
	}
	return strings.Join(parts, ".")
}

func (p *printer) constant(c *pg.A_Const) string {
	if c.Isnull {
		return "NULL"
	}
	switch v := c.Val.(type) {
	case *pg.A_Const_Ival:
		return strconv.FormatInt(int64(v.Ival.Ival), 10)
	case *pg.A_Const_Fval:
		// Kept as written: MySQL reads 1.50 as an exact DECIMAL, like
		// Postgres's numeric. Exponent forms are approximate in MySQL.
		return v.Fval.Fval
	case *pg.A_Const_Boolval:
		if v.Boolval.Boolval {
			return "TRUE"
		}
		return "FALSE"
	case *pg.A_Const_Sval:
		return strLit(v.Sval.Sval)
	case *pg.A_Const_Bsval:
		s := v.Bsval.Bsval
		if strings.HasPrefix(s, "b") {
			return "b'" + s[1:] + "'"
		}
		p.unsupported(c.Location, "hexadecimal bit-string constants")
	}
	p.unsupported(c.Location, "constant")
	return ""
}

func opName(list []*pg.Node) string {
	var parts []string
	for _, n := range list {
		if s, ok := strVal(n); ok {
			parts = append(parts, s)
		}
	}
	if len(parts) == 2 && parts[0] == "pg_catalog" {
		return parts[1]
	}
	return strings.Join(parts, ".")
}

var simpleOps = map[string]string{
	"=": "=", "<>": "<>", "!=": "<>", "<": "<", ">": ">", "<=": "<=", ">=": ">=",
}

func (p *printer) aexpr(a *pg.A_Expr) string {
	op := opName(a.Name)
	switch a.Kind {
	case pg.A_Expr_Kind_AEXPR_OP:
		if a.Lexpr == nil {
			switch op {
			case "-":
				return "(- " + p.expr(a.Rexpr) + ")" // the space keeps "- -1" from reading as a comment
			case "+":
				return "(+" + p.expr(a.Rexpr) + ")"
			case "@":
				return "ABS(" + p.expr(a.Rexpr) + ")"
			case "|/":
				return "SQRT(" + p.expr(a.Rexpr) + ")"
			case "~":
				return "pg_bitop('~', " + p.expr(a.Rexpr) + ", 0)"
			}
			p.unsupported(a.Location, "prefix operator %s", op)
		}
		if op == "+" || op == "-" {
			// ts +/- interval '1 day 2 hours' -> ts + INTERVAL 1 DAY + INTERVAL 2 HOUR
			if parts, ok := intervalConst(a.Rexpr); ok && len(parts) > 1 {
				return "(" + p.expr(a.Lexpr) + " " + op + " " + strings.Join(parts, " "+op+" ") + ")"
			}
		}
		l, r := p.expr(a.Lexpr), p.expr(a.Rexpr)
		if _, cmp := simpleOps[op]; cmp {
			l, r = p.tzLiteral(a.Rexpr, a.Lexpr, l), p.tzLiteral(a.Lexpr, a.Rexpr, r)
		}
		if m, ok := simpleOps[op]; ok {
			return "(" + l + " " + m + " " + r + ")"
		}
		switch op {
		case "||":
			// GMS v0.20.0 accepts sql_mode PIPES_AS_CONCAT but does not
			// implement it (|| stays OR), so concatenation is spelled out.
			// Both return NULL when an operand is NULL.
			return "CONCAT(" + l + ", " + r + ")"
		case "/":
			// Postgres divides integers as integers (7/2 = 3); MySQL's /
			// always yields a decimal. pg_div (package pgfunc) decides by
			// the operand types at run time.
			return "pg_div(" + l + ", " + r + ")"
		case "%":
			// MySQL's x % 0 is NULL; Postgres raises division by zero.
			return "pg_mod(" + l + ", " + r + ")"
		case "+", "-", "*":
			// Checked Postgres arithmetic (package pgfunc): integer
			// overflow is an error in the operands' type, date ± integer
			// counts days. Unary minus stays the engine's.
			if resultOID(a.Lexpr) == oidInterval || resultOID(a.Rexpr) == oidInterval {
				return "(" + l + " " + op + " " + r + ")" // the engine's interval arithmetic
			}
			name := map[string]string{"+": "pg_add", "-": "pg_sub", "*": "pg_mul"}[op]
			return name + "(" + l + ", " + r + ")"
		case "^":
			// ^ is XOR in MySQL.
			return "POWER(" + l + ", " + r + ")"
		case "&", "|", "#", "<<", ">>":
			// Integer bit operators (pgJDBC's getIndexInfo tests indoption
			// bits): MySQL's work on unsigned 64-bit values, so pgfunc's
			// pg_bitop computes them on signed ones.
			return "pg_bitop(" + strLit(op) + ", " + l + ", " + r + ")"
		case "->", "->>":
			// JSON field/element access with a constant key or index:
			// j->'k' = JSON_EXTRACT(j, '$."k"'), ->> unquotes to text.
			path, ok := jsonPath(a.Rexpr)
			if !ok {
				p.unsupported(a.Location, "%s with a non-constant key", op)
			}
			if op == "->" {
				return "JSON_EXTRACT(" + l + ", " + path + ")"
			}
			return "JSON_UNQUOTE(JSON_EXTRACT(" + l + ", " + path + "))"
		case "~":
			return "REGEXP_LIKE(" + l + ", " + r + ", 'c')"
		case "~*":
			return "REGEXP_LIKE(" + l + ", " + r + ", 'i')"
		case "!~":
			return "(NOT REGEXP_LIKE(" + l + ", " + r + ", 'c'))"
		case "!~*":
			return "(NOT REGEXP_LIKE(" + l + ", " + r + ", 'i'))"
		}
		p.unsupported(a.Location, "operator %s", op)
	case pg.A_Expr_Kind_AEXPR_OP_ANY, pg.A_Expr_Kind_AEXPR_OP_ALL:
		arr := a.Rexpr.GetAArrayExpr()
		any := a.Kind == pg.A_Expr_Kind_AEXPR_OP_ANY
		if arr != nil && len(arr.Elements) > 0 {
			if op == "=" && any {
				return "(" + p.expr(a.Lexpr) + " IN (" + p.exprList(arr.Elements) + "))"
			}
			if (op == "<>" || op == "!=") && !any {
				return "(" + p.expr(a.Lexpr) + " NOT IN (" + p.exprList(arr.Elements) + "))"
			}
		}
		if arr == nil && op == "=" && any {
			// x = ANY(array value): arrays travel as Postgres array text
			// (catalog columns such as polroles, indkey); pgcatalog's
			// pg_array_contains tests membership with three-valued logic.
			return "pg_array_contains(" + p.expr(a.Rexpr) + ", " + p.expr(a.Lexpr) + ")"
		}
		word := "ANY"
		if !any {
			word = "ALL"
		}
		p.unsupported(a.Location, "%s %s (array)", op, word)
	case pg.A_Expr_Kind_AEXPR_DISTINCT:
		return "(NOT (" + p.expr(a.Lexpr) + " <=> " + p.expr(a.Rexpr) + "))"
	case pg.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		return "(" + p.expr(a.Lexpr) + " <=> " + p.expr(a.Rexpr) + ")"
	case pg.A_Expr_Kind_AEXPR_NULLIF:
		return "NULLIF(" + p.expr(a.Lexpr) + ", " + p.expr(a.Rexpr) + ")"
	case pg.A_Expr_Kind_AEXPR_IN:
		list := a.Rexpr.GetList()
		if list == nil {
			p.unsupported(a.Location, "IN with %s", nodeName(a.Rexpr))
		}
		not := ""
		if op == "<>" {
			not = "NOT "
		}
		items := make([]string, len(list.Items))
		for i, it := range list.Items {
			items[i] = p.tzLiteral(a.Lexpr, it, p.expr(it))
		}
		return "(" + p.expr(a.Lexpr) + " " + not + "IN (" + strings.Join(items, ", ") + "))"
	case pg.A_Expr_Kind_AEXPR_LIKE, pg.A_Expr_Kind_AEXPR_ILIKE:
		not := ""
		if strings.HasPrefix(op, "!") {
			not = "NOT "
		}
		l := p.expr(a.Lexpr)
		pat, esc := a.Rexpr, ""
		if fc := a.Rexpr.GetFuncCall(); fc != nil && opName(fc.Funcname) == "like_escape" && len(fc.Args) == 2 {
			pat = fc.Args[0]
			esc = " ESCAPE " + p.expr(fc.Args[1])
		}
		r := p.expr(pat)
		if a.Kind == pg.A_Expr_Kind_AEXPR_ILIKE {
			l, r = "LOWER("+l+")", "LOWER("+r+")"
		}
		return "(" + l + " " + not + "LIKE " + r + esc + ")"
	case pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN:
		list := a.Rexpr.GetList()
		not := ""
		if a.Kind == pg.A_Expr_Kind_AEXPR_NOT_BETWEEN {
			not = "NOT "
		}
		lo, hi := p.tzLiteral(a.Lexpr, list.Items[0], p.expr(list.Items[0])), p.tzLiteral(a.Lexpr, list.Items[1], p.expr(list.Items[1]))
		return "(" + p.expr(a.Lexpr) + " " + not + "BETWEEN " + lo + " AND " + hi + ")"
	case pg.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		list := a.Rexpr.GetList()
		x := p.expr(a.Lexpr)
		lo, hi := p.tzLiteral(a.Lexpr, list.Items[0], p.expr(list.Items[0])), p.tzLiteral(a.Lexpr, list.Items[1], p.expr(list.Items[1]))
		s := "(" + x + " BETWEEN LEAST(" + lo + ", " + hi + ") AND GREATEST(" + lo + ", " + hi + "))"
		if a.Kind == pg.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM {
			return "(NOT " + s + ")"
		}
		return s
	case pg.A_Expr_Kind_AEXPR_SIMILAR:
		p.unsupported(a.Location, "SIMILAR TO")
	}
	p.unsupported(a.Location, "operator expression")
	return ""
}

func (p *printer) sublink(s *pg.SubLink) string {
	sel := s.Subselect.GetSelectStmt()
	if sel == nil {
		p.unsupported(s.Location, "subquery %s", nodeName(s.Subselect))
	}
	if s.SubLinkType == pg.SubLinkType_ARRAY_SUBLINK && inlineArraySubquery(sel) {
		// ARRAY(SELECT e FROM ... WHERE ...) aggregates e over the
		// subquery's own FROM: one query level less than the general form
		// below. The engine loses correlated columns (as in psql's
		// array(select ... from unnest(tc.reloptions) x)) when a table
		// function sits two derived tables below the outer query.
		rt := sel.TargetList[0].GetResTarget()
		elem := "pg_array_elem(" + p.expr(rt.Val) + ")"
		return "(SELECT COALESCE(CONCAT('{', GROUP_CONCAT(" + elem + " SEPARATOR ','), '}'), '{}')" + p.fromWhereGroup(sel) + ")"
	}
	q := "(" + p.selectStmt(sel, nil) + ")"
	switch s.SubLinkType {
	case pg.SubLinkType_EXISTS_SUBLINK:
		return "(EXISTS " + q + ")"
	case pg.SubLinkType_EXPR_SUBLINK:
		return q
	case pg.SubLinkType_ANY_SUBLINK, pg.SubLinkType_ALL_SUBLINK:
		op := opName(s.OperName)
		any := s.SubLinkType == pg.SubLinkType_ANY_SUBLINK
		// The engine has IN / NOT IN but not op ANY/ALL (subquery); the
		// two equivalences below cover x IN (...), x = ANY (...) and
		// x <> ALL (...), with identical NULL semantics.
		if any && (op == "" || op == "=") {
			return "(" + p.expr(s.Testexpr) + " IN " + q + ")"
		}
		if !any && (op == "<>" || op == "!=") {
			// x <> ALL (q) is x NOT IN (q). GMS v0.20.0 runs NOT IN
			// (subquery) as an anti-join that keeps rows whose x is NULL;
			// (x IN (q)) = FALSE is the same three-valued predicate and
			// avoids that plan.
			return "((" + p.expr(s.Testexpr) + " IN " + q + ") = FALSE)"
		}
		word := "ANY"
		if !any {
			word = "ALL"
		}
		p.unsupported(s.Location, "%s %s (subquery)", op, word)
	case pg.SubLinkType_ARRAY_SUBLINK:
		// ARRAY(subquery) as Postgres array text ({a,b}): the engine has
		// no arrays; elements are quoted as array_out does. Order follows
		// the subquery's rows; an empty subquery gives {}.
		if len(leftmost(sel).TargetList) != 1 {
			p.unsupported(s.Location, "ARRAY(subquery) with more than one column")
		}
		p.nAlias++
		a := "_arr" + strconv.Itoa(p.nAlias)
		return "(SELECT COALESCE(CONCAT('{', GROUP_CONCAT(pg_array_elem(" + ident(a) + "." + ident("v") + ") SEPARATOR ','), '}'), '{}') FROM " +
			q + " AS " + ident(a) + "(" + ident("v") + "))"
	}
	p.unsupported(s.Location, "subquery expression")
	return ""
}

func (p *printer) sqlValueFunction(f *pg.SQLValueFunction) string {
	prec := func() string {
		if f.Typmod >= 0 {
			return strconv.Itoa(int(f.Typmod))
		}
		return "6"
	}
	switch f.Op {
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
		// GMS types CURRENT_DATE() as text; Postgres has a date (so
		// current_date - 3 is date arithmetic, not text to number).
		return "CAST(CURRENT_DATE() AS DATE)"
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_TIME, pg.SQLValueFunctionOp_SVFOP_CURRENT_TIME_N,
		pg.SQLValueFunctionOp_SVFOP_LOCALTIME, pg.SQLValueFunctionOp_SVFOP_LOCALTIME_N:
		return "CURRENT_TIME(" + prec() + ")"
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N,
		pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP, pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:
		return "NOW(" + prec() + ")"
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_USER, pg.SQLValueFunctionOp_SVFOP_CURRENT_ROLE,
		pg.SQLValueFunctionOp_SVFOP_USER, pg.SQLValueFunctionOp_SVFOP_SESSION_USER:
		// MySQL's CURRENT_USER is 'user@host'; Postgres gives the bare name.
		return "pg_session_user()"
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:
		return "DATABASE()"
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG:
		return "pg_current_catalog()"
	}
	p.unsupported(f.Location, "SQL value function")
	return ""
}

// cast prints x::type / CAST(x AS type) with the MySQL CAST target that
// matches the Postgres type.
// checkIntLiteral fails translation as Postgres's integer input would for
// a string constant cast to an integer type.
func (p *printer) checkIntLiteral(loc int32, s string, t pgType) {
	name := map[string]string{"int2": "smallint", "int4": "integer", "int8": "bigint", "oid": "oid"}[t.canon]
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			p.fail(loc, pgerror.New(pgerror.NumericValueOutOfRange, "value %q is out of range for type %s", s, name))
		}
		p.fail(loc, pgerror.New(pgerror.InvalidTextRepresentation, "invalid input syntax for type %s: %q", name, s))
	}
	bounds := map[string][2]int64{"int2": {-1 << 15, 1<<15 - 1}, "int4": {-1 << 31, 1<<31 - 1}, "oid": {-1 << 31, 1<<32 - 1}}
	if b, ok := bounds[t.canon]; ok && (v < b[0] || v > b[1]) {
		p.fail(loc, pgerror.New(pgerror.NumericValueOutOfRange, "value %q is out of range for type %s", s, name))
	}
}

func (p *printer) cast(c *pg.TypeCast) string {
	if out, ok := p.catalogCast(c); ok {
		return out
	}
	t := typeNameOf(c.TypeName)
	switch t.canon {
	case "text", "varchar", "name", "bpchar":
		p.markRegOut(c.Arg) // x::regclass::text is the name
	}
	if pr := c.Arg.GetParamRef(); pr != nil && pr.Number >= 1 && pr.Number <= 65535 {
		p.param(int(pr.Number), t.oid)
	}
	if t.array {
		p.unsupported(c.Location, "cast to array type %s", t.display())
	}
	arg := p.expr(c.Arg)
	var sconst *string
	if ac := c.Arg.GetAConst(); ac != nil && !ac.Isnull {
		if sv := ac.GetSval(); sv != nil {
			sconst = &sv.Sval
		}
	}
	switch t.canon {
	case "int2", "int4", "int8", "oid":
		if sconst != nil {
			// The engine reads 'x' as 0 and '1.5' as 2; Postgres's integer
			// input refuses both (22P02) and checks the range (22003).
			p.checkIntLiteral(c.Location, *sconst, t)
		}
		return "CAST(" + arg + " AS SIGNED)"
	case "numeric":
		switch len(t.mods) {
		case 0:
			// Unconstrained numeric: a numeric literal already is an exact
			// decimal of its own scale; anything else gets the widest
			// decimal (the gateway trims trailing zeros for typmod -1).
			if ac := c.Arg.GetAConst(); ac != nil && (ac.GetIval() != nil || ac.GetFval() != nil) {
				return arg
			}
			if sconst != nil && decimalText.MatchString(strings.TrimSpace(*sconst)) {
				return strings.TrimSpace(*sconst) // '12.50'::numeric is the exact literal 12.50
			}
			return "CAST(" + arg + " AS DECIMAL(65,30))"
		case 1:
			return "CAST(" + arg + " AS DECIMAL(" + strconv.FormatInt(t.mods[0], 10) + ",0))"
		default:
			return "CAST(" + arg + " AS DECIMAL(" + strconv.FormatInt(t.mods[0], 10) + "," + strconv.FormatInt(t.mods[1], 10) + "))"
		}
	case "float4":
		return "CAST(" + arg + " AS FLOAT)"
	case "float8":
		return "CAST(" + arg + " AS DOUBLE)"
	case "text", "name", "uuid":
		return "pg_text(" + arg + ")"
	case "varchar", "bpchar":
		if len(t.mods) > 0 {
			// An explicit cast to varchar(n) truncates in Postgres; the
			// engine's CAST AS CHAR(n) does not.
			return "LEFT(CAST(" + arg + " AS CHAR), " + strconv.FormatInt(t.mods[0], 10) + ")"
		}
		return "CAST(" + arg + " AS CHAR)"
	}
	// Between timestamptz and the zoneless date/time types Postgres
	// converts in the session TimeZone (pg_at_zone / pg_from_zone); the
	// engine holds timestamptz as its UTC instant.
	switch src := p.typeOf(c.Arg); {
	case src == oidTimestamptz && (t.canon == "date" || t.canon == "time" || t.canon == "timestamp"):
		arg = "pg_at_zone(" + arg + ")"
	case (src == oidTimestamp || src == oidDate) && t.canon == "timestamptz":
		arg = "pg_from_zone(" + arg + ")"
	}
	switch t.canon {
	case "date":
		return "CAST(" + arg + " AS DATE)"
	case "timestamp", "timestamptz":
		// pg_timestamp/pg_timestamptz (package pgfunc) read the Postgres
		// input forms: the engine's CAST yields NULL for '...+02' offsets
		// and for bad input, where Postgres converts or fails.
		fn := "pg_timestamp("
		if t.canon == "timestamptz" {
			fn = "pg_timestamptz("
		}
		if len(t.mods) > 0 {
			return fn + arg + ", " + precision(t) + ")"
		}
		return fn + arg + ")"
	case "time":
		return "CAST(" + arg + " AS TIME(" + precision(t) + "))"
	case "json", "jsonb":
		return "CAST(" + arg + " AS JSON)"
	case "bytea":
		return "CAST(" + arg + " AS BINARY)"
	case "bool":
		if sconst != nil {
			switch strings.ToLower(strings.TrimSpace(*sconst)) {
			case "t", "tr", "tru", "true", "y", "ye", "yes", "on", "1":
				return "TRUE"
			case "f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0":
				return "FALSE"
			}
			p.fail(c.Location, pgerror.New(pgerror.InvalidTextRepresentation, "invalid input syntax for type boolean: %q", *sconst))
		}
		if ac := c.Arg.GetAConst(); ac != nil && ac.GetIval() != nil {
			if ac.GetIval().Ival != 0 {
				return "TRUE"
			}
			return "FALSE"
		}
		// Works for integers (non-zero is true, as for int::bool) and for
		// the text spellings Postgres accepts.
		txt := "LOWER(TRIM(CAST(" + arg + " AS CHAR)))"
		return "(CASE WHEN " + arg + " IS NULL THEN NULL WHEN " + txt + " IN ('t','true','y','yes','on','1') THEN TRUE " +
			"WHEN " + txt + " IN ('f','false','n','no','off','0') THEN FALSE ELSE (" + arg + " <> 0) END)"
	case "interval":
		if sconst != nil && len(c.TypeName.Typmods) == 0 {
			if parts, ok := intervalParts(*sconst); ok && len(parts) == 1 {
				return parts[0]
			}
			if _, ok := intervalParts(*sconst); ok {
				p.unsupported(c.Location, "multi-unit interval %s outside timestamp +/- interval", arg)
			}
		}
		p.unsupported(c.Location, "interval value %s (only constant intervals in date arithmetic)", arg)
	}
	p.unsupported(c.Location, "cast to type %s", t.display())
	return ""
}

func precision(t pgType) string {
	if len(t.mods) > 0 && t.mods[0] >= 0 && t.mods[0] <= 6 {
		return strconv.FormatInt(t.mods[0], 10)
	}
	return "6"
}

var decimalText = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$`)

var intervalUnits = map[string]string{
	"microsecond": "MICROSECOND", "microseconds": "MICROSECOND", "us": "MICROSECOND",
	"millisecond": "MILLISECOND", "milliseconds": "MILLISECOND", "ms": "MILLISECOND",
	"second": "SECOND", "seconds": "SECOND", "sec": "SECOND", "secs": "SECOND", "s": "SECOND",
	"minute": "MINUTE", "minutes": "MINUTE", "min": "MINUTE", "mins": "MINUTE", "m": "MINUTE",
	"hour": "HOUR", "hours": "HOUR", "h": "HOUR", "hr": "HOUR", "hrs": "HOUR",
	"day": "DAY", "days": "DAY", "d": "DAY",
	"week": "WEEK", "weeks": "WEEK", "w": "WEEK",
	"month": "MONTH", "months": "MONTH", "mon": "MONTH", "mons": "MONTH",
	"year": "YEAR", "years": "YEAR", "y": "YEAR", "yr": "YEAR", "yrs": "YEAR",
}

// intervalParts turns a Postgres interval literal ('3 days', '-1 hour',
// '1 day 02:30:00', '1.5 seconds', '2 weeks ago') into engine INTERVAL
// operands, one per unit. The engine has intervals only as operands of
// date arithmetic, which is where Postgres queries use them.
func intervalParts(s string) ([]string, bool) {
	f := strings.Fields(strings.ToLower(s))
	neg := false
	if len(f) > 0 && f[len(f)-1] == "ago" {
		neg, f = true, f[:len(f)-1]
	}
	if len(f) > 0 && f[0] == "@" {
		f = f[1:]
	}
	if len(f) == 0 {
		return nil, false
	}
	var parts []string
	add := func(n int64, unit string) {
		if neg {
			n = -n
		}
		parts = append(parts, "INTERVAL "+strconv.FormatInt(n, 10)+" "+unit)
	}
	for i := 0; i < len(f); i++ {
		tok := f[i]
		if strings.Contains(tok, ":") {
			sign := int64(1)
			if strings.HasPrefix(tok, "-") {
				sign, tok = -1, tok[1:]
			} else {
				tok = strings.TrimPrefix(tok, "+")
			}
			hms := strings.Split(tok, ":")
			if len(hms) < 2 || len(hms) > 3 {
				return nil, false
			}
			h, err1 := strconv.ParseInt(hms[0], 10, 64)
			m, err2 := strconv.ParseInt(hms[1], 10, 64)
			if err1 != nil || err2 != nil {
				return nil, false
			}
			add(sign*h, "HOUR")
			add(sign*m, "MINUTE")
			if len(hms) == 3 {
				us, ok := micros(hms[2])
				if !ok {
					return nil, false
				}
				add(sign*us, "MICROSECOND")
			}
			continue
		}
		if i+1 >= len(f) {
			return nil, false
		}
		u, ok := intervalUnits[f[i+1]]
		if !ok {
			return nil, false
		}
		i++
		if n, err := strconv.ParseInt(tok, 10, 64); err == nil {
			if u == "MILLISECOND" {
				n, u = n*1000, "MICROSECOND"
			}
			add(n, u)
			continue
		}
		// Fractional seconds only ('1.5 seconds').
		if u != "SECOND" {
			return nil, false
		}
		us, ok := micros(tok)
		if !ok {
			return nil, false
		}
		add(us, "MICROSECOND")
	}
	return parts, true
}

// micros parses seconds with an optional fraction into microseconds.
func micros(s string) (int64, bool) {
	sign := int64(1)
	if strings.HasPrefix(s, "-") {
		sign, s = -1, s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	if len(frac) > 6 {
		frac = frac[:6]
	}
	frac += strings.Repeat("0", 6-len(frac))
	fr, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, false
	}
	return sign * (w*1_000_000 + fr), true
}

// intervalConst returns the parts of an interval-typed string constant
// (interval '1 day', '1 day'::interval).
func intervalConst(n *pg.Node) ([]string, bool) {
	tc := n.GetTypeCast()
	if tc == nil || typeNameOf(tc.TypeName).canon != "interval" || len(tc.TypeName.Typmods) > 0 {
		return nil, false
	}
	c := tc.Arg.GetAConst()
	if c == nil || c.GetSval() == nil {
		return nil, false
	}
	return intervalParts(c.GetSval().Sval)
}

// jsonPath turns the constant right operand of -> / ->> into a MySQL JSON
// path literal: a string key becomes $."key", an integer $[n].
func jsonPath(n *pg.Node) (string, bool) {
	c := n.GetAConst()
	if c == nil || c.Isnull {
		return "", false
	}
	if iv := c.GetIval(); iv != nil {
		if iv.Ival < 0 {
			return "", false // Postgres counts from the end; MySQL uses 'last-n'
		}
		return strLit("$[" + strconv.Itoa(int(iv.Ival)) + "]"), true
	}
	if sv := c.GetSval(); sv != nil {
		k := strings.ReplaceAll(sv.Sval, `\`, `\\`)
		k = strings.ReplaceAll(k, `"`, `\"`)
		return strLit(`$."` + k + `"`), true
	}
	return "", false
}

// regCast returns n as a cast to a reg* type (not an array of one) and the
// type's name ("regclass", ...); nil and "" for anything else.
func regCast(n *pg.Node) (*pg.TypeCast, string) {
	c := n.GetTypeCast()
	if c == nil || c.TypeName == nil || len(c.TypeName.Names) == 0 || len(c.TypeName.ArrayBounds) > 0 {
		return nil, ""
	}
	name, _ := strVal(c.TypeName.Names[len(c.TypeName.Names)-1])
	switch name {
	case "regclass", "regtype", "regproc", "regprocedure":
		return c, name
	}
	return nil, ""
}

// markRegOut records that n, if a reg* cast, is output as text: a top-level
// select column, or the argument of a cast to a text type.
func (p *printer) markRegOut(n *pg.Node) {
	if c, _ := regCast(n); c != nil {
		if p.regOut == nil {
			p.regOut = map[*pg.TypeCast]bool{}
		}
		p.regOut[c] = true
	}
}

// catalogCast prints casts to Postgres's object-identifier types as the
// catalog helper functions of package pgcatalog. A reg* value is an oid
// that prints as a name: where it is output as text (a column sent to the
// client, or cast to text; see markRegOut) it is its name, as PostgreSQL
// prints it ('pg_class'::regclass prints pg_class, p.oid::regproc the
// function's name); elsewhere a literal name is its oid (so
// c.oid = 'pg_class'::regclass compares oids) and any other regclass or
// regtype value its name (what c.oid::regclass is compared with). Casts
// tools add for the server's own benefit (::oid, ::regproc, ::int2[])
// change nothing elsewhere.
func (p *printer) catalogCast(c *pg.TypeCast) (string, bool) {
	if c.TypeName == nil || len(c.TypeName.Names) == 0 {
		return "", false
	}
	name, _ := strVal(c.TypeName.Names[len(c.TypeName.Names)-1])
	literal := false
	if ac := c.Arg.GetAConst(); ac != nil && ac.GetSval() != nil {
		literal = true
	}
	array := len(c.TypeName.ArrayBounds) > 0
	if p.regOut[c] {
		switch name {
		case "regclass":
			if literal {
				return "pg_regclass_out(pg_regclass_in(" + p.expr(c.Arg) + "))", true
			}
			return "pg_regclass_out(" + p.expr(c.Arg) + ")", true
		case "regtype":
			if literal {
				return "pg_regtype_out(pg_regtype_in(" + p.expr(c.Arg) + "))", true
			}
			return "pg_regtype_out(" + p.expr(c.Arg) + ")", true
		case "regproc", "regprocedure":
			if literal {
				return p.expr(c.Arg), true
			}
			return "pg_regproc_out(" + p.expr(c.Arg) + ")", true
		}
	}
	switch {
	case name == "regclass" && !array:
		if literal {
			return "pg_regclass_in(" + p.expr(c.Arg) + ")", true
		}
		return "pg_regclass_out(" + p.expr(c.Arg) + ")", true
	case name == "regtype" && !array:
		if literal {
			return "pg_regtype_in(" + p.expr(c.Arg) + ")", true
		}
		return "pg_regtype_out(" + p.expr(c.Arg) + ")", true
	case name == "regnamespace" && !array:
		return "pg_regnamespace_out(" + p.expr(c.Arg) + ")", true
	case name == "regproc" || name == "regprocedure" || (name == "int2" && array) || (name == "oid" && array):
		return p.expr(c.Arg), true
	}
	return "", false
}
