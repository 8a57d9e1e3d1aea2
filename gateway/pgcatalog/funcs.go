package pgcatalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/dualgate/dualgate/gateway/pgerror"
	"github.com/dualgate/dualgate/gateway/pgfunc"
)

// Source is what the catalog functions need from the gateway: the live
// snapshot of the statement's session, and a way to change a setting.
type Source interface {
	// Snapshot returns the catalog as the session of ctx sees it now.
	Snapshot(ctx *sql.Context) (*Snapshot, error)
	// SetSetting sets a session setting (set_config) and returns the new
	// value; local means until the end of the transaction.
	SetSetting(ctx *sql.Context, name, value string, local bool) (string, error)
}

type fnSpec struct {
	name     string
	min, max int
	typ      sql.Type
	strict   bool
	eval     func(ctx *sql.Context, v []any) (any, error)
}

// function builds the engine function on pgfunc's machinery. Catalog
// functions are non-deterministic: the catalog changes between statements.
func (s fnSpec) function() sql.Function {
	return pgfunc.Spec{Name: s.name, Min: s.min, Max: s.max, Type: s.typ, Strict: s.strict, NonDeterministic: true,
		Description: "PostgreSQL catalog function " + s.name, Eval: s.eval}.Function()
}

func toInt(ctx *sql.Context, v any) (int64, bool) {
	if v == nil {
		return 0, false
	}
	n, _, err := types.Int64.Convert(ctx, v)
	if err != nil || n == nil {
		return 0, false
	}
	return n.(int64), true
}

func toStr(ctx *sql.Context, v any) string {
	if v == nil {
		return ""
	}
	s, _, err := types.LongText.Convert(ctx, v)
	if err != nil || s == nil {
		return fmt.Sprint(v)
	}
	if b, ok := s.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(s)
}

func toBool(ctx *sql.Context, v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		switch strings.ToLower(x) {
		case "t", "true", "on", "yes", "1":
			return true
		}
		return false
	}
	n, ok := toInt(ctx, v)
	return ok && n != 0
}

