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
	kid  int32 // index of the key among the entity's keys (resolve)
	del  bool
	bad  bool // rejected by a type or key check
}

type rejection struct {
	raw                  int
	entity, rule, reason string
	payload              string
	keyText              string
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
	mapVer   int64
	txn      *canonical.Txn // reads the rows at head (Txn.Current)

	// Slabs: per-row values are carved out of these, so a batch allocates
	// per thousand rows, not per row.
	valSlab []any
	intSlab []int
	mSlab   []mapped
	kbuf    []byte
}

func newChecker(p *Pipeline, m mode, n int) *checker {
	return &checker{p: p, mode: m, failed: make([]bool, n), ents: map[string]*entityInfo{},
		rows: map[string][]*mapped{}}
}

// vals returns n zeroed values from the slab.
func (c *checker) vals(n int) []any {
	if len(c.valSlab) < n {
		c.valSlab = make([]any, max(n*1024, n))
	}
	v := c.valSlab[:n:n]
	c.valSlab = c.valSlab[n:]
	return v
}

// one returns a one-element slice holding r, from the slab.
func (c *checker) one(r int) []int {
	if len(c.intSlab) == 0 {
		c.intSlab = make([]int, 4096)
	}
	v := c.intSlab[:1:1]
	c.intSlab = c.intSlab[1:]
	v[0] = r
	return v
}

// newMapped returns a zeroed mapped row from the slab.
func (c *checker) newMapped() *mapped {
	if len(c.mSlab) == 0 {
		c.mSlab = make([]mapped, 1024)
	}
	m := &c.mSlab[0]
	c.mSlab = c.mSlab[1:]
	return m
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
// and checks the key; failures reject the row. With owned, vals belongs to
// the checker (nothing else refers to it): when every value already is
// its column's store value (a mapping that copies columns of the same
// types) the row is vals itself, not a copy.
func (c *checker) convert(ent *entityInfo, raws []int, vals []any, owned bool) *mapped {
	m := c.newMapped()
	m.ent, m.raws = ent, raws
	if owned && c.stored(ent, vals) {
		m.row = vals
	} else {
		m.row = c.vals(len(vals))
	}
	var problems []string
	for i, v := range vals {
		n, err := conform(ent.types[i], v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("column %s (%s): %v", ent.names[i], ent.types[i], err))
			continue
		}
		m.row[i] = n
	}
	m.key = c.vals(len(ent.ts.PrimaryKey))
	for i, j := range ent.ts.PKIndexes() {
		m.key[i] = m.row[j]
	}
	if len(problems) > 0 {
		m.bad = true
		c.reject(m, RuleType, strings.Join(problems, "; "), c.payloadOf(m, vals))
		return m
	}
	c.keyCheck(m, vals)
	return m
}

// stored reports whether every value of vals is already the store value of
// its column (conform returns it unchanged).
func (c *checker) stored(ent *entityInfo, vals []any) bool {
	if len(vals) != len(ent.types) {
		return false
	}
	for i, v := range vals {
		n, err := conform(ent.types[i], v)
		if err != nil || !sameValue(n, v) {
			return false
		}
	}
	return true
}

func (c *checker) keyCheck(m *mapped, vals []any) {
	for i, v := range m.key {
		if v == nil {
			m.bad = true
			c.reject(m, RuleKey, fmt.Sprintf("primary key column %s is NULL", m.ent.ts.PrimaryKey[i]), c.payloadOf(m, vals))
			return
		}
	}
	k, err := canonical.AppendKey(c.kbuf[:0], m.ent.keyKinds, m.key)
	if err != nil {
		m.bad = true
		c.reject(m, RuleKey, err.Error(), c.payloadOf(m, vals))
		return
	}
	c.kbuf = k
	m.kstr = string(k)
}

