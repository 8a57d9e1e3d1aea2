package ingest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

// Quarantine rule names used for checks that are not catalog rules.
const (
	RuleType       = "type"       // a value does not convert to its column's type
	RuleKey        = "key"        // a primary key column is NULL
	RuleTransition = "transition" // an illegal state transition or initial state
)

type mode int

const (
	modeIngest mode = iota
	modeReplay
	modeCorrection
)

// rawRow is one raw row being processed (store values, source column order).
type rawRow struct {
	seq        uint64
	row        []any
	ingestedAt time.Time
	batch      string
}

// entityInfo is an entity with its stored schema.
type entityInfo struct {
	e        *catalog.Entity
	ts       *canonical.TableSchema
	types    []catalog.Type // per stored column
	names    []string
	keyKinds []canonical.Kind
	stateIdx int // transitions column, -1 if none
}

// mapped is one entity row produced by a mapping (or a correction).
type mapped struct {
	ent  *entityInfo
	raws []int // the raw rows (or changes) it comes from
	row  []any // store values in stored column order; key only for deletes
	key  []any
	kstr string
	del  bool
	bad  bool // rejected by a type or key check
}

type rejection struct {
	raw                  int
	entity, rule, reason string
	payload              string
	keyText              string
}

type baseRow struct {
	exists bool
	row    []any
}

// checker runs the checks of one batch and tracks, per raw row (or
// correction change), whether it failed.
type checker struct {
	p        *Pipeline
	mode     mode
	raws     []rawRow // nil for corrections
	failed   []bool
	changed  []bool
	rejects  []rejection
	warnings int
	ents     map[string]*entityInfo
	order    []string
	rows     map[string][]*mapped
	base     map[string]map[string]baseRow
	mapVer   int64
}

func newChecker(p *Pipeline, m mode, n int) *checker {
	return &checker{p: p, mode: m, failed: make([]bool, n), ents: map[string]*entityInfo{},
		rows: map[string][]*mapped{}, base: map[string]map[string]baseRow{}}
}

func (c *checker) entity(name string) (*entityInfo, error) {
	if ei := c.ents[name]; ei != nil {
		return ei, nil
	}
	e := c.p.cat.Entity(name)
	if e == nil {
		return nil, fmt.Errorf("ingest: unknown entity %q", name)
	}
	ts, err := c.p.store.Schema(name, canonical.HEAD)
	if err != nil {
		return nil, fmt.Errorf("ingest: entity %s has no canonical table (run EnsureSchema): %w", name, err)
	}
	ei := &entityInfo{e: e, ts: ts, stateIdx: -1}
	for _, col := range ts.Columns {
		cc := e.Column(col.Name)
		if cc == nil {
			return nil, fmt.Errorf("ingest: entity %s: stored column %s is not in the catalog (run EnsureSchema)", name, col.Name)
		}
		ei.types = append(ei.types, cc.Type)
		ei.names = append(ei.names, col.Name)
	}
	for _, i := range ts.PKIndexes() {
		ei.keyKinds = append(ei.keyKinds, ts.Columns[i].Kind)
	}
	if e.Transitions != nil {
		ei.stateIdx = ts.ColumnIndex(e.Transitions.Column)
	}
	c.ents[name] = ei
	c.order = append(c.order, name)
	return ei, nil
}

