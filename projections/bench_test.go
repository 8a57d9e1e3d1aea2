package projections

import (
	"context"
	"fmt"
	"testing"
)

func benchGet(b *testing.B, s Store) {
	ctx := context.Background()
	const n = 10000
	ups := make([]Entry, n)
	for i := range ups {
		ups[i] = Entry{Key: []any{fmt.Sprintf("o%06d", i)}, Row: []any{fmt.Sprintf("o%06d", i), "paid", int64(i), "EU"}}
	}
	if err := s.Apply(ctx, "bench", "g", 1, ups, nil); err != nil {
		b.Fatal(err)
	}
	if err := s.SwitchGeneration(ctx, "bench", "g"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok, err := s.Get(ctx, "bench", []any{fmt.Sprintf("o%06d", i%n)}); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkMemoryGet(b *testing.B) { benchGet(b, NewMemoryStore()) }
func BenchmarkRedisGet(b *testing.B)  { benchGet(b, newRedisStoreForTest(b)) }
