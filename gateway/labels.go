package gateway

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgproto3/v2"

	"github.com/dualgate/dualgate/gateway/dialect"
	"github.com/dualgate/dualgate/gateway/pgerror"
	servingtables "github.com/dualgate/dualgate/projections/sqltables"
)

// CommitClock tells the gateway where canonical history stands, so results
// can name the commit they reflect. The binary hands it the canonical
// store; without one, authoritative results report commit 0.
type CommitClock interface {
	// Head is the newest commit id.
	Head() uint64
	// Resolve turns a time-travel rev (engine literal as written: '...'
	// or an integer) into a commit id.
	Resolve(ctx context.Context, rev string) (uint64, error)
}

// Freshness reports how far serving projections trail canonical, for the
// labels of derived results and for dualgate.max_staleness.
type Freshness interface {
	// Projection reports serving.<name>; ok is false if no such projection.
	Projection(ctx context.Context, name string) (ProjectionFreshness, bool)
}

// ReadFreshness is implemented by a Freshness that can tell the freshness
// of the very data a serving read returned: the store reads a
// projection's watermark together with the row (one round trip, atomic),
// so a point lookup's label names the commit its row reflects, never a
// newer one, even across a commit or a rebuild's generation switch, and
// costs no store round trip of its own. The fast path uses it.
type ReadFreshness interface {
	// StampRead returns ctx prepared to record what a serving projection
	// read made under it (or a context derived from it) sees.
	StampRead(ctx context.Context) context.Context
	// ProjectionRead reports serving.<name>'s freshness as of the data a
	// read under ctx (from StampRead) returned; ok is false when no read
	// of that projection was recorded (use Projection).
	ProjectionRead(ctx context.Context, name string) (ProjectionFreshness, bool)
}

// ProjectionFreshness is one projection's position behind canonical.
type ProjectionFreshness struct {
	Watermark  uint64        // last canonical commit applied
	LagCommits uint64        // commits behind canonical's head
	Lag        time.Duration // time behind canonical's head
	SLA        time.Duration
	Available  bool // false: not materialized / store unreachable
	// Select is the projection's SQL over canonical; with
	// dualgate.stale_policy = canonical a too-stale read is computed from
	// it instead (empty: no fallback).
	Select string
	// ServingTable: serving.<name> is a non-authoritative serving table
	// written by its owners, not a projection: no watermark, no lag.
	ServingTable bool
}

// AsOfVar is the engine user variable (@dualgate_as_of) holding the
// session's SET dualgate.as_of rev; canonical tables read it.
const AsOfVar = "dualgate_as_of"

// authoritativeSchemas hold canonical data; everything else is derived.
var authoritativeSchemas = map[string]bool{"canonical": true, "history": true, "diff": true}

// label is what a result says about itself (DESIGN.md, Result labels).
type label struct {
	Authority string // "authoritative" or "derived"
	AsOf      uint64 // canonical commit the result reflects
	Relations []string
	Notice    string
	freshness []namedFreshness // serving relations read, for max_staleness
	// catalogOnly: every relation is pg_catalog or information_schema.
	// Such results (tool introspection: psql \d, drivers) still carry the
	// label in ParameterStatus, but no NOTICE that would clutter the tool.
	catalogOnly bool
}

type namedFreshness struct {
	name string
	f    ProjectionFreshness
}

// projectionWrite refuses an INSERT, UPDATE or DELETE whose target is a
// serving projection (42809, as the projection's table refuses it in the
// engine) before its freshness is checked: a projection is computed from
// canonical, so the answer must not depend on whether it is materialized
// or its store reachable (55000), nor be "computed from canonical" by the
// stale policy. The target is the statement's first relation (dialect).
func projectionWrite(st *dialect.Statement, l *label) error {
	switch st.Tag {
	case "INSERT", "UPDATE", "DELETE":
	default:
		return nil
	}
	if len(l.Relations) == 0 {
		return nil
	}
	for _, nf := range l.freshness {
		if strings.EqualFold(nf.name, l.Relations[0]) {
			return engineError(servingtables.ReadOnlyError(nf.name))
		}
	}
	return nil
}

// checkStaleness applies dualgate.max_staleness to the serving relations a
// result reads: a projection further behind than the bound (or not
// available) fails the statement with 55000, or, with
// dualgate.stale_policy = canonical, yields a *staleFallback naming the
// projections to compute from canonical instead (see stale.go).
func (s *session) checkStaleness(l *label) error {
	if len(l.freshness) == 0 {
		return nil
	}
	bound := s.settings.maxStaleness()
	canonicalPolicy := s.settings.get("dualgate.stale_policy") == "canonical"
	var fb *staleFallback
	for _, nf := range l.freshness {
		var e *pgerror.Error
		var why string
		switch {
		case !nf.f.Available:
			e = pgerror.New("55000", "%s is not available: the projection is not materialized or its store is unreachable", nf.name).
				WithHint("query the canonical entities, SET dualgate.stale_policy = canonical, or retry when the projection has been rebuilt (see dualgate.projections)")
			why = "which is not available"
		case bound > 0 && nf.f.Lag > bound:
			e = pgerror.New("55000", "%s is %d ms behind canonical (%d commits), more than dualgate.max_staleness = %s", nf.name, nf.f.Lag.Milliseconds(), nf.f.LagCommits, s.settings.get("dualgate.max_staleness")).
				WithHint("raise dualgate.max_staleness, SET dualgate.stale_policy = canonical, or query the canonical entities")
			why = fmt.Sprintf("%d commits (%d ms) behind, more than dualgate.max_staleness = %s", nf.f.LagCommits, nf.f.Lag.Milliseconds(), s.settings.get("dualgate.max_staleness"))
		default:
			continue
		}
		if !canonicalPolicy || nf.f.Select == "" {
			return e
		}
		if fb == nil {
			fb = &staleFallback{first: e, defs: map[string]string{}}
		}
		fb.defs[nf.name] = nf.f.Select
		fb.reasons = append(fb.reasons, nf.name+", "+why)
	}
	if fb != nil {
		return fb
	}
	return nil
}

