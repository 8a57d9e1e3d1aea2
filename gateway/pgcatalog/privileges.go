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

// ColumnPrivileges is implemented by a Source that grants columns, so
// has_column_privilege tells the truth per column; without it a column's
// privileges are its table's.
type ColumnPrivileges interface {
	ColumnPrivilege(ctx *sql.Context, user, schema, table, column, privilege string) (bool, error)
}

// columnPrivilege evaluates has_column_privilege([user,] table, column,
// privilege): column is a name or an attribute number.
func columnPrivilege(src Source) func(ctx *sql.Context, v []any) (any, error) {
	table := tablePrivilege(src)
	return func(ctx *sql.Context, v []any) (any, error) {
		cp, ok := src.(ColumnPrivileges)
		if !ok {
			if len(v) == 4 {
				return table(ctx, []any{v[0], v[1], v[3]})
			}
			return table(ctx, []any{v[0], v[2]})
		}
		user := ""
		if len(v) == 4 {
			user, v = toStr(ctx, v[0]), v[1:]
		}
		snap, err := src.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		var rel *Relation
		switch oid := v[0].(type) {
		case int64:
			rel = snap.Relation(uint32(oid))
		case uint32:
			rel = snap.Relation(oid)
		default:
			rel = findRelation(snap, toStr(ctx, v[0]))
		}
		if rel == nil {
			return nil, pgerror.New(pgerror.UndefinedTable, "relation %q does not exist", toStr(ctx, v[0]))
		}
		var col string
		switch n := v[1].(type) {
		case int64, int32, int16, int8, uint32, uint16:
			i64, _ := toInt(ctx, n)
			i := int(i64)
			if i < 1 || i > len(rel.Columns) {
				return nil, pgerror.New(pgerror.UndefinedColumn, "column number %d of relation %q does not exist", i, rel.Name)
			}
			col = rel.Columns[i-1].Name
		default:
			col = unquote(toStr(ctx, v[1]))
			found := false
			for _, c := range rel.Columns {
				if strings.EqualFold(c.Name, col) {
					found = true
					break
				}
			}
			if !found {
				return nil, pgerror.New(pgerror.UndefinedColumn, "column %q of relation %q does not exist", col, rel.Name)
			}
		}
		return cp.ColumnPrivilege(ctx, user, rel.Schema, rel.Name, col, toStr(ctx, v[2]))
	}
}

// anyColumnPrivilege evaluates has_any_column_privilege([user,] table,
// privilege): the table privilege, or the privilege on at least one of its
// columns (what Metabase asks before listing a table).
func anyColumnPrivilege(src Source) func(ctx *sql.Context, v []any) (any, error) {
	table, column := tablePrivilege(src), columnPrivilege(src)
	return func(ctx *sql.Context, v []any) (any, error) {
		held, err := table(ctx, v)
		if err != nil || held == true {
			return held, err
		}
		if _, ok := src.(ColumnPrivileges); !ok {
			return held, nil
		}
		user, rest := []any(nil), v
		if len(v) == 3 {
			user, rest = v[:1], v[1:]
		}
		snap, err := src.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		var rel *Relation
		switch oid := rest[0].(type) {
		case int64:
			rel = snap.Relation(uint32(oid))
		case uint32:
			rel = snap.Relation(oid)
		default:
			rel = findRelation(snap, toStr(ctx, rest[0]))
		}
		if rel == nil {
			return false, nil
		}
		for i := range rel.Columns {
			args := append(append(append([]any{}, user...), rest[0]), int64(i+1), rest[1])
			ok, err := column(ctx, args)
			if err != nil {
				return nil, err
			}
			if ok == true {
				return true, nil
			}
		}
		return false, nil
	}
}
