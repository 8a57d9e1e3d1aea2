package audit

import (
	"context"
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// BenchmarkTrailCPU appends b.N records shaped like 8 pgbench connections
// running one prepared point lookup, as fast as 8 goroutines can, then
// flushes and closes the trail, and reports the process's CPU time per
// record (getrusage of the whole process, user+sys: the appenders, the
// writer, hashing and Pebble's WAL, flushes and compactions) and the
// database's size on disk per record after Close. CPU, not ns/op: the
// machine is shared, wall time is noise. Run it long enough for memtables
// to flush and compactions to run, e.g.
//
//	go test ./canonical/audit/ -run '^$' -bench TrailCPU -benchtime 300000x -count 5
func BenchmarkTrailCPU(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(dir, Options{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	const conns = 8
	rels := []string{"serving.pgbench_accounts"}
	var before, after syscall.Rusage
	b.ResetTimer()
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		n := b.N / conns
		if c < b.N%conns {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				l.Append(Record{At: time.Now(), User: "bench", Role: "analyst", Application: "pgbench",
					ClientAddr: "127.0.0.1", Fingerprint: "9f2c41d07be35a18",
					Statement: "SELECT abalance FROM serving.pgbench_accounts WHERE aid = $1", Relations: rels,
					Authority: "derived", AsOf: 1042, Rows: 1, DurationMS: float64(40+(i*7+c)%90) / 1000, SQLState: "00000"})
			}
		}()
	}
	wg.Wait()
	if err := l.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := l.Close(); err != nil { // waits for Pebble's background work
		b.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu := rusageCPU(&after) - rusageCPU(&before)
	var disk int64
	err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			disk += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/record")
	b.ReportMetric(float64(disk)/float64(b.N), "disk-B/record")
}

func rusageCPU(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
