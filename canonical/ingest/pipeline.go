package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

// QueryFunc runs one Postgres SELECT over rows exposed as the relation
// `batch` whose columns are colNames with Postgres type OIDs colOIDs, and
// returns the result's column names and rows (engine values). The binary
// passes gateway.Engine.QueryBatch.
type QueryFunc func(ctx context.Context, query string, colNames []string, colOIDs []uint32, rows [][]any) (outNames []string, out [][]any, err error)

// Pipeline runs the canonical pipeline of one catalog over one store: raw
// capture, dedupe, mappings, type/key/rule/transition checks, quarantine and
// commits (ingest, correction, replay). Its methods are safe for concurrent
// use; Ingest, Correct and Replay serialize (as store commits do anyway).
type Pipeline struct {
	store *canonical.Store
	cat   *catalog.Catalog
	query QueryFunc
	log   zerolog.Logger

	mu      sync.Mutex // serializes Ingest/Correct/Replay; guards dedupes and queries
	dedupes map[string]*dedupeIndex
	queries map[*catalog.Mapping]mappingQuery

	observer atomic.Pointer[Observer]

	noCompile  bool                // run every mapping through the engine (tests)
	noFuse     bool                // no fused path (fused.go): every batch through the checker (tests)
	fusedRuns  int                 // batches committed by the fused path (tests)
	batchIDs   func() string       // replaces newBatchID (tests: identical commits in two stores)
	dedupeHash func([]byte) uint64 // replaces the dedupe index's hash (tests)
}

// Observer is told of every Ingest, Replay and Correct when it returns:
// its report, or its error (then rep has only Kind and Source or Entity).
// The binary counts them for /metrics. It runs on the caller's goroutine
// after the run (its commit is durable), so it must be quick.
type Observer func(rep Report, err error)

// SetObserver installs fn (nil removes it).
func (p *Pipeline) SetObserver(fn Observer) {
	if fn == nil {
		p.observer.Store(nil)
		return
	}
	p.observer.Store(&fn)
}

// observe hands a finished run to the observer, if any.
func (p *Pipeline) observe(rep Report, err error, kind canonical.CommitKind, source, entity string) {
	fn := p.observer.Load()
	if fn == nil {
		return
	}
	if err != nil {
		rep = Report{Kind: kind, Source: source, Entity: entity}
	}
	(*fn)(rep, err)
}

type mappingQuery struct {
	sql        string
	attributed bool
	proj       *projection // non-nil: evaluated without the engine
}

// New returns a pipeline for cat over store. Call EnsureSchema before the
// first Ingest.
func New(store *canonical.Store, cat *catalog.Catalog, query QueryFunc, log zerolog.Logger) (*Pipeline, error) {
	if store == nil || cat == nil || query == nil {
		return nil, errors.New("ingest: New needs a store, a catalog and a query function")
	}
	return &Pipeline{store: store, cat: cat, query: query, log: log,
		dedupes: map[string]*dedupeIndex{}, queries: map[*catalog.Mapping]mappingQuery{}}, nil
}

// Catalog returns the pipeline's catalog.
func (p *Pipeline) Catalog() *catalog.Catalog { return p.cat }

// Store returns the pipeline's store.
func (p *Pipeline) Store() *canonical.Store { return p.store }

// schemaCommitter is the committer of schema commits made by EnsureSchema.
const schemaCommitter = "dualgate"

