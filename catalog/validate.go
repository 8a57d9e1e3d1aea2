package catalog

import (
	"fmt"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"sort"
	"strings"
)

// Schemas are the Postgres schemas dualgate serves.
var Schemas = []string{"canonical", "history", "diff", "raw", "serving", "reconcile", "catalog", "dualgate"}

// systemRelations are relations of the fixed schemas (columns defined elsewhere).
var systemRelations = map[string][]string{
	"reconcile": {"rules", "runs", "exceptions", "status", "watermarks"},
	"catalog":   {"contexts", "entities", "columns", "sources", "mappings", "projections", "rules", "lineage"},
	"dualgate":  {"commits", "quarantine", "projections", "last_result", "sessions", "audit"},
}

var commitsColumns = []string{"commit_id", "commit_hash", "parent_hash", "committed_at", "committer", "source", "kind",
	"mapping_version", "message", "rows_added", "rows_modified", "rows_removed", "raw_from_seq", "raw_to_seq"}

var diffSystemColumns = []string{"to_commit", "from_commit", "to_committed_at", "from_committed_at", "diff_type"}

// build indexes the decoded contexts and runs the cross-reference checks.
func build(ctxs []*Context, e *errs) (*Catalog, error) {
	c := &Catalog{
		contexts: map[string]*Context{}, sources: map[string]*Source{}, entities: map[string]*Entity{},
		projections: map[string]*Projection{}, servingTables: map[string]*ServingTable{},
		reconciliations: map[string]*Reconciliation{}, roles: map[string][]*Role{}, users: map[string]*User{},
	}
	for _, ctx := range ctxs {
		if ctx == nil {
			continue
		}
		c.Contexts = append(c.Contexts, ctx)
		if ctx.Name != "" {
			if prev, ok := c.contexts[ctx.Name]; ok {
				e.add(ctx.Pos, "rename one of them (first declared at "+prev.Pos.String()+")", "duplicate context %q", ctx.Name)
			} else {
				c.contexts[ctx.Name] = ctx
			}
		}
		for _, s := range ctx.Sources {
			if prev, ok := c.sources[s.Name]; ok {
				e.add(s.Pos, "rename one: both would be raw."+s.Name+" (first declared at "+prev.Pos.String()+")", "duplicate source %q", s.Name)
				continue
			}
			c.sources[s.Name] = s
		}
		for _, en := range ctx.Entities {
			if prev, ok := c.entities[en.Name]; ok {
				e.add(en.Pos, "rename one: both would be canonical."+en.Name+" (first declared at "+prev.Pos.String()+")", "duplicate entity %q", en.Name)
				continue
			}
			c.entities[en.Name] = en
		}
		for _, p := range ctx.Projections {
			if prev, ok := c.projections[p.Name]; ok {
				e.add(p.Pos, "rename one: both would be serving."+p.Name+" (first declared at "+prev.Pos.String()+")", "duplicate projection %q", p.Name)
				continue
			}
			c.projections[p.Name] = p
		}
		for _, st := range ctx.ServingTables {
			if prev, ok := c.projections[st.Name]; ok {
				e.add(st.Pos, "rename one: both would be serving."+st.Name+" (projection declared at "+prev.Pos.String()+")", "serving table %q has the name of a projection", st.Name)
				continue
			}
			if prev, ok := c.servingTables[st.Name]; ok {
				e.add(st.Pos, "rename one: both would be serving."+st.Name+" (first declared at "+prev.Pos.String()+")", "duplicate serving table %q", st.Name)
				continue
			}
			c.servingTables[st.Name] = st
		}
		for _, r := range ctx.Reconciliations {
			if prev, ok := c.reconciliations[r.Name]; ok {
				e.add(r.Pos, "rename one (first declared at "+prev.Pos.String()+")", "duplicate reconciliation %q", r.Name)
				continue
			}
			c.reconciliations[r.Name] = r
		}
		if pol := ctx.Policies; pol != nil {
			for _, r := range pol.Roles {
				if _, ok := c.roles[r.Name]; !ok {
					c.roleOrder = append(c.roleOrder, r.Name)
				}
				for _, prev := range c.roles[r.Name] {
					if prev.Context == ctx.Name {
						e.add(r.Pos, "merge the two declarations", "duplicate role %q", r.Name)
					}
				}
				c.roles[r.Name] = append(c.roles[r.Name], r)
			}
			for _, u := range pol.Users {
				if prev, ok := c.users[u.Name]; ok {
					merged := &User{Name: u.Name, Pos: prev.Pos, Roles: append([]string{}, prev.Roles...)}
					for _, r := range u.Roles {
						if !contains(merged.Roles, r) {
							merged.Roles = append(merged.Roles, r)
						}
					}
					c.users[u.Name] = merged
					continue
				}
				c.userOrder = append(c.userOrder, u.Name)
				c.users[u.Name] = u
			}
			if pol.Audit != nil {
				if c.audit != nil {
					e.add(pol.Audit.Pos, "set the audit policy in one context only (already set at "+c.audit.Pos.String()+")", "audit policy declared twice")
				} else {
					c.audit = pol.Audit
				}
			}
		}
	}
	v := &validator{c: c, e: e}
	for _, ctx := range c.Contexts {
		for _, en := range ctx.Entities {
			v.entity(en)
		}
	}
	for _, ctx := range c.Contexts {
		for _, p := range ctx.Projections {
			v.projection(p)
		}
	}
	for _, ctx := range c.Contexts {
		for _, st := range ctx.ServingTables {
			for i, w := range st.Writers {
				if _, ok := c.roles[w]; !ok {
					e.add(st.writerPos[i], suggest(w, c.roleOrder, "roles"), "serving table %s: writer role %q is not declared in policies.roles", st.Name, w)
				}
			}
		}
		for _, r := range ctx.Reconciliations {
			v.reconciliation(r)
		}
		if ctx.Policies != nil {
			v.policies(ctx.Policies)
		}
	}
	if len(e.list) > 0 {
		return nil, e.list.sorted()
	}
	return c, nil
}

