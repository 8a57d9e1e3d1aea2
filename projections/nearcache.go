package projections

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// The near cache: point lookups (Get) of a single-node RedisStore served
// from the gateway process, kept coherent by Redis's server-assisted
// client-side caching.
//
// Why a purpose-built cache and not go-redis's built-in client-side cache:
// the built-in one caches single-key read commands, so a Get would become
// three independently cached reads (GET cur, GET wm, HGET bucket) whose
// invalidations arrive one key at a time, and nothing would tie the cached
// row to the cached watermark: a lookup could pair a commit's new row with
// the previous watermark, or an old row with the new one (a wrong label).
// Here the unit is the Get script's own atomic answer (generation,
// watermark, row), and the label rules below are argued against Redis's
// delivery order.
//
// Tracking mode: BCAST on one dedicated RESP2 connection, prefix
// dg:{<instance>: (every key of this instance), redirected to itself and
// subscribed to __redis__:invalidate. Why BCAST rather than default mode:
// the data connections (the autopipeliner, the Get script) stay untouched
// (default mode needs tracking on every connection that reads, and a Lua
// script's reads are tracked per key anyway); the server keeps no per-key
// table of what we read (default mode's table grows with the working set
// and evicts with spurious invalidations); and, decisive for labels, Redis
// sends a BCAST client every key a command changed in one message per
// event-loop iteration (beforeSleep), so the bucket hashes and the
// watermark that one Apply writes in one MULTI/EXEC arrive together and are
// invalidated under one lock. The price: invalidations of keys we never
// cached (other projections, rebuilds) reach us too; each costs a map
// lookup.
//
// Why this is right (no wrong row, no wrong label). Let a "batch" be the
// writes one invalidation message covers; the messages arrive in order on
// the tracking connection and each is applied atomically under mu.
//
//  1. Read versus invalidation: a miss snapshots the projection's
//     invalidation counter (and the cache epoch) before sending the Get
//     script and inserts the answer only if neither changed by the time
//     the reply is back. So every batch processed before the snapshot is
//     reflected in the read (its message was sent after its writes), and
//     every batch processed after the insertion that touches the row's
//     bucket deletes the entry. An entry is therefore the Redis value of
//     its row from its read until a batch not yet processed changes it.
//  2. The label: an entry keeps the watermark it was read with (atomically,
//     by the script). A hit is labeled max(entry watermark, confirmed
//     watermark), where the confirmed watermark W of the current
//     generation is the watermark after every processed batch. If the
//     entry's own watermark w < W, the commits (w, W] happened after the
//     entry's read, and their batches were all processed after its
//     insertion (point 1) without deleting it: the row is unchanged at W.
//  3. Confirming W: a miss that finds no confirmed watermark records the
//     (generation, watermark) its read returned, with the projection's
//     meta counter (bumped by any invalidation of its cur or wm keys), and
//     asks for a fence: a PING on the tracking connection, sent after that
//     read's reply arrived. Redis queues BCAST messages of an event-loop
//     iteration before it writes that iteration's replies, so the PONG
//     comes after the message of every write that preceded the read. If
//     the meta counter is unchanged when the PONG is processed, no cur/wm
//     write happened between the read and the fence: the watermark read is
//     the one after every processed batch, and it is confirmed. The next
//     message that names the cur key or the generation's wm key revokes
//     it (in the same lock as that batch's bucket deletions). Without a
//     confirmed watermark a lookup goes to Redis, so hits are never labeled
//     older than a read would be.
//  4. Losing the stream: a Receive error (connection loss, redis-server
//     restart, a FLUSHALL/FLUSHDB, whose invalidation carries no key list
//     and fails the parse on purpose), or silence past the health-check
//     timeout, drops the whole cache and disables it; a new tracking
//     session enables it once its SUBSCRIBE is confirmed, and reads
//     started before that cannot insert (the epoch changed).
//
// This process's own writes (Apply, SwitchGeneration, DropGeneration)
// also invalidate the keys they wrote as soon as Redis acknowledged them,
// so the primary reads its own writes; another process (a sidecar) sees a
// commit once its invalidation message arrives, labeled with the
// watermark that was current before it, never a mix of the two.
//
// Redis Cluster: off (see NewRedisStoreWith). Tracking would be per master
// node and redone on every slot migration and failover; the sidecars that
// scale the serving lane read from their own Redis node's keys anyway.

