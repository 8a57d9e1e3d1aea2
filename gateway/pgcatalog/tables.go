package pgcatalog

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dualgate/dualgate/gateway/pgtypes"
)

// Col is a catalog table column: its PostgreSQL 15 name and type.
type Col struct {
	Name string
	Type uint32
}

// Table is a catalog relation whose rows are computed from a Snapshot.
// Row values are Go values matching the column types: int64 for oid and
// int8, int32 for int4, int16 for int2, float32 for float4, bool, string
// for text-like and catalog-only types (arrays as their text literal),
// nil for NULL.
type Table struct {
	Name    string
	Comment string
	// Kind is the relation's pg_class.relkind: 'r' for a table (the
	// zero value means 'r'), 'v' for the relations PostgreSQL defines as
	// views (pg_tables, pg_roles, every information_schema relation, ...).
	Kind    byte
	Columns []Col
	Rows    func(s *Snapshot) [][]any
}

// RelKind is t's pg_class.relkind.
func (t Table) RelKind() byte {
	if t.Kind == 0 {
		return 'r'
	}
	return t.Kind
}

// catalogViews are the pg_catalog relations that PostgreSQL 15 defines as
// views over its catalog tables (system_views.sql); the rest are tables.
var catalogViews = map[string]bool{
	"pg_roles": true, "pg_user": true, "pg_settings": true, "pg_tables": true, "pg_views": true,
	"pg_matviews": true, "pg_indexes": true, "pg_stat_user_tables": true,
}

// typeByWord spells column types in the table definitions below.
var typeByWord = map[string]uint32{
	"oid": pgtypes.OID, "name": pgtypes.NameOID, "text": pgtypes.Text, "char": pgtypes.Char,
	"bool": pgtypes.Bool, "int2": pgtypes.Int2, "int4": pgtypes.Int4, "int8": pgtypes.Int8,
	"float4": pgtypes.Float4, "float8": pgtypes.Float8, "timestamptz": pgtypes.Timestamptz,
	"varchar": pgtypes.Varchar, "int2vector": Int2Vector, "oidvector": OIDVector,
	"regproc": RegProc, "xid": XID, "pg_node_tree": PgNodeTree, "aclitem[]": ACLItemArr,
	"text[]": pgtypes.TextArray, "int2[]": pgtypes.Int2Array, "oid[]": pgtypes.OIDArray,
	"char[]": CharArray, "name[]": NameArray, "interval": pgtypes.Interval,
}

// cols parses "name type, name type, ...".
func cols(spec string) []Col {
	var out []Col
	for _, part := range strings.Split(spec, ",") {
		f := strings.Fields(part)
		if len(f) != 2 {
			panic("pgcatalog: bad column spec " + part)
		}
		t, ok := typeByWord[f[1]]
		if !ok {
			panic("pgcatalog: unknown column type " + f[1])
		}
		out = append(out, Col{f[0], t})
	}
	return out
}

func o(v uint32) int64 { return int64(v) }

// vec prints an int2vector/oidvector ("1 2").
func vec[T int | int16 | uint32](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.FormatInt(int64(x), 10)
	}
	return strings.Join(s, " ")
}

// arr prints a one-dimensional array literal of integers ("{1,2}").
func arr(xs []int) string {
	return "{" + strings.ReplaceAll(vec(xs), " ", ",") + "}"
}

// textArray prints a text array literal of non-NULL elements.
func textArray(xs []string) string {
	elems := make([]*string, len(xs))
	for i := range xs {
		elems[i] = &xs[i]
	}
	return ArrayLiteral(elems)
}

