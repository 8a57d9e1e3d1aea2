package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/rs/zerolog"
)

// Column masking: where masks are applied, and the rule for filters and
// aggregates.
//
// A masked column is masked where it is read, not where it is printed: for
// a session with masks, the engine resolves a masked relation to a wrapper
// whose rows already carry the masked values (provider.Database ->
// maskedDB -> maskedTable). Everything computed from the relation -- select
// lists, expressions, joins, views, subqueries, WHERE, GROUP BY, ORDER BY,
// aggregates, COPY TO, history.* and diff.* (masks on canonical.<entity>
// apply to them too), the point-lookup fast path -- therefore only ever
// sees masked values, and no expression can get the clear value back out.
// The rule for filters and aggregates follows: they run over the masked
// value. WHERE customer_email = 'ann@example.com' matches nothing for a
// session that sees the hash; WHERE customer_email = <the hash> matches,
// and GROUP BY / count(DISTINCT) / joins on a `hash` column work, since the
// hash is deterministic (that is what `hash` is for: joinable, not
// readable).
//
// Masked relations lose their index access for such sessions (a lookup by
// the clear value of an indexed masked column would be an existence
// oracle); they are scanned instead. The fast path still answers key
// lookups when no key column is masked. Sessions without masks get the
// engine's tables unwrapped, at no cost. A masked relation cannot be
// written by the session (access.go): a write could store masked values.
//
// Copies of masked values (raw.<source> fields the mappings read,
// quarantine payload keys, reconcile exception values) are masked by the
// same wrapper, with masks derived from the catalog's lineage
// (access_copies.go): per-column for raw, per-row maskers (rowMasker) for
// the quarantine and the exceptions.
//
// Methods: hash = HMAC-SHA-256 of the value under the server's mask key,
// 32 hex digits; redact = '***'; last4 = '*' for all but the last four
// characters (all '*' for four or fewer); null = NULL. Masks apply to text
// values; a masked non-text value is NULL whatever the method.

// sessionMasks are one session's masks by lower-case schema, relation and
// column.
type sessionMasks struct {
	bySchema map[string]map[string]map[string]string
	key      []byte
	// filters: lower-case schema -> relation -> compiled row filter.
	filters map[string]map[string]sql.Expression
	// rowMaskers: lower-case schema -> relation -> masker of copies
	// (access_copies.go), made for the table's schema.
	rowMaskers map[string]map[string]func(sql.Schema) rowMasker
}

// setMasks registers (or, with nil or no masks, filters and masks on
// copies, forgets) the masks and row filters of the engine session id;
// log hears of filters that do not compile.
func (e *Engine) setMasks(id uint32, p *principal, log zerolog.Logger) {
	filters := p.rowFilters()
	if p == nil || (len(p.masks) == 0 && len(filters) == 0 && p.copies == nil) {
		e.provider.masks.Delete(id)
		return
	}
	sm := &sessionMasks{bySchema: map[string]map[string]map[string]string{}, key: p.hashKey,
		filters: map[string]map[string]sql.Expression{}, rowMaskers: p.copies.rowMaskers()}
	for rel, cols := range p.masks {
		schema, name, _ := strings.Cut(rel, ".")
		if sm.bySchema[schema] == nil {
			sm.bySchema[schema] = map[string]map[string]string{}
		}
		sm.bySchema[schema][name] = cols
	}
	if p.copies != nil {
		// Masks on raw columns that feed masked entity columns; a declared
		// mask on the same column keeps the least revealing method.
		for rel, cols := range p.copies.raw {
			schema, name, _ := strings.Cut(rel, ".")
			if sm.bySchema[schema] == nil {
				sm.bySchema[schema] = map[string]map[string]string{}
			}
			merged := map[string]string{}
			for c, m := range sm.bySchema[schema][name] {
				merged[c] = m
			}
			for c, m := range cols {
				merged[c] = leastRevealing(merged[c], m)
			}
			sm.bySchema[schema][name] = merged
		}
	}
	for rel, where := range filters {
		schema, name, _ := strings.Cut(rel, ".")
		f, err := e.compileRowFilter(schema, name, where)
		if err != nil {
			log.Error().Err(err).Str("relation", rel).Str("user", p.user).Msg("row filter does not compile; the relation shows no rows")
			f = rowFilterDenied
		}
		if sm.bySchema[schema] == nil {
			sm.bySchema[schema] = map[string]map[string]string{}
		}
		if sm.bySchema[schema][name] == nil {
			sm.bySchema[schema][name] = map[string]string{}
		}
		if sm.filters[schema] == nil {
			sm.filters[schema] = map[string]sql.Expression{}
		}
		sm.filters[schema][name] = f
	}
	e.provider.masks.Store(id, sm)
}

// masked returns db as the session of ctx may see it.
func (p *provider) masked(ctx *sql.Context, db sql.Database) sql.Database {
	if ctx == nil || ctx.Session == nil {
		return db
	}
	v, ok := p.masks.Load(ctx.Session.ID())
	if !ok {
		return db
	}
	sm := v.(*sessionMasks)
	schema := strings.ToLower(db.Name())
	tables := sm.bySchema[schema]
	if tables == nil && sm.rowMaskers[schema] == nil {
		return db
	}
	m := &maskedDB{Database: db, tables: tables, key: sm.key, filters: sm.filters[schema], rowMaskers: sm.rowMaskers[schema]}
	if vdb, ok := db.(sql.VersionedDatabase); ok {
		return &maskedVersionedDB{maskedDB: m, v: vdb}
	}
	return m
}

