package canonical

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/rs/zerolog"
)

// Keyspace prefixes (first byte of every Pebble key). See the package comment.
const (
	pMeta     = 'M'
	pCommit   = 'C'
	pHash     = 'H'
	pSchema   = 'S'
	pLatest   = 'L'
	pVersion  = 'V'
	pChange   = 'D'
	pIndex    = 'I'
	pIndexVer = 'J'
	pRaw      = 'R'
	pQuar     = 'Q'
	pQuarKey  = 'q'
	// Checkpoints (checkpoint.go): rows as of a commit, and their markers.
	pCheckpoint      = 'K'
	pCheckpointIndex = 'N'
	pCheckpointMark  = 'P'
)

// formatVersion names the store's format. Format 2 adds raw rows that
// keep their delivery's time and batch id on its first row (raw.go); a
// store of format 1 is read as it is and marked format 2 when opened, so
// that a binary of format 1, which would misread such rows, refuses it.
const formatVersion = "dualgate-canonical/2"

// formatVersion1 is the format before raw rows of format 2.
const formatVersion1 = "dualgate-canonical/1"

var metaFormatKey = []byte{pMeta, 'f', 'o', 'r', 'm', 'a', 't'}

// Errors returned by the store (wrapped; test with errors.Is).
var (
	ErrNoSuchTable  = errors.New("canonical: no such table")
	ErrNoSuchCommit = errors.New("canonical: no such commit")
	ErrAmbiguousRev = errors.New("canonical: ambiguous revision")
	ErrClosed       = errors.New("canonical: store is closed")
	ErrTxnDone      = errors.New("canonical: transaction already committed or rolled back")
)

// Hash is a SHA-256 commit hash.
type Hash [32]byte

// String returns the lowercase hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros (the parent of commit 1).
func (h Hash) IsZero() bool { return h == Hash{} }

// CommitKind says why a commit was made.
type CommitKind string

// Commit kinds.
const (
	KindIngest     CommitKind = "ingest"
	KindCorrection CommitKind = "correction"
	KindReplay     CommitKind = "replay"
	KindSchema     CommitKind = "schema"
)

func (k CommitKind) valid() bool {
	switch k {
	case KindIngest, KindCorrection, KindReplay, KindSchema:
		return true
	}
	return false
}

// CommitInfo is the metadata of one commit (a row of dualgate.commits).
type CommitInfo struct {
	ID             uint64
	Hash           Hash
	ParentHash     Hash
	CommittedAt    time.Time
	Committer      string
	Source         string
	Kind           CommitKind
	MappingVersion int64
	Message        string
	RowsAdded      int64
	RowsModified   int64
	RowsRemoved    int64
	RawFromSeq     uint64
	RawToSeq       uint64
	// Tables lists the tables whose rows changed; SchemaTables those whose
	// schema changed (both in table-ID order).
	Tables       []string
	SchemaTables []string

	tables       []uint32
	schemaTables []uint32
}

// Options configure Open.
type Options struct {
	// Logger receives store logs (commit_id fields). Zero value: disabled.
	Logger zerolog.Logger
	// CacheSize is Pebble's block cache size in bytes (default 64 MiB).
	CacheSize int64
	// Clock returns the commit time (default time.Now). Commit times are
	// forced to be non-decreasing along the chain.
	Clock func() time.Time
	// Pebble, if non-nil, is used as the base Pebble options.
	Pebble *pebble.Options
	// CheckpointFraction: a table gets a checkpoint (its rows as of a
	// commit, which AS OF scans read instead of the history; see
	// checkpoint.go) once the rows modified or removed since its last
	// one reach this fraction of its live rows. Zero means 1; negative
	// disables checkpoints (the store then reads and writes as before
	// them).
	CheckpointFraction float64
	// CommitSSTableBytes: a data commit whose staged size (raw rows,
	// quarantine records, versions, change log, latest rows and index
	// entries, estimated) reaches this many bytes is written as sstables
	// applied by one atomic Ingest instead of a batch (commitsst.go).
	// Zero means half of Pebble's memtable size, the size from which
	// Pebble stops applying a batch to the memtable and holds it as a
	// flushable batch, written to the WAL and then flushed to L0 (written
	// twice and sorted); negative keeps every commit on the batch path;
	// 1 sends every data commit through sstables (tests).
	CommitSSTableBytes int
}

