package dialect

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Lookup describes a query the gateway may answer without the engine:
// plain columns of one table whose WHERE pins columns to parameters or
// constants with `=` joined by AND (`SELECT a, b FROM s.t WHERE k = $1`).
// Whether the pinned columns are the table's whole key is for the gateway
// to check against the table; if they are not, it runs the engine SQL.
// Table.AsOf carries a per-table time-travel clause.
type Lookup struct {
	Table   Relation
	Columns []string // selected table columns in order; nil for *
	Names   []string // output names of Columns
	Keys    []KeyValue
	loc     int32 // where the relation name starts (for its time travel)
}

// KeyValue pins one column: to parameter $Param (1-based) or, when Param
// is 0, to Const (int64 or string).
type KeyValue struct {
	Column string
	Param  int
	Const  any
}

// lookupOf recognizes the point-lookup shape; nil if s has any other.
func lookupOf(s *pg.SelectStmt) *Lookup {
	if s.Op != pg.SetOperation_SETOP_NONE || s.WithClause != nil || len(s.DistinctClause) > 0 ||
		len(s.GroupClause) > 0 || s.HavingClause != nil || len(s.WindowClause) > 0 || len(s.SortClause) > 0 ||
		s.LimitCount != nil || s.LimitOffset != nil || len(s.LockingClause) > 0 || s.IntoClause != nil ||
		len(s.ValuesLists) > 0 || len(s.FromClause) != 1 || s.WhereClause == nil {
		return nil
	}
	rv := s.FromClause[0].GetRangeVar()
	if rv == nil || rv.Catalogname != "" || !rv.Inh {
		return nil
	}
	alias := rv.Relname
	if rv.Alias != nil {
		alias = rv.Alias.Aliasname
	}
	col := func(n *pg.Node) (string, bool) {
		cr := n.GetColumnRef()
		if cr == nil {
			return "", false
		}
		var parts []string
		for _, f := range cr.Fields {
			sv, ok := strVal(f)
			if !ok {
				return "", false
			}
			parts = append(parts, sv)
		}
		switch len(parts) {
		case 1:
			return parts[0], true
		case 2:
			return parts[1], parts[0] == alias
		}
		return "", false
	}
	l := &Lookup{Table: Relation{Schema: rv.Schemaname, Name: rv.Relname}, loc: rv.Location}
	for i, t := range s.TargetList {
		rt := t.GetResTarget()
		if rt == nil || len(rt.Indirection) > 0 {
			return nil
		}
		if isStar(rt.Val) {
			if len(s.TargetList) != 1 || len(rt.Val.GetColumnRef().Fields) > 1 {
				return nil
			}
			break
		}
		c, ok := col(rt.Val)
		if !ok {
			return nil
		}
		name := c
		if rt.Name != "" {
			name = rt.Name
		}
		l.Columns = append(l.Columns, c)
		l.Names = append(l.Names, name)
		_ = i
	}
	var eqs func(n *pg.Node) bool
	eqs = func(n *pg.Node) bool {
		if be := n.GetBoolExpr(); be != nil {
			if be.Boolop != pg.BoolExprType_AND_EXPR {
				return false
			}
			for _, a := range be.Args {
				if !eqs(a) {
					return false
				}
			}
			return true
		}
		ae := n.GetAExpr()
		if ae == nil || ae.Kind != pg.A_Expr_Kind_AEXPR_OP || opName(ae.Name) != "=" {
			return false
		}
		c, ok := col(ae.Lexpr)
		other := ae.Rexpr
		if !ok {
			if c, ok = col(ae.Rexpr); !ok {
				return false
			}
			other = ae.Lexpr
		}
		kv := KeyValue{Column: c}
		switch {
		case other.GetParamRef() != nil:
			kv.Param = int(other.GetParamRef().Number)
		case other.GetAConst() != nil && other.GetAConst().GetIval() != nil:
			kv.Const = int64(other.GetAConst().GetIval().Ival)
		case other.GetAConst() != nil && other.GetAConst().GetSval() != nil:
			kv.Const = other.GetAConst().GetSval().Sval
		default:
			return false
		}
		l.Keys = append(l.Keys, kv)
		return true
	}
	if !eqs(s.WhereClause) {
		return nil
	}
	return l
}
