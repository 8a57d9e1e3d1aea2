package primary

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/gateway/pgerror"
	"github.com/dualgate/dualgate/gateway/pgtypes"
	"github.com/dualgate/dualgate/reconcile"
)

// reconciler is the reconciliation engine and its ledger.
type reconciler struct {
	ledger *reconcile.Ledger
	eng    *reconcile.Engine
}

// openReconcile opens the reconciliation ledger under dataDir and registers
// the reconcile schema.
func (c *Side) openReconcile(ctx context.Context, dataDir string, cat *catalog.Catalog, eng *gateway.Engine, log zerolog.Logger) error {
	ledger, err := reconcile.OpenLedger(ctx, filepath.Join(dataDir, "reconcile"), log)
	if err != nil {
		return err
	}
	o := reconcile.Options{
		Canon: c.store,
		Query: func(ctx context.Context, q string) ([]string, [][]any, error) {
			return eng.QueryBatch(ctx, q, nil, nil)
		},
		Ledger: ledger,
		Logger: log,
		Replay: func(ctx context.Context, source, by string) (string, error) {
			r, err := c.pipeline.Replay(ctx, source, 0, 0, by)
			if err != nil {
				return "", err
			}
			if c.serving != nil {
				c.serving.mat.Notify()
			}
			return r.Notice(), nil
		},
		Webhooks:   cat.Webhooks(),
		AutoRepair: true,
	}
	if c.serving != nil {
		o.Materializer = c.serving.mat
	}
	re, err := reconcile.New(cat, o)
	if err != nil {
		_ = ledger.Close()
		return err
	}
	c.recon = &reconciler{ledger: ledger, eng: re}
	if err := eng.AddSystemSchema("reconcile", c.reconcileTables()); err != nil {
		c.recon.close()
		return err
	}
	return nil
}

func (r *reconciler) close() {
	r.eng.Close()
	_ = r.ledger.Close()
}

// Reconciler is the reconciliation engine (nil before Open).
func (c *Side) Reconciler() *reconcile.Engine {
	if c.recon == nil {
		return nil
	}
	return c.recon.eng
}

func col(name string, oid uint32) gateway.SystemColumn {
	return gateway.SystemColumn{Name: name, OID: oid}
}

// nullable turns zero values into SQL NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullUint(p *uint64) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}

// pgInterval renders a duration as Postgres prints an interval.
func pgInterval(d time.Duration) string {
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	hms := fmt.Sprintf("%02d:%02d:%02d", d/time.Hour, (d%time.Hour)/time.Minute, (d%time.Minute)/time.Second)
	switch days {
	case 0:
		return hms
	case 1:
		return "1 day " + hms
	}
	return fmt.Sprintf("%d days %s", days, hms)
}

const derived = "DERIVED (non-authoritative): "

