package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/projections/redistest"
)

// reloadCatalog is a small context whose projections change between the
// primary's two runs: item_names gains a column, item_prices is removed,
// item_upper is new.
func reloadCatalog(t *testing.T, second bool) *catalog.Catalog {
	t.Helper()
	src := `context: reload
owner: t
sources:
  items_feed:
    columns: {event_id: text, item_id: text, name: text, price: bigint}
    dedupe_key: [event_id]
entities:
  items:
    key: [item_id]
    columns: {item_id: text, name: text, price: bigint}
    mappings:
      - source: items_feed
        version: 1
        select: SELECT item_id, name, price FROM batch
projections:
`
	if !second {
		src += `  item_names:
    key: [item_id]
    freshness_sla: 2s
    select: SELECT item_id, name FROM canonical.items
    affected_by: {items: item_id}
  item_prices:
    key: [item_id]
    freshness_sla: 2s
    select: SELECT item_id, price FROM canonical.items
    affected_by: {items: item_id}
`
	} else {
		src += `  item_names:
    key: [item_id]
    freshness_sla: 2s
    select: SELECT item_id, name, price * 2 AS double_price FROM canonical.items
    affected_by: {items: item_id}
  item_upper:
    key: [item_id]
    freshness_sla: 2s
    select: SELECT item_id, upper(name) AS uname FROM canonical.items
    affected_by: {items: item_id}
`
	}
	cat, err := catalog.LoadFiles(catalog.File{Name: "reload.yaml", Data: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// eventually runs q on c until check accepts the result (or fails after
// 60s, reporting the last result): the sidecar notices a restarted primary
// within its reconnect backoff and the primary materializes asynchronously.
func eventually(t *testing.T, c *pgconn.PgConn, q string, check func([]*pgconn.Result, error) bool) ([]*pgconn.Result, error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := c.Exec(context.Background(), q).ReadAll()
		if check(res, err) {
			return res, err
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no acceptable answer; last: %v %v", q, res, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSidecarFollowsCatalog: a running sidecar picks up the projection
// definitions of a primary restarted with a changed catalog: the new
// projection is served locally, the changed one with its new columns and
// types, and the removed one is no longer served (the primary reports it
// unknown).
func TestSidecarFollowsCatalog(t *testing.T) {
	ctx := context.Background()
	redisURL, _ := redistest.Start(t)
	data := t.TempDir()
	primaryOpts := func(listen string) *serveOptions {
		return &serveOptions{listen: listen, data: data, trust: true, redis: redisURL, shutdownGrace: 2 * time.Second, maxMessage: 1 << 20}
	}
	primaryAddr, stopPrimary := startStoppable(t, primaryOpts("127.0.0.1:0"), reloadCatalog(t, false))
	prim, _ := sidecarConn(t, primaryAddr, "test-direct")
	for _, q := range []string{
		`INSERT INTO raw.items_feed VALUES ('e1', 'i1', 'apple', 10)`,
		`INSERT INTO raw.items_feed VALUES ('e2', 'i2', 'pear', 20)`,
	} {
		if _, err := prim.Exec(ctx, q).ReadAll(); err != nil {
			t.Fatal(err)
		}
	}

	sidecarAddr, _ := startStoppable(t, &serveOptions{role: "sidecar", listen: "127.0.0.1:0", trust: true, redis: redisURL,
		primary: "postgres://" + primaryAddr + "/dualgate?sslmode=disable", shutdownGrace: 2 * time.Second, maxMessage: 1 << 20}, nil)
	sc, _ := sidecarConn(t, sidecarAddr, "test-sidecar")
	served := func(res []*pgconn.Result, err error) bool {
		return err == nil && len(res) == 1 && len(res[0].Rows) == 1
	}
	res, _ := eventually(t, sc, `SELECT * FROM serving.item_prices WHERE item_id = 'i2'`, served)
	if got := string(res[0].Rows[0][1]); got != "20" || !strings.HasPrefix(label(sc), "derived@") {
		t.Fatalf("item_prices before the change: %q, label %s", got, label(sc))
	}
	res, _ = eventually(t, sc, `SELECT * FROM serving.item_names WHERE item_id = 'i1'`, served)
	if got := fieldTypes(res[0].FieldDescriptions); len(got) != 2 {
		t.Fatalf("item_names before the change: columns %v", got)
	}
	if _, err := sc.Exec(ctx, `SELECT * FROM serving.item_upper`).ReadAll(); err == nil {
		t.Fatal("item_upper served before the primary defined it")
	}

	// The primary restarts on the same port with the changed catalog.
	stopPrimary()
	_, port, _ := strings.Cut(primaryAddr, ":")
	addr2, _ := startStoppable(t, primaryOpts("127.0.0.1:"+port), reloadCatalog(t, true))
	if addr2 != primaryAddr {
		t.Fatalf("primary restarted on %s, want %s", addr2, primaryAddr)
	}

	// New projection: served locally (derived, from Redis).
	res, _ = eventually(t, sc, `SELECT uname FROM serving.item_upper WHERE item_id = 'i1'`, served)
	if got := string(res[0].Rows[0][0]); got != "APPLE" || !strings.HasPrefix(label(sc), "derived@") {
		t.Fatalf("item_upper after the change: %q, label %s", got, label(sc))
	}
	// Changed projection: the new columns, with their types.
	res, _ = eventually(t, sc, `SELECT * FROM serving.item_names WHERE item_id = 'i2'`, func(res []*pgconn.Result, err error) bool {
		return served(res, err) && len(res[0].FieldDescriptions) == 3
	})
	fds := res[0].FieldDescriptions
	if fds[2].Name != "double_price" || fds[2].DataTypeOID != 20 || string(res[0].Rows[0][2]) != "40" {
		t.Fatalf("item_names after the change: %v %q", fieldTypes(fds), res[0].Rows[0])
	}
	// Removed projection: not served, a clear error naming it.
	_, err := sc.Exec(ctx, `SELECT * FROM serving.item_prices WHERE item_id = 'i2'`).ReadAll()
	if err == nil || pgCode(err) != "42P01" || !strings.Contains(err.Error(), "item_prices") {
		t.Fatalf("removed projection through the sidecar: %v, want 42P01 naming item_prices", err)
	}
	// The sidecar's own dualgate.projections follows as well.
	res, err = sc.Exec(ctx, `SELECT name FROM dualgate.projections ORDER BY name`).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range res[0].Rows {
		names = append(names, string(r[0]))
	}
	if strings.Join(names, ",") != "item_names,item_upper" {
		t.Fatalf("dualgate.projections on the sidecar: %v", names)
	}
}