// mapSource runs every current mapping of src over the raw rows idx:
// projection mappings here (compileProjection), the others through the
// engine.
func (c *checker) mapSource(ctx context.Context, src *catalog.Source, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	names := batchColumns(src)
	var rows [][]any // the batch relation, built for the first engine mapping
	var bySeq map[int64]int
	// rawOf finds the raw row of a seq: seqs of a batch are usually
	// consecutive (then by arithmetic), else through a map.
	dense := c.raws[len(c.raws)-1].seq-c.raws[0].seq == uint64(len(c.raws)-1)
	rawOf := func(s int64) (int, bool) {
		if dense {
			r := s - int64(c.raws[0].seq)
			return int(r), r >= 0 && r < int64(len(c.raws))
		}
		r, ok := bySeq[s]
		return r, ok
	}
	for _, m := range c.p.cat.MappingsFor(src.Name) {
		if int64(m.Version) > c.mapVer {
			c.mapVer = int64(m.Version)
		}
		ent, err := c.entity(m.Entity)
		if err != nil {
			return err
		}
		mq := c.p.mappingQuery(m, names)
		var outNames []string
		var out [][]any
		if mq.proj != nil {
			outNames = mq.proj.names
		} else {
			if rows == nil {
				rows, bySeq = c.batchRows(src, idx, dense)
			}
			oids := make([]uint32, 0, len(names))
			for _, col := range src.Columns {
				oids = append(oids, col.Type.OID)
			}
			oids = append(oids, oidInt8, oidTimestamptz, oidText)
			if outNames, out, err = c.p.query(ctx, mq.sql, names, oids, rows); err != nil {
				return fmt.Errorf("ingest: mapping %s -> %s (version %d): %w", src.Name, m.Entity, m.Version, err)
			}
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
		var produced []*mapped
		if mq.proj != nil {
			produced = make([]*mapped, 0, len(idx))
			nsrc := len(src.Columns)
			for _, i := range idx {
				r := &c.raws[i]
				vals := c.vals(len(pos))
				for k, p := range pos {
					switch oc := mq.proj.outCol[p]; {
					case oc < 0:
						vals[k] = mq.proj.lit[p]
					case oc < nsrc:
						vals[k] = batchValue(src.Columns[oc].Type, r.row[oc])
					case oc == nsrc:
						vals[k] = int64(r.seq)
					case oc == nsrc+1:
						vals[k] = r.ingestedAt
					default:
						vals[k] = r.batch
					}
				}
				produced = append(produced, c.convert(ent, c.one(i), vals, true))
			}
		} else {
			seqPos := -1
			if mq.attributed {
				seqPos = len(outNames) - 1
				if seqPos < 0 || !strings.EqualFold(outNames[seqPos], seqColumn) {
					return fmt.Errorf("ingest: mapping %s -> %s: lost the %s column", src.Name, m.Entity, seqColumn)
				}
			}
			produced = make([]*mapped, 0, len(out))
			for _, o := range out {
				raws := idx
				if seqPos >= 0 {
					s, err := toInt64(o[seqPos])
					r, ok := rawOf(s)
					if err != nil || !ok {
						return fmt.Errorf("ingest: mapping %s -> %s returned an unknown _seq %v", src.Name, m.Entity, o[seqPos])
					}
					raws = c.one(r)
				}
				vals := c.vals(len(pos))
				for i, p := range pos {
					vals[i] = o[p]
				}
				produced = append(produced, c.convert(ent, raws, vals, true))
			}
			if seqPos >= 0 {
				sort.SliceStable(produced, func(a, b int) bool { return produced[a].raws[0] < produced[b].raws[0] })
			}
		}
		if err := c.evaluate(ctx, ent, produced, m.DeleteWhen); err != nil {
			return fmt.Errorf("ingest: mapping %s -> %s (version %d): %w", src.Name, m.Entity, m.Version, err)
		}
		c.rows[ent.e.Name] = append(c.rows[ent.e.Name], produced...)
	}
	return nil
}

// batchColumns names the columns of the batch relation of src: its
// columns, then _seq, _ingested_at and _batch.
func batchColumns(src *catalog.Source) []string {
	names := make([]string, 0, len(src.Columns)+3)
	for _, col := range src.Columns {
		names = append(names, col.Name)
	}
	return append(names, "_seq", "_ingested_at", "_batch")
}

// batchRows builds the batch relation (engine values) of the raw rows idx
// and, unless their seqs are dense, the map from seq to raw row.
func (c *checker) batchRows(src *catalog.Source, idx []int, dense bool) ([][]any, map[int64]int) {
	n := len(src.Columns) + 3
	rows := make([][]any, len(idx))
	slab := make([]any, n*len(idx))
	var bySeq map[int64]int
	if !dense {
		bySeq = make(map[int64]int, len(idx))
	}
	for j, i := range idx {
		r := c.raws[i]
		row := slab[j*n : (j+1)*n : (j+1)*n]
		for k, col := range src.Columns {
			row[k] = engineValue(col.Type, r.row[k])
		}
		row[n-3], row[n-2], row[n-1] = int64(r.seq), r.ingestedAt, r.batch
		rows[j] = row
		if bySeq != nil {
			bySeq[int64(r.seq)] = i
		}
	}
	return rows, bySeq
}

// evaluate runs delete_when and the entity's rules over the good rows in one
// query: SELECT __dg_row, (delete_when), (rule 1), ... FROM batch.
func (c *checker) evaluate(ctx context.Context, ent *entityInfo, rows []*mapped, deleteWhen string) error {
	good := make([]*mapped, 0, len(rows))
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

// keyState is the state of one key while resolve walks the rows. It is
// kept small (one per key of the batch: a 1M-row load has 1M of them); a
// key's row at head is in the bases, and the rare further rows that
// changed it are in a side map (resolve's more).
type keyState struct {
	row    []any
	cand   *mapped // the first row that changed the key relative to its predecessor
	exists bool
	free   bool // replay: the key's first replayed row is not checked against head
	seen   bool // the key has a row in this pass
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

// loadBases numbers the keys of each entity's good rows (mapped.kid) and
// reads their rows at head, all keys of an entity in one ordered pass
// (Txn.Current, which the commit then reuses).
func (c *checker) loadBases(ctx context.Context) (map[string][]canonical.CurrentRow, error) {
	bases := make(map[string][]canonical.CurrentRow, len(c.order))
	for _, name := range c.order {
		keys := make([]string, 0, len(c.rows[name]))
		// Rows in strictly ascending key order (a bulk load by key) have
		// distinct keys: numbered in order, without a map.
		ascending := true
		for _, m := range c.rows[name] {
			if m.bad {
				continue
			}
			if n := len(keys); n > 0 && m.kstr <= keys[n-1] {
				ascending = false
				break
			}
			m.kid = int32(len(keys))
			keys = append(keys, m.kstr)
		}
		if !ascending {
			keys = keys[:0]
			ids := make(map[string]int32, len(c.rows[name]))
			for _, m := range c.rows[name] {
				if m.bad {
					continue
				}
				id, ok := ids[m.kstr]
				if !ok {
					id = int32(len(keys))
					ids[m.kstr] = id
					keys = append(keys, m.kstr)
				}
				m.kid = id
			}
		}
		cur, err := c.txn.Current(ctx, name, keys)
		if err != nil {
			return nil, fmt.Errorf("ingest: read %s at head: %w", name, err)
		}
		bases[name] = cur
	}
	return bases, nil
}

// resolve checks transitions (in row order, per key, starting from the rows
// at head) and returns the changes to commit and, per raw row, whether it
// changed anything. A row that fails a transition fails its raw rows, whose
// other mapped rows are then dropped too, so the walk repeats until no new
// failure appears (failures only grow, so this terminates).
func (c *checker) resolve(ctx context.Context) ([]canonical.Change, []bool, error) {
	bases, err := c.loadBases(ctx)
	if err != nil {
		return nil, nil, err
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
			base := bases[name]
			state := make([]keyState, len(base))
			var more map[int32][]*mapped // further candidates of a key (rare)
			addCand := func(kid int32, m *mapped) {
				if s := &state[kid]; s.cand == nil {
					s.cand = m
					return
				}
				if more == nil {
					more = map[int32][]*mapped{}
				}
				more[kid] = append(more[kid], m)
			}
			var keys []int32
			var last []*mapped // the last row of each key (replay checks it)
			if c.mode == modeReplay && tr != nil {
				last = make([]*mapped, len(base))
			}
			if cap(changes) == 0 {
				changes = make([]canonical.Change, 0, len(c.rows[name]))
			}
			for _, m := range c.rows[name] {
				if m.bad || c.anyFailed(m.raws) {
					continue
				}
				s := &state[m.kid]
				if !s.seen {
					b := base[m.kid]
					*s = keyState{exists: b.Found, row: b.Row, free: c.mode == modeReplay && b.Found, seen: true}
					keys = append(keys, m.kid)
				}
				if m.del {
					if s.exists {
						addCand(m.kid, m)
					}
					s.exists, s.row, s.free = false, nil, false
					changes = append(changes, canonical.Change{Table: name, Op: canonical.OpDelete, Row: m.key})
					if last != nil {
						last[m.kid] = nil
					}
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
					addCand(m.kid, m)
				}
				s.exists, s.row, s.free = true, m.row, false
				if last != nil {
					last[m.kid] = m
				}
				changes = append(changes, canonical.Change{Table: name, Op: canonical.OpUpsert, Row: m.row})
			}
			// A row counts as committed only if its key's net effect in this
			// commit is a change (the store makes a version only then).
			for _, k := range keys {
				s, b := &state[k], base[k]
				if s.exists != b.Found || (s.exists && !rowsEqual(s.row, b.Row)) {
					if s.cand != nil {
						c.markChanged(changed, s.cand)
					}
					for _, m := range more[k] {
						c.markChanged(changed, m)
					}
				}
			}
			if c.mode == modeReplay && tr != nil {
				for _, k := range keys {
					m, b := last[k], base[k]
					if m == nil || !b.Found {
						continue
					}
					if reason := transitionError(tr, &keyState{exists: true, row: b.Row}, ent.stateIdx, m.row[ent.stateIdx]); reason != "" {
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