// reconcileTables are the reconcile.* views.
func (c *Side) reconcileTables() []gateway.SystemTable {
	re := c.recon.eng
	now := time.Now
	return []gateway.SystemTable{
		{
			Name:        "rules",
			Description: derived + "the catalog's reconciliation rules",
			View:        true,
			Columns: []gateway.SystemColumn{col("name", pgtypes.Text), col("context", pgtypes.Text), col("level", pgtypes.Text),
				col("owner", pgtypes.Text), col("severity", pgtypes.Text), col("left_sql", pgtypes.Text), col("right_sql", pgtypes.Text),
				col("right_dsn", pgtypes.Text), col("match", pgtypes.Text), col("compare", pgtypes.Text),
				col("tolerance_absolute", pgtypes.Numeric), col("tolerance_relative", pgtypes.Numeric),
				col("grace", pgtypes.Interval), col("schedule", pgtypes.Interval), col("sla", pgtypes.Interval),
				col("repair", pgtypes.Text), col("description", pgtypes.Text)},
			Rows: func(context.Context) ([][]any, error) {
				var out [][]any
				for _, r := range re.Rules() {
					var abs, rel any
					if t := r.Tolerance; t != nil {
						if t.Absolute != nil {
							abs = *t.Absolute
						}
						if t.Relative != nil {
							rel = *t.Relative
						}
					}
					iv := func(d time.Duration) any {
						if d == 0 {
							return nil
						}
						return pgInterval(d)
					}
					out = append(out, []any{r.Name, r.Context, string(r.Level), r.Owner, string(r.Severity), r.Left,
						nullString(r.Right), nullString(r.RightDSN), strings.Join(r.Match, ", "), nullString(strings.Join(r.Compare, ", ")),
						abs, rel, iv(r.Grace), iv(r.Schedule), iv(r.SLA), r.Repair, nullString(r.Description)})
				}
				return out, nil
			},
		},
		{
			Name:        "runs",
			Description: derived + "each reconciliation run: the paired point in time it compared at and what it found",
			View:        true,
			Columns: []gateway.SystemColumn{col("id", pgtypes.Int8), col("rule", pgtypes.Text), col("trigger", pgtypes.Text),
				col("started", pgtypes.Timestamptz), col("finished", pgtypes.Timestamptz), col("outcome", pgtypes.Text),
				col("canonical_commit", pgtypes.Int8), col("serving_watermark", pgtypes.Int8), col("head_commit", pgtypes.Int8),
				col("unit", pgtypes.Text), col("compared", pgtypes.Int8), col("matched", pgtypes.Int8), col("pending", pgtypes.Int8),
				col("divergent", pgtypes.Int8), col("opened", pgtypes.Int8), col("resolved", pgtypes.Int8),
				col("coverage", pgtypes.Text), col("duration_ms", pgtypes.Int8), col("error", pgtypes.Text)},
			Rows: func(context.Context) ([][]any, error) {
				var out [][]any
				for _, r := range re.Runs() {
					out = append(out, []any{int64(r.ID), r.Rule, r.Trigger, r.Started, r.Finished, r.Outcome, int64(r.AsOf),
						nullUint(r.Watermark), int64(r.Head), nullString(r.Unit), r.Compared, r.Matched, r.Pending, r.Divergent,
						r.Opened, r.Resolved, nullString(r.Coverage), r.Finished.Sub(r.Started).Milliseconds(), nullString(r.Error)})
				}
				return out, nil
			},
		},
		{
			Name:        "exceptions",
			Description: derived + "the exception queue: each divergence between two sides of a rule, de-duplicated by fingerprint",
			View:        true,
			Columns: []gateway.SystemColumn{col("id", pgtypes.Int8), col("rule", pgtypes.Text), col("level", pgtypes.Text),
				col("key", pgtypes.Text), col("kind", pgtypes.Text), col("left_value", pgtypes.Text), col("right_value", pgtypes.Text),
				col("difference", pgtypes.Text), col("owner", pgtypes.Text), col("severity", pgtypes.Text), col("status", pgtypes.Text),
				col("first_seen", pgtypes.Timestamptz), col("last_seen", pgtypes.Timestamptz), col("age", pgtypes.Interval),
				col("canonical_commit", pgtypes.Int8), col("serving_watermark", pgtypes.Int8), col("seen", pgtypes.Int8),
				col("resolution", pgtypes.Text), col("note", pgtypes.Text), col("fingerprint", pgtypes.Text)},
			Rows: func(context.Context) ([][]any, error) {
				var out [][]any
				t := now()
				for _, e := range re.Exceptions() {
					out = append(out, []any{int64(e.ID), e.Rule, e.Level, e.Key, string(e.Kind), nullString(e.Left), nullString(e.Right),
						nullString(e.Difference), e.Owner, e.Severity, string(e.Status), e.FirstSeen, e.LastSeen,
						pgInterval(t.Sub(e.FirstSeen)), int64(e.Commit), nullUint(e.Watermark), e.Seen, nullString(e.Resolution),
						nullString(e.Note), e.Fingerprint})
				}
				return out, nil
			},
		},
		{
			Name:        "exception_history",
			Description: derived + "every status change of every exception, in order",
			View:        true,
			Columns: []gateway.SystemColumn{col("exception_id", pgtypes.Int8), col("seq", pgtypes.Int8), col("at", pgtypes.Timestamptz),
				col("from_status", pgtypes.Text), col("to_status", pgtypes.Text), col("by", pgtypes.Text), col("note", pgtypes.Text)},
			Rows: func(context.Context) ([][]any, error) {
				var out [][]any
				for _, h := range re.History() {
					out = append(out, []any{int64(h.Exception), int64(h.Seq), h.At, nullString(string(h.From)), string(h.To), h.By, nullString(h.Note)})
				}
				return out, nil
			},
		},
		{
			Name:        "status",
			Description: derived + "per rule: last run, outcome, open exceptions and the oldest one's age",
			View:        true,
			Columns: []gateway.SystemColumn{col("rule", pgtypes.Text), col("level", pgtypes.Text), col("owner", pgtypes.Text),
				col("severity", pgtypes.Text), col("last_run", pgtypes.Int8), col("last_run_at", pgtypes.Timestamptz),
				col("last_outcome", pgtypes.Text), col("canonical_commit", pgtypes.Int8), col("serving_watermark", pgtypes.Int8),
				col("open_exceptions", pgtypes.Int8), col("oldest_open_age", pgtypes.Interval), col("pending", pgtypes.Int8),
				col("next_run_at", pgtypes.Timestamptz), col("running", pgtypes.Bool)},
			Rows: func(context.Context) ([][]any, error) {
				var out [][]any
				t := now()
				for _, s := range re.Status() {
					var id, at, outcome, commit, wm any
					if r := s.LastRun; r != nil {
						id, at, outcome, commit, wm = int64(r.ID), r.Started, r.Outcome, int64(r.AsOf), nullUint(r.Watermark)
					}
					var age any
					if !s.OldestOpen.IsZero() {
						age = pgInterval(t.Sub(s.OldestOpen))
					}
					out = append(out, []any{s.Rule, s.Level, s.Owner, s.Severity, id, at, outcome, commit, wm,
						int64(s.Open), age, int64(s.Pending), nullTime(s.NextRun), s.Running})
				}
				return out, nil
			},
		},
		{
			Name:        "watermarks",
			Description: derived + "what each rule's last run read, and the commit or watermark it read it at",
			View:        true,
			Columns: []gateway.SystemColumn{col("rule", pgtypes.Text), col("side", pgtypes.Text), col("relation", pgtypes.Text),
				col("kind", pgtypes.Text), col("as_of_commit", pgtypes.Int8), col("head_commit", pgtypes.Int8),
				col("lag_commits", pgtypes.Int8), col("read_at", pgtypes.Timestamptz)},
			Rows: func(context.Context) ([][]any, error) {
				var out [][]any
				for _, w := range re.Watermarks() {
					var lag any
					if w.Commit != nil && w.Head >= *w.Commit {
						lag = int64(w.Head - *w.Commit)
					}
					out = append(out, []any{w.Rule, w.Side, w.Relation, w.Kind, nullUint(w.Commit), int64(w.Head), lag, w.ReadAt})
				}
				return out, nil
			},
		},
	}
}

