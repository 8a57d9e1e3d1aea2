package gateway

import (
	"time"

	"github.com/dualgate/dualgate/gateway/dialect"
)

// Metrics is told of the gateway's operational events; the binary passes
// the Prometheus registry of package metrics (Config.Metrics, nil: none).
// Connection goroutines call it concurrently, once per statement, so its
// methods must be cheap and safe for concurrent use.
type Metrics interface {
	// ConnectionOpened and ConnectionClosed bracket an authenticated
	// connection.
	ConnectionOpened()
	ConnectionClosed()
	// StatementDone reports a finished statement: authority is its result
	// label (authoritative or derived; "" when it has none: SET, BEGIN,
	// SHOW, a statement that failed to parse), sqlstate is "" on success,
	// elapsed runs from the start of its execution (of the message, for a
	// statement that failed before executing) to CommandComplete or the
	// error. A failed statement is labeled by the relations it reads.
	StatementDone(authority, sqlstate string, elapsed time.Duration)
	// FastPathHit reports a key lookup answered without the engine.
	FastPathHit()
}

// stmtObservation is what the session remembers of the statement running
// now, for Metrics.StatementDone (only kept when Metrics is set).
type stmtObservation struct {
	start        time.Time
	authority    string // from the statement's relations, for failures
	labelsBefore uint64 // session.labelSeq before it ran: a label since is its label
}

// observeMessage starts observing at a frontend message: a statement that
// fails before it executes (parse, bind) is timed and counted from here.
func (s *session) observeMessage() {
	if s.c.srv.cfg.Metrics != nil {
		s.obs = stmtObservation{start: time.Now(), labelsBefore: s.labelSeq}
	}
}

// observeExecution starts observing the execution of p (or its
// continuation after PortalSuspended, timed from its first Execute).
func (s *session) observeExecution(p *portal) {
	if p.cursor == nil || p.started.IsZero() {
		p.started = time.Now()
	}
	s.obs = stmtObservation{start: p.started, authority: s.authorityOf(&p.prep.stmt), labelsBefore: s.labelSeq}
}

// statementDone reports the observed statement's end (sqlstate "" on success).
func (s *session) statementDone(m Metrics, sqlstate string) {
	authority := s.obs.authority
	if s.labelSeq != s.obs.labelsBefore {
		authority = s.lastLabel.Authority
	} else if sqlstate == "" {
		authority = "" // succeeded without a result label
	}
	m.StatementDone(authority, sqlstate, time.Since(s.obs.start))
}

// authorityOf applies the result-label rule of labelFor to st's relations
// alone (no freshness lookups), for statements that fail before they are
// labeled: "" when st reads no relation.
func (s *session) authorityOf(st *dialect.Statement) string {
	if len(st.Relations) == 0 {
		return ""
	}
	for _, r := range st.Relations {
		schema := r.Schema
		if schema == "" {
			schema = s.currentSchema()
		}
		if !authoritativeSchemas[schema] {
			return "derived"
		}
	}
	return "authoritative"
}
