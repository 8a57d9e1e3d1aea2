package reconcile

import (
	"testing"
	"time"
)

// The two ways a canonical bucket summary reaches a commit: a stream
// hashes every row of the entity (ns/row); a move reads the changed keys
// through a net diff and hashes their rows at both ends (ns/key).
// streamCostRatio is about ns/key over ns/row (CPU-bound; compare them in
// one run on a quiet machine).

func summaryBenchFixture(b *testing.B) *summaryFixture {
	f := newSummaryFixture(b, 5, summaryCatalog)
	for i := 0; i < 10; i++ {
		f.commit(20_000)
	}
	return f
}

func BenchmarkSummaryStream(b *testing.B) {
	f := summaryBenchFixture(b)
	br := f.e.bucketSpecs["accounts_records"]
	head := f.canon.Head().ID
	rows := int64(0)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		_, _, _, n, _, err := f.e.canonicalBuckets(f.ctx, br.spec.table, br.spec.names, br.spec.keyIdx, head, nil)
		if err != nil {
			b.Fatal(err)
		}
		rows += int64(n)
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(rows), "ns/row")
}

func BenchmarkSummaryMove(b *testing.B) {
	f := summaryBenchFixture(b)
	br := f.e.bucketSpecs["accounts_records"]
	from := f.canon.Head().ID
	to := f.commit(5_000)
	if _, _, _, err := f.e.summaryAt(f.ctx, br.spec, from); err != nil {
		b.Fatal(err)
	}
	keys := int64(0)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		w := to
		if i%2 == 1 {
			w = from
		}
		_, rd, _, err := f.e.summaryAt(f.ctx, br.spec, w)
		if err != nil || rd.how != "moved" {
			b.Fatalf("%s, %v", rd.how, err)
		}
		keys += int64(rd.keys)
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(keys), "ns/key")
}
