package main

import (
	"testing"
	"time"
)

// TestMedianRun: the median run by TPS is reported whole (its latencies
// with it), the lower middle one of an even count, and the input order
// is left alone.
func TestMedianRun(t *testing.T) {
	rs := []result{{tps: 30, p99: 3}, {tps: 10, p99: 1}, {tps: 20, p99: 2}}
	if m := medianRun(rs); m.tps != 20 || m.p99 != 2 {
		t.Fatalf("median of three: %+v", m)
	}
	if rs[0].tps != 30 {
		t.Fatalf("input reordered: %+v", rs)
	}
	if m := medianRun(append(rs, result{tps: 40, p99: 4})); m.tps != 20 {
		t.Fatalf("median of four: %+v", m)
	}
	if m := medianRun(rs[:1]); m.tps != 30 {
		t.Fatalf("median of one: %+v", m)
	}
}

// TestIngestMedian: the ingest bar reports each side's median load in
// rows/s (the lower middle of an even count) and lists every load in order.
func TestIngestMedian(t *testing.T) {
	r := ingestResult{rows: 1_000_000, pg: []time.Duration{2 * time.Second, time.Second, 4 * time.Second},
		dg: []time.Duration{4 * time.Second, 2 * time.Second, time.Second, 5 * time.Second}}
	if m := r.median(r.pg); m != 500_000 {
		t.Fatalf("median of three loads: %v rows/s", m)
	}
	if m := r.median(r.dg); m != 250_000 {
		t.Fatalf("median of four loads: %v rows/s", m)
	}
	want := "  3 loads of 1000000 rows each, rows/s: postgresql 500k 1000k 250k; dualgate 250k 500k 1000k 200k"
	if got := r.loadsLine(); got != want {
		t.Fatalf("loads line:\n%q\nwant\n%q", got, want)
	}
}
