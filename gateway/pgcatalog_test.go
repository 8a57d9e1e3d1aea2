package gateway_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/gateway"
)

// startCatalogGateway is startGateway with the Postgres catalogs
// installed (NewEngine may already do it; installing twice is a no-op).
func startCatalogGateway(t testing.TB) *testGateway {
	t.Helper()
	cfg := gateway.Config{
		Listen:        "127.0.0.1:0",
		Trust:         true,
		Version:       "test",
		ShutdownGrace: 2 * time.Second,
		Log:           zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}
	eng := gateway.NewEngine()
	if err := eng.InstallPgCatalog(); err != nil {
		t.Fatalf("install pg_catalog: %v", err)
	}
	srv, err := gateway.NewServer(cfg, eng)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	g := &testGateway{srv: srv, addr: srv.Addr().String()}
	stopped := false
	g.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Errorf("server did not stop")
		}
		eng.Close()
	}
	t.Cleanup(g.stop)
	return g
}

// TestPgCatalogServe keeps a catalog-enabled gateway with sample tables up
// for manual psql sessions: DUALGATE_PGCATALOG_SERVE=seconds.
func TestPgCatalogServe(t *testing.T) {
	secs := os.Getenv("DUALGATE_PGCATALOG_SERVE")
	if secs == "" {
		t.Skip("set DUALGATE_PGCATALOG_SERVE=seconds to keep a gateway up for psql")
	}
	var n int
	fmt.Sscan(secs, &n)
	g := startCatalogGateway(t)
	c := g.connect(t)
	mustExec(t, c, catalogFixture...)
	host, port, _ := net.SplitHostPort(g.addr)
	fmt.Fprintf(os.Stderr, "GATEWAY psql -h %s -p %s -U tester dualgate\n", host, port)
	time.Sleep(time.Duration(n) * time.Second)
}

// catalogFixture creates tables with keys, defaults and comments.
var catalogFixture = []string{
	`CREATE TABLE customers (id bigint PRIMARY KEY, name varchar(40) NOT NULL, email text, created timestamptz DEFAULT now())`,
	`CREATE TABLE orders (order_id text PRIMARY KEY, customer_id bigint, total numeric(12,2), paid boolean, note text)`,
	`CREATE SCHEMA serving`,
	`CREATE TABLE serving.order_totals (customer_id bigint, day date, total numeric, PRIMARY KEY (customer_id, day))`,
}
