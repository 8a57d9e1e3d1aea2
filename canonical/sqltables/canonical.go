package sqltables

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

// storeCalls counts store reads issued by the canonical tables (tests use it
// to prove that lookups are point reads or range scans).
var storeCalls struct {
	get, scan, scanIndex atomic.Int64
}

// CanonicalTable is canonical.<entity>: the entity's rows at head or AS OF a
// commit. Lookups on the primary key become store.Get (all key columns
// equal) or store.Scan over a key range; lookups on a secondary index become
// store.ScanIndex. Rows are re-checked against the lookup range, so index
// access is exact (PreciseMatch).
type CanonicalTable struct {
	e      *env
	entity *catalog.Entity
	ts     *canonical.TableSchema // nil: the store has no such table (empty)
	asOf   uint64                 // canonical.HEAD or a commit id
	rev    string                 // the AS OF revision as written ("" at head)
	sch    sql.Schema
	kinds  []canonical.Kind
	pk     []int
	idx    []*storeIndex
	lookup *sql.IndexLookup
	proj   []int // projected column ordinals (nil: all)
}

var (
	_ sql.Table            = (*CanonicalTable)(nil)
	_ sql.PrimaryKeyTable  = (*CanonicalTable)(nil)
	_ sql.IndexAddressable = (*CanonicalTable)(nil)
	_ sql.IndexedTable     = (*CanonicalTable)(nil)
	_ sql.CommentedTable   = (*CanonicalTable)(nil)
	_ sql.ProjectedTable   = (*CanonicalTable)(nil)
	_ sql.InsertableTable  = (*CanonicalTable)(nil)
	_ sql.UpdatableTable   = (*CanonicalTable)(nil)
	_ sql.DeletableTable   = (*CanonicalTable)(nil)
)

func newCanonicalTable(e *env, en *catalog.Entity, asOf uint64, rev string) *CanonicalTable {
	t := &CanonicalTable{e: e, entity: en, asOf: asOf, rev: rev}
	t.ts = e.storeTable(en.Name, asOf)
	var cols []canonical.Column
	var key []string
	var sidx []canonical.Index
	if t.ts != nil {
		cols, key, sidx = t.ts.Columns, t.ts.PrimaryKey, t.ts.Indexes
	} else {
		es := EntitySchema(en)
		cols, key = es.Columns, es.PrimaryKey
	}
	t.sch, t.kinds = entityColumns(en, cols, key, "", SchemaCanonical)
	setDefaults(t.sch, cols)
	for _, k := range key {
		t.pk = append(t.pk, t.sch.IndexOfColName(k))
	}
	if ix := newIndex(SchemaCanonical, en.Name, "PRIMARY", t.sch, key, true); ix != nil {
		t.idx = append(t.idx, ix)
	}
	for _, si := range sidx {
		if ix := newIndex(SchemaCanonical, en.Name, si.Name, t.sch, si.Columns, false); ix != nil {
			t.idx = append(t.idx, ix)
		}
	}
	return t
}

// entityColumns builds engine columns (named prefix+column) for store
// columns, typed by the catalog entity's column types.
func entityColumns(en *catalog.Entity, cols []canonical.Column, key []string, prefix, db string) (sql.Schema, []canonical.Kind) {
	isKey := map[string]bool{}
	for _, k := range key {
		isKey[k] = true
	}
	var sch sql.Schema
	var kinds []canonical.Kind
	for _, c := range cols {
		typ := kindType(c.Kind)
		comment := ""
		if cc := en.Column(c.Name); cc != nil {
			typ, comment = EngineType(cc.Type), cc.Description
		}
		// The catalog's column description becomes the column comment
		// (pg_description: psql \d+, JDBC REMARKS, SQLAlchemy comments).
		col := &sql.Column{Name: prefix + c.Name, Type: typ, Nullable: c.Nullable && !isKey[c.Name], Source: en.Name,
			DatabaseSource: db, Comment: comment}
		if prefix == "" && isKey[c.Name] {
			col.PrimaryKey = true
			col.Nullable = false
		}
		if prefix != "" {
			col.Nullable = true
		}
		sch = append(sch, col)
		kinds = append(kinds, c.Kind)
	}
	return sch, kinds
}

