package gateway

import (
	"encoding/json"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/dualgate/dualgate/catalog"
)

// Masks follow copies of masked values. A value masked in
// canonical.<entity> for a user is also held, unmasked, in three other
// places; they are masked for that user too, by these rules:
//
//   - raw.<source>: every source column a mapping (any version) copies or
//     computes a masked entity column from (catalog.ColumnFeeds: the column
//     references of that mapping output, or the same-named column under
//     SELECT *) gets the entity column's method; fed into several masked
//     columns, the least revealing method. A mapping the catalog cannot
//     analyze masks every column of its source (fail closed). Unlike a
//     declared mask, such a derived mask does not stop the user from
//     appending to raw (ingest is INSERT-only).
//   - dualgate.quarantine: the payload (JSON object) has its keys masked
//     that are masked columns of the row's entity or masked (derived)
//     columns of its source; a payload that is not a JSON object is
//     NULL when either has masks.
//   - reconcile.exceptions: a rule whose left or right SQL reads a masked
//     column, declared or derived as above (catalog.SelectReads: qualified references by relation,
//     unqualified ones for every relation of the side, `*` for all) has
//     left_value, right_value and difference masked with the least
//     revealing method among those columns; key too when a match column
//     has the name of such a masked column. A side whose SQL cannot be
//     analyzed counts as reading every masked column (the whole value is
//     masked: provenance unclear).
//
//   - serving.<projection>: a column computed from masked canonical
//     columns (catalog.ProjectionFeeds) without a declared mask gets the
//     least revealing of their methods (projectionMasks); declared masks
//     (serving.<projection>.<column>, as the demo has) stand.

// copyMasks are one user's masks on copies.
type copyMasks struct {
	// raw: lower-case "raw.<source>" -> column -> method.
	raw map[string]map[string]string
	// quarantine: lower-case source or entity name -> payload key -> method.
	quarantine map[string]map[string]string
	// rules: reconcile rule -> how its exception values are masked.
	rules map[string]ruleMask
}

// ruleMask masks the values of a rule's exceptions.
type ruleMask struct {
	method string
	key    bool // the key too
}

// leastRevealing picks the method revealing less of two ("" = none).
func leastRevealing(a, b string) string {
	if a == "" || (b != "" && maskRank[b] < maskRank[a]) {
		return b
	}
	return a
}

// sideReads is what one side of a rule reads (catalog.SelectReads).
type sideReads struct {
	reads map[string][]string
	ok    bool
}

// lineage parses, once, the mappings feeding masked entity columns and
// the sides of every reconciliation.
func (a *Access) lineage() {
	a.feeds = map[string]map[string][]string{}
	for _, m := range a.cat.Masks() {
		if m.Schema != "canonical" {
			continue
		}
		k := strings.ToLower(m.Relation + "." + m.ColumnName)
		if _, done := a.feeds[k]; !done {
			a.feeds[k] = a.cat.ColumnFeeds(m.Relation, m.ColumnName)
		}
	}
	a.projReads = map[string]sideReads{}
	for _, pr := range a.cat.Projections() {
		feeds, ok := a.cat.ProjectionFeeds(pr.Name)
		// Per output column: reuse sideReads, keyed by output column.
		for out, reads := range feeds {
			a.projReads[strings.ToLower(pr.Name)+"."+out] = sideReads{reads, true}
		}
		if !ok {
			a.projReads[strings.ToLower(pr.Name)+".*"] = sideReads{nil, false}
		}
	}
	a.ruleReads = map[string][]sideReads{}
	for _, r := range a.cat.Reconciliations() {
		for _, side := range []string{r.Left, r.Right} {
			if side == "" {
				continue
			}
			reads, ok := catalog.SelectReads(side)
			a.ruleReads[r.Name] = append(a.ruleReads[r.Name], sideReads{reads, ok})
		}
	}
}

// projectionMasks adds to p's masks those of serving projection columns
// computed from columns p sees masked in canonical (catalog.ProjectionFeeds:
// the column references of each output, through subqueries) and not masked
// by the catalog itself: the least revealing method of the masked columns
// feeding it. A projection whose SELECT cannot be analyzed has every
// column masked with p's least revealing canonical method (fail closed).
// Declared masks on a projection column stand as they are.
func (a *Access) projectionMasks(p *principal) {
	least := ""
	for rel, cols := range p.masks {
		if strings.HasPrefix(rel, "canonical.") {
			for _, m := range cols {
				least = leastRevealing(least, m)
			}
		}
	}
	if least == "" {
		return
	}
	for _, pr := range a.cat.Projections() {
		rel := "serving." + strings.ToLower(pr.Name)
		for _, c := range pr.Columns {
			col := strings.ToLower(c.Name)
			if p.masks[rel][col] != "" {
				continue
			}
			method := ""
			if r, bad := a.projReads[strings.ToLower(pr.Name)+".*"]; bad && !r.ok {
				method = least
			}
			for src, cols := range a.projReads[strings.ToLower(pr.Name)+"."+col].reads {
				masks := p.masks[src]
				for _, fc := range cols {
					if fc == "*" {
						for _, m := range masks {
							method = leastRevealing(method, m)
						}
						continue
					}
					method = leastRevealing(method, masks[fc])
				}
			}
			if method == "" {
				continue
			}
			if p.masks[rel] == nil {
				p.masks[rel] = map[string]string{}
			}
			p.masks[rel][col] = method
		}
	}
}