// runColumns describe a run returned by CALL reconcile.run.
var runColumns = []gateway.SystemColumn{col("run_id", pgtypes.Int8), col("rule", pgtypes.Text), col("outcome", pgtypes.Text),
	col("canonical_commit", pgtypes.Int8), col("serving_watermark", pgtypes.Int8), col("compared", pgtypes.Int8),
	col("matched", pgtypes.Int8), col("pending", pgtypes.Int8), col("divergent", pgtypes.Int8),
	col("opened", pgtypes.Int8), col("resolved", pgtypes.Int8), col("coverage", pgtypes.Text)}

func runRow(r reconcile.Run) []any {
	return []any{int64(r.ID), r.Rule, r.Outcome, int64(r.AsOf), nullUint(r.Watermark), r.Compared, r.Matched, r.Pending,
		r.Divergent, r.Opened, r.Resolved, r.Coverage}
}

// reconcileError maps reconcile errors to SQLSTATEs a client can act on.
func reconcileError(err error) error {
	switch {
	case errors.Is(err, reconcile.ErrNoRule):
		return pgerror.Wrap(pgerror.UndefinedObject, err).WithHint("see reconcile.rules")
	case errors.Is(err, reconcile.ErrNoException):
		return pgerror.Wrap(pgerror.UndefinedObject, err).WithHint("see reconcile.exceptions")
	case errors.Is(err, reconcile.ErrBadArgument):
		return pgerror.Wrap(pgerror.InvalidParameterValue, err)
	case errors.Is(err, reconcile.ErrNotMaterialized):
		return pgerror.Wrap("55000", err).WithHint("the projection is still being built; see dualgate.projections, or CALL dualgate.rebuild")
	case errors.Is(err, reconcile.ErrNotConfigured):
		return pgerror.Wrap("55000", err).WithHint("set the environment variable its right_dsn names before starting dualgate")
	}
	return err
}

