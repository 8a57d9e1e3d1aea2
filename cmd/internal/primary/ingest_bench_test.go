package primary

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/canonical/ingest/kvbench"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
)

// ingestBenchCatalog is the ingest bar's catalog (package kvbench), as
// dgbench loads it.
const ingestBenchCatalog = kvbench.Catalog

// ingestBenchServer is a primary on the bench catalog behind a gateway
// server on loopback, as dgbench runs it for the ingest bar.
func ingestBenchServer(tb testing.TB) string {
	tb.Helper()
	cat, err := catalog.LoadFiles(catalog.File{Name: "bench.yaml", Data: []byte(ingestBenchCatalog)})
	if err != nil {
		tb.Fatal(err)
	}
	_, addr := copyServer(tb, cat, true)
	return addr
}

// engineHooks hides the primary's gateway.RawCopier, so COPY into raw
// goes through the engine's INSERTs.
type engineHooks struct{ gateway.TxHooks }

// countingHooks counts the COPYs the primary takes directly.
type countingHooks struct {
	*Side
	n *atomic.Int64
}

func (h countingHooks) CopyRaw(ctx context.Context, sessionID uint32, source string, columns []string, rows [][]any) error {
	h.n.Add(1)
	return h.Side.CopyRaw(ctx, sessionID, source, columns, rows)
}

// copyServer serves a primary on cat on loopback; direct false makes
// COPY into raw take the engine path.
func copyServer(tb testing.TB, cat *catalog.Catalog, direct bool) (*Side, string) {
	side, addr, _ := countingCopyServer(tb, cat, direct)
	return side, addr
}

// countingCopyServer is copyServer that also counts direct COPYs.
func countingCopyServer(tb testing.TB, cat *catalog.Catalog, direct bool) (*Side, string, *atomic.Int64) {
	tb.Helper()
	ctx := context.Background()
	eng := gateway.NewEngine()
	tb.Cleanup(func() { eng.Close() })
	side, err := Open(ctx, tb.TempDir(), cat, eng, "", zerolog.Nop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { side.Close() })
	cfg := gateway.Config{Listen: "127.0.0.1:0", Trust: true, ShutdownGrace: time.Second, Log: zerolog.Nop()}
	side.Configure(&cfg)
	n := &atomic.Int64{}
	if direct {
		cfg.Hooks = countingHooks{side, n}
	} else {
		cfg.Hooks = engineHooks{side}
	}
	srv, err := gateway.NewServer(cfg, eng)
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		tb.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(sctx)
	}()
	tb.Cleanup(func() { cancel(); <-done })
	return side, srv.Addr().String(), n
}

// copyKV COPYs rows kv rows (ids from+1 .. from+rows) into raw.kv_src, the
// way dgbench's load does.
func copyKV(ctx context.Context, c *pgconn.PgConn, from, rows int) (pgconn.CommandTag, error) {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriter(pw)
		for i := from + 1; i <= from+rows; i++ {
			fmt.Fprintf(w, "%d\tvalue-%d\t%d\n", i, i, i*7)
		}
		_ = w.Flush()
		_ = pw.Close()
	}()
	return c.CopyFrom(ctx, pr, "COPY raw.kv_src (id, val, n) FROM STDIN")
}

// ingestRows is the rows of one COPY in BenchmarkIngestCopy; the bar is
// 1M (-args -ingest-rows 1000000).
var ingestRows = flag.Int("ingest-rows", 100_000, "rows per COPY of BenchmarkIngestCopy")

// BenchmarkIngestCopy is the ingest bar end to end: COPY -ingest-rows rows
// (100k by default) over the wire into raw.kv_src, mapped onto canonical.kv
// and committed (each iteration new keys, on one primary). Run with e.g.
//
//	go test ./cmd/internal/primary/ -run '^$' -bench IngestCopy -benchtime 1x -cpuprofile /tmp/ing.prof -args -ingest-rows 1000000
func BenchmarkIngestCopy(b *testing.B) {
	rows := *ingestRows
	addr := ingestBenchServer(b)
	ctx := context.Background()
	c, err := pgconn.Connect(ctx, "postgres://bench@"+addr+"/dualgate?sslmode=disable")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		tag, err := copyKV(ctx, c, i*rows, rows)
		if err != nil {
			b.Fatal(err)
		}
		if tag.RowsAffected() != int64(rows) {
			b.Fatalf("COPY %d rows, want %d", tag.RowsAffected(), rows)
		}
	}
	b.ReportMetric(float64(b.N*rows)/time.Since(start).Seconds(), "rows/s")
}
