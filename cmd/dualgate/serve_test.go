package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway/sqlscript"
	"github.com/dualgate/dualgate/testdata"
)

// startPrimary runs `dualgate serve` in-process with the demo catalog, a
// fresh data directory (unless dir is given) and trust authentication,
// and returns its address.
func startPrimary(t *testing.T, dir string) string {
	t.Helper()
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	return startPrimaryCatalog(t, dir, cat)
}

// startPrimaryCatalog is startPrimary serving another catalog.
func startPrimaryCatalog(t *testing.T, dir string, cat *catalog.Catalog) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	o := &serveOptions{listen: "127.0.0.1:0", data: dir, trust: true, shutdownGrace: 2 * time.Second, maxMessage: 1 << 20}
	return serveForTest(t, o, cat)
}

// serveForTest runs the serve path in-process with o and cat until the
// test ends and returns the Postgres address.
func serveForTest(t *testing.T, o *serveOptions, cat *catalog.Catalog) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	go func() {
		done <- runServe(ctx, o, cat, log, func(a net.Addr) { addr <- a.String() })
	}()
	select {
	case a := <-addr:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
		return a
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	return ""
}

func dsn(addr, user string) string {
	return "postgres://" + user + "@" + addr + "/dualgate?sslmode=disable"
}

// TestCanonicalScripts runs testdata/sql/canonical/*.slt against a primary
// serving the demo catalog: ingest, quarantine, corrections, time travel,
// history, diff, replay, each through both protocols with labels checked.
func TestCanonicalScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "sql", "canonical", "*.slt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/sql/canonical: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".slt"), func(t *testing.T) {
			steps, _ := sqlscript.Parse(t, path)
			addr := startPrimary(t, "")
			conn, err := pgconn.Connect(context.Background(), dsn(addr, "steward"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			sqlscript.Run(t, path, "dualgate", conn, steps, true)
		})
	}
}

// TestReconcileScripts runs testdata/sql/reconcile/*.slt against a primary
// serving the reconciliation suite catalog: rules, runs, the exception
// queue and its procedures, over the wire.
func TestReconcileScripts(t *testing.T) {
	root := filepath.Join("..", "..", "testdata")
	files, err := filepath.Glob(filepath.Join(root, "sql", "reconcile", "*.slt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/sql/reconcile: %v", err)
	}
	cat, err := catalog.Load(filepath.Join(root, "reconcile", "suite.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".slt"), func(t *testing.T) {
			steps, _ := sqlscript.Parse(t, path)
			addr := startPrimaryCatalog(t, "", cat)
			conn, err := pgconn.Connect(context.Background(), dsn(addr, "steward"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			sqlscript.Run(t, path, "dualgate", conn, steps, true)
		})
	}
}
