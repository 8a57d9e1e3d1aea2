package sqltables

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/shopspring/decimal"

	canonsql "github.com/dualgate/dualgate/canonical/sqltables"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/projections"
)

// Non-authoritative serving tables (catalog `serving_tables:`) are
// serving.<name> tables their owners write directly with INSERT, UPDATE,
// DELETE and COPY FROM. They are not derived from canonical, so they carry
// no watermark and are always labeled derived.
//
// Storage. They live in the same projections.Store as the projections,
// under the store name "serving_table.<name>" (StoreName) and the fixed
// generation "table" (TableGeneration). Projection names are catalog
// identifiers (never contain '.') and the materializer only ever touches
// the names of its catalog's projections, with generations named
// <definition hash>-<time>, so a projection rebuild, catch-up or
// generation cleanup can never reach a serving table. The watermark of the
// generation stays 0: it means nothing for a table that follows no commit.
//
// Each stored row is the declared columns followed by one hidden value,
// the time the row was last written (UTC), used by retention when the
// table has no timestamp column.
//
// Durability: exactly the store's. With the embedded store the rows are in
// process memory and lost at restart; with Redis they are as durable as
// the Redis server's persistence (RDB/AOF) makes them, and a FLUSHALL
// loses them. There is nothing to rebuild them from (their owners are the
// source), so a missing table reads as an error (ErrUnavailable), never
// as an empty table, until the next write re-creates it.
//
// Writes are buffered per session and applied when the statement
// (autocommit) or the transaction commits (Commit, called from the
// binary's gateway.TxHooks), one atomic store Apply per table; ROLLBACK or
// a failed statement drops them (Rollback). Reads of the writing session
// see its own pending writes. An INSERT of a key that exists fails with a
// unique violation (checked again, under the table's lock, when the writes
// are applied, so two sessions cannot both insert one key); UPDATE and
// DELETE of rows changed meanwhile by another session are last-writer-wins.
// Writes to several serving tables in one transaction are applied table
// by table, not atomically across tables.
//
// Retention: rows whose retention time is older than the catalog's
// `retention` are deleted by Purge (the binary runs it periodically). The
// retention time of a row is its first timestamptz (or timestamp) column
// in declaration order (e.g. basket_events.occurred_at); when the table has
// none, or the value is NULL, it is the time the row was last written.

// TableGeneration is the store generation of every serving table.
const TableGeneration = "table"

// StoreName is the store name (projections.Store's proj argument) of the
// serving table name.
func StoreName(name string) string { return "serving_table." + name }

// ErrReadOnly: a write to a serving projection (computed from canonical).
var ErrReadOnly = errors.New("serving projection is read-only")

// ErrDuplicateKey: an INSERT into a serving table of a key another session
// wrote first (found when the writes are applied).
var ErrDuplicateKey = errors.New("duplicate key in serving table")

// WritableTable is serving.<name> for a non-authoritative serving table.
type WritableTable struct {
	db    *Database
	store projections.Store
	def   *catalog.ServingTable
	name  string // store name
	keyed
	tsCol int // retention column, -1: the write time

	// mu serializes applying writes and purging (unique checks at apply
	// time, and a purge never deletes a row written after it looked).
	mu sync.Mutex
}

var (
	_ sql.Table           = (*WritableTable)(nil)
	_ sql.CommentedTable  = (*WritableTable)(nil)
	_ sql.PrimaryKeyTable = (*WritableTable)(nil)
	_ sql.InsertableTable = (*WritableTable)(nil)
	_ sql.UpdatableTable  = (*WritableTable)(nil)
	_ sql.DeletableTable  = (*WritableTable)(nil)
)

func newWritableTable(d *Database, st *catalog.ServingTable) *WritableTable {
	t := &WritableTable{db: d, store: d.store, def: st, name: StoreName(st.Name), tsCol: -1}
	for i, c := range st.Columns {
		t.sch = append(t.sch, &sql.Column{Name: c.Name, Type: canonsql.EngineType(c.Type), Nullable: true, Source: st.Name,
			DatabaseSource: SchemaServing, Comment: c.Description})
		t.pg = append(t.pg, c.Type)
		if t.tsCol < 0 && (c.Type.Name == "timestamptz" || c.Type.Name == "timestamp") {
			t.tsCol = i
		}
	}
	for _, k := range st.Key {
		for i, c := range st.Columns {
			if strings.EqualFold(c.Name, k) {
				t.pk = append(t.pk, i)
				t.sch[i].PrimaryKey = true
				t.sch[i].Nullable = false
			}
		}
	}
	t.keyNames()
	return t
}

