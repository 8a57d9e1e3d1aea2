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

// curEntry is a head row read by Txn.Current, kept for Commit.
type curEntry struct {
	ts     *TableSchema
	pk     string
	exists bool
	commit uint64
	row    []any  // decoded and padded (nil when !exists)
	enc    []byte // row encoding under the head schema (nil when !exists)
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
	for _, i := range order {
		key := keys[i]
		if prev != nil && prev.pk == key {
			out[i] = CurrentRow{Found: prev.exists, Row: prev.row}
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
			if err := e.decode(v); err != nil {
				_ = it.Close()
				return nil, err
			}
		}
		t.cur = append(t.cur, e)
		prev = &t.cur[len(t.cur)-1]
		out[i] = CurrentRow{Found: e.exists, Row: e.row}
	}
	if err := closeIter(it); err != nil {
		return nil, err
	}
	return out, nil
}

// decode fills e from a latest-keyspace value (commit id, row encoding).
func (e *curEntry) decode(v []byte) error {
	c, n := binary.Uvarint(v)
	if n <= 0 {
		return fmt.Errorf("%w: latest value", errCorrupt)
	}
	enc := v[n:]
	row, err := decodeRow(enc)
	if err != nil {
		return err
	}
	e.exists, e.commit = true, c
	full := len(row) == len(e.ts.Columns)
	e.row = e.ts.pad(row)
	if full {
		e.enc = append([]byte(nil), enc...)
	} else if e.enc, err = encodeRow(nil, e.ts.kinds, e.row); err != nil {
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