// labelFor classifies a statement's result: authoritative iff it reads at
// least one relation and every relation is in canonical, history or diff.
// A result that reads no relation at all is derived: it is computed, not
// a fact of record.
func (s *session) labelFor(ctx context.Context, st *dialect.Statement) label {
	return s.labelRead(ctx, st, "", nil)
}

// labelRead is labelFor with the freshness of serving.<read> already known
// (pf, from ReadFreshness.ProjectionRead: the data a lookup returned)
// instead of asked of Freshness.
func (s *session) labelRead(ctx context.Context, st *dialect.Statement, read string, pf *ProjectionFreshness) label {
	var l label
	clock := s.c.srv.cfg.Clock
	if clock != nil {
		l.AsOf = clock.Head()
	}
	if v := s.settings.get("dualgate.as_of"); v != "" && clock != nil {
		if id, err := clock.Resolve(ctx, sqlLiteral(v)); err == nil {
			l.AsOf = id
		}
	}
	authoritative := len(st.Relations) > 0
	var derivedFrom, serving []string
	var asOfs map[uint64]bool
	l.Relations = make([]string, 0, len(st.Relations))
	for _, r := range st.Relations {
		schema := r.Schema
		if schema == "" {
			schema = s.currentSchema()
		}
		name := schema + "." + r.Name
		l.Relations = append(l.Relations, name)
		if !authoritativeSchemas[schema] {
			authoritative = false
			if f := s.c.srv.cfg.Freshness; schema == "serving" && f != nil {
				var rf ProjectionFreshness
				ok := false
				if pf != nil && strings.EqualFold(r.Name, read) {
					rf, ok = *pf, true
				} else {
					rf, ok = f.Projection(ctx, r.Name)
				}
				if ok && rf.ServingTable {
					serving = append(serving, name+" (non-authoritative serving table, written by its owners)")
					continue
				} else if ok {
					serving = append(serving, servingNotice(name, rf))
					l.AsOf = rf.Watermark
					l.freshness = append(l.freshness, namedFreshness{name, rf})
					continue
				}
			}
			derivedFrom = append(derivedFrom, name)
			continue
		}
		if r.AsOf != "" && clock != nil {
			if id, err := clock.Resolve(ctx, r.AsOf); err == nil {
				if asOfs == nil {
					asOfs = map[uint64]bool{}
				}
				asOfs[id] = true
			}
		}
	}
	if len(asOfs) == 1 {
		for id := range asOfs {
			l.AsOf = id
		}
	}
	sort.Strings(l.Relations)
	l.catalogOnly = len(st.Relations) > 0
	for _, r := range st.Relations {
		if r.Schema != "pg_catalog" && r.Schema != "information_schema" {
			l.catalogOnly = false
		}
	}
	if authoritative {
		l.Authority = "authoritative"
		l.Notice = "authoritative: " + strings.Join(l.Relations, ", ") + " as of commit " + strconv.FormatUint(l.AsOf, 10)
		if len(asOfs) > 1 {
			l.Notice = fmt.Sprintf("authoritative: %s at several commits (time travel per table), head commit %d", strings.Join(l.Relations, ", "), l.AsOf)
		}
		return l
	}
	l.Authority = "derived"
	switch {
	case len(serving) > 0:
		sort.Strings(serving)
		l.Notice = "derived: " + strings.Join(serving, "; ")
		if len(derivedFrom) > 0 {
			sort.Strings(derivedFrom)
			l.Notice += "; also reads " + strings.Join(derivedFrom, ", ")
		}
	case len(derivedFrom) == 0:
		l.Notice = "derived: computed without reading any relation"
	default:
		sort.Strings(derivedFrom)
		l.Notice = fmt.Sprintf("derived: %s (not canonical), canonical head commit %d", strings.Join(derivedFrom, ", "), l.AsOf)
	}
	return l
}

