// Package pgcatalog emulates PostgreSQL 15's system catalogs (pg_catalog)
// and information_schema over whatever the engine holds at the moment of
// a scan, so drivers, psql and BI tools can browse dualgate as a Postgres
// server.
//
// The package knows nothing of the engine's storage: the gateway hands it
// a Snapshot (schemas, relations, columns with their Postgres types, keys,
// comments, settings) taken from the live engine for each statement, and
// every catalog row is computed from it. Tables lists the pg_catalog
// relations, InformationSchema the information_schema views, and
// Functions the catalog functions (format_type, obj_description,
// pg_get_indexdef, current_setting, ...) as go-mysql-server functions.
//
// Object ids: relation ids are the gateway's RelationOID (the table OID
// of RowDescription), supplied by the snapshot; namespace ids are
// PostgreSQL's for pg_catalog (11) and public (2200), and a stable hash
// for other schemas (NamespaceOID); constraint ids hash the constraint's
// qualified name (ObjectOID).
package pgcatalog

import (
	"hash/fnv"
	"strings"
)

// Well-known object ids.
const (
	PgCatalogNamespace   uint32 = 11
	PublicNamespace      uint32 = 2200
	InfoSchemaNamespace  uint32 = 13000
	DatabaseOID          uint32 = 16384 - 1 // below user OIDs, fixed
	HeapAM               uint32 = 2
	BtreeAM              uint32 = 403
	DefaultCollation     uint32 = 100
	CCollation           uint32 = 950
	DefaultTablespace    uint32 = 1663
	GlobalTablespace     uint32 = 1664
	SuperuserOID         uint32 = 10
	PgClassOID           uint32 = 1259 // pg_class's own oid: classoid of relations
	PgNamespaceOID       uint32 = 2615
	PgConstraintOID      uint32 = 2606
	PgTypeOID            uint32 = 1247
	PgProcOID            uint32 = 1255
	PgDatabaseOID        uint32 = 1262
	firstNormalObjectOID uint32 = 16384
)

// Snapshot is what the engine holds at one moment, as the catalogs see
// it. The gateway builds one per statement.
type Snapshot struct {
	Database  string // the Postgres database name (pg_database.datname)
	User      string // the session user
	Superuser bool
	Schemas   []Schema
	Relations []Relation
	// Settings are the session's settings (pg_settings, current_setting).
	Settings []Setting
	// Procedures are the server's CALL-able procedures (pg_proc rows of
	// kind 'p' in their schemas, so psql's \df lists them).
	Procedures []Procedure
}

// Procedure is a CALL-able procedure.
type Procedure struct {
	Schema, Name string
	ArgNames     []string
	ArgTypes     []uint32 // parallel to ArgNames
	Comment      string
}

// OID is the procedure's pg_proc oid.
func (p *Procedure) OID() uint32 { return ObjectOID("proc", p.Schema+"."+p.Name) }

// Arguments is pg_get_function_arguments's text: "name type, ...".
func (p *Procedure) Arguments() string {
	out := make([]string, len(p.ArgNames))
	for i, n := range p.ArgNames {
		out[i] = QuoteIdent(n) + " " + FormatType(p.ArgTypes[i], -1)
	}
	return strings.Join(out, ", ")
}

// Schema is a Postgres schema (an engine database).
type Schema struct {
	Name    string
	Comment string
}

// Relation is a table or view.
type Relation struct {
	Schema  string
	Name    string
	OID     uint32
	Kind    byte // 'r' table, 'v' view, 'm' materialized view
	Columns []Column
	Indexes []Index // the primary key (if any) first
	Foreign []ForeignKey
	Comment string
	ViewDef string // SELECT text of a view
	// System marks dualgate's own read-only relations (catalog views).
	System bool
}

// Column is a relation's column.
type Column struct {
	Name    string
	Type    uint32 // Postgres type OID
	Typmod  int32  // -1 if none
	NotNull bool
	Default string // default expression as Postgres SQL text, "" if none
	Comment string
}

// Index is an index over a relation's columns.
type Index struct {
	Name    string
	Columns []int // 1-based attribute numbers
	Primary bool
	Unique  bool
}

// ForeignKey is a FOREIGN KEY constraint.
type ForeignKey struct {
	Name       string
	Columns    []int // attribute numbers in the referencing relation
	RefSchema  string
	RefTable   string
	RefColumns []string
	OnUpdate   string // Postgres spelling: NO ACTION, CASCADE, SET NULL, ...
	OnDelete   string
}

// Setting is a session setting.
type Setting struct {
	Name  string
	Value string
	Desc  string
}

// hashOID folds an FNV-1a hash of the parts above PostgreSQL's reserved
// range, like the gateway's RelationOID.
func hashOID(parts ...string) uint32 {
	h := fnv.New32a()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{'.'})
		}
		h.Write([]byte(strings.ToLower(p)))
	}
	return firstNormalObjectOID + h.Sum32()%(1<<31-firstNormalObjectOID)
}

// NamespaceOID is pg_namespace.oid of a schema.
func NamespaceOID(schema string) uint32 {
	switch strings.ToLower(schema) {
	case "pg_catalog":
		return PgCatalogNamespace
	case "public":
		return PublicNamespace
	case "information_schema":
		return InfoSchemaNamespace
	}
	return hashOID("namespace:" + schema)
}

