package gateway_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/gateway"
)

// testGateway is a dualgate server running inside the test process on a
// loopback port.
type testGateway struct {
	srv  *gateway.Server
	addr string
	stop func()
}

// startGateway starts a server with trust authentication unless mut
// configures otherwise.
func startGateway(t testing.TB, mut func(*gateway.Config)) *testGateway {
	t.Helper()
	cfg := gateway.Config{
		Listen:        "127.0.0.1:0",
		Trust:         true,
		Version:       "test",
		ShutdownGrace: 2 * time.Second,
		Log:           zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}
	if mut != nil {
		mut(&cfg)
	}
	eng := gateway.NewEngine()
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
	var stopped bool
	g.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("server did not stop")
		}
		eng.Close()
	}
	t.Cleanup(g.stop)
	return g
}

func (g *testGateway) dsn(user string) string {
	host, port, _ := net.SplitHostPort(g.addr)
	return fmt.Sprintf("postgres://%s@%s:%s/dualgate?sslmode=disable", user, host, port)
}

func (g *testGateway) connect(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, g.dsn("tester"))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustExec runs statements that must succeed.
func mustExec(t testing.TB, c *pgx.Conn, sqls ...string) {
	t.Helper()
	for _, q := range sqls {
		if _, err := c.Exec(ctxT(t), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