func repeat[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func empty(*Snapshot) [][]any { return nil }

// xidZero is every xid column's value: dualgate has no Postgres
// transaction ids (0 is InvalidTransactionId).
const xidZero = "0"

// owner is the role owning every object.
const owner = "dualgate"

// typeCollation is a column's collation: the type's.
func typeCollation(oid uint32) uint32 {
	if t, ok := LookupType(oid); ok {
		return t.Collation
	}
	return 0
}

// IndexName is the Postgres name of a relation's index: <table>_pkey for
// the primary key.
func IndexName(rel *Relation, ix *Index) string {
	if ix.Primary && (ix.Name == "" || strings.EqualFold(ix.Name, "primary")) {
		return rel.Name + "_pkey"
	}
	return ix.Name
}

func fkAction(a string) string {
	switch strings.ToUpper(a) {
	case "CASCADE":
		return "c"
	case "RESTRICT":
		return "r"
	case "SET NULL":
		return "n"
	case "SET DEFAULT":
		return "d"
	}
	return "a"
}

// constraint is a pg_constraint row's essentials.
type constraint struct {
	rel     *Relation
	name    string
	typ     byte
	cols    []int
	index   *Index
	fk      *ForeignKey
	refRel  *Relation
	refCols []int
}

func (c constraint) oid() uint32 { return c.rel.ConstraintOID(c.name) }

// constraints lists every constraint: primary keys, unique indexes and
// foreign keys.
func constraints(s *Snapshot) []constraint {
	var out []constraint
	for i := range s.Relations {
		r := &s.Relations[i]
		for j := range r.Indexes {
			ix := &r.Indexes[j]
			switch {
			case ix.Primary:
				out = append(out, constraint{rel: r, name: IndexName(r, ix), typ: 'p', cols: ix.Columns, index: ix})
			case ix.Unique:
				out = append(out, constraint{rel: r, name: IndexName(r, ix), typ: 'u', cols: ix.Columns, index: ix})
			}
		}
		for j := range r.Foreign {
			fk := &r.Foreign[j]
			c := constraint{rel: r, name: fk.Name, typ: 'f', cols: fk.Columns, fk: fk}
			if ref := s.RelationByName(fk.RefSchema, fk.RefTable); ref != nil {
				c.refRel = ref
				for _, rc := range fk.RefColumns {
					for k, col := range ref.Columns {
						if strings.EqualFold(col.Name, rc) {
							c.refCols = append(c.refCols, k+1)
						}
					}
				}
			}
			out = append(out, c)
		}
	}
	return out
}

// Tables returns the pg_catalog relations, with PostgreSQL's relkind.
func Tables() []Table {
	ts := []Table{
		{Name: "pg_namespace", Columns: cols("oid oid, nspname name, nspowner oid, nspacl aclitem[]"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, sc := range s.Schemas {
					rows = append(rows, []any{o(NamespaceOID(sc.Name)), sc.Name, o(SuperuserOID), nil})
				}
				return rows
			}},
		{Name: "pg_class", Columns: cols("oid oid, relname name, relnamespace oid, reltype oid, reloftype oid, relowner oid, relam oid, " +
			"relfilenode oid, reltablespace oid, relpages int4, reltuples float4, relallvisible int4, reltoastrelid oid, relhasindex bool, " +
			"relisshared bool, relpersistence char, relkind char, relnatts int2, relchecks int2, relhasrules bool, relhastriggers bool, " +
			"relhassubclass bool, relrowsecurity bool, relforcerowsecurity bool, relispopulated bool, relreplident char, relispartition bool, " +
			"relrewrite oid, relfrozenxid xid, relminmxid xid, relacl aclitem[], reloptions text[], relpartbound pg_node_tree"),
			Rows: pgClassRows},
		{Name: "pg_attribute", Columns: cols("attrelid oid, attname name, atttypid oid, attstattarget int4, attlen int2, attnum int2, " +
			"attndims int4, attcacheoff int4, atttypmod int4, attbyval bool, attalign char, attstorage char, attcompression char, " +
			"attnotnull bool, atthasdef bool, atthasmissing bool, attidentity char, attgenerated char, attisdropped bool, attislocal bool, " +
			"attinhcount int4, attcollation oid, attacl aclitem[], attoptions text[], attfdwoptions text[], attmissingval text"),
			Rows: pgAttributeRows},
		{Name: "pg_type", Columns: cols("oid oid, typname name, typnamespace oid, typowner oid, typlen int2, typbyval bool, typtype char, " +
			"typcategory char, typispreferred bool, typisdefined bool, typdelim char, typrelid oid, typsubscript regproc, typelem oid, " +
			"typarray oid, typinput regproc, typoutput regproc, typreceive regproc, typsend regproc, typmodin regproc, typmodout regproc, " +
			"typanalyze regproc, typalign char, typstorage char, typnotnull bool, typbasetype oid, typtypmod int4, typndims int4, " +
			"typcollation oid, typdefaultbin pg_node_tree, typdefault text, typacl aclitem[]"),
			Rows: pgTypeRows},
		{Name: "pg_index", Columns: cols("indexrelid oid, indrelid oid, indnatts int2, indnkeyatts int2, indisunique bool, " +
			"indnullsnotdistinct bool, indisprimary bool, indisexclusion bool, indimmediate bool, indisclustered bool, indisvalid bool, " +
			"indcheckxmin bool, indisready bool, indislive bool, indisreplident bool, indkey int2vector, indcollation oidvector, " +
			"indclass oidvector, indoption int2vector, indexprs pg_node_tree, indpred pg_node_tree"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for i := range s.Relations {
					r := &s.Relations[i]
					for j := range r.Indexes {
						ix := &r.Indexes[j]
						n := int16(len(ix.Columns))
						colls := make([]uint32, len(ix.Columns))
						for k, a := range ix.Columns {
							if a >= 1 && a <= len(r.Columns) {
								colls[k] = typeCollation(r.Columns[a-1].Type)
							}
						}
						rows = append(rows, []any{o(r.IndexOID(ix)), o(r.OID), n, n, ix.Unique || ix.Primary, false, ix.Primary,
							false, true, false, true, false, true, true, false, vec(ix.Columns), vec(colls),
							vec(repeat(uint32(0), len(ix.Columns))), vec(repeat(0, len(ix.Columns))), nil, nil})
					}
				}
				return rows
			}},
		{Name: "pg_constraint", Columns: cols("oid oid, conname name, connamespace oid, contype char, condeferrable bool, condeferred bool, " +
			"convalidated bool, conrelid oid, contypid oid, conindid oid, conparentid oid, confrelid oid, confupdtype char, confdeltype char, " +
			"confmatchtype char, conislocal bool, coninhcount int4, connoinherit bool, conkey int2[], confkey int2[], conpfeqop oid[], " +
			"conppeqop oid[], conffeqop oid[], confdelsetcols int2[], conexclop oid[], conbin pg_node_tree"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, c := range constraints(s) {
					var indid, frel int64
					upd, del, match := " ", " ", " "
					var confkey any
					if c.index != nil {
						indid = o(c.rel.IndexOID(c.index))
					}
					if c.fk != nil {
						upd, del, match = fkAction(c.fk.OnUpdate), fkAction(c.fk.OnDelete), "s"
						if c.refRel != nil {
							frel = o(c.refRel.OID)
							if len(c.refRel.Indexes) > 0 {
								indid = o(c.refRel.IndexOID(&c.refRel.Indexes[0]))
							}
							confkey = arr(c.refCols)
						}
					}
					rows = append(rows, []any{o(c.oid()), c.name, o(NamespaceOID(c.rel.Schema)), string(c.typ), false, false,
						true, o(c.rel.OID), int64(0), indid, int64(0), frel, upd, del, match, true, int32(0), true,
						arr(c.cols), confkey, nil, nil, nil, nil, nil, nil})
				}
				return rows
			}},
		{Name: "pg_attrdef", Columns: cols("oid oid, adrelid oid, adnum int2, adbin pg_node_tree"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for i := range s.Relations {
					r := &s.Relations[i]
					for j, c := range r.Columns {
						if c.Default != "" {
							rows = append(rows, []any{o(ObjectOID("attrdef", r.Schema, r.Name, c.Name)), o(r.OID), int16(j + 1), c.Default})
						}
					}
				}
				return rows
			}},
		{Name: "pg_description", Columns: cols("objoid oid, classoid oid, objsubid int4, description text"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, sc := range s.Schemas {
					if sc.Comment != "" {
						rows = append(rows, []any{o(NamespaceOID(sc.Name)), o(PgNamespaceOID), int32(0), sc.Comment})
					}
				}
				for i := range s.Procedures {
					if pr := &s.Procedures[i]; pr.Comment != "" {
						rows = append(rows, []any{o(pr.OID()), o(PgProcOID), int32(0), pr.Comment})
					}
				}
				for i := range s.Relations {
					r := &s.Relations[i]
					rows = append(rows, []any{o(r.OID), o(PgClassOID), int32(0), Labeled(r.Schema, r.Name, r.Kind, r.Comment)})
					for j, c := range r.Columns {
						if c.Comment != "" {
							rows = append(rows, []any{o(r.OID), o(PgClassOID), int32(j + 1), c.Comment})
						}
					}
				}
				return rows
			}},
		{Name: "pg_shdescription", Columns: cols("objoid oid, classoid oid, description text"),
			Rows: func(s *Snapshot) [][]any {
				return [][]any{{o(DatabaseOID), o(PgDatabaseOID), "dualgate: canonical (AUTHORITATIVE) and serving (DERIVED) data behind one Postgres endpoint"}}
			}},
		{Name: "pg_database", Columns: cols("oid oid, datname name, datdba oid, encoding int4, datlocprovider char, datistemplate bool, " +
			"datallowconn bool, datconnlimit int4, datfrozenxid xid, datminmxid xid, dattablespace oid, datcollate text, datctype text, " +
			"daticulocale text, datcollversion text, datacl aclitem[]"),
			Rows: func(s *Snapshot) [][]any {
				return [][]any{{o(DatabaseOID), s.Database, o(SuperuserOID), int32(6), "c", false, true, int32(-1), xidZero, "1",
					o(DefaultTablespace), "C.UTF-8", "C.UTF-8", nil, nil, nil}}
			}},
		{Name: "pg_roles", Columns: cols("rolname name, rolsuper bool, rolinherit bool, rolcreaterole bool, rolcreatedb bool, " +
			"rolcanlogin bool, rolreplication bool, rolconnlimit int4, rolpassword text, rolvaliduntil timestamptz, rolbypassrls bool, " +
			"rolconfig text[], oid oid"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, r := range roles(s) {
					rows = append(rows, []any{r.name, r.super, true, r.super, r.super, true, false, int32(-1), "********", nil, r.super, nil, o(r.oid)})
				}
				return rows
			}},
		{Name: "pg_authid", Columns: cols("oid oid, rolname name, rolsuper bool, rolinherit bool, rolcreaterole bool, rolcreatedb bool, " +
			"rolcanlogin bool, rolreplication bool, rolbypassrls bool, rolconnlimit int4, rolpassword text, rolvaliduntil timestamptz"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, r := range roles(s) {
					rows = append(rows, []any{o(r.oid), r.name, r.super, true, r.super, r.super, true, false, r.super, int32(-1), nil, nil})
				}
				return rows
			}},
		{Name: "pg_user", Columns: cols("usename name, usesysid oid, usecreatedb bool, usesuper bool, userepl bool, usebypassrls bool, " +
			"passwd text, valuntil timestamptz, useconfig text[]"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, r := range roles(s) {
					rows = append(rows, []any{r.name, o(r.oid), r.super, r.super, false, r.super, "********", nil, nil})
				}
				return rows
			}},
		{Name: "pg_auth_members", Columns: cols("oid oid, roleid oid, member oid, grantor oid, admin_option bool"), Rows: empty},
		{Name: "pg_settings", Columns: cols("name text, setting text, unit text, category text, short_desc text, extra_desc text, " +
			"context text, vartype text, source text, min_val text, max_val text, enumvals text[], boot_val text, reset_val text, " +
			"sourcefile text, sourceline int4, pending_restart bool"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, st := range s.Settings {
					vt := "string"
					switch st.Value {
					case "on", "off":
						vt = "bool"
					}
					rows = append(rows, []any{st.Name, st.Value, nil, "Client Connection Defaults", st.Desc, nil,
						"user", vt, "default", nil, nil, nil, st.Value, st.Value, nil, nil, false})
				}
				return rows
			}},
		{Name: "pg_tables", Columns: cols("schemaname name, tablename name, tableowner name, tablespace name, hasindexes bool, " +
			"hasrules bool, hastriggers bool, rowsecurity bool"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, r := range s.Relations {
					if r.Kind == 'r' {
						rows = append(rows, []any{r.Schema, r.Name, owner, nil, len(r.Indexes) > 0, false, false, false})
					}
				}
				return rows
			}},
		{Name: "pg_views", Columns: cols("schemaname name, viewname name, viewowner name, definition text"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, r := range s.Relations {
					if r.Kind == 'v' {
						rows = append(rows, []any{r.Schema, r.Name, owner, r.ViewDef})
					}
				}
				return rows
			}},
		{Name: "pg_matviews", Columns: cols("schemaname name, matviewname name, matviewowner name, tablespace name, hasindexes bool, ispopulated bool, definition text"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, r := range s.Relations {
					if r.Kind == 'm' {
						rows = append(rows, []any{r.Schema, r.Name, owner, nil, len(r.Indexes) > 0, true, r.ViewDef})
					}
				}
				return rows
			}},
		{Name: "pg_indexes", Columns: cols("schemaname name, tablename name, indexname name, tablespace name, indexdef text"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for i := range s.Relations {
					r := &s.Relations[i]
					for j := range r.Indexes {
						rows = append(rows, []any{r.Schema, r.Name, IndexName(r, &r.Indexes[j]), nil, IndexDef(r, &r.Indexes[j], 0)})
					}
				}
				return rows
			}},
		{Name: "pg_am", Columns: cols("oid oid, amname name, amhandler regproc, amtype char"),
			Rows: func(*Snapshot) [][]any {
				return [][]any{{o(HeapAM), "heap", "heap_tableam_handler", "t"}, {o(BtreeAM), "btree", "bthandler", "i"},
					{int64(405), "hash", "hashhandler", "i"}}
			}},
		{Name: "pg_proc", Columns: cols("oid oid, proname name, pronamespace oid, proowner oid, prolang oid, procost float4, " +
			"prorows float4, provariadic oid, prosupport regproc, prokind char, prosecdef bool, proleakproof bool, proisstrict bool, " +
			"proretset bool, provolatile char, proparallel char, pronargs int2, pronargdefaults int2, prorettype oid, proargtypes oidvector, " +
			"proallargtypes oid[], proargmodes char[], proargnames text[], proargdefaults pg_node_tree, protrftypes oid[], prosrc text, " +
			"probin text, prosqlbody pg_node_tree, proconfig text[], proacl aclitem[]"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, f := range procs {
					rows = append(rows, []any{o(ObjectOID("proc", f.name)), f.name, o(PgCatalogNamespace), o(SuperuserOID), int64(12),
						float32(1), float32(0), int64(0), "-", "f", false, false, true, false, "s", "s", int16(len(f.args)), int16(0),
						o(f.ret), vec(f.args), nil, nil, nil, nil, nil, f.name, nil, nil, nil, nil})
				}
				// CALL-able procedures: language internal (they are Go),
				// volatile, returning void as a Postgres procedure
				// without OUT arguments does.
				for i := range s.Procedures {
					pr := &s.Procedures[i]
					rows = append(rows, []any{o(pr.OID()), pr.Name, o(NamespaceOID(pr.Schema)), o(SuperuserOID), int64(12),
						float32(100), float32(0), int64(0), "-", "p", false, false, false, false, "v", "u", int16(len(pr.ArgTypes)), int16(0),
						o(Void), vec(pr.ArgTypes), nil, nil, textArray(pr.ArgNames), nil, nil, pr.Schema + "." + pr.Name, nil, nil, nil, nil})
				}
				return rows
			}},
		{Name: "pg_language", Columns: cols("oid oid, lanname name, lanowner oid, lanispl bool, lanpltrusted bool, lanplcallfoid oid, " +
			"laninline oid, lanvalidator oid, lanacl aclitem[]"),
			Rows: func(*Snapshot) [][]any {
				return [][]any{{int64(12), "internal", o(SuperuserOID), false, false, int64(0), int64(0), int64(0), nil},
					{int64(14), "sql", o(SuperuserOID), false, true, int64(0), int64(0), int64(0), nil}}
			}},
		{Name: "pg_collation", Columns: cols("oid oid, collname name, collnamespace oid, collowner oid, collprovider char, " +
			"collisdeterministic bool, collencoding int4, collcollate text, collctype text, colliculocale text, collversion text"),
			Rows: func(*Snapshot) [][]any {
				return [][]any{
					{o(DefaultCollation), "default", o(PgCatalogNamespace), o(SuperuserOID), "d", true, int32(-1), nil, nil, nil, nil},
					{o(CCollation), "C", o(PgCatalogNamespace), o(SuperuserOID), "c", true, int32(-1), "C", "C", nil, nil},
					{int64(951), "POSIX", o(PgCatalogNamespace), o(SuperuserOID), "c", true, int32(-1), "POSIX", "POSIX", nil, nil},
				}
			}},
		{Name: "pg_tablespace", Columns: cols("oid oid, spcname name, spcowner oid, spcacl aclitem[], spcoptions text[]"),
			Rows: func(*Snapshot) [][]any {
				return [][]any{{o(DefaultTablespace), "pg_default", o(SuperuserOID), nil, nil},
					{o(GlobalTablespace), "pg_global", o(SuperuserOID), nil, nil}}
			}},
		{Name: "pg_inherits", Columns: cols("inhrelid oid, inhparent oid, inhseqno int4, inhdetachpending bool"), Rows: empty},
		{Name: "pg_stat_user_tables", Columns: cols("relid oid, schemaname name, relname name, seq_scan int8, seq_tup_read int8, " +
			"idx_scan int8, idx_tup_fetch int8, n_tup_ins int8, n_tup_upd int8, n_tup_del int8, n_tup_hot_upd int8, n_live_tup int8, " +
			"n_dead_tup int8, n_mod_since_analyze int8, n_ins_since_vacuum int8, last_vacuum timestamptz, last_autovacuum timestamptz, " +
			"last_analyze timestamptz, last_autoanalyze timestamptz, vacuum_count int8, autovacuum_count int8, analyze_count int8, " +
			"autoanalyze_count int8"),
			Rows: func(s *Snapshot) [][]any {
				var rows [][]any
				for _, r := range s.Relations {
					if r.Kind != 'r' || r.Schema == "pg_catalog" || r.Schema == "information_schema" {
						continue
					}
					row := []any{o(r.OID), r.Schema, r.Name}
					for i := 0; i < 20; i++ { // 12 counters, 4 timestamps, 4 counters
						if i >= 12 && i < 16 {
							row = append(row, nil)
						} else {
							row = append(row, int64(0))
						}
					}
					rows = append(rows, row)
				}
				return rows
			}},
		{Name: "pg_trigger", Columns: cols("oid oid, tgrelid oid, tgparentid oid, tgname name, tgfoid oid, tgtype int2, tgenabled char, " +
			"tgisinternal bool, tgconstrrelid oid, tgconstrindid oid, tgconstraint oid, tgdeferrable bool, tginitdeferred bool, " +
			"tgnargs int2, tgattr int2vector, tgargs text, tgqual pg_node_tree, tgoldtable name, tgnewtable name"), Rows: empty},
		{Name: "pg_rewrite", Columns: cols("oid oid, rulename name, ev_class oid, ev_type char, ev_enabled char, is_instead bool, " +
			"ev_qual pg_node_tree, ev_action pg_node_tree"), Rows: empty},
		{Name: "pg_policy", Columns: cols("oid oid, polname name, polrelid oid, polcmd char, polpermissive bool, polroles oid[], " +
			"polqual pg_node_tree, polwithcheck pg_node_tree"), Rows: empty},
		{Name: "pg_statistic_ext", Columns: cols("oid oid, stxrelid oid, stxname name, stxnamespace oid, stxowner oid, " +
			"stxstattarget int4, stxkeys int2vector, stxkind char[], stxexprs pg_node_tree"), Rows: empty},
		{Name: "pg_publication", Columns: cols("oid oid, pubname name, pubowner oid, puballtables bool, pubinsert bool, pubupdate bool, " +
			"pubdelete bool, pubtruncate bool, pubviaroot bool"), Rows: empty},
		{Name: "pg_publication_rel", Columns: cols("oid oid, prpubid oid, prrelid oid, prqual pg_node_tree, prattrs int2vector"), Rows: empty},
		{Name: "pg_publication_namespace", Columns: cols("oid oid, pnpubid oid, pnnspid oid"), Rows: empty},
		{Name: "pg_extension", Columns: cols("oid oid, extname name, extowner oid, extnamespace oid, extrelocatable bool, " +
			"extversion text, extconfig oid[], extcondition text[]"), Rows: empty},
		{Name: "pg_enum", Columns: cols("oid oid, enumtypid oid, enumsortorder float4, enumlabel name"), Rows: empty},
		{Name: "pg_range", Columns: cols("rngtypid oid, rngsubtype oid, rngmultitypid oid, rngcollation oid, rngsubopc oid, " +
			"rngcanonical regproc, rngsubdiff regproc"), Rows: empty},
		{Name: "pg_depend", Columns: cols("classid oid, objid oid, objsubid int4, refclassid oid, refobjid oid, refobjsubid int4, deptype char"), Rows: empty},
		{Name: "pg_sequence", Columns: cols("seqrelid oid, seqtypid oid, seqstart int8, seqincrement int8, seqmax int8, seqmin int8, " +
			"seqcache int8, seqcycle bool"), Rows: empty},
		{Name: "pg_foreign_table", Columns: cols("ftrelid oid, ftserver oid, ftoptions text[]"), Rows: empty},
		{Name: "pg_partitioned_table", Columns: cols("partrelid oid, partstrat char, partnatts int2, partdefid oid, partattrs int2vector, " +
			"partclass oidvector, partcollation oidvector, partexprs pg_node_tree"), Rows: empty},
		{Name: "pg_event_trigger", Columns: cols("oid oid, evtname name, evtevent name, evtowner oid, evtfoid oid, evtenabled char, evttags text[]"), Rows: empty},
	}
	for i := range ts {
		if catalogViews[ts[i].Name] {
			ts[i].Kind = 'v'
		}
	}
	return ts
}

func pgClassRows(s *Snapshot) [][]any {
	var rows [][]any
	// Postgres enforces a foreign key with internal triggers on both the
	// referencing and the referenced table, so both have relhastriggers,
	// and psql's \d shows their foreign-key sections only when it is set.
	fkTables := map[string]bool{}
	for i := range s.Relations {
		r := &s.Relations[i]
		for _, fk := range r.Foreign {
			fkTables[r.Schema+"."+r.Name] = true
			fkTables[fk.RefSchema+"."+fk.RefTable] = true
		}
	}
	for i := range s.Relations {
		r := &s.Relations[i]
		ns := o(NamespaceOID(r.Schema))
		am, replident := o(HeapAM), "d"
		if r.Kind != 'r' {
			am, replident = 0, "n"
		}
		rows = append(rows, []any{o(r.OID), r.Name, ns, int64(0), int64(0), o(SuperuserOID), am,
			o(r.OID), int64(0), int32(0), float32(-1), int32(0), int64(0), len(r.Indexes) > 0,
			false, "p", string(r.Kind), int16(len(r.Columns)), int16(0), false, fkTables[r.Schema+"."+r.Name],
			false, false, false, true, replident, false,
			int64(0), xidZero, xidZero, nil, nil, nil})
		for j := range r.Indexes {
			ix := &r.Indexes[j]
			oid := o(r.IndexOID(ix))
			rows = append(rows, []any{oid, IndexName(r, ix), ns, int64(0), int64(0), o(SuperuserOID), o(BtreeAM),
				oid, int64(0), int32(1), float32(0), int32(0), int64(0), false,
				false, "p", "i", int16(len(ix.Columns)), int16(0), false, false,
				false, false, false, true, "n", false,
				int64(0), xidZero, xidZero, nil, nil, nil})
		}
	}
	return rows
}

func attributeRow(rel int64, name string, typ uint32, typmod int32, num int, notNull, hasDef bool) []any {
	t, _ := LookupType(typ)
	ndims := int32(0)
	if t.Elem != 0 && t.Category == 'A' {
		ndims = 1
	}
	align, storage := "i", "x"
	if t.Align != 0 {
		align, storage = string(t.Align), string(t.Storage)
	}
	return []any{rel, name, o(typ), int32(-1), t.Len, int16(num), ndims, int32(-1), typmod, t.ByVal, align, storage, "",
		notNull, hasDef, false, "", "", false, true, int32(0), o(typeCollation(typ)), nil, nil, nil, nil}
}

func pgAttributeRows(s *Snapshot) [][]any {
	var rows [][]any
	for i := range s.Relations {
		r := &s.Relations[i]
		rel := o(r.OID)
		for j, c := range r.Columns {
			rows = append(rows, attributeRow(rel, c.Name, c.Type, c.Typmod, j+1, c.NotNull, c.Default != ""))
		}
		for j := range r.Indexes {
			ix := &r.Indexes[j]
			for k, a := range ix.Columns {
				if a >= 1 && a <= len(r.Columns) {
					c := r.Columns[a-1]
					rows = append(rows, attributeRow(o(r.IndexOID(ix)), c.Name, c.Type, c.Typmod, k+1, c.NotNull, false))
				}
			}
		}
	}
	return rows
}

func pgTypeRows(*Snapshot) [][]any {
	rows := make([][]any, 0, len(allTypes))
	for _, t := range allTypes {
		in, out, recv, send, sub := t.Name+"in", t.Name+"out", t.Name+"recv", t.Name+"send", "-"
		if t.Category == 'A' && t.OID != Int2Vector && t.OID != OIDVector {
			in, out, recv, send, sub = "array_in", "array_out", "array_recv", "array_send", "array_subscript_handler"
		}
		rows = append(rows, []any{o(t.OID), t.Name, o(PgCatalogNamespace), o(SuperuserOID), t.Len, t.ByVal, "b",
			string(t.Category), t.Preferred, true, ",", int64(0), sub, o(t.Elem),
			o(t.Array), in, out, recv, send, "-", "-",
			"-", string(t.Align), string(t.Storage), false, int64(0), int32(-1), int32(0),
			o(t.Collation), nil, nil, nil})
	}
	return rows
}

type role struct {
	name  string
	oid   uint32
	super bool
}

// roles are the owner of every object (oid 10) and the session user.
func roles(s *Snapshot) []role {
	out := []role{{owner, SuperuserOID, true}}
	if s.User != "" && s.User != owner {
		out = append(out, role{s.User, RoleOID(s.User), s.Superuser})
	}
	return out
}

// RoleOID is the oid of a role: 10 for dualgate, the owner of every
// object, a hash of the name otherwise.
func RoleOID(name string) uint32 {
	if name == owner {
		return SuperuserOID
	}
	return ObjectOID("role", name)
}

// proc is a pg_proc row of a catalog function.
type proc struct {
	name string
	args []uint32
	ret  uint32
}

var procs = []proc{
	{"format_type", []uint32{pgtypes.OID, pgtypes.Int4}, pgtypes.Text},
	{"pg_get_expr", []uint32{PgNodeTree, pgtypes.OID}, pgtypes.Text},
	{"pg_get_indexdef", []uint32{pgtypes.OID}, pgtypes.Text},
	{"pg_get_constraintdef", []uint32{pgtypes.OID}, pgtypes.Text},
	{"pg_get_viewdef", []uint32{pgtypes.OID}, pgtypes.Text},
	{"pg_table_is_visible", []uint32{pgtypes.OID}, pgtypes.Bool},
	{"pg_type_is_visible", []uint32{pgtypes.OID}, pgtypes.Bool},
	{"obj_description", []uint32{pgtypes.OID, pgtypes.NameOID}, pgtypes.Text},
	{"col_description", []uint32{pgtypes.OID, pgtypes.Int4}, pgtypes.Text},
	{"shobj_description", []uint32{pgtypes.OID, pgtypes.NameOID}, pgtypes.Text},
	{"pg_get_userbyid", []uint32{pgtypes.OID}, pgtypes.NameOID},
	{"has_table_privilege", []uint32{pgtypes.Text, pgtypes.Text}, pgtypes.Bool},
	{"has_schema_privilege", []uint32{pgtypes.Text, pgtypes.Text}, pgtypes.Bool},
	{"has_database_privilege", []uint32{pgtypes.Text, pgtypes.Text}, pgtypes.Bool},
	{"current_setting", []uint32{pgtypes.Text}, pgtypes.Text},
	{"set_config", []uint32{pgtypes.Text, pgtypes.Text, pgtypes.Bool}, pgtypes.Text},
	{"array_to_string", []uint32{2277, pgtypes.Text}, pgtypes.Text},
	{"quote_ident", []uint32{pgtypes.Text}, pgtypes.Text},
	{"pg_encoding_to_char", []uint32{pgtypes.Int4}, pgtypes.NameOID},
	{"version", nil, pgtypes.Text},
}

// IndexDef is pg_get_indexdef's text for an index; col > 0 gives just
// that key column's name.
func IndexDef(r *Relation, ix *Index, col int) string {
	names := make([]string, 0, len(ix.Columns))
	for _, a := range ix.Columns {
		if a >= 1 && a <= len(r.Columns) {
			names = append(names, QuoteIdent(r.Columns[a-1].Name))
		}
	}
	if col > 0 {
		if col <= len(names) {
			return names[col-1]
		}
		return ""
	}
	unique := ""
	if ix.Unique || ix.Primary {
		unique = "UNIQUE "
	}
	return fmt.Sprintf("CREATE %sINDEX %s ON %s.%s USING btree (%s)", unique, QuoteIdent(IndexName(r, ix)),
		QuoteIdent(r.Schema), QuoteIdent(r.Name), strings.Join(names, ", "))
}

// ConstraintDef is pg_get_constraintdef's text for a constraint.
func ConstraintDef(s *Snapshot, oid uint32) (string, bool) {
	for _, c := range constraints(s) {
		if c.oid() != oid {
			continue
		}
		names := func(r *Relation, attnums []int) string {
			out := make([]string, 0, len(attnums))
			for _, a := range attnums {
				if r != nil && a >= 1 && a <= len(r.Columns) {
					out = append(out, QuoteIdent(r.Columns[a-1].Name))
				}
			}
			return strings.Join(out, ", ")
		}
		switch c.typ {
		case 'p':
			return "PRIMARY KEY (" + names(c.rel, c.cols) + ")", true
		case 'u':
			return "UNIQUE (" + names(c.rel, c.cols) + ")", true
		case 'f':
			ref := QuoteIdent(c.fk.RefSchema) + "." + QuoteIdent(c.fk.RefTable)
			refCols := make([]string, len(c.fk.RefColumns))
			for i, rc := range c.fk.RefColumns {
				refCols[i] = QuoteIdent(rc)
			}
			def := "FOREIGN KEY (" + names(c.rel, c.cols) + ") REFERENCES " + ref + "(" + strings.Join(refCols, ", ") + ")"
			if a := strings.ToUpper(c.fk.OnUpdate); a != "" && a != "NO ACTION" {
				def += " ON UPDATE " + a
			}
			if a := strings.ToUpper(c.fk.OnDelete); a != "" && a != "NO ACTION" {
				def += " ON DELETE " + a
			}
			return def, true
		}
	}
	return "", false
}

// reserved lists the keywords quote_ident quotes: PostgreSQL 15's
// reserved, type/function-name and column-name keywords (every keyword
// but the unreserved ones).
var reserved = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`all analyse analyze and any array as asc asymmetric authorization binary both case cast check
		collate collation column concurrently constraint create cross current_catalog current_date current_role current_schema
		current_time current_timestamp current_user default deferrable desc distinct do else end except false fetch for foreign
		freeze from full grant group having ilike in initially inner intersect into is isnull join lateral leading left like limit
		localtime localtimestamp natural not notnull null offset on only or order outer overlaps placing primary references
		returning right select session_user similar some symmetric table tablesample then to trailing true union unique
		user using variadic verbose when where window with
		between bigint bit boolean char character coalesce dec decimal exists extract float greatest grouping inout int integer
		interval least national nchar none normalize nullif numeric out overlay position precision real row setof smallint
		substring time timestamp treat trim values varchar xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces
		xmlparse xmlpi xmlroot xmlserialize xmltable`) {
		reserved[w] = true
	}
}

// QuoteIdent is PostgreSQL's quote_ident: quoted unless the name is a
// lower-case identifier that is not a reserved word.
func QuoteIdent(s string) string {
	ok := s != "" && !reserved[s]
	for i, r := range s {
		if !(r == '_' || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9') || (i > 0 && r == '$')) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
