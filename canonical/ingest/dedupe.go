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
// state of its own. To keep memory small (~40 bytes per key) it maps a
// 64-bit hash of the encoded key to the first seq and confirms every hit by
// reading that raw row (hits are duplicates, which are rare); keys whose
// hash collides with a different key are kept exactly in a side map. Rows
// with a NULL in their dedupe key are never duplicates (NULL equals
// nothing, as in SQL). Guarded by Pipeline.mu.
type dedupeIndex struct {
	source string
	cols   []int
	kinds  []canonical.Kind
	seed   maphash.Seed
	first  map[uint64]uint64
	exact  map[string]uint64
}

func newDedupeIndex(src *catalog.Source) (*dedupeIndex, error) {
	d := &dedupeIndex{source: src.Name, seed: maphash.MakeSeed(), first: map[uint64]uint64{}, exact: map[string]uint64{}}
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
	if len(d.cols) == 0 {
		return nil, nil
	}
	vals := make([]any, len(d.cols))
	for i, c := range d.cols {
		if c >= len(row) || row[c] == nil {
			return nil, nil
		}
		vals[i] = row[c]
	}
	return canonical.AppendKey(nil, d.kinds, vals)
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
	if seq, ok := d.exact[string(k)]; ok {
		return seq, true, nil
	}
	seq, ok := d.first[maphash.Bytes(d.seed, k)]
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
	h := maphash.Bytes(d.seed, k)
	if _, taken := d.first[h]; taken {
		d.exact[string(k)] = seq
		return
	}
	d.first[h] = seq
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
	if err := d.load(ctx, p.store); err != nil {
		return nil, fmt.Errorf("ingest: build dedupe index of %s: %w", src.Name, err)
	}
	p.dedupes[src.Name] = d
	return d, nil
}
