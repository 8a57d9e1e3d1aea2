package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

// ErrRefused is wrapped by the error of a correction that fails a check.
var ErrRefused = errors.New("correction refused")

// ErrNoMessage is returned by Correct without a commit message.
var ErrNoMessage = errors.New("SET dualgate.commit_message = '…' before correcting canonical data")

// mappingQuery returns how a mapping runs (cached): compiled when it is a
// projection of the batch columns names (compileProjection), else the SQL
// the engine runs. Pipeline.mu is held.
func (p *Pipeline) mappingQuery(m *catalog.Mapping, names []string) mappingQuery {
	if q, ok := p.queries[m]; ok {
		return q
	}
	sql, ok := attributedQuery(m.Select)
	q := mappingQuery{sql: sql, attributed: ok}
	if !p.noCompile {
		q.proj = compileProjection(m.Select, names)
	}
	if !ok {
		p.log.Warn().Str("source", m.Source).Str("entity", m.Entity).Int("version", m.Version).
			Msg("mapping is not row-wise: its rows are attributed to every raw row of the batch")
	}
	p.queries[m] = q
	return q
}

var batchCounter atomic.Uint64

// newBatchID names an ingest batch (the _batch column of raw rows).
func newBatchID() string {
	return time.Now().UTC().Format("20060102T150405.000000Z") + "-" + strconv.FormatUint(batchCounter.Add(1), 10)
}

// conformRaw converts delivered rows to the store values of the source's
// column types. A row of the wrong width or a value that does not fit its
// column fails the whole delivery (nothing is written): raw capture stores
// what arrived, so what arrived must be representable. A row whose values
// are all store values already (every row of a COPY, which CopyRows
// conformed) is used as it is: the pipeline only reads raw rows, and a 1M-row
// delivery then costs no second copy of its values. Only rows with a value
// that converts get a new row (the caller's rows are never modified).
func conformRaw(src *catalog.Source, rows [][]any) ([][]any, error) {
	out := rows // copied (so that rows is not modified) at the first row that converts
	n := len(src.Columns)
	var slab []any
	for i, r := range rows {
		if len(r) != n {
			return nil, fmt.Errorf("ingest: raw.%s row %d has %d values for %d columns", src.Name, i+1, len(r), len(src.Columns))
		}
		row := r
		for j, v := range r {
			c, err := conform(src.Columns[j].Type, v)
			if err != nil {
				return nil, fmt.Errorf("ingest: raw.%s row %d column %s (%s): %w", src.Name, i+1, src.Columns[j].Name, src.Columns[j].Type, err)
			}
			if !sameValue(c, v) && &row[0] == &r[0] {
				// The first value that converts: the row gets a copy.
				if len(slab) < n {
					slab = make([]any, n*max(1, min(1024, len(rows)-i)))
				}
				row, slab = slab[:n:n], slab[n:]
				copy(row, r)
			}
			row[j] = c
		}
		if len(r) > 0 && &row[0] != &r[0] {
			if &out[0] == &rows[0] {
				out = append(make([][]any, 0, len(rows)), rows...)
			}
			out[i] = row
		}
	}
	return out, nil
}

// sameValue reports whether conform returned v itself (the same dynamic
// type and value; conform returns its argument unchanged or a new value
// of another type or value). Values that are not comparable (a slice in
// an interface) count as different.
func sameValue(c, v any) bool {
	switch x := v.(type) {
	case nil:
		return c == nil
	case int64:
		y, ok := c.(int64)
		return ok && x == y
	case string:
		y, ok := c.(string)
		return ok && len(x) == len(y) && (len(x) == 0 || unsafe.StringData(x) == unsafe.StringData(y))
	case float64:
		y, ok := c.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case bool:
		y, ok := c.(bool)
		return ok && x == y
	}
	return false
}

// Ingest captures rows (in the source's column order) into raw.<source> and
// runs them through the pipeline, all as ONE atomic, durable store commit
// (kind ingest, committer by): the raw rows (every delivery, duplicates
// included), the quarantine records and the entity changes are one Pebble
// batch. Duplicates (by the source's dedupe_key, within the batch and
// against every earlier raw row) are captured but not mapped. The current
// mapping of every entity fed by the source runs over the other rows; each
// output row is checked (column types, NULL key, rules, transitions) and a
// raw row with any rejected output row is quarantined as a whole. When
// nothing changes no commit is made, but raw rows and quarantine records
// are still written durably. On error nothing is written.
func (p *Pipeline) Ingest(ctx context.Context, source string, rows [][]any, by string) (Report, error) {
	rep, err := p.ingest(ctx, source, rows, by)
	p.observe(rep, err, canonical.KindIngest, source, "")
	return rep, err
}