type validator struct {
	c *Catalog
	e *errs
}

func (v *validator) sqlErr(loc sqlLoc, what string, se *sqlError) {
	v.e.add(loc.pos(se.off), se.hint, "%s: %s", what, se.msg)
}

func (v *validator) entity(en *Entity) {
	what := "entity " + en.Name
	if len(en.Columns) == 0 {
		return // reported already; column checks would only repeat it
	}
	// rules
	for _, r := range en.Rules {
		if r.Check == "" {
			continue
		}
		rw := what + " rule " + r.Name
		info, se := parseExpr(r.Check)
		if se != nil {
			v.sqlErr(r.checkLoc, rw+" check", se)
			continue
		}
		if info.subquery {
			v.e.add(r.CheckPos, "rules are row-local: compare this row's columns only (no subqueries)", "%s: check contains a subquery", rw)
		}
		v.exprRefs(info, en.Columns, r.checkLoc, rw+" check")
	}
	// mappings
	versions := map[string]map[int]*Mapping{}
	for _, mp := range en.Mappings {
		if mp.Source == "" {
			continue
		}
		mw := what + " mapping from " + mp.Source
		src := v.c.sources[mp.Source]
		if src == nil {
			v.e.add(mp.sourcePos, suggest(mp.Source, sortedKeys(v.c.sources), "sources"), "%s: unknown source %q", mw, mp.Source)
		}
		if mp.Version > 0 {
			if versions[mp.Source] == nil {
				versions[mp.Source] = map[int]*Mapping{}
			}
			if prev, ok := versions[mp.Source][mp.Version]; ok {
				v.e.add(mp.versionPos, fmt.Sprintf("bump the version (first declared at %s)", prev.versionPos), "%s: version %d declared twice", mw, mp.Version)
			} else {
				versions[mp.Source][mp.Version] = mp
			}
		}
		if mp.Select != "" {
			v.mappingSelect(mp, en, src, mw)
		}
		if mp.DeleteWhen != "" {
			info, se := parseExpr(mp.DeleteWhen)
			if se != nil {
				v.sqlErr(mp.delLoc, mw+" delete_when", se)
			} else {
				if info.subquery {
					v.e.add(mp.DeleteWhenPos, "compare the mapped row's columns only", "%s: delete_when contains a subquery", mw)
				}
				v.exprRefs(info, en.Columns, mp.delLoc, mw+" delete_when")
			}
		}
	}
	// current versions
	for _, byVer := range versions {
		best := 0
		for ver := range byVer {
			best = max(best, ver)
		}
		byVer[best].Current = true
	}
}

// exprRefs checks that an expression's column references are columns.
func (v *validator) exprRefs(info *exprInfo, cols []*Column, loc sqlLoc, what string) {
	if info.subquery {
		return
	}
	for _, r := range info.colRefs {
		if len(r.fields) != 1 {
			v.e.add(loc.pos(r.loc), "refer to the row's columns by plain name", "%s: qualified reference %s", what, strings.Join(r.fields, "."))
			continue
		}
		if findColumn(cols, r.fields[0]) == nil {
			v.e.add(loc.pos(r.loc), suggest(r.fields[0], columnNames(cols), "columns"), "%s: %q is not a column", what, r.fields[0])
		}
	}
}

