// Package sqltables exposes materialized projections to the SQL engine as
// the `serving` schema: one read-only table per catalog projection, read
// from the projection store (embedded or Redis), plus one writable table
// per non-authoritative serving table of the catalog (WritableTable, in
// the same store). Point lookups on the whole key are answered by the
// gateway's fast path through KeyLookup (one store Get); everything else
// scans the store.
//
// A projection that is not materialized (store flushed, Redis down, never
// built) is an error, never an empty table: the gateway's stale policy
// decides whether to fail or answer from canonical.
package sqltables

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/projections"
)

// SchemaServing is the engine database (Postgres schema) of projections.
const SchemaServing = "serving"

// ErrUnavailable wraps reads of a projection the store cannot serve.
var ErrUnavailable = errors.New("serving projection unavailable")

// Database is the `serving` schema over a projection store: the
// projections (read-only) and the non-authoritative serving tables
// (writable; see WritableTable).
type Database struct {
	store    projections.Store
	tables   map[string]*Table
	order    []string
	writable []*WritableTable

	mu      sync.Mutex
	pending map[uint32]map[string]changes // session -> table -> pending writes
	seq     int
}

// NewDatabase returns the serving schema for cat's projections and
// serving tables.
func NewDatabase(store projections.Store, cat *catalog.Catalog) *Database {
	d := &Database{store: store, tables: map[string]*Table{}}
	for _, st := range cat.ServingTables() {
		d.writable = append(d.writable, newWritableTable(d, st))
	}
	for _, p := range cat.Projections() {
		t := &Table{store: store, proj: p}
		for _, c := range p.Columns {
			typ := engineType(c.Type)
			t.sch = append(t.sch, &sql.Column{Name: c.Name, Type: typ, Nullable: true, Source: p.Name, DatabaseSource: SchemaServing})
			t.pg = append(t.pg, c.Type)
		}
		for _, k := range p.Key {
			for i, c := range p.Columns {
				if strings.EqualFold(c.Name, k) {
					t.pk = append(t.pk, i)
					t.sch[i].PrimaryKey = true
				}
			}
		}
		t.keyNames()
		d.tables[strings.ToLower(p.Name)] = t
		d.order = append(d.order, p.Name)
	}
	return d
}

// Name implements sql.Database.
func (d *Database) Name() string { return SchemaServing }

// GetTableInsensitive implements sql.Database.
func (d *Database) GetTableInsensitive(_ *sql.Context, name string) (sql.Table, bool, error) {
	if t, ok := d.tables[strings.ToLower(name)]; ok {
		return t, true, nil
	}
	for _, t := range d.writable {
		if strings.EqualFold(t.def.Name, name) {
			return t, true, nil
		}
	}
	return nil, false, nil
}

// GetTableNames implements sql.Database.
func (d *Database) GetTableNames(*sql.Context) ([]string, error) {
	out := append([]string(nil), d.order...)
	for _, t := range d.writable {
		out = append(out, t.def.Name)
	}
	return out, nil
}

// Tables returns the tables in catalog order.
func (d *Database) Tables() []*Table {
	out := make([]*Table, len(d.order))
	for i, n := range d.order {
		out[i] = d.tables[strings.ToLower(n)]
	}
	return out
}

// Table is serving.<projection>.
type Table struct {
	keyed
	store projections.Store
	proj  *catalog.Projection
}

// keyed is what projections and writable serving tables share: the engine
// schema, each column's Postgres type and the key's column positions.
type keyed struct {
	sch   sql.Schema
	pg    []catalog.Type
	pk    []int
	names []string // key column names (keyNames), for KeyColumns
}

// keyNames fills names from pk once the key is known.
func (k *keyed) keyNames() {
	k.names = make([]string, len(k.pk))
	for i, c := range k.pk {
		k.names[i] = k.sch[c].Name
	}
}

// KeyColumns names the key columns (the gateway's fast path, on every
// point lookup). The slice is shared: callers must not modify it.
func (k *keyed) KeyColumns() []string { return k.names }

// storeKey converts fast-path lookup values to the store's key values
// (keyValue per key column); ok is false when a value is NULL, which no
// key holds. table names the relation in errors.
func (k *keyed) storeKey(table fmt.Stringer, key []any) (out []any, ok bool, err error) {
	out = make([]any, len(key))
	for i, v := range key {
		if v == nil {
			return nil, false, nil
		}
		n, err := keyValue(k.pg[k.pk[i]], v)
		if err != nil {
			return nil, false, fmt.Errorf("%s.%s: %w", table, k.sch[k.pk[i]].Name, err)
		}
		out[i] = n
	}
	return out, true, nil
}

var (
	_ sql.Table           = (*Table)(nil)
	_ sql.CommentedTable  = (*Table)(nil)
	_ sql.PrimaryKeyTable = (*Table)(nil)
	_ sql.InsertableTable = (*Table)(nil)
	_ sql.UpdatableTable  = (*Table)(nil)
	_ sql.DeletableTable  = (*Table)(nil)
)

// Inserter implements sql.InsertableTable: every write fails (ErrReadOnly),
// so clients get a clear refusal rather than the engine's "not supported".
func (t *Table) Inserter(*sql.Context) sql.RowInserter { return readOnly{t} }

// Updater implements sql.UpdatableTable (refused, ErrReadOnly).
func (t *Table) Updater(*sql.Context) sql.RowUpdater { return readOnly{t} }

// Deleter implements sql.DeletableTable (refused, ErrReadOnly).
func (t *Table) Deleter(*sql.Context) sql.RowDeleter { return readOnly{t} }

