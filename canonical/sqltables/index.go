package sqltables

import (
	"fmt"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/types"
	sqltypes "github.com/dolthub/vitess/go/sqltypes"
)

// storeIndex is an engine index over columns of one of our tables. It is
// metadata only: the table that owns it turns lookups on it into store reads
// (see rangeBounds) and re-checks every row it returns against the range, so
// access through any index is exact (PreciseMatch).
type storeIndex struct {
	db, table string
	id        string   // "PRIMARY" or the index name
	cols      []int    // ordinals in the table schema
	names     []string // column names
	types     []sql.Type
	unique    bool
}

var (
	_ sql.Index        = (*storeIndex)(nil)
	_ sql.OrderedIndex = (*storeIndex)(nil)
)

func newIndex(db, table, id string, sch sql.Schema, names []string, unique bool) *storeIndex {
	ix := &storeIndex{db: db, table: table, id: id, unique: unique}
	for _, n := range names {
		i := sch.IndexOfColName(n)
		if i < 0 {
			return nil
		}
		ix.cols = append(ix.cols, i)
		ix.names = append(ix.names, sch[i].Name)
		ix.types = append(ix.types, indexType(sch[i].Type))
	}
	return ix
}

// indexType is the type an index reports for a column. TEXT/BLOB columns
// are reported as VARCHAR/VARBINARY: the analyzer assumes unique indexes
// over TEXT are content-hashed (MySQL/Dolt) and then refuses range scans on
// them, while the store's keys are ordered by the full value.
func indexType(t sql.Type) sql.Type {
	if !types.IsTextBlob(t) {
		return t
	}
	if types.IsBlobType(t) {
		return types.MustCreateBinary(sqltypes.VarBinary, 65535)
	}
	return types.MustCreateString(sqltypes.VarChar, 16383, sql.Collation_Default)
}

func (i *storeIndex) ID() string       { return i.id }
func (i *storeIndex) Database() string { return i.db }
func (i *storeIndex) Table() string    { return i.table }

// Expressions are "table.column", as the analyzer expects.
func (i *storeIndex) Expressions() []string {
	out := make([]string, len(i.names))
	for j, n := range i.names {
		out[j] = strings.ToLower(i.table) + "." + n
	}
	return out
}

func (i *storeIndex) IsUnique() bool    { return i.unique }
func (i *storeIndex) IsSpatial() bool   { return false }
func (i *storeIndex) IsFullText() bool  { return false }
func (i *storeIndex) IsVector() bool    { return false }
func (i *storeIndex) Comment() string   { return "" }
func (i *storeIndex) IndexType() string { return "BTREE" }
func (i *storeIndex) IsGenerated() bool { return false }

func (i *storeIndex) ColumnExpressionTypes() []sql.ColumnExpressionType {
	ex := i.Expressions()
	out := make([]sql.ColumnExpressionType, len(ex))
	for j := range ex {
		out[j] = sql.ColumnExpressionType{Expression: ex[j], Type: i.types[j]}
	}
	return out
}

func (i *storeIndex) CanSupport(*sql.Context, ...sql.Range) bool { return true }
func (i *storeIndex) CanSupportOrderBy(sql.Expression) bool      { return false }
func (i *storeIndex) PrefixLengths() []uint16                    { return nil }
func (i *storeIndex) Order() sql.IndexOrder                      { return sql.IndexOrderAsc }
func (i *storeIndex) Reversible() bool                           { return true }
func (i *storeIndex) String() string                             { return i.id }
func fieldExprs(sch sql.Schema, cols []int) []sql.Expression {
	out := make([]sql.Expression, len(cols))
	for j, c := range cols {
		out[j] = expression.NewGetField(c, sch[c].Type, sch[c].Name, sch[c].Nullable)
	}
	return out
}

// bounds is a store scan bound derived from one range: prefix values of the
// index columns, plus inclusivity.
type bounds struct {
	lower, upper   []any
	lowerExclusive bool
	upperInclusive bool
	// point is true when every index column is pinned to one non-NULL value.
	point bool
	// empty is true when the range can match nothing.
	empty bool
}