// Name implements sql.Table.
func (t *WritableTable) Name() string { return t.def.Name }

// String implements sql.Table.
func (t *WritableTable) String() string { return SchemaServing + "." + t.def.Name }

// Schema implements sql.Table.
func (t *WritableTable) Schema() sql.Schema { return t.sch }

// Collation implements sql.Table.
func (t *WritableTable) Collation() sql.CollationID { return sql.Collation_Default }

// Comment implements sql.CommentedTable: the label of DESIGN.md.
func (t *WritableTable) Comment() string {
	c := "DERIVED (non-authoritative): serving table written by its owners, not reconciled as truth"
	if t.store.Kind() == "memory" {
		c += "; held in memory by the embedded store (lost at restart)"
	}
	if t.def.Retention > 0 {
		c += "; rows kept " + t.def.Retention.String()
	}
	return c + ". " + t.def.Description
}

// PrimaryKeySchema implements sql.PrimaryKeyTable.
func (t *WritableTable) PrimaryKeySchema() sql.PrimaryKeySchema {
	return sql.NewPrimaryKeySchema(t.sch, t.pk...)
}

// PostgresTypes gives each column's declared Postgres type.
func (t *WritableTable) PostgresTypes() []catalog.Type { return t.pg }

// Definition is the table's catalog declaration.
func (t *WritableTable) Definition() *catalog.ServingTable { return t.def }

// RetentionColumn names the column retention reads ("" when it is the
// time each row was last written).
func (t *WritableTable) RetentionColumn() string {
	if t.tsCol < 0 {
		return ""
	}
	return t.sch[t.tsCol].Name
}

// Partitions implements sql.Table: one partition, the whole table.
func (t *WritableTable) Partitions(*sql.Context) (sql.PartitionIter, error) {
	return sql.PartitionsToPartitionIter(partition{}), nil
}

