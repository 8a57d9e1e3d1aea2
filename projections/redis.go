package projections

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// RedisOptions configure NewRedisStoreWith.
type RedisOptions struct {
	// Instance namespaces every key (several dualgate deployments can share
	// one Redis). Default "default".
	Instance string
	// NearCacheBytes bounds the near cache of point lookups (nearcache.go)
	// on a single-node Redis: 0 takes the URL's near_cache parameter, else
	// DefaultNearCacheBytes; negative turns the cache off. Redis Cluster
	// never has one.
	NearCacheBytes int64
	// Log receives the near cache's events (tracking lost, cache off on
	// Cluster). Zero value: silent.
	Log zerolog.Logger
}

// RedisStore keeps projections in Redis (single node, rediss:// TLS, or
// Redis Cluster); see the package comment for the key layout.
type RedisStore struct {
	c    redis.UniversalClient
	inst string
	// gets runs point lookups (Get): an autopipeliner on a single-node
	// client, so the lookups of concurrent sessions share round trips and
	// syscalls (on both ends) instead of each taking a connection. nil:
	// c.
	gets redis.Scripter
	// near is the near cache of Get answers; nil when off (or Cluster).
	near *nearCache
}

// NewRedisStore connects to Redis at url with the default instance name.
// url is redis://[user:pass@]host:port[/db], rediss://… (TLS), or
// redis+cluster:// / rediss+cluster:// (Redis Cluster; more seed nodes as
// ?addr=host:port query parameters, go-redis ParseClusterURL syntax). The
// query parameter near_cache=off|<size> (e.g. 128MB) sets the near cache
// of point lookups on a single node (default DefaultNearCacheBytes).
func NewRedisStore(ctx context.Context, url string) (*RedisStore, error) {
	return NewRedisStoreWith(ctx, url, RedisOptions{})
}

// NewRedisStoreWith is NewRedisStore with options. It pings the server.
func NewRedisStoreWith(ctx context.Context, url string, opts RedisOptions) (*RedisStore, error) {
	if opts.Instance == "" {
		opts.Instance = "default"
	}
	if strings.ContainsAny(opts.Instance, "{}:") {
		return nil, fmt.Errorf("projections: redis instance name %q must not contain '{', '}' or ':'", opts.Instance)
	}
	url, nearParam, err := cutNearCacheParam(url)
	if err != nil {
		return nil, err
	}
	if opts.NearCacheBytes == 0 {
		opts.NearCacheBytes = nearParam
	}
	if opts.NearCacheBytes == 0 {
		opts.NearCacheBytes = DefaultNearCacheBytes
	}
	var c redis.UniversalClient
	var single *redis.Options
	switch {
	case strings.HasPrefix(url, "redis+cluster://"), strings.HasPrefix(url, "rediss+cluster://"):
		u := strings.Replace(url, "+cluster", "", 1)
		o, err := redis.ParseClusterURL(u)
		if err != nil {
			return nil, fmt.Errorf("projections: redis cluster url: %w", err)
		}
		c = redis.NewClusterClient(o)
		if opts.NearCacheBytes > 0 {
			opts.Log.Info().Str("redis", redactURL(url)).Msg("redis near cache off on Redis Cluster: every point lookup goes to Redis")
		}
	case strings.HasPrefix(url, "redis://"), strings.HasPrefix(url, "rediss://"), strings.HasPrefix(url, "unix://"):
		o, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("projections: redis url: %w", err)
		}
		c = redis.NewClient(o)
		single = o
	default:
		return nil, fmt.Errorf("projections: redis url %q: want redis://, rediss://, redis+cluster:// or rediss+cluster://", url)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("projections: redis at %s: %w", redactURL(url), err)
	}
	r := &RedisStore{c: c, inst: opts.Instance, gets: c}
	if sc, ok := c.(*redis.Client); ok {
		ap, err := sc.AutoPipeline()
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("projections: redis autopipeline: %w", err)
		}
		r.gets = ap // closed with the client
	}
	if single != nil && opts.NearCacheBytes > 0 {
		r.near = newNearCache(*single, r.instPrefix(), opts.NearCacheBytes, opts.Log)
	}
	return r, nil
}