// Functions returns the catalog functions for Catalog.RegisterFunction.
// Names that go-mysql-server already has (version, current_user) are not
// redefined.
func Functions(src Source) []sql.Function {
	snap := func(ctx *sql.Context) (*Snapshot, error) { return src.Snapshot(ctx) }
	always := func(*sql.Context, []any) (any, error) { return true, nil }
	specs := []fnSpec{
		{name: "format_type", min: 2, max: 2, typ: types.LongText, eval: func(ctx *sql.Context, v []any) (any, error) {
			oid, ok := toInt(ctx, v[0])
			if !ok {
				return nil, nil
			}
			mod, ok := toInt(ctx, v[1])
			if !ok {
				mod = -1
			}
			return FormatType(uint32(oid), int32(mod)), nil
		}},
		{name: "pg_get_expr", min: 2, max: 3, typ: types.LongText, eval: func(ctx *sql.Context, v []any) (any, error) {
			if v[0] == nil {
				return nil, nil
			}
			return toStr(ctx, v[0]), nil
		}},
		{name: "pg_get_indexdef", min: 1, max: 3, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			s, err := snap(ctx)
			if err != nil {
				return nil, err
			}
			oid, _ := toInt(ctx, v[0])
			col := int64(0)
			if len(v) > 1 {
				col, _ = toInt(ctx, v[1])
			}
			for i := range s.Relations {
				r := &s.Relations[i]
				for j := range r.Indexes {
					if int64(r.IndexOID(&r.Indexes[j])) == oid {
						return IndexDef(r, &r.Indexes[j], int(col)), nil
					}
				}
			}
			return nil, nil
		}},
		{name: "pg_get_constraintdef", min: 1, max: 2, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			s, err := snap(ctx)
			if err != nil {
				return nil, err
			}
			oid, _ := toInt(ctx, v[0])
			if d, ok := ConstraintDef(s, uint32(oid)); ok {
				return d, nil
			}
			return nil, nil
		}},
		{name: "pg_get_viewdef", min: 1, max: 2, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			s, err := snap(ctx)
			if err != nil {
				return nil, err
			}
			r := relationArg(ctx, s, v[0])
			if r == nil || r.Kind == 'r' {
				return nil, nil
			}
			return r.ViewDef, nil
		}},
		{name: "pg_table_is_visible", min: 1, max: 1, typ: types.Boolean, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			s, err := snap(ctx)
			if err != nil {
				return nil, err
			}
			oid, _ := toInt(ctx, v[0])
			for i := range s.Relations {
				r := &s.Relations[i]
				if int64(r.OID) == oid {
					return s.Visible(r.Schema, r.Name), nil
				}
				for j := range r.Indexes {
					if int64(r.IndexOID(&r.Indexes[j])) == oid {
						return s.Visible(r.Schema, IndexName(r, &r.Indexes[j])), nil
					}
				}
			}
			return false, nil
		}},
		{name: "pg_type_is_visible", min: 1, max: 1, typ: types.Boolean, strict: true, eval: always},
		// Catalog functions live in pg_catalog, always searched; a
		// procedure is visible when its schema is on the search path.
		{name: "pg_function_is_visible", min: 1, max: 1, typ: types.Boolean, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			s, err := snap(ctx)
			if err != nil {
				return nil, err
			}
			oid, _ := toInt(ctx, v[0])
			for i := range s.Procedures {
				if pr := &s.Procedures[i]; int64(pr.OID()) == oid {
					for _, p := range s.SearchPath() {
						if strings.EqualFold(p, pr.Schema) {
							return true, nil
						}
					}
					return false, nil
				}
			}
			return true, nil
		}},
		{name: "obj_description", min: 1, max: 2, typ: types.LongText, eval: func(ctx *sql.Context, v []any) (any, error) {
			oid, ok := toInt(ctx, v[0])
			if !ok {
				return nil, nil
			}
			s, err := snap(ctx)
			if err != nil {
				return nil, err
			}
			catalog := "pg_class"
			if len(v) > 1 && v[1] != nil {
				catalog = strings.ToLower(toStr(ctx, v[1]))
			}
			return s.Description(uint32(oid), catalog, 0), nil
		}},
		{name: "col_description", min: 2, max: 2, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			s, err := snap(ctx)
			if err != nil {
				return nil, err
			}
			oid, _ := toInt(ctx, v[0])
			n, _ := toInt(ctx, v[1])
			return s.Description(uint32(oid), "pg_class", int(n)), nil
		}},
		{name: "shobj_description", min: 2, max: 2, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			oid, _ := toInt(ctx, v[0])
			if uint32(oid) == DatabaseOID {
				return "dualgate: canonical (AUTHORITATIVE) and serving (DERIVED) data behind one Postgres endpoint", nil
			}
			return nil, nil
		}},
		{name: "pg_get_userbyid", min: 1, max: 1, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			s, err := snap(ctx)
			if err != nil {
				return nil, err
			}
			oid, _ := toInt(ctx, v[0])
			for _, r := range roles(s) {
				if int64(r.oid) == oid {
					return r.name, nil
				}
			}
			return fmt.Sprintf("unknown (OID=%d)", oid), nil
		}},
		{name: "has_table_privilege", min: 2, max: 3, typ: types.Boolean, strict: true, eval: tablePrivilege(src)},
		{name: "has_column_privilege", min: 3, max: 4, typ: types.Boolean, strict: true, eval: columnPrivilege(src)},
		{name: "has_any_column_privilege", min: 2, max: 3, typ: types.Boolean, strict: true, eval: anyColumnPrivilege(src)},
		{name: "has_schema_privilege", min: 2, max: 3, typ: types.Boolean, strict: true, eval: schemaPrivilege(src)},
		{name: "has_database_privilege", min: 2, max: 3, typ: types.Boolean, strict: true, eval: always},
		{name: "has_function_privilege", min: 2, max: 3, typ: types.Boolean, strict: true, eval: always},
		{name: "pg_has_role", min: 2, max: 3, typ: types.Boolean, strict: true, eval: always},
		{name: "current_setting", min: 1, max: 2, typ: types.LongText, eval: func(ctx *sql.Context, v []any) (any, error) {
			if v[0] == nil {
				return nil, nil
			}
			s, err := snap(ctx)
			if err != nil {
				return nil, err
			}
			name := toStr(ctx, v[0])
			if val, ok := s.Setting(name); ok {
				return val, nil
			}
			if len(v) > 1 && toBool(ctx, v[1]) {
				return nil, nil
			}
			return nil, pgerror.New(pgerror.UndefinedObject, "unrecognized configuration parameter %q", name)
		}},
		{name: "set_config", min: 3, max: 3, typ: types.LongText, eval: func(ctx *sql.Context, v []any) (any, error) {
			if v[0] == nil {
				return nil, pgerror.New("22004", "SET requires parameter name")
			}
			return src.SetSetting(ctx, toStr(ctx, v[0]), toStr(ctx, v[1]), toBool(ctx, v[2]))
		}},
		{name: "array_to_string", min: 2, max: 3, typ: types.LongText, eval: func(ctx *sql.Context, v []any) (any, error) {
			if v[0] == nil || v[1] == nil {
				return nil, nil
			}
			elems, ok := ParseArray(toStr(ctx, v[0]))
			if !ok {
				return nil, pgerror.New(pgerror.InvalidTextRepresentation, "malformed array literal: %q", toStr(ctx, v[0]))
			}
			var out []string
			for _, e := range elems {
				switch {
				case e != nil:
					out = append(out, *e)
				case len(v) > 2 && v[2] != nil:
					out = append(out, toStr(ctx, v[2]))
				}
			}
			return strings.Join(out, toStr(ctx, v[1])), nil
		}},
		// format(fmt, args...): the dialect prints Postgres's format as
		// pg_format (the engine's FORMAT is MySQL's number formatting).
		{name: "pg_format", min: 1, max: 101, typ: types.LongText, eval: func(ctx *sql.Context, v []any) (any, error) {
			if v[0] == nil {
				return nil, nil
			}
			args := make([]*string, len(v)-1)
			for i, a := range v[1:] {
				if a != nil {
					t := toStr(ctx, a)
					args[i] = &t
				}
			}
			return Format(toStr(ctx, v[0]), args)
		}},
		{name: "quote_literal", min: 1, max: 1, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			return QuoteLiteral(toStr(ctx, v[0])), nil
		}},
		{name: "quote_ident", min: 1, max: 1, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			return QuoteIdent(toStr(ctx, v[0])), nil
		}},
		{name: "pg_encoding_to_char", min: 1, max: 1, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			if n, _ := toInt(ctx, v[0]); n == 6 {
				return "UTF8", nil
			}
			return "", nil
		}},
		{name: "to_regclass", min: 1, max: 1, typ: types.Int64, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			s, err := snap(ctx)
			if err != nil {
				return nil, err
			}
			if r := s.ResolveRelation(toStr(ctx, v[0])); r != 0 {
				return int64(r), nil
			}
			return nil, nil
		}},
		// pg_regclass_in is regclass's input function, what a literal cast
		// ('orders'::regclass) runs: unlike to_regclass, an unknown name is
		// an error, as in PostgreSQL.
		{name: "pg_regclass_in", min: 1, max: 1, typ: types.Int64, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			s, err := snap(ctx)
			if err != nil {
				return nil, err
			}
			name := toStr(ctx, v[0])
			if r := s.ResolveRelation(name); r != 0 {
				return int64(r), nil
			}
			return nil, pgerror.New(pgerror.UndefinedTable, "relation %q does not exist", name).
				WithHint("Check the name; a relation outside the search_path needs its schema (schema.name).")
		}},
		{name: "pg_regclass_out", min: 1, max: 1, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			s, err := snap(ctx)
			if err != nil {
				return nil, err
			}
			oid, _ := toInt(ctx, v[0])
			return s.RegclassOut(uint32(oid)), nil
		}},
		// regproc's output: a function's name, schema-qualified when its
		// schema is not on the search path; "-" for 0, the number when no
		// function has the oid.
		{name: "pg_regproc_out", min: 1, max: 1, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			oid, _ := toInt(ctx, v[0])
			if oid == 0 {
				return "-", nil
			}
			name, err := procText(src, func(p proc) any { return p.name }, func(p *Procedure) any {
				s, err := snap(ctx)
				if err == nil && s.Visible(p.Schema, p.Name) {
					return QuoteIdent(p.Name)
				}
				return QuoteIdent(p.Schema) + "." + QuoteIdent(p.Name)
			})(ctx, v)
			if err != nil || name != nil {
				return name, err
			}
			return strconv.FormatInt(oid, 10), nil
		}},
		{name: "to_regtype", min: 1, max: 1, typ: types.Int64, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			if oid, ok := regtypeIn(toStr(ctx, v[0])); ok {
				return int64(oid), nil
			}
			return nil, nil
		}},
		// pg_regtype_in is regtype's input function ('integer'::regtype):
		// an unknown type name is an error, where to_regtype gives NULL.
		{name: "pg_regtype_in", min: 1, max: 1, typ: types.Int64, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			name := toStr(ctx, v[0])
			if oid, ok := regtypeIn(name); ok {
				return int64(oid), nil
			}
			return nil, pgerror.New(pgerror.UndefinedObject, "type %q does not exist", name)
		}},
		{name: "pg_regtype_out", min: 1, max: 1, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			oid, _ := toInt(ctx, v[0])
			if oid == 0 {
				return "-", nil
			}
			return FormatType(uint32(oid), -1), nil
		}},
		{name: "pg_get_function_arguments", min: 1, max: 1, typ: types.LongText, strict: true, eval: procText(src, func(p proc) any { return formatArgs(p.args) },
			func(p *Procedure) any { return p.Arguments() })},
		{name: "pg_get_function_identity_arguments", min: 1, max: 1, typ: types.LongText, strict: true, eval: procText(src, func(p proc) any { return formatArgs(p.args) },
			func(p *Procedure) any { return p.Arguments() })},
		// A procedure has no result type (Postgres answers NULL).
		{name: "pg_get_function_result", min: 1, max: 1, typ: types.LongText, strict: true, eval: procText(src, func(p proc) any { return FormatType(p.ret, -1) },
			func(*Procedure) any { return nil })},
		// There are no triggers (pg_trigger is empty) and no partitioned
		// tables: psql's \d asks for both when a table has foreign keys.
		// In a select list pg_partition_ancestors is NULL, where Postgres
		// yields no row for a relation that is not a partition.
		{name: "pg_get_function_sqlbody", min: 1, max: 1, typ: types.LongText, eval: func(*sql.Context, []any) (any, error) { return nil, nil }},
		{name: "pg_get_triggerdef", min: 1, max: 2, typ: types.LongText, eval: func(*sql.Context, []any) (any, error) { return nil, nil }},
		{name: "pg_partition_ancestors", min: 1, max: 1, typ: types.Int64, eval: func(*sql.Context, []any) (any, error) { return nil, nil }},
		{name: "pg_table_size", min: 1, max: 1, typ: types.Int64, strict: true, eval: zero},
		{name: "pg_relation_size", min: 1, max: 2, typ: types.Int64, strict: true, eval: zero},
		{name: "pg_total_relation_size", min: 1, max: 1, typ: types.Int64, strict: true, eval: zero},
		{name: "pg_indexes_size", min: 1, max: 1, typ: types.Int64, strict: true, eval: zero},
		{name: "pg_database_size", min: 1, max: 1, typ: types.Int64, strict: true, eval: zero},
		{name: "pg_size_pretty", min: 1, max: 1, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			n, _ := toInt(ctx, v[0])
			return SizePretty(n), nil
		}},
		{name: "pg_regnamespace_out", min: 1, max: 1, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			s, err := snap(ctx)
			if err != nil {
				return nil, err
			}
			oid, _ := toInt(ctx, v[0])
			for _, sc := range s.Schemas {
				if int64(NamespaceOID(sc.Name)) == oid {
					return QuoteIdent(sc.Name), nil
				}
			}
			return strconv.FormatInt(oid, 10), nil
		}},
		{name: "pg_relation_is_publishable", min: 1, max: 1, typ: types.Boolean, strict: true, eval: func(*sql.Context, []any) (any, error) { return false, nil }},
		{name: "pg_get_statisticsobjdef_columns", min: 1, max: 1, typ: types.LongText, eval: func(*sql.Context, []any) (any, error) { return nil, nil }},
		{name: "pg_array_contains", min: 2, max: 2, typ: types.Boolean, eval: func(ctx *sql.Context, v []any) (any, error) {
			// x = ANY(array): true if an element equals x, NULL if none does
			// but the array has NULLs (or x is NULL), false otherwise.
			if v[0] == nil {
				return nil, nil
			}
			elems, ok := ParseArray(toStr(ctx, v[0]))
			if !ok {
				return nil, pgerror.New(pgerror.InvalidTextRepresentation, "malformed array literal: %q", toStr(ctx, v[0]))
			}
			if v[1] == nil {
				if len(elems) == 0 {
					return false, nil
				}
				return nil, nil
			}
			x, sawNull := toStr(ctx, v[1]), false
			for _, e := range elems {
				if e == nil {
					sawNull = true
				} else if *e == x {
					return true, nil
				}
			}
			if sawNull {
				return nil, nil
			}
			return false, nil
		}},
		{name: "array_length", min: 2, max: 2, typ: types.Int32, strict: true, eval: arrayDim(func(n int) any {
			if n == 0 {
				return nil
			}
			return int32(n)
		})},
		{name: "array_upper", min: 2, max: 2, typ: types.Int32, strict: true, eval: arrayDim(func(n int) any {
			if n == 0 {
				return nil
			}
			return int32(n)
		})},
		{name: "array_lower", min: 2, max: 2, typ: types.Int32, strict: true, eval: arrayDim(func(n int) any {
			if n == 0 {
				return nil
			}
			return int32(1)
		})},
		{name: "string_to_array", min: 2, max: 3, eval: func(ctx *sql.Context, v []any) (any, error) {
			if v[0] == nil {
				return nil, nil
			}
			text := toStr(ctx, v[0])
			var parts []string
			switch {
			case text == "":
				// An empty string is an empty array.
			case v[1] == nil: // each character is an element
				for _, r := range text {
					parts = append(parts, string(r))
				}
			case toStr(ctx, v[1]) == "":
				parts = []string{text}
			default:
				parts = strings.Split(text, toStr(ctx, v[1]))
			}
			elems := make([]*string, len(parts))
			for i := range parts {
				if len(v) < 3 || v[2] == nil || parts[i] != toStr(ctx, v[2]) {
					elems[i] = &parts[i]
				}
			}
			return ArrayLiteral(elems), nil
		}, typ: types.LongText},
		{name: "parse_ident", min: 1, max: 2, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			strict := len(v) < 2 || toBool(ctx, v[1])
			parts, err := ParseIdent(toStr(ctx, v[0]), strict)
			if err != nil {
				return nil, err
			}
			elems := make([]*string, len(parts))
			for i := range parts {
				elems[i] = &parts[i]
			}
			return ArrayLiteral(elems), nil
		}},
		{name: "pg_array_subscript", min: 2, max: 2, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			// arr[i]: arrays are 1-based, int2vector/oidvector text 0-based,
			// as in PostgreSQL; out of range is NULL.
			text := strings.TrimSpace(toStr(ctx, v[0]))
			elems, ok := ParseArray(text)
			if !ok {
				return nil, pgerror.New(pgerror.InvalidTextRepresentation, "malformed array literal: %q", text)
			}
			i, _ := toInt(ctx, v[1])
			if strings.HasPrefix(text, "{") {
				i--
			}
			if i < 0 || i >= int64(len(elems)) || elems[i] == nil {
				return nil, nil
			}
			return *elems[i], nil
		}},
		{name: "current_schemas", min: 1, max: 1, typ: types.LongText, strict: true, eval: func(ctx *sql.Context, v []any) (any, error) {
			s, err := snap(ctx)
			if err != nil {
				return nil, err
			}
			return FormatArray(s.CurrentSchemas(toBool(ctx, v[0]))), nil
		}},
		{name: "pg_get_serial_sequence", min: 2, max: 2, typ: types.LongText, eval: func(*sql.Context, []any) (any, error) { return nil, nil }},
		{name: "pg_postmaster_start_time", min: 0, max: 0, typ: types.DatetimeMaxPrecision, eval: func(*sql.Context, []any) (any, error) { return startTime, nil }},
		{name: "pg_is_in_recovery", min: 0, max: 0, typ: types.Boolean, eval: func(*sql.Context, []any) (any, error) { return false, nil }},
	}
	out := make([]sql.Function, len(specs))
	for i, s := range specs {
		out[i] = s.function()
	}
	return out
}