// PartitionRows implements sql.Table: the stored rows overlaid with the
// session's pending writes.
func (t *WritableTable) PartitionRows(ctx *sql.Context, _ sql.Partition) (sql.RowIter, error) {
	pend := t.db.pendingFor(sessionID(ctx), t.def.Name)
	var rows []sql.Row
	err := t.store.Scan(ctx, t.name, func(key, row []any) error {
		if pend != nil {
			k, err := projections.EncodeKey(key)
			if err != nil {
				return err
			}
			if _, ok := pend[string(k)]; ok {
				return nil
			}
		}
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
	for _, c := range sortedChanges(pend) {
		if c.row != nil {
			r, err := t.engineRow(c.row)
			if err != nil {
				return nil, err
			}
			rows = append(rows, r)
		}
	}
	return sql.RowsToRowIter(rows...), nil
}

// LookupKey reads one row by its whole key: the session's pending write
// of the key if any, else one store Get.
func (t *WritableTable) LookupKey(ctx context.Context, key []any) (sql.Row, bool, error) {
	k, ok, err := t.storeKey(t, key)
	if !ok || err != nil {
		return nil, false, err
	}
	row, found, err := t.get(ctx, sessionID(ctx), k)
	if err != nil || !found {
		return nil, false, err
	}
	r, err := t.engineRow(row)
	return r, err == nil, err
}

// get reads a stored row (normalized key) through the session's pending
// writes.
func (t *WritableTable) get(ctx context.Context, session uint32, key []any) ([]any, bool, error) {
	if pend := t.db.pendingFor(session, t.def.Name); pend != nil {
		k, err := projections.EncodeKey(key)
		if err != nil {
			return nil, false, err
		}
		if c, ok := pend[string(k)]; ok {
			return c.row, c.row != nil, nil
		}
	}
	row, found, err := t.store.Get(ctx, t.name, key)
	if err != nil {
		return nil, false, t.unavailable(err)
	}
	return row, found, nil
}

func (t *WritableTable) unavailable(err error) error {
	if errors.Is(err, projections.ErrNoGeneration) {
		return fmt.Errorf("%w: %s is missing from the %s store (flushed, or not persisted across a restart): its rows are lost; the owners' next write re-creates it", ErrUnavailable, t, t.store.Kind())
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, t, err)
}

// engineRow converts a stored row (declared columns + write time) to the
// engine's values of the declared types.
func (t *WritableTable) engineRow(row []any) (sql.Row, error) {
	out := make(sql.Row, len(t.sch))
	for i := range out {
		if i >= len(row) || row[i] == nil {
			continue
		}
		v := row[i]
		typ := t.sch[i].Type
		switch x := v.(type) {
		case bool:
			v = int8(0)
			if x {
				v = int8(1)
			}
		case int64:
			switch typ {
			case types.Int16:
				v = int16(x)
			case types.Int32:
				v = int32(x)
			case types.Boolean:
				v = int8(x)
			}
		case float64:
			if typ == types.Float32 {
				v = float32(x)
			}
		case string:
			if types.IsJSON(typ) {
				doc, _, err := types.JSON.Convert(nil, x)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", t, t.sch[i].Name, err)
				}
				v = doc
			}
		case decimal.Decimal:
			if dt, ok := typ.(sql.DecimalType); ok {
				v = x.Round(int32(dt.Scale()))
			}
		}
		out[i] = v
	}
	return out, nil
}

// storeRow converts an engine row to the stored form: normalized declared
// columns and the write time.
func (t *WritableTable) storeRow(r sql.Row, now time.Time) (key, row []any, err error) {
	if len(r) != len(t.sch) {
		return nil, nil, fmt.Errorf("%s: row has %d values for %d columns", t, len(r), len(t.sch))
	}
	row = make([]any, len(r)+1)
	for i, v := range r {
		if w, ok := v.(sql.JSONWrapper); ok {
			b, err := types.MarshallJson(w)
			if err != nil {
				return nil, nil, fmt.Errorf("%s.%s: %w", t, t.sch[i].Name, err)
			}
			v = string(b)
		}
		if t.sch[i].Type == types.Boolean && v != nil {
			switch x := v.(type) {
			case int8:
				v = x != 0
			case int64:
				v = x != 0
			}
		}
		if v, err = projections.Normalize(v); err != nil {
			return nil, nil, fmt.Errorf("%s.%s: %w", t, t.sch[i].Name, err)
		}
		row[i] = v
	}
	row[len(r)] = now.UTC()
	key = make([]any, len(t.pk))
	for i, j := range t.pk {
		if row[j] == nil {
			return nil, nil, sql.ErrInsertIntoNonNullableProvidedNull.New(t.sch[j].Name)
		}
		key[i] = row[j]
	}
	return key, row, nil
}

// retentionTime is the time retention judges a stored row by.
func (t *WritableTable) retentionTime(row []any) (time.Time, bool) {
	if t.tsCol >= 0 && t.tsCol < len(row) {
		if ts, ok := row[t.tsCol].(time.Time); ok {
			return ts, true
		}
	}
	if n := len(t.sch); n < len(row) {
		ts, ok := row[n].(time.Time)
		return ts, ok
	}
	return time.Time{}, false
}

// Inserter implements sql.InsertableTable.
func (t *WritableTable) Inserter(*sql.Context) sql.RowInserter { return &tableEditor{t: t} }

// Updater implements sql.UpdatableTable.
func (t *WritableTable) Updater(*sql.Context) sql.RowUpdater { return &tableEditor{t: t} }

// Deleter implements sql.DeletableTable.
func (t *WritableTable) Deleter(*sql.Context) sql.RowDeleter { return &tableEditor{t: t} }

// change is one pending write of a key: row nil deletes it; insert says
// the key must not exist in the store when the write is applied.
type change struct {
	seq    int
	key    []any
	row    []any
	insert bool
}

// changes are pending writes of one table by encoded key.
type changes map[string]*change

// merge records c over what is pending for its key.
func (p changes) merge(k string, c *change) {
	prev, ok := p[k]
	if ok && prev.insert {
		if c.row == nil {
			// Inserted then deleted before being applied: nothing happened.
			delete(p, k)
			return
		}
		c.insert = true
	}
	p[k] = c
}

func sortedChanges(p changes) []*change {
	out := make([]*change, 0, len(p))
	for _, c := range p {
		out = append(out, c)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].seq < out[b].seq })
	return out
}

// tableEditor buffers one statement's writes; StatementComplete moves them
// to the session's pending writes, DiscardChanges drops them.
type tableEditor struct {
	t    *WritableTable
	stmt changes
	seq  int
}

