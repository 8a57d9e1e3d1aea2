package dialect

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

func (p *printer) insert(s *pg.InsertStmt) string {
	if s.WithClause != nil {
		p.unsupported(-1, "WITH on INSERT")
	}
	if len(s.ReturningList) > 0 {
		p.unsupported(-1, "RETURNING")
	}
	if s.Override != pg.OverridingKind_OVERRIDING_NOT_SET && s.Override != pg.OverridingKind_OVERRIDING_KIND_UNDEFINED {
		p.unsupported(-1, "OVERRIDING")
	}
	if s.Relation.Alias != nil {
		p.unsupported(s.Relation.Location, "INSERT target alias")
	}
	var b strings.Builder
	b.WriteString("INSERT ")
	oc := s.OnConflictClause
	// ON CONFLICT DO NOTHING: skip rows that hit a unique key. It prints as
	// ON DUPLICATE KEY UPDATE c = c, a no-op on conflicting rows that
	// leaves every other error (NOT NULL, conversions) an error, as in
	// Postgres; INSERT IGNORE would turn those into warnings and store
	// defaults. IGNORE remains only when no column name is known.
	// Either way any unique key counts, not only the conflict target.
	var nothingCol string
	if oc != nil && oc.Action == pg.OnConflictAction_ONCONFLICT_NOTHING {
		if len(s.Cols) > 0 {
			if rt := s.Cols[0].GetResTarget(); rt != nil {
				nothingCol = rt.Name
			}
		} else if p.opts.TableColumns != nil {
			if tc := p.opts.TableColumns(s.Relation.Schemaname, s.Relation.Relname); len(tc) > 0 {
				nothingCol = tc[0]
			}
		}
		if nothingCol == "" {
			b.WriteString("IGNORE ")
		}
	}
	b.WriteString("INTO " + p.relName(s.Relation))
	var cols, raw []string
	for _, c := range s.Cols {
		rt := c.GetResTarget()
		if rt == nil || len(rt.Indirection) > 0 {
			p.unsupported(-1, "INSERT column with subscripts")
		}
		cols = append(cols, ident(rt.Name))
		raw = append(raw, rt.Name)
	}
	if len(cols) == 0 {
		raw = p.leadingColumns(s)
		for _, c := range raw {
			cols = append(cols, ident(c))
		}
	}
	if len(raw) == 0 && p.opts.TableColumns != nil {
		raw = p.opts.TableColumns(s.Relation.Schemaname, s.Relation.Relname)
	}
	if len(cols) > 0 {
		b.WriteString(" (" + strings.Join(cols, ", ") + ")")
	}
	switch {
	case s.SelectStmt == nil:
		// DEFAULT VALUES
		if len(cols) == 0 {
			b.WriteString(" ()")
		}
		b.WriteString(" VALUES ()")
	default:
		sel := s.SelectStmt.GetSelectStmt()
		if sel == nil {
			p.unsupported(-1, "INSERT source %s", nodeName(s.SelectStmt))
		}
		if len(sel.ValuesLists) > 0 && sel.WithClause == nil && len(sel.SortClause) == 0 && sel.LimitCount == nil && sel.LimitOffset == nil {
			var rows []string
			for _, r := range sel.ValuesLists {
				rows = append(rows, "("+p.valuesRow(s.Relation, raw, r.GetList().Items)+")")
			}
			b.WriteString(" VALUES " + strings.Join(rows, ", "))
		} else {
			b.WriteString(" " + p.selectStmt(sel, nil))
		}
	}
	if nothingCol != "" {
		b.WriteString(" ON DUPLICATE KEY UPDATE " + ident(nothingCol) + " = " + ident(nothingCol))
	}
	if oc != nil && oc.Action == pg.OnConflictAction_ONCONFLICT_UPDATE {
		if oc.WhereClause != nil {
			p.unsupported(oc.Location, "ON CONFLICT DO UPDATE ... WHERE")
		}
		// ON DUPLICATE KEY UPDATE fires on any unique key, not only the
		// conflict target; with one unique key (the usual upsert) they agree.
		p.excluded = true
		b.WriteString(" ON DUPLICATE KEY UPDATE " + p.setList(oc.TargetList, ""))
		p.excluded = false
	}
	return b.String()
}

// setList prints SET assignments; qual qualifies the target column (for
// multi-table UPDATE).
func (p *printer) setList(list []*pg.Node, qual string) string {
	var parts []string
	for _, n := range list {
		rt := n.GetResTarget()
		if rt == nil || len(rt.Indirection) > 0 {
			p.unsupported(-1, "SET with subscripts or field selection")
		}
		if rt.Val.GetMultiAssignRef() != nil {
			p.unsupported(rt.Location, "SET (a, b) = (...)")
		}
		col := ident(rt.Name)
		if qual != "" {
			col = qual + "." + col
		}
		val := p.expr(rt.Val)
		if rel := p.setRel; rel != nil && p.opts.ColumnType != nil {
			// As in INSERT VALUES: a string literal assigned to a
			// timestamptz column is read in the session TimeZone.
			if ac := rt.Val.GetAConst(); ac != nil && ac.GetSval() != nil && p.opts.ColumnType(rel.Schemaname, rel.Relname, rt.Name) == oidTimestamptz {
				val = "pg_timestamptz(" + val + ")"
			}
		}
		parts = append(parts, col+" = "+val)
	}
	return strings.Join(parts, ", ")
}

