package catalog

import (
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Context returns the bounded context named name, or nil.
func (c *Catalog) Context(name string) *Context { return c.contexts[name] }

// Source returns the source raw.<name>, or nil.
func (c *Catalog) Source(name string) *Source { return c.sources[name] }

// Entity returns the entity canonical.<name>, or nil.
func (c *Catalog) Entity(name string) *Entity { return c.entities[name] }

// Projection returns the projection serving.<name>, or nil.
func (c *Catalog) Projection(name string) *Projection { return c.projections[name] }

// ServingTable returns the non-authoritative serving table serving.<name>, or nil.
func (c *Catalog) ServingTable(name string) *ServingTable { return c.servingTables[name] }

// Reconciliation returns the reconciliation named name, or nil.
func (c *Catalog) Reconciliation(name string) *Reconciliation { return c.reconciliations[name] }

// Sources lists every source in file order.
func (c *Catalog) Sources() []*Source {
	var out []*Source
	for _, ctx := range c.Contexts {
		out = append(out, ctx.Sources...)
	}
	return out
}

// Entities lists every entity in file order.
func (c *Catalog) Entities() []*Entity {
	var out []*Entity
	for _, ctx := range c.Contexts {
		out = append(out, ctx.Entities...)
	}
	return out
}

// Projections lists every projection in file order.
func (c *Catalog) Projections() []*Projection {
	var out []*Projection
	for _, ctx := range c.Contexts {
		out = append(out, ctx.Projections...)
	}
	return out
}

// ServingTables lists every non-authoritative serving table in file order.
func (c *Catalog) ServingTables() []*ServingTable {
	var out []*ServingTable
	for _, ctx := range c.Contexts {
		out = append(out, ctx.ServingTables...)
	}
	return out
}

// Reconciliations lists every reconciliation in file order.
func (c *Catalog) Reconciliations() []*Reconciliation {
	var out []*Reconciliation
	for _, ctx := range c.Contexts {
		out = append(out, ctx.Reconciliations...)
	}
	return out
}

// MappingsFor returns the current mapping (highest version) of every entity
// fed by source, in file order: what one ingest batch of raw.<source> runs.
func (c *Catalog) MappingsFor(source string) []*Mapping {
	var out []*Mapping
	for _, en := range c.Entities() {
		for _, m := range en.Mappings {
			if m.Source == source && m.Current {
				out = append(out, m)
			}
		}
	}
	return out
}

// ProjectionsAffectedBy returns the projections whose affected_by names entity.
func (c *Catalog) ProjectionsAffectedBy(entity string) []*Projection {
	var out []*Projection
	for _, p := range c.Projections() {
		for _, ab := range p.AffectedBy {
			if ab.Entity == entity {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// Column returns the named column, or nil.
func (s *Source) Column(name string) *Column { return findColumn(s.Columns, name) }

// Column returns the named column, or nil.
func (e *Entity) Column(name string) *Column { return findColumn(e.Columns, name) }

// Column returns the named output column, or nil.
func (p *Projection) Column(name string) *Column { return findColumn(p.Columns, name) }

// Column returns the named column, or nil.
func (s *ServingTable) Column(name string) *Column { return findColumn(s.Columns, name) }

// CurrentMapping returns the highest-version mapping from source, or nil.
func (e *Entity) CurrentMapping(source string) *Mapping {
	for _, m := range e.Mappings {
		if m.Source == source && m.Current {
			return m
		}
	}
	return nil
}

// Mapping returns the mapping from source with the given version, or nil.
func (e *Entity) Mapping(source string, version int) *Mapping {
	for _, m := range e.Mappings {
		if m.Source == source && m.Version == version {
			return m
		}
	}
	return nil
}

// Relation returns the schema-qualified relation name (raw.<name>).
func (s *Source) Relation() string { return "raw." + s.Name }

// Relation returns the schema-qualified relation name (canonical.<name>).
func (e *Entity) Relation() string { return "canonical." + e.Name }

// Relation returns the schema-qualified relation name (serving.<name>).
func (p *Projection) Relation() string { return "serving." + p.Name }

// Relation returns the schema-qualified relation name (serving.<name>).
func (s *ServingTable) Relation() string { return "serving." + s.Name }

// RelationColumns returns the column names of schema.name as dualgate
// exposes it (entity columns plus the system columns of history, diff and
// raw). exists is false for unknown relations; cols is nil for system
// relations whose columns the catalog does not define.
func (c *Catalog) RelationColumns(schema, name string) (cols []string, exists bool) {
	return c.relationColumns(schema, name)
}

// Roles lists the declared role names (first declaration order).
func (c *Catalog) Roles() []string { return append([]string(nil), c.roleOrder...) }

// Role returns the declarations of a role across contexts (nil if unknown).
func (c *Catalog) Role(name string) []*Role { return c.roles[name] }

// Grants returns every grant of a role, merged across contexts.
func (c *Catalog) Grants(role string) []*Grant {
	var out []*Grant
	for _, r := range c.roles[role] {
		out = append(out, r.Grants...)
	}
	return out
}

// Users lists the user names that have roles (first declaration order).
func (c *Catalog) Users() []string { return append([]string(nil), c.userOrder...) }

// UserRoles returns the roles of a user, merged across contexts.
func (c *Catalog) UserRoles(user string) []string {
	if u := c.users[user]; u != nil {
		return append([]string(nil), u.Roles...)
	}
	return nil
}

// Masks lists every column mask of every context.
func (c *Catalog) Masks() []*Mask {
	var out []*Mask
	for _, ctx := range c.Contexts {
		if ctx.Policies != nil {
			out = append(out, ctx.Policies.Masks...)
		}
	}
	return out
}

// RowFilters lists every row filter of every context.
func (c *Catalog) RowFilters() []*RowFilter {
	var out []*RowFilter
	for _, ctx := range c.Contexts {
		if ctx.Policies != nil {
			out = append(out, ctx.Policies.RowFilters...)
		}
	}
	return out
}

// Audit returns the audit policy (at most one context sets it), or nil.
func (c *Catalog) Audit() *AuditPolicy { return c.audit }

// ResolveRightDSN returns the external DSN of the right side with a
// ${ENV_VAR} reference expanded; "" when the right side runs in dualgate.
// An unset variable is an error: the reconciliation is not configured here.
func (r *Reconciliation) ResolveRightDSN() (string, error) {
	if r.RightDSN == "" {
		return "", nil
	}
	if envRefRE.MatchString(r.RightDSN) {
		name := r.RightDSN[2 : len(r.RightDSN)-1]
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return "", fmt.Errorf("reconciliation %s: right_dsn: environment variable %s is not set", r.Name, name)
		}
		return v, nil
	}
	return r.RightDSN, nil
}

// Summary is a one-line description of the catalog's contents.
func (c *Catalog) Summary() string {
	n := func(k int, one, many string) string {
		if k == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", k, many)
	}
	var roles int
	for range c.roles {
		roles++
	}
	return strings.Join([]string{
		n(len(c.Contexts), "context", "contexts"), n(len(c.sources), "source", "sources"),
		n(len(c.entities), "entity", "entities"), n(len(c.projections), "projection", "projections"),
		n(len(c.servingTables), "serving table", "serving tables"),
		n(len(c.reconciliations), "reconciliation", "reconciliations"), n(roles, "role", "roles"),
	}, ", ")
}

// Check validates catalog paths without serving, for `dualgate check
// --catalog …`: the report is "catalog OK: …" or every problem, one per line
// (file:line:col: message; fix), followed by a count; it has no trailing
// newline. ok is false when the catalog is invalid (the command exits with
// status 1).
func Check(paths ...string) (report string, ok bool) {
	return checkReport(Load(paths...))
}

// CheckFS is Check over an fs.FS.
func CheckFS(fsys fs.FS, paths ...string) (report string, ok bool) {
	return checkReport(LoadFS(fsys, paths...))
}

func checkReport(c *Catalog, err error) (string, bool) {
	if err != nil {
		n := 1
		if ve, isVE := err.(ValidationErrors); isVE {
			n = len(ve)
		}
		word := "errors"
		if n == 1 {
			word = "error"
		}
		return fmt.Sprintf("%s\ncatalog invalid: %d %s", err.Error(), n, word), false
	}
	return "catalog OK: " + c.Summary(), true
}

// Webhooks maps each owner that declared a webhook to its URL.
func (c *Catalog) Webhooks() map[string]string {
	out := map[string]string{}
	for _, ctx := range c.Contexts {
		for _, o := range ctx.Owners {
			if o.Webhook != "" {
				out[o.Name] = o.Webhook
			}
		}
	}
	return out
}
