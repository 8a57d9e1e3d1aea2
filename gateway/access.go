package gateway

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway/dialect"
	"github.com/dualgate/dualgate/gateway/pgerror"
)

// Access control: the catalog's `policies` enforced on every statement.
//
// Who a session is: the user name of the startup packet (authenticated by
// SCRAM against the users file, which holds only verifiers) and the roles
// the catalog's `policies.users` gives that name; a user's privileges are
// the union of their roles' grants.
//
// When nothing is enforced: a catalog without `policies.roles` (and a
// server without a catalog) allows everything, as before policies existed.
// Under --trust (loopback only) a name the policies do not map is the
// local operator and is not restricted, since trust authenticates no one
// and anyone on the loopback could claim an admin's name anyway; a mapped
// name gets exactly its roles, which is how the demo shows them (psql -U
// alice). With SCRAM, a user without roles has no privileges at all.
//
// What each statement needs, checked from the parsed statement's relations
// before anything runs (denial: 42501 naming the relation and the missing
// privilege, and nothing is read or written):
//   - reading a relation (SELECT, COPY TO, the sources of INSERT ... SELECT,
//     UPDATE/DELETE ... FROM/USING): read on it or its schema. pg_catalog,
//     information_schema and dualgate.last_result are open to everyone;
//     dualgate.audit needs the audit privilege (read on dualgate does not
//     cover it, and neither does admin: auditors watch admins).
//   - INSERT/UPDATE/DELETE/COPY FROM into raw.<source>: ingest; into
//     canonical.<entity>: correct; into serving.<table>: write; anything
//     else (dualgate.*, reconcile.*, catalog.*, scratch tables): admin.
//     A relation with columns masked for the session cannot be written by
//     it (an UPDATE could write masked values back).
//   - DDL (CREATE, ALTER, DROP, TRUNCATE, CREATE TABLE AS): admin. The public
//     scratch schema is admin-only for reads too: a view there could expose
//     what its reader may not see.
//   - CALL reconcile.run(rule): reconcile on reconcile or reconcile.<rule>;
//     reconcile.ack/resolve: reconcile on reconcile; dualgate.verify: admin
//     or audit; dualgate.verify_audit: audit; dualgate.relay_audit (a
//     sidecar's records): relay_audit; other procedures: admin.
//   - admin (on "*") is every privilege except audit and relay_audit.
//
// Column grants (read on some columns of a relation, access_columns.go):
// a relation no role of the user reads whole is readable through its
// granted columns only. The statement is bound by the engine before it
// runs and every column it touches (select list, WHERE, JOIN, GROUP BY,
// ORDER BY, `*` expansion, subqueries, COPY TO) must be granted; the
// denial names the relation, the column and the read privilege. A column
// grant on canonical.<entity> also limits history.<entity> and
// diff.<entity> (same columns, plus their version columns) for a role
// that reads those schemas whole: they carry the same values.
//
// Masks and row filters are resolved here per user (principal) and applied
// where relations are read (masking.go, rowfilter.go).

// Access is the enforced form of a catalog's policies. A nil *Access
// allows everything.
type Access struct {
	cat *catalog.Catalog
	// masks: lower-case "schema.relation" -> column -> role -> method.
	masks   map[string]map[string]map[string]string
	hashKey []byte
	// lineage parsed once for masks on copies (access_copies.go).
	feeds     map[string]map[string][]string // "entity.column" -> source -> fields
	ruleReads map[string][]sideReads         // rule -> what its sides read
	projReads map[string]sideReads           // projection -> output column -> relation -> columns read
}

// NewAccess builds the access policy of cat; it returns nil (everything
// allowed) when the catalog declares no roles. hashKey keys the `hash`
// masking method (HMAC-SHA-256), so masked values join across sessions and
// restarts without being a plain, dictionary-attackable SHA-256 of the
// value; nil means a fixed, documented key.
func NewAccess(cat *catalog.Catalog, hashKey []byte) *Access {
	if cat == nil || len(cat.Roles()) == 0 {
		return nil
	}
	a := &Access{cat: cat, masks: map[string]map[string]map[string]string{}, hashKey: hashKey}
	if a.hashKey == nil {
		a.hashKey = []byte("dualgate mask")
	}
	add := func(rel, col, role, method string) {
		rel, col = strings.ToLower(rel), strings.ToLower(col)
		if a.masks[rel] == nil {
			a.masks[rel] = map[string]map[string]string{}
		}
		if a.masks[rel][col] == nil {
			a.masks[rel][col] = map[string]string{}
		}
		a.masks[rel][col][role] = method
	}
	a.lineage()
	for _, m := range cat.Masks() {
		for _, role := range m.Roles {
			add(m.Schema+"."+m.Relation, m.ColumnName, role, m.Method)
			if m.Schema == "canonical" {
				// An entity's history and diff carry the same values.
				add("history."+m.Relation, m.ColumnName, role, m.Method)
				add("diff."+m.Relation, "to_"+m.ColumnName, role, m.Method)
				add("diff."+m.Relation, "from_"+m.ColumnName, role, m.Method)
			}
		}
	}
	return a
}

