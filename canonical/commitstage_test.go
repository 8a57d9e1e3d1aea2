package canonical

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// TestStageParallelMatchesSequential: a large commit staged on two
// goroutines (raw rows, quarantine and versions beside the change log,
// index entries and latest rows) writes byte for byte what staging on one
// goroutine writes, commit hashes included, and verifies.
func TestStageParallelMatchesSequential(t *testing.T) {
	defer runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 2))
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 2))
	const n = 6000
	run := func(threshold int, tight bool) (*Store, [][2][]byte) {
		old := parallelStage
		parallelStage, tightBound = threshold, tight
		defer func() { parallelStage, tightBound = old, false }()
		ctx := context.Background()
		// The batch path (this test is about staging a batch), and no
		// checkpointer racing the key dump below.
		clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		s, err := Open(ctx, t.TempDir(), Options{Clock: clk.now, CommitSSTableBytes: -1, CheckpointFraction: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		createOrders(t, s)
		for round := range 2 {
			txn, err := s.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			raws := make([][]any, n)
			var changes []Change
			for i := range n {
				raws[i] = []any{int64(i), fmt.Sprint("raw-", round, "-", i)}
				id := fmt.Sprintf("o-%05d", (i*7919)%n) // not in key order
				switch {
				case round == 1 && i%5 == 0:
					changes = append(changes, Change{Table: "orders", Op: OpDelete, Row: []any{id}})
				case round == 1 && i%5 == 1:
					changes = append(changes, Change{Table: "orders", Op: OpUpsert, Row: order(id, "NEW", fmt.Sprint(i%97, ".50"))}) // unchanged for some
				default:
					changes = append(changes, Change{Table: "orders", Op: OpUpsert, Row: order(id, fmt.Sprint("S", (i+round)%3), fmt.Sprint(i, ".25"))})
				}
			}
			if _, _, err := txn.AppendRaw("src", raws, fmt.Sprint("b", round)); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if _, _, err := txn.Quarantine(QuarantineRecord{Source: "src", RawSeq: uint64(i + 1 + round*n), Entity: "orders", Rule: "r", Reason: "bad"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := txn.Commit(ctx, CommitRequest{Kind: KindIngest, Committer: "t", Changes: changes}); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := s.Verify(ctx)
		if err != nil || !rep.OK {
			t.Fatalf("threshold %d: verify %+v: %v", threshold, rep, err)
		}
		return s, keyspace(t, s)
	}
	seq, seqKVs := run(1<<30, false)
	// In parallel: the halves in place in one buffer, and (a bound too
	// small) assembled from buffers of their own.
	for _, tight := range []bool{false, true} {
		par, parKVs := run(1, tight)
		if seq.head.Load().Hash != par.head.Load().Hash {
			t.Fatalf("tight %v: head hash %s staged in parallel, %s sequentially", tight, par.head.Load().Hash, seq.head.Load().Hash)
		}
		if len(seqKVs) != len(parKVs) {
			t.Fatalf("tight %v: %d keys staged in parallel, %d sequentially", tight, len(parKVs), len(seqKVs))
		}
		for i := range seqKVs {
			if !bytes.Equal(seqKVs[i][0], parKVs[i][0]) || !bytes.Equal(seqKVs[i][1], parKVs[i][1]) {
				t.Fatalf("tight %v: entry %d differs: %q=%q in parallel, %q=%q sequentially", tight, i, parKVs[i][0], parKVs[i][1], seqKVs[i][0], seqKVs[i][1])
			}
		}
	}
}
