package catalog

import (
	"github.com/goccy/go-yaml/ast"
	"regexp"
	"strings"
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
	m, ok := d.object(n, what, "privilege", "on")
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
	case g.Privilege == PrivAudit:
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
				g.Column = parts[2]
			}
		}
	}
	return g
}
