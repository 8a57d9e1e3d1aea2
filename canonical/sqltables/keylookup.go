package sqltables

import (
	"context"
	"fmt"

	"github.com/dolthub/go-mysql-server/sql"
)

// KeyColumns names the table's primary key columns in key order. With
// LookupKey it lets the gateway answer `WHERE <whole key> = ...` without
// planning a query (the point-lookup fast path).
func (t *CanonicalTable) KeyColumns() []string {
	out := make([]string, len(t.pk))
	for i, c := range t.pk {
		out[i] = t.sch[c].Name
	}
	return out
}

// LookupKey reads the row whose primary key equals key (values in key
// order, engine or plain Go values) at the table's commit: one store Get.
// The row is in the table's schema order, as the engine would return it.
func (t *CanonicalTable) LookupKey(ctx context.Context, key []any) (sql.Row, bool, error) {
	if len(key) != len(t.pk) {
		return nil, false, fmt.Errorf("%s: key has %d values, want %d", t, len(key), len(t.pk))
	}
	if t.ts == nil {
		return nil, false, nil
	}
	vals := make([]any, len(key))
	for i, v := range key {
		if v == nil {
			return nil, false, nil // NULL never equals a key
		}
		s, err := toStore(t.kinds[t.pk[i]], v)
		if err != nil {
			return nil, false, fmt.Errorf("%s.%s: %w", t, t.sch[t.pk[i]].Name, err)
		}
		vals[i] = s
	}
	storeCalls.get.Add(1)
	row, found, err := t.e.store.Get(ctx, t.entity.Name, vals, t.asOf)
	if err != nil || !found {
		return nil, false, t.wrapNil(err)
	}
	r, err := t.engineRow(row)
	return r, err == nil, err
}

func (t *CanonicalTable) wrapNil(err error) error {
	if err == nil {
		return nil
	}
	return t.wrap(err)
}