// EnsureSchema makes the store's tables match the catalog's entities: a
// missing entity becomes a table (columns in catalog order with the store
// kinds of their Postgres types, key columns NOT NULL, primary key = entity
// key), a catalog column missing from an existing table is added (rows
// stored before read with its catalog default, NULL without one) and a catalog index missing from it is added and backfilled. All of it is one commit of kind schema; nothing is committed
// when the store already matches. Incompatible changes (a column's kind
// changed, a column removed, the key changed) are refused with an error that
// lists every one of them, and nothing is committed.
func (p *Pipeline) EnsureSchema(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var changes, indexes []canonical.SchemaChange // indexes after columns: one may index a new column
	var problems, summary []string
	for _, e := range p.cat.Entities() {
		ts, err := p.store.Schema(e.Name, canonical.HEAD)
		if errors.Is(err, canonical.ErrNoSuchTable) {
			changes = append(changes, canonical.SchemaChange{CreateTable: tableFor(e)})
			summary = append(summary, "create "+e.Name)
			continue
		}
		if err != nil {
			return err
		}
		if strings.Join(ts.PrimaryKey, ",") != strings.Join(e.Key, ",") {
			problems = append(problems, fmt.Sprintf("entity %s: key changed from (%s) to (%s); a key cannot change, declare a new entity instead",
				e.Name, strings.Join(ts.PrimaryKey, ", "), strings.Join(e.Key, ", ")))
		}
		// Indexes: stored ones must stay as they are; new ones are added
		// (and backfilled from the current rows by the schema commit).
		want := tableFor(e).Indexes
		for _, have := range ts.Indexes {
			found := false
			for _, w := range want {
				if w.Name != have.Name {
					continue
				}
				found = true
				if strings.Join(w.Columns, ",") != strings.Join(have.Columns, ",") {
					problems = append(problems, fmt.Sprintf("entity %s: index %s changed from (%s) to (%s); the columns of a stored index cannot change, add an index under a new name instead",
						e.Name, have.Name, strings.Join(have.Columns, ", "), strings.Join(w.Columns, ", ")))
				}
			}
			if !found {
				problems = append(problems, fmt.Sprintf("entity %s: index %s(%s) was removed from the catalog; a stored index cannot be dropped yet, put it back",
					e.Name, have.Name, strings.Join(have.Columns, ", ")))
			}
		}
		for _, w := range want {
			stored := false
			for _, have := range ts.Indexes {
				stored = stored || have.Name == w.Name
			}
			if !stored {
				indexes = append(indexes, canonical.SchemaChange{AddIndex: &canonical.AddIndex{Table: e.Name, Index: w}})
				summary = append(summary, "add index "+e.Name+"."+w.Name)
			}
		}
		for _, sc := range ts.Columns {
			c := e.Column(sc.Name)
			if c == nil {
				problems = append(problems, fmt.Sprintf("entity %s: column %s was removed from the catalog; columns cannot be dropped (history keeps them), put it back",
					e.Name, sc.Name))
				continue
			}
			if k := KindOf(c.Type); k != sc.Kind {
				problems = append(problems, fmt.Sprintf("entity %s: column %s changed type to %s (stored as %s, now %s); add a new column instead",
					e.Name, sc.Name, c.Type, sc.Kind, k))
			}
		}
		for _, c := range e.Columns {
			if ts.ColumnIndex(c.Name) < 0 {
				col, err := storeColumn(c, false)
				if err != nil {
					problems = append(problems, fmt.Sprintf("entity %s: column %s: %v", e.Name, c.Name, err))
					continue
				}
				changes = append(changes, canonical.SchemaChange{AddColumn: &canonical.AddColumn{Table: e.Name, Column: col}})
				summary = append(summary, "add column "+e.Name+"."+c.Name)
			}
		}
	}
	changes = append(changes, indexes...)
	if len(problems) > 0 {
		return fmt.Errorf("ingest: the catalog is incompatible with the stored canonical tables:\n  %s", strings.Join(problems, "\n  "))
	}
	if len(changes) == 0 {
		return nil
	}
	res, err := p.store.Commit(ctx, canonical.CommitRequest{Committer: schemaCommitter, Kind: canonical.KindSchema,
		Message: "catalog: " + strings.Join(summary, ", "), Schema: changes})
	if err != nil {
		return fmt.Errorf("ingest: schema commit: %w", err)
	}
	p.log.Info().Uint64("commit_id", res.Commit.ID).Int("changes", len(changes)).Msg("canonical schema updated from the catalog")
	return nil
}

