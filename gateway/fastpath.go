package gateway

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/jackc/pgproto3/v2"

	"github.com/dualgate/dualgate/gateway/dialect"
	"github.com/dualgate/dualgate/gateway/pgtypes"
)

// KeyLookup is implemented by engine tables that answer an equality on
// their whole primary key directly (canonical tables: one store Get).
type KeyLookup interface {
	KeyColumns() []string
	LookupKey(ctx context.Context, key []any) (sql.Row, bool, error)
}

// The point-lookup fast path: a query the dialect recognized as
// `SELECT cols FROM t WHERE <whole primary key> = $n/const` on a KeyLookup
// table is answered with one key read, skipping the engine's bind, analyze
// and plan (about 70 µs even for trivial queries, more than the read
// itself). It returns the same rows, types and label as the engine path
// (a differential test compares them); anything it is not sure about
// falls back to the engine. SET dualgate.fast_path = off disables it.
func (s *session) fastLookup(p *portal, describe bool) (handled bool, err error) {
	st := &p.prep.stmt
	lk := st.Lookup
	schema := lk.Table.Schema
	if schema == "" {
		schema = s.currentSchema()
	}
	ctx, release := s.c.lookupContext(s.settings.statementTimeout())
	defer release()
	// A lookup of one serving projection is labeled from the read itself
	// (ReadFreshness): the store reads the watermark with the row, so the
	// label names the commit the row reflects and costs no round trip.
	var rf ReadFreshness
	read, rctx := "", ctx
	if len(st.Relations) == 1 && lk.Table.AsOf == "" {
		r := st.Relations[0]
		if schema == "serving" && strings.EqualFold(r.Name, lk.Table.Name) {
			if f, ok := s.c.srv.cfg.Freshness.(ReadFreshness); ok {
				rf, read = f, r.Name
				rctx = f.StampRead(ctx)
			}
		}
	}
	sctx, releaseSctx := s.eng.fastContext(rctx)
	defer releaseSctx()
	db, err := s.eng.eng.provider.Database(sctx, schema)
	if err != nil {
		return false, nil
	}
	ok := false
	var t sql.Table
	if lk.Table.AsOf == "" {
		t, ok, err = db.GetTableInsensitive(sctx, lk.Table.Name)
	} else if vdb, isVersioned := db.(sql.VersionedDatabase); isVersioned {
		t, ok, err = vdb.GetTableInsensitiveAsOf(sctx, lk.Table.Name, revValue(lk.Table.AsOf))
	}
	if err != nil || !ok || t == nil {
		return false, nil // the engine path reports unknown revisions
	}
	kl, ok := t.(KeyLookup)
	if !ok {
		return false, nil
	}
	keyCols := kl.KeyColumns()
	if len(keyCols) != len(lk.Keys) {
		return false, nil
	}
	key := slices.Grow(s.fastKey[:0], len(keyCols))[:len(keyCols)]
	defer func() { clear(key); s.fastKey = key[:0] }() // LookupKey copies what it keeps
	for i, kc := range keyCols {
		found := false
		for _, kv := range lk.Keys {
			if !strings.EqualFold(kv.Column, kc) {
				continue
			}
			if found {
				return false, nil
			}
			found = true
			key[i] = kv.Const
			if kv.Param > 0 {
				if kv.Param > len(p.values) {
					return false, nil
				}
				key[i] = p.values[kv.Param-1]
			}
		}
		if !found {
			return false, nil
		}
	}
	tsch := t.Schema()
	idx := s.fastIdx[:0]
	defer func() { s.fastIdx = idx[:0] }()
	if lk.Columns == nil {
		for i := range tsch {
			idx = append(idx, i)
		}
	} else {
		for _, c := range lk.Columns {
			j := tsch.IndexOfColName(c)
			if j < 0 {
				return false, nil
			}
			idx = append(idx, j)
		}
	}
	var l label
	var row sql.Row
	var found bool
	if rf == nil {
		l = s.labelFor(ctx, st)
		if err := s.checkStaleness(&l); err != nil {
			if isStaleFallback(err) {
				return false, nil // computed from canonical by the engine path
			}
			return true, err
		}
		if row, found, err = kl.LookupKey(sctx, key); err != nil {
			return false, nil // the engine path reports it properly
		}
	} else {
		// Read first, then label and check staleness against what was
		// read: a too-stale or unavailable projection's row is dropped
		// and the statement fails or falls back exactly as before.
		var lerr error
		row, found, lerr = kl.LookupKey(sctx, key)
		if pf, ok := rf.ProjectionRead(rctx, read); ok {
			l = s.servingLabel(ctx, p.prep, read, &pf)
		} else {
			l = s.labelFor(ctx, st)
		}
		if err := s.checkStaleness(&l); err != nil {
			if isStaleFallback(err) {
				return false, nil // computed from canonical by the engine path
			}
			return true, err
		}
		if lerr != nil {
			return false, nil // the engine path reports it properly
		}
	}
	labelCols := s.settings.get("dualgate.label_columns") == "on"
	fields := p.prep.fields
	if !p.prep.described || len(fields) != len(idx)+labelColumnCount(labelCols) {
		sub := make(sql.Schema, len(idx))
		for k, j := range idx {
			c := *tsch[j]
			if lk.Names != nil && !strings.EqualFold(lk.Names[k], c.Name) {
				c.Name, c.Source = lk.Names[k], ""
			}
			sub[k] = &c
		}
		fields = s.resultFields(&dialect.Statement{StarIndex: -1}, sub)
	}
	if describe {
		if err := s.sendFields(fields, p.formats); err != nil {
			return true, err
		}
	}
	var n uint64
	if found {
		out := s.fastOut[:0]
		for _, j := range idx {
			out = append(out, row[j])
		}
		if labelCols {
			out = append(out, l.Authority, int64(l.AsOf))
		}
		// char(n) and plain numeric columns need rowMods (rare here: no
		// allocation otherwise).
		var mods []int32
		for k, j := range idx {
			if fields[k].DataTypeOID == pgtypes.Bpchar || pgtypes.UnconstrainedNumeric(tsch[j].Type) {
				sub := make(sql.Schema, len(idx))
				for k2, j2 := range idx {
					sub[k2] = tsch[j2]
				}
				mods = rowMods(fields, sub)
				break
			}
		}
		err := s.sendRowMod(out, p.prep.fieldOIDs(fields), mods, p.formats)
		clear(out) // keep no row values alive between statements
		s.fastOut = out[:0]
		if err != nil {
			return true, err
		}
		n = 1
	}
	p.done = true
	s.c.srv.fastHits.Add(1)
	if m := s.c.srv.cfg.Metrics; m != nil {
		m.FastPathHit()
	}
	tag := "SELECT 0"
	if n == 1 {
		tag = "SELECT 1"
	}
	return true, s.complete(tag, &l)
}

// fieldOIDs returns the type OIDs of fields, kept on p while fields are
// the same slice (p.fields, built once per statement): compared by
// identity and length, so new fields always get new OIDs.
func (p *prepared) fieldOIDs(fields []pgproto3.FieldDescription) []uint32 {
	if len(fields) == 0 {
		return nil
	}
	if len(p.fastFields) != len(fields) || &p.fastFields[0] != &fields[0] {
		oids := make([]uint32, len(fields))
		for i, f := range fields {
			oids[i] = f.DataTypeOID
		}
		p.fastFields, p.fastOIDs = fields, oids
	}
	return p.fastOIDs
}

// FastPathHits counts queries answered by the point-lookup fast path.
func (s *Server) FastPathHits() uint64 { return s.fastHits.Load() }

// revValue is what the engine passes a versioned database for an AS OF
// literal: an integer commit id or the string inside the quotes.
func revValue(lit string) any {
	if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
		return n
	}
	if len(lit) >= 2 && lit[0] == '\'' && lit[len(lit)-1] == '\'' {
		return strings.ReplaceAll(lit[1:len(lit)-1], "''", "'")
	}
	return lit
}
