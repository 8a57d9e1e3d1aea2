package reconcile

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/projections"
)

// Canonical bucket summaries.
//
// The serving stores keep each projection's per-bucket counts and checksums
// as commits apply; this file keeps the same figures for the canonical side
// of every bucketable rule whose left side is a plain column list of an
// entity, so a run with no differences reads 2 x 256 (count, checksum)
// pairs and no rows. A summary is the bucket sums of one entity's rows,
// projected to the projection's columns (in its column order) and hashed
// exactly as the store hashes its entries (rowHasher), at one canonical
// commit. It is a pure function of (canonical state at that commit, the
// spec), so it is keyed by the spec's content: a rule or projection whose
// columns change gets a new spec (and a fresh summary) by itself, and a
// rule edit that leaves the columns alone keeps a summary that is still
// right. The entity's schema version at the summary's commit is part of
// the summary: a schema commit between it and the pairing commit makes it
// be rebuilt by streaming.
//
// A run (or the warmer, see warmSummaries) moves a summary from its commit
// C to the pairing commit W (the serving watermark) by reading only the
// entity's net changes between them (canonical.Store.Diff, Net: one entry
// per key whose row differs between the two commits): for each, the entry
// hash of the row at C is subtracted from its bucket and that of the row
// at W added. W may be behind C (the warmer moved it to a watermark that a
// rebuild later reset, or the run pairs with a projection that lags):
// then the same net diff is read from W to C and applied the other way.
// Summaries are persisted in the ledger (best effort, unsynced; a moved
// one at most every summaryPersistEvery, and at Close). An older one
// found after a crash is moved from its commit, a lost one rebuilt by
// streaming: never a wrong answer, since a persisted summary carries its
// commit's hash and is used only if canonical's commit of that id has the
// same hash.

// summaryFormat versions the persisted summary encoding and the hashing it
// records (projections.EntryHash over EncodeRow/AppendKey of Normalize'd
// values): a change to any of them must bump it, so summaries written by
// an older binary are rebuilt, not trusted.
const summaryFormat = 1

// streamCostRatio is how many streamed rows cost as much as one changed
// key moved through a net diff: a streamed row is one sequential decode
// and one hash; a changed key is its change-log entries, a map insert and
// sort, two versioned seeks, two decodes and encodes (Diff compares the
// rows) and two hashes. BenchmarkSummaryStream and BenchmarkSummaryMove
// measured about 1.0-1.2 us of CPU per streamed row and 6-8 us per moved
// key on the 2-core sandbox (shared; process CPU time, not wall time):
// 8 leans to the stream on a borderline case, whose cost does not depend
// on how the versions are laid out.
const streamCostRatio = 8

// summarySpec is what a canonical summary sums: entity table's columns
// names (in projection column order), keyed by the columns at keyIdx.
type summarySpec struct {
	table  string
	names  []string
	keyIdx []int
}

// id is the spec's content as a ledger key suffix.
func (s summarySpec) id() string {
	var b strings.Builder
	b.WriteString(s.table)
	b.WriteByte(0)
	b.WriteString(strings.Join(s.names, "\x01"))
	b.WriteByte(0)
	for i, k := range s.keyIdx {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(k))
	}
	return b.String()
}

// schemaStamp identifies a version of a table's schema.
type schemaStamp struct {
	table uint32
	since uint64
}

func stampOf(ts *canonical.TableSchema) schemaStamp {
	return schemaStamp{table: ts.ID, since: ts.SinceCommit}
}

// canonSummary is the canonical side's bucket sums of one spec at commit.
type canonSummary struct {
	spec summarySpec
	id   string

	mu     sync.Mutex // held while the summary is read or moved
	valid  bool
	commit uint64
	hash   canonical.Hash // commit's hash
	schema schemaStamp    // the entity's schema at commit
	sums   []projections.Bucket
	dirty  bool      // moved since last persisted
	saved  time.Time // when last persisted
}

// summaryRead says what bringing a summary to a commit read.
type summaryRead struct {
	rows int    // entity rows read (streamed, or changed rows at both ends)
	keys int    // changed keys (moved)
	how  string // "warm", "moved" or "streamed"
	from uint64 // the summary's commit before (moved)
}

func (r summaryRead) String() string {
	switch r.how {
	case "warm":
		return "canonical side from its bucket summary"
	case "moved":
		return fmt.Sprintf("canonical side from its bucket summary, moved from commit %d over %d changed rows", r.from, r.rows)
	}
	return fmt.Sprintf("canonical side streamed (%d rows) to rebuild its bucket summary", r.rows)
}

