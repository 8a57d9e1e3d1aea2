package ingest_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/canonical/ingest"
	"github.com/dualgate/dualgate/catalog"
)

// fusedCatalog has two sources the fused path takes: kv_src copies its
// columns onto kv as they are (raw rows are entity rows), rev_src onto rev
// in another column order with a two-column key. other_src feeds an entity
// with a rule, so it always takes the general path.
const fusedCatalog = `context: fused
owner: test
sources:
  kv_src:
    columns: {id: bigint, val: text, n: integer, tag: varchar(8)}
    dedupe_key: [id, n]
  rev_src:
    columns: {a: text, k: bigint, b: bigint}
  other_src:
    columns: {id: bigint, v: bigint}
entities:
  kv:
    key: [id]
    columns: {id: bigint, val: text, n: integer, tag: varchar(8)}
    mappings:
      - source: kv_src
        version: 3
        select: SELECT id, val, n, tag FROM batch
  rev:
    key: [a, k]
    columns: {k: bigint, b: bigint, a: text}
    mappings:
      - source: rev_src
        version: 1
        select: SELECT k, b, a FROM batch ORDER BY _seq
  other:
    key: [id]
    columns: {id: bigint, v: bigint}
    rules: [{name: small, check: "v < 5"}]
    mappings:
      - source: other_src
        version: 1
        select: SELECT id, v FROM batch
`

// fusedBatch is one delivery of the differential test.
type fusedBatch struct {
	source string
	rows   [][]any
}

// randomBatches makes deliveries of every kind the fused path must take
// or hand to the general path: key-ordered loads (with gaps, updates of
// earlier keys, unchanged rows, duplicates by dedupe key), unordered and
// repeated keys, NULL keys (quarantined), values that do not fit their raw
// column (the delivery fails), redeliveries (all duplicates) and rule
// failures on another source.
func randomBatches(r *rand.Rand, n int) []fusedBatch {
	vals := []any{"a", "b", "c", nil, "ü-long"}
	tags := []any{"x", "yy", nil, "12345678"}
	var out []fusedBatch
	for len(out) < n {
		size := 1 + r.IntN(40)
		switch kind := r.IntN(10); kind {
		case 0, 1, 2, 3: // kv: ascending ids, sometimes with defects
			id := int64(r.IntN(200))
			rows := make([][]any, 0, size)
			for range size {
				id += 1 + int64(r.IntN(4))
				rows = append(rows, []any{id, vals[r.IntN(len(vals))], int64(r.IntN(3)), tags[r.IntN(len(tags))]})
				if r.IntN(8) == 0 { // the same dedupe key again: a duplicate
					rows = append(rows, slices.Clone(rows[len(rows)-1]))
				}
			}
			switch r.IntN(8) {
			case 0:
				r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
			case 1:
				rows[r.IntN(len(rows))][0] = nil // NULL key: quarantined
			case 2:
				rows[r.IntN(len(rows))][3] = "too-long-tag" // varchar(8): the delivery fails
			case 3:
				rows[r.IntN(len(rows))][2] = int64(math.MaxInt32) + 1 // integer: the delivery fails
			case 4: // the same key with another n (not a duplicate): not strictly ascending
				i := r.IntN(len(rows))
				rows = slices.Insert(rows, i+1, []any{rows[i][0], "dup-key", int64(7), nil})
			}
			out = append(out, fusedBatch{"kv_src", rows})
		case 4: // a redelivery of an earlier kv batch
			for i := len(out) - 1; i >= 0; i-- {
				if out[i].source == "kv_src" {
					out = append(out, out[i])
					break
				}
			}
		case 5, 6, 7: // rev: ascending (a, k), sometimes unordered or with a NULL key
			as := []string{"p", "q", "r"}
			ai, k := 0, int64(r.IntN(50))
			rows := make([][]any, 0, size)
			for range size {
				if r.IntN(4) == 0 && ai < len(as)-1 {
					ai, k = ai+1, int64(r.IntN(50))
				}
				k += 1 + int64(r.IntN(3))
				rows = append(rows, []any{as[ai], k, int64(r.IntN(3))})
			}
			switch r.IntN(6) {
			case 0:
				r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
			case 1:
				rows[r.IntN(len(rows))][0] = nil
			}
			out = append(out, fusedBatch{"rev_src", rows})
		default: // other: a rule rejects some rows
			rows := make([][]any, size)
			for i := range rows {
				rows[i] = []any{int64(i), int64(r.IntN(8))}
			}
			out = append(out, fusedBatch{"other_src", rows})
		}
	}
	return out
}

// storeSnapshot is everything a batch leaves in the store and tells the
// client.
type storeSnapshot struct {
	Reports    []string
	Commits    []string
	Rows       map[string][]string
	Raw        []string
	Quarantine []string
}

