package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/dualgate/dualgate/canonical"
)

// Batcher buffers the rows a session writes through engine tables (inserts
// into raw.<source>, steward DML on canonical.<entity>) until the session's
// statement (autocommit) or transaction ends, then commits them through the
// Pipeline (Commit) or drops them (Rollback). It implements
// sqltables.Writes, and with Commit/Rollback the method set of
// gateway.TxHooks (the binary adapts gateway.SessionInfo to user and
// message). Sessions are independent: a session's buffer is touched only
// by its own goroutine; the map of sessions is locked.
type Batcher struct {
	p        *Pipeline
	mu       sync.Mutex
	sessions map[uint32]*sessionBuf
}

type sessionBuf struct {
	raw       map[string][][]any
	rawOrder  []string
	corr      map[string][]canonical.Change
	corrOrder []string
}

// NewBatcher returns a Batcher committing through p.
func NewBatcher(p *Pipeline) *Batcher {
	return &Batcher{p: p, sessions: map[uint32]*sessionBuf{}}
}

func (b *Batcher) buf(id uint32) *sessionBuf {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sessions[id]
	if s == nil {
		s = &sessionBuf{raw: map[string][][]any{}, corr: map[string][]canonical.Change{}}
		b.sessions[id] = s
	}
	return s
}

func (b *Batcher) take(id uint32) *sessionBuf {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sessions[id]
	delete(b.sessions, id)
	return s
}

// Raw buffers one captured row of source (in the source's column order).
func (b *Batcher) Raw(ctx *sql.Context, source string, row []any) error {
	src := b.p.cat.Source(source)
	if src == nil {
		return fmt.Errorf("ingest: unknown source %q", source)
	}
	if len(row) != len(src.Columns) {
		return fmt.Errorf("ingest: raw.%s row has %d values for %d columns", source, len(row), len(src.Columns))
	}
	id, err := sessionID(ctx)
	if err != nil {
		return err
	}
	s := b.buf(id)
	if _, ok := s.raw[source]; !ok {
		s.rawOrder = append(s.rawOrder, source)
	}
	s.raw[source] = append(s.raw[source], append([]any(nil), row...))
	return nil
}

// Correction buffers a steward change to entity: op upsert with the new row
// (stored column order), op delete with the old row or its key.
func (b *Batcher) Correction(ctx *sql.Context, entity string, op canonical.Op, row []any) error {
	if b.p.cat.Entity(entity) == nil {
		return fmt.Errorf("ingest: unknown entity %q", entity)
	}
	id, err := sessionID(ctx)
	if err != nil {
		return err
	}
	s := b.buf(id)
	if _, ok := s.corr[entity]; !ok {
		s.corrOrder = append(s.corrOrder, entity)
	}
	s.corr[entity] = append(s.corr[entity], canonical.Change{Table: entity, Op: op, Row: append([]any(nil), row...)})
	return nil
}

// Commit commits the session's buffered writes: one Ingest per source
// (committer user) in first-write order, then one Correct per entity
// (committer user, message commitMessage). It returns the reports' notices.
// The buffer is cleared whatever the outcome. Corrections without a commit
// message are refused before anything is committed. Each source and each
// entity is its own store commit: a failure part way leaves the earlier
// ones committed, and the error says which were.
func (b *Batcher) Commit(ctx context.Context, sessionID uint32, user, commitMessage string) ([]string, error) {
	s := b.take(sessionID)
	if s == nil {
		return nil, nil
	}
	if len(s.corrOrder) > 0 && commitMessage == "" {
		return nil, ErrNoMessage
	}
	var notices []string
	fail := func(err error) ([]string, error) {
		if len(notices) > 0 {
			return notices, fmt.Errorf("%w (already committed: %v)", err, notices)
		}
		return nil, err
	}
	for _, src := range s.rawOrder {
		rep, err := b.p.Ingest(ctx, src, s.raw[src], user)
		if err != nil {
			return fail(err)
		}
		notices = append(notices, rep.Notice())
	}
	for _, ent := range s.corrOrder {
		rep, err := b.p.Correct(ctx, ent, s.corr[ent], user, commitMessage)
		if err != nil {
			return fail(err)
		}
		notices = append(notices, rep.Notice())
	}
	return notices, nil
}

// Rollback drops the session's buffered writes.
func (b *Batcher) Rollback(sessionID uint32) { b.take(sessionID) }

// Pending reports how many rows and changes a session has buffered.
func (b *Batcher) Pending(sessionID uint32) (rows, changes int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sessions[sessionID]
	if s == nil {
		return 0, 0
	}
	for _, r := range s.raw {
		rows += len(r)
	}
	for _, c := range s.corr {
		changes += len(c)
	}
	return rows, changes
}

var errNoSession = errors.New("ingest: no session")

func sessionID(ctx *sql.Context) (uint32, error) {
	if ctx == nil || ctx.Session == nil {
		return 0, errNoSession
	}
	return ctx.Session.ID(), nil
}