func (v *validator) mappingSelect(mp *Mapping, en *Entity, src *Source, mw string) {
	info, se := parseSelect(mp.Select)
	if se != nil {
		v.sqlErr(mp.selLoc, mw+" select", se)
		return
	}
	if info.star {
		v.e.add(mp.selLoc.pos(info.starLoc), "list the entity's columns: "+strings.Join(columnNames(en.Columns), ", "), "%s: SELECT * is not allowed in mappings", mw)
		return
	}
	batchAliases := map[string]bool{}
	for _, r := range info.relations {
		if r.schema == "" && info.ctes[r.name] {
			continue
		}
		if r.schema != "" || r.name != "batch" {
			v.e.add(mp.selLoc.pos(r.loc), "mappings read only the relation batch (this ingest batch of raw."+mp.Source+")", "%s: reads %s", mw, qualified(r.schema, r.name))
			continue
		}
		batchAliases["batch"] = true
		if r.alias != "" {
			batchAliases[r.alias] = true
		}
	}
	// output columns vs entity columns
	var outNames []string
	outSeen := map[string]bool{}
	for _, oc := range info.outputs {
		if !oc.explicit {
			v.e.add(mp.selLoc.pos(oc.loc), "name it with AS <entity column>", "%s: output expression has no column name", mw)
			continue
		}
		if outSeen[oc.name] {
			v.e.add(mp.selLoc.pos(oc.loc), "each entity column must be produced once", "%s: output column %q appears twice", mw, oc.name)
			continue
		}
		outSeen[oc.name] = true
		outNames = append(outNames, oc.name)
		if findColumn(en.Columns, oc.name) == nil {
			v.e.add(mp.selLoc.pos(oc.loc), suggest(oc.name, columnNames(en.Columns), "entity columns")+"; or remove it", "%s: output column %q is not a column of %s", mw, oc.name, en.Name)
		}
	}
	// plain column references and casts must produce the entity column's type family
	for _, oc := range info.outputs {
		ec := findColumn(en.Columns, oc.name)
		if ec == nil || !oc.explicit || ec.Type.Name == "" {
			continue
		}
		var from Type
		var fromWhat string
		switch {
		case oc.cast != "":
			from, _ = ParseType(oc.cast)
			fromWhat = "cast to " + oc.cast
		case src != nil && (len(oc.ref) == 1 || len(oc.ref) == 2 && batchAliases[oc.ref[0]]):
			if sc := findColumn(src.Columns, oc.ref[len(oc.ref)-1]); sc != nil {
				from, fromWhat = sc.Type, "source column "+sc.Name+" ("+sc.Type.String()+")"
			}
		}
		if from.Name == "" || from.Category() == ec.Type.Category() {
			continue
		}
		v.e.add(mp.selLoc.pos(oc.loc), fmt.Sprintf("convert it explicitly, e.g. CAST(… AS %s), or change a column type", ec.Type),
			"%s: %s does not fit entity column %s (%s)", mw, fromWhat, ec.Name, ec.Type)
	}
	var missingKey, missing []string
	for _, col := range en.Columns {
		if outSeen[col.Name] {
			continue
		}
		if contains(en.Key, col.Name) {
			missingKey = append(missingKey, col.Name)
		} else {
			missing = append(missing, col.Name)
		}
	}
	if len(missingKey) > 0 {
		v.e.add(mp.SelectPos, "add them to the select list (… AS "+missingKey[0]+")", "%s: select does not produce key column(s) %s", mw, strings.Join(missingKey, ", "))
	}
	if len(missing) > 0 {
		v.e.add(mp.SelectPos, "add them to the select list (NULL AS "+missing[0]+" if the source lacks it)", "%s: select does not produce column(s) %s", mw, strings.Join(missing, ", "))
	}
	// column references must be batch columns (simple mappings only)
	if src == nil || info.complex || len(src.Columns) == 0 {
		return
	}
	batchCols := append(columnNames(src.Columns), rawSystemColumns...)
	for _, r := range info.colRefs {
		var col string
		switch {
		case len(r.fields) == 1:
			col = r.fields[0]
			if info.names[col] {
				continue
			}
		case len(r.fields) == 2 && batchAliases[r.fields[0]]:
			col = r.fields[1]
		default:
			continue
		}
		if col == "*" || contains(batchCols, col) {
			continue
		}
		v.e.add(mp.selLoc.pos(r.loc), suggest(col, batchCols, "columns of batch"), "%s: %q is not a column of source %s", mw, col, src.Name)
	}
}

func qualified(schema, name string) string {
	if schema == "" {
		return name
	}
	return schema + "." + name
}