// Store is the durable, versioned canonical store. All methods are safe for
// concurrent use. Writes serialize on one writer lock (see Begin); reads never
// take it.
type Store struct {
	db    *pebble.DB
	cache interface{ Unref() }
	log   zerolog.Logger
	clock func() time.Time

	wsem chan struct{} // writer lock (held by an open Txn)

	head atomic.Pointer[CommitInfo]
	cat  atomic.Pointer[catalogState]

	// guarded by wsem
	rawSeq   map[string]uint64 // last assigned seq per source
	lastQuar uint64

	infoMu    sync.RWMutex
	infoCache map[uint64]*CommitInfo

	ckpt *checkpointer // nil when checkpoints are disabled
	// sstBytes is the resolved Options.CommitSSTableBytes (< 0: never).
	sstBytes int
	// dir and po (Pebble's options, defaults filled) are what the
	// checkpointer needs to write sstables it ingests (checkpoint.go).
	dir string
	po  *pebble.Options

	closed atomic.Bool
}

type pebbleLogger struct{ l zerolog.Logger }

func (p pebbleLogger) Infof(format string, args ...any)  { p.l.Debug().Msgf(format, args...) }
func (p pebbleLogger) Errorf(format string, args ...any) { p.l.Error().Msgf(format, args...) }
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error().Msgf(format, args...)
	panic(fmt.Sprintf(format, args...))
}

// Open opens (creating if needed) the store in dir and recovers the committed
// state: head commit, table schemas and counters.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	po := &pebble.Options{}
	if opts.Pebble != nil {
		po = opts.Pebble.Clone()
	}
	s := &Store{log: opts.Logger, clock: opts.Clock, wsem: make(chan struct{}, 1),
		rawSeq: map[string]uint64{}, infoCache: map[uint64]*CommitInfo{}}
	if s.clock == nil {
		s.clock = time.Now
	}
	if po.Cache == nil {
		size := opts.CacheSize
		if size <= 0 {
			size = 64 << 20
		}
		c := pebble.NewCache(size)
		po.Cache = c
		s.cache = c
	}
	if po.Levels[0].FilterPolicy == nil {
		// Bloom filters make point reads of the latest keyspace (and misses)
		// skip sstables.
		for i := range po.Levels {
			po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		}
	}
	if po.Logger == nil {
		po.Logger = pebbleLogger{s.log}
	}
	po.EnsureDefaults()
	s.dir, s.po = dir, po
	s.sstBytes = opts.CommitSSTableBytes
	if s.sstBytes == 0 {
		s.sstBytes = int(po.MemTableSize / 2)
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		if s.cache != nil {
			s.cache.Unref()
		}
		return nil, fmt.Errorf("canonical: open pebble at %s: %w", dir, err)
	}
	s.db = db
	// Before any writer runs: sstables of commits or checkpoints a crash
	// interrupted before their ingest.
	if err := s.removeIngestFiles(); err != nil {
		s.log.Error().Err(err).Msg("ingest file cleanup")
	}
	if err := s.load(); err != nil {
		_ = db.Close()
		if s.cache != nil {
			s.cache.Unref()
		}
		return nil, err
	}
	s.startCheckpointer(opts.CheckpointFraction)
	h := s.head.Load()
	s.log.Info().Uint64("commit_id", h.ID).Str("dir", dir).Msg("canonical store opened")
	return s, nil
}