// summary returns the summary of spec, loading a persisted one the first
// time.
func (e *Engine) summary(spec summarySpec) *canonSummary {
	id := spec.id()
	e.sumMu.Lock()
	defer e.sumMu.Unlock()
	if s := e.summaries[id]; s != nil {
		return s
	}
	s := &canonSummary{spec: spec, id: id}
	if b, ok := e.ledger.summary(id); ok {
		s.decode(b)
	}
	e.summaries[id] = s
	return s
}

// encode is the persisted form: format, commit, hash, schema stamp, then
// per bucket count and checksum, fixed-width big-endian.
func (s *canonSummary) encode() []byte {
	b := make([]byte, 0, 1+8+32+4+8+len(s.sums)*16)
	b = append(b, summaryFormat)
	b = binary.BigEndian.AppendUint64(b, s.commit)
	b = append(b, s.hash[:]...)
	b = binary.BigEndian.AppendUint32(b, s.schema.table)
	b = binary.BigEndian.AppendUint64(b, s.schema.since)
	for _, x := range s.sums {
		b = binary.BigEndian.AppendUint64(b, uint64(x.Count))
		b = binary.BigEndian.AppendUint64(b, x.Sum)
	}
	return b
}

// decode loads a persisted summary; one of another format or size leaves
// s invalid (it is rebuilt).
func (s *canonSummary) decode(b []byte) {
	const head = 1 + 8 + 32 + 4 + 8
	if len(b) != head+projections.NumBuckets*16 || b[0] != summaryFormat {
		return
	}
	s.commit = binary.BigEndian.Uint64(b[1:])
	copy(s.hash[:], b[9:41])
	s.schema = schemaStamp{binary.BigEndian.Uint32(b[41:]), binary.BigEndian.Uint64(b[45:])}
	s.sums = make([]projections.Bucket, projections.NumBuckets)
	for i := range s.sums {
		o := head + i*16
		s.sums[i] = projections.Bucket{Count: int64(binary.BigEndian.Uint64(b[o:])), Sum: binary.BigEndian.Uint64(b[o+8:])}
	}
	s.valid = true
}

// summaryAt returns the canonical bucket sums of spec at commit w (a copy),
// moving or rebuilding the summary as needed. ok is false when the entity
// or one of the columns cannot be read directly at w (the caller runs the
// side on the engine).
func (e *Engine) summaryAt(ctx context.Context, spec summarySpec, w uint64) (sums []projections.Bucket, rd summaryRead, ok bool, err error) {
	s := e.summary(spec)
	s.mu.Lock()
	defer s.mu.Unlock()
	if rd, ok, err = e.moveSummary(ctx, s, w); err != nil || !ok {
		return nil, rd, ok, err
	}
	return slices.Clone(s.sums), rd, true, nil
}

// moveSummary brings s to commit w (s.mu held): nothing when it is there,
// by the net changes between its commit and w when that is cheaper than
// streaming (see incremental), else by streaming the entity at w.
func (e *Engine) moveSummary(ctx context.Context, s *canonSummary, w uint64) (summaryRead, bool, error) {
	ts, err := e.canon.Schema(s.spec.table, w)
	if err != nil {
		return summaryRead{}, false, nil
	}
	for _, n := range s.spec.names {
		if ts.ColumnIndex(n) < 0 {
			return summaryRead{}, false, nil
		}
	}
	if s.valid && s.commit != 0 {
		// A summary is of this store only if its commit still has the
		// hash it was made at (a persisted one may come from a store that
		// was since replaced).
		ci, err := e.canon.CommitByID(ctx, s.commit)
		if err != nil || ci.Hash != s.hash {
			s.valid = false
		}
	}
	if s.valid && s.commit == w && s.schema == stampOf(ts) {
		return summaryRead{how: "warm"}, true, nil
	}
	if s.valid && s.schema == stampOf(ts) {
		rd, ok, err := e.incremental(ctx, s, w)
		if err != nil {
			return rd, true, err
		}
		if ok {
			return rd, true, e.keep(ctx, s, w, ts, false)
		}
	}
	_, _, sums, n, ok, err := e.canonicalBuckets(ctx, s.spec.table, s.spec.names, s.spec.keyIdx, w, nil)
	if err != nil || !ok {
		return summaryRead{}, ok, err
	}
	s.sums = sums
	return summaryRead{rows: n, how: "streamed"}, true, e.keep(ctx, s, w, ts, true)
}

// summaryPersistEvery bounds how often a moved summary is written to the
// ledger: the warmer may move it every second, and a summary a few
// commits old is moved cheaply after a crash. A streamed one (costly to
// redo) is written at once, and Close writes the rest.
const summaryPersistEvery = 10 * time.Second