func (p *Pipeline) ingest(ctx context.Context, source string, rows [][]any, by string) (Report, error) {
	src := p.cat.Source(source)
	if src == nil {
		return Report{}, fmt.Errorf("ingest: unknown source %q", source)
	}
	rep := Report{Kind: canonical.KindIngest, Source: source, Received: len(rows)}
	if len(rows) == 0 {
		return rep, nil
	}
	norm, err := conformRaw(src, rows)
	if err != nil {
		return Report{}, err
	}
	p.mu.Lock()
	// unlock is cleared when the lock passes to extendDedupe.
	unlock := p.mu.Unlock
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	dd, err := p.dedupe(ctx, src)
	if err != nil {
		return Report{}, err
	}
	txn, err := p.store.Begin(ctx)
	if err != nil {
		return Report{}, err
	}
	defer txn.Rollback()
	batchID := newBatchID()
	if p.batchIDs != nil {
		batchID = p.batchIDs()
	}
	from, to, err := txn.AppendRaw(source, norm, batchID)
	if err != nil {
		return Report{}, err
	}
	rep.RawFrom, rep.RawTo = from, to
	now := time.Now().UTC().Truncate(time.Microsecond)
	dup := make([]bool, len(norm))
	// Dedupe keys are hashed once: rows of the batch are told apart by
	// hash (confirmed on a hit by comparing keys; a different key with the
	// same hash is then tracked exactly), and the same hash looks the key
	// up in, and later adds it to, the durable index. While the keys
	// ascend strictly (a bulk load in key order) no row can repeat an
	// earlier one, so the batch's own index is built only once a key comes
	// out of order.
	var fresh []bool // rows whose key is new: added to the index after the commit
	var hashes []uint64
	var keyed []bool
	var seen map[uint64]int
	var seenExact map[string]bool
	var kb, kb2, kprev []byte
	ascending := true
	if dd != nil {
		fresh, hashes, keyed = make([]bool, len(norm)), make([]uint64, len(norm)), make([]bool, len(norm))
	}
	// remember records the first row j of its key in the batch's index.
	remember := func(j int, k []byte) {
		if first, ok := seen[hashes[j]]; !ok {
			seen[hashes[j]] = j
		} else if first != j {
			if seenExact == nil {
				seenExact = map[string]bool{}
			}
			seenExact[string(k)] = true
		}
	}
	idx := make([]int, 0, len(norm))
	for i, r := range norm {
		if dd != nil {
			k, err := dd.appendKey(kb[:0], r)
			if err != nil {
				return Report{}, err
			}
			if k != nil {
				h := dd.hash(k)
				hashes[i], keyed[i] = h, true
				if ascending && (kprev == nil || bytes.Compare(kprev, k) < 0) {
					kb, kprev = kprev, k // k stays as the previous key
				} else {
					if ascending {
						// The first key out of order: index the rows so far.
						ascending = false
						seen = make(map[uint64]int, len(norm))
						for j := range i {
							if keyed[j] {
								kj, err := dd.appendKey(nil, norm[j])
								if err != nil {
									return Report{}, err
								}
								remember(j, kj)
							}
						}
						kb = append([]byte(nil), k...)
						k = kb
					}
					if j, ok := seen[h]; ok {
						if kb2, err = dd.appendKey(kb2[:0], norm[j]); err != nil {
							return Report{}, err
						}
						switch {
						case bytes.Equal(k, kb2), seenExact[string(k)]:
							dup[i] = true
						default:
							if seenExact == nil {
								seenExact = map[string]bool{}
							}
							seenExact[string(k)] = true
						}
					} else {
						seen[h] = i
					}
				}
				if !dup[i] {
					if _, found, err := dd.lookupHash(ctx, p.store, k, h); err != nil {
						return Report{}, err
					} else if found {
						dup[i] = true
					} else {
						fresh[i] = true
					}
				}
			}
		}
		if !dup[i] {
			idx = append(idx, i)
		}
	}
	req := canonical.CommitRequest{Committer: by, Source: source, Kind: canonical.KindIngest,
		Message: "batch " + batchID, RawFromSeq: from, RawToSeq: to}
	fused := false
	if plan := p.fusedPlan(src); plan != nil {
		if fused, err = p.fuse(ctx, txn, plan, norm, idx, req, &rep); err != nil {
			return Report{}, err
		}
		if fused {
			p.fusedRuns++
			rep.Duplicates = len(norm) - len(idx)
		}
	}
	if !fused {
		c := newChecker(p, modeIngest, len(norm))
		c.raws = make([]rawRow, len(norm))
		for i, r := range norm {
			c.raws[i] = rawRow{seq: from + uint64(i), row: r, ingestedAt: now, batch: batchID}
		}
		res, err := p.run(ctx, txn, c, src, idx, req, &rep)
		if err != nil {
			return Report{}, err
		}
		p.account(&rep, c, dup, res)
	}
	p.logReport(rep)
	switch {
	case dd == nil:
	case len(norm) < asyncDedupeRows:
		extendDedupe(dd, norm, fresh, hashes, from)
	default:
		// The batch is durable: the client need not wait while its new keys
		// go into the dedupe index (a 1M-row load spends about 0.2 s there).
		// The index is only read under p.mu, so the lock passes to the
		// goroutine, which releases it when the index is complete: the next
		// Ingest, Correct or Replay waits for it. It is pure CPU work on
		// memory it owns and ends by itself; nothing needs to stop it.
		unlock = nil
		go func() {
			defer p.mu.Unlock()
			extendDedupe(dd, norm, fresh, hashes, from)
		}()
	}
	return rep, nil
}