func (v *validator) projection(p *Projection) {
	what := "projection " + p.Name
	// affected_by entities exist
	for _, ab := range p.AffectedBy {
		en := v.c.entities[ab.Entity]
		if en == nil {
			v.e.add(ab.Pos, suggest(ab.Entity, sortedKeys(v.c.entities), "entities"), "%s: affected_by names unknown entity %q", what, ab.Entity)
			continue
		}
		if len(en.Columns) == 0 {
			continue
		}
		for i, col := range ab.Columns {
			if findColumn(en.Columns, col) == nil {
				v.e.add(ab.colPos[i], suggest(col, columnNames(en.Columns), "columns of "+en.Name), "%s: affected_by.%s: %q is not a column of %s", what, ab.Entity, col, en.Name)
			}
		}
		if ab.listForm && len(ab.Columns) > 0 && len(p.Key) > 0 && len(ab.Columns) != len(p.Key) {
			v.e.add(ab.Pos, fmt.Sprintf("list %d column(s) of %s giving the key (%s) in order, or \"*\" to recompute everything", len(p.Key), en.Name, strings.Join(p.Key, ", ")),
				"%s: affected_by.%s has %d column(s) but the key has %d", what, ab.Entity, len(ab.Columns), len(p.Key))
		}
	}
	if p.Select == "" {
		return
	}
	info, se := parseSelect(p.Select)
	if se != nil {
		v.sqlErr(p.selLoc, what+" select", se)
		return
	}
	if info.star {
		v.e.add(p.selLoc.pos(info.starLoc), "list the output columns", "%s: SELECT * is not allowed in projections", what)
	}
	aliases := map[string]*Entity{}
	for _, r := range info.relations {
		if r.schema == "" && info.ctes[r.name] {
			continue
		}
		if r.schema != "canonical" {
			hint := "projections read canonical.<entity> only"
			if r.schema == "" && v.c.entities[r.name] != nil {
				hint = "qualify it: canonical." + r.name
			}
			v.e.add(p.selLoc.pos(r.loc), hint, "%s: reads %s", what, qualified(r.schema, r.name))
			continue
		}
		en := v.c.entities[r.name]
		if en == nil {
			v.e.add(p.selLoc.pos(r.loc), suggest(r.name, sortedKeys(v.c.entities), "entities"), "%s: reads unknown entity canonical.%s", what, r.name)
			continue
		}
		if !contains(p.Reads, en.Name) {
			p.Reads = append(p.Reads, en.Name)
		}
		aliases[r.name] = en
		if r.alias != "" {
			aliases[r.alias] = en
		}
	}
	v.derivedTables(p.Select, aliases)
	// outputs
	seen := map[string]bool{}
	for _, oc := range info.outputs {
		if !oc.explicit {
			v.e.add(p.selLoc.pos(oc.loc), "name it with AS <column>", "%s: output expression has no column name", what)
			continue
		}
		if seen[oc.name] {
			v.e.add(p.selLoc.pos(oc.loc), "give each output column its own name", "%s: output column %q appears twice", what, oc.name)
			continue
		}
		seen[oc.name] = true
		col := &Column{Name: oc.name, Pos: p.selLoc.pos(oc.loc)}
		col.Type = v.inferType(oc.val, aliases, 0)
		p.Columns = append(p.Columns, col)
	}
	for i, k := range p.Key {
		if !seen[k] {
			pos := p.Pos
			if i < len(p.keyPos) {
				pos = p.keyPos[i]
			}
			v.e.add(pos, suggest(k, columnNames(p.Columns), "output columns"), "%s: key column %q is not an output column of select", what, k)
		}
	}
	for _, en := range p.Reads {
		found := false
		for _, ab := range p.AffectedBy {
			found = found || ab.Entity == en
		}
		if !found {
			v.e.add(p.Pos, fmt.Sprintf("add affected_by: {%s: <columns giving %s>} (or \"*\")", en, strings.Join(p.Key, ", ")), "%s: reads canonical.%s but affected_by does not name it, so its changes would not reach the projection", what, en)
		}
	}
	for _, ab := range p.AffectedBy {
		if ab.listForm {
			continue
		}
		for i, on := range ab.On {
			if !seen[on] {
				v.e.add(ab.onPos[i], suggest(on, columnNames(p.Columns), "output columns"), "%s: affected_by.%s: %q is not an output column of select", what, ab.Entity, on)
			}
		}
	}
	for _, ab := range p.AffectedBy {
		if v.c.entities[ab.Entity] != nil && !contains(p.Reads, ab.Entity) {
			v.e.add(ab.Pos, "remove it or read canonical."+ab.Entity+" in select", "%s: affected_by names %s, which select does not read", what, ab.Entity)
		}
	}
	v.selectRefs(info, p.selLoc, what, func(schema, name string) ([]string, bool) {
		if schema == "canonical" {
			if en := v.c.entities[name]; en != nil && len(en.Columns) > 0 {
				return columnNames(en.Columns), true
			}
		}
		return nil, false
	})
}

// derivedTables adds the derived tables (subqueries in FROM with an
// alias) of sel's top level to aliases, as entities whose column types are
// inferred from the subquery's outputs, so outer references to them type
// like references to entities.
func (v *validator) derivedTables(sel string, aliases map[string]*Entity) {
	tree, err := pg_query.Parse(sel)
	if err != nil || len(tree.Stmts) != 1 {
		return
	}
	top := tree.Stmts[0].Stmt.GetSelectStmt()
	if top == nil {
		return
	}
	var visit func(n *pg_query.Node)
	visit = func(n *pg_query.Node) {
		switch {
		case n.GetJoinExpr() != nil:
			visit(n.GetJoinExpr().Larg)
			visit(n.GetJoinExpr().Rarg)
		case n.GetRangeSubselect() != nil:
			rs := n.GetRangeSubselect()
			sub := rs.Subquery.GetSelectStmt()
			if sub == nil || rs.Alias == nil {
				return
			}
			inner := map[string]*Entity{}
			for _, f := range sub.FromClause {
				v.rangeVars(f, inner)
			}
			d := &Entity{Name: rs.Alias.Aliasname}
			for _, t := range sub.TargetList {
				rt := t.GetResTarget()
				if rt == nil {
					continue
				}
				name := rt.Name
				if name == "" {
					name = figureColname(rt.Val)
				}
				d.Columns = append(d.Columns, &Column{Name: name, Type: v.inferType(rt.Val, inner, 0)})
			}
			aliases[rs.Alias.Aliasname] = d
		}
	}
	for _, f := range top.FromClause {
		visit(f)
	}
}