// storeColumn is the canonical column of catalog column c: nullable unless
// it is a key column, with the catalog default converted to the store
// representation (rows stored before the column was added read with it).
func storeColumn(c *catalog.Column, key bool) (canonical.Column, error) {
	col := canonical.Column{Name: c.Name, Kind: KindOf(c.Type), Nullable: !key}
	if c.Default != nil {
		d, err := Conform(c.Type, *c.Default)
		if err != nil {
			return col, fmt.Errorf("default %q: %w", *c.Default, err)
		}
		col.Default = d
	}
	return col, nil
}

func tableFor(e *catalog.Entity) *canonical.TableSchema {
	ts := &canonical.TableSchema{Name: e.Name, PrimaryKey: append([]string(nil), e.Key...)}
	for _, c := range e.Columns {
		key := false
		for _, k := range e.Key {
			key = key || k == c.Name
		}
		// The catalog checked the default (catalog.CheckConstant); a value
		// Conform still refuses is reported when the column is added.
		col, _ := storeColumn(c, key)
		ts.Columns = append(ts.Columns, col)
	}
	for _, ix := range e.Indexes {
		ts.Indexes = append(ts.Indexes, canonical.Index{Name: ix.Name, Columns: append([]string(nil), ix.Columns...)})
	}
	return ts
}

// Report accounts for one Ingest, Correct or Replay. The unit is the raw row
// (for corrections, the change): every received row is exactly one of
// duplicate, quarantined, committed or unchanged, so Received = Committed +
// Unchanged + Duplicates + Quarantined always holds. See the package comment.
type Report struct {
	Kind   canonical.CommitKind
	Source string // ingest and replay
	Entity string // correction
	// Received counts raw rows (ingest, replay) or changes (correction).
	Received int
	// Committed counts rows at least one of whose mapped rows made a new
	// version (an insert, a modification or a delete of a live row).
	Committed int
	// Unchanged counts accepted rows that made no version: identical
	// upserts, deletes of absent keys, or rows no mapping selected.
	Unchanged int
	// Duplicates counts raw rows whose dedupe key arrived before.
	Duplicates int
	// Quarantined counts raw rows with at least one mapped row rejected.
	Quarantined int
	// Warnings counts violations of warning/info rules (rows still commit).
	Warnings int
	// CommitID is the commit made (0 if none was needed).
	CommitID uint64
	// RawFrom/RawTo is the raw seq range appended (ingest) or replayed.
	RawFrom, RawTo uint64
	// QuarantineIDs are the records written (new ones only).
	QuarantineIDs []uint64
	// MappingVersion is the highest current mapping version of the source.
	MappingVersion int64
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Notice is the one-line summary sent to the client, e.g.
// "ingested 10 rows from oms_orders: 7 committed (commit 12), 1 unchanged,
// 1 duplicate, 1 quarantined".
func (r Report) Notice() string {
	var b strings.Builder
	switch r.Kind {
	case canonical.KindCorrection:
		fmt.Fprintf(&b, "corrected %s: %s", r.Entity, plural(r.Received, "change", "changes"))
	case canonical.KindReplay:
		fmt.Fprintf(&b, "replayed %s from %s (seq %d-%d)", plural(r.Received, "row", "rows"), r.Source, r.RawFrom, r.RawTo)
	default:
		fmt.Fprintf(&b, "ingested %s from %s", plural(r.Received, "row", "rows"), r.Source)
	}
	fmt.Fprintf(&b, ": %d committed", r.Committed)
	if r.CommitID != 0 {
		fmt.Fprintf(&b, " (commit %d)", r.CommitID)
	} else {
		b.WriteString(" (no new commit)")
	}
	fmt.Fprintf(&b, ", %d unchanged", r.Unchanged)
	if r.Kind != canonical.KindCorrection {
		fmt.Fprintf(&b, ", %s, %d quarantined", plural(r.Duplicates, "duplicate", "duplicates"), r.Quarantined)
	}
	if r.Warnings > 0 {
		fmt.Fprintf(&b, ", %s", plural(r.Warnings, "rule warning", "rule warnings"))
	}
	return b.String()
}