// asyncDedupeRows is the batch size from which the dedupe index is extended
// after Ingest returns; below it a goroutine costs more than it saves.
const asyncDedupeRows = 4096

// extendDedupe adds the keys of a committed batch's fresh rows (row i has
// raw seq from+i and key hash hashes[i]) to dd. Pipeline.mu is held.
func extendDedupe(dd *dedupeIndex, norm [][]any, fresh []bool, hashes []uint64, from uint64) {
	dd.first.reserve(len(norm))
	for i, ok := range fresh {
		if ok {
			dd.addHash(func() []byte {
				k, _ := dd.key(norm[i])
				return k
			}, hashes[i], from+uint64(i))
		}
	}
}

// run maps and checks the raw rows idx of c, stages quarantine records and
// commits.
func (p *Pipeline) run(ctx context.Context, txn *canonical.Txn, c *checker, src *catalog.Source, idx []int,
	req canonical.CommitRequest, rep *Report) (canonical.CommitResult, error) {
	c.txn = txn
	if err := c.mapSource(ctx, src, idx); err != nil {
		return canonical.CommitResult{}, err
	}
	changes, changed, err := c.resolve(ctx)
	if err != nil {
		return canonical.CommitResult{}, err
	}
	c.changed = changed
	for _, rj := range c.rejects {
		id, isNew, err := txn.Quarantine(canonical.QuarantineRecord{Source: src.Name, RawSeq: c.raws[rj.raw].seq,
			Entity: rj.entity, Rule: rj.rule, Reason: rj.reason, Payload: rj.payload})
		if err != nil {
			return canonical.CommitResult{}, err
		}
		if isNew {
			rep.QuarantineIDs = append(rep.QuarantineIDs, id)
		}
	}
	req.MappingVersion = c.mapVer
	req.Changes = changes
	rep.MappingVersion = c.mapVer
	res, err := txn.Commit(ctx, req)
	if err != nil {
		return canonical.CommitResult{}, fmt.Errorf("ingest: commit %s batch from %s: %w", req.Kind, src.Name, err)
	}
	return res, nil
}

// account fills the per-row counts of rep (see Report).
func (p *Pipeline) account(rep *Report, c *checker, dup []bool, res canonical.CommitResult) {
	for i := range c.failed {
		switch {
		case dup != nil && dup[i]:
			rep.Duplicates++
		case c.failed[i]:
			rep.Quarantined++
		case c.changed[i]:
			rep.Committed++
		default:
			rep.Unchanged++
		}
	}
	rep.Warnings = c.warnings
	if res.Created {
		rep.CommitID = res.Commit.ID
	}
}

