package reconcile

import "time"

// RuleStatus is one row of reconcile.status.
type RuleStatus struct {
	Rule       string
	Level      string
	Owner      string
	Severity   string
	LastRun    *Run
	Open       int       // active exceptions (open, acknowledged, reopened)
	OldestOpen time.Time // first_seen of the oldest active exception (zero: none)
	Pending    int       // differences inside their grace
	NextRun    time.Time // zero: only on CALL
	Running    bool
}

// Status reports every rule's state, in catalog order.
func (e *Engine) Status() []RuleStatus {
	exc := e.ledger.Exceptions()
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]RuleStatus, 0, len(e.rules))
	for _, r := range e.rules {
		st := RuleStatus{Rule: r.Name, Level: string(r.Level), Owner: r.Owner, Severity: string(r.Severity),
			Pending: len(e.pending[r.Name]), Running: e.running[r.Name]}
		if last, ok := e.ledger.lastRun(r.Name); ok {
			st.LastRun = &last
			if r.Schedule > 0 {
				st.NextRun = last.Started.Add(r.Schedule)
			}
		}
		if t, ok := e.recheck[r.Name]; ok && (st.NextRun.IsZero() || t.Before(st.NextRun)) {
			st.NextRun = t
		}
		for _, ex := range exc {
			if ex.Rule != r.Name || !ex.Status.Active() {
				continue
			}
			st.Open++
			if st.OldestOpen.IsZero() || ex.FirstSeen.Before(st.OldestOpen) {
				st.OldestOpen = ex.FirstSeen
			}
		}
		out = append(out, st)
	}
	return out
}

// WatermarkRow is one row of reconcile.watermarks: a relation a rule's
// last run read and the point in time it read it at.
type WatermarkRow struct {
	Rule     string
	Side     string // left or right
	Relation string
	Kind     string  // canonical, serving, raw, external, ...
	Commit   *uint64 // canonical commit or serving watermark (nil: not versioned)
	Head     uint64  // canonical head when the run started
	ReadAt   time.Time
}

// Watermarks reports what each rule's last run read at.
func (e *Engine) Watermarks() []WatermarkRow {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []WatermarkRow
	for _, r := range e.rules {
		last, ok := e.ledger.lastRun(r.Name)
		if !ok {
			continue
		}
		for _, m := range e.lastMarks[r.Name] {
			out = append(out, WatermarkRow{Rule: r.Name, Side: m.side, Relation: m.relation, Kind: m.kind,
				Commit: m.commit, Head: last.Head, ReadAt: last.Started})
		}
	}
	return out
}

// Exceptions returns every exception, by id.
func (e *Engine) Exceptions() []Exception { return e.ledger.Exceptions() }

// History returns every exception status change, in order.
func (e *Engine) History() []StatusChange { return e.ledger.History() }

// Runs returns the most recent runs, oldest first.
func (e *Engine) Runs() []Run { return e.ledger.Runs() }