func zero(*sql.Context, []any) (any, error) { return int64(0), nil }

// startTime is when the process started (pg_postmaster_start_time).
var startTime = time.Now().UTC()

// arrayDim evaluates array_length/upper/lower over dimension 1 of a
// one-dimensional array literal; other dimensions are NULL.
func arrayDim(f func(n int) any) func(*sql.Context, []any) (any, error) {
	return func(ctx *sql.Context, v []any) (any, error) {
		if d, _ := toInt(ctx, v[1]); d != 1 {
			return nil, nil
		}
		elems, ok := ParseArray(toStr(ctx, v[0]))
		if !ok {
			return nil, pgerror.New(pgerror.InvalidTextRepresentation, "malformed array literal: %q", toStr(ctx, v[0]))
		}
		return f(len(elems)), nil
	}
}

func procText(src Source, builtin func(proc) any, procedure func(*Procedure) any) func(*sql.Context, []any) (any, error) {
	return func(ctx *sql.Context, v []any) (any, error) {
		oid, _ := toInt(ctx, v[0])
		for _, p := range procs {
			if int64(ObjectOID("proc", p.name)) == oid {
				return builtin(p), nil
			}
		}
		s, err := src.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		for i := range s.Procedures {
			if int64(s.Procedures[i].OID()) == oid {
				return procedure(&s.Procedures[i]), nil
			}
		}
		return nil, nil
	}
}