func snapshotStore(t *testing.T, s *canonical.Store, cat *catalog.Catalog, reports []string) storeSnapshot {
	t.Helper()
	ctx := context.Background()
	snap := storeSnapshot{Reports: reports, Rows: map[string][]string{}}
	commits, err := s.Commits(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commits {
		snap.Commits = append(snap.Commits, fmt.Sprintf("%d %x parent %x %s %s %s v%d %q +%d ~%d -%d raw %d-%d %s",
			c.ID, c.Hash, c.ParentHash, c.Kind, c.Committer, c.Source, c.MappingVersion, c.Message,
			c.RowsAdded, c.RowsModified, c.RowsRemoved, c.RawFromSeq, c.RawToSeq, c.CommittedAt.Format(time.RFC3339Nano)))
	}
	for _, e := range cat.Entities() {
		it, err := s.Scan(ctx, e.Name, canonical.ScanOptions{AsOf: canonical.HEAD})
		if err != nil {
			t.Fatal(err)
		}
		for it.Next() {
			snap.Rows[e.Name] = append(snap.Rows[e.Name], fmt.Sprintf("%#v", it.Row()))
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		it.Close()
	}
	for _, src := range cat.Sources() {
		recs, err := s.ScanRaw(ctx, src.Name, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			snap.Raw = append(snap.Raw, fmt.Sprintf("%s %d %s %s %#v", src.Name, r.Seq, r.IngestedAt.Format(time.RFC3339Nano), r.Batch, r.Row))
		}
	}
	qs, err := s.Quarantined(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		snap.Quarantine = append(snap.Quarantine, fmt.Sprintf("%+v", q))
	}
	v, err := s.Verify(ctx)
	if err != nil || !v.OK {
		t.Fatalf("verify: %+v %v", v, err)
	}
	return snap
}

// TestFusedMatchesGeneral: batches committed by the fused path leave
// exactly what the general path leaves (the same commits with the same
// hashes, rows, raw rows, quarantine records, counts and errors) over
// random deliveries, and both kinds of batches occur.
func TestFusedMatchesGeneral(t *testing.T) {
	cat, err := catalog.LoadFiles(catalog.File{Name: "fused.yaml", Data: []byte(fusedCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	for seed := range uint64(6) {
		batches := randomBatches(rand.New(rand.NewPCG(seed, 42)), 60)
		var snaps [2]storeSnapshot
		fusedRuns := 0
		for mode, fused := range []bool{false, true} {
			ctx := context.Background()
			clock := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
			s, err := canonical.Open(ctx, t.TempDir(), canonical.Options{Clock: func() time.Time {
				clock = clock.Add(time.Second)
				return clock
			}})
			if err != nil {
				t.Fatal(err)
			}
			p, err := ingest.New(s, cat, query, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			ingest.SetFused(p, fused)
			n := 0
			ingest.SetBatchIDs(p, func() string { n++; return fmt.Sprintf("b%d", n) })
			if err := p.EnsureSchema(ctx); err != nil {
				t.Fatal(err)
			}
			var reports []string
			for _, b := range batches {
				rows := make([][]any, len(b.rows))
				for i, r := range b.rows {
					rows[i] = slices.Clone(r)
				}
				rep, err := p.Ingest(ctx, b.source, rows, "tester")
				if err != nil {
					reports = append(reports, "error: "+err.Error())
					continue
				}
				if rep.Received != rep.Committed+rep.Unchanged+rep.Duplicates+rep.Quarantined {
					t.Fatalf("counts do not add up: %+v", rep)
				}
				reports = append(reports, fmt.Sprintf("%s commit=%d v%d warnings=%d quarantine=%v raw=%d-%d",
					rep.Notice(), rep.CommitID, rep.MappingVersion, rep.Warnings, rep.QuarantineIDs, rep.RawFrom, rep.RawTo))
			}
			snaps[mode] = snapshotStore(t, s, cat, reports)
			if fused {
				fusedRuns = ingest.FusedBatches(p)
			} else if ingest.FusedBatches(p) != 0 {
				t.Fatal("the fused path ran while off")
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if fusedRuns == 0 || fusedRuns == len(batches) {
			t.Fatalf("seed %d: %d of %d batches fused: both paths must be exercised", seed, fusedRuns, len(batches))
		}
		if !reflect.DeepEqual(snaps[0], snaps[1]) {
			diff := func(what string, a, b []string) {
				if !reflect.DeepEqual(a, b) {
					t.Errorf("seed %d %s differ:\ngeneral %s\nfused   %s", seed, what, strings.Join(a, "\n        "), strings.Join(b, "\n        "))
				}
			}
			diff("reports", snaps[0].Reports, snaps[1].Reports)
			diff("commits", snaps[0].Commits, snaps[1].Commits)
			diff("raw rows", snaps[0].Raw, snaps[1].Raw)
			diff("quarantine", snaps[0].Quarantine, snaps[1].Quarantine)
			for e := range snaps[0].Rows {
				diff(e+" rows", snaps[0].Rows[e], snaps[1].Rows[e])
			}
			t.FailNow()
		}
		t.Logf("seed %d: %d of %d batches fused, %d commits", seed, fusedRuns, len(batches), len(snaps[0].Commits))
	}
}
