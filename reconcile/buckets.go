package reconcile

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/projections"
)

// plainSelect recognizes `SELECT c1, c2, … FROM schema.rel` with nothing
// else (no WHERE, grouping, ordering, limits, joins or expressions): a side
// that reads a relation's columns as they are, which reconciliation can read
// from storage directly instead of planning it.
func plainSelect(q string) (schema, rel string, cols []string, ok bool) {
	tree, err := pg.Parse(q)
	if err != nil || len(tree.Stmts) != 1 {
		return "", "", nil, false
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	if sel == nil || sel.WithClause != nil || sel.WhereClause != nil || len(sel.GroupClause) > 0 ||
		sel.HavingClause != nil || len(sel.DistinctClause) > 0 || len(sel.SortClause) > 0 ||
		sel.LimitCount != nil || sel.LimitOffset != nil || len(sel.ValuesLists) > 0 || len(sel.FromClause) != 1 ||
		sel.Op != pg.SetOperation_SETOP_NONE || sel.IntoClause != nil || len(sel.LockingClause) > 0 {
		return "", "", nil, false
	}
	rv := sel.FromClause[0].GetRangeVar()
	if rv == nil || rv.Schemaname == "" {
		return "", "", nil, false
	}
	alias := rv.Relname
	if rv.Alias != nil {
		alias = rv.Alias.Aliasname
	}
	for _, t := range sel.TargetList {
		rt := t.GetResTarget()
		if rt == nil {
			return "", "", nil, false
		}
		cr := rt.Val.GetColumnRef()
		if cr == nil || len(cr.Fields) == 0 || len(cr.Fields) > 2 {
			return "", "", nil, false
		}
		if len(cr.Fields) == 2 && cr.Fields[0].GetString_().GetSval() != alias {
			return "", "", nil, false
		}
		last := cr.Fields[len(cr.Fields)-1].GetString_()
		if last == nil {
			return "", "", nil, false // *
		}
		if rt.Name != "" && rt.Name != last.Sval {
			return "", "", nil, false
		}
		cols = append(cols, last.Sval)
	}
	return strings.ToLower(rv.Schemaname), rv.Relname, cols, true
}

// bucketRule is how a bucketable rule is compared: projection proj, its
// columns and key as the summary spec; direct when the left side is a
// plain column list of entity spec.table, read from the canonical store
// (and summarized) rather than run on the engine.
type bucketRule struct {
	proj   string
	spec   summarySpec
	direct bool
}

// bucketable reports whether r can be compared bucket by bucket: a record
// rule whose right side reads every column of a projection as it is,
// matched on the projection's key and comparing every column. The store
// keeps exactly that side's per-bucket counts and checksums.
func (e *Engine) bucketable(r *catalog.Reconciliation) (bucketRule, bool) {
	if e.mat == nil || r.Level != catalog.LevelRecord || r.RightDSN != "" || r.Right == "" {
		return bucketRule{}, false
	}
	schema, rel, cols, ok := plainSelect(r.Right)
	if !ok || schema != "serving" {
		return bucketRule{}, false
	}
	p, ok := e.mat.Projection(rel)
	if !ok || !sameSet(p.Key, r.Match) {
		return bucketRule{}, false
	}
	var all, nonKey []string
	for _, c := range p.Columns {
		all = append(all, c.Name)
		if !containsFold(p.Key, c.Name) {
			nonKey = append(nonKey, c.Name)
		}
	}
	if !sameSet(cols, all) || (len(r.Compare) > 0 && !sameSet(r.Compare, nonKey)) {
		return bucketRule{}, false
	}
	for _, c := range all {
		if !containsFold(r.LeftColumns, c) {
			return bucketRule{}, false
		}
	}
	keyIdx := make([]int, len(p.Key))
	for i, k := range p.Key {
		for j, n := range all {
			if strings.EqualFold(n, k) {
				keyIdx[i] = j
			}
		}
	}
	b := bucketRule{proj: p.Name, spec: summarySpec{names: all, keyIdx: keyIdx}}
	if schema, rel, _, plain := plainSelect(r.Left); plain && schema == "canonical" {
		b.spec.table, b.direct = rel, true
	}
	return b, true
}

// compareBuckets compares r's left side with projection br.proj by bucket
// sums: the left rows are hashed as the store hashes its rows (encoded key
// and row, summed per bucket); only the buckets whose count or checksum
// differ are read from the store, and there rows are matched by encoded
// key and compared by entry hash, falling back to value comparison (which
// knows 5 and 5.00 are equal) only for rows whose hashes differ. A left
// side read directly from the canonical store is summarized by its kept
// bucket summary (summary.go): a run with no differences reads no rows.
func (e *Engine) compareBuckets(ctx context.Context, r *catalog.Reconciliation, br bucketRule) (Comparison, pairing, error) {
	proj, names, keyIdx := br.proj, br.spec.names, br.spec.keyIdx
	p, _ := e.mat.Projection(proj)
	store := e.mat.Store()
	pr := pairing{head: e.canon.Head().ID, paired: true}
	plan, err := newPlan(r, rows{cols: names}, rows{cols: names})
	if err != nil {
		return Comparison{}, pr, err
	}
	for attempt := 0; attempt < maxReadAttempts; attempt++ {
		sums, wm, err := store.BucketSums(ctx, proj)
		if errors.Is(err, projections.ErrNoGeneration) {
			return Comparison{}, pr, fmt.Errorf("serving.%s: %w", proj, ErrNotMaterialized)
		}
		if err != nil {
			return Comparison{}, pr, err
		}
		w := wm.Commit
		pr.asOf, pr.watermark = w, &w
		pr.projs = e.marks(r, pr, []projections.Watermark{wm})
		// The left rows' buckets and entry hashes. A plain column list of
		// an entity comes from its bucket summary, moved to w; rows are
		// streamed only to descend (keeping the rows of differing
		// buckets). Any other side is run on the engine and hashed in
		// parallel slices.
		var left rows
		var hs []hashed
		var mine []projections.Bucket
		var rd summaryRead
		direct := false
		if br.direct && w > 0 {
			if mine, rd, direct, err = e.summaryAt(ctx, br.spec, w); err != nil {
				return Comparison{}, pr, fmt.Errorf("left side: %w", err)
			}
		}
		if !direct {
			if left, err = e.internal(ctx, r.Left, w); err != nil {
				return Comparison{}, pr, fmt.Errorf("left side: %w", err)
			}
			order := make([]int, len(names))
			for i, n := range names {
				order[i] = left.index(n)
			}
			if hs, mine, err = hashRows(left.rows, order, keyIdx); err != nil {
				return Comparison{}, pr, err
			}
		}
		differ := make([]bool, projections.NumBuckets)
		cmp := Comparison{Unit: "keys", Buckets: projections.NumBuckets, CanonicalRows: rd.rows + len(left.rows)}
		if direct {
			cmp.Summary = rd.String()
		}
		for b := range mine {
			if mine[b] != sums[b] {
				differ[b] = true
				cmp.Descended++
			} else {
				cmp.Compared += int(mine[b].Count)
				cmp.Matched += int(mine[b].Count)
			}
		}
		if cmp.Descended == 0 {
			return cmp, pr, nil
		}
		if direct {
			kept, khs, full, n, _, err := e.canonicalBuckets(ctx, br.spec.table, names, keyIdx, w, differ)
			if err != nil {
				return Comparison{}, pr, fmt.Errorf("left side: %w", err)
			}
			// The stream summed every bucket at w again: it checks (and
			// replaces) the summary for free.
			if err := e.replaceSummary(ctx, br.spec, w, full); err != nil {
				return Comparison{}, pr, err
			}
			left, hs = rows{cols: names, rows: kept}, khs
			cmp.CanonicalRows += n
		}
		var kbuf, vbuf []byte
		keyVals := make([]any, len(keyIdx))
		// Descend. The store scans bucket by bucket (every row of a bucket
		// consecutively), so the left rows are matched one bucket at a
		// time: a small map per bucket instead of one over every row.
		inBucket := make([][]int32, projections.NumBuckets)
		for i, h := range hs {
			if differ[h.bucket] {
				inBucket[h.bucket] = append(inBucket[h.bucket], int32(i))
			}
		}
		type leftRow struct {
			idx  int32
			seen bool
		}
		now := e.clock()
		var diffs []Difference
		compared, matched := 0, 0
		add := func(lr []any, lok bool, rr []any, rok bool) {
			compared++
			d, ok, _ := plan.compareKey(lr, lok, rr, rok, now)
			if ok {
				matched++
				return
			}
			src := lr
			if !lok {
				src = rr
			}
			kv := pick(src, keyIdx)
			d.Key, d.keyVals = jsonObject(p.Key, kv), kv
			diffs = append(diffs, *d)
		}
		visited := make([]bool, projections.NumBuckets)
		cur := -1
		var byKey map[string]*leftRow
		open := func(b int) error {
			byKey = make(map[string]*leftRow, len(inBucket[b]))
			for _, i := range inBucket[b] {
				for j, k := range keyIdx {
					keyVals[j] = left.rows[i][k]
				}
				if kbuf, err = canonical.AppendKey(kbuf[:0], nil, keyVals); err != nil {
					return err
				}
				byKey[string(kbuf)] = &leftRow{idx: i}
			}
			return nil
		}
		closeBucket := func() {
			for _, lr := range byKey {
				if !lr.seen {
					add(left.rows[lr.idx], true, nil, false)
				}
			}
			byKey = nil
		}
		err = store.Scan(ctx, proj, func(key, row []any) error {
			k, err := projections.EncodeKey(key)
			if err != nil {
				return err
			}
			b := projections.BucketOf(k)
			if !differ[b] {
				return nil
			}
			if b != cur {
				if visited[b] {
					return fmt.Errorf("reconcile: the store did not scan serving.%s bucket by bucket", proj)
				}
				closeBucket()
				visited[b], cur = true, b
				if err := open(b); err != nil {
					return err
				}
			}
			lr, ok := byKey[string(k)]
			if !ok {
				add(nil, false, row, true)
				return nil
			}
			lr.seen = true
			if vbuf, err = projections.EncodeRow(vbuf[:0], row); err != nil {
				return err
			}
			if projections.EntryHash(k, vbuf) == hs[lr.idx].sum {
				compared++
				matched++
				return nil
			}
			add(left.rows[lr.idx], true, row, true)
			return nil
		})
		if err != nil {
			return Comparison{}, pr, err
		}
		closeBucket()
		if now, err := store.Watermark(ctx, proj); err != nil || now != wm {
			continue // the projection moved while its buckets were read
		}
		for b := range inBucket {
			if differ[b] && !visited[b] { // the store has no row in this bucket
				for _, i := range inBucket[b] {
					add(left.rows[i], true, nil, false)
				}
			}
		}
		sort.Slice(diffs, func(i, j int) bool { return diffs[i].Key < diffs[j].Key })
		cmp.Compared += compared
		cmp.Matched += matched
		cmp.Diffs = diffs
		return cmp, pr, nil
	}
	pr.paired = false
	return Comparison{}, pr, fmt.Errorf("serving.%s kept moving while it was read; try again", proj)
}

// hashed is a left row's bucket and entry hash.
type hashed struct {
	bucket uint16
	sum    uint64
}

// rowHasher computes rows' buckets and entry hashes exactly as the stores
// do (projections.EntryHash of the encoded key and row), reusing its
// buffers; one per goroutine.
type rowHasher struct {
	keyIdx     []int
	keyVals    []any
	kbuf, vbuf []byte
}

func newRowHasher(keyIdx []int) *rowHasher {
	return &rowHasher{keyIdx: keyIdx, keyVals: make([]any, len(keyIdx))}
}

// hash normalizes row in place (projection column order) and hashes it.
func (rh *rowHasher) hash(row []any) (hashed, error) {
	for j, v := range row {
		n, err := projections.Normalize(v)
		if err != nil {
			return hashed{}, err
		}
		row[j] = n
	}
	for j, k := range rh.keyIdx {
		rh.keyVals[j] = row[k]
	}
	var err error
	if rh.kbuf, err = canonical.AppendKey(rh.kbuf[:0], nil, rh.keyVals); err != nil {
		return hashed{}, err
	}
	if rh.vbuf, err = projections.EncodeRow(rh.vbuf[:0], row); err != nil {
		return hashed{}, err
	}
	return hashed{uint16(projections.BucketOf(rh.kbuf)), projections.EntryHash(rh.kbuf, rh.vbuf)}, nil
}

// hashRows reorders and normalizes each row in place to projection column
// order and computes its bucket and entry hash, in as many slices as there
// are processors, returning the per-row hashes and the bucket sums.
func hashRows(rs [][]any, order, keyIdx []int) ([]hashed, []projections.Bucket, error) {
	hs := make([]hashed, len(rs))
	parts := max(1, min(runtime.GOMAXPROCS(0), len(rs)/10000))
	sums := make([][]projections.Bucket, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for w := 0; w < parts; w++ {
		lo, hi := w*len(rs)/parts, (w+1)*len(rs)/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]projections.Bucket, projections.NumBuckets)
			rh := newRowHasher(keyIdx)
			for i := lo; i < hi; i++ {
				prow := pick(rs[i], order)
				h, err := rh.hash(prow)
				if err != nil {
					errs[w] = err
					return
				}
				rs[i] = prow
				mine[h.bucket].Count++
				mine[h.bucket].Sum += h.sum
				hs[i] = h
			}
			sums[w] = mine
		}()
	}
	wg.Wait()
	out := make([]projections.Bucket, projections.NumBuckets)
	for w := range sums {
		if errs[w] != nil {
			return nil, nil, errs[w]
		}
		for b := range out {
			out[b].Count += sums[w][b].Count
			out[b].Sum += sums[w][b].Sum
		}
	}
	return hs, out, nil
}

