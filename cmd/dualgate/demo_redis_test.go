package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/dualgate/dualgate/projections/redistest"
)

// TestDemoRedis runs `dualgate demo --redis` against a real redis-server:
// every projection is materialized in Redis (dualgate.projections says
// store redis, and Redis holds their keys), serving reads answer from it
// labeled derived with the projection's watermark, and as the live trickle
// commits, the watermark follows the head and new orders appear in
// serving.order_timeline.
func TestDemoRedis(t *testing.T) {
	url, _ := redistest.Start(t)
	d := &demoOptions{orders: 200, days: 2, seed: 2, trickleEvery: 100 * time.Millisecond, trickleOrders: 3}
	addr, _, stop := startDemoServe(t, t.TempDir(), d, func(o *serveOptions) { o.redis = url })
	defer stop()
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, dsn(addr, "ops"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	res, err := conn.Exec(ctx, "SELECT name, store FROM dualgate.projections ORDER BY name").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(res[0].Rows) < 5 {
		t.Fatalf("dualgate.projections: %d projections, want the demo's five", len(res[0].Rows))
	}
	for _, r := range res[0].Rows {
		waitMaterialized(t, conn, string(r[0]))
		if string(r[1]) != "redis" {
			t.Errorf("projection %s is served from %q, want redis", r[0], r[1])
		}
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	keys, _, err := rc.Scan(ctx, 0, "dg:{*order_timeline}*", 1000).Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("no order_timeline keys in Redis (%v)", err)
	}
	// Serving reads: derived, as of the projection's watermark.
	before := queryInt(t, conn, "SELECT count(*) FROM serving.order_timeline")
	if a := conn.ParameterStatus("dualgate.authority"); a != "derived" || before == 0 {
		t.Fatalf("serving.order_timeline: %d rows read as %q, want rows, derived", before, a)
	}
	w0 := queryInt(t, conn, "SELECT watermark_commit FROM dualgate.projections WHERE name = 'order_timeline'")
	// The trickle commits; the watermark follows and new orders are served.
	deadline := time.Now().Add(60 * time.Second)
	for {
		w := queryInt(t, conn, "SELECT watermark_commit FROM dualgate.projections WHERE name = 'order_timeline'")
		n := queryInt(t, conn, "SELECT count(*) FROM serving.order_timeline")
		if w > w0 && n > before {
			t.Logf("order_timeline in Redis: watermark %d -> %d, %d -> %d orders", w0, w, before, n)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with the trickle running, the watermark stayed at %d (now %d) and orders at %d (now %d)", w0, w, before, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	lag, err := conn.Exec(ctx, "SELECT head_commit >= watermark_commit, lag_commits >= 0 FROM dualgate.projections WHERE name = 'order_timeline'").ReadAll()
	if err != nil || len(lag[0].Rows) != 1 || string(lag[0].Rows[0][0]) != "t" || string(lag[0].Rows[0][1]) != "t" {
		t.Fatalf("lag of order_timeline: %v %+v", err, lag)
	}
}
