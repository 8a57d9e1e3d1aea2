package gateway

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/dualgate/dualgate/gateway/dialect"
	"github.com/dualgate/dualgate/gateway/pgerror"
	"github.com/dualgate/dualgate/gateway/pgtypes"
)

// provider is the engine's set of Postgres schemas (engine databases):
// system schemas registered by the binary (catalog, dualgate, later
// canonical, serving, ...) and in-memory scratch schemas made with CREATE
// SCHEMA. It also serves Postgres table functions (generate_series).
type provider struct {
	mu     sync.RWMutex
	dbs    map[string]sql.Database // by lower-case name
	system map[string]bool         // schemas clients cannot drop
	funcs  map[string]sql.TableFunction
	masks  sync.Map // engine session id -> *sessionMasks (masking.go)
}

var (
	_ sql.MutableDatabaseProvider = (*provider)(nil)
	_ sql.TableFunctionProvider   = (*provider)(nil)
)

func newProvider(funcs []sql.TableFunction) *provider {
	p := &provider{dbs: map[string]sql.Database{}, system: map[string]bool{}, funcs: map[string]sql.TableFunction{}}
	for _, f := range funcs {
		p.funcs[strings.ToLower(f.Name())] = f
	}
	return p
}

// Database implements sql.DatabaseProvider.
func (p *provider) Database(ctx *sql.Context, name string) (sql.Database, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if db, ok := p.dbs[strings.ToLower(name)]; ok {
		return p.masked(ctx, db), nil
	}
	return nil, sql.ErrDatabaseNotFound.New(name)
}

// HasDatabase implements sql.DatabaseProvider.
func (p *provider) HasDatabase(_ *sql.Context, name string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	_, ok := p.dbs[strings.ToLower(name)]
	return ok
}

