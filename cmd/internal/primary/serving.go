package primary

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/gateway/pgtypes"
	"github.com/dualgate/dualgate/projections"
	servingtables "github.com/dualgate/dualgate/projections/sqltables"
)

// serving is the use side: the projection store (embedded, or Redis with
// --redis), the materializer that follows canonical commits, and the
// serving schema.
type serving struct {
	store projections.Store
	mat   *projections.Materializer
	db    *servingtables.Database

	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// openServing materializes cat's projections from the canonical store.
func (c *Side) openServing(ctx context.Context, cat *catalog.Catalog, eng *gateway.Engine, redisURL string, log zerolog.Logger) error {
	var store projections.Store = projections.NewMemoryStore()
	if redisURL != "" {
		rs, err := projections.NewRedisStore(ctx, redisURL)
		if err != nil {
			return fmt.Errorf("--redis %s: %w", redisURL, err)
		}
		store = rs
	}
	// Projection SQL runs on the engine against canonical pinned to the
	// commit being applied.
	query := func(ctx context.Context, q string, asOf uint64) ([]string, [][]any, error) {
		pinned, err := projections.PinAsOf(q, asOf)
		if err != nil {
			return nil, nil, err
		}
		return eng.QueryBatch(ctx, pinned, nil, nil)
	}
	mat, err := projections.New(cat, store, c.store, query, projections.Options{Logger: log})
	if err != nil {
		return err
	}
	db := servingtables.NewDatabase(store, cat)
	for _, t := range db.Tables() {
		declareTable(eng, servingtables.SchemaServing, t)
	}
	eng.AddDatabase(db)
	c.serving = &serving{store: store, mat: mat, db: db}
	return nil
}

// Run brings projections up to date and keeps them following canonical
// until ctx ends or Close is called.
//
// Scheduled reconciliation runs start too (after ReconcileDelay, so
// projections have a chance to come up first).
func (c *Side) Run(ctx context.Context) {
	if c.serving == nil {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	c.serving.cancel = cancel
	c.serving.wg.Add(1)
	go func() {
		defer c.serving.wg.Done()
		// Follow syncs (catches up or rebuilds) every projection in its own
		// goroutine, so a slow rebuild does not hold the others back.
		_ = c.serving.mat.Follow(ctx)
	}()
	if c.recon != nil {
		c.serving.wg.Add(1)
		go func() {
			defer c.serving.wg.Done()
			c.recon.eng.Start(ctx, ReconcileDelay)
		}()
	}
}

// ReconcileDelay is how long after Run scheduled reconciliation starts.
var ReconcileDelay = 10 * time.Second

func (c *Side) stopServing() {
	if c.serving != nil && c.serving.cancel != nil {
		c.serving.cancel()
		c.serving.wg.Wait()
	}
}

// Projection implements gateway.Freshness.
func (c *Side) Projection(ctx context.Context, name string) (gateway.ProjectionFreshness, bool) {
	if c.serving == nil || c.serving.db == nil {
		return gateway.ProjectionFreshness{}, false
	}
	st, err := c.serving.mat.Status(ctx, name)
	if err != nil {
		return gateway.ProjectionFreshness{}, false
	}
	return gateway.ProjectionFreshness{
		Watermark: st.Watermark, LagCommits: st.LagCommits, Lag: st.Lag, SLA: st.SLA,
		Available: st.Generation != "",
	}, true
}

// projectionsTable is dualgate.projections: watermark and lag per projection.
func (c *Side) projectionsTable() gateway.SystemTable {
	return gateway.SystemTable{
		Name:        "projections",
		Description: "DERIVED (non-authoritative): each serving projection's store, generation, watermark and lag behind canonical",
		Columns: []gateway.SystemColumn{{Name: "name", OID: pgtypes.Text}, {Name: "store", OID: pgtypes.Text},
			{Name: "generation", OID: pgtypes.Text}, {Name: "watermark_commit", OID: pgtypes.Int8},
			{Name: "head_commit", OID: pgtypes.Int8}, {Name: "lag_commits", OID: pgtypes.Int8},
			{Name: "lag_ms", OID: pgtypes.Int8}, {Name: "sla_ms", OID: pgtypes.Int8}, {Name: "state", OID: pgtypes.Text},
			{Name: "error", OID: pgtypes.Text}},
		Rows: func(ctx context.Context) ([][]any, error) {
			if c.serving == nil {
				return nil, nil
			}
			var rows [][]any
			for _, st := range c.serving.mat.Statuses(ctx) {
				var errText any
				if st.Err != "" {
					errText = st.Err
				}
				rows = append(rows, []any{st.Name, st.Store, st.Generation, int64(st.Watermark), int64(st.Head),
					int64(st.LagCommits), st.Lag.Milliseconds(), st.SLA.Milliseconds(), string(st.State), errText})
			}
			return rows, nil
		},
	}
}
