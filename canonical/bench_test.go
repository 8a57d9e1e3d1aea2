package canonical

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// Benchmarks run on two shared fixtures of 100k keys. The dense one
// (benchFixture): commit 1 creates the table, commits 2..11 each rewrite
// every row, so AS OF commit 2 every key has nine newer versions -- the worst
// case for an old commit, where history is ten times the current data. The
// sparse one (benchSparseFixture, what cmd/dgbench loads): commit 2 writes
// every row, commits 3..11 each rewrite the same tenth of the keys (id%10 ==
// 0), so AS OF commit 2 one key in ten changed since, nine times.

const (
	benchKeys     = 100_000
	benchVersions = 10
)

var benchSchema = TableSchema{
	Name: "accounts",
	Columns: []Column{
		{Name: "id", Kind: KindInt64},
		{Name: "status", Kind: KindString},
		{Name: "balance", Kind: KindDecimal},
		{Name: "note", Kind: KindString, Nullable: true},
		{Name: "updated_at", Kind: KindTime},
	},
	PrimaryKey: []string{"id"},
	Indexes:    []Index{{Name: "by_status", Columns: []string{"status"}}},
}

func benchRow(id, version int) []any {
	return []any{int64(id), []string{"open", "frozen", "closed"}[(id+version)%3],
		decimal.New(int64(id*7+version*13), -2), "note for the account row",
		time.Unix(1_700_000_000+int64(version*3600), 0).UTC()}
}

type benchFix struct {
	once sync.Once
	dir  string
	err  error
	disk int64
	keep string
	env  string // environment variable naming a directory to keep it in
	// rewrite reports whether version v (0-based; commit v+2) writes key id.
	rewrite func(id, v int) bool
}

var (
	denseFix  = &benchFix{env: "CANONICAL_BENCH_FIXTURE", rewrite: func(int, int) bool { return true }}
	sparseFix = &benchFix{env: "CANONICAL_BENCH_SPARSE_FIXTURE", rewrite: func(id, v int) bool { return v == 0 || id%10 == 0 }}
	// fixtureDisk is the dense fixture's size (disk-B/version).
	fixtureDisk int64
)

// liveSize is the size of the closed store in dir once the files Pebble
// no longer references are gone: Pebble paces the deletion of obsolete
// files, so a store just compacted and closed still holds some, which
// the next Open deletes. It reopens the store and measures that.
func liveSize(dir string) (int64, error) {
	s, err := Open(context.Background(), dir, Options{})
	if err != nil {
		return 0, err
	}
	if err := s.Close(); err != nil {
		return 0, err
	}
	return dirSize(dir), nil
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func benchFixture(b *testing.B) *Store {
	s := denseFix.open(b)
	fixtureDisk = denseFix.disk
	return s
}

func benchSparseFixture(b *testing.B) *Store { return sparseFix.open(b) }

func (f *benchFix) open(b *testing.B) *Store {
	b.Helper()
	f.once.Do(func() {
		ctx := context.Background()
		// f.env names a directory to keep (and reuse) the fixture across
		// runs; by default it is built in a temporary directory and
		// removed.
		if d := os.Getenv(f.env); d != "" {
			if s, err := Open(ctx, d, Options{}); err == nil {
				done := s.Head().ID == benchVersions+1
				_ = s.Close()
				if done {
					f.disk = dirSize(d)
					return
				}
			} else if ents, _ := os.ReadDir(d); len(ents) > 0 {
				// In use by another run (locked) or damaged: never
				// remove it from under someone else.
				f.err = fmt.Errorf("fixture %s=%s: %w", f.env, d, err)
				return
			}
			f.keep = d
			_ = os.RemoveAll(d)
		} else if f.dir, f.err = os.MkdirTemp("", "canonical-bench-"); f.err != nil {
			return
		}
		if f.keep != "" {
			f.dir = f.keep
		}
		s, err := Open(ctx, f.dir, Options{})
		if err != nil {
			f.err = err
			return
		}
		ts := benchSchema
		if _, err := s.Commit(ctx, CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{CreateTable: &ts}}}); err != nil {
			f.err = err
			return
		}
		for v := 0; v < benchVersions; v++ {
			ch := make([]Change, 0, benchKeys)
			for i := 0; i < benchKeys; i++ {
				if f.rewrite(i, v) {
					ch = append(ch, Change{Table: "accounts", Op: OpUpsert, Row: benchRow(i, v)})
				}
			}
			if _, err := s.Commit(ctx, CommitRequest{Kind: KindIngest, Changes: ch}); err != nil {
				f.err = err
				return
			}
		}
		// The checkpoints due (checkpoint.go) are part of the fixture.
		if f.err = s.SyncCheckpoints(ctx); f.err != nil {
			return
		}
		if err := s.DB().Flush(); err != nil {
			f.err = err
			return
		}
		if err := s.DB().Compact(ctx, []byte{0}, []byte{0xFF}, true); err != nil {
			f.err = err
			return
		}
		if f.err = s.Close(); f.err != nil {
			return
		}
		f.disk, f.err = liveSize(f.dir)
	})
	if f.err != nil {
		b.Fatal(f.err)
	}
	dir := f.dir
	if d := os.Getenv(f.env); d != "" {
		dir = d
	}
	s, err := Open(context.Background(), dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range []*benchFix{denseFix, sparseFix} {
		if f.dir != "" && f.keep == "" && os.Getenv(f.env) == "" {
			_ = os.RemoveAll(f.dir)
		}
	}
	os.Exit(code)
}