// setDefaults gives the engine columns of canonical.<entity> the store
// columns' defaults (the catalog's `default:`, checked and converted when
// the column was added), as literal column defaults: an INSERT by a
// steward that omits the column gets the default, as in Postgres, and
// pg_attrdef, information_schema.columns.column_default and psql's \d show
// it (rendered in Postgres's form by the gateway's pg_catalog). A default
// the engine type cannot hold is left out (the column reads NULL when
// omitted, as before).
func setDefaults(sch sql.Schema, cols []canonical.Column) {
	for i, c := range cols {
		if c.Default == nil || i >= len(sch) {
			continue
		}
		v, err := toEngine(sch[i].Type, c.Default)
		if err != nil || v == nil {
			continue
		}
		d, err := sql.NewColumnDefaultValue(expression.NewLiteral(v, sch[i].Type), sch[i].Type, true, false, true)
		if err != nil {
			continue
		}
		sch[i].Default = d
	}
}

// Name implements sql.Table.
func (t *CanonicalTable) Name() string { return t.entity.Name }

// String implements sql.Table.
func (t *CanonicalTable) String() string {
	if t.asOf != canonical.HEAD {
		return fmt.Sprintf("canonical.%s AS OF %d", t.entity.Name, t.asOf)
	}
	return "canonical." + t.entity.Name
}

// Schema implements sql.Table (the projected columns, if projected).
func (t *CanonicalTable) Schema() sql.Schema {
	if t.proj != nil {
		out := make(sql.Schema, len(t.proj))
		for i, c := range t.proj {
			out[i] = t.sch[c]
		}
		return out
	}
	return t.sch
}

// WithProjections implements sql.ProjectedTable: rows then carry only the
// named columns, and columns nobody reads are not converted.
func (t *CanonicalTable) WithProjections(cols []string) sql.Table {
	c := *t
	c.proj = nil
	if cols == nil {
		return &c
	}
	c.proj = make([]int, 0, len(cols))
	for _, n := range cols {
		i := t.sch.IndexOfColName(n)
		if i < 0 {
			// Unknown column: leave the table unprojected.
			c.proj = nil
			return &c
		}
		c.proj = append(c.proj, i)
	}
	return &c
}

// Projections implements sql.ProjectedTable.
func (t *CanonicalTable) Projections() []string {
	if t.proj == nil {
		return nil
	}
	out := make([]string, len(t.proj))
	for i, c := range t.proj {
		out[i] = t.sch[c].Name
	}
	return out
}

// Collation implements sql.Table.
func (t *CanonicalTable) Collation() sql.CollationID { return sql.Collation_Default }

// Comment implements sql.CommentedTable.
func (t *CanonicalTable) Comment() string {
	return "AUTHORITATIVE: " + describe(t.entity.Description, "canonical entity "+t.entity.Name)
}

func describe(d, fallback string) string {
	if d = strings.TrimSpace(d); d != "" {
		return d
	}
	return fallback
}

// AsOf returns the commit the table is pinned to (canonical.HEAD: current).
func (t *CanonicalTable) AsOf() uint64 { return t.asOf }

// PrimaryKeySchema implements sql.PrimaryKeyTable.
func (t *CanonicalTable) PrimaryKeySchema() sql.PrimaryKeySchema {
	return sql.NewPrimaryKeySchema(t.sch, t.pk...)
}

// GetIndexes implements sql.IndexAddressable: PRIMARY plus the store's
// secondary indexes.
func (t *CanonicalTable) GetIndexes(*sql.Context) ([]sql.Index, error) {
	out := make([]sql.Index, len(t.idx))
	for i, ix := range t.idx {
		out[i] = ix
	}
	return out, nil
}

// PreciseMatch implements sql.IndexAddressable.
func (t *CanonicalTable) PreciseMatch() bool { return true }

// IndexedAccess implements sql.IndexAddressable.
func (t *CanonicalTable) IndexedAccess(_ *sql.Context, lookup sql.IndexLookup) sql.IndexedTable {
	if _, ok := lookup.Index.(*storeIndex); !ok {
		return nil
	}
	c := *t
	c.lookup = &lookup
	return &c
}