func keyText(key []any) string {
	parts := make([]string, len(key))
	for i, v := range key {
		parts[i] = fmt.Sprint(jsonValue(v))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// reject records a failure of m and fails its raw rows.
func (c *checker) reject(m *mapped, rule, reason, pl string) {
	for _, r := range m.raws {
		c.failed[r] = true
		c.rejects = append(c.rejects, rejection{raw: r, entity: m.ent.e.Name, rule: rule, reason: reason, payload: pl, keyText: keyText(m.key)})
	}
}

func (c *checker) payloadOf(m *mapped, vals []any) string {
	names := m.ent.names
	if m.del && len(vals) == len(m.ent.ts.PrimaryKey) {
		names = m.ent.ts.PrimaryKey
	}
	if c.raws != nil && len(m.raws) == 1 {
		return payload(names, vals, "_seq", c.raws[m.raws[0]].seq)
	}
	return payload(names, vals)
}

// convert conforms vals (stored column order) to the entity's column types
// and checks the key; failures reject the row.
func (c *checker) convert(ent *entityInfo, raws []int, vals []any) *mapped {
	m := &mapped{ent: ent, raws: raws, row: make([]any, len(vals))}
	var problems []string
	for i, v := range vals {
		n, err := Conform(ent.types[i], v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("column %s (%s): %v", ent.names[i], ent.types[i], err))
			continue
		}
		m.row[i] = n
	}
	m.key = ent.ts.KeyOf(m.row)
	if len(problems) > 0 {
		m.bad = true
		c.reject(m, RuleType, strings.Join(problems, "; "), c.payloadOf(m, vals))
		return m
	}
	c.keyCheck(m, vals)
	return m
}

func (c *checker) keyCheck(m *mapped, vals []any) {
	for i, v := range m.key {
		if v == nil {
			m.bad = true
			c.reject(m, RuleKey, fmt.Sprintf("primary key column %s is NULL", m.ent.ts.PrimaryKey[i]), c.payloadOf(m, vals))
			return
		}
	}
	k, err := canonical.AppendKey(nil, m.ent.keyKinds, m.key)
	if err != nil {
		m.bad = true
		c.reject(m, RuleKey, err.Error(), c.payloadOf(m, vals))
		return
	}
	m.kstr = string(k)
}

// mapSource runs every current mapping of src over the raw rows idx.
func (c *checker) mapSource(ctx context.Context, src *catalog.Source, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	names := make([]string, 0, len(src.Columns)+3)
	oids := make([]uint32, 0, len(src.Columns)+3)
	for _, col := range src.Columns {
		names, oids = append(names, col.Name), append(oids, col.Type.OID)
	}
	names = append(names, "_seq", "_ingested_at", "_batch")
	oids = append(oids, oidInt8, oidTimestamptz, oidText)
	rows := make([][]any, len(idx))
	bySeq := make(map[int64]int, len(idx))
	for j, i := range idx {
		r := c.raws[i]
		row := make([]any, 0, len(names))
		for k, col := range src.Columns {
			row = append(row, engineValue(col.Type, r.row[k]))
		}
		rows[j] = append(row, int64(r.seq), r.ingestedAt, r.batch)
		bySeq[int64(r.seq)] = i
	}
	for _, m := range c.p.cat.MappingsFor(src.Name) {
		if int64(m.Version) > c.mapVer {
			c.mapVer = int64(m.Version)
		}
		ent, err := c.entity(m.Entity)
		if err != nil {
			return err
		}
		mq := c.p.mappingQuery(m)
		outNames, out, err := c.p.query(ctx, mq.sql, names, oids, rows)
		if err != nil {
			return fmt.Errorf("ingest: mapping %s -> %s (version %d): %w", src.Name, m.Entity, m.Version, err)
		}
		pos := make([]int, len(ent.names))
		for i, n := range ent.names {
			pos[i] = -1
			for j, on := range outNames {
				if strings.EqualFold(on, n) {
					pos[i] = j
					break
				}
			}
			if pos[i] < 0 {
				return fmt.Errorf("ingest: mapping %s -> %s (version %d) returns no column %s", src.Name, m.Entity, m.Version, n)
			}
		}
		seqPos := -1
		if mq.attributed {
			seqPos = len(outNames) - 1
			if seqPos < 0 || !strings.EqualFold(outNames[seqPos], seqColumn) {
				return fmt.Errorf("ingest: mapping %s -> %s: lost the %s column", src.Name, m.Entity, seqColumn)
			}
		}
		produced := make([]*mapped, 0, len(out))
		for _, o := range out {
			raws := idx
			if seqPos >= 0 {
				s, err := toInt64(o[seqPos])
				r, ok := bySeq[s]
				if err != nil || !ok {
					return fmt.Errorf("ingest: mapping %s -> %s returned an unknown _seq %v", src.Name, m.Entity, o[seqPos])
				}
				raws = []int{r}
			}
			vals := make([]any, len(pos))
			for i, p := range pos {
				vals[i] = o[p]
			}
			produced = append(produced, c.convert(ent, raws, vals))
		}
		if seqPos >= 0 {
			sort.SliceStable(produced, func(a, b int) bool { return produced[a].raws[0] < produced[b].raws[0] })
		}
		if err := c.evaluate(ctx, ent, produced, m.DeleteWhen); err != nil {
			return fmt.Errorf("ingest: mapping %s -> %s (version %d): %w", src.Name, m.Entity, m.Version, err)
		}
		c.rows[ent.e.Name] = append(c.rows[ent.e.Name], produced...)
	}
	return nil
}

// evaluate runs delete_when and the entity's rules over the good rows in one
// query: SELECT __dg_row, (delete_when), (rule 1), ... FROM batch.
func (c *checker) evaluate(ctx context.Context, ent *entityInfo, rows []*mapped, deleteWhen string) error {
	var good []*mapped
	for _, m := range rows {
		if !m.bad && !m.del {
			good = append(good, m)
		}
	}
	if len(good) == 0 || (deleteWhen == "" && len(ent.e.Rules) == 0) {
		return nil
	}
	var sel strings.Builder
	sel.WriteString("SELECT __dg_row")
	if deleteWhen != "" {
		fmt.Fprintf(&sel, ", (%s) AS __dg_del", deleteWhen)
	}
	for i, r := range ent.e.Rules {
		fmt.Fprintf(&sel, ", (%s) AS __dg_r%d", r.Check, i)
	}
	sel.WriteString(" FROM batch")
	names := append(append([]string(nil), ent.names...), "__dg_row")
	oids := make([]uint32, 0, len(names))
	for _, t := range ent.types {
		oids = append(oids, t.OID)
	}
	oids = append(oids, oidInt8)
	in := make([][]any, len(good))
	for i, m := range good {
		row := make([]any, 0, len(names))
		for j, v := range m.row {
			row = append(row, engineValue(ent.types[j], v))
		}
		in[i] = append(row, int64(i))
	}
	_, out, err := c.p.query(ctx, sel.String(), names, oids, in)
	if err != nil {
		return fmt.Errorf("evaluating rules of %s: %w", ent.e.Name, err)
	}
	if len(out) != len(good) {
		return fmt.Errorf("evaluating rules of %s: %d results for %d rows", ent.e.Name, len(out), len(good))
	}
	for _, o := range out {
		i, err := toInt64(o[0])
		if err != nil || i < 0 || int(i) >= len(good) {
			return fmt.Errorf("evaluating rules of %s: bad row index %v", ent.e.Name, o[0])
		}
		m := good[i]
		col := 1
		if deleteWhen != "" {
			if d, null := truthy(o[col]); d && !null {
				m.del = true
				m.row = m.key
			}
			col++
		}
		if m.del {
			continue
		}
		var failed []string
		for ri, r := range ent.e.Rules {
			ok, null := truthy(o[col+ri])
			if ok || null {
				continue
			}
			switch r.Severity {
			case catalog.SeverityInfo, catalog.SeverityWarning:
				c.warnings++
				c.p.log.Debug().Str("entity", ent.e.Name).Str("rule", r.Name).Str("key", keyText(m.key)).Msg("rule warning")
			default:
				failed = append(failed, r.Name)
				c.reject(m, r.Name, fmt.Sprintf("rule %s failed: %s", r.Name, r.Check), c.payloadOf(m, m.row))
			}
		}
		if len(failed) > 0 {
			m.bad = true
		}
	}
	return nil
}

func (c *checker) anyFailed(raws []int) bool {
	for _, r := range raws {
		if c.failed[r] {
			return true
		}
	}
	return false
}

type keyState struct {
	exists bool
	row    []any
	free   bool // replay: the key's first replayed row is not checked against head
	base   baseRow
	cands  []*mapped // rows that changed the key relative to their predecessor
}

func stateString(v any) (string, bool) {
	if v == nil {
		return "", false
	}
	if s, ok := v.(string); ok {
		return s, true
	}
	return fmt.Sprint(v), true
}

// resolve checks transitions (in row order, per key, starting from the rows
// at head) and returns the changes to commit and, per raw row, whether it
// changed anything. A row that fails a transition fails its raw rows, whose
// other mapped rows are then dropped too, so the walk repeats until no new
// failure appears (failures only grow, so this terminates).
func (c *checker) resolve(ctx context.Context) ([]canonical.Change, []bool, error) {
	for _, name := range c.order {
		b := c.base[name]
		if b == nil {
			b = map[string]baseRow{}
			c.base[name] = b
		}
		for _, m := range c.rows[name] {
			if m.bad {
				continue
			}
			if _, ok := b[m.kstr]; ok {
				continue
			}
			row, found, err := c.p.store.Get(ctx, name, m.key, canonical.HEAD)
			if err != nil {
				return nil, nil, fmt.Errorf("ingest: read %s %s: %w", name, keyText(m.key), err)
			}
			b[m.kstr] = baseRow{exists: found, row: row}
		}
	}
	for {
		changed := make([]bool, len(c.failed))
		var changes []canonical.Change
		newFail := false
		for _, name := range c.order {
			ent := c.ents[name]
			tr := ent.e.Transitions
			if ent.stateIdx < 0 {
				tr = nil
			}
			base := c.base[name]
			state := map[string]*keyState{}
			var keys []string
			last := map[string]*mapped{}
			for _, m := range c.rows[name] {
				if m.bad || c.anyFailed(m.raws) {
					continue
				}
				s := state[m.kstr]
				if s == nil {
					b := base[m.kstr]
					s = &keyState{exists: b.exists, row: b.row, free: c.mode == modeReplay && b.exists, base: b}
					state[m.kstr] = s
					keys = append(keys, m.kstr)
				}
				if m.del {
					if s.exists {
						s.cands = append(s.cands, m)
					}
					s.exists, s.row, s.free = false, nil, false
					changes = append(changes, canonical.Change{Table: name, Op: canonical.OpDelete, Row: m.key})
					delete(last, m.kstr)
					continue
				}
				if tr != nil && !s.free {
					if reason := transitionError(tr, s, ent.stateIdx, m.row[ent.stateIdx]); reason != "" {
						c.reject(m, RuleTransition, reason, c.payloadOf(m, m.row))
						newFail = true
						continue
					}
				}
				if !s.exists || !rowsEqual(s.row, m.row) {
					s.cands = append(s.cands, m)
				}
				s.exists, s.row, s.free = true, m.row, false
				last[m.kstr] = m
				changes = append(changes, canonical.Change{Table: name, Op: canonical.OpUpsert, Row: m.row})
			}
			// A row counts as committed only if its key's net effect in this
			// commit is a change (the store makes a version only then).
			for _, k := range keys {
				s := state[k]
				if s.exists != s.base.exists || (s.exists && !rowsEqual(s.row, s.base.row)) {
					for _, m := range s.cands {
						c.markChanged(changed, m)
					}
				}
			}
			if c.mode == modeReplay && tr != nil {
				for _, k := range keys {
					m, b := last[k], base[k]
					if m == nil || !b.exists {
						continue
					}
					if reason := transitionError(tr, &keyState{exists: true, row: b.row}, ent.stateIdx, m.row[ent.stateIdx]); reason != "" {
						c.reject(m, RuleTransition, "replay would move the current row: "+reason, c.payloadOf(m, m.row))
						newFail = true
					}
				}
			}
		}
		if !newFail {
			return changes, changed, nil
		}
	}
}

func (c *checker) markChanged(changed []bool, m *mapped) {
	for _, r := range m.raws {
		changed[r] = true
	}
}

// transitionError explains why moving a key in state s to state newV (the
// value of the transitions column, at index idx of the row) is not allowed
// ("" if it is). A NULL new or old state is not checked.
func transitionError(tr *catalog.Transitions, s *keyState, idx int, newV any) string {
	to, ok := stateString(newV)
	if !ok {
		return ""
	}
	if !s.exists {
		if !tr.IsInitial(to) {
			return fmt.Sprintf("a new row must start in an initial %s (%s), not %q", tr.Column, strings.Join(tr.Initial, ", "), to)
		}
		return ""
	}
	from, ok := stateString(s.row[idx])
	if !ok || tr.Allows(from, to) {
		return ""
	}
	allowed := "none"
	if a := tr.Allowed[from]; len(a) > 0 {
		allowed = strings.Join(a, ", ")
	}
	return fmt.Sprintf("%s transition %q -> %q is not allowed (from %q: %s)", tr.Column, from, to, from, allowed)
}