// AllDatabases implements sql.DatabaseProvider, sorted by name.
func (p *provider) AllDatabases(*sql.Context) []sql.Database {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]sql.Database, 0, len(p.dbs))
	for _, db := range p.dbs {
		out = append(out, db)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// CreateDatabase implements CREATE SCHEMA: an in-memory scratch schema.
func (p *provider) CreateDatabase(_ *sql.Context, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := strings.ToLower(name)
	if _, ok := p.dbs[key]; ok {
		return sql.ErrDatabaseExists.New(name)
	}
	p.dbs[key] = scratchDatabase(name)
	return nil
}

// scratchDatabase is an in-memory schema (public, CREATE SCHEMA) whose
// tables index their primary keys, as Postgres tables do: a FOREIGN KEY
// needs an index on the referenced key, so REFERENCES into a scratch
// table works (pgJDBC's getImportedKeys, SQLAlchemy's get_foreign_keys).
func scratchDatabase(name string) *memory.Database {
	db := memory.NewDatabase(name)
	db.EnablePrimaryKeyIndexes()
	return db
}

// DropDatabase implements DROP SCHEMA for scratch schemas.
func (p *provider) DropDatabase(_ *sql.Context, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := strings.ToLower(name)
	if p.system[key] {
		return pgerror.New(pgerror.InsufficientPrivilege, "schema %q belongs to dualgate and cannot be dropped", name)
	}
	if _, ok := p.dbs[key]; !ok {
		return sql.ErrDatabaseNotFound.New(name)
	}
	delete(p.dbs, key)
	return nil
}

// TableFunction implements sql.TableFunctionProvider.
func (p *provider) TableFunction(_ *sql.Context, name string) (sql.TableFunction, bool) {
	f, ok := p.funcs[strings.ToLower(name)]
	return f, ok
}

// WithTableFunctions implements sql.TableFunctionProvider.
func (p *provider) WithTableFunctions(fns ...sql.TableFunction) (sql.TableFunctionProvider, error) {
	for _, f := range fns {
		p.funcs[strings.ToLower(f.Name())] = f
	}
	return p, nil
}

func (p *provider) add(db sql.Database, system bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := strings.ToLower(db.Name())
	p.dbs[key] = db
	p.system[key] = system
}

// SystemColumn is a column of a SystemTable.
type SystemColumn struct {
	Name string
	OID  uint32 // Postgres type
}

// SystemTable is a read-only relation whose rows are computed on every
// scan: catalog.*, dualgate.* and the like. Rows holds Go values of the
// column types (string, int64, bool, float64, time.Time, nil).
type SystemTable struct {
	Name        string
	Description string
	// View makes the catalogs show the relation as a view (relkind 'v',
	// pg_views, information_schema table_type VIEW): set it for relations
	// computed from something else, such as the catalog.* and
	// reconcile.* views of DESIGN.md and pg_catalog's own views.
	View    bool
	Columns []SystemColumn
	Rows    func(ctx context.Context) ([][]any, error)
}

// AddSystemSchema registers (or replaces) a schema of system tables, plus
// any engine tables made elsewhere (e.g. the canonical store's
// dualgate.commits), which must carry their own Postgres types (declare
// them with DeclareTable).
func (e *Engine) AddSystemSchema(name string, tables []SystemTable, extra ...sql.Table) error {
	db := &systemDB{name: name, tables: map[string]sql.Table{}}
	for _, t := range extra {
		db.tables[strings.ToLower(t.Name())] = t
		db.order = append(db.order, t.Name())
	}
	for _, t := range tables {
		st := &systemTable{db: name, def: t}
		for _, c := range t.Columns {
			typ, err := engineType(c.OID)
			if err != nil {
				return fmt.Errorf("%s.%s.%s: %w", name, t.Name, c.Name, err)
			}
			st.schema = append(st.schema, &sql.Column{Name: c.Name, Type: typ, Nullable: true, Source: t.Name, DatabaseSource: name})
		}
		db.tables[strings.ToLower(t.Name)] = st
		db.order = append(db.order, t.Name)
		e.declare(name, systemCreate(name, t))
	}
	e.provider.add(db, true)
	return nil
}

// engineType is the engine type that holds values of a Postgres type.
func engineType(oid uint32) (sql.Type, error) {
	switch oid {
	case pgtypes.Bool:
		return types.Boolean, nil
	case pgtypes.Int2:
		return types.Int16, nil
	case pgtypes.Int4:
		return types.Int32, nil
	case pgtypes.Int8, pgtypes.OID:
		return types.Int64, nil
	case pgtypes.Float4:
		return types.Float32, nil
	case pgtypes.Float8:
		return types.Float64, nil
	case pgtypes.Numeric:
		return types.MustCreateDecimalType(65, 20), nil
	case pgtypes.Text, pgtypes.Varchar, pgtypes.Bpchar, pgtypes.NameOID, pgtypes.UUID, pgtypes.Interval:
		return types.LongText, nil
	case pgtypes.Date:
		return types.Date, nil
	case pgtypes.Time:
		return types.Time, nil
	case pgtypes.Timestamp, pgtypes.Timestamptz:
		return types.DatetimeMaxPrecision, nil
	case pgtypes.JSON, pgtypes.JSONB:
		return types.JSON, nil
	case pgtypes.Bytea:
		return types.LongBlob, nil
	}
	return nil, fmt.Errorf("no engine type for Postgres type %d", oid)
}

type systemDB struct {
	name   string
	tables map[string]sql.Table
	order  []string
}

func (d *systemDB) Name() string { return d.name }

func (d *systemDB) GetTableInsensitive(_ *sql.Context, name string) (sql.Table, bool, error) {
	t, ok := d.tables[strings.ToLower(name)]
	return t, ok, nil
}

func (d *systemDB) GetTableNames(*sql.Context) ([]string, error) {
	return append([]string(nil), d.order...), nil
}

type systemTable struct {
	db     string
	def    SystemTable
	schema sql.Schema
}

func (t *systemTable) Name() string               { return t.def.Name }
func (t *systemTable) String() string             { return t.db + "." + t.def.Name }
func (t *systemTable) Schema() sql.Schema         { return t.schema }
func (t *systemTable) Collation() sql.CollationID { return sql.Collation_Default }
func (t *systemTable) Comment() string            { return t.def.Description }
func (t *systemTable) Partitions(*sql.Context) (sql.PartitionIter, error) {
	return sql.PartitionsToPartitionIter(systemPartition{}), nil
}

func (t *systemTable) PartitionRows(ctx *sql.Context, _ sql.Partition) (sql.RowIter, error) {
	rows, err := t.def.Rows(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	out := make([]sql.Row, len(rows))
	for i, r := range rows {
		if len(r) != len(t.schema) {
			return nil, fmt.Errorf("%s: row has %d values for %d columns", t, len(r), len(t.schema))
		}
		row := make(sql.Row, len(r))
		for j, v := range r {
			if b, ok := v.(bool); ok { // the engine's booleans are integers
				v = int8(0)
				if b {
					v = int8(1)
				}
			}
			row[j] = v
		}
		out[i] = row
	}
	return sql.RowsToRowIter(out...), nil
}

type systemPartition struct{}

func (systemPartition) Key() []byte { return []byte("all") }

// AddDatabase registers an engine database made elsewhere (the canonical
// store's canonical, history, diff and raw schemas) as a system schema.
func (e *Engine) AddDatabase(db sql.Database) {
	e.provider.add(db, true)
}

// DeclareTable records the Postgres types of a table's columns, for
// engine types that cannot tell them apart (boolean vs smallint, jsonb vs
// json, timestamptz vs timestamp, uuid vs text).
func (e *Engine) DeclareTable(schema, table string, cols []SystemColumn) {
	ct := &dialect.CreateTable{Table: dialect.Relation{Schema: schema, Name: table}}
	for _, c := range cols {
		ct.Columns = append(ct.Columns, dialect.ColumnDef{Name: c.Name, OID: c.OID, Typmod: -1})
	}
	e.declare(schema, ct)
}

// DeclareTypmod records a column's declared type modifier
// (pg_attribute.atttypmod: 7 for char(3), ((12 << 16) | 2) + 4 for
// numeric(12,2)) where the engine type cannot carry it (the canonical
// store keeps char(n) as text); call it after DeclareTable. A modifier of
// 0 or less removes it.
func (e *Engine) DeclareTypmod(schema, table, column string, typmod int32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := columnKey{schema, strings.ToLower(table), strings.ToLower(column)}
	if typmod > 0 {
		e.typmods[k] = typmod
	} else {
		delete(e.typmods, k)
	}
}

// systemCreate describes a system table's Postgres column types for the
// type registry, as a CREATE TABLE would.
func systemCreate(schema string, t SystemTable) *dialect.CreateTable {
	ct := &dialect.CreateTable{Table: dialect.Relation{Schema: schema, Name: t.Name}}
	for _, c := range t.Columns {
		ct.Columns = append(ct.Columns, dialect.ColumnDef{Name: c.Name, OID: c.OID, Typmod: -1})
	}
	return ct
}

func (p *provider) remove(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.dbs, strings.ToLower(name))
	delete(p.system, strings.ToLower(name))
}
