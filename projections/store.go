package projections

import (
	"context"
	"errors"
	"fmt"
)

// Errors of the stores.
var (
	// ErrNoGeneration: the projection has no current generation in the
	// store (never materialized, or the store was flushed). Readers should
	// treat the projection as unavailable (stale_policy), not as empty.
	ErrNoGeneration = errors.New("projections: projection not materialized")
	// ErrStale: Apply was given a commit older than the generation's
	// watermark (commits are applied in order and never twice backwards).
	ErrStale = errors.New("projections: commit older than the watermark")
)

// Entry is one row to upsert: Key is the projection key values (in key
// order), Row the full row in projection column order.
type Entry struct {
	Key []any
	Row []any
}

// Watermark is the last canonical commit applied to a projection's
// current generation.
type Watermark struct {
	Commit     uint64
	Generation string
}

// Store holds materialized projections. Rows are kept per generation; reads
// (Get, Scan, BucketSums, Watermark) see the current generation. All
// methods are safe for concurrent use. Values are normalized (Normalize)
// on the way in; rows read back hold only nil, int64, float64,
// decimal.Decimal, string, []byte, bool and time.Time (UTC). Rows returned
// by Get and Scan must not be modified.
type Store interface {
	// Kind is "memory" or "redis".
	Kind() string
	// Get returns the row with the given key in the current generation.
	// ErrNoGeneration if the projection is not materialized. When ctx
	// carries a ReadStamp (WithReadStamp), Get records in it the
	// generation and watermark the row (or its absence) was read at, read
	// atomically with the row: the same round trip on Redis, the same lock
	// in memory. A generation switch or a commit applied concurrently is
	// either wholly before the read or wholly after it.
	Get(ctx context.Context, proj string, key []any) (row []any, found bool, err error)
	// Scan calls fn for every row of the current generation, bucket by
	// bucket: all rows of a bucket consecutively (reconciliation relies on
	// it), in no particular key order within a bucket. It is not a snapshot across
	// buckets on Redis; see BucketSums for a consistent summary.
	Scan(ctx context.Context, proj string, fn func(key, row []any) error) error
	// ScanGeneration is Scan over generation gen, current or not (a
	// generation being built); a missing generation has no rows.
	ScanGeneration(ctx context.Context, proj, gen string, fn func(key, row []any) error) error
	// Apply writes one commit's changes to generation gen and sets that
	// generation's watermark to commit, atomically: a reader sees all of
	// it or none of it. Deletes are applied before upserts (a key in both
	// ends up upserted). commit must be >= the generation's watermark
	// (equal: more writes of the same commit, as a chunked rebuild does);
	// otherwise ErrStale. Writing a new generation does not change what
	// readers see until SwitchGeneration.
	Apply(ctx context.Context, proj, gen string, commit uint64, upserts []Entry, deletes [][]any) error
	// Watermark returns the current generation and its watermark;
	// ErrNoGeneration if none.
	Watermark(ctx context.Context, proj string) (Watermark, error)
	// GenerationWatermark returns generation gen's watermark (ok false if
	// the generation does not exist).
	GenerationWatermark(ctx context.Context, proj, gen string) (commit uint64, ok bool, err error)
	// BucketSums returns the NumBuckets bucket counts and checksums of the
	// current generation together with its watermark, read atomically.
	BucketSums(ctx context.Context, proj string) ([]Bucket, Watermark, error)
	// Generations lists the generations the store holds for proj (current
	// or not, e.g. a rebuild left behind by a crash).
	Generations(ctx context.Context, proj string) ([]string, error)
	// SwitchGeneration makes gen the current generation atomically.
	SwitchGeneration(ctx context.Context, proj, gen string) error
	// DropGeneration deletes a generation's rows, sums and watermark. The
	// current generation cannot be dropped.
	DropGeneration(ctx context.Context, proj, gen string) error
	// Close releases the store's resources.
	Close() error
}

// ReadStamp is what a Get made under WithReadStamp read: the projection,
// the current generation and its watermark at the moment of the read, so a
// result can be labeled with the commit its row reflects (never a newer
// one). A ReadStamp belongs to one goroutine's read; it is not safe for
// concurrent use.
type ReadStamp struct {
	Proj      string
	Watermark Watermark
	// Err is the read's error (e.g. ErrNoGeneration: not materialized, or
	// the store unreachable); Watermark is zero then.
	Err error
	// Set reports that a Get recorded into the stamp.
	Set bool
}

type readStampKey struct{}

// WithReadStamp returns ctx carrying st: a Get made with it (or a context
// derived from it) records what it read into st.
func WithReadStamp(ctx context.Context, st *ReadStamp) context.Context {
	return context.WithValue(ctx, readStampKey{}, st)
}

// ReadStampFrom returns the ReadStamp ctx carries, or nil.
func ReadStampFrom(ctx context.Context) *ReadStamp {
	st, _ := ctx.Value(readStampKey{}).(*ReadStamp)
	return st
}

// stamp records a read into ctx's ReadStamp, if any.
func stamp(ctx context.Context, proj string, wm Watermark, err error) {
	if st := ReadStampFrom(ctx); st != nil {
		*st = ReadStamp{Proj: proj, Watermark: wm, Err: err, Set: true}
	}
}

// encodedWrite is one Apply's writes, encoded and deduplicated: field ->
// encoded row, nil for a delete.
type encodedWrite struct {
	fields map[string][]byte
	// order of first appearance, for deterministic writes
	order []string
}

func encodeWrites(upserts []Entry, deletes [][]any) (*encodedWrite, error) {
	w := &encodedWrite{fields: make(map[string][]byte, len(upserts)+len(deletes))}
	set := func(k string, v []byte) {
		if _, ok := w.fields[k]; !ok {
			w.order = append(w.order, k)
		}
		w.fields[k] = v
	}
	for _, d := range deletes {
		k, err := EncodeKey(d)
		if err != nil {
			return nil, fmt.Errorf("projections: delete key: %w", err)
		}
		set(string(k), nil)
	}
	for _, u := range upserts {
		k, err := EncodeKey(u.Key)
		if err != nil {
			return nil, fmt.Errorf("projections: upsert key: %w", err)
		}
		row, err := NormalizeRow(u.Row)
		if err != nil {
			return nil, fmt.Errorf("projections: upsert row: %w", err)
		}
		v, err := EncodeRow(nil, row)
		if err != nil {
			return nil, err
		}
		set(string(k), v)
	}
	return w, nil
}

func checkGen(gen string) error {
	if gen == "" {
		return fmt.Errorf("projections: empty generation")
	}
	for i := 0; i < len(gen); i++ {
		c := gen[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("projections: generation %q: only letters, digits, '-', '_' and '.'", gen)
		}
	}
	return nil
}