func (s *Store) load() error {
	v, err := s.get(metaFormatKey)
	if err != nil {
		return err
	}
	switch string(v) {
	case formatVersion:
	case "", formatVersion1:
		if err := s.db.Set(metaFormatKey, []byte(formatVersion), pebble.Sync); err != nil {
			return fmt.Errorf("canonical: write format: %w", err)
		}
	default:
		return fmt.Errorf("canonical: unsupported store format %q", v)
	}
	// Head: the last commit record.
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pCommit}, UpperBound: []byte{pCommit + 1}})
	if err != nil {
		return fmt.Errorf("canonical: load head: %w", err)
	}
	head := &CommitInfo{}
	if it.Last() {
		rec, err := decodeCommit(it.Value())
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("canonical: load head: %w", err)
		}
		head = rec
	}
	if err := closeIter(it); err != nil {
		return err
	}
	// Schemas: S|tid|^commit, newest first within a table.
	cat := newCatalogState()
	it, err = s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pSchema}, UpperBound: []byte{pSchema + 1}})
	if err != nil {
		return fmt.Errorf("canonical: load schemas: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		t, err := unmarshalSchema(it.Value())
		if err != nil {
			_ = it.Close()
			return err
		}
		h := cat.history[t.ID]
		cat.history[t.ID] = append([]*TableSchema{t}, h...)
		cat.byName[t.Name] = t.ID
		if t.ID >= cat.nextID {
			cat.nextID = t.ID + 1
		}
	}
	if err := closeIter(it); err != nil {
		return err
	}
	// Quarantine ids.
	it, err = s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pQuar}, UpperBound: []byte{pQuar + 1}})
	if err != nil {
		return fmt.Errorf("canonical: load quarantine: %w", err)
	}
	if it.Last() && len(it.Key()) == 9 {
		s.lastQuar = binary.BigEndian.Uint64(it.Key()[1:])
	}
	if err := closeIter(it); err != nil {
		return err
	}
	s.cat.Store(cat)
	s.head.Store(s.fillNames(head, cat))
	return nil
}

func closeIter(it *pebble.Iterator) error {
	if err := it.Close(); err != nil {
		return fmt.Errorf("canonical: iterator: %w", err)
	}
	return nil
}

// Close closes the store. Open iterators must be closed first.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	// Wait for an in-flight writer.
	s.wsem <- struct{}{}
	s.ckpt.stop()
	// Readers still iterating (a query the engine is winding down after its
	// context was canceled) hold sstable iterators; Pebble panics if it is
	// closed under them. Give them a moment to finish, then close anyway
	// and report what was left.
	deadline := time.Now().Add(closeWait)
	for s.db.Metrics().TableIters > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("readers still open: %v", r)
			}
		}()
		return s.db.Close()
	}()
	if s.cache != nil {
		s.cache.Unref()
	}
	if err != nil {
		return fmt.Errorf("canonical: close: %w", err)
	}
	return nil
}

// closeWait bounds how long Close waits for open readers.
const closeWait = 5 * time.Second

// Head returns the latest published commit (ID 0 for an empty store).
func (s *Store) Head() CommitInfo { return *s.head.Load() }

// DB exposes the underlying Pebble database. It is meant for tests and
// tooling (e.g. the tamper test); writing through it bypasses every invariant.
func (s *Store) DB() *pebble.DB { return s.db }

// Tables returns the current schemas of all tables, in ID order.
func (s *Store) Tables() []*TableSchema {
	cat := s.cat.Load()
	var out []*TableSchema
	for id := uint32(1); id < cat.nextID; id++ {
		if t := cat.byID(id); t != nil {
			out = append(out, t)
		}
	}
	return out
}

// Schema returns the schema of table as of commit asOf (0 = head).
func (s *Store) Schema(table string, asOf uint64) (*TableSchema, error) {
	cat := s.cat.Load()
	if asOf == 0 {
		asOf = s.head.Load().ID
	}
	t, ok := cat.at(table, asOf)
	if !ok {
		return nil, fmt.Errorf("%w: %s (as of commit %d)", ErrNoSuchTable, table, asOf)
	}
	return t, nil
}

// get reads a key from the DB, returning nil if absent (copying the value).
func (s *Store) get(key []byte) ([]byte, error) {
	return getFrom(s.db, key)
}

type getter interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

func getFrom(r getter, key []byte) ([]byte, error) {
	v, c, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("canonical: get: %w", err)
	}
	out := append([]byte{}, v...)
	_ = c.Close()
	return out, nil
}

// ---- keys ----

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func tablePrefix(p byte, tid uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{p}, tid)
}

func commitKey(id uint64) []byte { return u64([]byte{pCommit}, id) }

func schemaKey(tid uint32, c uint64) []byte { return u64(tablePrefix(pSchema, tid), ^c) }

func latestKey(tid uint32, pk []byte) []byte {
	return append(tablePrefix(pLatest, tid), pk...)
}

func versionKey(tid uint32, pk []byte, c uint64) []byte { return appendVersionKey(nil, tid, pk, c) }

