package gateway

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/planbuilder"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway/dialect"
	"github.com/dualgate/dualgate/gateway/pgerror"
)

// Column grants: `{privilege: read, on: schema.relation, columns: [a, b]}`
// (or the shorthand on: schema.relation.column).
//
// A relation that no role of the user reads whole, but some role reads
// through column grants, is "column-limited" for the user: its readable
// columns are the union of those grants. A statement reading a
// column-limited relation is bound by the engine (names resolved, `*`
// expanded, nothing run) before it runs, and every column reference of a
// limited relation anywhere in the plan -- select list, WHERE, JOIN
// conditions and USING, GROUP BY, HAVING, ORDER BY, window clauses,
// subqueries, the sources of INSERT ... SELECT -- must name a granted
// column; COPY table TO needs every column it copies. Otherwise: 42501
// naming the relation, the column and the read privilege. INSERT, UPDATE
// and DELETE into a column-limited relation (with the write privilege)
// are checked the same way: every column they name, SET targets
// included, must be granted for reading (a WHERE could otherwise probe
// the others). A statement
// that references no column of the relation (count(*)) is allowed: the
// user may read some of it, as in Postgres. The fast path runs after this
// check, so it is no way around it.
//
// history.<entity> and diff.<entity> carry canonical.<entity>'s values:
// a role whose read of canonical.<entity> is limited to some columns
// reads history.<entity> (and diff.<entity>) limited to the same columns
// (to_<col>/from_<col> in diff) plus their version columns, even where it
// is granted the history or diff schema whole.

// columnGrants resolves the column-limited relations of a user with roles.
func (a *Access) columnGrants(roles []string) map[string]map[string]bool {
	// Every relation some role names columns of, plus history/diff of
	// limited canonical entities.
	rels := map[string]bool{}
	for _, r := range roles {
		for _, g := range a.cat.Grants(r) {
			if g.Privilege != catalog.PrivRead || len(g.Columns) == 0 || g.Relation == "" {
				continue
			}
			schema, rel := strings.ToLower(g.Schema), strings.ToLower(g.Relation)
			rels[schema+"."+rel] = true
			if schema == "canonical" {
				rels["history."+rel], rels["diff."+rel] = true, true
			}
		}
	}
	var out map[string]map[string]bool
	for key := range rels {
		schema, rel, _ := strings.Cut(key, ".")
		full, cols := false, map[string]bool{}
		for _, r := range roles {
			f, c := a.roleColumns(a.cat.Grants(r), schema, rel)
			if f {
				full = true
				break
			}
			for col := range c {
				cols[col] = true
			}
		}
		if full || len(cols) == 0 {
			continue // read whole by some role, or not at all (denied as before)
		}
		if out == nil {
			out = map[string]map[string]bool{}
		}
		out[key] = cols
	}
	return out
}

// roleColumns says how one role's grants read schema.rel: whole (full),
// or through the columns cols (nil: not at all).
func (a *Access) roleColumns(grants []*catalog.Grant, schema, rel string) (full bool, cols map[string]bool) {
	add := func(c string) {
		if cols == nil {
			cols = map[string]bool{}
		}
		cols[strings.ToLower(c)] = true
	}
	colsOf := func(schema string) map[string]bool {
		var m map[string]bool
		for _, g := range grants {
			if g.Privilege == catalog.PrivRead && len(g.Columns) > 0 && strings.EqualFold(g.Schema, schema) && strings.EqualFold(g.Relation, rel) {
				if m == nil {
					m = map[string]bool{}
				}
				for _, c := range g.Columns {
					m[strings.ToLower(c)] = true
				}
			}
		}
		return m
	}
	full = roleCan(grants, catalog.PrivRead, schema, rel)
	for c := range colsOf(schema) {
		add(c)
	}
	if (schema != "history" && schema != "diff") || !full {
		return full, cols
	}
	// A whole read of history/diff is limited by a column-limited read of
	// the canonical entity.
	canon := colsOf("canonical")
	if len(canon) == 0 || roleCan(grants, catalog.PrivRead, "canonical", rel) {
		return full, cols
	}
	entityCols, _ := a.cat.RelationColumns("canonical", rel)
	isEntity := map[string]bool{}
	for _, c := range entityCols {
		isEntity[strings.ToLower(c)] = true
	}
	relCols, _ := a.cat.RelationColumns(schema, rel)
	for _, c := range relCols {
		c = strings.ToLower(c)
		switch {
		case schema == "history" && isEntity[c]:
			if canon[c] {
				add(c)
			}
		case schema == "diff" && (strings.HasPrefix(c, "to_") && isEntity[c[3:]] || strings.HasPrefix(c, "from_") && isEntity[c[5:]]):
			if _, base, _ := strings.Cut(c, "_"); canon[base] {
				add(c)
			}
		default:
			add(c) // version columns
		}
	}
	return false, cols
}

// limitedColumns returns the columns p may read of schema.rel when the
// relation is readable through column grants only, else nil.
func (p *principal) limitedColumns(schema, rel string) map[string]bool {
	if p == nil || p.all || p.cols == nil {
		return nil
	}
	return p.cols[strings.ToLower(schema+"."+rel)]
}

// columnDenied is the 42501 error for a column.
func (p *principal) columnDenied(rel, col string) *pgerror.Error {
	var granted []string
	for c := range p.cols[rel] {
		granted = append(granted, c)
	}
	sort.Strings(granted)
	who := fmt.Sprintf("user %q (roles %s) is granted only columns %s of it", p.user, strings.Join(p.roles, ", "), strings.Join(granted, ", "))
	return pgerror.New(pgerror.InsufficientPrivilege, "permission denied for column %s of relation %s: read privilege required, %s", col, rel, who).
		WithHint("read only the granted columns, or grant {privilege: read, on: %s, columns: [%s]} to one of the user's roles", rel, col)
}

