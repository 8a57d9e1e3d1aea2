package pgcatalog

import (
	"strconv"
	"strings"

	"github.com/dualgate/dualgate/gateway/pgtypes"
)

func yesNo(b bool) string {
	if b {
		return "YES"
	}
	return "NO"
}

// dataType is information_schema's data_type of a column type.
func dataType(oid uint32) string {
	t, ok := LookupType(oid)
	switch {
	case !ok:
		return "USER-DEFINED"
	case t.Category == 'A' && oid != Int2Vector && oid != OIDVector:
		return "ARRAY"
	case oid == pgtypes.Bpchar:
		return "character"
	case oid == pgtypes.Char:
		return `"char"`
	}
	return FormatType(oid, -1)
}

// typmodFacets returns character_maximum_length, numeric_precision,
// numeric_precision_radix, numeric_scale and datetime_precision of a
// column (nil where they do not apply), as information_schema.columns.
func typmodFacets(oid uint32, typmod int32) (charLen, numPrec, radix, numScale, dtPrec any) {
	switch oid {
	case pgtypes.Varchar, pgtypes.Bpchar:
		if typmod > 4 {
			charLen = int32(typmod - 4)
		}
	case pgtypes.Int2:
		numPrec, radix, numScale = int32(16), int32(2), int32(0)
	case pgtypes.Int4:
		numPrec, radix, numScale = int32(32), int32(2), int32(0)
	case pgtypes.Int8:
		numPrec, radix, numScale = int32(64), int32(2), int32(0)
	case pgtypes.Float4:
		numPrec, radix = int32(24), int32(2)
	case pgtypes.Float8:
		numPrec, radix = int32(53), int32(2)
	case pgtypes.Numeric:
		radix = int32(10)
		if typmod >= 4 {
			m := typmod - 4
			numPrec, numScale = int32((m>>16)&0xffff), int32(((m&0x7ff)^1024)-1024)
		}
	case pgtypes.Date:
		dtPrec = int32(0)
	case pgtypes.Time, pgtypes.Timestamp, pgtypes.Timestamptz, pgtypes.Interval:
		dtPrec = int32(6)
		if typmod >= 0 && oid != pgtypes.Interval {
			dtPrec = int32(typmod)
		}
	}
	return
}