// LookupPartitions implements sql.IndexedTable: one partition per range.
func (t *CanonicalTable) LookupPartitions(_ *sql.Context, lookup sql.IndexLookup) (sql.PartitionIter, error) {
	return lookupPartitions(lookup)
}

// Partitions implements sql.Table.
func (t *CanonicalTable) Partitions(*sql.Context) (sql.PartitionIter, error) {
	if t.lookup != nil {
		return lookupPartitions(*t.lookup)
	}
	return sql.PartitionsToPartitionIter(fullScan), nil
}

// PartitionRows implements sql.Table.
func (t *CanonicalTable) PartitionRows(ctx *sql.Context, p sql.Partition) (sql.RowIter, error) {
	if t.ts == nil {
		return &sliceIter{}, nil
	}
	lp, ok := p.(*lookupPartition)
	if !ok {
		return nil, fmt.Errorf("sqltables: %s: unexpected partition %T", t, p)
	}
	if t.proj == nil {
		return t.rows(ctx, lp, nil)
	}
	// Convert only the projected columns (and those the range re-check
	// reads), then project.
	need := make([]bool, len(t.sch))
	for _, c := range t.proj {
		need[c] = true
	}
	if lp.idx != nil {
		for _, c := range lp.idx.cols {
			need[c] = true
		}
	}
	it, err := t.rows(ctx, lp, need)
	if err != nil {
		return nil, err
	}
	return &projectIter{it: it, cols: t.proj}, nil
}

// rows returns full-width rows of a partition; only the columns in need
// (all if nil) are converted, the others are NULL.
func (t *CanonicalTable) rows(ctx *sql.Context, lp *lookupPartition, need []bool) (sql.RowIter, error) {
	cols := neededColumns(need)
	if lp.idx == nil {
		storeCalls.scan.Add(1)
		it, err := t.e.store.Scan(ctx, t.entity.Name, canonical.ScanOptions{AsOf: t.asOf, Columns: cols})
		if err != nil {
			return nil, t.wrap(err)
		}
		return &storeRowIter{t: t, it: it, need: need}, nil
	}
	filter, err := rangeFilter(t.sch, lp.idx.cols, lp.rng)
	if err != nil {
		return nil, err
	}
	b, err := rangeBounds(lp.rng, func(j int, v any) (any, error) {
		return toStore(t.kinds[lp.idx.cols[j]], v)
	})
	if err != nil {
		// A bound that does not convert to the column's kind: scan and filter.
		b = bounds{}
	}
	if b.empty {
		return &sliceIter{}, nil
	}
	opts := canonical.ScanOptions{AsOf: t.asOf, Lower: b.lower, Upper: b.upper,
		LowerExclusive: b.lowerExclusive, UpperInclusive: b.upperInclusive, Reverse: lp.reverse}
	if lp.idx.id == "PRIMARY" {
		if b.point && len(b.lower) == len(t.pk) {
			storeCalls.get.Add(1)
			row, found, err := t.e.store.Get(ctx, t.entity.Name, b.lower, t.asOf)
			if err != nil {
				return nil, t.wrap(err)
			}
			if !found {
				return &sliceIter{}, nil
			}
			r, err := t.engineRowMask(row, need)
			if err != nil {
				return nil, err
			}
			return &filterIter{filter: filter, it: &sliceIter{rows: []sql.Row{r}}}, nil
		}
		storeCalls.scan.Add(1)
		opts.Columns = cols
		it, err := t.e.store.Scan(ctx, t.entity.Name, opts)
		if err != nil {
			return nil, t.wrap(err)
		}
		return &filterIter{filter: filter, it: &storeRowIter{t: t, it: it, need: need}}, nil
	}
	storeCalls.scanIndex.Add(1)
	it, err := t.e.store.ScanIndex(ctx, t.entity.Name, lp.idx.id, opts)
	if err != nil {
		return nil, t.wrap(err)
	}
	return &filterIter{filter: filter, it: &storeRowIter{t: t, it: it, need: need}}, nil
}

// neededColumns lists the ordinals set in need (nil if need is nil: every
// column). The store then decodes only those columns of each row.
func neededColumns(need []bool) []int {
	if need == nil {
		return nil
	}
	cols := make([]int, 0, len(need))
	for i, n := range need {
		if n {
			cols = append(cols, i)
		}
	}
	return cols
}

