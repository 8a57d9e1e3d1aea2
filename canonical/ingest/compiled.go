package ingest

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/dualgate/dualgate/catalog"
)

// A projection mapping is a row-wise mapping that only picks columns of
// batch (renamed or not) and string literals, e.g.
//
//	SELECT id, val AS value, 'booked' AS status FROM batch [ORDER BY _seq]
//
// It is evaluated here, without the engine: each raw row gives one output
// row holding the very values the engine would return for it (the batch
// relation's engine values, engineValue), which then go through the same
// conversion and checks as the engine's output rows. Anything else (an
// expression, a function, WHERE, another ORDER BY, ...) runs through the
// engine. TestProjectionMatchesEngine checks both paths agree.

// projection is a compiled projection mapping: per output column, the
// batch column it copies (outCol >= 0) or its literal.
type projection struct {
	names  []string // output column names, as the engine names them
	outCol []int    // batch column index, or -1 for a literal
	lit    []any    // literal (string or nil) where outCol is -1
}

// compileProjection returns the projection of a mapping SELECT over the
// batch columns named cols (source columns, then _seq, _ingested_at,
// _batch), or nil when the SELECT is not a projection mapping.
func compileProjection(sel string, cols []string) *projection {
	tree, err := pg_query.Parse(sel)
	if err != nil || len(tree.Stmts) != 1 {
		return nil
	}
	s := tree.Stmts[0].Stmt.GetSelectStmt()
	if s == nil || s.Op != pg_query.SetOperation_SETOP_NONE || s.WithClause != nil || len(s.GroupClause) > 0 ||
		s.HavingClause != nil || len(s.DistinctClause) > 0 || len(s.WindowClause) > 0 || len(s.FromClause) != 1 ||
		s.IntoClause != nil || len(s.ValuesLists) > 0 || s.WhereClause != nil || s.LimitCount != nil ||
		s.LimitOffset != nil || len(s.LockingClause) > 0 || len(s.TargetList) == 0 {
		return nil
	}
	rv := s.FromClause[0].GetRangeVar()
	if rv == nil || rv.Relname != "batch" || rv.Schemaname != "" || rv.Catalogname != "" || !rv.Inh {
		return nil
	}
	qual := rv.Relname
	if rv.Alias != nil {
		if len(rv.Alias.Colnames) > 0 {
			return nil
		}
		if rv.Alias.Aliasname != "" {
			qual = rv.Alias.Aliasname
		}
	}
	// column resolves a column reference to a batch column index.
	column := func(n *pg_query.Node) int {
		cr := n.GetColumnRef()
		if cr == nil || len(cr.Fields) == 0 || len(cr.Fields) > 2 {
			return -1
		}
		if len(cr.Fields) == 2 {
			q := cr.Fields[0].GetString_()
			if q == nil || q.Sval != qual {
				return -1
			}
		}
		f := cr.Fields[len(cr.Fields)-1].GetString_()
		if f == nil {
			return -1 // batch.*
		}
		found := -1
		for i, c := range cols {
			if strings.EqualFold(c, f.Sval) {
				if found >= 0 {
					return -1 // ambiguous
				}
				found = i
			}
		}
		return found
	}
	if len(s.SortClause) > 0 {
		sb := s.SortClause[0].GetSortBy()
		if len(s.SortClause) != 1 || sb == nil || len(sb.UseOp) > 0 ||
			(sb.SortbyDir != pg_query.SortByDir_SORTBY_DEFAULT && sb.SortbyDir != pg_query.SortByDir_SORTBY_ASC) ||
			sb.SortbyNulls != pg_query.SortByNulls_SORTBY_NULLS_DEFAULT {
			return nil
		}
		// Only ORDER BY _seq: the raw rows' own order (seqs are never NULL).
		if i := column(sb.Node); i < 0 || cols[i] != "_seq" {
			return nil
		}
	}
	p := &projection{}
	for _, t := range s.TargetList {
		rt := t.GetResTarget()
		if rt == nil || rt.Val == nil || len(rt.Indirection) > 0 {
			return nil
		}
		if ac := rt.Val.GetAConst(); ac != nil {
			if rt.Name == "" {
				return nil
			}
			switch {
			case ac.Isnull:
				p.lit = append(p.lit, nil)
			case ac.GetSval() != nil:
				p.lit = append(p.lit, ac.GetSval().Sval)
			default:
				return nil
			}
			p.names, p.outCol = append(p.names, rt.Name), append(p.outCol, -1)
			continue
		}
		i := column(rt.Val)
		if i < 0 {
			return nil
		}
		name := rt.Name
		if name == "" {
			name = cols[i]
		}
		p.names, p.outCol, p.lit = append(p.names, name), append(p.outCol, i), append(p.lit, nil)
	}
	return p
}

// batchValue is the value the engine holds for a batch column of type t
// whose store value is v (what a projection mapping returns for it).
func batchValue(t catalog.Type, v any) any {
	v = engineValue(t, v)
	if b, ok := v.(bool); ok { // the engine's booleans are integers
		if b {
			return int8(1)
		}
		return int8(0)
	}
	return v
}
