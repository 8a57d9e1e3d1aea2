package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/projections"
)

// QueryFunc runs one Postgres SELECT on dualgate's engine and returns its
// column names and rows. The binary implements it with the gateway engine;
// reconcile never imports the gateway.
type QueryFunc func(ctx context.Context, sql string) (cols []string, rows [][]any, err error)

// ReplayFunc re-runs a source's whole raw log through its mappings (the
// ingest pipeline's replay) on behalf of by, and describes the outcome.
type ReplayFunc func(ctx context.Context, source, by string) (string, error)

// Options wire an Engine.
type Options struct {
	Canon        *canonical.Store          // required: head and commit times
	Materializer *projections.Materializer // nil: no serving projections
	Query        QueryFunc                 // required
	Replay       ReplayFunc                // nil: repair replay is unavailable
	Ledger       *Ledger                   // required
	Logger       zerolog.Logger
	Clock        func() time.Time // default time.Now
	// Webhooks maps an owner to the URL that is POSTed a JSON event when
	// one of its exceptions opens, reopens or escalates.
	Webhooks map[string]string
	// AutoRepair runs a rule's rebuild repair (then re-verifies) when a
	// scheduled run finds divergence. Replays only run on CALL
	// reconcile.repair.
	AutoRepair bool
}

// Engine runs reconciliation rules and keeps the exception queue.
type Engine struct {
	rules  []*catalog.Reconciliation
	byName map[string]*catalog.Reconciliation
	canon  *canonical.Store
	mat    *projections.Materializer
	query  QueryFunc
	replay ReplayFunc
	ledger *Ledger
	log    zerolog.Logger
	clock  func() time.Time
	auto   bool
	hooks  *webhooks

	ruleMu map[string]*sync.Mutex // one run of a rule at a time

	mu        sync.Mutex
	pending   map[string]map[string]time.Time // rule -> fingerprint -> first seen
	recheck   map[string]time.Time            // rule -> when its pending differences are due
	lastMarks map[string][]sideMark           // rule -> what its last run read at
	toldOff   map[string]bool                 // rules whose "not configured here" was logged at warn
	running   map[string]bool
	wake      chan struct{}
	observe   func(Run) // SetObserver; called after every run

	bucketSpecs map[string]bucketRule // bucketable rules by name (fixed at New)
	sumMu       sync.Mutex
	summaries   map[string]*canonSummary // canonical bucket summaries by spec id
}

