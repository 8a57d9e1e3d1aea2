package sidecar

import (
	"context"
	"testing"
	"time"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/projections"
	"github.com/dualgate/dualgate/projections/redistest"
)

// The sidecar implements the gateway's read freshness.
var _ gateway.ReadFreshness = (*Sidecar)(nil)

// TestSidecarProjectionRead: the freshness of a stamped read is the
// watermark Redis returned with the row, against the polled head, and a
// read the store could not serve is reported unavailable.
func TestSidecarProjectionRead(t *testing.T) {
	url, _ := redistest.Start(t)
	ctx := context.Background()
	store, err := projections.NewRedisStore(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p := &catalog.Projection{Name: "kv", FreshnessSLA: time.Second, Select: "SELECT id FROM canonical.kv"}
	s := &Sidecar{store: store}
	s.defs.Store(&defs{projs: map[string]*catalog.Projection{"kv": p}, order: []string{"kv"}})
	s.head.start = time.Now()

	// Not materialized: unavailable.
	rctx := s.StampRead(ctx)
	if _, _, err := store.Get(rctx, "kv", []any{int64(1)}); err == nil {
		t.Fatal("get of a projection never materialized succeeded")
	}
	if pf, ok := s.ProjectionRead(rctx, "kv"); !ok || pf.Available {
		t.Fatalf("unmaterialized read: %+v ok %v, want unavailable", pf, ok)
	}

	if err := store.Apply(ctx, "kv", "g1", 4, []projections.Entry{{Key: []any{int64(1)}, Row: []any{int64(1)}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := store.SwitchGeneration(ctx, "kv", "g1"); err != nil {
		t.Fatal(err)
	}
	s.head.observe(6, time.Now().Add(-time.Minute)) // the primary is at 6
	rctx = s.StampRead(ctx)
	// Nothing read yet under this context: no answer.
	if _, ok := s.ProjectionRead(rctx, "kv"); ok {
		t.Fatal("ProjectionRead answered before any read")
	}
	if _, found, err := store.Get(rctx, "kv", []any{int64(1)}); err != nil || !found {
		t.Fatalf("get: %v %v", found, err)
	}
	pf, ok := s.ProjectionRead(rctx, "KV")
	if !ok || !pf.Available || pf.Watermark != 4 || pf.LagCommits != 2 || pf.Lag <= 0 || pf.SLA != time.Second || pf.Select != p.Select {
		t.Fatalf("read freshness %+v ok %v, want watermark 4, 2 commits behind", pf, ok)
	}
	if _, ok := s.ProjectionRead(rctx, "other"); ok {
		t.Fatal("ProjectionRead answered for a projection that was not read")
	}
}