func (p *Pipeline) logReport(rep Report) {
	ev := p.log.Info()
	if rep.Quarantined > 0 {
		ev = p.log.Warn()
	}
	ev.Uint64("commit_id", rep.CommitID).Str("source", rep.Source).Str("kind", string(rep.Kind)).
		Int("received", rep.Received).Int("committed", rep.Committed).Int("unchanged", rep.Unchanged).
		Int("duplicates", rep.Duplicates).Int("quarantined", rep.Quarantined).Int("warnings", rep.Warnings).
		Uint64("raw_from", rep.RawFrom).Uint64("raw_to", rep.RawTo).Msg(rep.Notice())
}

// Replay re-runs the CURRENT mapping versions over the stored raw rows of
// source with fromSeq <= _seq <= toSeq (toSeq 0: to the end) and commits
// only the difference with the current canonical rows (kind replay,
// committer by, raw seq range = the rows replayed). Rows that were
// duplicates when they arrived (their dedupe key was carried by a lower
// seq) are skipped again. Checks are those of Ingest, with one difference
// for transitions: a key that exists at head is not checked on its first
// replayed row (its predecessor is history), but its final replayed state
// must be reachable from its current one. Rows quarantined before that now
// pass are committed; rows failing again keep their first quarantine record.
// Replaying twice changes nothing: the second run makes no commit.
func (p *Pipeline) Replay(ctx context.Context, source string, fromSeq, toSeq uint64, by string) (Report, error) {
	rep, err := p.replay(ctx, source, fromSeq, toSeq, by)
	p.observe(rep, err, canonical.KindReplay, source, "")
	return rep, err
}

func (p *Pipeline) replay(ctx context.Context, source string, fromSeq, toSeq uint64, by string) (Report, error) {
	src := p.cat.Source(source)
	if src == nil {
		return Report{}, fmt.Errorf("ingest: replay: unknown source %q", source)
	}
	if fromSeq == 0 {
		fromSeq = 1
	}
	if toSeq != 0 && toSeq < fromSeq {
		return Report{}, fmt.Errorf("ingest: replay %s: empty seq range %d-%d", source, fromSeq, toSeq)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	dd, err := p.dedupe(ctx, src)
	if err != nil {
		return Report{}, err
	}
	txn, err := p.store.Begin(ctx)
	if err != nil {
		return Report{}, err
	}
	defer txn.Rollback()
	recs, err := p.store.ScanRaw(ctx, source, fromSeq, toSeq)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Kind: canonical.KindReplay, Source: source, Received: len(recs)}
	if len(recs) == 0 {
		return rep, nil
	}
	rep.RawFrom, rep.RawTo = recs[0].Seq, recs[len(recs)-1].Seq
	c := newChecker(p, modeReplay, len(recs))
	c.raws = make([]rawRow, len(recs))
	dup := make([]bool, len(recs))
	var idx []int
	for i, r := range recs {
		row, err := conformStored(src, r.Row)
		if err != nil {
			return Report{}, fmt.Errorf("ingest: replay %s seq %d: %w", source, r.Seq, err)
		}
		c.raws[i] = rawRow{seq: r.Seq, row: row, ingestedAt: r.IngestedAt, batch: r.Batch}
		if dd != nil {
			k, err := dd.key(row)
			if err != nil {
				return Report{}, err
			}
			if k != nil {
				first, found, err := dd.lookup(ctx, p.store, k)
				if err != nil {
					return Report{}, err
				}
				dup[i] = found && first < r.Seq
			}
		}
		if !dup[i] {
			idx = append(idx, i)
		}
	}
	res, err := p.run(ctx, txn, c, src, idx, canonical.CommitRequest{Committer: by, Source: source,
		Kind: canonical.KindReplay, Message: fmt.Sprintf("replay %s seq %d-%d", source, rep.RawFrom, rep.RawTo),
		RawFromSeq: rep.RawFrom, RawToSeq: rep.RawTo}, &rep)
	if err != nil {
		return Report{}, err
	}
	p.account(&rep, c, dup, res)
	p.logReport(rep)
	return rep, nil
}

// conformStored converts a stored raw row (written under possibly older
// source columns) to the source's current column types; columns added to
// the source since read as NULL.
func conformStored(src *catalog.Source, r []any) ([]any, error) {
	row := make([]any, len(src.Columns))
	for j, col := range src.Columns {
		if j >= len(r) {
			continue
		}
		v, err := conform(col.Type, r[j])
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", col.Name, err)
		}
		row[j] = v
	}
	return row, nil
}

