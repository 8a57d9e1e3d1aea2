// Package projections is dualgate's serving pipeline: it materializes the
// catalog's projections (serving.<name>, SQL over canonical.*) into a
// Store, keeps them fresh from canonical's per-commit change feed, rebuilds
// them into new generations, and reports their watermark and lag.
//
// # Stores
//
// Store has two implementations with the same layout and semantics:
// MemoryStore (embedded, in-process; used when no Redis is configured) and
// RedisStore (github.com/redis/go-redis/v9; redis://, rediss:// and Redis
// Cluster via redis+cluster:// or rediss+cluster://). The same test suite
// runs on both (the Redis one on a real redis-server started by the test).
//
// A projection is held per generation: rows built from one definition of
// the projection starting at one commit. Readers see the current
// generation; a rebuild writes a new one beside it and switches a pointer.
//
// # Redis layout
//
// Every key of a projection shares the prefix dg:{<instance>:<projection>}
// (the braces are a Cluster hash tag: all keys of one projection live in one
// slot, which MULTI/EXEC and the Get script require; different projections
// spread over the cluster):
//
//	dg:{i:p}:cur            STRING  current generation name
//	dg:{i:p}:gens           SET     every generation present (for cleanup)
//	dg:{i:p}:<gen>:wm       STRING  watermark: last canonical commit applied (decimal)
//	dg:{i:p}:<gen>:b:<n>    HASH    bucket n (0..255): encoded key -> encoded row
//	dg:{i:p}:<gen>:sum      HASH    n<n> -> row count of bucket n, s<n> -> checksum of bucket n
//
// Non-authoritative serving tables (projections/sqltables.WritableTable)
// share the store under the name serving_table.<name> (never a projection
// name: those have no '.') and the fixed generation "table", so their keys
// are dg:{i:serving_table.<name>}:table:…; the materializer never
// addresses them.
//
// Why this layout: a point lookup is one EVALSHA (GET cur, GET of that
// generation's wm + HGET of the key's bucket, so the row comes with the
// watermark it reflects) and a miss costs the same; a full scan is 256 HGETALLs
// pipelined 16 at a time, never a KEYS/SCAN over the keyspace; and
// reconciliation compares 256 (count, checksum) pairs read with the
// watermark in one MULTI/EXEC before looking at any row, then only the
// buckets that differ. Buckets bound the size of each hash (1M rows ->
// ~4k fields per hash) without one key per row.
//
// The bucket of a row is xxhash64(encoded key) mod 256. A bucket's checksum
// is the sum modulo 2^64 of xxhash64(encoded key ++ encoded row) over its
// rows: order-independent and maintained per write (subtract the old
// entry's hash, add the new one), so it never needs a rescan.
// ComputeBuckets recomputes the same values from any set of rows.
//
// On a single-node Redis, RedisStore keeps a near cache of Get answers in
// the process (nearcache.go): Redis client-side caching in BCAST mode
// invalidates it, a hit is labeled with a watermark at which its row was
// the projection's value, and losing the tracking connection (or a flush
// or restart) drops it until tracking is back. URL parameter
// near_cache=off|SIZE; never on Redis Cluster.
//
// Apply writes one commit: deletes, upserts, the new sums and the
// watermark in one MULTI/EXEC, so a reader (or BucketSums) sees a commit
// entirely or not at all. The old rows and sums it needs are read first
// under WATCH of the watermark key; every writer of a generation changes
// the watermark, so a concurrent writer makes EXEC fail and Apply retry.
// Apply refuses a commit older than the generation's watermark (ErrStale).
// MemoryStore does the same under a mutex and keeps rows decoded.
//
// # Encodings
//
// Values are normalized (Normalize) to nil, int64, float64,
// decimal.Decimal, string, []byte, bool or time.Time (UTC, microseconds),
// whatever Go types the engine produced (int8/int16/int32 become int64;
// the engine's boolean is an integer and stays one: presenting Postgres
// types is the serving table's job, from the projection's column types).
// Keys use canonical's order-preserving key encoding (canonical.AppendKey),
// so equal keys are byte-equal (decimal 1.5 = 1.50). Rows use a small
// self-describing binary encoding (EncodeRow): uvarint column count, then
// per value a tag byte (0 NULL, 1 int64 zigzag varint, 2 float64 8 bytes
// big-endian, 3 decimal as zigzag exponent + length-prefixed coefficient
// digits (scale kept), 4 string / 5 bytes length-prefixed, 6 false, 7 true,
// 8 time as zigzag unix microseconds). Not JSON (loses int/float/decimal/
// time distinctions and is larger) and not gob (per-stream type
// descriptors, Go-only, not stable as a stored format).
//
// # Materializer
//
// Materializer runs SQL through a QueryFunc (Postgres SQL against
// canonical as of a commit; the binary builds it on the gateway engine,
// e.g. with PinAsOf and Engine.QueryBatch), so this package never imports
// the gateway.
//
// Incremental maintenance of commit c: for each affected_by entity of the
// projection, the values of its columns in the old and new version of
// every changed row (from canonical.Store.Changes(c)) give the region of
// the projection to recompute: `(_dg_p.on1, …) IN ((lit, …), …)`, the
// literals typed as the entity column and cast to the paired projection
// column's type, ORed over affected_by entities. The projection SELECT is
// wrapped as `SELECT * FROM (<select>) AS _dg_p WHERE <region>` (valid for
// any SELECT, including GROUP BY, joins and subqueries; the engine pushes
// the filter into the scans) and run at c and at c-1. Rows new or changed
// at c are upserted; keys present at c-1 but not at c are deleted (when
// affected_by pairs with non-key columns, those keys are first looked up
// by key at c, since a row may have left the region without disappearing).
// affected_by "*" (or a relation that did not exist at c-1) recomputes the
// whole projection and diffs it against the stored generation. Commits are
// applied in order, each as one Apply with its watermark; a run of commits
// that do not touch the projection writes its watermark once.
//
// Generations are named <definition hash>-<base36 time>: DefinitionHash
// covers the SELECT, key and affected_by, so a stored generation of another
// definition is rebuilt at start. Start (and every Follow step) catches a
// projection up commit by commit, or rebuilds it when it is missing (never
// built, Redis flushed), of another definition, ahead of canonical, or more
// than Options.MaxCatchUp commits behind. Rebuild builds the new generation
// at a commit while the old one serves and is followed, then, holding the
// projection's write lock, catches the new one up to the head, switches,
// and drops the old one.
package projections