// DefaultNearCacheBytes is the near cache's default memory bound.
const DefaultNearCacheBytes = 64 << 20

const (
	// invalidateChannel is where Redis sends RESP2 tracking messages.
	invalidateChannel = "__redis__:invalidate"
	// healthEvery is how often the tracking connection is pinged;
	// healthTimeout of silence (no message, no PONG) ends the session.
	healthEvery   = time.Second
	healthTimeout = 5 * time.Second
	// evictSamples is how many entries an eviction compares (sampled LRU,
	// as Redis's own maxmemory policy does).
	evictSamples = 5
)

// NearCacheStats are the near cache's counters since the store opened.
type NearCacheStats struct {
	// Enabled: the cache is on for this store and its tracking
	// connection is established.
	Enabled bool
	// Hits and Misses count Get calls answered from the cache or from
	// Redis (while disabled, every Get is a miss).
	Hits, Misses uint64
	// Invalidations counts keys named by invalidation messages (and by
	// this process's own writes); Evictions counts entries dropped to stay
	// within the memory bound; Resets counts whole-cache drops (tracking
	// lost, FLUSHALL, restart).
	Invalidations, Evictions, Resets uint64
	// Entries and Bytes are the cache's size now (Bytes is an estimate).
	Entries, Bytes int64
}

// nearCache is a RedisStore's in-process cache of Get answers; see above.
type nearCache struct {
	prefix   string // "dg:{<instance>:", the tracked prefix
	maxBytes int64
	log      zerolog.Logger
	tc       *redis.Client // the tracking client: one RESP2 connection

	mu        sync.RWMutex
	enabled   bool
	epoch     uint64
	projs     map[string]*ncProj
	bytes     int64
	entries   int64
	fenceNext uint64 // number of the next fence PING
	ps        *redis.PubSub

	clock                                       atomic.Uint32 // coarse recency for eviction
	hits, misses, invals, evictions, resetCount atomic.Uint64

	fenceReq chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// ncProj is one projection's cached state.
type ncProj struct {
	// inval counts processed invalidations of any of the projection's
	// keys; metaInval those of its cur key or a wm key.
	inval, metaInval uint64
	// The confirmed current generation and watermark (rule 3).
	gen       string
	wm        uint64
	confirmed bool
	// A candidate waiting for fence candFence (0: none).
	cand      ncCand
	candFence uint64
	gens      map[string]*ncGen
}

type ncCand struct {
	gen       string
	wm        uint64
	metaInval uint64
}

type ncGen struct {
	buckets [NumBuckets]ncBucket
}

type ncBucket struct {
	m     map[string]*ncEntry
	bytes int64
}

type ncEntry struct {
	row   []any // nil when not found
	found bool
	wm    uint64 // the watermark the row was read with
	size  int64
	used  atomic.Uint32
}

// ncSnap is what a miss saw before going to Redis (rule 1).
type ncSnap struct {
	p                       *ncProj
	epoch, inval, metaInval uint64
}

// newNearCache starts tracking for keys under prefix on a dedicated
// connection made from opts (a copy of the store's options).
func newNearCache(opts redis.Options, prefix string, maxBytes int64, log zerolog.Logger) *nearCache {
	c := &nearCache{prefix: prefix, maxBytes: maxBytes, log: log, projs: map[string]*ncProj{},
		fenceReq: make(chan struct{}, 1), fenceNext: 1}
	// RESP2: invalidations arrive as Pub/Sub messages on the connection
	// itself (REDIRECT to its own id), which go-redis's PubSub reads.
	opts.Protocol = 2
	opts.PoolSize = 1
	opts.MinIdleConns = 0
	opts.DisableIdentity = true
	opts.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
		id, err := cn.ClientID(ctx).Result()
		if err != nil {
			return err
		}
		return cn.Do(ctx, "CLIENT", "TRACKING", "ON", "REDIRECT", id, "BCAST", "PREFIX", prefix).Err()
	}
	c.tc = redis.NewClient(&opts)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(2)
	go c.run(ctx)
	go c.pinger(ctx)
	return c
}

