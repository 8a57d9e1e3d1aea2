package sqltables

import (
	"errors"
	"fmt"
	"math"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

// ErrAppendOnly is wrapped by the error of UPDATE or DELETE on raw.<source>.
var ErrAppendOnly = errors.New("append-only relation")

const rawPage = 1024

// RawTable is raw.<source>: the source's captured rows in _seq order, with
// the source's columns followed by _seq (int8), _ingested_at (timestamptz)
// and _batch (text). Filters on _seq are pushed down (index "seq": a seq
// range of the raw log). INSERT hands each row (source columns only) to
// Writes.Raw at statement end; _seq, _ingested_at and _batch are assigned by
// the store and may not be given. UPDATE and DELETE fail (ErrAppendOnly).
type RawTable struct {
	baseTable
	e   *env
	src *catalog.Source
}

var (
	_ sql.InsertableTable = (*RawTable)(nil)
	_ sql.UpdatableTable  = (*RawTable)(nil)
	_ sql.DeletableTable  = (*RawTable)(nil)
)

func (e *env) rawTable(ctx *sql.Context, name string) (sql.Table, bool, error) {
	src := e.source(name)
	if src == nil {
		return nil, false, nil
	}
	t := &RawTable{e: e, src: src}
	t.db, t.name, t.catCol = SchemaRaw, src.Name, src.Column
	t.comment = "DERIVED (non-authoritative): captured facts of source " + src.Name + ", append-only, not the authoritative entity"
	if src.Description != "" {
		t.comment += ". " + src.Description
	}
	for _, c := range src.Columns {
		t.sch = append(t.sch, &sql.Column{Name: c.Name, Type: EngineType(c.Type), Nullable: true, Source: src.Name,
			DatabaseSource: SchemaRaw, Comment: c.Description})
	}
	t.sch = append(t.sch, commitColumns([]string{"_seq", "_ingested_at", "_batch"}, []sql.Type{tInt64, tTime, tText}, src.Name, SchemaRaw)...)
	t.addIndex("seq", []string{"_seq"}, true)
	n := len(src.Columns)
	t.rows = func(ctx *sql.Context, p *lookupPartition) (sql.RowIter, error) {
		from, to := uint64(1), uint64(math.MaxUint64)
		if p.idx != nil {
			lo, hi, empty := uintRange(p.rng[0])
			if empty {
				return &sliceIter{}, nil
			}
			if lo > from {
				from = lo
			}
			to = hi
		}
		return &rawIter{e: e, src: src.Name, sch: t.sch, n: n, next: from, to: to}, nil
	}
	return t, true, nil
}

// rawIter pages through the raw log (rawPage rows per store read).
type rawIter struct {
	e       *env
	src     string
	sch     sql.Schema
	n       int
	next    uint64
	to      uint64
	buf     []canonical.RawRecord
	i       int
	drained bool
}

func (r *rawIter) Next(ctx *sql.Context) (sql.Row, error) {
	for r.i >= len(r.buf) {
		if r.drained || r.next > r.to {
			return nil, ioEOF
		}
		hi := r.next + rawPage - 1
		if hi < r.next || hi > r.to {
			hi = r.to
		}
		recs, err := r.e.store.ScanRaw(ctx, r.src, r.next, hi)
		if err != nil {
			return nil, err
		}
		r.buf, r.i = recs, 0
		if len(recs) == 0 {
			// Seqs are gap-free: an empty page is the end.
			r.drained = true
			return nil, ioEOF
		}
		if hi == math.MaxUint64 {
			r.drained = true
		}
		r.next = hi + 1
	}
	rec := r.buf[r.i]
	r.i++
	row := make(sql.Row, len(r.sch))
	for i := 0; i < r.n && i < len(rec.Row); i++ {
		row[i] = rawValue(ctx, r.sch[i].Type, rec.Row[i])
	}
	row[r.n] = int64(rec.Seq)
	row[r.n+1] = rec.IngestedAt
	row[r.n+2] = rec.Batch
	return row, nil
}

func (r *rawIter) Close(*sql.Context) error { return nil }

// rawValue converts a captured value to the declared column type when it
// can; a value that does not convert is shown as captured (raw facts are
// never hidden).
func rawValue(ctx *sql.Context, typ sql.Type, v any) any {
	e, err := toEngine(typ, v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if c, _, err := typ.Convert(ctx, e); err == nil {
		return c
	}
	return e
}

// IndexedAccess implements sql.IndexAddressable (keeping the write
// interfaces on the indexed table, which DELETE ... WHERE _seq = n uses).
func (t *RawTable) IndexedAccess(_ *sql.Context, lookup sql.IndexLookup) sql.IndexedTable {
	if _, ok := lookup.Index.(*storeIndex); !ok {
		return nil
	}
	c := *t
	c.lookup = &lookup
	return &c
}

// Inserter implements sql.InsertableTable.
func (t *RawTable) Inserter(*sql.Context) sql.RowInserter { return &rawInserter{t: t} }

// Updater implements sql.UpdatableTable: every row fails (ErrAppendOnly).
func (t *RawTable) Updater(*sql.Context) sql.RowUpdater { return &rawRefuser{t: t} }

// Deleter implements sql.DeletableTable: every row fails (ErrAppendOnly).
func (t *RawTable) Deleter(*sql.Context) sql.RowDeleter { return &rawRefuser{t: t} }

// AppendOnlyError is the error of UPDATE or DELETE on raw.<source>.
func AppendOnlyError(source string) error {
	return fmt.Errorf("%w: raw.%s is append-only: captured facts are never changed; correct the canonical entity instead", ErrAppendOnly, source)
}

// rawInserter buffers a statement's rows and hands them to Writes.Raw at
// StatementComplete (DiscardChanges drops them).
type rawInserter struct {
	t       *RawTable
	pending [][]any
}

func (r *rawInserter) Insert(_ *sql.Context, row sql.Row) error {
	t := r.t
	if t.e.writes == nil {
		return fmt.Errorf("%w: raw.%s: ingest is not enabled", ErrReadOnly, t.name)
	}
	n := len(t.src.Columns)
	if len(row) != n+3 {
		return fmt.Errorf("raw.%s: row has %d values for %d columns", t.name, len(row), n+3)
	}
	for i, c := range []string{"_seq", "_ingested_at", "_batch"} {
		if row[n+i] != nil {
			return fmt.Errorf("%w: raw.%s: %s is assigned by dualgate and cannot be inserted; list the source columns only", ErrReadOnly, t.name, c)
		}
	}
	out := make([]any, n)
	for i, c := range t.src.Columns {
		v, err := toStore(KindOf(c.Type), fitScale(t.sch[i].Type, row[i]))
		if err != nil {
			return fmt.Errorf("raw.%s.%s: %w", t.name, c.Name, err)
		}
		out[i] = v
	}
	r.pending = append(r.pending, out)
	return nil
}

func (r *rawInserter) StatementBegin(*sql.Context) { r.pending = nil }

func (r *rawInserter) DiscardChanges(*sql.Context, error) error {
	r.pending = nil
	return nil
}

func (r *rawInserter) StatementComplete(ctx *sql.Context) error {
	p := r.pending
	r.pending = nil
	for _, row := range p {
		if err := r.t.e.writes.Raw(ctx, r.t.name, row); err != nil {
			return err
		}
	}
	return nil
}

func (r *rawInserter) Close(ctx *sql.Context) error {
	if len(r.pending) == 0 {
		return nil
	}
	return r.StatementComplete(ctx)
}

// rawRefuser fails UPDATE and DELETE on raw: on the first row, or at the
// end of the statement when no row matched, so the statement fails either
// way.
type rawRefuser struct{ t *RawTable }

func (r *rawRefuser) Update(*sql.Context, sql.Row, sql.Row) error { return AppendOnlyError(r.t.name) }
func (r *rawRefuser) Delete(*sql.Context, sql.Row) error          { return AppendOnlyError(r.t.name) }
func (r *rawRefuser) StatementBegin(*sql.Context)                 {}
func (r *rawRefuser) DiscardChanges(*sql.Context, error) error    { return nil }
func (r *rawRefuser) StatementComplete(*sql.Context) error        { return AppendOnlyError(r.t.name) }
func (r *rawRefuser) Close(*sql.Context) error                    { return nil }
