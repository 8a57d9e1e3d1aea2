package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Head is canonical's newest commit.
type Head struct {
	ID          uint64
	CommittedAt time.Time
}

// Projection is one serving projection's freshness at scrape time (a row
// of dualgate.projections plus its rebuild counts).
type Projection struct {
	Name         string
	Store        string // memory or redis
	State        string // ok, lagging, rebuilding, error
	Materialized bool   // a generation exists
	Watermark    uint64 // last canonical commit applied
	LagCommits   uint64
	Lag          time.Duration
	SLA          time.Duration
	// Rebuilds and RebuildFailures count finished rebuilds since start
	// (automatic and CALL dualgate.rebuild).
	Rebuilds, RebuildFailures uint64
}

// ReconcileRule is one reconciliation rule's exception queue at scrape time.
type ReconcileRule struct {
	Rule           string
	OpenExceptions int
	// OldestOpen is the age of the oldest open exception (0 when none).
	OldestOpen time.Duration
}

// sources is the scrape-time collector: it calls the registered source
// functions and turns what they report into gauges (and the rebuild
// counters, which the materializer keeps).
type sources struct {
	// mu is read-held for a whole Collect, so a Set* (e.g. SetProjections(nil)
	// before the store closes) waits for scrapes still using the old source.
	mu          sync.RWMutex
	head        func() Head
	projections func(context.Context) []Projection
	reconcile   func(context.Context) []ReconcileRule

	headID, headTime                         *prometheus.Desc
	wm, lagCommits, lagSeconds, sla, withinS *prometheus.Desc
	state, materialized, rebuilds            *prometheus.Desc
	openExc, oldestExc                       *prometheus.Desc
}

// projectionStates are the values of dualgate_projection_state's state label.
var projectionStates = []string{"ok", "lagging", "rebuilding", "error"}

func (s *sources) init() {
	p := []string{"projection"}
	s.headID = prometheus.NewDesc("dualgate_canonical_head_commit", "Canonical head commit id (commit ids are gap-free).", nil, nil)
	s.headTime = prometheus.NewDesc("dualgate_canonical_head_commit_timestamp_seconds", "Commit time of the canonical head, Unix seconds.", nil, nil)
	s.wm = prometheus.NewDesc("dualgate_projection_watermark_commit", "Last canonical commit applied to the projection.", p, nil)
	s.lagCommits = prometheus.NewDesc("dualgate_projection_lag_commits", "Canonical commits the projection is behind the head.", p, nil)
	s.lagSeconds = prometheus.NewDesc("dualgate_projection_lag_seconds", "Time since the oldest canonical commit the projection has not applied (0 when caught up).", p, nil)
	s.sla = prometheus.NewDesc("dualgate_projection_freshness_sla_seconds", "The projection's freshness SLA from the catalog.", p, nil)
	s.withinS = prometheus.NewDesc("dualgate_projection_within_sla", "1 when the projection is materialized and its lag is within its SLA, else 0.", p, nil)
	s.state = prometheus.NewDesc("dualgate_projection_state", "1 for the projection's current maintenance state (ok, lagging, rebuilding, error).", []string{"projection", "state"}, nil)
	s.materialized = prometheus.NewDesc("dualgate_projection_materialized", "1 when the projection has a generation in its store (embedded or Redis).", []string{"projection", "store"}, nil)
	s.rebuilds = prometheus.NewDesc("dualgate_projection_rebuilds_total", "Finished projection rebuilds since start, by outcome.", []string{"projection", "outcome"}, nil)
	s.openExc = prometheus.NewDesc("dualgate_reconcile_open_exceptions", "Open (not resolved) reconciliation exceptions, by rule.", []string{"rule"}, nil)
	s.oldestExc = prometheus.NewDesc("dualgate_reconcile_oldest_open_exception_age_seconds", "Age of the oldest open exception, by rule (0 when none).", []string{"rule"}, nil)
}

// Describe implements prometheus.Collector.
func (s *sources) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.headID, s.headTime, s.wm, s.lagCommits, s.lagSeconds, s.sla,
		s.withinS, s.state, s.materialized, s.rebuilds, s.openExc, s.oldestExc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *sources) Collect(ch chan<- prometheus.Metric) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	head, projs, rec := s.head, s.projections, s.reconcile
	ctx, cancel := scrapeContext()
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if head != nil {
		h := head()
		gauge(s.headID, float64(h.ID))
		if !h.CommittedAt.IsZero() {
			gauge(s.headTime, float64(h.CommittedAt.UnixNano())/1e9)
		}
	}
	if projs != nil {
		for _, p := range projs(ctx) {
			gauge(s.wm, float64(p.Watermark), p.Name)
			gauge(s.lagCommits, float64(p.LagCommits), p.Name)
			gauge(s.lagSeconds, p.Lag.Seconds(), p.Name)
			gauge(s.sla, p.SLA.Seconds(), p.Name)
			gauge(s.withinS, b2f(WithinSLA(p)), p.Name)
			for _, st := range projectionStates {
				gauge(s.state, b2f(p.State == st), p.Name, st)
			}
			gauge(s.materialized, b2f(p.Materialized), p.Name, p.Store)
			ch <- prometheus.MustNewConstMetric(s.rebuilds, prometheus.CounterValue, float64(p.Rebuilds), p.Name, OutcomeOK)
			ch <- prometheus.MustNewConstMetric(s.rebuilds, prometheus.CounterValue, float64(p.RebuildFailures), p.Name, OutcomeError)
		}
	}
	if rec != nil {
		for _, r := range rec(ctx) {
			gauge(s.openExc, float64(r.OpenExceptions), r.Rule)
			gauge(s.oldestExc, r.OldestOpen.Seconds(), r.Rule)
		}
	}
}

// WithinSLA reports whether p is materialized, not failing, and no further
// behind canonical than its freshness SLA: the test of dualgate_projection_within_sla
// and of the admin listener's /readyz.
func WithinSLA(p Projection) bool {
	if !p.Materialized || p.State == "error" {
		return false
	}
	return p.LagCommits == 0 || p.Lag <= p.SLA
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// SetHead makes every scrape report canonical's head from fn.
func (r *Registry) SetHead(fn func() Head) {
	if r == nil {
		return
	}
	r.src.mu.Lock()
	r.src.head = fn
	r.src.mu.Unlock()
}

// SetProjections makes every scrape report projection freshness from fn
// (e.g. the binary's adapter of projections.Materializer.Statuses). nil
// stops reporting; it returns once no scrape uses the previous fn, so the
// store behind it may be closed then.
func (r *Registry) SetProjections(fn func(context.Context) []Projection) {
	if r == nil {
		return
	}
	r.src.mu.Lock()
	r.src.projections = fn
	r.src.mu.Unlock()
}

// SetReconcile makes every scrape report the reconciliation exception
// queue from fn (the reconcile package's open exceptions, grouped by rule).
func (r *Registry) SetReconcile(fn func(context.Context) []ReconcileRule) {
	if r == nil {
		return
	}
	r.src.mu.Lock()
	r.src.reconcile = fn
	r.src.mu.Unlock()
}
