// Package metrics owns dualgate's Prometheus registry and the definition
// of every metric it exports on the admin listener's /metrics.
//
// Two kinds of metric live here:
//
//   - Event counters and histograms, moved where things happen: the
//     binary hands the Registry to the gateway (it implements
//     gateway.Metrics: connections, statements, fast-path hits) and
//     forwards pipeline reports, procedure outcomes and reconciliation
//     runs to it (Ingested, ProcedureDone, ReconcileRun). RedisHook counts
//     Redis errors on a go-redis client.
//   - Scrape-time gauges, read from the status APIs that already exist
//     when Prometheus scrapes (canonical head, projection watermarks and
//     lag, open reconciliation exceptions), registered as source functions
//     with SetHead, SetProjections and SetReconcile. Nothing is polled in
//     between, so these are never stale.
//
// The package imports no other dualgate package (like catalog), so any of
// them may use it; the input types (Batch, Projection, ReconcileRule) are
// its own and the binary adapts the packages' status types to them. Every
// method is safe on a nil *Registry (metrics disabled) and for concurrent
// use.
package metrics

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values of the statement metrics.
const (
	AuthorityAuthoritative = "authoritative"
	AuthorityDerived       = "derived"
	// AuthorityNone is a statement without a result label (SET, BEGIN,
	// SHOW, parse errors).
	AuthorityNone = "none"

	OutcomeOK    = "ok"
	OutcomeError = "error"
)

// latencyBuckets resolve the sub-millisecond range (the serving point
// lookup bar is p99 <= 2 ms) as well as multi-second analytical queries.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// scrapeTimeout bounds the status reads of one scrape (a Redis watermark
// read per projection, an exception count).
const scrapeTimeout = 5 * time.Second

// Registry is dualgate's metric registry; see the package comment.
type Registry struct {
	reg *prometheus.Registry

	connsOpen        prometheus.Gauge
	connsTotal       prometheus.Counter
	statements       *prometheus.CounterVec
	statementSeconds *prometheus.HistogramVec
	fastPath         prometheus.Counter
	ingestBatches    *prometheus.CounterVec
	ingestRows       *prometheus.CounterVec
	quarantined      *prometheus.CounterVec
	commits          *prometheus.CounterVec
	procedures       *prometheus.CounterVec
	redisErrors      *prometheus.CounterVec
	reconcileRuns    *prometheus.CounterVec
	reconcileSeconds *prometheus.HistogramVec

	// okStatement holds, per result label, the children of statements and
	// statementSeconds that a successful statement updates: resolving
	// them by WithLabelValues on every statement cost two allocations
	// and a label hash each (a tenth of a serving lookup's allocations).
	// Filled on first use, so a label never seen adds no series.
	okStatement [3]atomic.Pointer[statementChildren]

	src       sources
	nearCache nearCacheSource
}

// statementChildren are a result label's series of successful statements.
type statementChildren struct {
	count   prometheus.Counter
	seconds prometheus.Observer
}

// authorityIndex numbers the result labels okStatement caches (-1: not
// cached).
func authorityIndex(authority string) int {
	switch authority {
	case AuthorityAuthoritative:
		return 0
	case AuthorityDerived:
		return 1
	case AuthorityNone:
		return 2
	}
	return -1
}