// rangeVars adds the canonical entities a FROM item reads to aliases.
func (v *validator) rangeVars(n *pg_query.Node, aliases map[string]*Entity) {
	switch {
	case n.GetJoinExpr() != nil:
		v.rangeVars(n.GetJoinExpr().Larg, aliases)
		v.rangeVars(n.GetJoinExpr().Rarg, aliases)
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		if rv.Schemaname != "canonical" || v.c.entities[rv.Relname] == nil {
			return
		}
		aliases[rv.Relname] = v.c.entities[rv.Relname]
		if rv.Alias != nil {
			aliases[rv.Alias.Aliasname] = v.c.entities[rv.Relname]
		}
	}
}

// numericRank orders the numeric types for arithmetic results.
var numericRank = map[string]int{"smallint": 1, "integer": 2, "bigint": 3, "numeric": 4, "real": 5, "double precision": 6}

func (v *validator) refType(ref []string, aliases map[string]*Entity) Type {
	switch len(ref) {
	case 1:
		var found *Column
		for _, en := range aliases {
			if c := findColumn(en.Columns, ref[0]); c != nil {
				if found != nil && found.Type.String() != c.Type.String() {
					return Type{}
				}
				found = c
			}
		}
		if found != nil {
			return found.Type
		}
	case 2:
		if en := aliases[ref[0]]; en != nil {
			if c := findColumn(en.Columns, ref[1]); c != nil {
				return c.Type
			}
		}
	}
	return Type{}
}

func mustType(name string) Type {
	t, _ := ParseType(name)
	return t
}

// inferType finds the Postgres type of a projection output expression where
// that is easy and certain (column references, casts, common aggregates,
// literals); otherwise it returns the zero Type and the materializer asks the engine.
func (v *validator) inferType(n *pg_query.Node, aliases map[string]*Entity, depth int) Type {
	if n == nil || depth > 20 {
		return Type{}
	}
	switch {
	case n.GetColumnRef() != nil:
		return v.refType(refFields(n.GetColumnRef()), aliases)
	case n.GetTypeCast() != nil:
		t, err := ParseType(typeNameString(n.GetTypeCast().TypeName))
		if err == nil {
			return t
		}
	case n.GetAConst() != nil:
		c := n.GetAConst()
		switch {
		case c.GetIval() != nil:
			return mustType("integer")
		case c.GetSval() != nil:
			return mustType("text")
		case c.GetFval() != nil:
			return mustType("numeric")
		case c.GetBoolval() != nil:
			return mustType("boolean")
		}
	case n.GetFuncCall() != nil:
		fc := n.GetFuncCall()
		name := ""
		if len(fc.Funcname) > 0 {
			name = fc.Funcname[len(fc.Funcname)-1].GetString_().GetSval()
		}
		var arg Type
		if len(fc.Args) > 0 {
			arg = v.inferType(fc.Args[0], aliases, depth+1)
		}
		switch name {
		case "count":
			return mustType("bigint")
		case "sum":
			switch arg.Name {
			case "smallint", "integer":
				return mustType("bigint")
			case "bigint", "numeric":
				return mustType("numeric")
			case "real", "double precision", "interval":
				return arg
			}
		case "avg":
			if arg.Name == "smallint" || arg.Name == "integer" || arg.Name == "bigint" || arg.Name == "numeric" {
				return mustType("numeric")
			}
		case "min", "max", "coalesce":
			return arg
		case "lower", "upper", "trim", "btrim", "concat":
			return mustType("text")
		}
	case n.GetCoalesceExpr() != nil:
		if args := n.GetCoalesceExpr().Args; len(args) > 0 {
			return v.inferType(args[0], aliases, depth+1)
		}
	case n.GetAExpr() != nil:
		// + - * of two numbers: the wider type (integer / integer stays
		// integer in Postgres, but the engine's division differs, so
		// division is left to the engine).
		ae := n.GetAExpr()
		if ae.Kind != pg_query.A_Expr_Kind_AEXPR_OP || len(ae.Name) != 1 || ae.Lexpr == nil {
			break
		}
		switch ae.Name[0].GetString_().GetSval() {
		case "+", "-", "*":
			l, r := v.inferType(ae.Lexpr, aliases, depth+1), v.inferType(ae.Rexpr, aliases, depth+1)
			lr, rr := numericRank[l.Name], numericRank[r.Name]
			if lr == 0 || rr == 0 {
				break
			}
			if lr >= rr {
				return mustType(l.Name)
			}
			return mustType(r.Name)
		}
	case n.GetCaseExpr() != nil:
		for _, w := range n.GetCaseExpr().Args {
			if cw := w.GetCaseWhen(); cw != nil {
				if t := v.inferType(cw.Result, aliases, depth+1); t.Name != "" {
					return t
				}
			}
		}
	case n.GetSubLink() != nil:
		sl := n.GetSubLink()
		if sl.SubLinkType == pg_query.SubLinkType_EXISTS_SUBLINK {
			return mustType("boolean")
		}
		if sel := sl.Subselect.GetSelectStmt(); sel != nil && sl.SubLinkType == pg_query.SubLinkType_EXPR_SUBLINK && len(sel.TargetList) == 1 {
			if rt := sel.TargetList[0].GetResTarget(); rt != nil {
				return v.inferType(rt.Val, aliases, depth+1)
			}
		}
	}
	return Type{}
}

