package pgcatalog

import (
	"strings"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/dualgate/dualgate/gateway/pgerror"
)

// Privileges is implemented by a Source that enforces access control, so
// has_table_privilege and has_schema_privilege tell the truth. user is ""
// for the session user. Without it every privilege is held.
type Privileges interface {
	TablePrivilege(ctx *sql.Context, user, schema, table, privilege string) (bool, error)
	SchemaPrivilege(ctx *sql.Context, user, schema, privilege string) (bool, error)
}

// tablePrivilege evaluates has_table_privilege([user,] table, privilege):
// table is a name (schema-qualified or found on the search path) or an OID.
func tablePrivilege(src Source) func(ctx *sql.Context, v []any) (any, error) {
	return func(ctx *sql.Context, v []any) (any, error) {
		ps, ok := src.(Privileges)
		if !ok {
			return true, nil
		}
		user := ""
		if len(v) == 3 {
			user, v = toStr(ctx, v[0]), v[1:]
		}
		snap, err := src.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		var rel *Relation
		if oid, isInt := v[0].(int64); isInt {
			rel = snap.Relation(uint32(oid))
		} else if oid, isInt := v[0].(uint32); isInt {
			rel = snap.Relation(oid)
		} else {
			rel = findRelation(snap, toStr(ctx, v[0]))
		}
		if rel == nil {
			return nil, pgerror.New(pgerror.UndefinedTable, "relation %q does not exist", toStr(ctx, v[0]))
		}
		return ps.TablePrivilege(ctx, user, rel.Schema, rel.Name, toStr(ctx, v[1]))
	}
}

// schemaPrivilege evaluates has_schema_privilege([user,] schema, privilege).
func schemaPrivilege(src Source) func(ctx *sql.Context, v []any) (any, error) {
	return func(ctx *sql.Context, v []any) (any, error) {
		ps, ok := src.(Privileges)
		if !ok {
			return true, nil
		}
		user := ""
		if len(v) == 3 {
			user, v = toStr(ctx, v[0]), v[1:]
		}
		return ps.SchemaPrivilege(ctx, user, unquote(toStr(ctx, v[0])), toStr(ctx, v[1]))
	}
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	}
	return strings.ToLower(s)
}

// findRelation resolves a possibly qualified relation name: pg_catalog
// first, then the search path, then public.
func findRelation(snap *Snapshot, name string) *Relation {
	schema, rel, qualified := strings.Cut(name, ".")
	if qualified {
		return snap.RelationByName(unquote(schema), unquote(rel))
	}
	rel = unquote(name)
	path := []string{"pg_catalog"}
	if sp, ok := snap.Setting("search_path"); ok {
		for _, p := range strings.Split(sp, ",") {
			if p = unquote(p); p != "" && p != "$user" {
				path = append(path, p)
			}
		}
	}
	path = append(path, "public")
	for _, s := range path {
		if r := snap.RelationByName(s, rel); r != nil {
			return r
		}
	}
	return nil
}

// columnPrivilege evaluates has_column_privilege([user,] table, column,
// privilege): column privileges are those of the table (dualgate grants
// relations; a masked column is readable, masked).
func columnPrivilege(src Source) func(ctx *sql.Context, v []any) (any, error) {
	table := tablePrivilege(src)
	return func(ctx *sql.Context, v []any) (any, error) {
		if len(v) == 4 {
			return table(ctx, []any{v[0], v[1], v[3]})
		}
		return table(ctx, []any{v[0], v[2]})
	}
}