func formatArgs(args []uint32) string {
	s := make([]string, len(args))
	for i, a := range args {
		s[i] = FormatType(a, -1)
		if a == 2277 {
			s[i] = "anyarray"
		}
	}
	return strings.Join(s, ", ")
}

// SizePretty is pg_size_pretty for a byte count.
func SizePretty(n int64) string {
	units := []string{"bytes", "kB", "MB", "GB", "TB"}
	i := 0
	for (n >= 10*1024 || n <= -10*1024) && i < len(units)-1 {
		n = (n + 512) / 1024
		i++
	}
	return fmt.Sprintf("%d %s", n, units[i])
}

// relationArg resolves an oid or a relation name argument.
func relationArg(ctx *sql.Context, s *Snapshot, v any) *Relation {
	if oid, ok := toInt(ctx, v); ok {
		if r := s.Relation(uint32(oid)); r != nil {
			return r
		}
	}
	return s.Relation(s.ResolveRelation(toStr(ctx, v)))
}

// SearchPath returns the schemas of the search_path setting, pg_catalog
// first as in PostgreSQL.
func (s *Snapshot) SearchPath() []string {
	path := []string{"pg_catalog"}
	v, ok := s.Setting("search_path")
	if !ok {
		v = "public"
	}
	for _, p := range strings.Split(v, ",") {
		p = strings.Trim(strings.TrimSpace(p), `"`)
		if p == "$user" {
			p = s.User
		}
		if p != "" && !strings.EqualFold(p, "pg_catalog") {
			path = append(path, p)
		}
	}
	return path
}

