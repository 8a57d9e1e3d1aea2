package ingest_test

import (
	"context"
	"testing"

	"github.com/dualgate/dualgate/catalog"
)

// A large batch's keys enter the dedupe index after Ingest returns; the
// next batch still finds every one of them (it waits for the index).
func TestDedupeAfterLargeBatch(t *testing.T) {
	cat, err := catalog.LoadFiles(catalog.File{Name: "bench.yaml", Data: []byte(benchKV)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := openStore(t)
	p := newPipeline(t, s, cat, nil)
	rows := func(from, to int64) [][]any {
		var out [][]any
		for id := from; id <= to; id++ {
			out = append(out, []any{id, "v", id * 7})
		}
		return out
	}
	const n = 6000 // above the batch size whose index is extended after Ingest returns
	rep, err := p.Ingest(ctx, "kv_src", rows(1, n), "t")
	if err != nil || rep.Committed != n {
		t.Fatalf("first batch: %+v %v", rep, err)
	}
	// At once: the same keys again, one new, in descending order.
	again := rows(1, n+1)
	for i, j := 0, len(again)-1; i < j; i, j = i+1, j-1 {
		again[i], again[j] = again[j], again[i]
	}
	rep, err = p.Ingest(ctx, "kv_src", again, "t")
	if err != nil || rep.Duplicates != n || rep.Committed != 1 {
		t.Fatalf("second batch: %d duplicates, %d committed (%v), want %d and 1", rep.Duplicates, rep.Committed, err, n)
	}
	rep, err = p.Ingest(ctx, "kv_src", rows(n-1, n+2), "t")
	if err != nil || rep.Duplicates != 3 || rep.Committed != 1 {
		t.Fatalf("third batch: %d duplicates, %d committed (%v), want 3 and 1", rep.Duplicates, rep.Committed, err)
	}
}
