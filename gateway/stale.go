package gateway

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/dualgate/dualgate/gateway/dialect"
	"github.com/dualgate/dualgate/gateway/pgerror"
)

// dualgate.stale_policy = canonical: a derived read of a serving
// projection that is further behind canonical than dualgate.max_staleness
// (or not available at all: store flushed, Redis down) is computed from the
// projection's definition over canonical instead. The statement is
// rewritten on the Postgres syntax tree (dialect.Substitute): each stale
// `serving.<p>` becomes the derived table `(<p's SELECT>) AS <alias>`, and
// the result is translated and run like any statement, so filters,
// joins and aggregates of the query apply to the freshly computed rows.
//
// Label: by DESIGN.md's rule a result is authoritative iff every relation
// it reads is canonical, history or diff. After the substitution the
// projection is no longer read, only canonical is, so a query that read
// nothing but stale projections (and canonical) is authoritative and
// names the canonical commit it reflects (head, or the session's
// dualgate.as_of); the NOTICE says which projection it stands in for and
// why. A query that still reads something derived (another, fresh
// projection; raw; a serving table) stays derived, and its NOTICE names
// the substitution too.

// staleFallback is what checkStaleness returns under stale_policy =
// canonical: the stale projections (defs: "serving.<p>" -> SELECT), why
// each is stale, and the error to report if the statement cannot be
// computed from canonical.
type staleFallback struct {
	first   *pgerror.Error
	defs    map[string]string
	reasons []string
}

func (f *staleFallback) Error() string { return f.first.Error() }

// fromCanonical rewrites st per a *staleFallback err, and returns the
// statement to run and its label. Any other err is returned as it is.
func (s *session) fromCanonical(ctx context.Context, st *dialect.Statement, err error) (*dialect.Statement, label, error) {
	var fb *staleFallback
	if !errors.As(err, &fb) {
		return nil, label{}, err
	}
	cannot := func(why error) error {
		msg := why.Error()
		if pe, ok := pgerror.As(why); ok {
			msg = pe.Message
		}
		return pgerror.New(fb.first.Code, "%s", fb.first.Message).
			WithHint("dualgate.stale_policy = canonical could not compute this statement from canonical (%s); query the canonical entities, or raise dualgate.max_staleness", msg)
	}
	if st.Kind != dialect.KindQuery && st.Kind != dialect.KindExec {
		return nil, label{}, cannot(errors.New("not a query"))
	}
	for _, r := range st.Relations {
		// st.Source has the time-travel clauses blanked (dialect.timeTravel).
		if r.AsOf != "" {
			return nil, label{}, cannot(errors.New("the statement uses time travel (AS OF)"))
		}
	}
	text, err := dialect.Substitute(st.Source, s.currentSchema(), fb.defs)
	if err != nil {
		return nil, label{}, cannot(err)
	}
	stmts, err := s.eng.parse(text)
	if err != nil {
		return nil, label{}, cannot(err)
	}
	if len(stmts) != 1 {
		return nil, label{}, cannot(fmt.Errorf("the rewritten text has %d statements", len(stmts)))
	}
	nst := &stmts[0]
	nst.Lookup = nil // runs on the engine, never as a key lookup
	l := s.labelFor(ctx, nst)
	sort.Strings(fb.reasons)
	instead := "computed from canonical in place of " + strings.Join(fb.reasons, "; ")
	if l.Authority == "authoritative" {
		l.Notice += " (" + instead + ")"
	} else {
		l.Notice += fmt.Sprintf("; %s, at canonical commit %d", instead, s.canonicalCommit(ctx))
	}
	return nst, l, nil
}

// canonicalCommit is the commit canonical relations are read at: the
// session's dualgate.as_of, else head.
func (s *session) canonicalCommit(ctx context.Context) uint64 {
	clock := s.c.srv.cfg.Clock
	if clock == nil {
		return 0
	}
	if v := s.settings.get("dualgate.as_of"); v != "" {
		if id, err := clock.Resolve(ctx, sqlLiteral(v)); err == nil {
			return id
		}
	}
	return clock.Head()
}

// isStaleFallback says whether err asks for the statement to be computed
// from canonical (the fast path then leaves it to the engine path).
func isStaleFallback(err error) bool {
	var fb *staleFallback
	return errors.As(err, &fb)
}