// New returns an engine for every reconciliation of cat.
func New(cat *catalog.Catalog, o Options) (*Engine, error) {
	if o.Canon == nil || o.Query == nil || o.Ledger == nil {
		return nil, errors.New("reconcile: New needs the canonical store, a QueryFunc and a Ledger")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	e := &Engine{byName: map[string]*catalog.Reconciliation{}, canon: o.Canon, mat: o.Materializer,
		query: o.Query, replay: o.Replay, ledger: o.Ledger, log: o.Logger, clock: o.Clock, auto: o.AutoRepair,
		ruleMu: map[string]*sync.Mutex{}, pending: map[string]map[string]time.Time{},
		recheck: map[string]time.Time{}, lastMarks: map[string][]sideMark{}, running: map[string]bool{}, toldOff: map[string]bool{},
		wake: make(chan struct{}, 1), bucketSpecs: map[string]bucketRule{}, summaries: map[string]*canonSummary{}}
	e.hooks = newWebhooks(o.Webhooks, o.Logger)
	// Differences held for their grace survive a restart: the grace runs
	// from when they were first seen, not from the restart.
	e.pending = o.Ledger.Pending()
	for rule, m := range e.pending {
		for _, first := range m {
			if r := cat.Reconciliation(rule); r != nil {
				if t := first.Add(r.Grace); e.recheck[rule].IsZero() || t.Before(e.recheck[rule]) {
					e.recheck[rule] = t
				}
			}
		}
	}
	specs := map[string]bool{}
	for _, r := range cat.Reconciliations() {
		e.rules = append(e.rules, r)
		e.byName[r.Name] = r
		e.ruleMu[r.Name] = &sync.Mutex{}
		if b, ok := e.bucketable(r); ok {
			e.bucketSpecs[r.Name] = b
			if b.direct {
				specs[b.spec.id()] = true
			}
		}
	}
	// Summaries of specs no rule uses any more (a rule, projection or
	// entity changed) are dropped; those still used are loaded lazily.
	if err := o.Ledger.keepSummaries(specs); err != nil {
		return nil, err
	}
	return e, nil
}

// SetObserver makes fn see every finished run (metrics); nil stops it.
func (e *Engine) SetObserver(fn func(Run)) {
	e.mu.Lock()
	e.observe = fn
	e.mu.Unlock()
}

func (e *Engine) observed(r Run) {
	e.mu.Lock()
	fn := e.observe
	e.mu.Unlock()
	if fn != nil {
		fn(r)
	}
}

// Rules lists the rules in catalog order.
func (e *Engine) Rules() []*catalog.Reconciliation { return e.rules }

// Rule returns the rule named name.
func (e *Engine) Rule(name string) (*catalog.Reconciliation, bool) {
	r, ok := e.byName[name]
	return r, ok
}

// notReadyRecheck is how soon a rule whose projection is not materialized
// yet is run again.
const notReadyRecheck = 5 * time.Second

// ErrNoRule: no reconciliation has the given name.
var ErrNoRule = errors.New("reconcile: no such rule")

// Run runs rule name now and settles its exceptions. trigger says why
// (call, schedule, recheck, repair). A run that fails is recorded with
// outcome error and its error is returned.
func (e *Engine) Run(ctx context.Context, name, trigger string) (Run, error) {
	r, ok := e.byName[name]
	if !ok {
		return Run{}, fmt.Errorf("%w: %q", ErrNoRule, name)
	}
	mu := e.ruleMu[name]
	mu.Lock()
	defer mu.Unlock()
	e.setRunning(name, true)
	defer e.setRunning(name, false)
	run := Run{Rule: name, Trigger: trigger, Started: e.clock()}
	defer func() { e.observed(run) }()
	cmp, p, err := e.compareRule(ctx, r)
	run.AsOf, run.Watermark, run.Head = p.asOf, p.watermark, p.head
	if err != nil {
		run.Finished = e.clock()
		run.Outcome, run.Error = "error", err.Error()
		if errors.Is(err, ErrNotMaterialized) {
			// Not divergence: the projection is still being built. Look
			// again soon rather than a whole schedule later.
			run.Outcome = "pending"
			e.mu.Lock()
			e.recheck[name] = e.clock().Add(notReadyRecheck)
			e.mu.Unlock()
			e.nudge()
		}
		if werr := e.ledger.apply(nil, &run, nil); werr != nil {
			return run, werr
		}
		lg := e.log.Warn()
		if run.Outcome == "pending" {
			lg = e.log.Debug()
		}
		if errors.Is(err, ErrNotConfigured) {
			// Said once per process at warn (e.g. a demo without its
			// legacy database); every schedule after that only at debug.
			e.mu.Lock()
			if e.toldOff[name] {
				lg = e.log.Debug()
			}
			e.toldOff[name] = true
			e.mu.Unlock()
		}
		lg.Str("rule", name).Str("trigger", trigger).Err(err).Msg("reconciliation run did not compare")
		return run, err
	}
	e.mu.Lock()
	e.lastMarks[name] = p.projs
	e.mu.Unlock()
	run.Unit, run.Compared, run.Matched = cmp.Unit, int64(cmp.Compared), int64(cmp.Matched)
	run.Buckets, run.Descended = int64(cmp.Buckets), int64(cmp.Descended)
	run.Ranges, run.RangesFetched, run.ExternalRows = int64(cmp.Ranges), int64(cmp.RangesFetched), int64(cmp.ExternalRows)
	run.CanonicalRows = int64(cmp.CanonicalRows)
	if err := e.settle(r, cmp, p, &run); err != nil {
		return run, err
	}
	lg := e.log.Info()
	if run.Outcome == "divergent" {
		lg = e.log.Warn()
	}
	lg.Str("rule", name).Str("trigger", trigger).Str("outcome", run.Outcome).Uint64("commit_id", run.AsOf).
		Int64("compared", run.Compared).Int64("divergent", run.Divergent).Int64("pending", run.Pending).
		Int64("opened", run.Opened).Int64("resolved", run.Resolved).Dur("took", run.Finished.Sub(run.Started)).
		Msg("reconciliation run")
	return run, nil
}

func (e *Engine) setRunning(name string, on bool) {
	e.mu.Lock()
	e.running[name] = on
	e.mu.Unlock()
}

// compareRule reads and compares the rule's sides.
func (e *Engine) compareRule(ctx context.Context, r *catalog.Reconciliation) (Comparison, pairing, error) {
	if b, ok := e.bucketSpecs[r.Name]; ok {
		return e.compareBuckets(ctx, r, b)
	}
	why := ""
	if r.RightDSN != "" && r.Right != "" {
		if r.Level == catalog.LevelRecord || r.Level == catalog.LevelState {
			cmp, p, err := e.compareBisect(ctx, r)
			if !errors.Is(err, errNotBisectable) {
				return cmp, p, err
			}
			why = strings.TrimPrefix(err.Error(), errNotBisectable.Error()+": ")
			e.log.Debug().Str("rule", r.Name).Str("reason", why).Msg("external side read whole")
		} else {
			why = fmt.Sprintf("%s rules compare aggregates", r.Level)
		}
	}
	left, right, p, err := e.read(ctx, r)
	if err != nil {
		return Comparison{}, p, err
	}
	cmp, err := compare(r, left, right, e.clock())
	if err != nil {
		return Comparison{}, p, err
	}
	if p.external {
		cmp.Method, cmp.Why, cmp.ExternalRows = "whole", why, len(right.rows)
	}
	return cmp, p, nil
}

// fingerprint identifies a divergence across runs.
func fingerprint(rule string, k Kind, key string) string {
	h := sha256.Sum256([]byte(rule + "\x00" + string(k) + "\x00" + key))
	return hex.EncodeToString(h[:16])
}

// settle turns a comparison into exception changes and records the run.
func (e *Engine) settle(r *catalog.Reconciliation, cmp Comparison, p pairing, run *Run) error {
	now := e.clock()
	e.mu.Lock()
	prevPending := e.pending[r.Name]
	e.mu.Unlock()
	newPending := map[string]time.Time{}
	seen := map[string]bool{}
	var changes []change
	divergent := int64(0)
	base := func(d Difference, f string) Exception {
		return Exception{Rule: r.Name, Level: string(r.Level), Key: d.Key, Kind: d.Kind, Left: d.Left, Right: d.Right,
			Difference: d.Diff, Owner: r.Owner, Severity: string(r.Severity), Commit: p.asOf, Watermark: p.watermark,
			Fingerprint: f, LastSeen: now}
	}
	for _, d := range cmp.Diffs {
		f := fingerprint(r.Name, d.Kind, d.Key)
		seen[f] = true
		if ex, ok := e.ledger.byFingerprint(f); ok {
			upd := base(d, f)
			upd.ID, upd.FirstSeen, upd.Status, upd.Seen = ex.ID, ex.FirstSeen, ex.Status, ex.Seen+1
			upd.Resolution, upd.Note = ex.Resolution, ex.Note
			switch {
			case ex.Status.Active():
				divergent++
				changes = append(changes, change{exc: upd})
			case ex.Status == StatusResolved && p.paired:
				divergent++
				upd.Status, upd.Resolution = StatusReopened, ""
				changes = append(changes, change{exc: upd, event: "reopened", hist: &StatusChange{At: now, From: ex.Status,
					To: StatusReopened, By: "reconcile", Note: fmt.Sprintf("seen again at canonical commit %d", p.asOf)}})
			case ex.Status == StatusResolved:
				newPending[f] = now
			default: // accepted_variance, false_positive: keep the verdict, note it was seen
				changes = append(changes, change{exc: upd})
			}
			continue
		}
		first, ok := prevPending[f]
		if !ok {
			first = now
		}
		if !p.paired || now.Sub(first) < r.Grace {
			newPending[f] = first
			continue
		}
		ex := base(d, f)
		ex.Status, ex.FirstSeen, ex.Seen = StatusOpen, first, 1
		divergent++
		ev := "opened"
		if d.Kind == KindLate {
			ev = "escalated" // a temporal rule's pending change outlived its SLA
		}
		changes = append(changes, change{exc: ex, event: ev, hist: &StatusChange{At: now, To: StatusOpen, By: "reconcile",
			Note: fmt.Sprintf("found by run at canonical commit %d", p.asOf)}})
	}
	if p.paired {
		for _, ex := range e.ledger.ruleExceptions(r.Name) {
			if seen[ex.Fingerprint] || !ex.Status.Active() || p.asOf < ex.Commit {
				continue
			}
			how := "matched"
			if run.Trigger == "repair" {
				how = "repaired"
			}
			note := fmt.Sprintf("%s at canonical commit %d", how, p.asOf)
			if p.watermark != nil {
				note += fmt.Sprintf(", serving watermark %d", *p.watermark)
			}
			from := ex.Status
			ex.Status, ex.Resolution, ex.Note, ex.LastSeen = StatusResolved, how, note, now
			changes = append(changes, change{exc: ex, hist: &StatusChange{At: now, From: from, To: StatusResolved, By: "reconcile", Note: note}})
			run.Resolved++
		}
	}
	run.Pending = int64(len(newPending) + cmp.Pending)
	run.Divergent = divergent
	run.Finished = e.clock()
	for _, c := range changes {
		if c.hist != nil && c.hist.To == StatusOpen {
			run.Opened++
		}
	}
	switch {
	case divergent > 0:
		run.Outcome = "divergent"
	case run.Pending > 0:
		run.Outcome = "pending"
	default:
		run.Outcome = "clean"
	}
	verdicts := run.Matched + run.Divergent
	run.Coverage = fmt.Sprintf("%d of %d %s compared", verdicts, run.Compared, cmp.Unit)
	if cmp.Buckets > 0 {
		run.Coverage += fmt.Sprintf(" (%d buckets, %d descended", cmp.Buckets, cmp.Descended)
		if cmp.Summary != "" {
			run.Coverage += "; " + cmp.Summary
			if cmp.Descended > 0 {
				run.Coverage += ", then streamed to descend"
			}
		}
		run.Coverage += ")"
	}
	switch cmp.Method {
	case "bisection":
		run.Coverage += fmt.Sprintf(" (key-range bisection: %d ranges summarized on the external side, %d fetched, %d external rows read)",
			cmp.Ranges, cmp.RangesFetched, cmp.ExternalRows)
	case "whole":
		run.Coverage += fmt.Sprintf(" (external side read whole, %d rows", cmp.ExternalRows)
		if cmp.Why != "" {
			run.Coverage += ": " + cmp.Why
		}
		run.Coverage += ")"
	}
	if !p.paired {
		run.Coverage += "; serving moved while read: differences held as pending"
	}
	if err := e.ledger.apply(changes, run, &pendingSet{rule: r.Name, first: newPending}); err != nil {
		return err
	}
	// Webhook events carry the stored exception (with its id).
	for _, c := range changes {
		if c.event == "" {
			continue
		}
		if ex, ok := e.ledger.byFingerprint(c.exc.Fingerprint); ok {
			e.hooks.send(hookEvent{Event: c.event, Exception: ex})
		}
	}
	e.mu.Lock()
	e.pending[r.Name] = newPending
	delete(e.recheck, r.Name)
	var due time.Time
	for _, first := range newPending {
		if t := first.Add(r.Grace); due.IsZero() || t.Before(due) {
			due = t
		}
	}
	if !due.IsZero() {
		e.recheck[r.Name] = maxTime(due, now.Add(time.Second))
	}
	e.mu.Unlock()
	e.nudge()
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Ack acknowledges an exception: someone owns it now.
func (e *Engine) Ack(ctx context.Context, id uint64, note, by string) (Exception, error) {
	return e.setStatus(ctx, id, StatusAcknowledged, "", note, by)
}

// Resolutions CALL reconcile.resolve accepts.
var Resolutions = []string{"resolved", "accepted_variance", "false_positive"}

// Resolve closes an exception by hand: resolution is resolved,
// accepted_variance or false_positive.
func (e *Engine) Resolve(ctx context.Context, id uint64, resolution, note, by string) (Exception, error) {
	st := Status(resolution)
	if st != StatusResolved && st != StatusAcceptedVariance && st != StatusFalsePositive {
		return Exception{}, fmt.Errorf("%w: resolution %q: use one of %s", ErrBadArgument, resolution, strings.Join(Resolutions, ", "))
	}
	return e.setStatus(ctx, id, st, resolution, note, by)
}

// ErrNotConfigured: a rule cannot run here (e.g. its right_dsn names an
// environment variable that is not set).
var ErrNotConfigured = errors.New("reconcile: rule not configured here")

// ErrBadArgument: a procedure argument is not acceptable.
var ErrBadArgument = errors.New("reconcile: bad argument")

func (e *Engine) setStatus(ctx context.Context, id uint64, to Status, resolution, note, by string) (Exception, error) {
	if err := ctx.Err(); err != nil {
		return Exception{}, err
	}
	ex, ok := e.ledger.get(id)
	if !ok {
		return Exception{}, fmt.Errorf("%w: %d", ErrNoException, id)
	}
	if strings.TrimSpace(note) == "" {
		return Exception{}, fmt.Errorf("%w: give a note saying why (it is kept in the exception's history)", ErrBadArgument)
	}
	if to == StatusAcknowledged && !ex.Status.Active() {
		return Exception{}, fmt.Errorf("%w: exception %d is %s, only open or reopened exceptions can be acknowledged", ErrBadArgument, id, ex.Status)
	}
	from := ex.Status
	ex.Status, ex.Note = to, note
	if resolution != "" {
		ex.Resolution = resolution
	}
	h := &StatusChange{At: e.clock(), From: from, To: to, By: by, Note: note}
	if err := e.ledger.apply([]change{{exc: ex, hist: h}}, nil, nil); err != nil {
		return Exception{}, err
	}
	return ex, nil
}

// Wake makes the scheduler re-evaluate what is due now (after a clock
// change in tests, or an operator's request).
func (e *Engine) Wake() { e.nudge() }

// nudge wakes the scheduler to recompute its next due time.
func (e *Engine) nudge() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// due returns the rules due at now and when the next one is due.
func (e *Engine) due(now time.Time, started time.Time) (names []string, next time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.rules {
		var at time.Time
		if r.Schedule > 0 {
			if last, ok := e.ledger.lastRun(r.Name); ok {
				at = last.Started.Add(r.Schedule)
			} else {
				at = started
			}
		}
		if t, ok := e.recheck[r.Name]; ok && (at.IsZero() || t.Before(at)) {
			at = t
		}
		if at.IsZero() {
			continue
		}
		if !at.After(now) {
			names = append(names, r.Name)
			continue
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return names, next
}

// Start runs scheduled rules and grace re-checks until ctx ends. Rules run
// one at a time (reconciliation yields the machine to serving). The first
// scheduled run of each rule happens delay after the start. Beside them,
// the canonical bucket summaries of bucketable rules are kept at their
// projections' watermarks as commits apply (warmSummaries).
func (e *Engine) Start(ctx context.Context, delay time.Duration) {
	var wg sync.WaitGroup
	if len(e.bucketSpecs) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.warmSummaries(ctx)
		}()
	}
	defer wg.Wait()
	started := e.clock().Add(delay)
	for {
		now := e.clock()
		names, next := e.due(now, started)
		for _, n := range names {
			if ctx.Err() != nil {
				return
			}
			trigger := "schedule"
			e.mu.Lock()
			if t, ok := e.recheck[n]; ok && !t.After(now) {
				trigger = "recheck"
			}
			e.mu.Unlock()
			run, err := e.Run(ctx, n, trigger)
			// Only rebuilds repair by themselves: serving is derived, so
			// re-projecting it is always safe; a replay re-runs sources
			// into canonical and waits for a person's CALL.
			if err == nil && e.auto && run.Outcome == "divergent" && e.byName[n].Repair == "rebuild" {
				if _, err := e.Repair(ctx, n, false, "reconcile"); err != nil {
					e.log.Warn().Str("rule", n).Err(err).Msg("automatic repair failed")
				}
			}
		}
		if len(names) > 0 {
			continue
		}
		wait := time.Minute
		if !next.IsZero() {
			wait = max(next.Sub(now), 10*time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-e.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// Close stops webhook delivery and writes the canonical bucket summaries
// moved since they were last persisted. The ledger belongs to the caller
// (close it after).
func (e *Engine) Close() {
	e.persistSummaries()
	e.hooks.close()
}