// rangeBounds converts a MySQL range over an index's columns into store key
// prefix bounds: the longest prefix of columns pinned to a single value
// becomes a shared prefix, the next column contributes its own lower/upper
// cut, remaining columns are left to the re-check. conv converts an engine
// value of column j to its store value.
func rangeBounds(r sql.MySQLRange, conv func(j int, v any) (any, error)) (bounds, error) {
	var b bounds
	b.point = len(r) > 0
	for j, ce := range r {
		if empty, err := ce.IsEmpty(); err != nil {
			return b, err
		} else if empty {
			b.empty = true
			return b, nil
		}
		lo, hi := ce.LowerBound, ce.UpperBound
		// A single non-NULL value: [v, v].
		if lok, ok := lo.(sql.Below); ok {
			if hik, ok := hi.(sql.Above); ok {
				if cmp, err := ce.Typ.Compare(nil, lok.Key, hik.Key); err == nil && cmp == 0 && lok.Key != nil {
					v, err := conv(j, lok.Key)
					if err != nil {
						return b, err
					}
					b.lower = append(b.lower, v)
					b.upper = append(b.upper, v)
					b.upperInclusive = true
					continue
				}
			}
		}
		// NULL only: [NULL, NULL].
		if _, ok := lo.(sql.BelowNull); ok {
			if _, ok := hi.(sql.AboveNull); ok {
				b.lower = append(b.lower, nil)
				b.upper = append(b.upper, nil)
				b.upperInclusive = true
				b.point = false
				continue
			}
		}
		b.point = false
		// A range on this column ends the shared prefix.
		lp := append([]any(nil), b.lower...)
		up := append([]any(nil), b.upper...)
		lowerSet, upperSet := false, false
		switch c := lo.(type) {
		case sql.Below: // >= v
			v, err := conv(j, c.Key)
			if err != nil {
				return b, err
			}
			b.lower, b.lowerExclusive, lowerSet = append(lp, v), false, true
		case sql.Above: // > v
			v, err := conv(j, c.Key)
			if err != nil {
				return b, err
			}
			b.lower, b.lowerExclusive, lowerSet = append(lp, v), true, true
		case sql.AboveNull: // > NULL: after every NULL of this column
			b.lower, b.lowerExclusive, lowerSet = append(lp, nil), true, true
		}
		if !lowerSet {
			b.lower, b.lowerExclusive = lp, false
		}
		switch c := hi.(type) {
		case sql.Above: // <= v
			v, err := conv(j, c.Key)
			if err != nil {
				return b, err
			}
			b.upper, b.upperInclusive, upperSet = append(up, v), true, true
		case sql.Below: // < v
			v, err := conv(j, c.Key)
			if err != nil {
				return b, err
			}
			b.upper, b.upperInclusive, upperSet = append(up, v), false, true
		case sql.BelowNull: // only NULL... handled above; nothing above NULL
			b.upper, b.upperInclusive, upperSet = append(up, nil), true, true
		}
		if !upperSet {
			b.upper, b.upperInclusive = up, len(up) > 0
		}
		return b, nil
	}
	return b, nil
}

// rangeFilter is an expression true for rows inside r (GMS semantics), used
// to re-check rows returned from a store range.
func rangeFilter(sch sql.Schema, cols []int, r sql.MySQLRange) (sql.Expression, error) {
	e, err := expression.NewRangeFilterExpr(fieldExprs(sch, cols), []sql.MySQLRange{r})
	if err != nil {
		return nil, fmt.Errorf("sqltables: range filter: %w", err)
	}
	return e, nil
}

// filterIter drops rows for which filter is not true.
type filterIter struct {
	filter sql.Expression
	it     sql.RowIter
}

func (f *filterIter) Next(ctx *sql.Context) (sql.Row, error) {
	for {
		r, err := f.it.Next(ctx)
		if err != nil {
			return nil, err
		}
		if f.filter == nil {
			return r, nil
		}
		ok, err := sql.EvaluateCondition(ctx, f.filter, r)
		if err != nil {
			return nil, err
		}
		if sql.IsTrue(ok) {
			return r, nil
		}
	}
}

func (f *filterIter) Close(ctx *sql.Context) error { return f.it.Close(ctx) }

// lookupPartition is one range of an index lookup (or, with idx nil, a
// full scan).
type lookupPartition struct {
	key     []byte
	idx     *storeIndex
	rng     sql.MySQLRange
	reverse bool
}

func (p *lookupPartition) Key() []byte { return p.key }

// lookupPartitions turns an index lookup into one partition per range.
func lookupPartitions(lookup sql.IndexLookup) (sql.PartitionIter, error) {
	idx, ok := lookup.Index.(*storeIndex)
	if !ok {
		return nil, fmt.Errorf("sqltables: foreign index %T", lookup.Index)
	}
	coll, ok := lookup.Ranges.(sql.MySQLRangeCollection)
	if !ok {
		return nil, fmt.Errorf("sqltables: unsupported range collection %T", lookup.Ranges)
	}
	parts := make([]sql.Partition, 0, len(coll))
	for i, r := range coll {
		parts = append(parts, &lookupPartition{key: []byte(fmt.Sprintf("%s/%d", idx.id, i)), idx: idx, rng: r, reverse: lookup.IsReverse})
	}
	return sql.PartitionsToPartitionIter(parts...), nil
}

var fullScan = &lookupPartition{key: []byte("all")}

// sliceIter is a RowIter over materialized rows.
type sliceIter struct {
	rows []sql.Row
	i    int
}

func (s *sliceIter) Next(*sql.Context) (sql.Row, error) {
	if s.i >= len(s.rows) {
		return nil, ioEOF
	}
	s.i++
	return s.rows[s.i-1], nil
}

func (s *sliceIter) Close(*sql.Context) error { return nil }

// projectIter keeps the columns cols of full-width rows.
type projectIter struct {
	it   sql.RowIter
	cols []int
}

func (p *projectIter) Next(ctx *sql.Context) (sql.Row, error) {
	r, err := p.it.Next(ctx)
	if err != nil {
		return nil, err
	}
	out := make(sql.Row, len(p.cols))
	for i, c := range p.cols {
		out[i] = r[c]
	}
	return out, nil
}

func (p *projectIter) Close(ctx *sql.Context) error { return p.it.Close(ctx) }
