package ingest

import (
	"math/rand/v2"
	"testing"
)

// TestSeqTable: the dedupe index's table agrees with a Go map through
// growth, reservations, colliding slots and repeated hashes.
func TestSeqTable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var tab seqTable
	want := map[uint64]uint64{}
	if _, ok := tab.get(7); ok {
		t.Fatal("empty table has 7")
	}
	for i := 0; i < 50000; i++ {
		if i == 20000 {
			tab.reserve(100000)
		}
		h := r.Uint64()
		switch i % 5 {
		case 0:
			h &= 0xff // few distinct values: repeats and probing
		case 1:
			h <<= 40 // same low bits: one probe chain
		}
		seq := uint64(i + 1)
		_, had := want[h]
		if stored := tab.put(h, seq); stored == had {
			t.Fatalf("put %x: stored %v, already there %v", h, stored, had)
		}
		if !had {
			want[h] = seq
		}
	}
	if tab.len() != len(want) {
		t.Fatalf("len %d, want %d", tab.len(), len(want))
	}
	for h, seq := range want {
		if got, ok := tab.get(h); !ok || got != seq {
			t.Fatalf("get %x = %d %v, want %d", h, got, ok, seq)
		}
	}
	for i := 0; i < 1000; i++ {
		h := r.Uint64()
		if _, in := want[h]; in {
			continue
		}
		if _, ok := tab.get(h); ok {
			t.Fatalf("get %x: found", h)
		}
	}
}