// appendVersionKey appends V|tid|pk|^c to b.
func appendVersionKey(b []byte, tid uint32, pk []byte, c uint64) []byte {
	b = binary.BigEndian.AppendUint32(append(b, pVersion), tid)
	return u64(append(b, pk...), ^c)
}

func changeKey(tid uint32, c uint64, pk []byte) []byte {
	return append(u64(tablePrefix(pChange, tid), c), pk...)
}

func indexPrefix(p byte, tid uint32, idx int) []byte {
	return append(tablePrefix(p, tid), byte(idx))
}

// ---- commit records ----

type enc struct{ b []byte }

func (e *enc) uv(v uint64)    { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) iv(v int64)     { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) str(s string)   { e.uv(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) raw(b []byte)   { e.uv(uint64(len(b))); e.b = append(e.b, b...) }
func (e *enc) fixed(b []byte) { e.b = append(e.b, b...) }

type dec struct {
	b   []byte
	err error
}

func (d *dec) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) iv() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes() []byte {
	n := d.uv()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string { return string(d.bytes()) }

func (d *dec) fixed(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.err = errCorrupt
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// metaBytes is the canonical encoding of a commit's metadata, used both in
// the stored record and in the hash.
func metaBytes(ci *CommitInfo) []byte {
	e := &enc{}
	e.uv(ci.ID)
	e.iv(ci.CommittedAt.UnixMicro())
	e.str(ci.Committer)
	e.str(ci.Source)
	e.str(string(ci.Kind))
	e.iv(ci.MappingVersion)
	e.str(ci.Message)
	e.iv(ci.RowsAdded)
	e.iv(ci.RowsModified)
	e.iv(ci.RowsRemoved)
	e.uv(ci.RawFromSeq)
	e.uv(ci.RawToSeq)
	return e.b
}

func encodeCommit(ci *CommitInfo) []byte {
	e := &enc{}
	e.fixed([]byte{1})
	e.fixed(ci.Hash[:])
	e.fixed(ci.ParentHash[:])
	e.raw(metaBytes(ci))
	e.uv(uint64(len(ci.tables)))
	for _, t := range ci.tables {
		e.uv(uint64(t))
	}
	e.uv(uint64(len(ci.schemaTables)))
	for _, t := range ci.schemaTables {
		e.uv(uint64(t))
	}
	return e.b
}

func decodeCommit(b []byte) (*CommitInfo, error) {
	d := &dec{b: b}
	if v := d.fixed(1); d.err == nil && v[0] != 1 {
		return nil, fmt.Errorf("%w: commit record version %d", errCorrupt, v[0])
	}
	ci := &CommitInfo{}
	copy(ci.Hash[:], d.fixed(32))
	copy(ci.ParentHash[:], d.fixed(32))
	m := &dec{b: d.bytes()}
	ci.ID = m.uv()
	ci.CommittedAt = time.UnixMicro(m.iv()).UTC()
	ci.Committer = m.str()
	ci.Source = m.str()
	ci.Kind = CommitKind(m.str())
	ci.MappingVersion = m.iv()
	ci.Message = m.str()
	ci.RowsAdded = m.iv()
	ci.RowsModified = m.iv()
	ci.RowsRemoved = m.iv()
	ci.RawFromSeq = m.uv()
	ci.RawToSeq = m.uv()
	n := d.uv()
	for i := uint64(0); i < n && d.err == nil; i++ {
		ci.tables = append(ci.tables, uint32(d.uv()))
	}
	n = d.uv()
	for i := uint64(0); i < n && d.err == nil; i++ {
		ci.schemaTables = append(ci.schemaTables, uint32(d.uv()))
	}
	if d.err != nil || m.err != nil || len(m.b) != 0 || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: commit record", errCorrupt)
	}
	return ci, nil
}

// fillNames sets the exported table-name lists from the IDs.
func (s *Store) fillNames(ci *CommitInfo, cat *catalogState) *CommitInfo {
	ci.Tables, ci.SchemaTables = nil, nil
	for _, t := range ci.tables {
		if ts := cat.byID(t); ts != nil {
			ci.Tables = append(ci.Tables, ts.Name)
		}
	}
	for _, t := range ci.schemaTables {
		if ts := cat.byID(t); ts != nil {
			ci.SchemaTables = append(ci.SchemaTables, ts.Name)
		}
	}
	return ci
}