// ObjectOID is the oid of a named object other than a relation or a
// namespace (constraints, defaults): a hash of kind, schema and names.
func ObjectOID(kind string, names ...string) uint32 {
	return hashOID(append([]string{kind + ":"}, names...)...)
}

// Relation finds a relation by oid.
func (s *Snapshot) Relation(oid uint32) *Relation {
	for i := range s.Relations {
		if s.Relations[i].OID == oid {
			return &s.Relations[i]
		}
	}
	return nil
}

// RelationByName finds a relation by schema and name (case-insensitive).
func (s *Snapshot) RelationByName(schema, name string) *Relation {
	for i := range s.Relations {
		r := &s.Relations[i]
		if strings.EqualFold(r.Schema, schema) && strings.EqualFold(r.Name, name) {
			return r
		}
	}
	return nil
}

// Setting returns a setting's value by case-insensitive name.
func (s *Snapshot) Setting(name string) (string, bool) {
	for _, st := range s.Settings {
		if strings.EqualFold(st.Name, name) {
			return st.Value, true
		}
	}
	return "", false
}

// IndexOID is the pg_class oid of a relation's index.
func (r *Relation) IndexOID(ix *Index) uint32 {
	return hashOID("index:"+r.Schema, r.Name, ix.Name)
}

// ConstraintOID is the pg_constraint oid of a named constraint of r.
func (r *Relation) ConstraintOID(name string) uint32 {
	return ObjectOID("constraint", r.Schema, r.Name, name)
}

// Authoritative says whether a schema holds authoritative data (DESIGN.md:
// canonical, history, diff).
func Authoritative(schema string) bool {
	switch strings.ToLower(schema) {
	case "canonical", "history", "diff":
		return true
	}
	return false
}

// LabelComment is the comment of a relation that has none of its own: its
// authority label and what it is.
func LabelComment(schema, name string, kind byte) string {
	what := "table"
	if kind == 'v' {
		what = "view"
	}
	if Authoritative(schema) {
		return "AUTHORITATIVE: " + schema + "." + name + " (" + what + " of record in the canonical store)"
	}
	return "DERIVED (non-authoritative): " + schema + "." + name + " (" + what + " not in canonical, history or diff)"
}

// Labeled returns comment prefixed with the relation's authority label
// unless it already starts with one.
func Labeled(schema, name string, kind byte, comment string) string {
	c := strings.TrimSpace(comment)
	if c == "" {
		return LabelComment(schema, name, kind)
	}
	if strings.HasPrefix(c, "AUTHORITATIVE") || strings.HasPrefix(c, "DERIVED") {
		return c
	}
	if Authoritative(schema) {
		return "AUTHORITATIVE: " + c
	}
	return "DERIVED (non-authoritative): " + c
}

// catalogOIDs are PostgreSQL 15's oids of its system catalogs, so that
// classoid columns and 'pg_class'::regclass agree as clients expect.
var catalogOIDs = map[string]uint32{
	"pg_class": PgClassOID, "pg_namespace": PgNamespaceOID, "pg_constraint": PgConstraintOID, "pg_type": PgTypeOID,
	"pg_proc": PgProcOID, "pg_database": PgDatabaseOID, "pg_attribute": 1249, "pg_description": 2609, "pg_index": 2610,
	"pg_attrdef": 2604, "pg_am": 2601, "pg_authid": 1260, "pg_collation": 3456, "pg_inherits": 2611, "pg_trigger": 2620,
	"pg_rewrite": 2618, "pg_tablespace": 1213, "pg_depend": 2608, "pg_language": 2612, "pg_enum": 3501,
	"pg_extension": 3079, "pg_policy": 3256, "pg_statistic_ext": 3381, "pg_publication": 6104,
	"pg_publication_rel": 6106, "pg_publication_namespace": 6237, "pg_range": 3541, "pg_sequence": 2224,
	"pg_foreign_table": 3118, "pg_partitioned_table": 3350, "pg_event_trigger": 3466, "pg_auth_members": 1261,
	"pg_shdescription": 2396, "pg_roles": 12001, "pg_user": 12005, "pg_settings": 12101, "pg_tables": 12020,
	"pg_views": 12016, "pg_matviews": 12025, "pg_indexes": 12030, "pg_stat_user_tables": 12207,
}

// CatalogOID is PostgreSQL's oid of a pg_catalog relation (1259 for
// pg_class), false for relations Postgres does not have.
func CatalogOID(schema, name string) (uint32, bool) {
	if !strings.EqualFold(schema, "pg_catalog") {
		return 0, false
	}
	oid, ok := catalogOIDs[strings.ToLower(name)]
	return oid, ok
}

// IsCatalogRelation says whether name is a pg_catalog relation: in
// PostgreSQL pg_catalog is searched first, so an unqualified pg_class
// means pg_catalog.pg_class.
func IsCatalogRelation(name string) bool {
	n := strings.ToLower(name)
	for _, t := range catalogTableNames {
		if t == n {
			return true
		}
	}
	return false
}

var catalogTableNames = func() []string {
	var out []string
	for _, t := range Tables() {
		out = append(out, t.Name)
	}
	return out
}()