var (
	_ sql.RowInserter = (*tableEditor)(nil)
	_ sql.RowUpdater  = (*tableEditor)(nil)
	_ sql.RowDeleter  = (*tableEditor)(nil)
)

func (e *tableEditor) add(key, row []any, insert bool) error {
	k, err := projections.EncodeKey(key)
	if err != nil {
		return err
	}
	if e.stmt == nil {
		e.stmt = changes{}
	}
	e.seq++
	e.stmt.merge(string(k), &change{seq: e.seq, key: key, row: row, insert: insert})
	return nil
}

// Insert implements sql.RowInserter. Inserting a key that exists (stored,
// pending in the session, or written earlier in the statement) is a
// unique violation, which the engine turns into the UPDATE of INSERT ...
// ON CONFLICT DO UPDATE.
func (e *tableEditor) Insert(ctx *sql.Context, r sql.Row) error {
	key, row, err := e.t.storeRow(r, time.Now())
	if err != nil {
		return err
	}
	k, err := projections.EncodeKey(key)
	if err != nil {
		return err
	}
	var existing []any
	found := false
	if c, ok := e.stmt[string(k)]; ok {
		existing, found = c.row, c.row != nil
	} else if existing, found, err = e.t.get(ctx, sessionID(ctx), key); err != nil && !errors.Is(err, ErrUnavailable) {
		return err
	}
	if found {
		old, err := e.t.engineRow(existing)
		if err != nil {
			return err
		}
		return sql.NewUniqueKeyErr(fmt.Sprint(key), true, old)
	}
	return e.add(key, row, true)
}

// Update implements sql.RowUpdater: an upsert of the new row, and a delete
// of the old key when the key changed.
func (e *tableEditor) Update(_ *sql.Context, old, new sql.Row) error {
	now := time.Now()
	oldKey, _, err := e.t.storeRow(old, now)
	if err != nil {
		return err
	}
	key, row, err := e.t.storeRow(new, now)
	if err != nil {
		return err
	}
	ok, _ := projections.EncodeKey(oldKey)
	nk, _ := projections.EncodeKey(key)
	if string(ok) != string(nk) {
		if err := e.add(oldKey, nil, false); err != nil {
			return err
		}
	}
	return e.add(key, row, false)
}

// Delete implements sql.RowDeleter.
func (e *tableEditor) Delete(_ *sql.Context, r sql.Row) error {
	key, _, err := e.t.storeRow(r, time.Now())
	if err != nil {
		return err
	}
	return e.add(key, nil, false)
}

// StatementBegin implements sql.EditOpenerCloser.
func (e *tableEditor) StatementBegin(*sql.Context) { e.stmt = nil }

// DiscardChanges implements sql.EditOpenerCloser.
func (e *tableEditor) DiscardChanges(*sql.Context, error) error {
	e.stmt = nil
	return nil
}

// StatementComplete implements sql.EditOpenerCloser.
func (e *tableEditor) StatementComplete(ctx *sql.Context) error {
	if len(e.stmt) > 0 {
		e.t.db.addPending(sessionID(ctx), e.t.def.Name, e.stmt)
	}
	e.stmt = nil
	return nil
}

// Close implements sql.Closer: writes not yet handed over (an engine that
// does not call StatementComplete) are handed over now.
func (e *tableEditor) Close(ctx *sql.Context) error { return e.StatementComplete(ctx) }

// sessionID is the engine session of ctx (0 outside one): the gateway's
// connection id, the key of TxHooks.Commit and Rollback.
func sessionID(ctx context.Context) uint32 {
	if sc, ok := ctx.(*sql.Context); ok && sc != nil && sc.Session != nil {
		return sc.Session.ID()
	}
	return 0
}

// pendingFor returns the session's pending writes of table (nil if none).
// The map must only be read.
func (d *Database) pendingFor(session uint32, table string) changes {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.pending[session][table]
	if len(p) == 0 {
		return nil
	}
	// A copy: the session's next statement may merge into it while a
	// reader (the same session's open cursor) iterates.
	out := make(changes, len(p))
	for k, c := range p {
		out[k] = c
	}
	return out
}

func (d *Database) addPending(session uint32, table string, stmt changes) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending == nil {
		d.pending = map[uint32]map[string]changes{}
	}
	tabs := d.pending[session]
	if tabs == nil {
		tabs = map[string]changes{}
		d.pending[session] = tabs
	}
	p := tabs[table]
	if p == nil {
		p = changes{}
		tabs[table] = p
	}
	d.seq++
	base := d.seq << 20
	for k, c := range stmt {
		c.seq += base
		p.merge(k, c)
	}
}