// selectRefs checks qualified column references (alias.column) against the
// columns of the relations they name, and plain references when the
// statement is simple enough to scope them.
func (v *validator) selectRefs(info *selectInfo, loc sqlLoc, what string, cols func(schema, name string) ([]string, bool)) {
	type rel struct {
		cols  []string
		known bool
		name  string
	}
	aliases := map[string]rel{}
	allKnown := true
	var union []string
	for _, r := range info.relations {
		if r.schema == "" && info.ctes[r.name] {
			aliases[r.name] = rel{}
			allKnown = false
			continue
		}
		cs, ok := cols(r.schema, r.name)
		rr := rel{cols: cs, known: ok, name: qualified(r.schema, r.name)}
		if !ok {
			allKnown = false
		}
		union = append(union, cs...)
		aliases[r.name] = rr
		if r.alias != "" {
			aliases[r.alias] = rr
		}
	}
	for _, r := range info.colRefs {
		switch len(r.fields) {
		case 1:
			c := r.fields[0]
			if info.complex || !allKnown || c == "*" || info.names[c] || contains(union, c) {
				continue
			}
			v.e.add(loc.pos(r.loc), suggest(c, union, "columns"), "%s: column %q is not a column of any relation it reads", what, c)
		case 2:
			rr, ok := aliases[r.fields[0]]
			if !ok || !rr.known || r.fields[1] == "*" || contains(rr.cols, r.fields[1]) {
				continue
			}
			v.e.add(loc.pos(r.loc), suggest(r.fields[1], rr.cols, "columns of "+rr.name), "%s: %q is not a column of %s", what, r.fields[1], rr.name)
		}
	}
}

// relationColumns returns the columns of schema.name: exists reports whether
// the relation exists; cols is nil when the catalog does not define them.
func (c *Catalog) relationColumns(schema, name string) (cols []string, exists bool) {
	switch schema {
	case "canonical":
		if en := c.entities[name]; en != nil {
			if len(en.Columns) == 0 {
				return nil, true
			}
			return columnNames(en.Columns), true
		}
	case "history":
		if en := c.entities[name]; en != nil {
			if len(en.Columns) == 0 {
				return nil, true
			}
			return append(columnNames(en.Columns), historySystemColumns...), true
		}
	case "diff":
		if en := c.entities[name]; en != nil {
			if len(en.Columns) == 0 {
				return nil, true
			}
			var out []string
			for _, col := range en.Columns {
				out = append(out, "to_"+col.Name, "from_"+col.Name)
			}
			return append(out, diffSystemColumns...), true
		}
	case "raw":
		if s := c.sources[name]; s != nil {
			if len(s.Columns) == 0 {
				return nil, true
			}
			return append(columnNames(s.Columns), rawSystemColumns...), true
		}
	case "serving":
		if p := c.projections[name]; p != nil {
			if len(p.Columns) == 0 {
				return nil, true // select did not validate
			}
			return columnNames(p.Columns), true
		}
		if st := c.servingTables[name]; st != nil {
			return columnNames(st.Columns), true
		}
	case "catalog":
		for _, vd := range viewDefs {
			if vd.name == name {
				out := make([]string, len(vd.cols))
				for i, col := range vd.cols {
					out[i] = col.Name
				}
				return out, true
			}
		}
	case "dualgate":
		if name == "commits" {
			return commitsColumns, true
		}
		if contains(systemRelations[schema], name) {
			return nil, true
		}
	default:
		if contains(systemRelations[schema], name) {
			return nil, true
		}
	}
	return nil, false
}

// relationNames lists the relations of a schema (for suggestions).
func (c *Catalog) relationNames(schema string) []string {
	switch schema {
	case "canonical", "history", "diff":
		return sortedKeys(c.entities)
	case "raw":
		return sortedKeys(c.sources)
	case "serving":
		return append(sortedKeys(c.projections), sortedKeys(c.servingTables)...)
	}
	return systemRelations[schema]
}

