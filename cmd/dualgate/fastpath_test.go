package main

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/cmd/internal/primary"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/testdata"
)

// startServer is startPrimary with the server object at hand.
func startServer(t *testing.T) (*gateway.Server, string) {
	t.Helper()
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	eng := gateway.NewEngine()
	side, err := primary.Open(ctx, t.TempDir(), cat, eng, "", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.Config{Listen: "127.0.0.1:0", Trust: true, Version: "test", Log: zerolog.Nop(), ShutdownGrace: time.Second}
	side.Configure(&cfg)
	srv, err := gateway.NewServer(cfg, eng)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		side.Close()
		eng.Close()
	})
	return srv, srv.Addr().String()
}

// TestFastPathMatchesEngine runs random point and non-point queries through
// the fast path (one session) and through the engine (a session with
// dualgate.fast_path = off) and compares row descriptions, rows and labels.
func TestFastPathMatchesEngine(t *testing.T) {
	srv, addr := startServer(t)
	ctx := context.Background()
	fast, err := pgconn.Connect(ctx, dsn(addr, "loader"))
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close(ctx)
	slow, err := pgconn.Connect(ctx, dsn(addr, "loader"))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close(ctx)
	if _, err := slow.Exec(ctx, `SET dualgate.fast_path = off`).ReadAll(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 30; i++ {
		q := fmt.Sprintf(`INSERT INTO raw.oms_orders VALUES ('e%d','o-%d',1,'SUBMITTED','c%d','x%d@example.com','+1','web','eu','eur','sku-%d',%d,100,%d,'2024-05-01 10:00:00+00','2024-05-01 10:00:00+00'), ('e%d','o-%d',2,'SUBMITTED','c%d','x%d@example.com','+1','web','eu','eur','sku-b',1,50,%d,'2024-05-01 10:00:00+00','2024-05-01 10:00:00+00')`,
			i, i, i, i, i, i%4+1, 100*i, i, i, i, i, 100*i)
		if _, err := fast.Exec(ctx, q).ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	type query struct {
		sql    string
		params func(r *rand.Rand) [][]byte
		point  bool
	}
	id := func(r *rand.Rand) []byte { return []byte(fmt.Sprintf("o-%d", r.Intn(40))) } // some miss
	queries := []query{
		{`SELECT order_id, status, total_cents FROM canonical.commercial_orders WHERE order_id = $1`, func(r *rand.Rand) [][]byte { return [][]byte{id(r)} }, true},
		{`SELECT * FROM canonical.commercial_orders WHERE order_id = $1`, func(r *rand.Rand) [][]byte { return [][]byte{id(r)} }, true},
		{`SELECT o.status AS s, o.placed_at FROM canonical.commercial_orders o WHERE o.order_id = $1`, func(r *rand.Rand) [][]byte { return [][]byte{id(r)} }, true},
		{`SELECT sku, quantity FROM canonical.order_lines WHERE line_no = $2 AND order_id = $1`, func(r *rand.Rand) [][]byte { return [][]byte{id(r), []byte(fmt.Sprint(r.Intn(3) + 1))} }, true},
		{`SELECT order_id FROM canonical.commercial_orders WHERE order_id = 'o-7'`, nil, true},
		{`SELECT order_id, status FROM canonical.commercial_orders FOR SYSTEM_TIME AS OF 'HEAD~5' WHERE order_id = $1`, func(r *rand.Rand) [][]byte { return [][]byte{id(r)} }, true},
		{`SELECT order_id, status FROM canonical.commercial_orders AS OF 12 WHERE order_id = $1`, func(r *rand.Rand) [][]byte { return [][]byte{id(r)} }, true},
		{`SELECT order_id, total_cents FROM canonical.commercial_orders WHERE total_cents = $1`, func(r *rand.Rand) [][]byte { return [][]byte{[]byte(fmt.Sprint(100 * r.Intn(35)))} }, false},
		{`SELECT sku FROM canonical.order_lines WHERE order_id = $1`, func(r *rand.Rand) [][]byte { return [][]byte{id(r)} }, false},
	}
	r := rand.New(rand.NewSource(7))
	points := 0
	before := srv.FastPathHits()
	for i := 0; i < 300; i++ {
		q := queries[r.Intn(len(queries))]
		var params [][]byte
		if q.params != nil {
			params = q.params(r)
		}
		format := int16(r.Intn(2))
		a := fast.ExecParams(ctx, q.sql, params, nil, nil, []int16{format}).Read()
		authA := fast.ParameterStatus("dualgate.authority") + "@" + fast.ParameterStatus("dualgate.as_of")
		b := slow.ExecParams(ctx, q.sql, params, nil, nil, []int16{format}).Read()
		authB := slow.ParameterStatus("dualgate.authority") + "@" + slow.ParameterStatus("dualgate.as_of")
		if a.Err != nil || b.Err != nil {
			t.Fatalf("%s %q: fast %v, engine %v", q.sql, params, a.Err, b.Err)
		}
		if !reflect.DeepEqual(a.FieldDescriptions, b.FieldDescriptions) {
			t.Fatalf("%s: row descriptions differ:\nfast   %+v\nengine %+v", q.sql, a.FieldDescriptions, b.FieldDescriptions)
		}
		if !reflect.DeepEqual(a.Rows, b.Rows) || a.CommandTag.String() != b.CommandTag.String() {
			t.Fatalf("%s %q (format %d): rows differ:\nfast   %q %s\nengine %q %s", q.sql, params, format, a.Rows, a.CommandTag, b.Rows, b.CommandTag)
		}
		if authA != authB || authA[:len("authoritative@")] != "authoritative@" {
			t.Fatalf("%s: labels fast %s engine %s, want the same authoritative label", q.sql, authA, authB)
		}
		if q.point {
			points++
		}
	}
	if got := srv.FastPathHits() - before; got != uint64(points) {
		t.Fatalf("fast path answered %d queries, want exactly the %d point lookups of the fast session", got, points)
	}
}