// New returns a registry with every dualgate metric, the Go runtime and
// process collectors (goroutines, memory, file descriptors) and
// dualgate_build_info{version}.
func New(version string) *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.connsOpen = prometheus.NewGauge(prometheus.GaugeOpts{Name: "dualgate_connections_open",
		Help: "Postgres client connections open now (authenticated)."})
	r.connsTotal = prometheus.NewCounter(prometheus.CounterOpts{Name: "dualgate_connections_total",
		Help: "Postgres client connections opened (authenticated) since start."})
	r.statements = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dualgate_statements_total",
		Help: "Statements executed, by result label (authoritative, derived, none), outcome (ok, error) and SQLSTATE class (00 when ok)."},
		[]string{"authority", "outcome", "sqlstate_class"})
	r.statementSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dualgate_statement_duration_seconds",
		Help:    "Statement execution time (start of execution to CommandComplete or error, parse excluded), by result label.",
		Buckets: latencyBuckets}, []string{"authority"})
	r.fastPath = prometheus.NewCounter(prometheus.CounterOpts{Name: "dualgate_fastpath_hits_total",
		Help: "Key lookups answered by the fast path (no engine planning)."})
	r.ingestBatches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dualgate_ingest_batches_total",
		Help: "Pipeline batches (one ingest statement or transaction per source, a replay, a correction per entity), by kind, source (entity for corrections) and outcome."},
		[]string{"kind", "source", "outcome"})
	r.ingestRows = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dualgate_ingest_rows_total",
		Help: "Rows through the pipeline by kind, source and result; received = committed + unchanged + duplicate + quarantined."},
		[]string{"kind", "source", "result"})
	r.quarantined = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dualgate_quarantine_records_total",
		Help: "New dualgate.quarantine records written, by source."}, []string{"source"})
	r.commits = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dualgate_canonical_commits_total",
		Help: "Canonical commits made by the pipeline, by kind (ingest, correction, replay); rate() is the commit rate."},
		[]string{"kind"})
	r.procedures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dualgate_procedure_calls_total",
		Help: "CALLs of dualgate.* and reconcile.* procedures (replay, rebuild, verify, ...), by procedure and outcome."},
		[]string{"procedure", "outcome"})
	r.redisErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dualgate_redis_errors_total",
		Help: "Failed Redis commands (a missing key is not a failure), by command (dial for connection failures)."},
		[]string{"command"})
	r.reconcileRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dualgate_reconcile_runs_total",
		Help: "Reconciliation rule runs, by rule and outcome."}, []string{"rule", "outcome"})
	r.reconcileSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dualgate_reconcile_run_duration_seconds",
		Help: "Reconciliation rule run time, by rule.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"rule"})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dualgate_build_info",
		Help: "Always 1; the version label is the running dualgate version."}, []string{"version"})
	buildInfo.WithLabelValues(version).Set(1)
	r.src.init()
	r.nearCache.init()
	r.reg.MustRegister(r.connsOpen, r.connsTotal, r.statements, r.statementSeconds, r.fastPath,
		r.ingestBatches, r.ingestRows, r.quarantined, r.commits, r.procedures, r.redisErrors,
		r.reconcileRuns, r.reconcileSeconds, buildInfo, &r.src, &r.nearCache,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves the registry in the Prometheus exposition format.
func (r *Registry) Handler() http.Handler {
	if r == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

// Register adds collectors of other packages (e.g. a reconcile collector
// that reads its own state on scrape). Their metric names should start
// with dualgate_.
func (r *Registry) Register(cs ...prometheus.Collector) error {
	if r == nil {
		return nil
	}
	for _, c := range cs {
		if err := r.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Gatherer is the underlying registry, for tests and custom exposition.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// ConnectionOpened counts an authenticated client connection.
func (r *Registry) ConnectionOpened() {
	if r == nil {
		return
	}
	r.connsOpen.Inc()
	r.connsTotal.Inc()
}

// ConnectionClosed counts the end of a connection ConnectionOpened counted.
func (r *Registry) ConnectionClosed() {
	if r == nil {
		return
	}
	r.connsOpen.Dec()
}

// StatementDone counts one executed statement: authority is its result
// label ("" or AuthorityNone when it has none), sqlstate "" on success.
func (r *Registry) StatementDone(authority, sqlstate string, elapsed time.Duration) {
	if r == nil {
		return
	}
	if authority == "" {
		authority = AuthorityNone
	}
	ok := sqlstate == "" || strings.HasPrefix(sqlstate, "00")
	if i := authorityIndex(authority); ok && i >= 0 {
		c := r.okStatement[i].Load()
		if c == nil {
			c = &statementChildren{count: r.statements.WithLabelValues(authority, OutcomeOK, "00"),
				seconds: r.statementSeconds.WithLabelValues(authority)}
			r.okStatement[i].Store(c) // a racing store holds the same children
		}
		c.count.Inc()
		c.seconds.Observe(elapsed.Seconds())
		return
	}
	outcome, class := OutcomeOK, "00"
	if !ok {
		outcome, class = OutcomeError, sqlstate
		if len(class) > 2 {
			class = class[:2]
		}
	}
	r.statements.WithLabelValues(authority, outcome, class).Inc()
	r.statementSeconds.WithLabelValues(authority).Observe(elapsed.Seconds())
}

// FastPathHit counts a lookup answered by the fast path.
func (r *Registry) FastPathHit() {
	if r == nil {
		return
	}
	r.fastPath.Inc()
}

// Batch is one pipeline run as the metrics see it: an ingest batch, a
// replay or a correction.
type Batch struct {
	Kind   string // ingest, replay, correction
	Source string // the source; the entity for corrections
	Failed bool   // the batch was refused or failed: nothing was written
	// Row accounting of a successful batch (see ingest.Report).
	Received, Committed, Unchanged, Duplicates, Quarantined int
	// QuarantineRecords is how many new quarantine records were written.
	QuarantineRecords int
	// MadeCommit is true when the batch made a canonical commit.
	MadeCommit bool
}

// Ingested counts one pipeline batch.
func (r *Registry) Ingested(b Batch) {
	if r == nil {
		return
	}
	if b.Failed {
		r.ingestBatches.WithLabelValues(b.Kind, b.Source, OutcomeError).Inc()
		return
	}
	r.ingestBatches.WithLabelValues(b.Kind, b.Source, OutcomeOK).Inc()
	for _, c := range []struct {
		result string
		n      int
	}{{"received", b.Received}, {"committed", b.Committed}, {"unchanged", b.Unchanged},
		{"duplicate", b.Duplicates}, {"quarantined", b.Quarantined}} {
		// Always touched, so every series exists from the first batch on
		// (increase() over a series that appears late misses its start).
		r.ingestRows.WithLabelValues(b.Kind, b.Source, c.result).Add(float64(c.n))
	}
	r.quarantined.WithLabelValues(b.Source).Add(float64(b.QuarantineRecords))
	if b.MadeCommit {
		r.commits.WithLabelValues(b.Kind).Inc()
	}
}

// ProcedureDone counts a CALL of procedure (schema.name) that ended with err.
func (r *Registry) ProcedureDone(procedure string, err error) {
	if r == nil {
		return
	}
	outcome := OutcomeOK
	if err != nil {
		outcome = OutcomeError
	}
	r.procedures.WithLabelValues(procedure, outcome).Inc()
}

// ReconcileRun counts one run of a reconciliation rule; outcome is the
// run's result as the reconcile package names it (e.g. clean, exceptions,
// pending, error).
func (r *Registry) ReconcileRun(rule, outcome string, took time.Duration) {
	if r == nil {
		return
	}
	r.reconcileRuns.WithLabelValues(rule, outcome).Inc()
	r.reconcileSeconds.WithLabelValues(rule).Observe(took.Seconds())
}

// redisError counts one failed Redis command.
func (r *Registry) redisError(command string) {
	if r == nil {
		return
	}
	r.redisErrors.WithLabelValues(command).Inc()
}

// scrapeContext is the context of one scrape's status reads.
func scrapeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), scrapeTimeout)
}
