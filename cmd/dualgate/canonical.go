package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/canonical/ingest"
	"github.com/dualgate/dualgate/canonical/sqltables"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
)

// canonicalSide is the truth side wired into the engine: the store, the
// ingest pipeline, and the adapters the gateway sees (clock, hooks,
// dualgate.* tables).
type canonicalSide struct {
	store    *canonical.Store
	pipeline *ingest.Pipeline
	batcher  *ingest.Batcher
	dualgate []sql.Table
}

// openCanonical opens the store under dataDir, creates or evolves the
// catalog's tables, and registers canonical, history, diff and raw with
// the engine.
func openCanonical(ctx context.Context, dataDir string, cat *catalog.Catalog, eng *gateway.Engine, log zerolog.Logger) (*canonicalSide, error) {
	store, err := canonical.Open(ctx, filepath.Join(dataDir, "canonical"), canonical.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open canonical store under %s: %w", dataDir, err)
	}
	query := func(ctx context.Context, q string, names []string, oids []uint32, rows [][]any) ([]string, [][]any, error) {
		cols := make([]gateway.BatchColumn, len(names))
		for i := range names {
			cols[i] = gateway.BatchColumn{Name: names[i], OID: oids[i]}
		}
		return eng.QueryBatch(ctx, q, cols, rows)
	}
	pipe, err := ingest.New(store, cat, query, log)
	if err != nil {
		store.Close()
		return nil, err
	}
	if err := pipe.EnsureSchema(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("canonical schema: %w", err)
	}
	side := &canonicalSide{store: store, pipeline: pipe, batcher: ingest.NewBatcher(pipe)}
	for _, db := range sqltables.Databases(store, cat, side.batcher) {
		sctx := sql.NewContext(ctx)
		names, err := db.GetTableNames(sctx)
		if err != nil {
			store.Close()
			return nil, err
		}
		var tables []sql.Table
		for _, n := range names {
			t, ok, err := db.GetTableInsensitive(sctx, n)
			if err != nil || !ok {
				continue
			}
			tables = append(tables, t)
			declareTable(eng, db.Name(), t)
		}
		if strings.EqualFold(db.Name(), sqltables.SchemaDualgate) {
			side.dualgate = tables
			continue
		}
		eng.AddDatabase(db)
	}
	return side, nil
}

// declareTable records the Postgres types of a store-backed table.
func declareTable(eng *gateway.Engine, schema string, t sql.Table) {
	pt, ok := t.(sqltables.PostgresTyped)
	if !ok {
		return
	}
	types := pt.PostgresTypes()
	cols := make([]gateway.SystemColumn, len(types))
	for i, c := range t.Schema() {
		cols[i] = gateway.SystemColumn{Name: c.Name, OID: types[i].OID}
	}
	eng.DeclareTable(schema, t.Name(), cols)
}

func (c *canonicalSide) Close() error { return c.store.Close() }

// Head implements gateway.CommitClock.
func (c *canonicalSide) Head() uint64 { return c.store.Head().ID }

// Resolve implements gateway.CommitClock: rev is an engine literal, a
// quoted string or an integer commit id.
func (c *canonicalSide) Resolve(ctx context.Context, rev string) (uint64, error) {
	if len(rev) >= 2 && rev[0] == '\'' && rev[len(rev)-1] == '\'' {
		rev = strings.ReplaceAll(rev[1:len(rev)-1], "''", "'")
	} else if _, err := strconv.ParseUint(rev, 10, 64); err != nil {
		return 0, fmt.Errorf("revision %s is neither a commit id nor a quoted rev", rev)
	}
	info, err := c.store.ResolveRev(ctx, rev)
	if err != nil {
		return 0, err
	}
	return info.ID, nil
}

// Commit implements gateway.TxHooks.
func (c *canonicalSide) Commit(ctx context.Context, sessionID uint32, info gateway.SessionInfo) ([]string, error) {
	return c.batcher.Commit(ctx, sessionID, info.User, info.CommitMessage)
}

// Rollback implements gateway.TxHooks.
func (c *canonicalSide) Rollback(sessionID uint32) { c.batcher.Rollback(sessionID) }
