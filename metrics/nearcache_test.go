package metrics

import "testing"

// TestNearCacheSource: nothing is exported before SetNearCache; then the
// counters and gauges read on scrape; SetNearCache(nil) stops them.
func TestNearCacheSource(t *testing.T) {
	r := New("test")
	if _, ok := sample(t, r, "dualgate_redis_near_cache_hits_total"); ok {
		t.Fatal("near cache metrics before SetNearCache")
	}
	nc := NearCache{Enabled: true, Hits: 7, Misses: 3, Invalidations: 5, Evictions: 2, Resets: 1, Entries: 40, Bytes: 4096}
	r.SetNearCache(func() NearCache { return nc })
	for name, want := range map[string]float64{
		"dualgate_redis_near_cache_hits_total": 7, "dualgate_redis_near_cache_misses_total": 3,
		"dualgate_redis_near_cache_invalidations_total": 5, "dualgate_redis_near_cache_evictions_total": 2,
		"dualgate_redis_near_cache_resets_total": 1, "dualgate_redis_near_cache_entries": 40,
		"dualgate_redis_near_cache_bytes": 4096, "dualgate_redis_near_cache_enabled": 1,
	} {
		if v, ok := sample(t, r, name); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	r.SetNearCache(nil)
	if _, ok := sample(t, r, "dualgate_redis_near_cache_hits_total"); ok {
		t.Fatal("near cache metrics after SetNearCache(nil)")
	}
	var nilReg *Registry
	nilReg.SetNearCache(nil)
}
