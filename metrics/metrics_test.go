package metrics

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
)

// sample is the value of the series of metric name with exactly the given
// label values (in label order); ok is false when there is none.
func sample(t *testing.T, r *Registry, name string, values ...string) (v float64, ok bool) {
	t.Helper()
	fams, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(values) {
				continue
			}
			for i, l := range m.GetLabel() {
				if l.GetValue() != values[i] {
					continue series
				}
			}
			return metricValue(m), true
		}
	}
	return 0, false
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

func TestNilRegistryIsANoOp(t *testing.T) {
	var r *Registry
	r.ConnectionOpened()
	r.ConnectionClosed()
	r.StatementDone("", "42601", time.Millisecond)
	r.FastPathHit()
	r.Ingested(Batch{Kind: "ingest", Source: "s"})
	r.ProcedureDone("dualgate.verify", nil)
	r.ReconcileRun("rule", "clean", time.Second)
	r.SetHead(func() Head { return Head{} })
	if err := r.Register(); err != nil {
		t.Fatal(err)
	}
}

func TestStatementLabels(t *testing.T) {
	r := New("test")
	r.StatementDone("authoritative", "", time.Millisecond)
	r.StatementDone("", "", time.Millisecond)
	r.StatementDone("derived", "57014", time.Second)
	r.StatementDone("derived", "00000", time.Second) // successful completion is ok
	r.StatementDone("derived", "", time.Second)      // the cached series again
	r.StatementDone("derived", "22012", time.Second) // an error after the cached ok series
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"authoritative", "ok", "00"}, 1},
		{[]string{"none", "ok", "00"}, 1},
		{[]string{"derived", "error", "57"}, 1},
		{[]string{"derived", "error", "22"}, 1},
		{[]string{"derived", "ok", "00"}, 2},
	} {
		if got, _ := sample(t, r, "dualgate_statements_total", c.labels...); got != c.want {
			t.Errorf("statements%v = %v, want %v", c.labels, got, c.want)
		}
	}
}

func TestScrapeTimeSources(t *testing.T) {
	r := New("test")
	r.SetHead(func() Head { return Head{ID: 42, CommittedAt: time.Unix(1700000000, 0)} })
	r.SetProjections(func(context.Context) []Projection {
		return []Projection{{Name: "p", Store: "memory", State: "lagging", Materialized: true,
			Watermark: 40, LagCommits: 2, Lag: 3 * time.Second, SLA: time.Second, Rebuilds: 1}}
	})
	r.SetReconcile(func(context.Context) []ReconcileRule {
		return []ReconcileRule{{Rule: "shipped_units", OpenExceptions: 3, OldestOpen: time.Minute}}
	})
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"dualgate_canonical_head_commit", nil, 42},
		{"dualgate_canonical_head_commit_timestamp_seconds", nil, 1700000000},
		{"dualgate_projection_lag_commits", []string{"p"}, 2},
		{"dualgate_projection_lag_seconds", []string{"p"}, 3},
		{"dualgate_projection_within_sla", []string{"p"}, 0},
		{"dualgate_projection_state", []string{"p", "lagging"}, 1},
		{"dualgate_projection_state", []string{"p", "ok"}, 0},
		{"dualgate_projection_rebuilds_total", []string{"ok", "p"}, 1},
		{"dualgate_reconcile_open_exceptions", []string{"shipped_units"}, 3},
		{"dualgate_reconcile_oldest_open_exception_age_seconds", []string{"shipped_units"}, 60},
	} {
		if got, ok := sample(t, r, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	r.SetProjections(nil)
	if _, ok := sample(t, r, "dualgate_projection_lag_commits", "p"); ok {
		t.Fatal("projection series still reported after SetProjections(nil)")
	}
}

func TestRedisHookCountsFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	r := New("test")
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	c.AddHook(r.RedisHook())
	if err := c.Get(context.Background(), "k").Err(); err == nil || errors.Is(err, redis.Nil) {
		t.Fatalf("GET against a closed port: %v", err)
	}
	if got, _ := sample(t, r, "dualgate_redis_errors_total", "get"); got != 1 {
		t.Errorf("redis errors{command=get} = %v, want 1", got)
	}
	if got, _ := sample(t, r, "dualgate_redis_errors_total", "dial"); got < 1 {
		t.Errorf("redis errors{command=dial} = %v, want >= 1", got)
	}
}
