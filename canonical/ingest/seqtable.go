package ingest

// seqTable maps 64-bit key hashes to raw seqs (never 0): the dedupe
// index's hash map. It is open addressing with linear probing over one
// flat, pointer-free slice kept at most half full, so a bulk load inserts
// with about one cache miss per key, can reserve room for a whole batch
// at once, and costs the garbage collector nothing to scan.
type seqTable struct {
	slots []seqSlot // len is a power of two (or 0)
	n     int
}

type seqSlot struct {
	hash, seq uint64 // seq 0: empty
}

// get returns the seq stored for hash h.
func (t *seqTable) get(h uint64) (uint64, bool) {
	if t.n == 0 {
		return 0, false
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.seq == 0 {
			return 0, false
		}
		if s.hash == h {
			return s.seq, true
		}
	}
}

// put stores seq (not 0) for h unless h is already there; it reports
// whether it stored it.
func (t *seqTable) put(h, seq uint64) bool {
	t.reserve(1)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.seq == 0 {
			s.hash, s.seq = h, seq
			t.n++
			return true
		}
		if s.hash == h {
			return false
		}
	}
}

// reserve makes room for n more entries without growing.
func (t *seqTable) reserve(n int) {
	if 2*(t.n+n) <= len(t.slots) {
		return
	}
	size := 1024
	for size < 2*(t.n+n) {
		size *= 2
	}
	old := t.slots
	t.slots, t.n = make([]seqSlot, size), 0
	for _, s := range old {
		if s.seq != 0 {
			t.put(s.hash, s.seq)
		}
	}
}

// len returns the number of entries.
func (t *seqTable) len() int { return t.n }
