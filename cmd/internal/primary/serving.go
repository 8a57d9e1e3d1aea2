package primary

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/cmd/internal/servingview"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/gateway/pgerror"
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
	log   zerolog.Logger

	wg     sync.WaitGroup
	cancel context.CancelFunc
	closed bool // store closed (closeServingStore)
}

// openServing materializes cat's projections from the canonical store.
func (c *Side) openServing(ctx context.Context, cat *catalog.Catalog, eng *gateway.Engine, redisURL string, log zerolog.Logger) error {
	var store projections.Store = projections.NewMemoryStore()
	if redisURL != "" {
		rs, err := projections.NewRedisStoreWith(ctx, redisURL, projections.RedisOptions{Log: log})
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
		_ = store.Close()
		return err
	}
	db := servingtables.NewDatabase(store, cat)
	for _, t := range db.Tables() {
		declareTable(eng, servingtables.SchemaServing, t)
	}
	for _, t := range db.ServingTables() {
		declareTable(eng, servingtables.SchemaServing, t)
	}
	if err := db.Init(ctx); err != nil {
		_ = store.Close()
		return fmt.Errorf("serving tables: %w", err)
	}
	eng.AddDatabase(db)
	c.serving = &serving{store: store, mat: mat, db: db, log: log}
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
	if c.serving.db.HasServingTables() {
		c.serving.wg.Add(1)
		go func() {
			defer c.serving.wg.Done()
			c.serving.purgeLoop(ctx)
		}()
	}
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

// closeServingStore closes the serving store once nothing reads it any
// more: for Redis, its client and the near cache's goroutines, which would
// otherwise outlive the side.
func (c *Side) closeServingStore() {
	if c.serving != nil && !c.serving.closed {
		c.serving.closed = true
		_ = c.serving.store.Close()
	}
}

// Projection implements gateway.Freshness. A non-authoritative serving
// table is reported as such (no watermark, nothing to be stale against).
func (c *Side) Projection(ctx context.Context, name string) (gateway.ProjectionFreshness, bool) {
	if c.serving == nil || c.serving.db == nil {
		return gateway.ProjectionFreshness{}, false
	}
	for _, t := range c.serving.db.ServingTables() {
		if strings.EqualFold(t.Name(), name) {
			return gateway.ProjectionFreshness{ServingTable: true, Available: true}, true
		}
	}
	st, err := c.serving.mat.Status(ctx, name)
	if err != nil {
		return gateway.ProjectionFreshness{}, false
	}
	pf := gateway.ProjectionFreshness{
		Watermark: st.Watermark, LagCommits: st.LagCommits, Lag: st.Lag, SLA: st.SLA,
		Available: st.Generation != "",
	}
	if p, ok := c.serving.mat.Projection(name); ok {
		pf.Select = p.Select
	}
	return pf, true
}

// The fast path labels projection lookups from the read itself.
var _ gateway.ReadFreshness = (*Side)(nil)

// StampRead implements gateway.ReadFreshness: a projection read under the
// returned context records the generation and watermark it read at.
func (c *Side) StampRead(ctx context.Context) context.Context {
	return projections.WithReadStamp(ctx, &projections.ReadStamp{})
}

// ProjectionRead implements gateway.ReadFreshness: serving.<name>'s
// freshness as of the data a read under ctx returned (the watermark the
// store read with the row, in the same round trip), against canonical's
// head now. ok is false when no read of that projection was recorded.
func (c *Side) ProjectionRead(ctx context.Context, name string) (gateway.ProjectionFreshness, bool) {
	rs := projections.ReadStampFrom(ctx)
	if c.serving == nil || rs == nil || !rs.Set || !strings.EqualFold(rs.Proj, name) {
		return gateway.ProjectionFreshness{}, false
	}
	st, err := c.serving.mat.ReadStatus(ctx, rs)
	if err != nil {
		return gateway.ProjectionFreshness{}, false
	}
	pf := gateway.ProjectionFreshness{
		Watermark: st.Watermark, LagCommits: st.LagCommits, Lag: st.Lag, SLA: st.SLA,
		Available: st.Generation != "",
	}
	if p, ok := c.serving.mat.Projection(rs.Proj); ok {
		pf.Select = p.Select
	}
	return pf, true
}

// RetentionInterval is how often rows past their serving table's
// retention are purged.
var RetentionInterval = time.Minute

// purgeLoop deletes serving-table rows past their retention every
// RetentionInterval (and once at start) until ctx ends.
func (s *serving) purgeLoop(ctx context.Context) {
	t := time.NewTicker(RetentionInterval)
	defer t.Stop()
	for {
		n, err := s.db.Purge(ctx, time.Now())
		if err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("serving table retention: purge failed; retrying at the next interval")
		}
		for table, rows := range n {
			s.log.Info().Str("table", "serving."+table).Int("rows", rows).Msg("serving table retention: purged rows past retention")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// commitServing applies the session's pending serving-table writes
// (gateway.TxHooks.Commit, after the canonical batch).
func (c *Side) commitServing(ctx context.Context, sessionID uint32) error {
	if c.serving == nil {
		return nil
	}
	err := c.serving.db.Commit(ctx, sessionID)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, servingtables.ErrDuplicateKey):
		return pgerror.Wrap(pgerror.UniqueViolation, err)
	case errors.Is(err, servingtables.ErrUnavailable):
		return pgerror.Wrap("55000", err).WithHint("the serving store is unreachable; retry when it is back")
	}
	return err
}

// rollbackServing drops the session's pending serving-table writes.
func (c *Side) rollbackServing(sessionID uint32) {
	if c.serving != nil {
		c.serving.db.Rollback(sessionID)
	}
}

// projectionsTable is dualgate.projections: watermark and lag per projection.
func (c *Side) projectionsTable() gateway.SystemTable {
	return servingview.Table("DERIVED (non-authoritative): each serving projection's store, generation, watermark and lag behind canonical",
		func(ctx context.Context) []projections.Status {
			if c.serving == nil {
				return nil
			}
			return c.serving.mat.Statuses(ctx)
		})
}

// Materializer is the projections' materializer (nil without serving).
func (c *Side) Materializer() *projections.Materializer {
	if c.serving == nil {
		return nil
	}
	return c.serving.mat
}