// close stops tracking and drops the cache.
func (c *nearCache) close() {
	c.cancel()
	c.mu.Lock()
	ps := c.ps
	c.mu.Unlock()
	if ps != nil {
		_ = ps.Close() // unblocks Receive
	}
	c.wg.Wait()
	_ = c.tc.Close()
}

// run keeps a tracking session up until ctx ends.
func (c *nearCache) run(ctx context.Context) {
	defer c.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		established, err := c.session(ctx)
		c.reset()
		if ctx.Err() != nil {
			return
		}
		if established {
			backoff = 50 * time.Millisecond
			c.log.Warn().Err(err).Str("prefix", c.prefix).Msg("redis near cache: tracking connection lost; cache dropped until tracking is re-established")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// session opens the tracking connection and applies what it receives
// until an error; established reports that tracking was on.
func (c *nearCache) session(ctx context.Context) (established bool, err error) {
	ps := c.tc.Subscribe(ctx, invalidateChannel)
	c.mu.Lock()
	if ctx.Err() != nil { // close ran before ps was published
		c.mu.Unlock()
		_ = ps.Close()
		return false, ctx.Err()
	}
	c.ps = ps
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.ps = nil
		c.mu.Unlock()
		_ = ps.Close()
	}()
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthTimeout)
		if err != nil {
			return established, err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == invalidateChannel {
				c.enable()
				if !established {
					c.log.Debug().Str("prefix", c.prefix).Msg("redis near cache: tracking on")
				}
				established = true
			}
		case *redis.Message:
			if m.Channel != invalidateChannel {
				continue
			}
			keys := m.PayloadSlice
			if keys == nil {
				keys = []string{m.Payload}
			}
			c.invalidate(keys)
		case *redis.Pong:
			if n, err := strconv.ParseUint(strings.TrimPrefix(m.Payload, "f"), 10, 64); err == nil && strings.HasPrefix(m.Payload, "f") {
				c.fenced(n)
			}
		}
	}
}

// pinger sends the health-check PINGs and the fences readers ask for.
func (c *nearCache) pinger(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		payload := "h"
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.fenceReq:
			c.mu.Lock()
			payload = "f" + strconv.FormatUint(c.fenceNext, 10)
			c.fenceNext++
			c.mu.Unlock()
		}
		c.mu.RLock()
		ps := c.ps
		c.mu.RUnlock()
		if ps != nil {
			// A failed PING shows up as a Receive error: the session
			// ends and the cache is dropped with its pending candidates.
			_ = ps.Ping(ctx, payload)
		}
	}
}

// enable turns the cache on, empty, for a tracking subscription just
// confirmed. A second confirmation in one session means go-redis
// reconnected the Pub/Sub connection under us (a PING that failed
// reconnects it), and invalidations may have been lost in between: so
// enabling always starts from an empty cache.
func (c *nearCache) enable() {
	c.mu.Lock()
	c.dropLocked()
	c.enabled = true
	c.mu.Unlock()
}

// reset drops everything and disables the cache until enable.
func (c *nearCache) reset() {
	c.mu.Lock()
	c.dropLocked()
	c.enabled = false
	c.mu.Unlock()
}

// dropLocked empties the cache; reads in flight cannot insert (the epoch
// changed). Caller holds mu.
func (c *nearCache) dropLocked() {
	c.epoch++
	if c.enabled || c.entries > 0 {
		c.resetCount.Add(1)
	}
	c.projs = map[string]*ncProj{}
	c.bytes, c.entries = 0, 0
}