func (t *CanonicalTable) wrap(err error) error { return fmt.Errorf("%s: %w", t, err) }

// engineRow converts a store row to engine values of the table's columns
// (a row of a newer or older schema is cut or padded with NULL).
func (t *CanonicalTable) engineRow(row []any) (sql.Row, error) { return t.engineRowMask(row, nil) }

// engineRowMask is engineRow converting only the columns in need (all if
// nil); the others are NULL.
func (t *CanonicalTable) engineRowMask(row []any, need []bool) (sql.Row, error) {
	out := make(sql.Row, len(t.sch))
	for i := range out {
		if i >= len(row) {
			break
		}
		if need != nil && !need[i] {
			continue
		}
		v, err := toEngine(t.sch[i].Type, row[i])
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, t.sch[i].Name, err)
		}
		out[i] = v
	}
	return out, nil
}

// storeRowIter adapts a store RowIter.
type storeRowIter struct {
	t    *CanonicalTable
	it   *canonical.RowIter
	need []bool
}

func (s *storeRowIter) Next(*sql.Context) (sql.Row, error) {
	if !s.it.Next() {
		if err := s.it.Err(); err != nil {
			return nil, s.t.wrap(err)
		}
		return nil, ioEOF
	}
	return s.t.engineRowMask(s.it.Row(), s.need)
}

func (s *storeRowIter) Close(*sql.Context) error { return s.it.Close() }

// ---- writes (steward corrections) ----

// Inserter implements sql.InsertableTable.
func (t *CanonicalTable) Inserter(*sql.Context) sql.RowInserter { return t.editor() }

// Updater implements sql.UpdatableTable.
func (t *CanonicalTable) Updater(*sql.Context) sql.RowUpdater { return t.editor() }

// Deleter implements sql.DeletableTable.
func (t *CanonicalTable) Deleter(*sql.Context) sql.RowDeleter { return t.editor() }

func (t *CanonicalTable) editor() *correctionEditor { return &correctionEditor{t: t} }

type correction struct {
	op  canonical.Op
	row []any
}

// correctionEditor buffers the rows of one statement and hands them to
// Writes.Correction at StatementComplete (DiscardChanges drops them), so a
// failed statement never reaches the batch. INSERT and UPDATE are upserts of
// the new row; an UPDATE that changes the key also deletes the old key;
// DELETE is a delete with the old row.
type correctionEditor struct {
	t       *CanonicalTable
	pending []correction
	// live records, per key written in this statement, whether the
	// statement's last change left the key present.
	live map[string]bool
}

var (
	_ sql.RowInserter = (*correctionEditor)(nil)
	_ sql.RowUpdater  = (*correctionEditor)(nil)
	_ sql.RowDeleter  = (*correctionEditor)(nil)
)

func (c *correctionEditor) check() error {
	if c.t.asOf != canonical.HEAD {
		return fmt.Errorf("%w: canonical.%s AS OF %s is history and cannot be changed; write to canonical.%s", ErrReadOnly, c.t.entity.Name, c.t.rev, c.t.entity.Name)
	}
	if c.t.e.writes == nil {
		return fmt.Errorf("%w: canonical.%s: corrections are not enabled", ErrReadOnly, c.t.entity.Name)
	}
	return nil
}

func (c *correctionEditor) storeRow(r sql.Row) ([]any, error) {
	if len(r) != len(c.t.sch) {
		return nil, fmt.Errorf("canonical.%s: row has %d values for %d columns", c.t.entity.Name, len(r), len(c.t.sch))
	}
	out := make([]any, len(r))
	for i, v := range r {
		s, err := toStore(c.t.kinds[i], fitScale(c.t.sch[i].Type, v))
		if err != nil {
			return nil, fmt.Errorf("canonical.%s.%s: %w", c.t.entity.Name, c.t.sch[i].Name, err)
		}
		out[i] = s
	}
	return out, nil
}