// ReadOnlyError is the refusal of a write to projection table.
func ReadOnlyError(table string) error {
	return fmt.Errorf("%w: cannot change %s: it is computed from canonical", ErrReadOnly, table)
}

// readOnly refuses every write, also of zero rows (StatementComplete).
type readOnly struct{ t *Table }

func (r readOnly) Insert(*sql.Context, sql.Row) error          { return ReadOnlyError(r.t.String()) }
func (r readOnly) Update(*sql.Context, sql.Row, sql.Row) error { return ReadOnlyError(r.t.String()) }
func (r readOnly) Delete(*sql.Context, sql.Row) error          { return ReadOnlyError(r.t.String()) }
func (r readOnly) StatementBegin(*sql.Context)                 {}
func (r readOnly) DiscardChanges(*sql.Context, error) error    { return nil }
func (r readOnly) StatementComplete(*sql.Context) error        { return ReadOnlyError(r.t.String()) }
func (r readOnly) Close(*sql.Context) error                    { return nil }

// Name implements sql.Table.
func (t *Table) Name() string { return t.proj.Name }

// String implements sql.Table.
func (t *Table) String() string { return SchemaServing + "." + t.proj.Name }

// Schema implements sql.Table.
func (t *Table) Schema() sql.Schema { return t.sch }

// Collation implements sql.Table.
func (t *Table) Collation() sql.CollationID { return sql.Collation_Default }

// Comment implements sql.CommentedTable: the label of DESIGN.md.
func (t *Table) Comment() string {
	return "DERIVED (non-authoritative): serving projection, freshness SLA " + t.proj.FreshnessSLA.String() + ". " + t.proj.Description
}

// PrimaryKeySchema implements sql.PrimaryKeyTable.
func (t *Table) PrimaryKeySchema() sql.PrimaryKeySchema {
	return sql.NewPrimaryKeySchema(t.sch, t.pk...)
}

// PostgresTypes gives each column's Postgres type (empty Name: unknown,
// the engine's type applies).
func (t *Table) PostgresTypes() []catalog.Type { return t.pg }

// Partitions implements sql.Table: one partition, the whole projection.
func (t *Table) Partitions(*sql.Context) (sql.PartitionIter, error) {
	return sql.PartitionsToPartitionIter(partition{}), nil
}

type partition struct{}

func (partition) Key() []byte { return []byte("all") }

// PartitionRows implements sql.Table.
func (t *Table) PartitionRows(ctx *sql.Context, _ sql.Partition) (sql.RowIter, error) {
	var rows []sql.Row
	err := t.store.Scan(ctx, t.proj.Name, func(_, row []any) error {
		r, err := t.engineRow(row)
		if err != nil {
			return err
		}
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		return nil, t.unavailable(err)
	}
	return sql.RowsToRowIter(rows...), nil
}

// LookupKey reads one projection row by its whole key: one store Get.
func (t *Table) LookupKey(ctx context.Context, key []any) (sql.Row, bool, error) {
	k, ok, err := t.storeKey(t, key)
	if !ok || err != nil {
		return nil, false, err
	}
	row, found, err := t.store.Get(ctx, t.proj.Name, k)
	if err != nil {
		return nil, false, t.unavailable(err)
	}
	if !found {
		return nil, false, nil
	}
	r, err := t.engineRow(row)
	return r, err == nil, err
}

func (t *Table) unavailable(err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, t, err)
}

// engineRow converts a stored row to the engine's values.
func (t *Table) engineRow(row []any) (sql.Row, error) {
	out := make(sql.Row, len(t.sch))
	for i := range out {
		if i >= len(row) || row[i] == nil {
			continue
		}
		v := row[i]
		switch x := v.(type) {
		case bool:
			if x {
				v = int8(1)
			} else {
				v = int8(0)
			}
		case decimal.Decimal:
		default:
			if t.sch[i].Type == types.LongText {
				switch x := v.(type) {
				case string:
				case time.Time:
					// A column whose type the catalog could not infer:
					// Postgres's text form of a UTC timestamp, not Go's.
					v = x.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
				default:
					v = fmt.Sprint(v)
				}
			}
		}
		out[i] = v
	}
	return out, nil
}

// keyValue converts a lookup value to the form the store keys hold
// (projections.Normalize), after Postgres's rules for the key type.
func keyValue(t catalog.Type, v any) (any, error) {
	if s, ok := v.(string); ok && t.Category() == "number" {
		d, err := decimal.NewFromString(s)
		if err != nil {
			return nil, fmt.Errorf("invalid input syntax for type %s: %q", t, s)
		}
		switch t.Name {
		case "smallint", "integer", "bigint":
			if !d.IsInteger() {
				return nil, fmt.Errorf("invalid input syntax for type %s: %q", t, s)
			}
			return projections.Normalize(d.IntPart())
		}
		return projections.Normalize(d)
	}
	return projections.Normalize(v)
}

// engineType is the engine type of a projection column.
func engineType(t catalog.Type) sql.Type {
	switch strings.ToLower(t.Name) {
	case "bigint", "int8", "integer", "int", "int4", "smallint", "int2":
		return types.Int64
	case "boolean", "bool":
		return types.Boolean
	case "double precision", "float8", "real", "float4":
		return types.Float64
	case "numeric", "decimal":
		if len(t.Args) == 2 {
			return types.MustCreateDecimalType(uint8(t.Args[0]), uint8(t.Args[1]))
		}
		return types.MustCreateDecimalType(65, 20)
	case "date":
		return types.Date
	case "timestamp", "timestamptz", "timestamp with time zone", "timestamp without time zone":
		return types.DatetimeMaxPrecision
	case "json", "jsonb":
		return types.JSON
	}
	return types.LongText
}