func (p *printer) update(s *pg.UpdateStmt) string {
	if s.WithClause != nil {
		p.unsupported(-1, "WITH on UPDATE")
	}
	if len(s.ReturningList) > 0 {
		p.unsupported(-1, "RETURNING")
	}
	var b strings.Builder
	b.WriteString("UPDATE " + p.relName(s.Relation))
	p.setRel = s.Relation
	defer func() { p.setRel = nil }()
	defer p.enterScope(append([]*pg.Node{{Node: &pg.Node_RangeVar{RangeVar: s.Relation}}}, s.FromClause...))()
	if len(s.FromClause) == 0 {
		b.WriteString(p.alias(s.Relation.Alias, false))
		b.WriteString(" SET " + p.setList(s.TargetList, ""))
	} else {
		// UPDATE t SET ... FROM f WHERE ... -> UPDATE t AS t, f SET t.c = ...
		// (MySQL's multi-table UPDATE; SET targets are qualified with the
		// target's name because Postgres SET columns always belong to it).
		name := s.Relation.Relname
		if s.Relation.Alias != nil {
			name = s.Relation.Alias.Aliasname
		}
		b.WriteString(" AS " + ident(name) + ", " + p.fromList(s.FromClause))
		b.WriteString(" SET " + p.setList(s.TargetList, ident(name)))
	}
	if s.WhereClause != nil {
		b.WriteString(" WHERE " + p.expr(s.WhereClause))
	}
	return b.String()
}

func (p *printer) delete(s *pg.DeleteStmt) string {
	defer p.enterScope(append([]*pg.Node{{Node: &pg.Node_RangeVar{RangeVar: s.Relation}}}, s.UsingClause...))()
	if s.WithClause != nil {
		p.unsupported(-1, "WITH on DELETE")
	}
	if len(s.ReturningList) > 0 {
		p.unsupported(-1, "RETURNING")
	}
	var b strings.Builder
	if len(s.UsingClause) == 0 && s.Relation.Alias == nil {
		b.WriteString("DELETE FROM " + p.relName(s.Relation))
	} else {
		// DELETE FROM t USING u WHERE ... -> DELETE t FROM t AS t, u WHERE ...
		name := s.Relation.Relname
		if s.Relation.Alias != nil {
			name = s.Relation.Alias.Aliasname
		}
		// (also for a bare alias: the engine's single-table DELETE takes none)
		b.WriteString("DELETE " + ident(name) + " FROM " + p.relName(s.Relation) + " AS " + ident(name))
		if len(s.UsingClause) > 0 {
			b.WriteString(", " + p.fromList(s.UsingClause))
		}
	}
	if s.WhereClause != nil {
		b.WriteString(" WHERE " + p.expr(s.WhereClause))
	}
	return b.String()
}

// leadingColumns names (unquoted) the target columns of an INSERT without a column
// list that supplies fewer values than the table has columns: Postgres
// fills the first n columns and defaults the rest, the engine insists on
// an explicit list. Needs Options.TableColumns; nil when not needed.
func (p *printer) leadingColumns(s *pg.InsertStmt) []string {
	sel := s.SelectStmt.GetSelectStmt()
	if sel == nil || p.opts.TableColumns == nil {
		return nil
	}
	width := 0
	switch {
	case len(sel.ValuesLists) > 0:
		width = len(sel.ValuesLists[0].GetList().GetItems())
	case len(sel.TargetList) > 0:
		for _, t := range sel.TargetList {
			if rt := t.GetResTarget(); rt != nil && rt.Val.GetColumnRef() != nil {
				for _, f := range rt.Val.GetColumnRef().Fields {
					if f.GetAStar() != nil {
						return nil
					}
				}
			}
		}
		width = len(sel.TargetList)
	}
	tcols := p.opts.TableColumns(s.Relation.Schemaname, s.Relation.Relname)
	if width == 0 || len(tcols) <= width {
		return nil
	}
	return tcols[:width]
}

// valuesRow prints one VALUES row of an INSERT into rel whose target
// columns are cols. An untyped string literal going into a timestamptz
// column is read as Postgres would, in the session's TimeZone
// (pg_timestamptz); the engine's own conversion would take it as UTC.
func (p *printer) valuesRow(rel *pg.RangeVar, cols []string, items []*pg.Node) string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = p.expr(it)
		if i >= len(cols) || p.opts.ColumnType == nil {
			continue
		}
		if ac := it.GetAConst(); ac != nil && ac.GetSval() != nil && p.opts.ColumnType(rel.Schemaname, rel.Relname, cols[i]) == oidTimestamptz {
			out[i] = "pg_timestamptz(" + out[i] + ")"
		}
	}
	return strings.Join(out, ", ")
}
