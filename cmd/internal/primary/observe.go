package primary

import (
	"context"
	"time"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/canonical/ingest"
	"github.com/dualgate/dualgate/metrics"
	"github.com/dualgate/dualgate/projections"
	"github.com/dualgate/dualgate/reconcile"
)

// ProjectionStatuses reports every projection's freshness, in catalog
// order (nil when the catalog declares none).
func (c *Side) ProjectionStatuses(ctx context.Context) []projections.Status {
	if c.serving == nil {
		return nil
	}
	return c.serving.mat.Statuses(ctx)
}

// Observe reports this side to reg: pipeline batches as they finish,
// canonical's head, projection freshness, Redis errors and the Redis near
// cache on scrape. Call
// it before Run. The returned detach stops the scrape-time reads; call it
// before Close.
func (c *Side) Observe(reg *metrics.Registry) (detach func()) {
	if reg == nil {
		return func() {}
	}
	c.pipeline.SetObserver(func(rep ingest.Report, err error) {
		b := metrics.Batch{Kind: string(rep.Kind), Source: rep.Source, Failed: err != nil,
			Received: rep.Received, Committed: rep.Committed, Unchanged: rep.Unchanged,
			Duplicates: rep.Duplicates, Quarantined: rep.Quarantined,
			QuarantineRecords: len(rep.QuarantineIDs), MadeCommit: rep.CommitID != 0}
		if rep.Kind == canonical.KindCorrection {
			b.Source = rep.Entity
		}
		reg.Ingested(b)
	})
	reg.SetHead(func() metrics.Head {
		h := c.store.Head()
		return metrics.Head{ID: h.ID, CommittedAt: h.CommittedAt}
	})
	if c.serving != nil {
		if rs, ok := c.serving.store.(*projections.RedisStore); ok {
			rs.Client().AddHook(reg.RedisHook())
			reg.SetNearCache(func() metrics.NearCache { return metrics.NearCache(rs.NearCacheStats()) })
		}
		reg.SetProjections(func(ctx context.Context) []metrics.Projection {
			sts := c.serving.mat.Statuses(ctx)
			out := make([]metrics.Projection, len(sts))
			for i, st := range sts {
				out[i] = MetricsProjection(st)
			}
			return out
		})
	}
	if c.recon != nil {
		re := c.recon.eng
		re.SetObserver(func(r reconcile.Run) { reg.ReconcileRun(r.Rule, r.Outcome, r.Finished.Sub(r.Started)) })
		reg.SetReconcile(func(context.Context) []metrics.ReconcileRule {
			now := time.Now()
			var out []metrics.ReconcileRule
			for _, st := range re.Status() {
				rr := metrics.ReconcileRule{Rule: st.Rule, OpenExceptions: st.Open}
				if !st.OldestOpen.IsZero() {
					rr.OldestOpen = now.Sub(st.OldestOpen)
				}
				out = append(out, rr)
			}
			return out
		})
	}
	return func() {
		if c.recon != nil {
			c.recon.eng.SetObserver(nil)
			reg.SetReconcile(nil)
		}
		reg.SetProjections(nil)
		reg.SetNearCache(nil)
		reg.SetHead(nil)
		c.pipeline.SetObserver(nil)
	}
}

// MetricsProjection is st as package metrics reports it.
func MetricsProjection(st projections.Status) metrics.Projection {
	return metrics.Projection{Name: st.Name, Store: st.Store, State: string(st.State),
		Materialized: st.Generation != "", Watermark: st.Watermark, LagCommits: st.LagCommits,
		Lag: st.Lag, SLA: st.SLA, Rebuilds: st.Rebuilds, RebuildFailures: st.RebuildFailures}
}