// colCheckCache remembers the outcome of column checks per search path
// and statement text: prepared and repeated statements are bound once.
type colCheckCache struct {
	mu sync.Mutex
	m  map[string]error
}

func (c *colCheckCache) get(key string) (error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	err, ok := c.m[key]
	return err, ok
}

func (c *colCheckCache) put(key string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= 1024 {
		c.m = map[string]error{}
	}
	c.m[key] = err
}

// checkColumns binds st with the session's engine and refuses it if it
// touches a column of a column-limited relation that is not granted.
func (s *session) checkColumns(st *dialect.Statement) error {
	p := s.acl
	query := st.Engine
	if st.Kind == dialect.KindCopyTo && st.Copy != nil {
		query = st.Copy.Query
		if query == "" {
			return s.checkCopyColumns(st.Copy)
		}
	}
	key := s.currentSchema() + "\x00" + query
	if err, ok := p.colCheck.get(key); ok {
		return err
	}
	err := s.bindColumns(query)
	if err == nil || asPG(err).Code == pgerror.InsufficientPrivilege {
		p.colCheck.put(key, err)
	}
	return err
}

// checkCopyColumns: COPY table [(cols)] TO reads the listed columns, or
// all of them.
func (s *session) checkCopyColumns(c *dialect.Copy) error {
	p := s.acl
	schema := strings.ToLower(c.Table.Schema)
	if schema == "" {
		schema = strings.ToLower(s.currentSchema())
	}
	rel := schema + "." + strings.ToLower(c.Table.Name)
	cols := c.Columns
	if len(cols) == 0 {
		cols = s.eng.tableColumns(schema, c.Table.Name)
	}
	allowed := p.cols[rel]
	for _, col := range cols {
		if !allowed[strings.ToLower(col)] {
			return p.columnDenied(rel, strings.ToLower(col))
		}
	}
	return nil
}

// bindColumns binds engine SQL and checks every column reference.
func (s *session) bindColumns(query string) error {
	p := s.acl
	e := s.eng.eng
	ctx := s.eng.context(context.Background(), query)
	stmt, _, err := e.gms.Parser.ParseOneWithOptions(ctx, query, sql.LoadSqlMode(ctx).ParserOptions())
	if err != nil {
		return engineError(err)
	}
	node, _, err := planbuilder.New(ctx, e.gms.Analyzer.Catalog, e.gms.EventScheduler, e.gms.Parser).BindOnly(stmt, query, nil)
	if err != nil {
		return engineError(err)
	}
	// Which tables the column ids belong to.
	tables := map[sql.TableId]string{}
	var nodes []sql.Node
	walkPlan(node, func(n sql.Node) {
		nodes = append(nodes, n)
		if rel := tableOf(n); rel != "" {
			if id, ok := n.(plan.TableIdNode); ok {
				tables[id.Id()] = rel
			}
		}
	})
	for _, n := range nodes {
		var denied error
		forEachExpression(n, func(x sql.Expression) bool {
			gf, ok := x.(*expression.GetField)
			if !ok {
				return true
			}
			rel := tables[gf.TableId()]
			if rel == "" {
				return true
			}
			allowed, limited := p.cols[rel]
			if limited && !allowed[strings.ToLower(gf.Name())] {
				denied = p.columnDenied(rel, strings.ToLower(gf.Name()))
				return false
			}
			return true
		})
		if denied != nil {
			return denied
		}
	}
	return nil
}

// tableOf is the lower-case schema.relation a table node reads ("" when
// n is no base table).
func tableOf(n sql.Node) string {
	switch t := n.(type) {
	case *plan.TableAlias:
		return tableOf(t.Child)
	case *plan.DeferredAsOfTable:
		return tableOf(t.ResolvedTable)
	case *plan.ResolvedTable:
		if t.SqlDatabase == nil {
			return ""
		}
		return strings.ToLower(t.SqlDatabase.Name() + "." + t.Name())
	}
	return ""
}

// walkPlan visits every node of a bound plan: children, opaque nodes,
// the source of INSERT ... SELECT and the plans of subquery expressions.
func walkPlan(n sql.Node, fn func(sql.Node)) {
	if n == nil {
		return
	}
	fn(n)
	for _, c := range n.Children() {
		walkPlan(c, fn)
	}
	if ii, ok := n.(*plan.InsertInto); ok {
		walkPlan(ii.Source, fn)
	}
	forEachExpression(n, func(x sql.Expression) bool {
		if sq, ok := x.(*plan.Subquery); ok {
			walkPlan(sq.Query, fn)
		}
		return true
	})
}

// forEachExpression calls fn on every expression of n (recursively into
// their children) until fn returns false.
func forEachExpression(n sql.Node, fn func(sql.Expression) bool) {
	ex, ok := n.(sql.Expressioner)
	if !ok {
		return
	}
	var walk func(x sql.Expression) bool
	walk = func(x sql.Expression) bool {
		if x == nil {
			return true
		}
		if !fn(x) {
			return false
		}
		for _, c := range x.Children() {
			if !walk(c) {
				return false
			}
		}
		return true
	}
	for _, x := range ex.Expressions() {
		if !walk(x) {
			return
		}
	}
}