func reportDisk(b *testing.B) {
	b.ReportMetric(float64(fixtureDisk)/float64(benchKeys*benchVersions), "disk-B/version")
}

func benchGet(b *testing.B, asOf uint64) {
	s := benchFixture(b)
	defer s.Close()
	ctx := context.Background()
	r := rand.New(rand.NewSource(1))
	keys := make([][]any, 4096)
	for i := range keys {
		keys[i] = []any{int64(r.Intn(benchKeys))}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok, err := s.Get(ctx, "accounts", keys[i&4095], asOf); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
	b.StopTimer()
	reportDisk(b)
}

// BenchmarkGetHead: point lookup of the current row.
func BenchmarkGetHead(b *testing.B) { benchGet(b, HEAD) }

// BenchmarkGetAsOfOld: point lookup AS OF the first data commit (9 newer
// versions of every key).
func BenchmarkGetAsOfOld(b *testing.B) { benchGet(b, 2) }

// BenchmarkGetAsOfMid: AS OF the middle of the history.
func BenchmarkGetAsOfMid(b *testing.B) { benchGet(b, 6) }

func benchScan(b *testing.B, asOf uint64, index bool) {
	benchScanOpts(b, benchFixture, asOf, index, nil, false)
}

// benchPlan applies CANONICAL_ASOF_PLAN (walk or merge) to force the plan of
// AS OF scans, for comparing the two on one binary; unset: the store chooses.
// A forced walk reads an index scan's rows from V only (latestProbe off):
// the index walk as it was before it looked rows up in L.
func benchPlan(b *testing.B) {
	switch p := os.Getenv("CANONICAL_ASOF_PLAN"); p {
	case "":
	case "walk":
		forceAsOfPlan(b, planWalk)
	case "merge":
		forceAsOfPlan(b, planMerge)
	default:
		b.Fatalf("CANONICAL_ASOF_PLAN=%q: want walk or merge", p)
	}
}

func benchScanOpts(b *testing.B, open func(*testing.B) *Store, asOf uint64, index bool, cols []int, reuse bool) {
	s := open(b)
	defer s.Close()
	benchPlan(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	rows := 0
	for i := 0; i < b.N; i++ {
		var it *RowIter
		var err error
		if index {
			it, err = s.ScanIndex(ctx, "accounts", "by_status", IndexScanOptions{AsOf: asOf, Lower: []any{"open"}, Upper: []any{"open"}, UpperInclusive: true})
		} else {
			it, err = s.Scan(ctx, "accounts", ScanOptions{AsOf: asOf, Columns: cols, ReuseRow: reuse})
		}
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for it.Next() {
			n++
		}
		if it.Err() != nil {
			b.Fatal(it.Err())
		}
		it.Close()
		rows += n
	}
	b.StopTimer()
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkScanHead: full scan of 100k live rows at HEAD.
func BenchmarkScanHead(b *testing.B) { benchScan(b, HEAD, false) }

// BenchmarkScanAsOfOld: full scan AS OF the first data commit.
func BenchmarkScanAsOfOld(b *testing.B) { benchScan(b, 2, false) }

// BenchmarkScanHeadColumns: full scan at HEAD reading two columns (id,
// balance) into a reused row, as the aggregate pushdown reads a table.
func BenchmarkScanHeadColumns(b *testing.B) {
	benchScanOpts(b, benchFixture, HEAD, false, []int{0, 2}, true)
}

// BenchmarkScanAsOfOldColumns: the same AS OF the first data commit.
func BenchmarkScanAsOfOldColumns(b *testing.B) {
	benchScanOpts(b, benchFixture, 2, false, []int{0, 2}, true)
}

// BenchmarkScanIndexHead: a third of the rows through the secondary index.
func BenchmarkScanIndexHead(b *testing.B) { benchScan(b, HEAD, true) }

// BenchmarkScanIndexAsOfOld: the same AS OF the first data commit.
func BenchmarkScanIndexAsOfOld(b *testing.B) { benchScan(b, 2, true) }

// BenchmarkScanSparseHead: full scan at HEAD of the sparse fixture (one key
// in ten rewritten nine times after commit 2).
func BenchmarkScanSparseHead(b *testing.B) {
	benchScanOpts(b, benchSparseFixture, HEAD, false, nil, false)
}

// BenchmarkScanSparseAsOfOld: the same AS OF commit 2 (a tenth of the keys
// changed since, nine times each).
func BenchmarkScanSparseAsOfOld(b *testing.B) {
	benchScanOpts(b, benchSparseFixture, 2, false, nil, false)
}

// BenchmarkScanSparseAsOfMid: AS OF commit 7 (a tenth of the keys changed
// since, four times each).
func BenchmarkScanSparseAsOfMid(b *testing.B) {
	benchScanOpts(b, benchSparseFixture, 7, false, nil, false)
}

// BenchmarkScanIndexSparseHead: a third of the sparse fixture's rows through
// the secondary index at HEAD.
func BenchmarkScanIndexSparseHead(b *testing.B) {
	benchScanOpts(b, benchSparseFixture, HEAD, true, nil, false)
}

// BenchmarkScanIndexSparseAsOfOld: the same AS OF commit 2.
func BenchmarkScanIndexSparseAsOfOld(b *testing.B) {
	benchScanOpts(b, benchSparseFixture, 2, true, nil, false)
}

// BenchmarkCommit1000: synced commits of 1000-row batches (half new rows,
// half modifications), reporting rows/s and disk bytes per version written.
func BenchmarkCommit1000(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ts := benchSchema
	if _, err := s.Commit(ctx, CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{CreateTable: &ts}}}); err != nil {
		b.Fatal(err)
	}
	// Disk is measured on the closed store, before and after (liveSize).
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	before, err := liveSize(dir)
	if err != nil {
		b.Fatal(err)
	}
	if s, err = Open(ctx, dir, Options{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	versions := 0
	for i := 0; i < b.N; i++ {
		ch := make([]Change, 1000)
		for j := range ch {
			id := i*500 + j // overlaps the previous batch by 500 keys
			ch[j] = Change{Table: "accounts", Op: OpUpsert, Row: benchRow(id, i)}
		}
		res, err := s.Commit(ctx, CommitRequest{Kind: KindIngest, Changes: ch})
		if err != nil {
			b.Fatal(err)
		}
		versions += int(res.Commit.RowsAdded + res.Commit.RowsModified)
	}
	b.StopTimer()
	b.ReportMetric(float64(versions)/b.Elapsed().Seconds(), "rows/s")
	// Disk counts the checkpoints the commits made due.
	if err := s.SyncCheckpoints(ctx); err != nil {
		b.Fatal(err)
	}
	if err := s.DB().Flush(); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	after, err := liveSize(dir)
	if err != nil {
		b.Fatal(err)
	}
	if versions > 0 {
		b.ReportMetric(float64(after-before)/float64(versions), "disk-B/version")
	}
}

// BenchmarkCommitLarge: 10k- and 100k-row commits (half new keys, half
// rewrites of the previous commit's, every rewrite moving its index entry) into an
// indexed table, with their raw rows, on the batch path and on the
// sstable path (commitsst.go; its index entries are sorted before they are
// written). ns/op is CPU-bound staging plus Pebble's work inside the call
// (the WAL write and, for a batch this large, the flushable batch's sort
// and flush; or the sstables and the Ingest).
func BenchmarkCommitLarge(b *testing.B) {
	for _, size := range []int{10_000, 100_000} {
		for _, path := range []struct {
			name  string
			bytes int
		}{{"batch", -1}, {"sstables", 1}} {
			b.Run(fmt.Sprintf("%s/%d", path.name, size), func(b *testing.B) { benchCommitLarge(b, path.bytes, size) })
		}
	}
}

func benchCommitLarge(b *testing.B, sstBytes, n int) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir(), Options{CommitSSTableBytes: sstBytes, CheckpointFraction: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ts := benchSchema
	if _, err := s.Commit(ctx, CommitRequest{Kind: KindSchema, Schema: []SchemaChange{{CreateTable: &ts}}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rows := make([][]any, n)
		raws := make([][]any, n)
		for j := range rows {
			id := i*n/2 + j
			rows[j] = benchRow(id, i)
			raws[j] = []any{int64(id), "raw payload of the account row"}
		}
		txn, err := s.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := txn.AppendRaw("src", raws, fmt.Sprint("b", i)); err != nil {
			b.Fatal(err)
		}
		if _, err := txn.Commit(ctx, CommitRequest{Kind: KindIngest, Upserts: &Upserts{Table: "accounts", Rows: rows}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
}
