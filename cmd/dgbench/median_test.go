package main

import "testing"

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
