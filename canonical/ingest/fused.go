package ingest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

// The fused path. A source whose one current mapping copies source columns
// onto an entity column for column (a projection mapping, compiled.go, of
// columns of the very same types), into an entity without rules,
// transitions or secondary indexes and without delete_when, cannot reject
// a row but for a NULL key, and its rows are the raw rows themselves
// (reordered at most). The checker's per-row structures (mapped rows,
// their values, per-key states, head rows read ahead) then decide nothing
// the store's Commit does not decide again, so such a batch goes from the
// raw rows straight to Commit as upserts, and the counts come from the
// commit: with every key once in the batch, a row is committed exactly
// when its key's version changes. For a 1M-row load this skips about half
// a gigabyte of per-row memory, whose page faults and GC marking were most
// of the pipeline's cost.
//
// A batch takes it only when the outcome is certain to be the general
// path's: no NULL in a key and entity keys strictly ascending in batch
// order (a bulk load by key; this also makes every key distinct without a
// map). Any other batch takes the general path. TestFusedMatchesGeneral
// checks both give the same commits (hashes included), rows, raw rows,
// quarantine and counts over random batches.

// fusedTypes are the column types whose store values pass the general
// path's mapping (batchValue, then conform to the same type) unchanged and
// whose value equality is encoding equality (so "unchanged" is decided
// alike by the pipeline and the store; floats are not: -0 and NaN).
func fusedType(t catalog.Type) bool {
	switch t.Name {
	case "bigint", "integer", "smallint", "text", "varchar":
		return true
	}
	return false
}

// fusedPlan is a source's mapping that the fused path can commit.
type fusedPlan struct {
	version  int64
	entity   string
	keyKinds []canonical.Kind
	cols     []int // per stored entity column, the source column it copies
	keyCols  []int // per entity key column, the source column it copies
	identity bool  // cols is 0..n-1 over every source column: raw rows are entity rows
}

// fusedPlan returns the fused plan of src, or nil when its batches take
// the general path. Pipeline.mu is held.
func (p *Pipeline) fusedPlan(src *catalog.Source) *fusedPlan {
	if p.noFuse || p.noCompile {
		return nil
	}
	ms := p.cat.MappingsFor(src.Name)
	if len(ms) != 1 || ms[0].DeleteWhen != "" {
		return nil
	}
	m := ms[0]
	mq := p.mappingQuery(m, batchColumns(src))
	if mq.proj == nil {
		return nil
	}
	ent, err := newChecker(p, modeIngest, 0).entity(m.Entity)
	if err != nil || len(ent.e.Rules) > 0 || ent.e.Transitions != nil || len(ent.ts.Indexes) > 0 {
		return nil // an error is the general path's to report
	}
	plan := &fusedPlan{version: int64(m.Version), entity: ent.e.Name, keyKinds: ent.keyKinds,
		cols: make([]int, len(ent.names)), identity: len(ent.names) == len(src.Columns)}
	for i, n := range ent.names {
		oc := -1
		for j, on := range mq.proj.names {
			if strings.EqualFold(on, n) {
				oc = mq.proj.outCol[j]
				break
			}
		}
		if oc < 0 || oc >= len(src.Columns) {
			return nil // a literal, _seq, _ingested_at, _batch or no such column
		}
		st, et := src.Columns[oc].Type, ent.types[i]
		if !fusedType(st) || st.Name != et.Name || !slices.Equal(st.Args, et.Args) {
			return nil
		}
		plan.cols[i] = oc
		plan.identity = plan.identity && oc == i
	}
	for _, i := range ent.ts.PKIndexes() {
		plan.keyCols = append(plan.keyCols, plan.cols[i])
	}
	return plan
}

// fuse commits the raw rows idx of norm (the batch's rows that are not
// duplicates) through plan, filling the counts of rep but Received and
// Duplicates. ok is false, with nothing done, when the batch must take
// the general path (a NULL key, keys not strictly ascending).
func (p *Pipeline) fuse(ctx context.Context, txn *canonical.Txn, plan *fusedPlan, norm [][]any, idx []int,
	req canonical.CommitRequest, rep *Report) (ok bool, err error) {
	if len(idx) == 0 {
		return false, nil // the general path's report of an empty mapping
	}
	key := make([]any, len(plan.keyCols))
	var kb, prev []byte
	for n, i := range idx {
		for j, sc := range plan.keyCols {
			if key[j] = norm[i][sc]; key[j] == nil {
				return false, nil
			}
		}
		if kb, err = canonical.AppendKey(kb[:0], plan.keyKinds, key); err != nil {
			return false, nil
		}
		if n > 0 && bytes.Compare(prev, kb) >= 0 {
			return false, nil
		}
		kb, prev = prev, kb
	}
	// The entity rows: the raw rows themselves when the mapping copies
	// every column in place and no row is a duplicate, else a list of
	// them (reordered if need be).
	rows := norm
	if !plan.identity || len(idx) != len(norm) {
		rows = make([][]any, len(idx))
		var slab []any
		w := len(plan.cols)
		for n, i := range idx {
			row := norm[i]
			if !plan.identity {
				if len(slab) < w {
					slab = make([]any, w*min(1024, len(idx)-n))
				}
				entRow := slab[:w:w]
				slab = slab[w:]
				for c, sc := range plan.cols {
					entRow[c] = row[sc]
				}
				row = entRow
			}
			rows[n] = row
		}
	}
	req.MappingVersion, req.Upserts = plan.version, &canonical.Upserts{Table: plan.entity, Rows: rows}
	rep.MappingVersion = plan.version
	res, err := txn.Commit(ctx, req)
	if err != nil {
		return false, fmt.Errorf("ingest: commit %s batch from %s: %w", req.Kind, req.Source, err)
	}
	if res.Created {
		rep.CommitID = res.Commit.ID
		rep.Committed = int(res.Commit.RowsAdded + res.Commit.RowsModified + res.Commit.RowsRemoved)
	}
	rep.Unchanged = len(idx) - rep.Committed
	return true, nil
}