// principal is who a session is, for access checks and masking.
type principal struct {
	user  string
	roles []string
	// all: nothing is enforced (no policies, or an unmapped trust user).
	all    bool
	grants []*catalog.Grant
	// masks: lower-case "schema.relation" -> lower-case column -> method.
	masks   map[string]map[string]string
	hashKey []byte
	// filters: lower-case "schema.relation" -> Postgres condition on the
	// rows it may see (rowfilter.go).
	filters map[string]string
	// copyFilters: the filters following copies of filtered canonical rows
	// (access_rowcopies.go), by the same key.
	copyFilters map[string]string
	// cols: lower-case "schema.relation" -> the lower-case columns the
	// user may read, for relations no role of the user reads whole
	// (access_columns.go).
	cols map[string]map[string]bool
	// copies: masks that follow masked values into copies of them
	// (raw.<source> fields, quarantine payloads, reconcile exceptions;
	// masking_copies.go). Not counted by hasMasks: raw stays appendable.
	copies *copyMasks
	// colCheck caches column checks by search path and statement.
	colCheck colCheckCache
}

// roleNames is the role column of the audit trail.
func (p *principal) roleNames() string {
	if p == nil || (p.all && len(p.roles) == 0) {
		return ""
	}
	return strings.Join(p.roles, ",")
}

// principal resolves a user's roles, grants and masks. trust says the
// server runs with trust authentication.
func (a *Access) principal(user string, trust bool) *principal {
	if a == nil {
		return &principal{user: user, all: true}
	}
	p := &principal{user: user, roles: a.cat.UserRoles(user), hashKey: a.hashKey}
	if len(p.roles) == 0 {
		p.all = trust
		return p
	}
	for _, r := range p.roles {
		p.grants = append(p.grants, a.cat.Grants(r)...)
	}
	// A serving table's `writers` is shorthand for write grants on it.
	for _, st := range a.cat.ServingTables() {
		for _, w := range st.Writers {
			for _, r := range p.roles {
				if r == w {
					p.grants = append(p.grants, &catalog.Grant{Privilege: catalog.PrivWrite, On: st.Relation(), Schema: "serving", Relation: st.Name})
				}
			}
		}
	}
	// A column is masked unless one of the user's roles reads its relation
	// without a mask on it; among the masks of the user's roles, the most
	// revealing applies (privileges are a union).
	for rel, cols := range a.masks {
		schema, name, _ := strings.Cut(rel, ".")
		for col, byRole := range cols {
			method, clear := "", false
			for _, r := range p.roles {
				m, masked := byRole[r]
				if !masked {
					if roleCan(a.cat.Grants(r), catalog.PrivRead, schema, name) {
						clear = true
						break
					}
					continue
				}
				if method == "" || maskRank[m] > maskRank[method] {
					method = m
				}
			}
			if clear || method == "" {
				continue
			}
			if p.masks == nil {
				p.masks = map[string]map[string]string{}
			}
			if p.masks[rel] == nil {
				p.masks[rel] = map[string]string{}
			}
			p.masks[rel][col] = method
		}
	}
	a.projectionMasks(p)
	p.cols = a.columnGrants(p.roles)
	p.copies = a.copyMasks(p)
	// Row filters, by the same rule: a role that reads the relation
	// without a filter lifts it; several roles' filters are ORed.
	byRel := map[string]map[string][]string{}
	for _, rf := range a.cat.RowFilters() {
		rel := strings.ToLower(rf.Schema + "." + rf.RelName)
		if byRel[rel] == nil {
			byRel[rel] = map[string][]string{}
		}
		for _, r := range rf.Roles {
			byRel[rel][r] = append(byRel[rel][r], rf.Where)
		}
	}
	for rel, byRole := range byRel {
		schema, name, _ := strings.Cut(rel, ".")
		var ws []string
		clear := false
		for _, r := range p.roles {
			if f, ok := byRole[r]; ok {
				ws = append(ws, f...)
			} else if roleCan(a.cat.Grants(r), catalog.PrivRead, schema, name) {
				clear = true
			}
		}
		if clear || len(ws) == 0 {
			continue
		}
		if p.filters == nil {
			p.filters = map[string]string{}
		}
		p.filters[rel] = orFilters(ws)
		if schema == "canonical" {
			p.filters["history."+name] = p.filters[rel]
		}
	}
	p.copyFilters = a.copyFilters(p)
	return p
}