// cutNearCacheParam removes the near_cache query parameter from url and
// returns its value (0: absent, negative: off).
func cutNearCacheParam(url string) (string, int64, error) {
	q := strings.IndexByte(url, '?')
	if q < 0 || !strings.Contains(url[q:], "near_cache=") {
		return url, 0, nil
	}
	vals, err := neturl.ParseQuery(url[q+1:])
	if err != nil {
		return "", 0, fmt.Errorf("projections: redis url query: %w", err)
	}
	n, err := parseNearCache(vals.Get("near_cache"))
	if err != nil {
		return "", 0, err
	}
	vals.Del("near_cache")
	url = url[:q]
	if len(vals) > 0 {
		url += "?" + vals.Encode()
	}
	return url, n, nil
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}

// Client returns the underlying go-redis client.
func (r *RedisStore) Client() redis.UniversalClient { return r.c }

// Kind implements Store.
func (r *RedisStore) Kind() string { return "redis" }

// Close implements Store.
func (r *RedisStore) Close() error {
	if r.near != nil {
		r.near.close()
	}
	return r.c.Close()
}

// NearCacheStats reports the near cache's counters (zero when off).
func (r *RedisStore) NearCacheStats() NearCacheStats {
	if r.near == nil {
		return NearCacheStats{}
	}
	return r.near.stats()
}

// NearCache reports whether point lookups go through a near cache.
func (r *RedisStore) NearCache() bool { return r.near != nil }

// Key names. The hash tag {instance:projection} puts all keys of one
// projection in one Cluster slot, which MULTI/EXEC and the Get script need.
func (r *RedisStore) instPrefix() string         { return "dg:{" + r.inst + ":" }
func (r *RedisStore) base(proj string) string    { return r.instPrefix() + proj + "}" }
func (r *RedisStore) curKey(proj string) string  { return r.base(proj) + ":cur" }
func (r *RedisStore) gensKey(proj string) string { return r.base(proj) + ":gens" }
func (r *RedisStore) wmKey(proj, gen string) string {
	return r.base(proj) + ":" + gen + ":wm"
}
func (r *RedisStore) sumKey(proj, gen string) string {
	return r.base(proj) + ":" + gen + ":sum"
}
func (r *RedisStore) bucketKey(proj, gen string, b int) string {
	return r.base(proj) + ":" + gen + ":b:" + strconv.Itoa(b)
}

