package catalog

import (
	"errors"
	"strings"
	"sync"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// sqlError is a problem in a piece of SQL, Off bytes into it (-1 = whole text).
type sqlError struct {
	msg  string
	hint string
	off  int
}

// outCol is one output column of a SELECT.
type outCol struct {
	name     string
	explicit bool     // named by AS or by being a plain column reference
	ref      []string // fields of a plain column reference
	cast     string   // type name of an explicit cast, if any
	val      *pg_query.Node
	loc      int
}

type relRef struct {
	schema, name, alias string
	loc                 int
}

type colRef struct {
	fields []string // "*" for a star
	loc    int
}

// selectInfo is what validation needs to know about a SELECT.
type selectInfo struct {
	outputs   []outCol
	star      bool
	starLoc   int
	relations []relRef
	ctes      map[string]bool
	names     map[string]bool // every alias/CTE/output name defined anywhere in the statement
	complex   bool            // subqueries, functions in FROM or CTEs: column scoping not checked
	colRefs   []colRef
}

// pgErr converts a pg_query error to an sqlError with a byte offset.
func pgErr(sql string, err error, prefix int) *sqlError {
	var pe *parser.Error
	if errors.As(err, &pe) {
		off := -1
		if pe.Cursorpos > 0 {
			off = charToByte(sql, pe.Cursorpos-1) - prefix
			if off < 0 {
				off = 0
			}
		}
		return &sqlError{msg: "SQL does not parse: " + pe.Message, off: off, hint: "fix the SQL (Postgres syntax)"}
	}
	return &sqlError{msg: "SQL does not parse: " + err.Error(), off: -1, hint: "fix the SQL (Postgres syntax)"}
}

func charToByte(s string, chars int) int {
	off := 0
	for i := 0; i < chars && off < len(s); i++ {
		_, sz := utf8.DecodeRuneInString(s[off:])
		off += sz
	}
	return off
}

// parseSelect parses sql as exactly one plain SELECT statement.
func parseSelect(sql string) (*selectInfo, *sqlError) {
	if strings.TrimSpace(sql) == "" {
		return nil, &sqlError{msg: "empty SQL", hint: "write a SELECT statement", off: -1}
	}
	res, err := pg_query.Parse(sql)
	if err != nil {
		return nil, pgErr(sql, err, 0)
	}
	if len(res.Stmts) != 1 {
		return nil, &sqlError{msg: "expected exactly one SELECT statement", hint: "remove the extra statements and semicolons", off: -1}
	}
	raw := res.Stmts[0]
	sel := raw.GetStmt().GetSelectStmt()
	if sel == nil {
		return nil, &sqlError{msg: "expected a SELECT statement", hint: "only SELECT is allowed here", off: int(raw.StmtLocation)}
	}
	if sel.IntoClause != nil || len(sel.LockingClause) > 0 {
		return nil, &sqlError{msg: "SELECT INTO and FOR UPDATE/SHARE are not allowed", hint: "write a plain SELECT", off: -1}
	}
	info := &selectInfo{ctes: map[string]bool{}, names: map[string]bool{}, starLoc: -1}
	leaf := sel
	for leaf.Op != pg_query.SetOperation_SETOP_NONE && leaf.Op != pg_query.SetOperation_SET_OPERATION_UNDEFINED && leaf.Larg != nil {
		leaf = leaf.Larg
	}
	if len(leaf.ValuesLists) > 0 && len(leaf.TargetList) == 0 {
		for i := range leaf.ValuesLists[0].GetList().GetItems() {
			info.outputs = append(info.outputs, outCol{name: "column" + itoa(i+1), loc: -1})
		}
	}
	for _, t := range leaf.TargetList {
		rt := t.GetResTarget()
		if rt == nil {
			continue
		}
		oc := outCol{loc: int(rt.Location), val: rt.Val}
		if cr := rt.Val.GetColumnRef(); cr != nil {
			fields := refFields(cr)
			if len(fields) > 0 && fields[len(fields)-1] == "*" {
				info.star = true
				if info.starLoc < 0 {
					info.starLoc = int(cr.Location)
				}
				continue
			}
			oc.ref = fields
		}
		if tc := rt.Val.GetTypeCast(); tc != nil {
			oc.cast = typeNameString(tc.TypeName)
		}
		if rt.Name != "" {
			oc.name, oc.explicit = rt.Name, true
		} else {
			oc.name = figureColname(rt.Val)
			oc.explicit = oc.ref != nil
		}
		info.outputs = append(info.outputs, oc)
	}
	walkProto(res.ProtoReflect(), func(m protoreflect.Message) {
		switch n := m.Interface().(type) {
		case *pg_query.RangeVar:
			r := relRef{schema: n.Schemaname, name: n.Relname, loc: int(n.Location)}
			if n.Alias != nil {
				r.alias = n.Alias.Aliasname
			}
			info.relations = append(info.relations, r)
		case *pg_query.CommonTableExpr:
			info.ctes[n.Ctename] = true
			info.names[n.Ctename] = true
			for _, c := range n.Aliascolnames {
				info.names[c.GetString_().GetSval()] = true
			}
			info.complex = true
		case *pg_query.RangeSubselect, *pg_query.RangeFunction, *pg_query.RangeTableFunc, *pg_query.SubLink:
			info.complex = true
		case *pg_query.Alias:
			info.names[n.Aliasname] = true
			for _, c := range n.Colnames {
				info.names[c.GetString_().GetSval()] = true
			}
		case *pg_query.ResTarget:
			if n.Name != "" {
				info.names[n.Name] = true
			}
		case *pg_query.ColumnRef:
			info.colRefs = append(info.colRefs, colRef{fields: refFields(n), loc: int(n.Location)})
		case *pg_query.WindowDef:
			if n.Name != "" {
				info.names[n.Name] = true
			}
		}
	})
	return info, nil
}

// exprInfo is what validation needs to know about a boolean expression.
type exprInfo struct {
	colRefs  []colRef
	subquery bool
}

const exprPrefix = "SELECT 1 WHERE "

// parseExpr parses expr as a single SQL boolean expression.
func parseExpr(expr string) (*exprInfo, *sqlError) {
	if strings.TrimSpace(expr) == "" {
		return nil, &sqlError{msg: "empty SQL expression", hint: "write a boolean expression such as total_cents >= 0", off: -1}
	}
	sql := exprPrefix + expr
	res, err := pg_query.Parse(sql)
	if err != nil {
		return nil, pgErr(sql, err, len(exprPrefix))
	}
	bad := &sqlError{msg: "not a single SQL boolean expression", hint: "write only the condition, e.g. total_cents >= 0 (no clauses, no semicolons)", off: -1}
	if len(res.Stmts) != 1 {
		return nil, bad
	}
	sel := res.Stmts[0].GetStmt().GetSelectStmt()
	if sel == nil || sel.Op != pg_query.SetOperation_SETOP_NONE || sel.WhereClause == nil || len(sel.FromClause) > 0 ||
		len(sel.GroupClause) > 0 || sel.HavingClause != nil || len(sel.SortClause) > 0 || sel.LimitCount != nil ||
		sel.LimitOffset != nil || len(sel.WindowClause) > 0 || len(sel.LockingClause) > 0 || sel.IntoClause != nil ||
		len(sel.TargetList) != 1 {
		return nil, bad
	}
	info := &exprInfo{}
	walkProto(sel.WhereClause.ProtoReflect(), func(m protoreflect.Message) {
		switch n := m.Interface().(type) {
		case *pg_query.ColumnRef:
			info.colRefs = append(info.colRefs, colRef{fields: refFields(n), loc: int(n.Location) - len(exprPrefix)})
		case *pg_query.SubLink:
			info.subquery = true
		}
	})
	return info, nil
}

func refFields(cr *pg_query.ColumnRef) []string {
	out := make([]string, 0, len(cr.Fields))
	for _, f := range cr.Fields {
		if s := f.GetString_(); s != nil {
			out = append(out, s.Sval)
		} else if f.GetAStar() != nil {
			out = append(out, "*")
		}
	}
	return out
}

func typeNameString(tn *pg_query.TypeName) string {
	if tn == nil {
		return ""
	}
	var parts []string
	for _, n := range tn.Names {
		if s := n.GetString_(); s != nil && s.Sval != "pg_catalog" {
			parts = append(parts, s.Sval)
		}
	}
	name := strings.Join(parts, ".")
	switch name {
	case "int2":
		name = "smallint"
	case "int4":
		name = "integer"
	case "int8":
		name = "bigint"
	case "float4":
		name = "real"
	case "float8":
		name = "double precision"
	case "bool":
		name = "boolean"
	case "bpchar":
		name = "char"
	}
	var mods []string
	for _, m := range tn.Typmods {
		if c := m.GetAConst(); c != nil && c.GetIval() != nil {
			mods = append(mods, itoa(int(c.GetIval().Ival)))
		}
	}
	if len(mods) > 0 {
		name += "(" + strings.Join(mods, ",") + ")"
	}
	return name
}

// figureColname names an unaliased output expression the way Postgres does
// (FigureColname), for the common cases.
func figureColname(n *pg_query.Node) string {
	if n == nil {
		return "?column?"
	}
	switch {
	case n.GetColumnRef() != nil:
		f := refFields(n.GetColumnRef())
		if len(f) > 0 && f[len(f)-1] != "*" {
			return f[len(f)-1]
		}
	case n.GetFuncCall() != nil:
		names := n.GetFuncCall().Funcname
		if len(names) > 0 {
			if s := names[len(names)-1].GetString_(); s != nil {
				return s.Sval
			}
		}
	case n.GetTypeCast() != nil:
		tc := n.GetTypeCast()
		if inner := figureColname(tc.Arg); inner != "?column?" {
			return inner
		}
		if tc.TypeName != nil && len(tc.TypeName.Names) > 0 {
			if s := tc.TypeName.Names[len(tc.TypeName.Names)-1].GetString_(); s != nil {
				return s.Sval
			}
		}
	case n.GetAIndirection() != nil:
		ind := n.GetAIndirection().Indirection
		if len(ind) > 0 {
			if s := ind[len(ind)-1].GetString_(); s != nil {
				return s.Sval
			}
		}
		return figureColname(n.GetAIndirection().Arg)
	case n.GetCaseExpr() != nil:
		return "case"
	case n.GetCoalesceExpr() != nil:
		return "coalesce"
	case n.GetNullIfExpr() != nil:
		return "nullif"
	case n.GetMinMaxExpr() != nil:
		if n.GetMinMaxExpr().Op == pg_query.MinMaxOp_IS_GREATEST {
			return "greatest"
		}
		return "least"
	case n.GetAArrayExpr() != nil:
		return "array"
	case n.GetRowExpr() != nil:
		return "row"
	case n.GetSqlvalueFunction() != nil:
		switch n.GetSqlvalueFunction().Op {
		case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
			return "current_date"
		case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N:
			return "current_timestamp"
		}
	case n.GetCollateClause() != nil:
		return figureColname(n.GetCollateClause().Arg)
	case n.GetSubLink() != nil:
		sl := n.GetSubLink()
		if sl.SubLinkType == pg_query.SubLinkType_EXISTS_SUBLINK {
			return "exists"
		}
		if sl.SubLinkType == pg_query.SubLinkType_EXPR_SUBLINK {
			if s := sl.Subselect.GetSelectStmt(); s != nil && len(s.TargetList) == 1 {
				rt := s.TargetList[0].GetResTarget()
				if rt != nil {
					if rt.Name != "" {
						return rt.Name
					}
					return figureColname(rt.Val)
				}
			}
		}
	}
	return "?column?"
}

// walkProto calls fn for every message in the tree rooted at m.
func walkProto(m protoreflect.Message, fn func(protoreflect.Message)) {
	if m == nil || !m.IsValid() {
		return
	}
	fn(m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		switch {
		case fd.IsMap():
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walkProto(l.Get(i).Message(), fn)
			}
		default:
			walkProto(v.Message(), fn)
		}
		return true
	})
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	neg := i < 0
	if neg {
		i = -i
	}
	var b [20]byte
	p := len(b)
	for i > 0 {
		p--
		b[p] = byte('0' + i%10)
		i /= 10
	}
	if neg {
		p--
		b[p] = '-'
	}
	return string(b[p:])
}

// isReservedWord reports whether name is a Postgres keyword that cannot be
// used as a bare column name (reserved or type/function-name keywords).
func isReservedWord(name string) bool {
	if v, ok := reservedCache.Load(name); ok {
		return v.(bool)
	}
	r := scanReserved(name)
	reservedCache.Store(name, r)
	return r
}

var reservedCache sync.Map // name -> bool; names are short identifiers

func scanReserved(name string) bool {
	res, err := pg_query.Scan(name)
	if err != nil || len(res.Tokens) != 1 {
		return false
	}
	k := res.Tokens[0].KeywordKind
	return k == pg_query.KeywordKind_RESERVED_KEYWORD || k == pg_query.KeywordKind_TYPE_FUNC_NAME_KEYWORD
}
