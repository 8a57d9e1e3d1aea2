package gateway_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dualgate/dualgate/canonical/audit"
	"github.com/dualgate/dualgate/gateway"
)

// auditLogSink stores the gateway's records in a real audit trail, as the
// primary does (cmd/internal/primary/governance.go).
type auditLogSink struct{ log *audit.Log }

func (a auditLogSink) Audit(r gateway.AuditRecord) {
	a.log.Append(audit.Record{At: r.At, User: r.User, Role: r.Role, Application: r.ApplicationName, ClientAddr: r.ClientAddr,
		Fingerprint: r.Fingerprint, Statement: r.Statement, Relations: r.Relations, Authority: r.Authority, AsOf: r.AsOf,
		Rows: r.Rows, DurationMS: float64(r.Duration.Microseconds()) / 1000, SQLState: r.SQLState})
}

// BenchmarkAuditOverhead measures what the audit trail adds to a
// statement: one client runs a prepared point lookup (extended protocol)
// over the wire against two servers side by side, one without an audit
// sink ("off") and one with the real hash-chained, group-committed Pebble
// trail ("on"), alternating statement by statement so that load on the
// machine hits both alike. It reports the median latency of each and the
// differences of medians and of means (audit-*-µs/stmt): record building, literal masking (from
// the normalizer cache), the enqueue, and the writer's share of the CPU
// (the fsync is the writer's, batched every 10 ms). "append" is the trail
// alone: one Append per op, in process, sustained (the writer's
// throughput bound).
//
//	go test -run '^$' -bench BenchmarkAuditOverhead -benchtime 20000x -count 3 ./gateway/
func BenchmarkAuditOverhead(b *testing.B) {
	b.Run("wire", func(b *testing.B) {
		var trail *audit.Log
		off := startGateway(b, nil)
		on := startGateway(b, func(cfg *gateway.Config) {
			var err error
			trail, err = audit.Open(b.TempDir(), audit.Options{})
			if err != nil {
				b.Fatal(err)
			}
			cfg.Audit = auditLogSink{trail}
		})
		b.Cleanup(func() { _ = trail.Close() })
		ctx := context.Background()
		conns := []*pgx.Conn{off.connect(b), on.connect(b)}
		for _, c := range conns {
			mustExec(b, c, `CREATE TABLE kv (id bigint PRIMARY KEY, v text)`)
			for i := 0; i < 100; i++ {
				mustExec(b, c, fmt.Sprintf(`INSERT INTO kv VALUES (%d, 'value %d')`, i, i))
			}
		}
		var v string
		lookup := func(c *pgx.Conn, i int) time.Duration {
			start := time.Now()
			if err := c.QueryRow(ctx, `SELECT v FROM kv WHERE id = $1`, int64(i%100)).Scan(&v); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		for i := 0; i < 200; i++ { // warm the prepared statements and caches
			lookup(conns[0], i)
			lookup(conns[1], i)
		}
		lat := [2][]time.Duration{make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			first := i % 2 // alternate which server goes first
			lat[first] = append(lat[first], lookup(conns[first], i))
			lat[1-first] = append(lat[1-first], lookup(conns[1-first], i))
		}
		b.StopTimer()
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := trail.Flush(fctx); err != nil {
			b.Fatal(err)
		}
		med := func(d []time.Duration) float64 {
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			return float64(d[len(d)/2].Nanoseconds()) / 1000
		}
		mean := func(d []time.Duration) float64 {
			var sum time.Duration
			for _, x := range d {
				sum += x
			}
			return float64(sum.Nanoseconds()) / float64(len(d)) / 1000
		}
		offMean, onMean := mean(lat[0]), mean(lat[1])
		offUS, onUS := med(lat[0]), med(lat[1])
		b.ReportMetric(offUS, "off-p50-µs")
		b.ReportMetric(onUS, "on-p50-µs")
		b.ReportMetric(onUS-offUS, "audit-p50-µs/stmt")
		b.ReportMetric(onMean-offMean, "audit-mean-µs/stmt")
	})
	b.Run("append", func(b *testing.B) {
		trail, err := audit.Open(b.TempDir(), audit.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer trail.Close()
		rec := audit.Record{At: time.Now(), User: "alice", Role: "analyst", Application: "bench", ClientAddr: "127.0.0.1",
			Fingerprint: "0123456789abcdef", Statement: "SELECT v FROM kv WHERE id = $1", Relations: []string{"public.kv"},
			Authority: "derived", Rows: 1, DurationMS: 0.1, SQLState: "00000"}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			trail.Append(rec)
		}
		if err := trail.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	})
}