// HasServingTables says whether the catalog declares any serving table.
func (d *Database) HasServingTables() bool { return len(d.writable) > 0 }

// ServingTables returns the writable serving tables in catalog order.
func (d *Database) ServingTables() []*WritableTable { return d.writable }

// Init makes sure every serving table exists in the store (an empty
// generation), so a table never written reads as empty.
func (d *Database) Init(ctx context.Context) error {
	for _, t := range d.writable {
		t.mu.Lock()
		err := t.ensure(ctx)
		t.mu.Unlock()
		if err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	return nil
}

// ensure creates the table's generation and makes it current if the store
// has none (first start, or the store was flushed). Called with t.mu held.
func (t *WritableTable) ensure(ctx context.Context) error {
	wm, err := t.store.Watermark(ctx, t.name)
	if err == nil && wm.Generation == TableGeneration {
		return nil
	}
	if err != nil && !errors.Is(err, projections.ErrNoGeneration) {
		return err
	}
	if err := t.store.Apply(ctx, t.name, TableGeneration, 0, nil, nil); err != nil {
		return err
	}
	return t.store.SwitchGeneration(ctx, t.name, TableGeneration)
}

// Commit applies the session's pending serving-table writes: per table,
// the unique checks of its inserts and one atomic store Apply. The
// pending writes are gone afterwards, applied or not.
func (d *Database) Commit(ctx context.Context, session uint32) error {
	d.mu.Lock()
	tabs := d.pending[session]
	delete(d.pending, session)
	d.mu.Unlock()
	for _, t := range d.writable {
		if p := tabs[t.def.Name]; len(p) > 0 {
			if err := t.apply(ctx, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// Rollback drops the session's pending serving-table writes.
func (d *Database) Rollback(session uint32) {
	d.mu.Lock()
	delete(d.pending, session)
	d.mu.Unlock()
}

func (t *WritableTable) apply(ctx context.Context, p changes) error {
	var ups []projections.Entry
	var dels [][]any
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ensure(ctx); err != nil {
		return t.unavailable(err)
	}
	for _, c := range sortedChanges(p) {
		if c.insert {
			_, found, err := t.store.Get(ctx, t.name, c.key)
			if err != nil {
				return t.unavailable(err)
			}
			if found {
				return fmt.Errorf("%w: %s key (%s) was inserted by another session first", ErrDuplicateKey, t, strings.Trim(fmt.Sprint(c.key), "[]"))
			}
		}
		if c.row == nil {
			dels = append(dels, c.key)
		} else {
			ups = append(ups, projections.Entry{Key: c.key, Row: c.row})
		}
	}
	if err := t.store.Apply(ctx, t.name, TableGeneration, 0, ups, dels); err != nil {
		return t.unavailable(err)
	}
	return nil
}

// Purge deletes the rows of every serving table with a retention whose
// retention time is before now minus the retention, and returns how many
// rows it deleted per table (only tables that lost rows).
func (d *Database) Purge(ctx context.Context, now time.Time) (map[string]int, error) {
	out := map[string]int{}
	var errs []error
	for _, t := range d.writable {
		if t.def.Retention <= 0 {
			continue
		}
		n, err := t.purge(ctx, now.Add(-t.def.Retention))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t, err))
		}
		if n > 0 {
			out[t.def.Name] = n
		}
	}
	return out, errors.Join(errs...)
}

// purgeChunk bounds the deletes of one store Apply.
const purgeChunk = 1000

func (t *WritableTable) purge(ctx context.Context, cutoff time.Time) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var old [][]any
	err := t.store.Scan(ctx, t.name, func(key, row []any) error {
		if ts, ok := t.retentionTime(row); ok && ts.Before(cutoff) {
			old = append(old, key)
		}
		return nil
	})
	if errors.Is(err, projections.ErrNoGeneration) {
		return 0, nil // nothing stored: nothing to purge
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for len(old) > 0 {
		c := old[:min(purgeChunk, len(old))]
		old = old[len(c):]
		if err := t.store.Apply(ctx, t.name, TableGeneration, 0, nil, c); err != nil {
			return n, err
		}
		n += len(c)
	}
	return n, nil
}