// maskRank orders masking methods from least to most revealing.
var maskRank = map[string]int{"null": 1, "redact": 2, "hash": 3, "last4": 4}

// can says whether the principal holds priv on schema.relation (relation
// "" asks about the schema as a whole).
func (p *principal) can(priv catalog.Privilege, schema, rel string) bool {
	if p == nil || p.all {
		return true
	}
	return roleCan(p.grants, priv, schema, rel)
}

func roleCan(grants []*catalog.Grant, priv catalog.Privilege, schema, rel string) bool {
	schema, rel = strings.ToLower(schema), strings.ToLower(rel)
	for _, g := range grants {
		if len(g.Columns) > 0 {
			continue
		}
		if g.Privilege == catalog.PrivAdmin && priv != catalog.PrivAudit && priv != catalog.PrivRelayAudit {
			if g.On == "*" || (strings.EqualFold(g.Schema, schema) && (g.Relation == "" || strings.EqualFold(g.Relation, rel))) {
				return true
			}
			continue
		}
		if g.Privilege != priv {
			continue
		}
		if g.On == "*" {
			return true
		}
		if !strings.EqualFold(g.Schema, schema) {
			continue
		}
		if g.Relation == "" || strings.EqualFold(g.Relation, rel) {
			return true
		}
	}
	return false
}

// hasMasks says whether any column of schema.rel is masked for p, or
// its rows are filtered.
func (p *principal) hasMasks(schema, rel string) bool {
	key := strings.ToLower(schema + "." + rel)
	return p != nil && (len(p.masks[key]) > 0 || p.filters[key] != "")
}

// openRelation: relations every session may read.
func openRelation(schema, rel string) bool {
	switch strings.ToLower(schema) {
	case "pg_catalog", "information_schema":
		return true
	case "dualgate":
		return strings.EqualFold(rel, "last_result")
	}
	return false
}

// readPrivilege is the privilege reading schema.rel needs.
func readPrivilege(schema, rel string) catalog.Privilege {
	if strings.EqualFold(schema, "dualgate") && strings.EqualFold(rel, "audit") {
		return catalog.PrivAudit
	}
	return catalog.PrivRead
}

// writePrivilege is the privilege INSERT/UPDATE/DELETE/COPY FROM into a
// relation of schema needs.
func writePrivilege(schema string) catalog.Privilege {
	switch strings.ToLower(schema) {
	case "raw":
		return catalog.PrivIngest
	case "canonical":
		return catalog.PrivCorrect
	case "serving":
		return catalog.PrivWrite
	}
	return catalog.PrivAdmin
}

// canRead applies the read rule to one relation.
func (p *principal) canRead(schema, rel string) bool {
	if p == nil || p.all || openRelation(schema, rel) {
		return true
	}
	if strings.EqualFold(schema, "public") {
		return p.can(catalog.PrivAdmin, "*", "")
	}
	return p.can(readPrivilege(schema, rel), schema, rel)
}

// canWrite applies the write rule to one relation (masks aside).
func (p *principal) canWrite(schema, rel string) bool {
	if p == nil || p.all {
		return true
	}
	return p.can(writePrivilege(schema), schema, rel)
}

// denied is the 42501 error for a relation.
func (p *principal) denied(kind, name string, priv catalog.Privilege) *pgerror.Error {
	who := fmt.Sprintf("user %q has no roles", p.user)
	if len(p.roles) > 0 {
		who = fmt.Sprintf("user %q (roles %s) lacks it", p.user, strings.Join(p.roles, ", "))
	}
	return pgerror.New(pgerror.InsufficientPrivilege, "permission denied for %s %s: %s privilege required, %s", kind, name, priv, who).
		WithHint("grant {privilege: %s, on: %s} to one of the user's roles in the catalog's policies", priv, name)
}

