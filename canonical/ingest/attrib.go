package ingest

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// seqColumn is the hidden output column added to row-wise mappings.
const seqColumn = "__dg_seq"

// aggregates are the Postgres aggregate functions that make a SELECT without
// GROUP BY collapse rows (then output rows cannot be traced to one raw row).
var aggregates = map[string]bool{
	"count": true, "sum": true, "min": true, "max": true, "avg": true, "array_agg": true,
	"string_agg": true, "bool_and": true, "bool_or": true, "every": true, "json_agg": true,
	"jsonb_agg": true, "json_object_agg": true, "jsonb_object_agg": true, "stddev": true,
	"variance": true, "bit_and": true, "bit_or": true,
}

// attributedQuery rewrites a row-wise mapping SELECT (one FROM item, the
// relation batch; no GROUP BY, HAVING, DISTINCT, window, set operation, CTE
// or aggregate) so that it also returns the raw _seq each output row comes
// from, as a last column named __dg_seq. The rewrite is done on the
// Postgres parse tree (pg_query) and deparsed, never on the text. ok is
// false when the mapping is not row-wise: its output rows are then
// attributed to every raw row of the batch (see the package comment).
func attributedQuery(sel string) (string, bool) {
	tree, err := pg_query.Parse(sel)
	if err != nil || len(tree.Stmts) != 1 {
		return sel, false
	}
	s := tree.Stmts[0].Stmt.GetSelectStmt()
	if s == nil || s.Op != pg_query.SetOperation_SETOP_NONE || s.WithClause != nil || len(s.GroupClause) > 0 ||
		s.HavingClause != nil || len(s.DistinctClause) > 0 || len(s.WindowClause) > 0 || len(s.FromClause) != 1 ||
		s.IntoClause != nil || len(s.ValuesLists) > 0 {
		return sel, false
	}
	rv := s.FromClause[0].GetRangeVar()
	if rv == nil || !strings.EqualFold(rv.Relname, "batch") || rv.Schemaname != "" {
		return sel, false
	}
	qual := rv.Relname
	if rv.Alias != nil && rv.Alias.Aliasname != "" {
		qual = rv.Alias.Aliasname
	}
	agg := false
	for _, t := range s.TargetList {
		walkProto(t.ProtoReflect(), func(m protoreflect.Message) {
			fc, ok := m.Interface().(*pg_query.FuncCall)
			if !ok {
				return
			}
			if fc.AggStar || fc.Over != nil || len(fc.AggOrder) > 0 || fc.AggFilter != nil || fc.AggDistinct {
				agg = true
			}
			if n := len(fc.Funcname); n > 0 && aggregates[strings.ToLower(fc.Funcname[n-1].GetString_().GetSval())] {
				agg = true
			}
		})
	}
	if agg {
		return sel, false
	}
	ref := pg_query.MakeColumnRefNode([]*pg_query.Node{pg_query.MakeStrNode(qual), pg_query.MakeStrNode("_seq")}, -1)
	s.TargetList = append(s.TargetList, pg_query.MakeResTargetNodeWithNameAndVal(seqColumn, ref, -1))
	out, err := pg_query.Deparse(tree)
	if err != nil {
		return sel, false
	}
	return out, true
}

// walkProto calls fn for m and every message nested in it, but does not
// descend into subqueries (their aggregates do not collapse the outer rows).
func walkProto(m protoreflect.Message, fn func(protoreflect.Message)) {
	if _, ok := m.Interface().(*pg_query.SubLink); ok {
		return
	}
	fn(m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walkProto(l.Get(i).Message(), fn)
			}
		case fd.IsMap():
		case fd.Message() != nil:
			walkProto(v.Message(), fn)
		}
		return true
	})
}
