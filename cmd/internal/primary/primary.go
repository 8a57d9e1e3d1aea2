// Package primary wires the canonical side (store, ingest pipeline,
// store-backed schemas, procedures) into a gateway engine and config: what
// `dualgate serve` does as the primary, shared with the benchmark harness.
package primary

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/canonical/ingest"
	"github.com/dualgate/dualgate/canonical/sqltables"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/gateway/pgerror"
	"github.com/dualgate/dualgate/gateway/pgtypes"
)

// Side is the truth side wired into the engine: the store, the
// ingest pipeline, and the adapters the gateway sees (clock, hooks,
// dualgate.* tables).
type Side struct {
	store    *canonical.Store
	pipeline *ingest.Pipeline
	batcher  *ingest.Batcher
	dualgate []sql.Table
	serving  *serving
	recon    *reconciler
	gov      *governance // access policy and audit trail (governance.go)

	closeOnce sync.Once
	closeErr  error
}

// Open opens the store under dataDir, creates or evolves the
// catalog's tables, and registers canonical, history, diff and raw with
// the engine.
//
// Projections are materialized in the embedded store, or in Redis when
// redisURL is set; call Run to keep them following canonical.
func Open(ctx context.Context, dataDir string, cat *catalog.Catalog, eng *gateway.Engine, redisURL string, log zerolog.Logger) (*Side, error) {
	return OpenWithStore(ctx, dataDir, canonical.Options{}, cat, eng, redisURL, log)
}

