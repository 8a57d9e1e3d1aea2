package projections

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchKeys is the point-lookup bar's row count.
const benchKeys = 100000

func benchStore(b *testing.B, s Store) {
	b.Helper()
	ctx := context.Background()
	ups := make([]Entry, benchKeys)
	for i := range ups {
		ups[i] = Entry{Key: []any{int64(i)}, Row: []any{int64(i), fmt.Sprintf("val-%d", i), int64(i * 10)}}
	}
	if err := s.Apply(ctx, "bench", "g", 1, ups, nil); err != nil {
		b.Fatal(err)
	}
	if err := s.SwitchGeneration(ctx, "bench", "g"); err != nil {
		b.Fatal(err)
	}
}

// benchGet looks up uniformly random keys of benchKeys rows, as the
// pgbench script of the bar does, from one goroutine or (parallel) from
// GOMAXPROCS*4 of them, each with a ReadStamp as the gateway's fast path
// uses. A near cache is warmed first by one lookup of every key (the
// steady state of a pgbench run, whose first ~benchKeys lookups warm it),
// and the hit rate of the timed lookups is reported.
func benchGet(b *testing.B, s Store, parallel bool) {
	benchStore(b, s)
	rs, _ := s.(*RedisStore)
	var before NearCacheStats
	if rs != nil && rs.near != nil {
		warm(b, rs, "bench", 0)
		for k := 1; k < benchKeys; k++ {
			if _, _, err := s.Get(context.Background(), "bench", []any{int64(k)}); err != nil {
				b.Fatal(err)
			}
		}
		before = rs.NearCacheStats()
	}
	b.ReportAllocs()
	cpu0, rcpu0 := processCPU(), redisCPU(b, rs)
	b.ResetTimer()
	get := func(rng *rand.Rand) {
		var st ReadStamp
		k := int64(rng.IntN(benchKeys))
		row, ok, err := s.Get(WithReadStamp(context.Background(), &st), "bench", []any{k})
		if !ok || err != nil || row[0] != k || st.Watermark.Commit != 1 {
			b.Fatal(row, ok, err, st)
		}
	}
	if parallel {
		b.SetParallelism(4)
		var seed uint64
		b.RunParallel(func(pb *testing.PB) {
			seed++
			rng := rand.New(rand.NewPCG(seed, 1))
			for pb.Next() {
				get(rng)
			}
		})
	} else {
		rng := rand.New(rand.NewPCG(1, 1))
		for i := 0; i < b.N; i++ {
			get(rng)
		}
	}
	b.StopTimer()
	// CPU per lookup, this process and the redis-server (wall time per
	// op moves with whatever else the machine runs; CPU much less).
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	if rs != nil {
		b.ReportMetric(float64(redisCPU(b, rs)-rcpu0)/float64(b.N), "redis-cpu-ns/op")
	}
	if rs != nil && rs.near != nil {
		st := rs.NearCacheStats()
		if n := (st.Hits - before.Hits) + (st.Misses - before.Misses); n > 0 {
			b.ReportMetric(100*float64(st.Hits-before.Hits)/float64(n), "hit%")
		}
	}
}

// processCPU is this process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is the redis-server's user+system CPU time so far (INFO cpu);
// 0 without a Redis store.
func redisCPU(b *testing.B, rs *RedisStore) time.Duration {
	if rs == nil {
		return 0
	}
	info, err := rs.c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		for _, f := range []string{"used_cpu_user:", "used_cpu_sys:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), f); ok {
				x, _ := strconv.ParseFloat(v, 64)
				total += x
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}

func newBenchRedis(b *testing.B, nearCache int64) *RedisStore {
	s, err := NewRedisStoreWith(context.Background(), startRedis(b), RedisOptions{Instance: "bench", NearCacheBytes: nearCache})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if nearCache >= 0 {
		waitEnabled(b, s)
	}
	return s
}

func BenchmarkMemoryGet(b *testing.B)         { benchGet(b, NewMemoryStore(), false) }
func BenchmarkMemoryGetParallel(b *testing.B) { benchGet(b, NewMemoryStore(), true) }

// BenchmarkRedisGet*: every lookup one EVALSHA (near cache off).
func BenchmarkRedisGet(b *testing.B)         { benchGet(b, newBenchRedis(b, -1), false) }
func BenchmarkRedisGetParallel(b *testing.B) { benchGet(b, newBenchRedis(b, -1), true) }

// BenchmarkRedisNearCacheGet*: the default near cache.
func BenchmarkRedisNearCacheGet(b *testing.B)         { benchGet(b, newBenchRedis(b, 0), false) }
func BenchmarkRedisNearCacheGetParallel(b *testing.B) { benchGet(b, newBenchRedis(b, 0), true) }