// Correct applies a steward's changes to entity as one commit of kind
// correction (committer, message; message is required: ErrNoMessage).
// Upserts carry full rows in the stored column order; deletes the full row
// or the key values. Every upsert is checked like ingested rows (types,
// NULL key, rules of every severity error/critical, transitions from the
// current row); a failing correction is refused as a whole with an error
// (wrapping ErrRefused) naming the rule and key, and nothing is written.
func (p *Pipeline) Correct(ctx context.Context, entity string, changes []canonical.Change, committer, message string) (Report, error) {
	rep, err := p.correct(ctx, entity, changes, committer, message)
	p.observe(rep, err, canonical.KindCorrection, "", entity)
	return rep, err
}

func (p *Pipeline) correct(ctx context.Context, entity string, changes []canonical.Change, committer, message string) (Report, error) {
	if strings.TrimSpace(message) == "" {
		return Report{}, ErrNoMessage
	}
	if p.cat.Entity(entity) == nil {
		return Report{}, fmt.Errorf("ingest: correction: unknown entity %q", entity)
	}
	rep := Report{Kind: canonical.KindCorrection, Entity: entity, Received: len(changes)}
	if len(changes) == 0 {
		return rep, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	txn, err := p.store.Begin(ctx)
	if err != nil {
		return Report{}, err
	}
	defer txn.Rollback()
	c := newChecker(p, modeCorrection, len(changes))
	c.txn = txn
	ent, err := c.entity(entity)
	if err != nil {
		return Report{}, err
	}
	var rows []*mapped
	for i, ch := range changes {
		if ch.Table != "" && ch.Table != entity {
			return Report{}, fmt.Errorf("ingest: correction of %s has a change to %s", entity, ch.Table)
		}
		switch ch.Op {
		case canonical.OpUpsert:
			if len(ch.Row) != len(ent.names) {
				return Report{}, fmt.Errorf("ingest: correction of %s: row has %d values for %d columns", entity, len(ch.Row), len(ent.names))
			}
			rows = append(rows, c.convert(ent, []int{i}, ch.Row, false))
		case canonical.OpDelete:
			key := ch.Row
			if len(ch.Row) == len(ent.names) {
				key = ent.ts.KeyOf(ch.Row)
			}
			if len(key) != len(ent.ts.PrimaryKey) {
				return Report{}, fmt.Errorf("ingest: correction of %s: a delete needs the row or the %d key values", entity, len(ent.ts.PrimaryKey))
			}
			m := &mapped{ent: ent, raws: []int{i}, del: true, key: make([]any, len(key))}
			for j, pi := range ent.ts.PKIndexes() {
				v, err := Conform(ent.types[pi], key[j])
				if err != nil {
					return Report{}, fmt.Errorf("ingest: correction of %s: key column %s: %w", entity, ent.names[pi], err)
				}
				m.key[j] = v
			}
			m.row = m.key
			c.keyCheck(m, key)
			rows = append(rows, m)
		default:
			return Report{}, fmt.Errorf("ingest: correction of %s: bad op %d", entity, ch.Op)
		}
	}
	if err := c.evaluate(ctx, ent, rows, ""); err != nil {
		return Report{}, fmt.Errorf("ingest: correction of %s: %w", entity, err)
	}
	c.rows[entity] = rows
	out, changed, err := c.resolve(ctx)
	if err != nil {
		return Report{}, err
	}
	if len(c.rejects) > 0 {
		msgs := make([]string, len(c.rejects))
		for i, rj := range c.rejects {
			msgs[i] = fmt.Sprintf("%s %s: %s", entity, rj.keyText, rj.reason)
		}
		return Report{}, fmt.Errorf("%w: %s", ErrRefused, strings.Join(msgs, "; "))
	}
	c.changed = changed
	res, err := txn.Commit(ctx, canonical.CommitRequest{Committer: committer, Kind: canonical.KindCorrection,
		Message: message, Changes: out})
	if err != nil {
		return Report{}, fmt.Errorf("ingest: commit correction of %s: %w", entity, err)
	}
	p.account(&rep, c, nil, res)
	p.logReport(rep)
	return rep, nil
}