// get answers a lookup from the cache, or returns the snapshot a miss
// inserts with.
func (c *nearCache) get(proj string, k []byte) (row []any, found bool, wm Watermark, hit bool, snap ncSnap) {
	c.mu.RLock()
	if !c.enabled {
		c.mu.RUnlock()
		c.misses.Add(1)
		return nil, false, Watermark{}, false, ncSnap{}
	}
	p := c.projs[proj]
	if p != nil && p.confirmed {
		if g := p.gens[p.gen]; g != nil {
			if e := g.buckets[BucketOf(k)].m[string(k)]; e != nil {
				if now := c.clock.Load(); e.used.Load() != now {
					e.used.Store(now)
				}
				wm = Watermark{Commit: max(e.wm, p.wm), Generation: p.gen}
				row, found = e.row, e.found
				c.mu.RUnlock()
				c.hits.Add(1)
				return row, found, wm, true, ncSnap{}
			}
		}
	}
	if p != nil {
		snap = ncSnap{p: p, epoch: c.epoch, inval: p.inval, metaInval: p.metaInval}
		c.mu.RUnlock()
		c.misses.Add(1)
		return nil, false, Watermark{}, false, snap
	}
	c.mu.RUnlock()
	c.misses.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.enabled {
		return nil, false, Watermark{}, false, ncSnap{}
	}
	if p = c.projs[proj]; p == nil {
		p = &ncProj{gens: map[string]*ncGen{}}
		c.projs[proj] = p
	}
	return nil, false, Watermark{}, false, ncSnap{p: p, epoch: c.epoch, inval: p.inval, metaInval: p.metaInval}
}

// put inserts what a miss read from Redis (generation gen at watermark
// wm; row nil when not found), unless an invalidation of the projection
// (or a reset) was processed since snap (rule 1). rawLen is the encoded
// row's length, for the size estimate.
func (c *nearCache) put(snap ncSnap, gen string, wm uint64, k []byte, row []any, found bool, rawLen int) {
	if snap.p == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := snap.p
	if !c.enabled || c.epoch != snap.epoch || p.inval != snap.inval {
		return
	}
	g := p.gens[gen]
	if g == nil {
		g = &ncGen{}
		p.gens[gen] = g
	}
	b := &g.buckets[BucketOf(k)]
	if b.m == nil {
		b.m = map[string]*ncEntry{}
	}
	e := &ncEntry{row: row, found: found, wm: wm, size: entrySize(len(k), rawLen, len(row))}
	e.used.Store(c.clock.Add(1))
	if old := b.m[string(k)]; old != nil {
		b.bytes -= old.size
		c.bytes -= old.size
		c.entries--
	}
	b.m[string(k)] = e
	b.bytes += e.size
	c.bytes += e.size
	c.entries++
	// Rule 3: ask to confirm this read's watermark unless one is confirmed
	// or already on its way.
	if (!p.confirmed || p.gen != gen) && p.candFence == 0 {
		p.cand = ncCand{gen: gen, wm: wm, metaInval: snap.metaInval}
		p.candFence = c.fenceNext
		select {
		case c.fenceReq <- struct{}{}:
		default: // a fence is already asked for; it will be numbered >= candFence
		}
	}
	for c.bytes > c.maxBytes && c.entries > 0 {
		c.evictOne()
	}
}

// entrySize estimates an entry's memory: the map slot and entry, the key,
// and the decoded row (interface slots plus about twice the encoded bytes
// for strings and their headers).
func entrySize(keyLen, rawLen, cols int) int64 {
	return int64(112 + keyLen + 2*rawLen + 16*cols)
}

// evictOne drops the least recently used of evictSamples sampled entries
// (sampled LRU, like Redis's maxmemory policies: no list to maintain on
// the hit path, which only stores a clock value). Caller holds mu.
func (c *nearCache) evictOne() {
	var best ncVictim
	for i := 0; i < evictSamples; i++ {
		v, ok := c.sample()
		if !ok {
			c.bytes, c.entries = 0, 0 // nothing left to drop
			return
		}
		if best.e == nil || int32(v.e.used.Load()-best.e.used.Load()) < 0 { // older, wrap-safe
			best = v
		}
	}
	delete(best.b.m, best.key)
	best.b.bytes -= best.e.size
	c.bytes -= best.e.size
	c.entries--
	c.evictions.Add(1)
}