// maskedDB hands out masked tables. It exposes only sql.Database (and
// VersionedDatabase below): nothing written through it.
type maskedDB struct {
	sql.Database
	tables     map[string]map[string]string
	key        []byte
	filters    map[string]sql.Expression
	rowMaskers map[string]func(sql.Schema) rowMasker
}

// GetTableInsensitive implements sql.Database.
func (d *maskedDB) GetTableInsensitive(ctx *sql.Context, name string) (sql.Table, bool, error) {
	t, ok, err := d.Database.GetTableInsensitive(ctx, name)
	if err != nil || !ok || t == nil {
		return t, ok, err
	}
	return d.wrap(t), true, nil
}

func (d *maskedDB) wrap(t sql.Table) sql.Table {
	name := strings.ToLower(t.Name())
	cols, ok := d.tables[name]
	rm := d.rowMaskers[name]
	if !ok && rm == nil {
		return t
	}
	mt := &maskedTable{Table: t, key: d.key, filter: d.filters[name]}
	if rm != nil {
		mt.rowMask = rm(t.Schema())
	}
	for i, c := range t.Schema() {
		if m, ok := cols[strings.ToLower(c.Name)]; ok {
			mt.idx = append(mt.idx, i)
			mt.methods = append(mt.methods, m)
		}
	}
	if len(mt.idx) == 0 && mt.filter == nil && mt.rowMask == nil {
		return t
	}
	if kl, ok := t.(KeyLookup); ok {
		for _, k := range kl.KeyColumns() {
			if _, masked := cols[strings.ToLower(k)]; masked {
				return mt
			}
		}
		return &maskedLookupTable{maskedTable: mt, kl: kl}
	}
	return mt
}

// maskedVersionedDB is a maskedDB over a database with AS OF.
type maskedVersionedDB struct {
	*maskedDB
	v sql.VersionedDatabase
}

// GetTableInsensitiveAsOf implements sql.VersionedDatabase.
func (d *maskedVersionedDB) GetTableInsensitiveAsOf(ctx *sql.Context, name string, asOf any) (sql.Table, bool, error) {
	t, ok, err := d.v.GetTableInsensitiveAsOf(ctx, name, asOf)
	if err != nil || !ok || t == nil {
		return t, ok, err
	}
	return d.wrap(t), true, nil
}

// GetTableNamesAsOf implements sql.VersionedDatabase.
func (d *maskedVersionedDB) GetTableNamesAsOf(ctx *sql.Context, asOf any) ([]string, error) {
	return d.v.GetTableNamesAsOf(ctx, asOf)
}

// maskedTable is a table whose rows come out masked. Embedding only
// sql.Table hides the inner table's index, projection and write
// interfaces, so the engine can only scan it.
type maskedTable struct {
	sql.Table
	idx     []int
	methods []string
	key     []byte
	filter  sql.Expression // row filter (rowfilter.go), nil if none
	rowMask rowMasker      // masks of copies (access_copies.go), nil if none
}

// PartitionRows implements sql.Table.
func (t *maskedTable) PartitionRows(ctx *sql.Context, part sql.Partition) (sql.RowIter, error) {
	it, err := t.Table.PartitionRows(ctx, part)
	if err != nil {
		return nil, err
	}
	return &maskedIter{inner: it, t: t}, nil
}

func (t *maskedTable) mask(row sql.Row) sql.Row {
	out := make(sql.Row, len(row))
	copy(out, row)
	for k, i := range t.idx {
		if i < len(out) {
			out[i] = maskValue(t.methods[k], out[i], t.key)
		}
	}
	if t.rowMask != nil {
		out = t.rowMask(out, t.key)
	}
	return out
}

type maskedIter struct {
	inner sql.RowIter
	t     *maskedTable
}

func (it *maskedIter) Next(ctx *sql.Context) (sql.Row, error) {
	for {
		row, err := it.inner.Next(ctx)
		if err != nil {
			return nil, err
		}
		ok, err := passes(ctx, it.t.filter, row)
		if err != nil {
			return nil, err
		}
		if ok {
			return it.t.mask(row), nil
		}
	}
}

func (it *maskedIter) Close(ctx *sql.Context) error { return it.inner.Close(ctx) }

// maskedLookupTable keeps the fast path's key lookup when no key column
// is masked.
type maskedLookupTable struct {
	*maskedTable
	kl KeyLookup
}

// KeyColumns implements KeyLookup.
func (t *maskedLookupTable) KeyColumns() []string { return t.kl.KeyColumns() }

// LookupKey implements KeyLookup: the row comes out masked.
func (t *maskedLookupTable) LookupKey(ctx context.Context, key []any) (sql.Row, bool, error) {
	row, ok, err := t.kl.LookupKey(ctx, key)
	if err != nil || !ok {
		return row, ok, err
	}
	if t.filter != nil {
		sctx, isSQL := ctx.(*sql.Context)
		if !isSQL {
			return nil, false, fmt.Errorf("row filter needs an engine context")
		}
		if pass, err := passes(sctx, t.filter, row); err != nil || !pass {
			return nil, false, err
		}
	}
	return t.mask(row), true, nil
}

// maskValue applies a masking method to one value.
func maskValue(method string, v any, key []byte) any {
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		return nil
	}
	switch method {
	case "redact":
		return "***"
	case "hash":
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return hex.EncodeToString(h.Sum(nil))[:32]
	case "last4":
		r := []rune(s)
		if len(r) <= 4 {
			return strings.Repeat("*", len(r))
		}
		return strings.Repeat("*", len(r)-4) + string(r[len(r)-4:])
	}
	return nil
}
