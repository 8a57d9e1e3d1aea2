package projections

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

// TestMemorySizeHint: a size hint creates no generation, and a generation
// written after one holds what it would have held without it.
func TestMemorySizeHint(t *testing.T) {
	ctx := context.Background()
	var ups []Entry
	for i := int64(1); i <= 3000; i++ {
		ups = append(ups, row(i, "n", i*10))
	}
	hinted, plain := NewMemoryStore(), NewMemoryStore()
	hinted.SizeHint("p", "g1", len(ups))
	if gens, err := hinted.Generations(ctx, "p"); err != nil || len(gens) != 0 {
		t.Fatalf("generations after a hint: %v %v", gens, err)
	}
	if _, ok, _ := hinted.GenerationWatermark(ctx, "p", "g1"); ok {
		t.Fatal("a hint created the generation")
	}
	if _, err := hinted.Watermark(ctx, "p"); !errors.Is(err, ErrNoGeneration) {
		t.Fatalf("watermark after a hint: %v", err)
	}
	for _, s := range []*MemoryStore{hinted, plain} {
		mustApply(t, s, "p", "g1", 1, ups[:2000], nil)
		s.SizeHint("p", "g1", 10) // the generation exists: ignored
		mustApply(t, s, "p", "g1", 1, ups[2000:], [][]any{{int64(7)}})
		if err := s.SwitchGeneration(ctx, "p", "g1"); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := scanAll(t, hinted, "p"), scanAll(t, plain, "p"); len(a) != len(ups)-1 || !reflect.DeepEqual(a, b) {
		t.Fatalf("hinted store holds %d rows, plain %d, or they differ", len(a), len(b))
	}
	ha, wa, err := hinted.BucketSums(ctx, "p")
	hb, wb, err2 := plain.BucketSums(ctx, "p")
	if err != nil || err2 != nil || !reflect.DeepEqual(ha, hb) || wa != wb {
		t.Fatalf("bucket sums differ: %v %v", err, err2)
	}
	// A dropped generation's hint goes with it.
	hinted.SizeHint("p", "g2", 100)
	if err := hinted.DropGeneration(ctx, "p", "g2"); err != nil {
		t.Fatal(err)
	}
	if n := len(hinted.projs["p"].hints); n != 0 {
		t.Fatalf("%d hints left after the drop", n)
	}
}
