package sqltables

import (
	"fmt"
	"math"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/dualgate/dualgate/catalog"
)

// baseTable is the common part of the history, diff, raw and dualgate
// tables: a computed, read-only relation whose indexes are hints that its
// rows function turns into narrower store reads. Rows are always re-checked
// against the lookup range, so any index access is exact.
type baseTable struct {
	db, name string
	comment  string
	sch      sql.Schema
	idx      []*storeIndex
	lookup   *sql.IndexLookup
	// catCol finds the catalog column behind a column name (nil: none).
	catCol func(name string) *catalog.Column
	// rows returns the rows of a partition; p.idx is nil for a full scan.
	rows func(ctx *sql.Context, p *lookupPartition) (sql.RowIter, error)
}

var (
	_ sql.Table            = (*baseTable)(nil)
	_ sql.IndexAddressable = (*baseTable)(nil)
	_ sql.IndexedTable     = (*baseTable)(nil)
	_ sql.CommentedTable   = (*baseTable)(nil)
)

// Name implements sql.Table.
func (t *baseTable) Name() string { return t.name }

// String implements sql.Table.
func (t *baseTable) String() string { return t.db + "." + t.name }

// Schema implements sql.Table.
func (t *baseTable) Schema() sql.Schema { return t.sch }

// Collation implements sql.Table.
func (t *baseTable) Collation() sql.CollationID { return sql.Collation_Default }

// Comment implements sql.CommentedTable.
func (t *baseTable) Comment() string { return t.comment }

// GetIndexes implements sql.IndexAddressable.
func (t *baseTable) GetIndexes(*sql.Context) ([]sql.Index, error) {
	out := make([]sql.Index, len(t.idx))
	for i, ix := range t.idx {
		out[i] = ix
	}
	return out, nil
}

// PreciseMatch implements sql.IndexAddressable.
func (t *baseTable) PreciseMatch() bool { return true }

// IndexedAccess implements sql.IndexAddressable.
func (t *baseTable) IndexedAccess(_ *sql.Context, lookup sql.IndexLookup) sql.IndexedTable {
	if _, ok := lookup.Index.(*storeIndex); !ok {
		return nil
	}
	c := *t
	c.lookup = &lookup
	return &c
}

// LookupPartitions implements sql.IndexedTable.
func (t *baseTable) LookupPartitions(_ *sql.Context, lookup sql.IndexLookup) (sql.PartitionIter, error) {
	return lookupPartitions(lookup)
}

// Partitions implements sql.Table.
func (t *baseTable) Partitions(*sql.Context) (sql.PartitionIter, error) {
	if t.lookup != nil {
		return lookupPartitions(*t.lookup)
	}
	return sql.PartitionsToPartitionIter(fullScan), nil
}

// PartitionRows implements sql.Table.
func (t *baseTable) PartitionRows(ctx *sql.Context, p sql.Partition) (sql.RowIter, error) {
	lp, ok := p.(*lookupPartition)
	if !ok {
		return nil, fmt.Errorf("sqltables: %s: unexpected partition %T", t, p)
	}
	it, err := t.rows(ctx, lp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	if lp.idx == nil {
		return it, nil
	}
	filter, err := rangeFilter(t.sch, lp.idx.cols, lp.rng)
	if err != nil {
		_ = it.Close(ctx)
		return nil, err
	}
	var out sql.RowIter = &filterIter{filter: filter, it: it}
	if lp.reverse {
		// These system tables read in ascending order only; a reverse
		// lookup (ORDER BY ... DESC, max()) gets the range reversed here.
		// Their ranges are small (commits, quarantine, raw pages).
		rows, err := sql.RowIterToRows(ctx, out)
		if err != nil {
			return nil, err
		}
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
		out = sql.RowsToRowIter(rows...)
	}
	return out, nil
}

// addIndex adds an index on the named columns (ignored if one is missing).
func (t *baseTable) addIndex(id string, cols []string, unique bool) {
	if ix := newIndex(t.db, t.name, id, t.sch, cols, unique); ix != nil {
		t.idx = append(t.idx, ix)
	}
}

// keyPoint returns the values of a range that pins every column to one
// non-NULL value (engine values), or nil.
func keyPoint(r sql.MySQLRange) []any {
	b, err := rangeBounds(r, func(_ int, v any) (any, error) { return v, nil })
	if err != nil || !b.point || len(b.lower) != len(r) {
		return nil
	}
	return b.lower
}

// uintRange returns the inclusive bounds [lo, hi] of a range on one integer
// column (hi math.MaxUint64 if unbounded; empty if no non-negative value
// matches).
func uintRange(ce sql.MySQLRangeColumnExpr) (lo, hi uint64, empty bool) {
	hi = math.MaxUint64
	toInt := func(v any) (int64, bool) {
		switch x := v.(type) {
		case int64:
			return x, true
		case int32:
			return int64(x), true
		case int:
			return int64(x), true
		case uint64:
			if x > math.MaxInt64 {
				return math.MaxInt64, true
			}
			return int64(x), true
		}
		return 0, false
	}
	switch c := ce.LowerBound.(type) {
	case sql.Below:
		if k, ok := toInt(c.Key); ok && k > 0 {
			lo = uint64(k)
		}
	case sql.Above:
		if k, ok := toInt(c.Key); ok && k >= 0 {
			lo = uint64(k) + 1
		}
	}
	switch c := ce.UpperBound.(type) {
	case sql.Above:
		if k, ok := toInt(c.Key); ok {
			if k < 0 {
				return 0, 0, true
			}
			hi = uint64(k)
		}
	case sql.Below:
		if k, ok := toInt(c.Key); ok {
			if k <= 0 {
				return 0, 0, true
			}
			hi = uint64(k) - 1
		}
	case sql.BelowNull, sql.AboveNull:
		return 0, 0, true
	}
	return lo, hi, lo > hi
}

// estimatedRows is the row count the tables report to the optimizer (the
// store keeps no counts). Without one the optimizer costs a full scan of an
// empty table as free and ignores range lookups; it is reported as inexact,
// so nothing answers COUNT(*) from it.
const estimatedRows = 100000

// RowCount implements sql.StatisticsTable (an inexact estimate).
func (t *baseTable) RowCount(*sql.Context) (uint64, bool, error) { return estimatedRows, false, nil }

// DataLength implements sql.StatisticsTable (an estimate).
func (t *baseTable) DataLength(*sql.Context) (uint64, error) { return estimatedRows * 100, nil }
