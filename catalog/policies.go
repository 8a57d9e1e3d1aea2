package catalog

import (
	"regexp"
	"strings"

	"github.com/goccy/go-yaml/ast"
	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

var policyKeys = []string{"roles", "masks", "row_filters", "users", "audit"}

var userRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.@-]*$`)

func (d *fileDec) roleList(e kv, what string) ([]string, []Pos) {
	items, _ := d.strList(e.val, what)
	if len(items) == 0 {
		d.e.add(e.kpos, "name at least one role", "%s is empty", what)
	}
	var names []string
	var poss []Pos
	for _, it := range items {
		names = append(names, it.s)
		poss = append(poss, it.p)
	}
	return names, poss
}

func (d *fileDec) decodePolicies(e kv, c *Context) *Policies {
	pol := &Policies{Pos: e.kpos}
	m, ok := d.object(e.val, "policies", policyKeys...)
	if !ok {
		return pol
	}
	if re, ok := m["roles"]; ok {
		ents, _ := d.entries(re.val, "policies.roles", "write roles as name: {grants: [{privilege: read, on: serving}]}")
		for _, r := range ents {
			role := &Role{Name: r.key, Context: c.Name, Pos: r.kpos}
			d.checkName(r.key, r.kpos, "role")
			rm, ok := d.object(r.val, "role "+r.key, "description", "grants")
			if !ok {
				continue
			}
			role.Description = d.desc(rm, "role "+r.key)
			if ge, ok := rm["grants"]; ok {
				nodes, _ := d.seq(ge.val, "role "+r.key+" grants", "write grants as a list: [{privilege: read, on: serving}]")
				for _, gn := range nodes {
					if g := d.decodeGrant(gn, r.key); g != nil {
						role.Grants = append(role.Grants, g)
					}
				}
			}
			pol.Roles = append(pol.Roles, role)
		}
	}
	if me, ok := m["masks"]; ok {
		nodes, _ := d.seq(me.val, "policies.masks", "write masks as a list: [{column: canonical.x.email, role: analyst, method: hash}]")
		for _, n := range nodes {
			what := "mask"
			mk := &Mask{Pos: d.pos(n)}
			mm, ok := d.object(n, what, "column", "role", "method", "description")
			if !ok {
				continue
			}
			var p Pos
			mk.Column, p = d.str(mm, "column", what, true, mk.Pos)
			mk.columnPos = p
			if mk.Column != "" {
				parts := strings.Split(mk.Column, ".")
				if len(parts) != 3 {
					d.e.add(p, "write schema.relation.column, e.g. canonical.commercial_orders.customer_email", "mask column %q is not schema.relation.column", mk.Column)
				} else {
					mk.Schema, mk.Relation, mk.ColumnName = parts[0], parts[1], parts[2]
				}
			}
			if re, ok := mm["role"]; ok {
				mk.Roles, mk.rolePos = d.roleList(re, "mask role")
			} else {
				d.e.add(mk.Pos, "add role: <role> (or a list of roles)", "mask: missing required key \"role\"")
			}
			var mp Pos
			mk.Method, mp = d.str(mm, "method", what, true, mk.Pos)
			if mk.Method != "" && !contains(MaskMethods, mk.Method) {
				d.e.add(mp, suggest(mk.Method, MaskMethods, "methods"), "mask: unknown method %q", mk.Method)
			}
			pol.Masks = append(pol.Masks, mk)
		}
	}
	if fe, ok := m["row_filters"]; ok {
		nodes, _ := d.seq(fe.val, "policies.row_filters", "write row filters as a list: [{relation: canonical.x, role: analyst, where: \"region = 'EU'\"}]")
		for _, n := range nodes {
			what := "row filter"
			rf := &RowFilter{Pos: d.pos(n)}
			fm, ok := d.object(n, what, "relation", "role", "where", "description")
			if !ok {
				continue
			}
			rf.Relation, rf.relPos = d.str(fm, "relation", what, true, rf.Pos)
			if rf.Relation != "" {
				parts := strings.Split(rf.Relation, ".")
				if len(parts) != 2 {
					d.e.add(rf.relPos, "write schema.relation, e.g. canonical.commercial_orders", "row filter relation %q is not schema.relation", rf.Relation)
				} else {
					rf.Schema, rf.RelName = parts[0], parts[1]
				}
			}
			if re, ok := fm["role"]; ok {
				rf.Roles, rf.rolePos = d.roleList(re, "row filter role")
			} else {
				d.e.add(rf.Pos, "add role: <role> (or a list of roles)", "row filter: missing required key \"role\"")
			}
			rf.Where, rf.WherePos = d.str(fm, "where", what, true, rf.Pos)
			rf.Where = strings.TrimRight(rf.Where, " \t\r\n")
			if we, ok := fm["where"]; ok {
				rf.whereLoc = sqlLoc{d, we.val, rf.Where}
			}
			pol.RowFilters = append(pol.RowFilters, rf)
		}
	}
	if ue, ok := m["users"]; ok {
		ents, _ := d.entries(ue.val, "policies.users", "write users as name: [role, …]")
		for _, u := range ents {
			if !userRE.MatchString(u.key) || len(u.key) > 63 {
				d.e.add(u.kpos, "use letters, digits, _ . @ - (at most 63)", "invalid user name %q", u.key)
			}
			usr := &User{Name: u.key, Pos: u.kpos}
			usr.Roles, usr.rolePos = d.roleList(u, "user "+u.key+" roles")
			pol.Users = append(pol.Users, usr)
		}
	}
	if ae, ok := m["audit"]; ok {
		am, ok := d.object(ae.val, "policies.audit", "retention", "legal_hold")
		if ok {
			ap := &AuditPolicy{Pos: ae.kpos}
			ap.Retention, _ = d.duration(am, "retention", "policies.audit")
			if le, ok := am["legal_hold"]; ok {
				ap.LegalHold, _ = d.boolVal(le.val, "policies.audit.legal_hold")
			}
			pol.Audit = ap
		}
	}
	return pol
}

func (d *fileDec) decodeGrant(n ast.Node, role string) *Grant {
	what := "role " + role + " grant"
	g := &Grant{Pos: d.pos(n)}
	m, ok := d.object(n, what, "privilege", "on", "columns")
	if !ok {
		return nil
	}
	pv, pp := d.str(m, "privilege", what, true, g.Pos)
	if pv != "" && !contains(Privileges, pv) {
		d.e.add(pp, suggest(pv, Privileges, "privileges"), "%s: unknown privilege %q", what, pv)
		return nil
	}
	g.Privilege = Privilege(pv)
	_, hasOn := m["on"]
	switch {
	case hasOn:
		g.On, g.onPos = d.str(m, "on", what, true, g.Pos)
	case g.Privilege == PrivAdmin:
		g.On, g.onPos = "*", g.Pos
	case g.Privilege == PrivAudit || g.Privilege == PrivRelayAudit:
		g.On, g.onPos = "dualgate.audit", g.Pos
	default:
		d.e.add(g.Pos, "add on: <schema>, <schema.relation> or <schema.relation.column>", "%s: missing required key \"on\"", what)
	}
	if g.On != "" && g.On != "*" {
		parts := strings.Split(g.On, ".")
		if len(parts) > 3 {
			d.e.add(g.onPos, "write schema, schema.relation or schema.relation.column", "%s: %q has too many parts", what, g.On)
		} else {
			g.Schema = parts[0]
			if len(parts) > 1 {
				g.Relation = parts[1]
			}
			if len(parts) > 2 {
				// The one-column shorthand: on: schema.relation.column.
				g.Columns, g.colPoss = []string{strings.ToLower(parts[2])}, []Pos{g.onPos}
			}
		}
	}
	if ce, ok := m["columns"]; ok {
		items, _ := d.strList(ce.val, what+" columns")
		if len(items) == 0 {
			d.e.add(ce.kpos, "list the columns (columns: [order_id, status]) or remove columns: to grant the whole relation", "%s: columns is empty", what)
		}
		if len(g.Columns) > 0 && len(items) > 0 {
			d.e.add(ce.kpos, "write on: schema.relation with columns: [...], or on: schema.relation.column alone", "%s: on %q already names a column", what, g.On)
			return g
		}
		for _, it := range items {
			g.Columns = append(g.Columns, strings.ToLower(it.s))
			g.colPoss = append(g.colPoss, it.p)
		}
	}
	return g
}

// grantColumns checks the columns of a column grant: only read is
// granted on columns, and each must be a column of the relation (named
// once).
func (v *validator) grantColumns(g *Grant, what string) {
	if len(g.Columns) == 0 {
		v.columnTarget(g.Schema, g.Relation, "", g.onPos, what)
		return
	}
	if g.Privilege != PrivRead {
		v.e.add(g.colPoss[0], "grant read on the columns, or "+string(g.Privilege)+" on the whole relation", "%s: only read can be granted on columns", what)
		return
	}
	seen := map[string]bool{}
	for i, c := range g.Columns {
		if seen[c] {
			v.e.add(g.colPoss[i], "name each column once", "%s: column %q is named twice", what, c)
			continue
		}
		seen[c] = true
		if !v.columnTarget(g.Schema, g.Relation, c, g.colPoss[i], what) {
			return // unknown schema or relation: said once
		}
	}
}

// ColumnFeeds returns, by source name, the source columns whose values an
// entity column is copied or computed from, through any version of the
// entity's mappings: the column references of the mapping output of that
// name (or the same-named column under SELECT *). A mapping whose SELECT
// cannot be analyzed feeds the column from every column of its source,
// listed as "*". Names are lower-case; used to make masks follow masked
// values into raw.<source> and quarantine payloads.
func (c *Catalog) ColumnFeeds(entity, column string) map[string][]string {
	en := c.entities[entity]
	if en == nil {
		return nil
	}
	column = strings.ToLower(column)
	out := map[string][]string{}
	add := func(src, col string) {
		col = strings.ToLower(col)
		if !contains(out[src], col) {
			out[src] = append(out[src], col)
		}
	}
	for _, m := range en.Mappings {
		info, err := parseSelect(m.Select)
		if err != nil {
			add(m.Source, "*")
			continue
		}
		found := false
		for _, oc := range info.outputs {
			if !strings.EqualFold(oc.name, column) {
				continue
			}
			found = true
			if oc.val == nil {
				add(m.Source, "*")
				continue
			}
			walkProto(oc.val.ProtoReflect(), func(pm protoreflect.Message) {
				if cr, ok := pm.Interface().(*pg_query.ColumnRef); ok {
					if f := refFields(cr); len(f) > 0 {
						add(m.Source, f[len(f)-1])
					}
				}
			})
		}
		if !found && info.star {
			add(m.Source, column)
		}
	}
	return out
}

// SelectReads returns the columns a SELECT may take values from, by
// lower-case schema.relation: a qualified reference counts for its
// relation (by alias or name), an unqualified one for every relation of
// the statement, and a star for all columns ("*"). ok is false when sql
// is not one SELECT; callers then treat every value it yields as coming
// from anywhere.
func SelectReads(sql string) (reads map[string][]string, ok bool) {
	info, err := parseSelect(sql)
	if err != nil {
		return nil, false
	}
	reads = map[string][]string{}
	byName := map[string]string{}
	var all []string
	for _, r := range info.relations {
		if r.schema == "" {
			continue // a CTE or the batch: its own columns come from the relations above
		}
		full := strings.ToLower(r.schema + "." + r.name)
		all = append(all, full)
		byName[strings.ToLower(r.name)] = full
		byName[full] = full
		if r.alias != "" {
			byName[strings.ToLower(r.alias)] = full
		}
		reads[full] = nil
	}
	add := func(rel, col string) {
		if !contains(reads[rel], col) {
			reads[rel] = append(reads[rel], col)
		}
	}
	if info.star {
		for _, rel := range all {
			add(rel, "*")
		}
	}
	for _, cr := range info.colRefs {
		if len(cr.fields) == 0 {
			continue
		}
		col := strings.ToLower(cr.fields[len(cr.fields)-1])
		if len(cr.fields) >= 2 {
			if rel, ok := byName[strings.ToLower(strings.Join(cr.fields[:len(cr.fields)-1], "."))]; ok {
				add(rel, col)
				continue
			}
		}
		for _, rel := range all {
			add(rel, col)
		}
	}
	return reads, true
}

// ProjectionFeeds returns, for each output column of a projection
// (lower-case), the columns of the relations its value is read from, by
// lower-case schema.relation: the column references of that output's
// expression (subqueries included), a qualified one for its relation and an
// unqualified one for every relation of the SELECT; an output taken from
// `*` reads the same-named column of every relation. ok is false when the
// SELECT cannot be analyzed; callers then treat every output as reading
// every column ("*") of every relation. Used to make masks follow masked
// entity columns into serving projections.
func (c *Catalog) ProjectionFeeds(projection string) (feeds map[string]map[string][]string, ok bool) {
	p := c.projections[projection]
	if p == nil {
		return nil, false
	}
	info, err := parseSelect(p.Select)
	if err != nil {
		return nil, false
	}
	byName := map[string]string{}
	var all []string
	for _, r := range info.relations {
		if r.schema == "" {
			continue
		}
		full := strings.ToLower(r.schema + "." + r.name)
		if !contains(all, full) {
			all = append(all, full)
		}
		byName[strings.ToLower(r.name)] = full
		byName[full] = full
		if r.alias != "" {
			byName[strings.ToLower(r.alias)] = full
		}
	}
	feeds = map[string]map[string][]string{}
	add := func(out, rel, col string) {
		if feeds[out] == nil {
			feeds[out] = map[string][]string{}
		}
		if !contains(feeds[out][rel], col) {
			feeds[out][rel] = append(feeds[out][rel], col)
		}
	}
	seen := map[string]bool{}
	for _, oc := range info.outputs {
		out := strings.ToLower(oc.name)
		seen[out] = true
		if oc.val == nil {
			for _, rel := range all {
				add(out, rel, out)
			}
			continue
		}
		walkProto(oc.val.ProtoReflect(), func(pm protoreflect.Message) {
			cr, isRef := pm.Interface().(*pg_query.ColumnRef)
			if !isRef {
				return
			}
			f := refFields(cr)
			if len(f) == 0 {
				return
			}
			col := strings.ToLower(f[len(f)-1])
			if len(f) >= 2 {
				if rel, found := byName[strings.ToLower(strings.Join(f[:len(f)-1], "."))]; found {
					add(out, rel, col)
					return
				}
			}
			for _, rel := range all {
				add(out, rel, col)
			}
		})
	}
	if info.star {
		for _, pc := range p.Columns {
			if out := strings.ToLower(pc.Name); !seen[out] {
				for _, rel := range all {
					add(out, rel, out)
				}
			}
		}
	}
	return feeds, true
}
