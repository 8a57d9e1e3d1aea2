package projections

import (
	"context"
	"testing"
)

// Test helpers for the external test package.

// NewRedisForTest starts a real redis-server and connects a store to it.
func NewRedisForTest(t testing.TB) *RedisStore { return newRedisStoreForTest(t) }

// FlushForTest empties a store the way a Redis FLUSHALL or restart does.
func FlushForTest(t testing.TB, s Store) {
	switch x := s.(type) {
	case *MemoryStore:
		x.mu.Lock()
		x.projs = map[string]*memProj{}
		x.mu.Unlock()
	case *RedisStore:
		if err := x.c.FlushAll(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("cannot flush %T", s)
	}
}
