package projections

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Test helpers for the external test package.

// NewRedisForTest starts a real redis-server and connects a store to it.
func NewRedisForTest(t testing.TB) *RedisStore { return newRedisStoreForTest(t) }

// NewRedisClusterForTest starts a real 3-node Redis Cluster and connects a store to it.
func NewRedisClusterForTest(t testing.TB) *RedisStore {
	s, err := NewRedisStoreWith(context.Background(), startRedisCluster(t), RedisOptions{Instance: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// RedisProcForTest starts a real redis-server and returns a store on it
// plus functions that stop it and restart it empty on the same port.
func RedisProcForTest(t testing.TB) (s *RedisStore, stop, restart func()) {
	p := startRedisProc(t)
	s, err := NewRedisStoreWith(context.Background(), "redis://"+p.addr, RedisOptions{Instance: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, p.stop, p.restart
}

// FlushForTest empties a store the way a Redis FLUSHALL or restart does.
func FlushForTest(t testing.TB, s Store) {
	switch x := s.(type) {
	case *MemoryStore:
		x.mu.Lock()
		x.projs = map[string]*memProj{}
		x.mu.Unlock()
	case *RedisStore:
		ctx := context.Background()
		var err error
		if cc, ok := x.c.(*redis.ClusterClient); ok {
			err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.FlushAll(ctx).Err() })
		} else {
			err = x.c.FlushAll(ctx).Err()
		}
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("cannot flush %T", s)
	}
}