// keep records that s now holds the sums at commit w and persists it
// (always when streamed, else at most every summaryPersistEvery).
func (e *Engine) keep(ctx context.Context, s *canonSummary, w uint64, ts *canonical.TableSchema, streamed bool) error {
	ci, err := e.canon.CommitByID(ctx, w)
	if err != nil {
		s.valid = false
		return fmt.Errorf("canonical bucket summary: commit %d: %w", w, err)
	}
	s.valid, s.commit, s.hash, s.schema, s.dirty = true, w, ci.Hash, stampOf(ts), true
	if streamed || time.Since(s.saved) >= summaryPersistEvery {
		e.persist(s)
	}
	return nil
}

// persist writes s to the ledger (s.mu held).
func (e *Engine) persist(s *canonSummary) {
	if err := e.ledger.putSummary(s.id, s.encode()); err != nil {
		// Only the restart's head start is lost.
		e.log.Warn().Err(err).Str("entity", s.spec.table).Msg("canonical bucket summary not persisted")
		return
	}
	s.dirty, s.saved = false, time.Now()
}

// persistSummaries writes every summary moved since it was last written
// (at Close, before the caller closes the ledger).
func (e *Engine) persistSummaries() {
	e.sumMu.Lock()
	defer e.sumMu.Unlock()
	for _, s := range e.summaries {
		s.mu.Lock()
		if s.valid && s.dirty {
			e.persist(s)
		}
		s.mu.Unlock()
	}
}

// replaceSummary makes sums (streamed at commit w by a descent) the
// summary of spec. A summary that was at w and disagrees with the stream
// is a bug in its maintenance: logged, and the stream wins.
func (e *Engine) replaceSummary(ctx context.Context, spec summarySpec, w uint64, sums []projections.Bucket) error {
	ts, err := e.canon.Schema(spec.table, w)
	if err != nil {
		return nil
	}
	s := e.summary(spec)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.valid && s.commit == w && s.schema == stampOf(ts) {
		if slices.Equal(s.sums, sums) {
			return nil
		}
		e.log.Error().Str("entity", spec.table).Uint64("commit_id", w).
			Msg("canonical bucket summary disagreed with a full scan; replaced")
	}
	s.sums = slices.Clone(sums)
	return e.keep(ctx, s, w, ts, true)
}

// incremental moves s (valid, same schema as at w) to w by the entity's net
// changes between s.commit and w, when that is cheaper than streaming:
// ok is false (nothing read) when it is not. The decision uses the commit
// log only: the rows added, modified and removed by the commits between
// the two that touched the entity (an upper bound: a commit's counts
// cover all its tables), times streamCostRatio, against the rows the
// summary counts. A bulk load between the two, or a long-cold summary,
// therefore streams; a few ingests or corrections move.
func (e *Engine) incremental(ctx context.Context, s *canonSummary, w uint64) (summaryRead, bool, error) {
	lo, hi, back := s.commit, w, false
	if w < s.commit {
		lo, hi, back = w, s.commit, true
	}
	rows := int64(0)
	for _, b := range s.sums {
		rows += b.Count
	}
	budget := rows/streamCostRatio + 64 // a small entity: streaming is cheap either way
	if int64(hi-lo) > budget {
		return summaryRead{}, false, nil
	}
	cis, err := e.canon.Commits(ctx, lo+1, hi)
	if err != nil {
		return summaryRead{}, false, fmt.Errorf("canonical bucket summary: %w", err)
	}
	changed := int64(0)
	for _, ci := range cis {
		if slices.Contains(ci.Tables, s.spec.table) {
			changed += ci.RowsAdded + ci.RowsModified + ci.RowsRemoved
		}
	}
	rd := summaryRead{how: "moved", from: s.commit}
	if changed == 0 {
		return rd, true, nil
	}
	if changed > budget {
		return summaryRead{}, false, nil
	}
	// Diff shapes rows by the head schema: it must be the one at w too
	// (the caller checked w's against the summary's), so the columns are
	// where they were at both ends.
	head, err := e.canon.Schema(s.spec.table, 0)
	at, err2 := e.canon.Schema(s.spec.table, w)
	if err != nil || err2 != nil || stampOf(head) != stampOf(at) {
		return summaryRead{}, false, nil
	}
	src := make([]int, len(s.spec.names))
	for i, n := range s.spec.names {
		src[i] = head.ColumnIndex(n)
	}
	it, err := e.canon.Diff(ctx, s.spec.table, canonical.DiffOptions{FromCommit: lo, ToCommit: hi, Net: true})
	if err != nil {
		return summaryRead{}, false, fmt.Errorf("canonical bucket summary: %w", err)
	}
	defer it.Close()
	sums := slices.Clone(s.sums)
	rh := newRowHasher(s.spec.keyIdx)
	apply := func(row []any, sign int64) error {
		if row == nil {
			return nil
		}
		h, err := rh.hash(pick(row, src))
		if err != nil {
			return err
		}
		rd.rows++
		b := &sums[h.bucket]
		b.Count += sign
		b.Sum += uint64(sign) * h.sum // two's complement: -1 subtracts mod 2^64
		return nil
	}
	for it.Next() {
		d := it.Item()
		rd.keys++
		old, cur := d.From, d.To // the row at the summary's commit, and at w
		if back {
			old, cur = cur, old
		}
		if err := apply(old, -1); err != nil {
			return rd, false, fmt.Errorf("canonical bucket summary: %w", err)
		}
		if err := apply(cur, 1); err != nil {
			return rd, false, fmt.Errorf("canonical bucket summary: %w", err)
		}
	}
	if err := it.Err(); err != nil {
		return rd, false, fmt.Errorf("canonical bucket summary: %w", err)
	}
	s.sums = sums
	return rd, true, nil
}