// canonicalBuckets streams entity table at commit asOf, each row in
// projection column order (names) and normalized, and computes its bucket
// and entry hash as the store does, returning the bucket sums. Rows of the
// buckets marked in keep (nil: none) are returned with their hashes. ok is
// false when the table or a column cannot be read directly (the caller
// runs the side on the engine). Decoding runs in this goroutine, hashing
// in as many workers as there are processors. n is the rows streamed.
func (e *Engine) canonicalBuckets(ctx context.Context, table string, names []string, keyIdx []int, asOf uint64, keep []bool) (kept [][]any, hs []hashed, sums []projections.Bucket, n int, ok bool, err error) {
	it, err := e.canon.Scan(ctx, table, canonical.ScanOptions{AsOf: asOf})
	if err != nil {
		return nil, nil, nil, 0, false, nil
	}
	defer it.Close()
	src := make([]int, len(names))
	for i, n := range names {
		if src[i] = it.Schema().ColumnIndex(n); src[i] < 0 {
			return nil, nil, nil, 0, false, nil
		}
	}
	type result struct {
		kept [][]any
		hs   []hashed
		sums []projections.Bucket
		err  error
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	batches := make(chan [][]any, workers*2)
	results := make(chan result, workers)
	for w := 0; w < workers; w++ {
		go func() {
			res := result{sums: make([]projections.Bucket, projections.NumBuckets)}
			rh := newRowHasher(keyIdx)
			for batch := range batches {
				if res.err != nil {
					continue // drain
				}
				for _, row := range batch {
					var h hashed
					if h, res.err = rh.hash(row); res.err != nil {
						break
					}
					res.sums[h.bucket].Count++
					res.sums[h.bucket].Sum += h.sum
					if keep != nil && keep[h.bucket] {
						res.kept = append(res.kept, row)
						res.hs = append(res.hs, h)
					}
				}
			}
			results <- res
		}()
	}
	const batchRows = 2048
	batch := make([][]any, 0, batchRows)
	for it.Next() {
		n++
		row := it.Row()
		prow := make([]any, len(src))
		for i, j := range src {
			prow[i] = row[j]
		}
		batch = append(batch, prow)
		if len(batch) == batchRows {
			batches <- batch
			batch = make([][]any, 0, batchRows)
		}
	}
	if len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	sums = make([]projections.Bucket, projections.NumBuckets)
	for w := 0; w < workers; w++ {
		res := <-results
		if res.err != nil && err == nil {
			err = res.err
		}
		kept = append(kept, res.kept...)
		hs = append(hs, res.hs...)
		for b := range sums {
			sums[b].Count += res.sums[b].Count
			sums[b].Sum += res.sums[b].Sum
		}
	}
	if err == nil {
		err = it.Err()
	}
	if err != nil {
		return nil, nil, nil, n, true, err
	}
	return kept, hs, sums, n, true, nil
}
