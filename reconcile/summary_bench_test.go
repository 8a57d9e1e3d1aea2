package reconcile

import (
	"syscall"
	"testing"
)

// cpuNow is the process's user + system CPU time in ns: the stream hashes
// in parallel workers, so wall time would flatter it on an idle machine
// and misstate it on a shared one.
func cpuNow() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// The two ways a canonical bucket summary reaches a commit: a stream
// hashes every row of the entity (ns/row); a move reads the changed keys
// through a net diff and hashes their rows at both ends (ns/key).
// streamCostRatio is about cpu-ns/key over cpu-ns/row (process CPU time
// around the loop; compare them in one run).

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
	start := cpuNow()
	for i := 0; i < b.N; i++ {
		_, _, _, n, _, err := f.e.canonicalBuckets(f.ctx, br.spec.table, br.spec.names, br.spec.keyIdx, head, nil)
		if err != nil {
			b.Fatal(err)
		}
		rows += int64(n)
	}
	b.ReportMetric(float64(cpuNow()-start)/float64(rows), "cpu-ns/row")
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
	start := cpuNow()
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
	b.ReportMetric(float64(cpuNow()-start)/float64(keys), "cpu-ns/key")
}
