package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/projections"
)

// bucketable reports whether r can be compared bucket by bucket: a record
// rule whose right side is `SELECT <every column> FROM serving.<p>` with
// nothing else, matched on p's key and comparing every column. The store
// keeps exactly that side's per-bucket counts and checksums.
func (e *Engine) bucketable(r *catalog.Reconciliation) (string, bool) {
	if e.mat == nil || r.Level != catalog.LevelRecord || r.RightDSN != "" || r.Right == "" {
		return "", false
	}
	tree, err := pg.Parse(r.Right)
	if err != nil || len(tree.Stmts) != 1 {
		return "", false
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	if sel == nil || sel.WithClause != nil || sel.WhereClause != nil || len(sel.GroupClause) > 0 ||
		sel.HavingClause != nil || len(sel.DistinctClause) > 0 || len(sel.SortClause) > 0 ||
		sel.LimitCount != nil || sel.LimitOffset != nil || len(sel.ValuesLists) > 0 || len(sel.FromClause) != 1 ||
		sel.Op != pg.SetOperation_SETOP_NONE {
		return "", false
	}
	rv := sel.FromClause[0].GetRangeVar()
	if rv == nil || !strings.EqualFold(rv.Schemaname, "serving") {
		return "", false
	}
	p, ok := e.mat.Projection(rv.Relname)
	if !ok || !sameSet(p.Key, r.Match) {
		return "", false
	}
	var cols []string
	for _, t := range sel.TargetList {
		rt := t.GetResTarget()
		if rt == nil {
			return "", false
		}
		cr := rt.Val.GetColumnRef()
		if cr == nil || len(cr.Fields) != 1 || cr.Fields[0].GetString_() == nil {
			return "", false
		}
		name := cr.Fields[0].GetString_().Sval
		if rt.Name != "" && !strings.EqualFold(rt.Name, name) {
			return "", false
		}
		cols = append(cols, name)
	}
	var all, nonKey []string
	for _, c := range p.Columns {
		all = append(all, c.Name)
		if !containsFold(p.Key, c.Name) {
			nonKey = append(nonKey, c.Name)
		}
	}
	if !sameSet(cols, all) || (len(r.Compare) > 0 && !sameSet(r.Compare, nonKey)) {
		return "", false
	}
	for _, c := range all {
		if !containsFold(r.LeftColumns, c) {
			return "", false
		}
	}
	return p.Name, true
}

// compareBuckets compares r's left side with projection proj by bucket
// sums: the left rows are hashed as the store hashes its rows; only the
// buckets whose count or checksum differ are read from the store and
// compared key by key.
func (e *Engine) compareBuckets(ctx context.Context, r *catalog.Reconciliation, proj string) (Comparison, pairing, error) {
	p, _ := e.mat.Projection(proj)
	store := e.mat.Store()
	pr := pairing{head: e.canon.Head().ID, paired: true}
	names := make([]string, len(p.Columns))
	for i, c := range p.Columns {
		names[i] = c.Name
	}
	keyIdx := make([]int, len(p.Key))
	for i, k := range p.Key {
		for j, n := range names {
			if strings.EqualFold(n, k) {
				keyIdx[i] = j
			}
		}
	}
	for attempt := 0; attempt < maxReadAttempts; attempt++ {
		sums, wm, err := store.BucketSums(ctx, proj)
		if errors.Is(err, projections.ErrNoGeneration) {
			return Comparison{}, pr, fmt.Errorf("serving.%s: %w", proj, errNotMaterialized)
		}
		if err != nil {
			return Comparison{}, pr, err
		}
		w := wm.Commit
		pr.asOf, pr.watermark = w, &w
		pr.projs = e.marks(r, pr, []projections.Watermark{wm})
		left, err := e.internal(ctx, r.Left, w)
		if err != nil {
			return Comparison{}, pr, fmt.Errorf("left side: %w", err)
		}
		order := make([]int, len(names))
		for i, n := range names {
			order[i] = left.index(n)
		}
		mine := make([]projections.Bucket, projections.NumBuckets)
		byBucket := make([][]int, projections.NumBuckets)
		for i, row := range left.rows {
			prow, err := projections.NormalizeRow(pick(row, order))
			if err != nil {
				return Comparison{}, pr, err
			}
			k, err := projections.EncodeKey(pick(prow, keyIdx))
			if err != nil {
				return Comparison{}, pr, err
			}
			v, err := projections.EncodeRow(nil, prow)
			if err != nil {
				return Comparison{}, pr, err
			}
			b := projections.BucketOf(k)
			mine[b].Count++
			mine[b].Sum += projections.EntryHash(k, v)
			byBucket[b] = append(byBucket[b], i)
		}
		differ := map[int]bool{}
		for b := range mine {
			if mine[b] != sums[b] {
				differ[b] = true
			}
		}
		cmp := Comparison{Unit: "keys", Buckets: projections.NumBuckets, Descended: len(differ)}
		var sub [][]any
		for b := range mine {
			if !differ[b] {
				cmp.Compared += int(mine[b].Count)
				cmp.Matched += int(mine[b].Count)
				continue
			}
			for _, i := range byBucket[b] {
				sub = append(sub, pick(left.rows[i], order))
			}
		}
		if len(differ) == 0 {
			return cmp, pr, nil
		}
		var right [][]any
		err = store.Scan(ctx, proj, func(key, row []any) error {
			k, err := projections.EncodeKey(key)
			if err != nil {
				return err
			}
			if differ[projections.BucketOf(k)] {
				right = append(right, append([]any(nil), row...))
			}
			return nil
		})
		if err != nil {
			return Comparison{}, pr, err
		}
		if now, err := store.Watermark(ctx, proj); err != nil || now != wm {
			continue // the projection moved while its buckets were read
		}
		deep, err := compare(r, rows{cols: names, rows: sub}, rows{cols: names, rows: right}, e.clock())
		if err != nil {
			return Comparison{}, pr, err
		}
		cmp.Compared += deep.Compared
		cmp.Matched += deep.Matched
		cmp.Diffs = deep.Diffs
		return cmp, pr, nil
	}
	pr.paired = false
	return Comparison{}, pr, fmt.Errorf("serving.%s kept moving while it was read; try again", proj)
}
