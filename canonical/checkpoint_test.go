package canonical

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// checkpointsOf lists the commits of table's checkpoints (markers), oldest
// first.
func checkpointsOf(t *testing.T, s *Store, table string) []uint64 {
	t.Helper()
	ts, err := s.Schema(table, HEAD)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for c := s.Head().ID; c >= 1; c-- {
		below, _, err := checkpointNear(s.db, ts.ID, c)
		if err != nil {
			t.Fatal(err)
		}
		if below == c {
			out = append([]uint64{c}, out...)
		}
	}
	return out
}

// scanAll reads table AS OF asOf under plan into strings (one per row).
func scanAll(t *testing.T, s *Store, table string, asOf uint64, plan int32) []string {
	t.Helper()
	old := asOfPlan.Swap(plan)
	defer asOfPlan.Store(old)
	rows, err := rowsOrPanic(s.Scan(context.Background(), table, ScanOptions{AsOf: asOf})), error(nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprint(r)
	}
	return out
}

// TestCheckpointer checks that the checkpointer writes a checkpoint as of
// the commit where a table's changes since its last one reached its live
// rows, that scans from it agree with the history walk AS OF every commit,
// that the rows of a checkpoint whose marker was never written (a crash
// while writing) are dropped at the next open, and that a store written
// without checkpoints (what the code before them wrote: the same keyspaces
// minus K and P) opens, answers identically, and gets its checkpoints.
func TestCheckpointer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// Written the old way: no checkpointer.
	s, err := Open(ctx, dir, Options{CheckpointFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	ts := benchSchema
	mustCommit(t, s, CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{CreateTable: &ts}}})
	const n = 2000
	write := func(s *Store, v int, keep func(id int) bool) {
		var ch []Change
		for i := 0; i < n; i++ {
			if keep(i) {
				ch = append(ch, Change{Table: "accounts", Op: OpUpsert, Row: benchRow(i, v)})
			}
		}
		if v == 4 { // some deletes too
			for i := 0; i < n; i += 7 {
				ch = append(ch, Change{Table: "accounts", Op: OpDelete, Row: []any{int64(i)}})
			}
		}
		mustCommit(t, s, CommitRequest{Changes: ch})
	}
	// Counts are of rows modified or removed since the last checkpoint;
	// a checkpoint is as of the commit before the crossing one.
	write(s, 0, func(int) bool { return true })          // 2: 2000 added (not counted)
	write(s, 1, func(id int) bool { return id%4 == 0 })  // 3: 500
	write(s, 2, func(id int) bool { return id%4 == 1 })  // 4: 500 (1000)
	write(s, 4, func(id int) bool { return id%4 == 2 })  // 5: 429 + 286 removed (1715 of 1714 live) -> at 4; 715
	write(s, 5, func(id int) bool { return id%10 == 0 }) // 6: 171 (886; 29 re-added)
	write(s, 6, func(id int) bool { return id%3 == 0 })  // 7: 581 (1467; 86 re-added)
	if got := checkpointsOf(t, s, "accounts"); len(got) != 0 {
		t.Fatalf("checkpoints %v written with checkpoints disabled", got)
	}
	head := s.Head().ID
	want := map[uint64][]string{}
	for c := uint64(2); c <= head; c++ {
		want[c] = scanAll(t, s, "accounts", c, planWalk)
		for _, p := range allPlans {
			if got := scanAll(t, s, "accounts", c, p); fmt.Sprint(got) != fmt.Sprint(want[c]) {
				t.Fatalf("old store AS OF %d plan %d differs from the walk", c, p)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened with checkpoints: they are written where the counts crossed.
	if s, err = Open(ctx, dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncCheckpoints(ctx); err != nil {
		t.Fatal(err)
	}
	if got := checkpointsOf(t, s, "accounts"); fmt.Sprint(got) != "[4]" {
		t.Fatalf("checkpoints at %v, want [4]", got)
	}
	check := func(s *Store) {
		t.Helper()
		for c := uint64(2); c <= head; c++ {
			for _, p := range allPlans {
				if got := scanAll(t, s, "accounts", c, p); fmt.Sprint(got) != fmt.Sprint(want[c]) {
					t.Fatalf("AS OF %d plan %d: %d rows differ from the old store's %d", c, p, len(got), len(want[c]))
				}
			}
		}
	}
	check(s)
	// More commits after the reopen: counting resumes from the checkpoint.
	write(s, 7, func(id int) bool { return id%2 == 0 }) // 8: 924 (2391 of 1905 live) -> at 7; 924
	write(s, 8, func(id int) bool { return id%2 == 1 }) // 9: under 1000 more (not due)
	if err := s.SyncCheckpoints(ctx); err != nil {
		t.Fatal(err)
	}
	if got := checkpointsOf(t, s, "accounts"); fmt.Sprint(got) != "[4 7]" {
		t.Fatalf("checkpoints at %v, want [4 7]", got)
	}
	for c := head + 1; c <= s.Head().ID; c++ {
		want[c] = scanAll(t, s, "accounts", c, planWalk)
	}
	head = s.Head().ID
	check(s)

	// A checkpoint whose marker never made it: its rows are dropped on
	// open and never read.
	tid := s.cat.Load().byName["accounts"]
	b := s.db.NewBatch()
	for i := 0; i < 10; i++ {
		pk, _ := AppendKey(nil, nil, []any{int64(i)})
		if err := b.Set(append(checkpointPrefix(tid, 6), pk...), []byte("garbage"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// So is an sstable a crash left before it was ingested.
	leftover := filepath.Join(dir, "checkpoint-1.sst.tmp")
	if err := os.WriteFile(leftover, []byte("half an sstable"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(ctx, dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover checkpoint file still there after open: %v", err)
	}
	if err := s.SyncCheckpoints(ctx); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, checkpointFilePrefix+"*"+ingestFileSuffix)); len(left) > 0 {
		t.Fatalf("checkpoint files left after writing: %v", left)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: checkpointPrefix(tid, 6), UpperBound: checkpointPrefix(tid, 7)})
	if err != nil {
		t.Fatal(err)
	}
	if it.First() {
		t.Fatalf("unfinished checkpoint's rows still there: %x", it.Key())
	}
	_ = it.Close()
	if got := checkpointsOf(t, s, "accounts"); fmt.Sprint(got) != "[4 7]" {
		t.Fatalf("checkpoints after reopen at %v, want [4 7]", got)
	}
	check(s)
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("verify %+v %v", rep, err)
	}

	// Tampering with a checkpoint (a row, an index entry) breaks Verify.
	pk, _ := AppendKey(nil, nil, []any{int64(3)})
	rowKey := append(checkpointPrefix(tid, 7), pk...)
	orig, err := s.get(rowKey)
	if err != nil || orig == nil {
		t.Fatalf("checkpoint row: %v %v", orig, err)
	}
	tamper := func(what string, key, val []byte, del bool) {
		t.Helper()
		var err error
		if del {
			err = s.db.Delete(key, pebble.Sync)
		} else {
			err = s.db.Set(key, val, pebble.Sync)
		}
		if err != nil {
			t.Fatal(err)
		}
		rep, err := s.Verify(ctx)
		if err != nil || rep.OK || rep.BrokenAt != 7 {
			t.Fatalf("verify after %s: %+v %v; want broken at 7", what, rep, err)
		}
	}
	other, err := s.get(append(checkpointPrefix(tid, 7), mustKey(t, int64(4))...))
	if err != nil {
		t.Fatal(err)
	}
	tamper("changing a row", rowKey, other, false)
	if err := s.db.Set(rowKey, orig, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	cts, err := s.Schema("accounts", 7)
	if err != nil {
		t.Fatal(err)
	}
	row, err := decodeRow(orig)
	if err != nil {
		t.Fatal(err)
	}
	e, err := indexEntryKey(cts, 0, cts.pad(row), pk)
	if err != nil {
		t.Fatal(err)
	}
	tamper("deleting an index entry", append(checkpointIndexPrefix(tid, 7, 0), e...), nil, true)
}

func mustKey(t *testing.T, vals ...any) []byte {
	t.Helper()
	k, err := AppendKey(nil, nil, vals)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
