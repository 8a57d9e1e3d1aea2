package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// NearCache is the Redis serving store's near cache of point lookups as
// the metrics see it (the fields of projections.NearCacheStats, so the
// binary converts one to the other).
type NearCache struct {
	Enabled                          bool
	Hits, Misses                     uint64
	Invalidations, Evictions, Resets uint64
	Entries, Bytes                   int64
}

// nearCacheSource reports the near cache on scrape; nothing before
// SetNearCache.
type nearCacheSource struct {
	mu   sync.RWMutex
	read func() NearCache

	hits, misses, invals, evictions, resets *prometheus.Desc
	entries, bytes, enabled                 *prometheus.Desc
}

func (s *nearCacheSource) init() {
	c := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("dualgate_redis_near_cache_"+name, help, nil, nil)
	}
	s.hits = c("hits_total", "Point lookups of Redis-backed projections answered from the in-process near cache.")
	s.misses = c("misses_total", "Point lookups of Redis-backed projections that went to Redis (all of them while the cache is disabled).")
	s.invals = c("invalidations_total", "Keys named by Redis invalidation messages and by this process's own writes.")
	s.evictions = c("evictions_total", "Near cache entries evicted to stay within its memory bound.")
	s.resets = c("resets_total", "Whole near cache drops: tracking connection lost, FLUSHALL/FLUSHDB, Redis restart.")
	s.entries = c("entries", "Entries in the near cache now.")
	s.bytes = c("bytes", "Estimated memory of the near cache's entries now.")
	s.enabled = c("enabled", "1 while the near cache's tracking connection is up and the cache is used.")
}

// Describe implements prometheus.Collector.
func (s *nearCacheSource) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.hits, s.misses, s.invals, s.evictions, s.resets, s.entries, s.bytes, s.enabled} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *nearCacheSource) Collect(ch chan<- prometheus.Metric) {
	s.mu.RLock()
	read := s.read
	s.mu.RUnlock()
	if read == nil {
		return
	}
	nc := read()
	for _, c := range []struct {
		d *prometheus.Desc
		v uint64
	}{{s.hits, nc.Hits}, {s.misses, nc.Misses}, {s.invals, nc.Invalidations}, {s.evictions, nc.Evictions}, {s.resets, nc.Resets}} {
		ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(c.v))
	}
	ch <- prometheus.MustNewConstMetric(s.entries, prometheus.GaugeValue, float64(nc.Entries))
	ch <- prometheus.MustNewConstMetric(s.bytes, prometheus.GaugeValue, float64(nc.Bytes))
	ch <- prometheus.MustNewConstMetric(s.enabled, prometheus.GaugeValue, b2f(nc.Enabled))
}

// SetNearCache reports the Redis near cache on scrape through read (nil:
// stop reporting, e.g. before the store closes).
func (r *Registry) SetNearCache(read func() NearCache) {
	if r == nil {
		return
	}
	r.nearCache.mu.Lock()
	r.nearCache.read = read
	r.nearCache.mu.Unlock()
}