func (v *validator) reconciliation(r *Reconciliation) {
	what := "reconciliation " + r.Name
	side := func(sql string, loc sqlLoc, name string, external bool) (*selectInfo, []string, []string) {
		if sql == "" {
			return nil, nil, nil
		}
		info, se := parseSelect(sql)
		if se != nil {
			v.sqlErr(loc, what+" "+name, se)
			return nil, nil, nil
		}
		if info.star {
			v.e.add(loc.pos(info.starLoc), "list the output columns so both sides can be paired", "%s %s: SELECT * is not allowed", what, name)
		}
		var rels []string
		for _, rr := range info.relations {
			if rr.schema == "" && info.ctes[rr.name] {
				continue
			}
			q := qualified(rr.schema, rr.name)
			if !contains(rels, q) {
				rels = append(rels, q)
			}
			if external {
				continue
			}
			if rr.schema == "" {
				v.e.add(loc.pos(rr.loc), "qualify it with its schema: "+strings.Join(Schemas, ", "), "%s %s: unqualified relation %s", what, name, rr.name)
				continue
			}
			if !contains(Schemas, rr.schema) {
				v.e.add(loc.pos(rr.loc), suggest(rr.schema, Schemas, "schemas")+" (or set right_dsn for an external database)", "%s %s: unknown schema %q", what, name, rr.schema)
				continue
			}
			if _, ok := v.c.relationColumns(rr.schema, rr.name); !ok {
				v.e.add(loc.pos(rr.loc), suggest(rr.name, v.c.relationNames(rr.schema), "relations of "+rr.schema), "%s %s: unknown relation %s", what, name, q)
			}
		}
		var outs []string
		for _, oc := range info.outputs {
			if contains(outs, oc.name) {
				v.e.add(loc.pos(oc.loc), "give each output column its own name (AS …)", "%s %s: output column %q appears twice", what, name, oc.name)
				continue
			}
			outs = append(outs, oc.name)
		}
		if !external {
			v.selectRefs(info, loc, what+" "+name, func(schema, n string) ([]string, bool) {
				cols, ok := v.c.relationColumns(schema, n)
				return cols, ok && cols != nil
			})
		}
		return info, rels, outs
	}
	li, lrels, louts := side(r.Left, r.leftLoc, "left", false)
	ri, rrels, routs := side(r.Right, r.rightLoc, "right", r.RightDSN != "")
	r.LeftRelations, r.RightRelations, r.LeftColumns, r.RightColumns = lrels, rrels, louts, routs
	if len(r.Match) == 0 && (r.Level == LevelRecord || r.Level == LevelState || r.Level == LevelTemporal) {
		v.e.add(r.Pos, "add match: [key columns] to pair left and right rows", "%s: %s reconciliations need match", what, r.Level)
	}
	checkCols := func(list []string, poss []Pos, key string) {
		for i, col := range list {
			if li != nil && !li.star && !contains(louts, col) {
				v.e.add(poss[i], suggest(col, louts, "left output columns"), "%s: %s column %q is not an output column of left", what, key, col)
			}
			if ri != nil && !ri.star && !contains(routs, col) {
				v.e.add(poss[i], suggest(col, routs, "right output columns"), "%s: %s column %q is not an output column of right", what, key, col)
			}
		}
	}
	checkCols(r.Match, r.matchPos, "match")
	checkCols(r.Compare, r.comparePos, "compare")
	for i, col := range r.Compare {
		if contains(r.Match, col) {
			v.e.add(r.comparePos[i], "a column is either paired on (match) or compared", "%s: %q is in both match and compare", what, col)
		}
	}
	if r.Repair == "rebuild" {
		found := false
		for _, rel := range append(append([]string{}, lrels...), rrels...) {
			if strings.HasPrefix(rel, "serving.") && v.c.projections[strings.TrimPrefix(rel, "serving.")] != nil {
				found = true
			}
		}
		if !found && (li != nil || ri != nil) {
			v.e.add(r.Pos, "use repair: replay or none; rebuild re-materializes a projection read by left or right", "%s: repair rebuild but neither side reads a projection", what)
		}
	}
	if r.Repair == "replay" {
		found := false
		for _, rel := range append(append([]string{}, lrels...), rrels...) {
			if strings.HasPrefix(rel, "canonical.") || strings.HasPrefix(rel, "raw.") {
				found = true
			}
		}
		if !found && (li != nil || ri != nil) {
			v.e.add(r.Pos, "use repair: rebuild or none; replay re-runs mappings for raw/canonical data read by a side", "%s: repair replay but neither side reads raw or canonical", what)
		}
	}
}