// reconcileProcedures are CALL reconcile.run/ack/resolve/repair.
func (c *Side) reconcileProcedures(procs map[string]gateway.Procedure) {
	if c.recon == nil {
		return
	}
	re := c.recon.eng
	exceptionColumns := []gateway.SystemColumn{col("id", pgtypes.Int8), col("rule", pgtypes.Text), col("status", pgtypes.Text), col("note", pgtypes.Text)}
	repairColumns := []gateway.SystemColumn{col("rule", pgtypes.Text), col("action", pgtypes.Text), col("dry_run", pgtypes.Bool), col("step", pgtypes.Text)}
	exceptionResult := func(e reconcile.Exception, verb string) gateway.ProcedureResult {
		return gateway.ProcedureResult{
			Columns: exceptionColumns,
			Rows:    [][]any{{int64(e.ID), e.Rule, string(e.Status), e.Note}},
			Notices: []string{fmt.Sprintf("exception %d %s", e.ID, verb)},
		}
	}
	procs["reconcile.run"] = gateway.Procedure{Args: []string{"rule"}, ArgTypes: []uint32{pgtypes.Text},
		Description: "run a reconciliation rule now; returns the run", Result: runColumns, Run: func(ctx context.Context, _ gateway.CallInfo, args []any) (gateway.ProcedureResult, error) {
			run, err := re.Run(ctx, fmt.Sprint(args[0]), "call")
			if err != nil {
				return gateway.ProcedureResult{}, reconcileError(err)
			}
			return gateway.ProcedureResult{Columns: runColumns, Rows: [][]any{runRow(run)},
				Notices: []string{fmt.Sprintf("%s: %s; %s; %d opened, %d resolved", run.Rule, run.Outcome, run.Coverage, run.Opened, run.Resolved)}}, nil
		}}
	procs["reconcile.ack"] = gateway.Procedure{Args: []string{"id", "note"}, ArgTypes: []uint32{pgtypes.Int8, pgtypes.Text},
		Description: "acknowledge an exception with a note", Result: exceptionColumns, Run: func(ctx context.Context, call gateway.CallInfo, args []any) (gateway.ProcedureResult, error) {
			id, err := toUint(args[0])
			if err != nil {
				return gateway.ProcedureResult{}, pgerror.New(pgerror.InvalidParameterValue, "reconcile.ack(id, note): id must be an exception id from reconcile.exceptions")
			}
			e, err := re.Ack(ctx, id, fmt.Sprint(args[1]), call.User)
			if err != nil {
				return gateway.ProcedureResult{}, reconcileError(err)
			}
			return exceptionResult(e, "acknowledged"), nil
		}}
	procs["reconcile.resolve"] = gateway.Procedure{Args: []string{"id", "resolution", "note"}, ArgTypes: []uint32{pgtypes.Int8, pgtypes.Text, pgtypes.Text},
		Description: "close an exception as resolved, accepted_variance or false_positive", Result: exceptionColumns, Run: func(ctx context.Context, call gateway.CallInfo, args []any) (gateway.ProcedureResult, error) {
			id, err := toUint(args[0])
			if err != nil {
				return gateway.ProcedureResult{}, pgerror.New(pgerror.InvalidParameterValue, "reconcile.resolve(id, resolution, note): id must be an exception id from reconcile.exceptions")
			}
			e, err := re.Resolve(ctx, id, fmt.Sprint(args[1]), fmt.Sprint(args[2]), call.User)
			if err != nil {
				return gateway.ProcedureResult{}, reconcileError(err)
			}
			return exceptionResult(e, "is "+string(e.Status)), nil
		}}
	procs["reconcile.repair"] = gateway.Procedure{Args: []string{"rule", "dry_run"}, ArgTypes: []uint32{pgtypes.Text, pgtypes.Bool},
		Description: "run a rule's repair action (rebuild or replay) for its open exceptions, then re-verify", Result: repairColumns, Run: func(ctx context.Context, call gateway.CallInfo, args []any) (gateway.ProcedureResult, error) {
			dry, ok := asBool(args[1])
			if !ok {
				return gateway.ProcedureResult{}, pgerror.New(pgerror.InvalidParameterValue, "reconcile.repair(rule, dry_run): dry_run must be true or false")
			}
			rep, err := re.Repair(ctx, fmt.Sprint(args[0]), dry, call.User)
			if err != nil {
				return gateway.ProcedureResult{}, reconcileError(err)
			}
			res := gateway.ProcedureResult{Columns: repairColumns}
			for _, s := range rep.Steps {
				res.Rows = append(res.Rows, []any{rep.Rule, rep.Action, rep.DryRun, s})
			}
			if v := rep.Verify; v != nil {
				res.Notices = append(res.Notices, fmt.Sprintf("verified by run %d: %s; %d resolved, %d still divergent", v.ID, v.Outcome, v.Resolved, v.Divergent))
			}
			return res, nil
		}}
}

func asBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case int8:
		return x != 0, true
	case int64:
		return x != 0, true
	case string:
		switch strings.ToLower(x) {
		case "true", "t", "on", "yes", "1":
			return true, true
		case "false", "f", "off", "no", "0":
			return false, true
		}
	}
	return false, false
}