// CurrentSchemas is current_schemas(implicit): the schemas of the
// search_path that exist, in order, with pg_catalog (searched first
// implicitly) when implicit is true.
func (s *Snapshot) CurrentSchemas(implicit bool) []string {
	var out []string
	for i, p := range s.SearchPath() {
		if i == 0 && !implicit { // SearchPath starts with the implicit pg_catalog
			continue
		}
		for _, sc := range s.Schemas {
			if strings.EqualFold(sc.Name, p) {
				out = append(out, sc.Name)
				break
			}
		}
	}
	return out
}

// FormatArray prints a one-dimensional text array as array_out does:
// elements quoted when empty, NULL-like, or holding separators, quotes,
// backslashes, braces or spaces.
func FormatArray(elems []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range elems {
		if i > 0 {
			b.WriteByte(',')
		}
		if e != "" && !strings.EqualFold(e, "NULL") && !strings.ContainsAny(e, "{},\"\\ \t\n\r\v\f") {
			b.WriteString(e)
			continue
		}
		b.WriteByte('"')
		for j := 0; j < len(e); j++ {
			if e[j] == '"' || e[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(e[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// Visible is pg_table_is_visible: the relation's schema is on the search
// path and no earlier schema there has a relation of the same name.
func (s *Snapshot) Visible(schema, name string) bool {
	for _, p := range s.SearchPath() {
		if strings.EqualFold(p, schema) {
			return true
		}
		if s.RelationByName(p, name) != nil {
			return false
		}
	}
	return false
}

// ResolveRelation turns a regclass input ("orders", "canonical.orders",
// `"Mixed"`) into a relation oid, 0 if there is none.
func (s *Snapshot) ResolveRelation(name string) uint32 {
	if n, err := strconv.ParseUint(strings.TrimSpace(name), 10, 32); err == nil {
		return uint32(n)
	}
	parts := splitQualified(name)
	switch len(parts) {
	case 1:
		for _, p := range s.SearchPath() {
			if r := s.RelationByName(p, parts[0]); r != nil {
				return r.OID
			}
		}
	case 2:
		if r := s.RelationByName(parts[0], parts[1]); r != nil {
			return r.OID
		}
	}
	return 0
}

// RegclassOut prints a relation oid as regclass output does: the name,
// schema-qualified unless visible; the number if unknown.
func (s *Snapshot) RegclassOut(oid uint32) string {
	r := s.Relation(oid)
	if r == nil {
		return strconv.FormatUint(uint64(oid), 10)
	}
	if s.Visible(r.Schema, r.Name) {
		return QuoteIdent(r.Name)
	}
	return QuoteIdent(r.Schema) + "." + QuoteIdent(r.Name)
}

// splitQualified splits a possibly quoted, dot-qualified name; unquoted
// parts are folded to lower case.
func splitQualified(name string) []string {
	var parts []string
	var cur strings.Builder
	quoted, wasQuoted := false, false
	flush := func() {
		p := cur.String()
		if !wasQuoted {
			p = strings.ToLower(strings.TrimSpace(p))
		}
		parts = append(parts, p)
		cur.Reset()
		wasQuoted = false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '"' && quoted && i+1 < len(name) && name[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			quoted = !quoted
			wasQuoted = true
		case c == '.' && !quoted:
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return parts
}

// Description is obj_description/col_description: the comment of an
// object of the given catalog (pg_class, pg_namespace, pg_database), or of
// a relation's column when subid > 0; nil if none.
func (s *Snapshot) Description(oid uint32, catalog string, subid int) any {
	switch strings.TrimPrefix(catalog, "pg_catalog.") {
	case "pg_class":
		r := s.Relation(oid)
		if r == nil {
			return nil
		}
		if subid > 0 {
			if subid <= len(r.Columns) && r.Columns[subid-1].Comment != "" {
				return r.Columns[subid-1].Comment
			}
			return nil
		}
		return Labeled(r.Schema, r.Name, r.Kind, r.Comment)
	case "pg_namespace":
		for _, sc := range s.Schemas {
			if NamespaceOID(sc.Name) == oid && sc.Comment != "" {
				return sc.Comment
			}
		}
	case "pg_proc":
		for i := range s.Procedures {
			if s.Procedures[i].OID() == oid && s.Procedures[i].Comment != "" {
				return s.Procedures[i].Comment
			}
		}
	case "pg_database":
		if oid == DatabaseOID {
			return "dualgate: canonical (AUTHORITATIVE) and serving (DERIVED) data behind one Postgres endpoint"
		}
	}
	return nil
}

// ParseArray parses a one-dimensional array literal ("{a,"b c",NULL}"),
// or the text of an int2vector/oidvector ("1 2"); nil elements are NULLs.
func ParseArray(s string) ([]*string, bool) { return pgfunc.ParseArray(s) }

// ArrayLiteral prints a one-dimensional array as PostgreSQL's array_out
// does: elements double-quoted only when they must be (empty, NULL-like,
// or holding braces, commas, quotes, backslashes or spaces); nil elements
// are NULL.
func ArrayLiteral(elems []*string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range elems {
		if i > 0 {
			b.WriteByte(',')
		}
		switch {
		case e == nil:
			b.WriteString("NULL")
		case *e == "" || strings.EqualFold(*e, "null") || strings.ContainsAny(*e, "{},\"\\ \t\n\r\v\f"):
			b.WriteByte('"')
			b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(*e))
			b.WriteByte('"')
		default:
			b.WriteString(*e)
		}
	}
	b.WriteByte('}')
	return b.String()
}

// ParseIdent splits a qualified SQL identifier as parse_ident does:
// unquoted parts are lower-cased, quoted ones kept with "" undoubled.
// Strict refuses anything after the last identifier.
func ParseIdent(s string, strict bool) ([]string, error) {
	bad := func(why string) error {
		return pgerror.New(pgerror.InvalidParameterValue, "string is not a valid identifier: %q", s).WithDetail("%s", why)
	}
	var out []string
	i := 0
	skip := func() {
		for i < len(s) && strings.ContainsRune(" \t\n\r\f", rune(s[i])) {
			i++
		}
	}
	for {
		skip()
		if i < len(s) && s[i] == '"' {
			var b strings.Builder
			i++
			for {
				j := strings.IndexByte(s[i:], '"')
				if j < 0 {
					return nil, bad("String has unclosed double quotes.")
				}
				b.WriteString(s[i : i+j])
				i += j + 1
				if i < len(s) && s[i] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			if b.Len() == 0 {
				return nil, bad("Quoted identifier must not be empty.")
			}
			out = append(out, b.String())
		} else {
			j := i
			for j < len(s) && (s[j] == '_' || s[j] == '$' || s[j] >= 0x80 || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || j > i && s[j] >= '0' && s[j] <= '9') {
				j++
			}
			if j == i {
				if len(out) == 0 {
					return nil, bad("No valid identifier before \".\".")
				}
				return nil, bad("No valid identifier after \".\".")
			}
			// Like PostgreSQL's downcase_identifier in UTF8: ASCII only.
			out = append(out, strings.Map(func(r rune) rune {
				if r >= 'A' && r <= 'Z' {
					return r + 'a' - 'A'
				}
				return r
			}, s[i:j]))
			i = j
		}
		skip()
		if i < len(s) && s[i] == '.' {
			i++
			continue
		}
		if i < len(s) && strict {
			return nil, bad("String has trailing characters after the last identifier.")
		}
		return out, nil
	}
}

// Format is PostgreSQL's format(): %s (NULL is empty), %I (quote_ident;
// NULL is an error), %L (quote_literal; NULL is NULL) and %%, each with an
// optional argument position (%2$s), a - flag and a width.
func Format(f string, args []*string) (string, error) {
	var b strings.Builder
	next := 0
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(f) {
			return "", pgerror.New(pgerror.InvalidParameterValue, "unterminated format() type specifier").
				WithHint("For a single \"%%\" use \"%%%%\".")
		}
		if f[i] == '%' {
			b.WriteByte('%')
			continue
		}
		// [position$][-][width]type
		num := func() (int, bool) {
			j := i
			for i < len(f) && f[i] >= '0' && f[i] <= '9' {
				i++
			}
			if j == i {
				return 0, false
			}
			n, _ := strconv.Atoi(f[j:i])
			return n, true
		}
		arg := next
		if n, ok := num(); ok {
			if i < len(f) && f[i] == '$' {
				if n == 0 {
					return "", pgerror.New(pgerror.InvalidParameterValue, "format specifies argument 0, but arguments are numbered from 1")
				}
				arg = n - 1
				i++
			} else {
				i -= len(strconv.Itoa(n)) // a width, read again below
			}
		}
		left := false
		if i < len(f) && f[i] == '-' {
			left = true
			i++
		}
		if i < len(f) && f[i] == '*' {
			return "", pgerror.New(pgerror.FeatureNotSupported, "format() widths taken from arguments (*) are not supported by dualgate")
		}
		width, _ := num()
		if i >= len(f) {
			return "", pgerror.New(pgerror.InvalidParameterValue, "unterminated format() type specifier")
		}
		if arg >= len(args) {
			return "", pgerror.New(pgerror.InvalidParameterValue, "too few arguments for format()")
		}
		next = arg + 1
		var out string
		switch f[i] {
		case 's':
			if args[arg] != nil {
				out = *args[arg]
			}
		case 'I':
			if args[arg] == nil {
				return "", pgerror.New("22004", "null values cannot be formatted as an SQL identifier")
			}
			out = QuoteIdent(*args[arg])
		case 'L':
			out = "NULL"
			if args[arg] != nil {
				out = QuoteLiteral(*args[arg])
			}
		default:
			return "", pgerror.New(pgerror.InvalidParameterValue, "unrecognized format() type specifier \"%c\"", f[i]).
				WithHint("For a single \"%%\" use \"%%%%\".")
		}
		if pad := width - len([]rune(out)); pad > 0 {
			if left {
				out += strings.Repeat(" ", pad)
			} else {
				out = strings.Repeat(" ", pad) + out
			}
		}
		b.WriteString(out)
	}
	return b.String(), nil
}

// QuoteLiteral is PostgreSQL's quote_literal: single quotes doubled, and
// an E-prefixed string with doubled backslashes when there are any.
func QuoteLiteral(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		q = "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}