type ncVictim struct {
	b   *ncBucket
	key string
	e   *ncEntry
}

// sample returns a random entry: a projection and generation in map order,
// the first non-empty bucket from a random one, the first key in map
// order. Caller holds mu.
func (c *nearCache) sample() (ncVictim, bool) {
	for _, p := range c.projs {
		for _, g := range p.gens {
			start := rand.IntN(NumBuckets)
			for j := 0; j < NumBuckets; j++ {
				b := &g.buckets[(start+j)%NumBuckets]
				for k, e := range b.m {
					return ncVictim{b, k, e}, true
				}
			}
		}
	}
	return ncVictim{}, false
}

// invalidate applies one invalidation message (or the keys this process
// just wrote): bucket entries dropped, confirmed watermarks
// revoked, counters bumped, all under one lock (the bucket hashes and the
// watermark of one commit arrive in one message).
func (c *nearCache) invalidate(keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invals.Add(uint64(len(keys)))
	for _, key := range keys {
		rest, ok := strings.CutPrefix(key, c.prefix)
		if !ok {
			continue
		}
		proj, suffix, ok := strings.Cut(rest, "}:")
		if !ok {
			continue
		}
		p := c.projs[proj]
		if p == nil {
			continue // nothing cached, and no read of it in flight
		}
		p.inval++
		if suffix == "cur" {
			p.metaInval++
			p.confirmed = false
			continue
		}
		gen, what, ok := strings.Cut(suffix, ":")
		if !ok {
			continue // gens
		}
		switch {
		case what == "wm":
			p.metaInval++
			if p.gen == gen {
				p.confirmed = false
			}
		case strings.HasPrefix(what, "b:"):
			n, err := strconv.Atoi(what[2:])
			g := p.gens[gen]
			if err != nil || n < 0 || n >= NumBuckets || g == nil {
				continue
			}
			b := &g.buckets[n]
			c.bytes -= b.bytes
			c.entries -= int64(len(b.m))
			*b = ncBucket{}
		}
	}
}

// fenced processes the PONG of fence n: candidates asked for at or before
// it are confirmed if no cur/wm invalidation came in between (rule 3).
func (c *nearCache) fenced(n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.projs {
		if p.candFence == 0 || p.candFence > n {
			continue
		}
		if p.metaInval == p.cand.metaInval {
			p.gen, p.wm, p.confirmed = p.cand.gen, p.cand.wm, true
			for g, cg := range p.gens { // other generations are unreachable now
				if g == p.gen {
					continue
				}
				for i := range cg.buckets {
					c.bytes -= cg.buckets[i].bytes
					c.entries -= int64(len(cg.buckets[i].m))
				}
				delete(p.gens, g)
			}
		}
		p.candFence, p.cand = 0, ncCand{}
	}
}

// stats reports the counters.
func (c *nearCache) stats() NearCacheStats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return NearCacheStats{Enabled: c.enabled, Hits: c.hits.Load(), Misses: c.misses.Load(),
		Invalidations: c.invals.Load(), Evictions: c.evictions.Load(), Resets: c.resetCount.Load(),
		Entries: c.entries, Bytes: c.bytes}
}

// parseNearCache reads the near_cache URL parameter: "off" (or 0) turns
// the cache off; otherwise a size in bytes with an optional KB/MB/GB
// (or KiB/MiB/GiB) suffix.
func parseNearCache(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	switch s {
	case "off", "false", "no", "0":
		return -1, nil
	case "on", "true", "yes", "":
		return 0, nil
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("projections: redis url: near_cache=%q: want off or a size such as 64MB", v)
	}
	if n == 0 {
		return -1, nil
	}
	return n * mult, nil
}