// authorize checks a statement against the session's privileges before
// it runs (see the rules above).
func (s *session) authorize(st *dialect.Statement) error {
	p := s.acl
	if p == nil || p.all {
		return nil
	}
	qualify := func(r dialect.Relation) (string, string) {
		schema := strings.ToLower(r.Schema)
		if schema == "" {
			schema = strings.ToLower(s.currentSchema())
		}
		return schema, strings.ToLower(r.Name)
	}
	limited := false // some relation is readable through column grants only
	checkReads := func(rels []dialect.Relation) error {
		for _, r := range rels {
			schema, name := qualify(r)
			if schema == "diff" && p.filters["canonical."+name] != "" {
				return pgerror.New(pgerror.InsufficientPrivilege, "permission denied for relation diff.%s: rows of canonical.%s are filtered for user %q, and diff rows cannot be", name, name, p.user).
					WithHint("read history.%s, which the row filter applies to", name)
			}
			if p.limitedColumns(schema, name) != nil {
				limited = true
				continue
			}
			if !p.canRead(schema, name) {
				priv := readPrivilege(schema, name)
				if schema == "public" {
					priv = catalog.PrivAdmin
				}
				return p.denied("relation", schema+"."+name, priv)
			}
		}
		return nil
	}
	checkWrite := func(r dialect.Relation) error {
		schema, name := qualify(r)
		if !p.canWrite(schema, name) {
			return p.denied("relation", schema+"."+name, writePrivilege(schema))
		}
		if p.hasMasks(schema, name) {
			return pgerror.New(pgerror.InsufficientPrivilege, "permission denied for relation %s: it has columns masked or rows filtered for user %q, who therefore cannot write it", schema+"."+name, p.user).
				WithHint("a steward role without masks on this relation can correct it")
		}
		return nil
	}
	switch st.Kind {
	case dialect.KindQuery, dialect.KindCopyTo:
		if err := checkReads(st.Relations); err != nil {
			return err
		}
		if limited {
			return s.checkColumns(st)
		}
		return nil
	case dialect.KindCopyFrom:
		if err := checkWrite(st.Copy.Table); err != nil {
			return err
		}
		return nil
	case dialect.KindExec:
		switch st.Tag {
		case "INSERT", "UPDATE", "DELETE":
			// The dialect records the target first (it prints it first).
			if len(st.Relations) == 0 {
				return nil
			}
			if err := checkWrite(st.Relations[0]); err != nil {
				return err
			}
			if schema, name := qualify(st.Relations[0]); p.limitedColumns(schema, name) != nil {
				// WHERE/SET/RETURNING of a column-limited target name only
				// granted columns (a WHERE could probe the others).
				limited = true
			}
			if err := checkReads(st.Relations[1:]); err != nil {
				return err
			}
			if limited {
				return s.checkColumns(st)
			}
			return nil
		}
		if !p.can(catalog.PrivAdmin, "*", "") {
			return pgerror.New(pgerror.InsufficientPrivilege, "permission denied for %s: admin privilege required, user %q lacks it", st.Tag, p.user).
				WithHint("DDL is for roles with {privilege: admin}; data of record enters through raw.<source>")
		}
		return nil
	case dialect.KindCall:
		return p.authorizeCall(st.Call)
	}
	return nil
}

// authorizeCall applies the procedure rules.
func (p *principal) authorizeCall(c *dialect.Call) error {
	schema, name := strings.ToLower(c.Schema), strings.ToLower(c.Name)
	full := schema + "." + name
	ok := false
	need := catalog.PrivAdmin
	switch {
	case schema == "reconcile":
		need = catalog.PrivReconcile
		ok = p.can(catalog.PrivReconcile, "reconcile", "")
		if !ok && name == "run" && len(c.Args) == 1 {
			if rule, lit := stringLiteral(c.Args[0]); lit {
				ok = p.can(catalog.PrivReconcile, "reconcile", rule)
			}
		}
	case full == "dualgate.verify":
		ok = p.can(catalog.PrivAdmin, "*", "") || p.can(catalog.PrivAudit, "dualgate", "audit")
	case full == "dualgate.verify_audit":
		need = catalog.PrivAudit
		ok = p.can(catalog.PrivAudit, "dualgate", "audit")
	case full == "dualgate.relay_audit":
		need = catalog.PrivRelayAudit
		ok = p.can(catalog.PrivRelayAudit, "dualgate", "audit")
	default:
		ok = p.can(catalog.PrivAdmin, schema, "")
	}
	if ok {
		return nil
	}
	return p.denied("procedure", full, need)
}

// stringLiteral unquotes an engine string literal ('x').
func stringLiteral(e string) (string, bool) {
	e = strings.TrimSpace(e)
	if len(e) < 2 || e[0] != '\'' || e[len(e)-1] != '\'' {
		return "", false
	}
	return strings.ReplaceAll(e[1:len(e)-1], "''", "'"), true
}

