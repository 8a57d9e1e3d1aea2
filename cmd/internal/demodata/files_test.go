package demodata_test

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/cmd/internal/demodata"
)

// fileColumns are the header columns WriteFiles needs: the catalog's.
func fileColumns(cat *catalog.Catalog) map[string][]string {
	cols := map[string][]string{demodata.TableBaskets: demodata.BasketColumns}
	for _, s := range demodata.Sources {
		for _, c := range cat.Source(s).Columns {
			cols[s] = append(cols[s], c.Name)
		}
	}
	return cols
}

// hashDir hashes every file under dir (relative path and content).
func hashDir(t testing.TB, dir string) (string, int) {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	h := sha256.New()
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		h.Write([]byte(filepath.ToSlash(rel) + "\n"))
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), len(paths)
}

// goldenFiles is the hash of WriteFiles' output for seed 1, 1,000 orders,
// 7 days from DefaultStart with basket events: the generator's output is a
// pure function of its Config on every machine. A deliberate change of the
// generator changes it (run the test with -v to see the new hash).
const goldenFiles = "5ff87ea650bc77ce7cbcbcfff742a80734607240f01d8611b8cf0344a1afac7b"

// TestWriteFilesDeterministic writes the same generator's files twice
// (identical bytes), checks their layout and CSV shape, and compares with
// the golden hash.
func TestWriteFilesDeterministic(t *testing.T) {
	cat := demoCatalog(t)
	cols := fileColumns(cat)
	cfg := demodata.Config{Seed: 1, Orders: 1000, Days: 7, Baskets: true}
	write := func(cfg demodata.Config) (string, string, demodata.FileSummary) {
		dir := t.TempDir()
		g := demodata.NewConfig(cfg)
		sum, err := demodata.WriteFiles(context.Background(), g, dir, g.End(), cols)
		if err != nil {
			t.Fatal(err)
		}
		h, n := hashDir(t, dir)
		if n != sum.Files {
			t.Fatalf("%d files on disk, summary says %d", n, sum.Files)
		}
		return dir, h, sum
	}
	dir, a, sum := write(cfg)
	_, b, _ := write(cfg)
	t.Logf("files hash %s (%d files, %d bytes, rows %v)", a, sum.Files, sum.Bytes, sum.Rows)
	if a != b {
		t.Fatalf("the same config wrote different files: %s vs %s", a, b)
	}
	other := cfg
	other.Seed = 2
	if _, c, _ := write(other); c == a {
		t.Fatal("another seed wrote the same files")
	}
	if a != goldenFiles {
		t.Errorf("files hash %s, golden %s: the generator's output changed", a, goldenFiles)
	}
	// Layout: a file per source and day, marketplace files by name, the
	// basket events, the legacy mart; every file a header and rows of its
	// width.
	for _, s := range append(append([]string(nil), demodata.Sources...), demodata.TableBaskets) {
		if sum.Rows[s] == 0 {
			t.Errorf("no rows written for %s", s)
		}
	}
	days, _ := filepath.Glob(filepath.Join(dir, demodata.SrcOrders, "2026-03-0?.csv"))
	if len(days) != 7 {
		t.Errorf("oms_orders files %v, want one per history day", days)
	}
	settle, _ := filepath.Glob(filepath.Join(dir, demodata.SrcSettlements, "settlement_*.csv"))
	if len(settle) == 0 {
		t.Error("no marketplace settlement files")
	}
	rows := map[string]int{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		rel, _ := filepath.Rel(dir, p)
		src := strings.SplitN(filepath.ToSlash(rel), "/", 2)[0]
		want := cols[src]
		if src == demodata.LegacyMartFile {
			want = demodata.LegacyMartColumns
		}
		if len(recs) == 0 || strings.Join(recs[0], ",") != strings.Join(want, ",") {
			t.Fatalf("%s: header %v, want %v", rel, recs, want)
		}
		rows[src] += len(recs) - 1
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for s, n := range sum.Rows {
		if rows[s] != n {
			t.Errorf("%s: %d rows in the files, %d written", s, rows[s], n)
		}
	}
	if rows[demodata.LegacyMartFile] == 0 {
		t.Error("empty legacy mart file")
	}
}

// TestWriteFilesStreams writes the first day of a 10M-order generator
// (10,000 orders a day over 1,000 days) and samples the heap at every
// file the writer opens: it stays flat, since only one FileStep of
// deliveries is held at a time.
func TestWriteFilesStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 10k orders")
	}
	cat := demoCatalog(t)
	g := demodata.NewConfig(demodata.Config{Seed: 1, Orders: 10_000_000, Days: 1000, Baskets: true})
	start := time.Now()
	sum, err := demodata.WriteFiles(context.Background(), g, t.TempDir(), g.DayEnd(0), fileColumns(cat))
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("day 1 of a 10M-order generator: %d orders, rows %v, %d MB written in %v; heap %d MB",
		sum.Stats.Orders, sum.Rows, sum.Bytes>>20, time.Since(start).Round(time.Millisecond), ms.HeapAlloc>>20)
	if o := sum.Stats.Orders; o < 9_000 || o > 10_000 {
		t.Fatalf("orders delivered on day 1 of 1000: %d", o)
	}
	if ms.HeapAlloc > 200<<20 {
		t.Fatalf("heap %d MB after a day", ms.HeapAlloc>>20)
	}
}

// BenchmarkWriteFiles measures generating and writing 1,000 orders'
// history (3 days, basket events on) per iteration.
func BenchmarkWriteFiles(b *testing.B) {
	cols := fileColumns(demoCatalog(b))
	rows := 0
	for i := 0; i < b.N; i++ {
		g := demodata.NewConfig(demodata.Config{Seed: 1, Orders: 1000, Days: 3, Baskets: true})
		sum, err := demodata.WriteFiles(context.Background(), g, b.TempDir(), g.End(), cols)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range sum.Rows {
			rows += n
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