// getScript reads the current generation, its watermark and the row in
// one round trip, atomically (a script runs alone): the watermark is the
// one the row was read at, across commits and generation switches alike.
// KEYS[1] = cur key; ARGV[1] = key prefix (base + ":"), ARGV[2] = bucket
// suffix (":b:<n>"), ARGV[3] = encoded key. Returns false when there is no
// current generation, {gen, wm} when the row is missing, {gen, wm, row}
// otherwise; wm is "" if the generation has no watermark.
var getScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1])
if not g then return false end
local wm = redis.call('GET', ARGV[1] .. g .. ':wm') or ''
local v = redis.call('HGET', ARGV[1] .. g .. ARGV[2], ARGV[3])
if not v then return {g, wm} end
return {g, wm, v}
`)

// Get implements Store: from the near cache when it holds the row with a
// confirmed watermark, else one EVALSHA (current generation, its
// watermark and HGET) whose answer the cache keeps; either fills ctx's
// ReadStamp.
func (r *RedisStore) Get(ctx context.Context, proj string, key []any) ([]any, bool, error) {
	k, err := EncodeKey(key)
	if err != nil {
		return nil, false, err
	}
	var snap ncSnap
	if r.near != nil {
		row, found, wm, hit, s := r.near.get(proj, k)
		if hit {
			stamp(ctx, proj, wm, nil)
			return row, found, nil
		}
		snap = s
	}
	fail := func(err error) ([]any, bool, error) {
		stamp(ctx, proj, Watermark{}, err)
		return nil, false, err
	}
	gets := r.gets
	if gets == nil {
		gets = r.c
	}
	res, err := getScript.Run(ctx, gets, []string{r.curKey(proj)}, r.base(proj)+":", ":b:"+strconv.Itoa(BucketOf(k)), string(k)).Result()
	if errors.Is(err, redis.Nil) {
		return fail(fmt.Errorf("%w: %s", ErrNoGeneration, proj))
	}
	if err != nil {
		return fail(fmt.Errorf("projections: redis get %s: %w", proj, err))
	}
	arr, ok := res.([]any)
	if !ok || len(arr) < 2 {
		return fail(fmt.Errorf("%w: %s", ErrNoGeneration, proj))
	}
	gen, _ := arr[0].(string)
	wms, _ := arr[1].(string)
	wm, perr := strconv.ParseUint(wms, 10, 64)
	if perr != nil {
		// A current generation without a readable watermark: the row is
		// returned as before, but the read cannot be labeled.
		stamp(ctx, proj, Watermark{}, fmt.Errorf("%w: %s (generation %s has no watermark)", ErrNoGeneration, proj, gen))
	} else {
		stamp(ctx, proj, Watermark{Commit: wm, Generation: gen}, nil)
	}
	if len(arr) < 3 {
		if r.near != nil && perr == nil {
			r.near.put(snap, gen, wm, k, nil, false, 0)
		}
		return nil, false, nil
	}
	s, _ := arr[2].(string)
	row, err := DecodeRow([]byte(s))
	if err != nil {
		return nil, false, fmt.Errorf("projections: %s: %w", proj, err)
	}
	if r.near != nil && perr == nil {
		r.near.put(snap, gen, wm, k, row, true, len(s))
	}
	return row, true, nil
}

// invalidateLocal tells the near cache about keys this process just wrote,
// so its own next Get reads them (the invalidation message from Redis may
// still be on its way).
func (r *RedisStore) invalidateLocal(keys ...string) {
	if r.near != nil {
		r.near.invalidate(keys)
	}
}

func (r *RedisStore) currentGen(ctx context.Context, proj string) (string, error) {
	g, err := r.c.Get(ctx, r.curKey(proj)).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("%w: %s", ErrNoGeneration, proj)
	}
	if err != nil {
		return "", fmt.Errorf("projections: redis: %w", err)
	}
	return g, nil
}

// scanBatch is how many bucket HGETALLs one Scan round trip pipelines.
const scanBatch = 16

// Scan implements Store: HGETALL of each bucket of the current
// generation, scanBatch buckets per round trip.
func (r *RedisStore) Scan(ctx context.Context, proj string, fn func(key, row []any) error) error {
	gen, err := r.currentGen(ctx, proj)
	if err != nil {
		return err
	}
	return r.ScanGeneration(ctx, proj, gen, fn)
}

// ScanGeneration implements Store.
func (r *RedisStore) ScanGeneration(ctx context.Context, proj, gen string, fn func(key, row []any) error) error {
	for b0 := 0; b0 < NumBuckets; b0 += scanBatch {
		pipe := r.c.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, 0, scanBatch)
		for b := b0; b < b0+scanBatch && b < NumBuckets; b++ {
			cmds = append(cmds, pipe.HGetAll(ctx, r.bucketKey(proj, gen, b)))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("projections: redis scan %s: %w", proj, err)
		}
		for _, c := range cmds {
			for k, v := range c.Val() {
				key, err := DecodeKey([]byte(k))
				if err != nil {
					return err
				}
				row, err := DecodeRow([]byte(v))
				if err != nil {
					return err
				}
				if err := fn(key, row); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Apply implements Store. It is an optimistic transaction on the
// generation's watermark key: WATCH wm; read the old values of the written
// fields and the touched buckets' sums (one pipelined round trip); compute
// the new counts and checksums; MULTI {HSET/HDEL per bucket, HSET sums, SET
// wm, SADD gens} EXEC. Every writer of a generation changes its watermark,
// so a concurrent writer aborts the EXEC and Apply retries.
func (r *RedisStore) Apply(ctx context.Context, proj, gen string, commit uint64, upserts []Entry, deletes [][]any) error {
	if err := checkGen(gen); err != nil {
		return err
	}
	w, err := encodeWrites(upserts, deletes)
	if err != nil {
		return err
	}
	byBucket := map[int][]string{}
	for _, k := range w.order {
		b := BucketOf([]byte(k))
		byBucket[b] = append(byBucket[b], k)
	}
	buckets := make([]int, 0, len(byBucket))
	for b := range byBucket {
		buckets = append(buckets, b)
	}
	sort.Ints(buckets)
	wmKey, sumKey := r.wmKey(proj, gen), r.sumKey(proj, gen)
	txf := func(tx *redis.Tx) error {
		pipe := tx.Pipeline()
		wmCmd := pipe.Get(ctx, wmKey)
		olds := make([]*redis.SliceCmd, len(buckets))
		sumFields := make([]string, 0, 2*len(buckets))
		for i, b := range buckets {
			olds[i] = pipe.HMGet(ctx, r.bucketKey(proj, gen, b), byBucket[b]...)
			sumFields = append(sumFields, "n"+strconv.Itoa(b), "s"+strconv.Itoa(b))
		}
		var sumCmd *redis.SliceCmd
		if len(sumFields) > 0 {
			sumCmd = pipe.HMGet(ctx, sumKey, sumFields...)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if s, err := wmCmd.Result(); err == nil {
			cur, perr := strconv.ParseUint(s, 10, 64)
			if perr != nil {
				return fmt.Errorf("projections: %s generation %s: bad watermark %q", proj, gen, s)
			}
			if commit < cur {
				return fmt.Errorf("%w: %s generation %s is at commit %d, got %d", ErrStale, proj, gen, cur, commit)
			}
		}
		var sums []any
		if sumCmd != nil {
			sums = sumCmd.Val()
		}
		newSums := make([]any, 0, 2*len(sumFields))
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for i, b := range buckets {
				cnt, _ := strconv.ParseInt(str(sums[2*i]), 10, 64)
				sum, _ := strconv.ParseUint(str(sums[2*i+1]), 10, 64)
				bk := r.bucketKey(proj, gen, b)
				var hset []any
				var hdel []string
				for j, k := range byBucket[b] {
					if old := olds[i].Val()[j]; old != nil {
						cnt--
						sum -= EntryHash([]byte(k), []byte(str(old)))
					}
					if v := w.fields[k]; v != nil {
						cnt++
						sum += EntryHash([]byte(k), v)
						hset = append(hset, k, v)
					} else if olds[i].Val()[j] != nil {
						hdel = append(hdel, k)
					}
				}
				if len(hdel) > 0 {
					p.HDel(ctx, bk, hdel...)
				}
				if len(hset) > 0 {
					p.HSet(ctx, bk, hset...)
				}
				newSums = append(newSums, "n"+strconv.Itoa(b), strconv.FormatInt(cnt, 10),
					"s"+strconv.Itoa(b), strconv.FormatUint(sum, 10))
			}
			if len(newSums) > 0 {
				p.HSet(ctx, sumKey, newSums...)
			}
			p.Set(ctx, wmKey, strconv.FormatUint(commit, 10), 0)
			p.SAdd(ctx, r.gensKey(proj), gen)
			return nil
		})
		return err
	}
	if r.near != nil {
		// Whatever the outcome (an EXEC whose reply was lost may have
		// run), this process's next Get reads these keys from Redis.
		keys := []string{wmKey}
		for _, b := range buckets {
			keys = append(keys, r.bucketKey(proj, gen, b))
		}
		defer r.invalidateLocal(keys...)
	}
	for attempt := 0; ; attempt++ {
		err := r.c.Watch(ctx, txf, wmKey)
		if errors.Is(err, redis.TxFailedErr) && attempt < 10 {
			continue
		}
		if err != nil && !errors.Is(err, ErrStale) {
			return fmt.Errorf("projections: redis apply %s@%d: %w", proj, commit, err)
		}
		return err
	}
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// Watermark implements Store.
func (r *RedisStore) Watermark(ctx context.Context, proj string) (Watermark, error) {
	gen, err := r.currentGen(ctx, proj)
	if err != nil {
		return Watermark{}, err
	}
	wm, ok, err := r.GenerationWatermark(ctx, proj, gen)
	if err != nil {
		return Watermark{}, err
	}
	if !ok {
		return Watermark{}, fmt.Errorf("%w: %s (generation %s has no watermark)", ErrNoGeneration, proj, gen)
	}
	return Watermark{Commit: wm, Generation: gen}, nil
}

// GenerationWatermark implements Store.
func (r *RedisStore) GenerationWatermark(ctx context.Context, proj, gen string) (uint64, bool, error) {
	s, err := r.c.Get(ctx, r.wmKey(proj, gen)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("projections: redis: %w", err)
	}
	wm, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("projections: %s generation %s: bad watermark %q", proj, gen, s)
	}
	return wm, true, nil
}

// BucketSums implements Store: the sums hash and the watermark read in
// one MULTI/EXEC (so they belong to the same commit).
func (r *RedisStore) BucketSums(ctx context.Context, proj string) ([]Bucket, Watermark, error) {
	gen, err := r.currentGen(ctx, proj)
	if err != nil {
		return nil, Watermark{}, err
	}
	var sums *redis.MapStringStringCmd
	var wm *redis.StringCmd
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		sums = p.HGetAll(ctx, r.sumKey(proj, gen))
		wm = p.Get(ctx, r.wmKey(proj, gen))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, Watermark{}, fmt.Errorf("projections: redis: %w", err)
	}
	c, err := strconv.ParseUint(wm.Val(), 10, 64)
	if err != nil {
		return nil, Watermark{}, fmt.Errorf("%w: %s (generation %s has no watermark)", ErrNoGeneration, proj, gen)
	}
	out := make([]Bucket, NumBuckets)
	for f, v := range sums.Val() {
		if len(f) < 2 {
			continue
		}
		b, err := strconv.Atoi(f[1:])
		if err != nil || b < 0 || b >= NumBuckets {
			continue
		}
		switch f[0] {
		case 'n':
			out[b].Count, _ = strconv.ParseInt(v, 10, 64)
		case 's':
			out[b].Sum, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	return out, Watermark{Commit: c, Generation: gen}, nil
}

// Generations implements Store.
func (r *RedisStore) Generations(ctx context.Context, proj string) ([]string, error) {
	g, err := r.c.SMembers(ctx, r.gensKey(proj)).Result()
	if err != nil {
		return nil, fmt.Errorf("projections: redis: %w", err)
	}
	sort.Strings(g)
	return g, nil
}

// SwitchGeneration implements Store (one SET; readers switch at once).
func (r *RedisStore) SwitchGeneration(ctx context.Context, proj, gen string) error {
	if _, ok, err := r.GenerationWatermark(ctx, proj, gen); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("projections: %s has no generation %q", proj, gen)
	}
	err := r.c.Set(ctx, r.curKey(proj), gen, 0).Err()
	r.invalidateLocal(r.curKey(proj))
	if err != nil {
		return fmt.Errorf("projections: redis: %w", err)
	}
	return nil
}

// DropGeneration implements Store: UNLINK of the generation's keys.
func (r *RedisStore) DropGeneration(ctx context.Context, proj, gen string) error {
	if err := checkGen(gen); err != nil {
		return err
	}
	cur, err := r.c.Get(ctx, r.curKey(proj)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("projections: redis: %w", err)
	}
	if cur == gen {
		return fmt.Errorf("projections: cannot drop the current generation %q of %s", gen, proj)
	}
	keys := []string{r.wmKey(proj, gen), r.sumKey(proj, gen)}
	for b := 0; b < NumBuckets; b++ {
		keys = append(keys, r.bucketKey(proj, gen, b))
	}
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Unlink(ctx, keys...)
		p.SRem(ctx, r.gensKey(proj), gen)
		return nil
	})
	r.invalidateLocal(keys...)
	if err != nil {
		return fmt.Errorf("projections: redis: %w", err)
	}
	return nil
}