// tablePrivilege answers has_table_privilege for user on schema.table:
// privileges are Postgres names (SELECT, INSERT, UPDATE, DELETE, TRUNCATE,
// REFERENCES, TRIGGER), possibly comma-separated, true if any is held.
func tablePrivilege(p *principal, schema, table, privs string) bool {
	for _, priv := range strings.Split(privs, ",") {
		priv = strings.ToUpper(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.ToUpper(priv)), "WITH GRANT OPTION")))
		var ok bool
		switch priv {
		case "SELECT":
			ok = p.canRead(schema, table) && p.limitedColumns(schema, table) == nil
		case "INSERT", "UPDATE", "DELETE":
			ok = p.canWrite(schema, table) && !p.hasMasks(schema, table)
			if ok && strings.EqualFold(schema, "raw") && priv != "INSERT" {
				ok = p.all // raw is append-only
			}
		default:
			ok = p.all || p.can(catalog.PrivAdmin, "*", "")
		}
		if ok {
			return true
		}
	}
	return false
}

// columnPrivilege answers has_column_privilege: SELECT on a column of a
// column-limited relation is held when the column is granted; otherwise,
// and for the other privileges, the table's privilege answers (a masked
// column is readable, masked).
func columnPrivilege(p *principal, schema, table, column, privs string) bool {
	cols := p.limitedColumns(schema, table)
	for _, priv := range strings.Split(privs, ",") {
		priv = strings.ToUpper(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.ToUpper(priv)), "WITH GRANT OPTION")))
		if priv == "SELECT" && cols != nil {
			if cols[strings.ToLower(column)] {
				return true
			}
			continue
		}
		if tablePrivilege(p, schema, table, priv) {
			return true
		}
	}
	return false
}

// schemaPrivilege answers has_schema_privilege: USAGE when any grant
// reaches into the schema, CREATE for admins.
func schemaPrivilege(p *principal, schema, privs string) bool {
	schema = strings.ToLower(schema)
	for _, priv := range strings.Split(privs, ",") {
		priv = strings.ToUpper(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.ToUpper(priv)), "WITH GRANT OPTION")))
		switch priv {
		case "USAGE":
			if p.all || schema == "pg_catalog" || schema == "information_schema" || schema == "dualgate" || p.can(catalog.PrivAdmin, "*", "") {
				return true
			}
			for _, g := range p.grants {
				if g.On == "*" || strings.EqualFold(g.Schema, schema) {
					return true
				}
			}
		case "CREATE":
			if p.all || p.can(catalog.PrivAdmin, "*", "") {
				return true
			}
		}
	}
	return false
}

// String describes a principal for logs and diagnostics.
func (p *principal) String() string {
	if p.all {
		return p.user + " (unrestricted)"
	}
	var on []string
	for _, g := range p.grants {
		on = append(on, string(g.Privilege)+" "+g.On)
	}
	sort.Strings(on)
	return fmt.Sprintf("%s (roles %s: %s)", p.user, strings.Join(p.roles, ", "), strings.Join(on, "; "))
}

// sessionPrincipal is the principal of ctx's session, or of user when
// user is set and differs (has_table_privilege('name', ...)).
func (c *catalogSource) sessionPrincipal(ctx *sql.Context, user string) *principal {
	srv := c.server()
	if srv == nil {
		return nil
	}
	sess := srv.sessionOf(ctx)
	if sess != nil && (user == "" || user == sess.c.user) {
		return sess.acl
	}
	if user == "" {
		return nil
	}
	return srv.cfg.Access.principal(user, srv.cfg.Trust)
}

// TablePrivilege implements pgcatalog.Privileges.
func (c *catalogSource) TablePrivilege(ctx *sql.Context, user, schema, table, privilege string) (bool, error) {
	p := c.sessionPrincipal(ctx, user)
	if p == nil {
		return true, nil
	}
	return tablePrivilege(p, schema, table, privilege), nil
}

// SchemaPrivilege implements pgcatalog.Privileges.
func (c *catalogSource) SchemaPrivilege(ctx *sql.Context, user, schema, privilege string) (bool, error) {
	p := c.sessionPrincipal(ctx, user)
	if p == nil {
		return true, nil
	}
	return schemaPrivilege(p, schema, privilege), nil
}

// ColumnPrivilege implements pgcatalog.ColumnPrivileges.
func (c *catalogSource) ColumnPrivilege(ctx *sql.Context, user, schema, table, column, privilege string) (bool, error) {
	p := c.sessionPrincipal(ctx, user)
	if p == nil {
		return true, nil
	}
	return columnPrivilege(p, schema, table, column, privilege), nil
}
