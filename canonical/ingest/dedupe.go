package ingest

import (
	"context"
	"fmt"
	"hash/maphash"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

// dedupeIndex knows, for a source with a dedupe_key, the first raw seq that
// carried each key. It is derived from raw.<source> (the record of every
// delivery), built lazily by one scan of the source's raw log the first time
// the source is used, and extended after each successful commit; so it is
// exactly as durable and atomic as raw capture itself and needs no store
// state of its own. To keep memory small (32 to 64 bytes per key, in one
// flat table: seqTable) it maps a 64-bit hash of the encoded key to the
// first seq and confirms every hit by reading that raw row (hits are
// duplicates, which are rare); keys whose hash collides with a different
// key are kept exactly in a side map. Rows with a NULL in their dedupe key
// are never duplicates (NULL equals nothing, as in SQL). Guarded by
// Pipeline.mu.
type dedupeIndex struct {
	source string
	cols   []int
	kinds  []canonical.Kind
	seed   maphash.Seed
	first  seqTable
	exact  map[string]uint64
	vals   []any               // appendKey's scratch
	hashFn func([]byte) uint64 // tests: replaces maphash (to force collisions)
}

func newDedupeIndex(src *catalog.Source) (*dedupeIndex, error) {
	d := &dedupeIndex{source: src.Name, seed: maphash.MakeSeed(), exact: map[string]uint64{}}
	for _, k := range src.DedupeKey {
		found := false
		for i, c := range src.Columns {
			if c.Name == k {
				d.cols, d.kinds, found = append(d.cols, i), append(d.kinds, KindOf(c.Type)), true
			}
		}
		if !found {
			return nil, fmt.Errorf("ingest: source %s: dedupe_key column %s is not a column", src.Name, k)
		}
	}
	return d, nil
}

// key encodes the dedupe key of a (store-normalized) raw row; nil when the
// source has no dedupe key or a key value is NULL.
func (d *dedupeIndex) key(row []any) ([]byte, error) {
	return d.appendKey(nil, row)
}

// appendKey appends the dedupe key of row to b (nil when the source has no
// dedupe key or a key value is NULL). Pipeline.mu is held (d.vals).
func (d *dedupeIndex) appendKey(b []byte, row []any) ([]byte, error) {
	if len(d.cols) == 0 {
		return nil, nil
	}
	if len(d.vals) != len(d.cols) {
		d.vals = make([]any, len(d.cols))
	}
	for i, c := range d.cols {
		if c >= len(row) || row[c] == nil {
			return nil, nil
		}
		d.vals[i] = row[c]
	}
	k, err := canonical.AppendKey(b, d.kinds, d.vals)
	clear(d.vals)
	if err != nil || k == nil {
		return nil, err
	}
	return k, nil
}

// hash is the index's hash of an encoded key.
func (d *dedupeIndex) hash(k []byte) uint64 {
	if d.hashFn != nil {
		return d.hashFn(k)
	}
	return maphash.Bytes(d.seed, k)
}

// load scans the source's raw log once.
func (d *dedupeIndex) load(ctx context.Context, s *canonical.Store) error {
	return s.EachRaw(ctx, d.source, 1, 0, func(r canonical.RawRecord) error {
		k, err := d.key(r.Row)
		if err != nil || k == nil {
			return err
		}
		if _, found, err := d.lookup(ctx, s, k); err != nil || found {
			return err
		}
		d.add(k, r.Seq)
		return nil
	})
}

// lookup returns the first seq that carried key k.
func (d *dedupeIndex) lookup(ctx context.Context, s *canonical.Store, k []byte) (uint64, bool, error) {
	return d.lookupHash(ctx, s, k, d.hash(k))
}

// lookupHash is lookup of k whose hash is h.
func (d *dedupeIndex) lookupHash(ctx context.Context, s *canonical.Store, k []byte, h uint64) (uint64, bool, error) {
	if len(d.exact) > 0 {
		if seq, ok := d.exact[string(k)]; ok {
			return seq, true, nil
		}
	}
	seq, ok := d.first.get(h)
	if !ok {
		return 0, false, nil
	}
	recs, err := s.ScanRaw(ctx, d.source, seq, seq)
	if err != nil {
		return 0, false, err
	}
	if len(recs) != 1 {
		return 0, false, fmt.Errorf("ingest: dedupe index of %s names raw seq %d, which is missing", d.source, seq)
	}
	rk, err := d.key(recs[0].Row)
	if err != nil {
		return 0, false, err
	}
	if string(rk) == string(k) {
		return seq, true, nil
	}
	return 0, false, nil
}

// add records that seq is the first raw row carrying k (k not yet known).
func (d *dedupeIndex) add(k []byte, seq uint64) {
	d.addHash(func() []byte { return k }, d.hash(k), seq)
}

// addHash is add of k whose hash is h; k is needed only when another key
// has the same hash (then a function computing it is called).
func (d *dedupeIndex) addHash(k func() []byte, h, seq uint64) {
	if !d.first.put(h, seq) { // another key has this hash
		d.exact[string(k())] = seq
	}
}

// dedupe returns the index of source (nil if it has no dedupe key), loading
// it on first use. Pipeline.mu is held.
func (p *Pipeline) dedupe(ctx context.Context, src *catalog.Source) (*dedupeIndex, error) {
	if len(src.DedupeKey) == 0 {
		return nil, nil
	}
	if d := p.dedupes[src.Name]; d != nil {
		return d, nil
	}
	d, err := newDedupeIndex(src)
	if err != nil {
		return nil, err
	}
	d.hashFn = p.dedupeHash
	if err := d.load(ctx, p.store); err != nil {
		return nil, fmt.Errorf("ingest: build dedupe index of %s: %w", src.Name, err)
	}
	p.dedupes[src.Name] = d
	return d, nil
}
