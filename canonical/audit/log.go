// Package audit is dualgate.audit's storage: an append-only, hash-chained
// log of every statement clients run, in its own Pebble database (the
// audit trail must survive, and be verifiable, independently of the
// canonical store it describes).
//
// Layout: key 'b' + big-endian seq of its first record -> one group
// commit's records in a compact binary form (batch.go); key 'a' -> the
// anchor (seq and hash of the newest purged record, so the chain still
// verifies after retention purges). Trails written by earlier builds also
// hold key 'r' + big-endian seq -> one record as JSON; those are read as
// before and precede every batch in seq order. Each record's hash is
// SHA-256 over its predecessor's hash and its own JSON with the hash field
// empty (whichever form stores it), so changing, removing or reordering
// any record breaks every later hash: Verify finds it.
//
// Writes: Append hands the record to one writer goroutine that assigns
// seq and hash in arrival order and commits what arrives within 10 ms as one
// fsynced batch (group commit), so auditing costs a statement an enqueue,
// not an fsync. The price: a crash can lose the records of the last few
// milliseconds (never corrupt or reorder the chain). Append blocks rather
// than drop a record when the writer falls behind; Flush waits until
// everything appended so far is durable.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"
	"github.com/rs/zerolog"
)

// Record is one audited statement (the columns of dualgate.audit).
type Record struct {
	Seq         uint64    `json:"seq"`
	At          time.Time `json:"at"`
	User        string    `json:"user_name"`
	Role        string    `json:"role"`
	Application string    `json:"application_name"`
	ClientAddr  string    `json:"client_addr"`
	Fingerprint string    `json:"fingerprint"`
	Statement   string    `json:"statement"` // literals masked
	Relations   []string  `json:"relations"`
	Authority   string    `json:"authority"`
	AsOf        uint64    `json:"as_of"`
	Rows        int64     `json:"rows"` // returned or affected; 0 when it failed
	DurationMS  float64   `json:"duration_ms"`
	SQLState    string    `json:"sqlstate"` // 00000 on success
	// Via names who relayed the record when the statement ran elsewhere (a
	// sidecar answering from Redis): "relayed by <user> from <address>".
	// Empty for the primary's own statements (and then not hashed, so
	// records written before the field existed verify as they did).
	Via      string `json:"via,omitempty"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// Options configure a Log.
type Options struct {
	// Retention purges records older than this (0: keep forever).
	Retention time.Duration
	// LegalHold stops every purge.
	LegalHold bool
	Logger    zerolog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Log is an open audit trail.
type Log struct {
	db    *pebble.DB
	cache *pebble.Cache
	opts  Options
	log   zerolog.Logger

	queue chan item
	stop  chan struct{}
	done  chan struct{}

	mu     sync.Mutex // guards seq, head and closed
	seq    uint64
	head   [32]byte
	closed bool
	err    error // first write error: the trail then refuses appends

	// The writer's scratch space, reused across batches (pebble copies
	// what Set gets): the JSON a record is hashed over, the batch's
	// records, its encoding.
	buf  []byte
	recs []*Record
	enc  batchEncoder
	val  []byte
	// headHex is hex(head) once the writer has chained a record (the
	// last record's Hash, reused as the next one's PrevHash), "" before.
	headHex string
}

type item struct {
	rec   *Record
	flush chan error
}

var anchorKey = []byte{'a'}

// batchWindow is how long the writer gathers records into one fsynced
// batch: the most a crash can lose, and what keeps auditing from costing
// an fsync per statement. 10 ms, not less: on a loaded 2-core machine
// each fsync costs the process far more CPU than the wait suggests (the
// writer, Pebble's WAL goroutine and the processors they hand off), and a
// 2 ms window cost a serving lookup 2.4 µs of its ~38 µs against 10 ms
// (BENCHMARKS.md, ninth run). PostgreSQL's asynchronous commit risks
// three times its 200 ms wal_writer_delay; an audit record lost to a
// crash was of a statement that ran in the last 10 ms.
const batchWindow = 10 * time.Millisecond

// seqKey is prefix + big-endian seq: 'r' keys hold the JSON records of
// earlier builds, 'b' keys batches.
func seqKey(prefix byte, seq uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefix
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

func recordKey(seq uint64) []byte { return seqKey('r', seq) }

func batchKey(seq uint64) []byte { return seqKey('b', seq) }

// anchor is the newest purged record's seq and hash: the chain verifies
// from it. Trails of format 1 (JSON records only) kept the hash in Hash.
// From format 2 (batches), Hash holds formatRefusal and the hash moves to
// ChainHash: a format-1 build reads Hash as hex and stops with that text
// instead of appending JSON records from seq 1 over a trail whose newest
// records it cannot see (forking the chain). Open marks every trail it
// opens this way, anchor or not.
type anchor struct {
	Seq       uint64 `json:"seq"`
	Hash      string `json:"hash"`
	Format    int    `json:"format,omitempty"`
	ChainHash string `json:"chain_hash,omitempty"`
}

// trailFormat is the format this build writes.
const trailFormat = 2

// formatRefusal is what a format-1 build reports opening a newer trail:
// "audit trail anchor: bad hash <this>".
const formatRefusal = "audit trail format 2 (batched records) was written by a newer dualgate; this build cannot continue its chain: run dualgate from that release or later"

// newAnchor is the anchor at seq/hash in this build's format.
func newAnchor(seq uint64, hash string) anchor {
	return anchor{Seq: seq, Hash: formatRefusal, Format: trailFormat, ChainHash: hash}
}

// chainHash is the anchor's hash in hex ("" for the chain's start).
func (a anchor) chainHash() string {
	if a.Format >= 2 {
		return a.ChainHash
	}
	return a.Hash
}

// Open opens (or creates) the audit trail in dir.
func Open(dir string, opts Options) (*Log, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cache := pebble.NewCache(8 << 20)
	db, err := pebble.Open(dir, &pebble.Options{Cache: cache, Logger: quietLogger{opts.Logger}})
	if err != nil {
		cache.Unref()
		return nil, fmt.Errorf("open audit trail %s: %w", dir, err)
	}
	l := &Log{db: db, cache: cache, opts: opts, log: opts.Logger, queue: make(chan item, 4096),
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := l.loadHead(); err != nil {
		_ = db.Close()
		cache.Unref()
		return nil, err
	}
	if err := l.markFormat(); err != nil {
		_ = db.Close()
		cache.Unref()
		return nil, fmt.Errorf("open audit trail %s: %w", dir, err)
	}
	if err := l.Purge(context.Background()); err != nil {
		l.log.Warn().Err(err).Msg("audit retention purge failed")
	}
	go l.writer()
	return l, nil
}

// loadHead finds the newest record (or the anchor) to continue the chain:
// the last batch's last record, else the last JSON record.
func (l *Log) loadHead() error {
	a, err := l.anchor()
	if err != nil {
		return err
	}
	if a.Format > trailFormat {
		return fmt.Errorf("audit trail format %d was written by a newer dualgate; this build reads formats up to %d: run dualgate from that release or later", a.Format, trailFormat)
	}
	l.seq = a.Seq
	if h := a.chainHash(); h != "" {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return fmt.Errorf("audit trail anchor: bad hash %q", h)
		}
		copy(l.head[:], b)
	}
	for _, prefix := range []byte{'b', 'r'} {
		recs, err := l.newest(prefix)
		if err != nil {
			return fmt.Errorf("audit trail: newest record: %w", err)
		}
		if len(recs) == 0 {
			continue
		}
		r := recs[len(recs)-1]
		h, err := hex.DecodeString(r.Hash)
		if err != nil || len(h) != 32 {
			return fmt.Errorf("audit trail: newest record %d has a bad hash", r.Seq)
		}
		l.seq = r.Seq
		copy(l.head[:], h)
		return nil
	}
	return nil
}

// newest decodes the last value under prefix (none: nil).
func (l *Log) newest(prefix byte) ([]Record, error) {
	it, err := l.db.NewIter(prefixBounds(prefix))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if !it.Last() {
		return nil, it.Error()
	}
	_, recs, err := decodeStored(nil, it.Key(), it.Value())
	return recs, err
}

func prefixBounds(prefix byte) *pebble.IterOptions {
	return &pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}}
}

// decodeStored decodes one stored value: a batch ('b' key) or a JSON
// record an earlier build wrote ('r' key), into dst (reused). seq is the
// one the key names.
func decodeStored(dst []Record, key, value []byte) (seq uint64, recs []Record, err error) {
	if len(key) != 9 {
		return 0, dst[:0], fmt.Errorf("unexpected key %x", key)
	}
	seq = binary.BigEndian.Uint64(key[1:])
	if key[0] == 'b' {
		recs, err = decodeBatch(dst, value)
		return seq, recs, err
	}
	var r Record
	if err := json.Unmarshal(value, &r); err != nil {
		return seq, dst[:0], err
	}
	return seq, append(dst[:0], r), nil
}

// stored is one value as walk reads it.
type stored struct {
	key  []byte // valid until fn returns
	seq  uint64 // the key's
	recs []Record
	err  error // the key or value does not decode
}

// walk calls fn with every stored value in seq order until it returns
// false: the JSON records of earlier builds first, then the batches (each
// written after every JSON record, so with higher seqs).
func (l *Log) walk(ctx context.Context, fn func(stored) bool) error {
	var buf []Record
	for _, prefix := range []byte{'r', 'b'} {
		more, err := func() (bool, error) {
			it, err := l.db.NewIter(prefixBounds(prefix))
			if err != nil {
				return false, err
			}
			defer it.Close()
			for ok := it.First(); ok; ok = it.Next() {
				if err := ctx.Err(); err != nil {
					return false, err
				}
				s := stored{key: it.Key()}
				s.seq, s.recs, s.err = decodeStored(buf, it.Key(), it.Value())
				buf = s.recs
				if !fn(s) {
					return false, nil
				}
			}
			return true, it.Error()
		}()
		if !more || err != nil {
			return err
		}
	}
	return nil
}

// markFormat rewrites the anchor in this build's format unless it already
// is (see anchor): a new trail gets one at seq 0.
func (l *Log) markFormat() error {
	a, err := l.anchor()
	if err != nil || a.Format == trailFormat {
		return err
	}
	v, _ := json.Marshal(newAnchor(a.Seq, a.chainHash()))
	return l.db.Set(anchorKey, v, pebble.Sync)
}

func (l *Log) anchor() (anchor, error) {
	var a anchor
	v, closer, err := l.db.Get(anchorKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return a, nil
	}
	if err != nil {
		return a, err
	}
	defer closer.Close()
	if err := json.Unmarshal(v, &a); err != nil {
		return a, fmt.Errorf("audit trail anchor: %w", err)
	}
	return a, nil
}

// Append queues a record; seq, prev_hash and hash are assigned in order.
// It blocks while the writer is behind. After Close it drops the record
// and logs it.
func (l *Log) Append(r Record) {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		l.log.Warn().Str("user", r.User).Str("statement", r.Statement).Msg("audit record after close dropped")
		return
	}
	// Records travel to the writer in pooled boxes (one statement, one
	// record: the box would otherwise be an allocation per statement);
	// commit returns them.
	rp := recordPool.Get().(*Record)
	*rp = r
	select {
	case l.queue <- item{rec: rp}:
	case <-l.stop:
		recordPool.Put(rp)
	}
}

var recordPool = sync.Pool{New: func() any { return new(Record) }}

// Flush waits until every record appended before it is durable.
func (l *Log) Flush(ctx context.Context) error {
	ch := make(chan error, 1)
	select {
	case l.queue <- item{flush: ch}:
	case <-l.stop:
		return errors.New("audit trail closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer commits queued records in fsynced batches.
func (l *Log) writer() {
	defer close(l.done)
	purge := time.NewTicker(time.Hour)
	defer purge.Stop()
	for {
		var first item
		select {
		case first = <-l.queue:
		case <-purge.C:
			if err := l.Purge(context.Background()); err != nil {
				l.log.Warn().Err(err).Msg("audit retention purge failed")
			}
			continue
		case <-l.stop:
			// Drain what was queued before Close, as one batch.
			var rest []item
			for drained := false; !drained; {
				select {
				case it := <-l.queue:
					rest = append(rest, it)
				default:
					drained = true
				}
			}
			if len(rest) > 0 {
				l.commit(rest)
			}
			return
		}
		// Group commit: let records queue up for batchWindow (without
		// waking for each one), then write them as one fsynced batch. A
		// Flush that starts a window commits at once.
		if first.flush == nil {
			window := time.NewTimer(batchWindow)
			select {
			case <-window.C:
			case <-l.stop:
			}
			window.Stop()
		}
		batch := []item{first}
	more:
		for len(batch) < cap(l.queue) {
			select {
			case it := <-l.queue:
				batch = append(batch, it)
			default:
				break more
			}
		}
		l.commit(batch)
	}
}

// commit chains a batch's records and writes them as one fsynced batch
// value, then answers its flushes.
func (l *Log) commit(items []item) {
	l.mu.Lock()
	seq, head, headHex := l.seq, l.head, l.headHex
	err := l.err
	recs := l.recs[:0]
	for _, it := range items {
		if it.rec == nil || err != nil {
			continue
		}
		seq++
		r := it.rec
		r.Seq = seq
		r.At = r.At.UTC()
		var h [32]byte
		h, err = chainBody(head, headHex, r, &l.buf)
		if err != nil {
			break
		}
		recs = append(recs, r)
		head, headHex = h, r.Hash
	}
	l.mu.Unlock()
	if err == nil && len(recs) > 0 {
		l.val, err = l.enc.appendBatch(l.val[:0], recs)
		if err == nil {
			err = l.db.Set(batchKey(recs[0].Seq), l.val, pebble.Sync)
		}
	}
	clear(recs) // the pool gets the records back below
	l.recs = recs[:0]
	l.mu.Lock()
	if err == nil {
		l.seq, l.head, l.headHex = seq, head, headHex
	} else if l.err == nil {
		l.err = err
		l.log.Error().Err(err).Msg("audit trail write failed; records are being lost")
	}
	l.mu.Unlock()
	for _, it := range items {
		if it.flush != nil {
			it.flush <- err
		}
		if it.rec != nil {
			*it.rec = Record{}
			recordPool.Put(it.rec)
		}
	}
}

// chain sets r's prev_hash and hash (SHA-256 over prev and r's JSON
// without its hash) and returns the hash.
func chain(prev [32]byte, r *Record) ([32]byte, error) {
	return chainBody(prev, "", r, nil)
}

// chainBody is chain with scratch space: buf, if not nil, is reused
// across calls for the JSON hashed. prevHex, if not empty, is hex(prev)
// already made (the previous record's Hash), so chaining encodes one hash,
// not two.
func chainBody(prev [32]byte, prevHex string, r *Record, buf *[]byte) ([32]byte, error) {
	r.validUTF8()
	if prevHex == "" {
		prevHex = hex.EncodeToString(prev[:])
	}
	r.PrevHash = prevHex
	r.Hash = ""
	// The hash input is prev followed by the body: encode the body right
	// after prev in one buffer and hash it in one call.
	var in []byte
	if buf != nil {
		in = (*buf)[:0]
	}
	in = append(in, prev[:]...)
	in, err := appendRecord(in, r)
	if err != nil {
		return [32]byte{}, err
	}
	out := sha256.Sum256(in)
	r.Hash = hex.EncodeToString(out[:])
	if buf != nil {
		*buf = in[:0]
	}
	return out, nil
}

// validUTF8 replaces each invalid UTF-8 sequence in r's text with U+FFFD
// before r is hashed. JSON can only hold valid UTF-8: the encoder writes a
// bad byte as the escape \ufffd, and a record read back and re-encoded by
// Verify writes the decoded U+FFFD as plain UTF-8 instead, so a record
// hashed over invalid text could never verify. Statement text comes from
// clients (a bytea literal in a non-UTF-8 client encoding, a fuzzer) and
// must not be able to break the chain.
func (r *Record) validUTF8() {
	for _, f := range []*string{&r.User, &r.Role, &r.Application, &r.ClientAddr, &r.Fingerprint, &r.Statement, &r.Authority, &r.SQLState, &r.Via} {
		if !utf8.ValidString(*f) {
			*f = strings.ToValidUTF8(*f, "\uFFFD")
		}
	}
	copied := false
	for i, rel := range r.Relations {
		if !utf8.ValidString(rel) {
			if !copied { // the slice is the caller's
				r.Relations, copied = slices.Clone(r.Relations), true
			}
			r.Relations[i] = strings.ToValidUTF8(rel, "\uFFFD")
		}
	}
}

// Scan calls fn for every record in order until it returns false.
func (l *Log) Scan(ctx context.Context, fn func(Record) bool) error {
	var err error
	werr := l.walk(ctx, func(s stored) bool {
		if s.err != nil {
			err = fmt.Errorf("audit record %x: %w", s.key, s.err)
			return false
		}
		for _, r := range s.recs {
			if !fn(r) {
				return false
			}
		}
		return true
	})
	if werr != nil {
		return werr
	}
	return err
}

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	OK       bool
	Records  uint64
	BrokenAt uint64 // seq of the first bad record
	Problem  string
	HeadHash string
}

// Verify re-hashes the whole chain from the anchor.
func (l *Log) Verify(ctx context.Context) (VerifyResult, error) {
	var res VerifyResult
	a, err := l.anchor()
	if err != nil {
		return res, err
	}
	var prev [32]byte
	if ah := a.chainHash(); ah != "" {
		h, err := hex.DecodeString(ah)
		if err != nil || len(h) != 32 {
			return VerifyResult{Problem: "bad anchor hash"}, nil
		}
		copy(prev[:], h)
	}
	next := a.Seq + 1
	fail := func(seq uint64, format string, args ...any) bool {
		res.BrokenAt, res.Problem = seq, fmt.Sprintf(format, args...)
		return false
	}
	err = l.walk(ctx, func(s stored) bool {
		if len(s.key) != 9 {
			return fail(next, "unexpected key %x", s.key)
		}
		if s.seq != next {
			return fail(next, "record %d missing (found %d)", next, s.seq)
		}
		if s.err != nil {
			return fail(next, "record %d does not decode: %v", next, s.err)
		}
		for _, r := range s.recs {
			want := r.Hash
			if r.Seq != next {
				return fail(next, "record %d claims seq %d", next, r.Seq)
			}
			if r.PrevHash != hex.EncodeToString(prev[:]) {
				return fail(next, "record %d does not follow record %d", next, next-1)
			}
			// A record whose JSON cannot be made (a garbled time past
			// year 9999) was not written by the writer, which hashes
			// that JSON.
			h, err := chain(prev, &r)
			if err != nil {
				return fail(next, "record %d does not encode: %v", next, err)
			}
			if r.Hash != want {
				return fail(next, "record %d was changed after it was written", next)
			}
			prev = h
			next++
			res.Records++
		}
		return true
	})
	if err != nil {
		return res, err
	}
	res.OK = res.Problem == ""
	res.HeadHash = hex.EncodeToString(prev[:])
	return res, nil
}

// Purge deletes records older than the retention, unless a legal hold
// is on; the newest purged record becomes the anchor the chain verifies
// from.
func (l *Log) Purge(ctx context.Context) error {
	if l.opts.Retention <= 0 || l.opts.LegalHold {
		return nil
	}
	cutoff := l.opts.Now().Add(-l.opts.Retention)
	// Whole values go: a JSON record, or a batch all of whose records
	// are past the cutoff. The walk stops at the first value holding a
	// record to keep.
	var last Record
	var lastKey []byte
	var derr error
	err := l.walk(ctx, func(s stored) bool {
		if s.err != nil {
			derr = fmt.Errorf("audit record %x: %w", s.key, s.err)
			return false
		}
		for _, r := range s.recs {
			if !r.At.Before(cutoff) {
				return false
			}
		}
		last, lastKey = s.recs[len(s.recs)-1], slices.Clone(s.key)
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil || lastKey == nil {
		return err
	}
	b := l.db.NewBatch()
	defer b.Close()
	// Every JSON record precedes every batch: purging through a batch
	// purges them all.
	if err := b.DeleteRange(recordKey(0), recordKey(last.Seq+1), nil); err != nil {
		return err
	}
	if lastKey[0] == 'b' {
		if err := b.DeleteRange(batchKey(0), batchKey(binary.BigEndian.Uint64(lastKey[1:])+1), nil); err != nil {
			return err
		}
	}
	v, _ := json.Marshal(newAnchor(last.Seq, last.Hash))
	if err := b.Set(anchorKey, v, nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	l.log.Info().Uint64("through_seq", last.Seq).Msg("audit records past retention purged")
	return nil
}

// DB is the underlying database (tests tamper with it).
func (l *Log) DB() *pebble.DB { return l.db }

// Close writes what is queued and closes the database.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	err := l.db.Close()
	l.cache.Unref()
	return err
}

// quietLogger sends Pebble's chatter to debug.
type quietLogger struct{ log zerolog.Logger }

func (q quietLogger) Infof(format string, args ...any) {
	q.log.Debug().Msgf("audit pebble: "+format, args...)
}
func (q quietLogger) Errorf(format string, args ...any) {
	q.log.Error().Msgf("audit pebble: "+format, args...)
}
func (q quietLogger) Fatalf(format string, args ...any) {
	q.log.Fatal().Msgf("audit pebble: "+format, args...)
}