func (v *validator) policies(pol *Policies) {
	roles := v.c.roleOrder
	checkRoles := func(names []string, poss []Pos, what string) {
		for i, n := range names {
			if _, ok := v.c.roles[n]; !ok {
				v.e.add(poss[i], suggest(n, roles, "roles"), "%s: role %q is not declared in policies.roles", what, n)
			}
		}
	}
	for _, role := range pol.Roles {
		for _, g := range role.Grants {
			v.grant(role.Name, g)
		}
	}
	for _, m := range pol.Masks {
		checkRoles(m.Roles, m.rolePos, "mask "+m.Column)
		if m.Schema == "" {
			continue
		}
		v.columnTarget(m.Schema, m.Relation, m.ColumnName, m.columnPos, "mask")
	}
	for _, rf := range pol.RowFilters {
		checkRoles(rf.Roles, rf.rolePos, "row filter on "+rf.Relation)
		var cols []string
		if rf.Schema != "" {
			if !contains(Schemas, rf.Schema) {
				v.e.add(rf.relPos, suggest(rf.Schema, Schemas, "schemas"), "row filter: unknown schema %q", rf.Schema)
			} else if cs, ok := v.c.relationColumns(rf.Schema, rf.RelName); !ok {
				v.e.add(rf.relPos, suggest(rf.RelName, v.c.relationNames(rf.Schema), "relations of "+rf.Schema), "row filter: unknown relation %s", rf.Relation)
			} else {
				cols = cs
			}
		}
		if rf.Where == "" {
			continue
		}
		info, se := parseExpr(rf.Where)
		if se != nil {
			v.sqlErr(rf.whereLoc, "row filter on "+rf.Relation+" where", se)
			continue
		}
		if cols != nil {
			cc := make([]*Column, len(cols))
			for i, n := range cols {
				cc[i] = &Column{Name: n}
			}
			v.exprRefs(info, cc, rf.whereLoc, "row filter on "+rf.Relation+" where")
		}
	}
	for _, u := range pol.Users {
		checkRoles(u.Roles, u.rolePos, "user "+u.Name)
	}
}

// columnTarget checks schema.relation.column.
func (v *validator) columnTarget(schema, rel, col string, p Pos, what string) bool {
	if !contains(Schemas, schema) {
		v.e.add(p, suggest(schema, Schemas, "schemas"), "%s: unknown schema %q", what, schema)
		return false
	}
	cols, ok := v.c.relationColumns(schema, rel)
	if !ok {
		v.e.add(p, suggest(rel, v.c.relationNames(schema), "relations of "+schema), "%s: unknown relation %s.%s", what, schema, rel)
		return false
	}
	if col != "" && cols != nil && !contains(cols, col) {
		v.e.add(p, suggest(col, cols, "columns of "+schema+"."+rel), "%s: %q is not a column of %s.%s", what, col, schema, rel)
		return false
	}
	return true
}

func (v *validator) grant(role string, g *Grant) {
	what := "role " + role + " grant " + string(g.Privilege)
	if g.On == "" || g.On == "*" || g.Privilege == "" {
		return
	}
	p := g.onPos
	bad := func(hint string) {
		v.e.add(p, hint, "%s: cannot be granted on %s", what, g.On)
	}
	switch g.Privilege {
	case PrivIngest:
		if g.Schema != "raw" || len(g.Columns) > 0 {
			bad("ingest is granted on raw or raw.<source>")
			return
		}
	case PrivCorrect:
		if g.Schema != "canonical" || len(g.Columns) > 0 {
			bad("correct is granted on canonical or canonical.<entity>")
			return
		}
	case PrivWrite:
		if g.Schema != "serving" || len(g.Columns) > 0 {
			bad("write is granted on serving or serving.<serving table>")
			return
		}
		if g.Relation != "" && v.c.projections[g.Relation] != nil {
			bad("projections are written only by the materializer; declare a serving table for client writes")
			return
		}
	case PrivReconcile:
		if g.Schema != "reconcile" || len(g.Columns) > 0 {
			bad("reconcile is granted on reconcile or reconcile.<reconciliation>")
			return
		}
		if g.Relation != "" && v.c.reconciliations[g.Relation] == nil {
			v.e.add(p, suggest(g.Relation, sortedKeys(v.c.reconciliations), "reconciliations"), "%s: unknown reconciliation %q", what, g.Relation)
		}
		return
	case PrivAudit:
		if g.Schema != "dualgate" || (g.Relation != "" && g.Relation != "audit") || len(g.Columns) > 0 {
			bad("audit is granted on dualgate.audit")
		}
		return
	case PrivRead:
		if g.Schema == "dualgate" && g.Relation == "audit" {
			bad("dualgate.audit is read with the audit privilege")
			return
		}
	case PrivAdmin:
	}
	if !contains(Schemas, g.Schema) {
		v.e.add(p, suggest(g.Schema, Schemas, "schemas"), "%s: unknown schema %q", what, g.Schema)
		return
	}
	if g.Relation == "" {
		if len(g.Columns) > 0 {
			v.e.add(g.colPoss[0], "name the relation: on: "+g.Schema+".<relation>, columns: [...]", "%s: columns need a relation, not the whole schema %s", what, g.Schema)
		}
		return
	}
	v.grantColumns(g, what)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortStrings(s []string) { sort.Strings(s) }
