package canonical

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/shopspring/decimal"
)

// CurrentRow is the head row of one key, as Txn.Current reads it.
type CurrentRow struct {
	Found bool
	Row   []any // the row (padded to the head schema) when Found
}

// curEntry is a key read by Txn.Current, kept for Commit. It is small
// (one per key: a 1M-row load of new keys has 1M of them, all absent):
// the row, when the key has one, is apart.
type curEntry struct {
	ts  *TableSchema
	pk  string
	old *curRow // nil: no row at head
}

// curRow is the head row of a curEntry.
type curRow struct {
	commit uint64
	row    []any  // decoded and padded
	enc    []byte // row encoding under the head schema
}

// found returns the entry's head row as Current returns it.
func (e *curEntry) found() CurrentRow {
	if e.old == nil {
		return CurrentRow{}
	}
	return CurrentRow{Found: true, Row: e.old.row}
}

// Current reads the head rows of keys of table in one ordered pass over
// the table's latest rows. Each key is an encoded primary key (AppendKey
// of the normalized key values with the table's key kinds). Because the
// Txn holds the writer lock, these are exactly the rows Commit will
// compare the Txn's changes with, and Commit reuses them instead of
// reading the keys again. Rows returned must not be modified.
func (t *Txn) Current(ctx context.Context, table string, keys []string) ([]CurrentRow, error) {
	if t.done {
		return nil, ErrTxnDone
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ts, ok := t.s.cat.Load().head(table)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchTable, table)
	}
	out := make([]CurrentRow, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	order := make([]int32, len(keys))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(keys[a], keys[b]) })
	prefix := tablePrefix(pLatest, ts.ID)
	it, err := t.s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: tablePrefix(pLatest, ts.ID+1)})
	if err != nil {
		return nil, fmt.Errorf("canonical: read current rows of %s: %w", table, err)
	}
	t.cur = slices.Grow(t.cur, len(keys))
	k := append([]byte(nil), prefix...)
	positioned, valid := false, false
	var prev *curEntry
	var slab []curRow // rows of found keys are carved out of it
	for _, i := range order {
		key := keys[i]
		if prev != nil && prev.pk == key {
			out[i] = prev.found()
			continue
		}
		k = append(k[:len(prefix)], key...)
		// Keys ascend: when the iterator already rests past this key
		// (or is exhausted), the key is absent and needs no seek.
		if !positioned || (valid && bytes.Compare(it.Key(), k) < 0) {
			valid, positioned = it.SeekGE(k), true
		}
		e := curEntry{ts: ts, pk: key}
		if valid && bytes.Equal(it.Key(), k) {
			v, err := it.ValueAndErr()
			if err != nil {
				_ = it.Close()
				return nil, fmt.Errorf("canonical: read current rows of %s: %w", table, err)
			}
			if len(slab) == 0 {
				slab = make([]curRow, 256)
			}
			e.old, slab = &slab[0], slab[1:]
			if err := e.old.decode(ts, v); err != nil {
				_ = it.Close()
				return nil, err
			}
		}
		t.cur = append(t.cur, e)
		prev = &t.cur[len(t.cur)-1]
		out[i] = e.found()
	}
	if err := closeIter(it); err != nil {
		return nil, err
	}
	return out, nil
}

// decode fills e from a latest-keyspace value (commit id, row encoding)
// of table ts.
func (e *curRow) decode(ts *TableSchema, v []byte) error {
	c, n := binary.Uvarint(v)
	if n <= 0 {
		return fmt.Errorf("%w: latest value", errCorrupt)
	}
	enc := v[n:]
	row, err := decodeRow(enc)
	if err != nil {
		return err
	}
	e.commit = c
	full := len(row) == len(ts.Columns)
	e.row = ts.pad(row)
	if full {
		e.enc = append([]byte(nil), enc...)
	} else if e.enc, err = encodeRow(nil, ts.kinds, e.row); err != nil {
		return err
	}
	return nil
}

// cmpCur orders cached entries like Commit orders its keys: table id,
// then encoded primary key.
func cmpCur(a, b *curEntry) int {
	if a.ts.ID != b.ts.ID {
		if a.ts.ID < b.ts.ID {
			return -1
		}
		return 1
	}
	return strings.Compare(a.pk, b.pk)
}

// fastNormalize is Normalize for a value already in the canonical Go
// representation of kind k, which it returns as it is (no new interface
// value); any other value goes through Normalize.
func fastNormalize(k Kind, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		if k == KindInt64 {
			return v, nil
		}
	case string:
		if k == KindString || k == KindJSON {
			return v, nil
		}
	case float64:
		if k == KindFloat64 {
			return v, nil
		}
	case bool:
		if k == KindBool {
			return v, nil
		}
	case decimal.Decimal:
		if k == KindDecimal {
			return v, nil
		}
	case time.Time:
		if k == KindTime && x.Location() == time.UTC && x.Nanosecond()%1000 == 0 {
			return v, nil
		}
	}
	return Normalize(k, v)
}

// isNormal reports whether v is already the canonical Go representation
// of kind k (fastNormalize would return it as it is).
func isNormal(k Kind, v any) bool {
	switch x := v.(type) {
	case int64:
		return k == KindInt64
	case string:
		return k == KindString || k == KindJSON
	case float64:
		return k == KindFloat64
	case bool:
		return k == KindBool
	case decimal.Decimal:
		return k == KindDecimal
	case time.Time:
		return k == KindTime && x.Location() == time.UTC && x.Nanosecond()%1000 == 0
	}
	return false
}

// normalRow reports whether row is a row of t that normalizeRow would
// return unchanged (every value normalized, no NULL in a NOT NULL column),
// so a commit may use it as it is instead of a normalized copy.
func (t *TableSchema) normalRow(row []any) bool {
	if len(row) != len(t.Columns) {
		return false
	}
	for i, v := range row {
		c := &t.Columns[i]
		if v == nil {
			if !c.Nullable {
				return false
			}
			continue
		}
		if !isNormal(c.Kind, v) {
			return false
		}
	}
	return true
}

// normalizeRowInto is TableSchema.normalizeRow writing into dst (of the
// row's length) and keeping values that are already normalized.
func (t *TableSchema) normalizeRowInto(dst, row []any) ([]any, error) {
	if len(row) != len(t.Columns) {
		return nil, fmt.Errorf("%w: table %s has %d columns, row has %d", ErrBadValue, t.Name, len(t.Columns), len(row))
	}
	for i, v := range row {
		c := &t.Columns[i]
		n, err := fastNormalize(c.Kind, v)
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", t.Name, c.Name, err)
		}
		if n == nil && !c.Nullable {
			return nil, fmt.Errorf("%w: table %s column %s is not nullable", ErrBadValue, t.Name, c.Name)
		}
		dst[i] = n
	}
	return dst, nil
}