// InformationSchema returns the information_schema views (relkind 'v',
// as in PostgreSQL).
func InformationSchema() []Table {
	ts := []Table{
		{Name: "schemata", Columns: cols("catalog_name name, schema_name name, schema_owner name, default_character_set_catalog name, " +
			"default_character_set_schema name, default_character_set_name name, sql_path varchar"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, sc := range s.Schemas {
					rows = append(rows, []any{s.Database, sc.Name, owner, nil, nil, nil, nil})
				}
				return rows
			}},
		{Name: "tables", Columns: cols("table_catalog name, table_schema name, table_name name, table_type varchar, " +
			"self_referencing_column_name name, reference_generation varchar, user_defined_type_catalog name, " +
			"user_defined_type_schema name, user_defined_type_name name, is_insertable_into varchar, is_typed varchar, commit_action varchar"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, r := range s.Relations {
					typ := "BASE TABLE"
					if r.Kind == 'v' || r.Kind == 'm' {
						typ = "VIEW"
					}
					rows = append(rows, []any{s.Database, r.Schema, r.Name, typ, nil, nil, nil, nil, nil,
						yesNo(r.Kind == 'r' && !r.System), "NO", nil})
				}
				return rows
			}},
		{Name: "columns", Columns: cols("table_catalog name, table_schema name, table_name name, column_name name, " +
			"ordinal_position int4, column_default varchar, is_nullable varchar, data_type varchar, character_maximum_length int4, " +
			"character_octet_length int4, numeric_precision int4, numeric_precision_radix int4, numeric_scale int4, " +
			"datetime_precision int4, interval_type varchar, interval_precision int4, character_set_catalog name, " +
			"character_set_schema name, character_set_name name, collation_catalog name, collation_schema name, collation_name name, " +
			"domain_catalog name, domain_schema name, domain_name name, udt_catalog name, udt_schema name, udt_name name, " +
			"scope_catalog name, scope_schema name, scope_name name, maximum_cardinality int4, dtd_identifier name, " +
			"is_self_referencing varchar, is_identity varchar, identity_generation varchar, identity_start varchar, " +
			"identity_increment varchar, identity_maximum varchar, identity_minimum varchar, identity_cycle varchar, " +
			"is_generated varchar, generation_expression varchar, is_updatable varchar"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, r := range s.Relations {
					for j, c := range r.Columns {
						charLen, numPrec, radix, numScale, dtPrec := typmodFacets(c.Type, c.Typmod)
						var octets any
						if n, ok := charLen.(int32); ok {
							octets = n * 4
						} else if c.Type == pgtypes.Text || c.Type == pgtypes.Varchar || c.Type == pgtypes.Bpchar {
							octets = int32(1073741824)
						}
						var def any
						if c.Default != "" {
							def = c.Default
						}
						t, _ := LookupType(c.Type)
						rows = append(rows, []any{s.Database, r.Schema, r.Name, c.Name, int32(j + 1), def, yesNo(!c.NotNull),
							dataType(c.Type), charLen, octets, numPrec, radix, numScale, dtPrec, nil, nil,
							nil, nil, nil, nil, nil, nil, nil, nil, nil, s.Database, "pg_catalog", t.Name,
							nil, nil, nil, nil, itoa(j + 1), "NO", "NO", nil, nil, nil, nil, nil, "NO",
							"NEVER", nil, yesNo(r.Kind == 'r' && !r.System)})
					}
				}
				return rows
			}},
		{Name: "views", Columns: cols("table_catalog name, table_schema name, table_name name, view_definition varchar, " +
			"check_option varchar, is_updatable varchar, is_insertable_into varchar, is_trigger_updatable varchar, " +
			"is_trigger_deletable varchar, is_trigger_insertable_into varchar"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, r := range s.Relations {
					if r.Kind == 'v' {
						rows = append(rows, []any{s.Database, r.Schema, r.Name, r.ViewDef, "NONE", "NO", "NO", "NO", "NO", "NO"})
					}
				}
				return rows
			}},
		{Name: "table_constraints", Columns: cols("constraint_catalog name, constraint_schema name, constraint_name name, " +
			"table_catalog name, table_schema name, table_name name, constraint_type varchar, is_deferrable varchar, " +
			"initially_deferred varchar, enforced varchar, nulls_distinct varchar"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, c := range constraints(s) {
					typ, nd := "PRIMARY KEY", any(nil)
					switch c.typ {
					case 'u':
						typ, nd = "UNIQUE", "YES"
					case 'f':
						typ = "FOREIGN KEY"
					}
					rows = append(rows, []any{s.Database, c.rel.Schema, c.name, s.Database, c.rel.Schema, c.rel.Name, typ, "NO", "NO", "YES", nd})
				}
				return rows
			}},
		{Name: "key_column_usage", Columns: cols("constraint_catalog name, constraint_schema name, constraint_name name, " +
			"table_catalog name, table_schema name, table_name name, column_name name, ordinal_position int4, " +
			"position_in_unique_constraint int4"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, c := range constraints(s) {
					for k, a := range c.cols {
						if a < 1 || a > len(c.rel.Columns) {
							continue
						}
						var pos any
						if c.typ == 'f' {
							pos = int32(k + 1)
						}
						rows = append(rows, []any{s.Database, c.rel.Schema, c.name, s.Database, c.rel.Schema, c.rel.Name,
							c.rel.Columns[a-1].Name, int32(k + 1), pos})
					}
				}
				return rows
			}},
		{Name: "constraint_column_usage", Columns: cols("table_catalog name, table_schema name, table_name name, column_name name, " +
			"constraint_catalog name, constraint_schema name, constraint_name name"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, c := range constraints(s) {
					rel, attnums := c.rel, c.cols
					if c.typ == 'f' {
						if c.refRel == nil {
							continue
						}
						rel, attnums = c.refRel, c.refCols
					}
					for _, a := range attnums {
						if a >= 1 && a <= len(rel.Columns) {
							rows = append(rows, []any{s.Database, rel.Schema, rel.Name, rel.Columns[a-1].Name, s.Database, c.rel.Schema, c.name})
						}
					}
				}
				return rows
			}},
		{Name: "referential_constraints", Columns: cols("constraint_catalog name, constraint_schema name, constraint_name name, " +
			"unique_constraint_catalog name, unique_constraint_schema name, unique_constraint_name name, match_option varchar, " +
			"update_rule varchar, delete_rule varchar"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, c := range constraints(s) {
					if c.typ != 'f' {
						continue
					}
					var uschema, uname any
					if c.refRel != nil && len(c.refRel.Indexes) > 0 {
						uschema, uname = c.refRel.Schema, IndexName(c.refRel, &c.refRel.Indexes[0])
					}
					rule := func(a string) string {
						if a == "" {
							return "NO ACTION"
						}
						return strings.ToUpper(a)
					}
					rows = append(rows, []any{s.Database, c.rel.Schema, c.name, s.Database, uschema, uname, "NONE",
						rule(c.fk.OnUpdate), rule(c.fk.OnDelete)})
				}
				return rows
			}},
		{Name: "routines", Columns: cols("specific_catalog name, specific_schema name, specific_name name, routine_catalog name, " +
			"routine_schema name, routine_name name, routine_type varchar, data_type varchar, type_udt_catalog name, " +
			"type_udt_schema name, type_udt_name name, routine_body varchar, routine_definition varchar, external_name varchar, " +
			"external_language varchar, is_deterministic varchar, sql_data_access varchar, is_null_call varchar, " +
			"security_type varchar"), Rows: empty},
		{Name: "check_constraints", Columns: cols("constraint_catalog name, constraint_schema name, constraint_name name, check_clause varchar"), Rows: empty},
	}
	for i := range ts {
		ts[i].Kind = 'v'
	}
	return ts
}

func itoa(n int) string { return strconv.Itoa(n) }
