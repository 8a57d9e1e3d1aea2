package dialect

import (
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// figureColname names an unaliased select item the way Postgres does
// (FigureColnameInternal): column and function names, "case", "?column?".
// strength 2 is a real name, 1 a fallback (CASE, type names), 0 none.
func figureColname(n *pg.Node) (string, int) {
	if n == nil {
		return "?column?", 0
	}
	switch e := n.Node.(type) {
	case *pg.Node_ColumnRef:
		if len(e.ColumnRef.Fields) > 0 {
			if s, ok := strVal(e.ColumnRef.Fields[len(e.ColumnRef.Fields)-1]); ok {
				return s, 2
			}
		}
	case *pg.Node_FuncCall:
		if len(e.FuncCall.Funcname) > 0 {
			if s, ok := strVal(e.FuncCall.Funcname[len(e.FuncCall.Funcname)-1]); ok {
				return s, 2
			}
		}
	case *pg.Node_AExpr:
		if e.AExpr.Kind == pg.A_Expr_Kind_AEXPR_NULLIF {
			return "nullif", 2
		}
	case *pg.Node_TypeCast:
		name, strength := figureColname(e.TypeCast.Arg)
		if strength <= 1 && e.TypeCast.TypeName != nil && len(e.TypeCast.TypeName.Names) > 0 {
			if s, ok := strVal(e.TypeCast.TypeName.Names[len(e.TypeCast.TypeName.Names)-1]); ok {
				return s, 1
			}
		}
		return name, strength
	case *pg.Node_CaseExpr:
		return "case", 1
	case *pg.Node_CoalesceExpr:
		return "coalesce", 2
	case *pg.Node_MinMaxExpr:
		if e.MinMaxExpr.Op == pg.MinMaxOp_IS_LEAST {
			return "least", 2
		}
		return "greatest", 2
	case *pg.Node_SqlvalueFunction:
		name := strings.ToLower(strings.TrimPrefix(e.SqlvalueFunction.Op.String(), "SVFOP_"))
		name = strings.TrimSuffix(name, "_n")
		return name, 2
	case *pg.Node_SubLink:
		switch e.SubLink.SubLinkType {
		case pg.SubLinkType_EXISTS_SUBLINK:
			return "exists", 2
		case pg.SubLinkType_ARRAY_SUBLINK:
			return "array", 2
		case pg.SubLinkType_EXPR_SUBLINK:
			if sel := e.SubLink.Subselect.GetSelectStmt(); sel != nil {
				sel = leftmost(sel)
				if len(sel.TargetList) > 0 {
					if rt := sel.TargetList[0].GetResTarget(); rt != nil {
						if rt.Name != "" {
							return rt.Name, 2
						}
						return figureColname(rt.Val)
					}
				}
			}
		}
	case *pg.Node_RowExpr:
		return "row", 2
	case *pg.Node_AArrayExpr:
		return "array", 2
	case *pg.Node_CollateClause:
		return figureColname(e.CollateClause.Arg)
	}
	return "?column?", 0
}

// resultOID is the Postgres type of an expression when the translator
// knows it better than the engine would report it; 0 otherwise.
func resultOID(n *pg.Node) uint32 {
	if n == nil {
		return 0
	}
	switch e := n.Node.(type) {
	case *pg.Node_ColumnRef:
		if f := e.ColumnRef.Fields; len(f) > 0 {
			if s, ok := strVal(f[len(f)-1]); ok && systemColumns[strings.ToLower(s)] {
				return oidXID
			}
		}
	case *pg.Node_TypeCast:
		return typeNameOf(e.TypeCast.TypeName).oid
	case *pg.Node_AConst:
		switch {
		case e.AConst.GetBoolval() != nil:
			return oidBool
		case e.AConst.GetIval() != nil:
			return oidInt4 // Postgres types an integer literal that fits as int4
		case e.AConst.GetFval() != nil:
			// Integers too big for int4 arrive as Fval: int8 if they fit.
			if _, err := strconv.ParseInt(e.AConst.GetFval().Fval, 10, 64); err == nil {
				return oidInt8
			}
			return oidNumeric
		}
	case *pg.Node_BoolExpr, *pg.Node_NullTest, *pg.Node_BooleanTest:
		return oidBool
	case *pg.Node_AExpr:
		switch e.AExpr.Kind {
		case pg.A_Expr_Kind_AEXPR_OP:
			switch opName(e.AExpr.Name) {
			case "=", "<>", "!=", "<", ">", "<=", ">=", "~", "~*", "!~", "!~*":
				return oidBool
			case "->>":
				return oidText
			case "+", "-", "*", "/", "%":
				if e.AExpr.Lexpr == nil { // unary minus
					return resultOID(e.AExpr.Rexpr)
				}
				return arithmeticOID(resultOID(e.AExpr.Lexpr), resultOID(e.AExpr.Rexpr))
			case "->":
				if o := resultOID(e.AExpr.Lexpr); o == oidJSON {
					return oidJSON
				}
				return oidJSONB
			}
		case pg.A_Expr_Kind_AEXPR_NULLIF:
			return resultOID(e.AExpr.Lexpr)
		case pg.A_Expr_Kind_AEXPR_OP_ANY, pg.A_Expr_Kind_AEXPR_OP_ALL, pg.A_Expr_Kind_AEXPR_DISTINCT,
			pg.A_Expr_Kind_AEXPR_NOT_DISTINCT, pg.A_Expr_Kind_AEXPR_IN, pg.A_Expr_Kind_AEXPR_LIKE,
			pg.A_Expr_Kind_AEXPR_ILIKE, pg.A_Expr_Kind_AEXPR_SIMILAR, pg.A_Expr_Kind_AEXPR_BETWEEN,
			pg.A_Expr_Kind_AEXPR_NOT_BETWEEN, pg.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
			return oidBool
		}
	case *pg.Node_SubLink:
		switch e.SubLink.SubLinkType {
		case pg.SubLinkType_EXISTS_SUBLINK, pg.SubLinkType_ANY_SUBLINK, pg.SubLinkType_ALL_SUBLINK:
			return oidBool
		case pg.SubLinkType_EXPR_SUBLINK:
			if sel := e.SubLink.Subselect.GetSelectStmt(); sel != nil {
				sel = leftmost(sel)
				if len(sel.TargetList) == 1 {
					if rt := sel.TargetList[0].GetResTarget(); rt != nil {
						return resultOID(rt.Val)
					}
				}
			}
		}
	case *pg.Node_CaseExpr:
		var oid uint32
		results := []*pg.Node{e.CaseExpr.Defresult}
		for _, w := range e.CaseExpr.Args {
			if cw := w.GetCaseWhen(); cw != nil {
				results = append(results, cw.Result)
			}
		}
		for _, r := range results {
			if r == nil || (r.GetAConst() != nil && r.GetAConst().Isnull) {
				continue
			}
			o := resultOID(r)
			if o == 0 || (oid != 0 && o != oid) {
				return 0
			}
			oid = o
		}
		return oid
	case *pg.Node_CoalesceExpr:
		for _, a := range e.CoalesceExpr.Args {
			if o := resultOID(a); o != 0 {
				return o
			}
		}
	case *pg.Node_MinMaxExpr:
		for _, a := range e.MinMaxExpr.Args {
			if o := resultOID(a); o != 0 {
				return o
			}
		}
	case *pg.Node_SqlvalueFunction:
		switch e.SqlvalueFunction.Op {
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
			return oidDate
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N:
			return oidTimestamptz
		case pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP, pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:
			return oidTimestamp
		case pg.SQLValueFunctionOp_SVFOP_LOCALTIME, pg.SQLValueFunctionOp_SVFOP_LOCALTIME_N:
			return oidTime
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_USER, pg.SQLValueFunctionOp_SVFOP_CURRENT_ROLE,
			pg.SQLValueFunctionOp_SVFOP_USER, pg.SQLValueFunctionOp_SVFOP_SESSION_USER,
			pg.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA, pg.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG:
			return oidName
		}
	case *pg.Node_FuncCall:
		f := e.FuncCall
		if f.Over != nil && len(f.Funcname) > 0 {
			if s, _ := strVal(f.Funcname[len(f.Funcname)-1]); s == "row_number" || s == "rank" || s == "dense_rank" || s == "ntile" {
				return oidInt8
			}
		}
		name := ""
		if len(f.Funcname) > 0 {
			name, _ = strVal(f.Funcname[len(f.Funcname)-1])
		}
		switch name {
		case "count":
			return oidInt8
		case "string_agg", "to_char", "version", "concat", "concat_ws", "format", "quote_literal", "quote_ident":
			return oidText
		case "array_agg":
			if len(f.Args) == 1 {
				return arrayOf(resultOID(f.Args[0]))
			}
		case "bool_and", "bool_or", "every",
			// pg_catalog's boolean functions (the engine types booleans as
			// tinyint, so the name decides).
			"has_table_privilege", "has_column_privilege", "has_any_column_privilege", "has_schema_privilege", "has_database_privilege",
			"has_function_privilege", "pg_has_role", "pg_table_is_visible", "pg_type_is_visible",
			"pg_function_is_visible", "pg_relation_is_publishable":
			return oidBool
		case "now", "transaction_timestamp", "statement_timestamp", "clock_timestamp":
			return oidTimestamptz
		case "extract":
			return oidNumeric
		case "date_part":
			return oidFloat8
		case "pg_backend_pid", "length", "char_length", "character_length", "octet_length", "position", "strpos":
			return oidInt4
		case "abs", "greatest", "least":
			var oid uint32
			for i, a := range f.Args {
				if i == 0 {
					oid = resultOID(a)
				} else {
					oid = arithmeticOID(oid, resultOID(a))
				}
			}
			return oid
		case "current_schema", "current_database":
			return oidName
		case "string_to_array", "parse_ident":
			return arrayOf(oidText)
		case "min", "max", "coalesce", "date_trunc":
			if len(f.Args) > 0 {
				return resultOID(f.Args[len(f.Args)-1])
			}
		}
	}
	return 0
}

// arithmeticOID is the type Postgres gives an arithmetic expression over
// operands of types l and r (0 = unknown, which makes the result unknown):
// integers widen to the wider integer, numeric absorbs integers, float8
// absorbs both.
func arithmeticOID(l, r uint32) uint32 {
	rank := func(o uint32) int {
		switch o {
		case oidInt2, oidInt4:
			return 1
		case oidInt8:
			return 2
		case oidNumeric:
			return 3
		case oidFloat4, oidFloat8:
			return 4
		}
		return 0
	}
	a, b := rank(l), rank(r)
	if a == 0 || b == 0 {
		return 0
	}
	switch max(a, b) {
	case 1:
		return oidInt4
	case 2:
		return oidInt8
	case 3:
		return oidNumeric
	}
	return oidFloat8
}