func (c *correctionEditor) add(op canonical.Op, r sql.Row) error {
	if err := c.check(); err != nil {
		return err
	}
	row, err := c.storeRow(r)
	if err != nil {
		return err
	}
	c.pending = append(c.pending, correction{op: op, row: row})
	if c.live == nil {
		c.live = map[string]bool{}
	}
	key := make([]any, len(c.t.pk))
	for i, j := range c.t.pk {
		key[i] = row[j]
	}
	c.live[fmt.Sprint(key)] = op == canonical.OpUpsert
	return nil
}

// Insert implements sql.RowInserter. Inserting a key that exists (at head,
// or written earlier in the statement) is a primary key violation, as in
// Postgres; the engine turns that into the UPDATE of INSERT ... ON
// DUPLICATE KEY UPDATE (the gateway's ON CONFLICT DO UPDATE).
func (c *correctionEditor) Insert(ctx *sql.Context, r sql.Row) error {
	if err := c.check(); err != nil {
		return err
	}
	row, err := c.storeRow(r)
	if err != nil {
		return err
	}
	key := make([]any, len(c.t.pk))
	for i, j := range c.t.pk {
		key[i] = row[j]
	}
	ks := fmt.Sprint(key)
	live, seen := c.live[ks]
	var existing sql.Row
	if !seen {
		storeCalls.get.Add(1)
		old, found, err := c.t.e.store.Get(ctx, c.t.entity.Name, key, canonical.HEAD)
		if err != nil && !errors.Is(err, canonical.ErrNoSuchTable) {
			return c.t.wrap(err)
		}
		if found {
			live = true
			if existing, err = c.t.engineRow(old); err != nil {
				return err
			}
		}
	}
	if live {
		return sql.NewUniqueKeyErr(ks, true, existing)
	}
	return c.add(canonical.OpUpsert, r)
}

// Update implements sql.RowUpdater.
func (c *correctionEditor) Update(_ *sql.Context, old, new sql.Row) error {
	if err := c.add(canonical.OpUpsert, new); err != nil {
		return err
	}
	for _, i := range c.t.pk {
		cmp, err := c.t.sch[i].Type.Compare(nil, old[i], new[i])
		if err != nil {
			return err
		}
		if cmp != 0 {
			// Deletes go first so that a key swap within one statement
			// (a->b, b->a) nets to the new rows.
			last := c.pending[len(c.pending)-1]
			c.pending = c.pending[:len(c.pending)-1]
			if err := c.add(canonical.OpDelete, old); err != nil {
				return err
			}
			c.pending = append(c.pending, last)
			break
		}
	}
	return nil
}

// Delete implements sql.RowDeleter.
func (c *correctionEditor) Delete(_ *sql.Context, r sql.Row) error {
	return c.add(canonical.OpDelete, r)
}

// StatementBegin implements sql.EditOpenerCloser.
func (c *correctionEditor) StatementBegin(*sql.Context) { c.pending, c.live = nil, nil }

// DiscardChanges implements sql.EditOpenerCloser.
func (c *correctionEditor) DiscardChanges(*sql.Context, error) error {
	c.pending, c.live = nil, nil
	return nil
}

// StatementComplete implements sql.EditOpenerCloser: the statement's rows go
// to Writes.Correction in statement order. It stops at the first error
// (the rows before it are in the session's batch; the gateway discards the
// batch when the statement fails).
func (c *correctionEditor) StatementComplete(ctx *sql.Context) error {
	p := c.pending
	c.pending, c.live = nil, nil
	for _, w := range p {
		if err := c.t.e.writes.Correction(ctx, c.t.entity.Name, w.op, w.row); err != nil {
			return err
		}
	}
	return nil
}

// Close implements sql.Closer: rows not yet handed over (an engine that does
// not call StatementComplete) are handed over now.
func (c *correctionEditor) Close(ctx *sql.Context) error {
	if len(c.pending) == 0 {
		return nil
	}
	return c.StatementComplete(ctx)
}

// RowCount implements sql.StatisticsTable (an inexact estimate; see
// estimatedRows).
func (t *CanonicalTable) RowCount(*sql.Context) (uint64, bool, error) {
	return estimatedRows, false, nil
}

// DataLength implements sql.StatisticsTable (an estimate).
func (t *CanonicalTable) DataLength(*sql.Context) (uint64, error) { return estimatedRows * 100, nil }