// copyMasks derives p's masks on copies from its masks on relations.
func (a *Access) copyMasks(p *principal) *copyMasks {
	if len(p.masks) == 0 {
		return nil
	}
	cm := &copyMasks{raw: map[string]map[string]string{}, quarantine: map[string]map[string]string{}, rules: map[string]ruleMask{}}
	setIn := func(m map[string]map[string]string, k, col, method string) {
		if m[k] == nil {
			m[k] = map[string]string{}
		}
		m[k][col] = leastRevealing(m[k][col], method)
	}
	leastOverall := ""
	for rel, cols := range p.masks {
		schema, name, _ := strings.Cut(rel, ".")
		for col, method := range cols {
			leastOverall = leastRevealing(leastOverall, method)
			if schema != "canonical" {
				continue
			}
			setIn(cm.quarantine, name, col, method)
			for src, feeds := range a.feeds[name+"."+col] {
				src = strings.ToLower(src)
				for _, f := range feeds {
					if f == "*" {
						if s := a.cat.Source(src); s != nil {
							for _, sc := range s.Columns {
								setIn(cm.raw, "raw."+src, strings.ToLower(sc.Name), method)
								setIn(cm.quarantine, src, strings.ToLower(sc.Name), method)
							}
						}
						continue
					}
					setIn(cm.raw, "raw."+src, f, method)
					setIn(cm.quarantine, src, f, method)
				}
			}
		}
	}
	for _, r := range a.cat.Reconciliations() {
		method, maskedNames := "", map[string]bool{}
		for _, side := range a.ruleReads[r.Name] {
			if !side.ok {
				method = leastRevealing(method, leastOverall)
				continue
			}
			for rel, cols := range side.reads {
				for _, masked := range []map[string]string{p.masks[rel], cm.raw[rel]} {
					for _, c := range cols {
						for mc, m := range masked {
							if c == "*" || c == mc {
								method = leastRevealing(method, m)
								maskedNames[mc] = true
							}
						}
					}
				}
			}
		}
		if method == "" {
			continue
		}
		rm := ruleMask{method: method}
		for _, k := range r.Match {
			if maskedNames[strings.ToLower(k)] {
				rm.key = true
			}
		}
		cm.rules[r.Name] = rm
	}
	return cm
}

// rowMasker masks values of a row that depend on the row (copies).
type rowMasker func(row sql.Row, key []byte) sql.Row

// copyRowMaskers returns the row maskers of p's copies, by lower-case
// schema and relation, for the tables' schemas as the engine has them.
func (cm *copyMasks) rowMaskers() map[string]map[string]func(sql.Schema) rowMasker {
	if cm == nil {
		return nil
	}
	out := map[string]map[string]func(sql.Schema) rowMasker{}
	if len(cm.quarantine) > 0 {
		out["dualgate"] = map[string]func(sql.Schema) rowMasker{"quarantine": cm.quarantineMasker}
	}
	if len(cm.rules) > 0 {
		out["reconcile"] = map[string]func(sql.Schema) rowMasker{"exceptions": cm.exceptionMasker}
	}
	return out
}

// quarantineMasker masks quarantine payload keys (see above).
func (cm *copyMasks) quarantineMasker(sch sql.Schema) rowMasker {
	src, ent, pl := sch.IndexOfColName("source"), sch.IndexOfColName("entity"), sch.IndexOfColName("payload")
	if src < 0 || ent < 0 || pl < 0 {
		return nil
	}
	return func(row sql.Row, key []byte) sql.Row {
		if pl >= len(row) || row[pl] == nil {
			return row
		}
		name := func(i int) string { s, _ := row[i].(string); return strings.ToLower(s) }
		byKey := map[string]string{}
		for _, m := range []map[string]string{cm.quarantine[name(ent)], cm.quarantine[name(src)]} {
			for k, method := range m {
				byKey[k] = leastRevealing(byKey[k], method)
			}
		}
		if len(byKey) == 0 {
			return row
		}
		var v any
		switch x := row[pl].(type) {
		case sql.JSONWrapper:
			v, _ = x.ToInterface()
		case string:
			_ = json.Unmarshal([]byte(x), &v)
		case []byte:
			_ = json.Unmarshal(x, &v)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			row[pl] = nil
			return row
		}
		masked := make(map[string]any, len(obj))
		for k, val := range obj {
			if method, ok := byKey[strings.ToLower(k)]; ok {
				if s, isStr := val.(string); isStr {
					masked[k] = maskValue(method, s, key)
				} else {
					masked[k] = nil
				}
				continue
			}
			masked[k] = val
		}
		row[pl] = types.JSONDocument{Val: masked}
		return row
	}
}

// exceptionMasker masks the compared values of rules over masked columns.
func (cm *copyMasks) exceptionMasker(sch sql.Schema) rowMasker {
	rule := sch.IndexOfColName("rule")
	if rule < 0 {
		return nil
	}
	vals := []int{sch.IndexOfColName("left_value"), sch.IndexOfColName("right_value"), sch.IndexOfColName("difference")}
	keyIdx := sch.IndexOfColName("key")
	return func(row sql.Row, key []byte) sql.Row {
		r, _ := row[rule].(string)
		rm, ok := cm.rules[r]
		if !ok {
			return row
		}
		idx := vals
		if rm.key {
			idx = append(append([]int(nil), vals...), keyIdx)
		}
		for _, i := range idx {
			if i >= 0 && i < len(row) {
				row[i] = maskValue(rm.method, row[i], key)
			}
		}
		return row
	}
}
