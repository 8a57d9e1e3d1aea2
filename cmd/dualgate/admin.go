package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/cmd/internal/primary"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/metrics"
	"github.com/dualgate/dualgate/projections"
)

// admin is what the admin HTTP listener (--admin) reports, filled in as
// runServe brings the server up and taken away as it goes down:
//
//	/healthz       the process is up (always 200 while it listens)
//	/readyz        200 when clients can be served (see ready), else 503
//	/metrics       Prometheus metrics (package metrics)
//	/debug/pprof/  Go profiles, only with --pprof
//
// The listener starts before the store opens, so a Kubernetes liveness
// probe succeeds while a large store loads and readiness says why it is
// not ready yet.
type admin struct {
	metrics       *metrics.Registry
	pprof         bool
	allowDegraded bool
	catalog       *catalog.Catalog // nil: serving without a catalog

	mu sync.Mutex
	// head and statuses read the canonical store and the projections: nil
	// until the store is open, and again once it is about to close.
	head     func() uint64
	statuses func(context.Context) []projections.Status
	srv      *gateway.Server // nil until the Postgres listener is up
	stopping context.Context // done once shutdown starts
}

func newAdmin(o *serveOptions, cat *catalog.Catalog) *admin {
	a := &admin{pprof: o.pprof, allowDegraded: o.readyDegraded, catalog: cat}
	if o.admin != "" {
		a.metrics = metrics.New(version)
	}
	return a
}

// configure points the gateway config at the metrics (when the admin
// listener is on) and counts every procedure's calls. Call it after the
// procedures are in cfg.
func (a *admin) configure(cfg *gateway.Config) {
	if a.metrics == nil {
		return
	}
	cfg.Metrics = a.metrics
	for name, p := range cfg.Procedures {
		name, run := name, p.Run
		p.Run = func(ctx context.Context, call gateway.CallInfo, args []any) (gateway.ProcedureResult, error) {
			res, err := run(ctx, call, args)
			a.metrics.ProcedureDone(name, err)
			return res, err
		}
		cfg.Procedures[name] = p
	}
}

// attachSide reports the open store and its projections; the returned
// detach must run before the store closes.
func (a *admin) attachSide(side *primary.Side) (detach func()) {
	unobserve := side.Observe(a.metrics)
	a.mu.Lock()
	a.head, a.statuses = side.Head, side.ProjectionStatuses
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		a.head, a.statuses = nil, nil
		a.mu.Unlock()
		unobserve()
	}
}

func (a *admin) setServer(srv *gateway.Server, stopping context.Context) {
	a.mu.Lock()
	a.srv, a.stopping = srv, stopping
	a.mu.Unlock()
}

// check is one line of /readyz.
type check struct {
	name   string
	ok     bool
	detail string
}

// ready runs the readiness checks: not shutting down; the catalog loaded;
// the canonical store open; the Postgres listener accepting; every
// projection materialized and within its freshness SLA. A projection
// check that fails makes the server degraded: not ready, unless
// --ready-when-degraded says to keep serving (derived reads then fail or
// are labeled stale per dualgate.max_staleness). degraded is true then.
func (a *admin) ready(ctx context.Context) (checks []check, ready, degraded bool) {
	a.mu.Lock()
	head, statuses, srv, stopping := a.head, a.statuses, a.srv, a.stopping
	a.mu.Unlock()
	if stopping != nil && stopping.Err() != nil {
		return []check{{"shutdown", false, "shutting down"}}, false, false
	}
	if a.catalog == nil {
		checks = append(checks, check{"catalog", true, "none configured (pg_catalog and session features only)"})
	} else {
		checks = append(checks, check{"catalog", true, a.catalog.Summary()})
		if head == nil {
			checks = append(checks, check{"store", false, "canonical store not open"})
		} else {
			checks = append(checks, check{"store", true, fmt.Sprintf("open, head commit %d", head())})
		}
	}
	if srv == nil || srv.Addr() == nil {
		checks = append(checks, check{"listener", false, "not accepting Postgres clients yet"})
	} else {
		checks = append(checks, check{"listener", true, fmt.Sprintf("%s, %d connections", srv.Addr(), srv.ConnectionCount())})
	}
	ready = true
	for _, c := range checks {
		ready = ready && c.ok
	}
	if statuses != nil {
		var behind []string
		sts := statuses(ctx)
		for _, st := range sts {
			if p := primary.MetricsProjection(st); !metrics.WithinSLA(p) {
				behind = append(behind, describeBehind(st.Name, p, st.Err))
			}
		}
		switch {
		case len(behind) == 0:
			checks = append(checks, check{"projections", true, fmt.Sprintf("%d within SLA", len(sts))})
		case a.allowDegraded:
			degraded = true
			checks = append(checks, check{"projections", true, "degraded (--ready-when-degraded): " + strings.Join(behind, "; ")})
		default:
			ready = false
			checks = append(checks, check{"projections", false, strings.Join(behind, "; ")})
		}
	}
	return checks, ready, degraded
}

func describeBehind(name string, p metrics.Projection, errText string) string {
	switch {
	case !p.Materialized && p.State == "rebuilding":
		return name + " is being built"
	case !p.Materialized:
		return name + " is not materialized"
	case p.State == "error":
		return fmt.Sprintf("%s failing: %s", name, errText)
	}
	return fmt.Sprintf("%s %d commits (%s) behind, SLA %s", name, p.LagCommits, p.Lag.Round(time.Millisecond), p.SLA)
}

func (a *admin) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	checks, ready, degraded := a.ready(ctx)
	var b strings.Builder
	for _, c := range checks {
		mark := "+"
		if !c.ok {
			mark = "-"
		}
		fmt.Fprintf(&b, "[%s] %s: %s\n", mark, c.name, c.detail)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case !ready:
		w.WriteHeader(http.StatusServiceUnavailable)
		b.WriteString("not ready\n")
	case degraded:
		b.WriteString("ready (degraded)\n")
	default:
		b.WriteString("ready\n")
	}
	_, _ = io.WriteString(w, b.String())
}

// listen starts the admin HTTP listener on addr.
func (a *admin) listen(addr string, log zerolog.Logger) (*http.Server, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--admin %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", a.handleReady)
	mux.Handle("/metrics", a.metrics.Handler())
	if a.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("admin listener stopped")
		}
	}()
	log.Info().Str("admin", ln.Addr().String()).Bool("pprof", a.pprof).Msg("admin HTTP listening (/healthz, /readyz, /metrics)")
	return hs, ln.Addr(), nil
}
