package projections

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

// restriction is the part of a projection one commit affects: pred is a
// Postgres boolean expression over the projection's output columns (alias
// _dg_p); onKey is true when every affected_by pairs with the projection
// key (then a key outside the recomputed region cannot have changed).
type restriction struct {
	preds  []string // OR-ed: each of at most restrictChunk tuples
	tuples int      // tuples over all preds
	onKey  bool
}

// restrictChunk bounds the tuples of one IN predicate. The engine's range
// analysis of a key IN list grows faster than linearly (measured on the
// bench catalog: 100 keys 3.8 ms, 500 keys 25 ms, 2,000 keys 359 ms, 8,000
// keys 3.6 s), so a commit touching many keys is recomputed as several
// restricted queries, about 40 µs a key, instead of one huge one.
const restrictChunk = 256

// restriction derives, from commit c's changes, the projection rows to
// recompute: for each affected_by entity, the values of its Columns in the
// old and the new version of every changed row, as literals of the entity
// column's type cast to the paired projection column's type. full is true
// when an affected_by "*" entity changed. A nil restriction means the
// commit does not affect the projection.
func (m *Materializer) restriction(ps *projState, changes []canonical.ChangeRecord, c uint64) (*restriction, bool, error) {
	p := ps.p
	type group struct {
		on     []string
		seen   map[string]bool
		tuples []string
	}
	var groups []*group
	byOn := map[string]*group{}
	onKey := true
	for _, ab := range p.AffectedBy {
		var pos []int
		var g *group
		for _, ch := range changes {
			if ch.Table != ab.Entity {
				continue
			}
			if ab.All {
				return nil, true, nil
			}
			if pos == nil {
				ts, err := m.canon.Schema(ab.Entity, c)
				if err != nil {
					return nil, false, err
				}
				pos = make([]int, len(ab.Columns))
				for i, col := range ab.Columns {
					pos[i] = -1
					for j, sc := range ts.Columns {
						if sc.Name == col {
							pos[i] = j
						}
					}
					if pos[i] < 0 {
						return nil, false, fmt.Errorf("affected_by %s: entity has no column %s at commit %d", ab.Entity, col, c)
					}
				}
				if !sameNames(ab.On, p.Key) {
					onKey = false
				}
				gk := strings.Join(ab.On, "\x00")
				if g = byOn[gk]; g == nil {
					g = &group{on: ab.On, seen: map[string]bool{}}
					byOn[gk] = g
					groups = append(groups, g)
				}
			}
			for _, r := range [][]any{ch.Old, ch.New} {
				if r == nil {
					continue
				}
				lits := make([]string, len(pos))
				null := false
				for i, j := range pos {
					if j >= len(r) || r[j] == nil {
						null = true // NULL equals nothing: no projection row is keyed by it
						break
					}
					var et catalog.Type
					if e := m.cat.Entity(ab.Entity); e != nil {
						if col := e.Column(ab.Columns[i]); col != nil {
							et = col.Type
						}
					}
					var pt catalog.Type
					if col := p.Column(ab.On[i]); col != nil {
						pt = col.Type
					}
					lit, err := literal(r[j], et)
					if err != nil {
						return nil, false, err
					}
					if pt.Name != "" && pt.String() != et.String() {
						lit = "CAST(" + lit + " AS " + pt.String() + ")"
					}
					lits[i] = lit
				}
				if null {
					continue
				}
				t := tuple(lits)
				if !g.seen[t] {
					g.seen[t] = true
					g.tuples = append(g.tuples, t)
				}
			}
		}
	}
	r := &restriction{onKey: onKey}
	for _, g := range groups {
		cols := make([]string, len(g.on))
		for i, o := range g.on {
			cols[i] = "_dg_p." + quoteIdent(o)
		}
		for i := 0; i < len(g.tuples); i += restrictChunk {
			part := g.tuples[i:min(i+restrictChunk, len(g.tuples))]
			r.preds = append(r.preds, tuple(cols)+" IN ("+strings.Join(part, ", ")+")")
			r.tuples += len(part)
		}
	}
	if len(r.preds) == 0 {
		return nil, false, nil
	}
	return r, false, nil
}

// keyPredicate restricts the projection to the given keys (projection
// values, normalized).
func keyPredicate(p *catalog.Projection, keys [][]any) (string, error) {
	cols := make([]string, len(p.Key))
	types := make([]catalog.Type, len(p.Key))
	for i, k := range p.Key {
		cols[i] = "_dg_p." + quoteIdent(k)
		if c := p.Column(k); c != nil {
			types[i] = c.Type
		}
	}
	tuples := make([]string, 0, len(keys))
	for _, key := range keys {
		lits := make([]string, len(key))
		for i, v := range key {
			l, err := literal(v, types[i])
			if err != nil {
				return "", err
			}
			lits[i] = l
		}
		tuples = append(tuples, tuple(lits))
	}
	return tuple(cols) + " IN (" + strings.Join(tuples, ", ") + ")", nil
}

// restrictedSQL wraps a projection SELECT so only rows matching pred (over
// its output columns, alias _dg_p) are computed.
func restrictedSQL(sel, pred string) string {
	sel = strings.TrimRight(sel, " \t\r\n;")
	return "SELECT * FROM (" + sel + ") AS _dg_p WHERE " + pred
}

func tuple(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return "(" + strings.Join(items, ", ") + ")"
}

func sameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// literal renders a value as a Postgres literal of type t (t.Name "" means
// unknown: the Go type decides).
func literal(v any, t catalog.Type) (string, error) {
	v, err := Normalize(v)
	if err != nil {
		return "", err
	}
	if v == nil {
		return "NULL", nil
	}
	switch t.Name {
	case "":
	case "text", "varchar", "char":
		return quoteString(textOf(v, t)), nil
	case "smallint", "integer", "bigint":
		if i, ok := v.(int64); ok {
			return strconv.FormatInt(i, 10), nil
		}
	case "boolean":
		switch x := v.(type) {
		case bool:
			return strings.ToUpper(strconv.FormatBool(x)), nil
		case int64:
			return strings.ToUpper(strconv.FormatBool(x != 0)), nil
		}
	}
	if t.Name != "" {
		return "CAST(" + quoteString(textOf(v, t)) + " AS " + t.String() + ")", nil
	}
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return "CAST(" + quoteString(strconv.FormatFloat(x, 'g', -1, 64)) + " AS double precision)", nil
	case decimal.Decimal:
		return "CAST(" + quoteString(x.String()) + " AS numeric)", nil
	case string:
		return quoteString(x), nil
	case bool:
		return strings.ToUpper(strconv.FormatBool(x)), nil
	case time.Time:
		return "CAST(" + quoteString(x.Format("2006-01-02 15:04:05.999999")+"+00") + " AS timestamptz)", nil
	case []byte:
		return "CAST(" + quoteString(`\x`+hex.EncodeToString(x)) + " AS bytea)", nil
	}
	return "", fmt.Errorf("%w: no literal for %T", ErrBadValue, v)
}

// textOf is a value's text form for a literal of type t.
func textOf(v any, t catalog.Type) string {
	switch x := v.(type) {
	case string:
		return x
	case time.Time:
		switch t.Name {
		case "date":
			return x.Format("2006-01-02")
		case "timestamp":
			return x.Format("2006-01-02 15:04:05.999999")
		case "time":
			return x.Format("15:04:05.999999")
		}
		return x.Format("2006-01-02 15:04:05.999999") + "+00"
	case []byte:
		return `\x` + hex.EncodeToString(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case decimal.Decimal:
		return x.String()
	}
	return fmt.Sprint(v)
}