// summaryWarmInterval is how often the warmer looks for new commits.
const summaryWarmInterval = time.Second

// warmSummaries keeps every bucketable rule's canonical summary at its
// projection's watermark as commits apply, until ctx ends, so a run finds
// it there (or a few commits away). It polls: canonical's head is an
// atomic load, and a projection's watermark one store read (a Redis GET)
// per rule and interval, only after the head moved. The first round builds
// the summaries that are missing (a stream each), right after the start.
func (e *Engine) warmSummaries(ctx context.Context) {
	t := time.NewTicker(summaryWarmInterval)
	defer t.Stop()
	done := uint64(0)           // the head at which every summary was at its watermark
	told := map[string]string{} // rule -> the error last logged (once, not every second)
	for {
		if head := e.canon.Head().ID; head != done && e.warmOnce(ctx, told) {
			done = head
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// warmOnce brings every summary to its projection's watermark and reports
// whether all of them are there and the watermarks at canonical's head.
func (e *Engine) warmOnce(ctx context.Context, told map[string]string) bool {
	head := e.canon.Head().ID
	all := true
	for _, r := range e.rules {
		b, ok := e.bucketSpecs[r.Name]
		if !ok || !b.direct {
			continue
		}
		wm, err := e.mat.Store().Watermark(ctx, b.proj)
		if err != nil || wm.Commit == 0 {
			all = false
			continue
		}
		if _, _, ok, err := e.summaryAt(ctx, b.spec, wm.Commit); err != nil || !ok {
			if err != nil && ctx.Err() == nil && told[r.Name] != err.Error() {
				told[r.Name] = err.Error()
				e.log.Warn().Err(err).Str("rule", r.Name).Msg("canonical bucket summary not kept warm")
			}
			all = false
			continue
		}
		delete(told, r.Name)
		if wm.Commit != head {
			all = false
		}
	}
	return all
}

// ledger persistence: s/<spec id> -> canonSummary.encode().

func summaryKey(id string) []byte { return append([]byte("s/"), id...) }

// summary returns the persisted summary of spec id.
func (l *Ledger) summary(id string) ([]byte, bool) {
	v, closer, err := l.db.Get(summaryKey(id))
	if err != nil {
		return nil, false
	}
	defer closer.Close()
	return slices.Clone(v), true
}

// putSummary persists a summary, unsynced (a lost one is rebuilt).
func (l *Ledger) putSummary(id string, v []byte) error {
	if err := l.db.Set(summaryKey(id), v, pebble.NoSync); err != nil {
		return fmt.Errorf("reconcile: ledger summary: %w", err)
	}
	return nil
}

// keepSummaries deletes the persisted summaries whose spec id is not in
// keep (specs of rules or projections that changed or went away).
func (l *Ledger) keepSummaries(keep map[string]bool) error {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte("s/"), UpperBound: []byte("s0")})
	if err != nil {
		return err
	}
	var drop [][]byte
	for it.First(); it.Valid(); it.Next() {
		if !keep[string(it.Key()[2:])] {
			drop = append(drop, slices.Clone(it.Key()))
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return fmt.Errorf("reconcile: ledger summaries: %w", err)
	}
	for _, k := range drop {
		if err := l.db.Delete(k, pebble.NoSync); err != nil {
			return fmt.Errorf("reconcile: ledger summaries: %w", err)
		}
	}
	return nil
}