// OpenWithStore is Open with the canonical store's options (its Logger is
// set to log).
func OpenWithStore(ctx context.Context, dataDir string, so canonical.Options, cat *catalog.Catalog, eng *gateway.Engine, redisURL string, log zerolog.Logger) (*Side, error) {
	so.Logger = log
	store, err := canonical.Open(ctx, filepath.Join(dataDir, "canonical"), so)
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
	side := &Side{store: store, pipeline: pipe, batcher: ingest.NewBatcher(pipe)}
	for _, db := range sqltables.Databases(store, cat, side.batcher) {
		if cdb, ok := db.(*sqltables.CanonicalDatabase); ok {
			// SET dualgate.as_of reaches canonical tables as an engine
			// session variable the gateway maintains.
			cdb.SetSessionAsOf(func(ctx *sql.Context) string {
				_, v, err := ctx.GetUserVariable(ctx, gateway.AsOfVar)
				if err != nil || v == nil {
					return ""
				}
				return fmt.Sprint(v)
			})
		}
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
	if err := side.openServing(ctx, cat, eng, redisURL, log); err != nil {
		store.Close()
		return nil, err
	}
	if err := side.openReconcile(ctx, dataDir, cat, eng, log); err != nil {
		side.stopServing()
		side.closeServingStore()
		store.Close()
		return nil, err
	}
	return side.withGovernance(ctx, dataDir, cat, log)
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
	for i, c := range cols { // char(n), numeric(p,s): modifiers the engine types lack
		eng.DeclareTypmod(schema, t.Name(), c.Name, types[i].Typmod())
	}
}

// Close stops following canonical and closes the store. Closing twice is
// a no-op that returns the first close's error.
func (c *Side) Close() error {
	c.closeOnce.Do(func() {
		c.stopServing()
		if c.recon != nil {
			c.recon.close()
		}
		c.closeGovernance()
		c.closeServingStore()
		c.closeErr = c.store.Close()
	})
	return c.closeErr
}

// Configure points a gateway config at this side: commit clock, write
// hooks, dualgate.* tables and procedures.
func (c *Side) Configure(cfg *gateway.Config) {
	cfg.Clock, cfg.Hooks, cfg.DualgateTables, cfg.Procedures = c, c, c.dualgate, c.procedures()
	cfg.Freshness = c
	cfg.SystemTables = append(cfg.SystemTables, c.projectionsTable())
	c.configureGovernance(cfg)
}

// Pipeline is the ingest pipeline.
func (c *Side) Pipeline() *ingest.Pipeline { return c.pipeline }

// Store is the canonical store.
func (c *Side) Store() *canonical.Store { return c.store }

// Head implements gateway.CommitClock.
func (c *Side) Head() uint64 { return c.store.Head().ID }

// Resolve implements gateway.CommitClock: rev is an engine literal, a
// quoted string or an integer commit id.
func (c *Side) Resolve(ctx context.Context, rev string) (uint64, error) {
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
// Pipeline refusals get the SQLSTATE a client can act on.
func (c *Side) Commit(ctx context.Context, sessionID uint32, info gateway.SessionInfo) ([]string, error) {
	notices, err := c.batcher.Commit(ctx, sessionID, info.User, info.CommitMessage)
	if c.serving != nil {
		c.serving.mat.Notify() // a new commit may be there for projections
	}
	switch {
	case err == nil:
	case errors.Is(err, ingest.ErrNoMessage):
		err = pgerror.Wrap("55000", err).WithHint("SET dualgate.commit_message = 'why this correction' first")
	case errors.Is(err, ingest.ErrRefused):
		err = pgerror.Wrap(pgerror.CheckViolation, err)
	}
	if err == nil {
		err = c.commitServing(ctx, sessionID) // serving tables, after the canonical batch
	}
	return notices, err
}

// Rollback implements gateway.TxHooks.
func (c *Side) Rollback(sessionID uint32) {
	c.batcher.Rollback(sessionID)
	c.rollbackServing(sessionID)
}

// procedures are the canonical side's CALL-able procedures.
func (c *Side) procedures() map[string]gateway.Procedure {
	counts := []gateway.SystemColumn{{Name: "commit_id", OID: pgtypes.Int8}, {Name: "received", OID: pgtypes.Int8},
		{Name: "committed", OID: pgtypes.Int8}, {Name: "unchanged", OID: pgtypes.Int8},
		{Name: "duplicates", OID: pgtypes.Int8}, {Name: "quarantined", OID: pgtypes.Int8}}
	verified := []gateway.SystemColumn{{Name: "ok", OID: pgtypes.Bool}, {Name: "commits", OID: pgtypes.Int8},
		{Name: "versions", OID: pgtypes.Int8}, {Name: "head_hash", OID: pgtypes.Text}}
	procs := map[string]gateway.Procedure{
		"dualgate.verify": {Description: "re-hash the canonical commit chain and every version; fails with XX001 where it breaks", Result: verified, Run: func(ctx context.Context, _ gateway.CallInfo, _ []any) (gateway.ProcedureResult, error) {
			r, err := c.store.Verify(ctx)
			if err != nil {
				return gateway.ProcedureResult{}, err
			}
			if !r.OK {
				return gateway.ProcedureResult{}, pgerror.New("XX001", "canonical history failed verification at commit %d: %s", r.BrokenAt, r.Problem).
					WithHint("the store was changed outside dualgate; restore it from a backup and compare dualgate.commits")
			}
			return gateway.ProcedureResult{
				Columns: verified,
				Rows:    [][]any{{true, int64(r.Commits), int64(r.Versions), r.HeadHash.String()}},
				Notices: []string{fmt.Sprintf("hash chain verified: %d commits, %d versions", r.Commits, r.Versions)},
			}, nil
		}},
		"dualgate.replay": {Args: []string{"source", "from_seq", "to_seq"}, ArgTypes: []uint32{pgtypes.Text, pgtypes.Int8, pgtypes.Int8},
			Description: "re-run a source's raw range through the current mapping and rules as a new commit", Result: counts, Run: func(ctx context.Context, call gateway.CallInfo, args []any) (gateway.ProcedureResult, error) {
				source := fmt.Sprint(args[0])
				from, err1 := toUint(args[1])
				to, err2 := toUint(args[2])
				if err1 != nil || err2 != nil || from > to {
					return gateway.ProcedureResult{}, pgerror.New(pgerror.InvalidParameterValue, "dualgate.replay(source, from_seq, to_seq): sequence numbers must be integers with from_seq <= to_seq")
				}
				r, err := c.pipeline.Replay(ctx, source, from, to, call.User)
				if err != nil {
					return gateway.ProcedureResult{}, err
				}
				return gateway.ProcedureResult{
					Columns: counts,
					Rows:    [][]any{{int64(r.CommitID), int64(r.Received), int64(r.Committed), int64(r.Unchanged), int64(r.Duplicates), int64(r.Quarantined)}},
					Notices: []string{r.Notice()},
				}, nil
			}},
	}
	if c.serving != nil {
		procs["dualgate.rebuild"] = gateway.Procedure{Args: []string{"projection"}, ArgTypes: []uint32{pgtypes.Text},
			Description: "build a new generation of a projection from canonical and switch to it atomically", Run: func(ctx context.Context, _ gateway.CallInfo, args []any) (gateway.ProcedureResult, error) {
				name := fmt.Sprint(args[0])
				if pf, ok := c.Projection(ctx, name); !ok || pf.ServingTable {
					return gateway.ProcedureResult{}, pgerror.New(pgerror.UndefinedObject, "projection %q does not exist", name).WithHint("see dualgate.projections")
				}
				if err := c.serving.mat.Rebuild(ctx, name, 0); err != nil {
					return gateway.ProcedureResult{}, err
				}
				st, err := c.serving.mat.Status(ctx, name)
				if err != nil {
					return gateway.ProcedureResult{}, err
				}
				return gateway.ProcedureResult{Notices: []string{fmt.Sprintf("rebuilt serving.%s as generation %s at commit %d", name, st.Generation, st.Watermark)}}, nil
			}}
	}
	c.reconcileProcedures(procs)
	return procs
}

func toUint(v any) (uint64, error) {
	switch n := v.(type) {
	case int64:
		if n >= 0 {
			return uint64(n), nil
		}
	case int32:
		if n >= 0 {
			return uint64(n), nil
		}
	case int8:
		if n >= 0 {
			return uint64(n), nil
		}
	case int16:
		if n >= 0 {
			return uint64(n), nil
		}
	case uint64:
		return n, nil
	}
	return strconv.ParseUint(fmt.Sprint(v), 10, 64)
}