// servingLabel is the label of a statement whose only relation is
// serving projection read, as of pf (the freshness of the data the read
// returned): what labelRead makes of them, byte for byte. The fast path
// calls it for every lookup, so the label's relations and NOTICE are kept
// on the prepared statement and rebuilt only when the projection's
// position (watermark, lag, SLA) or the resolved schema changes.
func (s *session) servingLabel(ctx context.Context, p *prepared, read string, pf *ProjectionFreshness) label {
	st := &p.stmt
	if len(st.Relations) != 1 || pf.ServingTable {
		return s.labelRead(ctx, st, read, pf)
	}
	schema := st.Relations[0].Schema
	if schema == "" {
		schema = s.currentSchema()
	}
	c := &p.servingLabel
	lagMS := pf.Lag.Milliseconds()
	if !c.ok || c.schema != schema || c.read != read || c.watermark != pf.Watermark || c.lagCommits != pf.LagCommits || c.lagMS != lagMS || c.sla != pf.SLA {
		l := s.labelRead(ctx, st, read, pf)
		if len(l.freshness) != 1 {
			return l // not a projection read after all: nothing to keep
		}
		*c = cachedServingLabel{ok: true, schema: schema, read: read, watermark: pf.Watermark, lagCommits: pf.LagCommits, lagMS: lagMS, sla: pf.SLA, l: l}
		c.l.freshness = nil
		c.name = l.freshness[0].name
		return l
	}
	l := c.l
	c.fresh[0] = namedFreshness{c.name, *pf}
	l.freshness = c.fresh[:]
	return l
}

// cachedServingLabel is servingLabel's last label of one prepared
// statement and what it was made from.
type cachedServingLabel struct {
	ok                    bool
	schema, read, name    string
	watermark, lagCommits uint64
	lagMS                 int64
	sla                   time.Duration
	l                     label // without freshness
	// fresh backs the freshness of the labels returned from the cache, so
	// a point lookup's label allocates nothing. Each call overwrites it:
	// freshness is read (checkStaleness) before the statement's next
	// label is made, and a label kept after its statement (last_result,
	// the audit record) never reads it.
	fresh [1]namedFreshness
}

// servingNotice is the NOTICE's part for one projection read: "<name> at
// commit W, N commits (M ms) behind canonical, SLA <sla>". Built without
// fmt: it is on every point lookup's path.
func servingNotice(name string, pf ProjectionFreshness) string {
	b := make([]byte, 0, len(name)+80)
	b = append(b, name...)
	b = append(b, " at commit "...)
	b = strconv.AppendUint(b, pf.Watermark, 10)
	b = append(b, ", "...)
	b = strconv.AppendUint(b, pf.LagCommits, 10)
	b = append(b, " commits ("...)
	b = strconv.AppendInt(b, pf.Lag.Milliseconds(), 10)
	b = append(b, " ms) behind canonical, SLA "...)
	b = append(b, pf.SLA.String()...)
	return string(b)
}

// sqlLiteral renders a setting value as a rev literal: digits stay an
// integer commit id, anything else becomes a quoted string.
func sqlLiteral(v string) string {
	if _, err := strconv.ParseUint(v, 10, 64); err == nil {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// sendLabel reports a result's label before its CommandComplete:
// ParameterStatus dualgate.authority and dualgate.as_of always, and a
// NOTICE unless dualgate.label_notices is off. It is also kept for
// dualgate.last_result.
func (s *session) sendLabel(l label) error {
	s.setLastLabel(l)
	notice := s.settings.get("dualgate.label_notices") != "off" && !l.catalogOnly
	_, err := s.c.bw.Write(s.labelMsgs.encode(&l, notice))
	if err != nil {
		return writeError{err}
	}
	return nil
}

// setLastLabel keeps l as the session's last result label. It is held by
// value and counted (labelSeq) rather than pointed to, so labelling a
// result allocates nothing.
func (s *session) setLastLabel(l label) {
	s.lastLabel = l
	s.labelSeq++
}

// labelMessages is the wire form of the last label a session sent
// (ParameterStatus dualgate.authority and dualgate.as_of, and the NOTICE
// if any), kept while the next label is the same: a session reading one
// projection at one watermark sends the same bytes every statement, so
// they are encoded once rather than per result.
type labelMessages struct {
	authority string
	asOf      uint64
	notice    string // "" when with is false
	with      bool   // the NOTICE is included
	ok        bool
	buf       []byte
}

// encode returns the messages reporting l (with its NOTICE if notice),
// byte-identical to encoding pgproto3.ParameterStatus and NoticeResponse
// one by one. The result is valid until the next call.
func (m *labelMessages) encode(l *label, notice bool) []byte {
	if m.ok && m.authority == l.Authority && m.asOf == l.AsOf && m.with == notice && (!notice || m.notice == l.Notice) {
		return m.buf
	}
	b := m.buf[:0]
	b, _ = (&pgproto3.ParameterStatus{Name: "dualgate.authority", Value: l.Authority}).Encode(b)
	b, _ = (&pgproto3.ParameterStatus{Name: "dualgate.as_of", Value: strconv.FormatUint(l.AsOf, 10)}).Encode(b)
	m.notice = ""
	if notice {
		b, _ = (&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: l.Notice}).Encode(b)
		m.notice = l.Notice
	}
	m.authority, m.asOf, m.with, m.ok, m.buf = l.Authority, l.AsOf, notice, true, b
	return b
}
