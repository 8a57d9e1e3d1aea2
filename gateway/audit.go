package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/dualgate/dualgate/gateway/dialect"
)

// AuditSink receives one record per audited statement (Config.Audit; the
// primary stores them in dualgate.audit). Audited: every statement that
// reads or writes relations or runs a procedure (queries, DML, DDL, COPY,
// CALL), whether it succeeded, failed or was refused (42501); not session
// statements (SET, SHOW, BEGIN, ...). Audit is called on the connection
// goroutine when the statement ends, so it must not block for long.
type AuditSink interface {
	Audit(r AuditRecord)
}

// AuditRecord describes one statement for the audit trail.
type AuditRecord struct {
	At              time.Time // when it started
	User            string
	Role            string // the user's roles, comma-separated ("" when unrestricted)
	ApplicationName string
	ClientAddr      string // client IP address
	Fingerprint     string // 16 hex digits: same statement shape, same fingerprint
	Statement       string // the statement with every literal replaced by ?
	Relations       []string
	Authority       string // authoritative, derived, or "" (no result label)
	AsOf            uint64
	Rows            int64 // rows returned or affected
	Duration        time.Duration
	SQLState        string // 00000 on success
}

// auditState is what complete() saw of the statement being audited.
type auditState struct {
	tag     string
	label   label // held by value: labelling a result allocates nothing
	labeled bool
}

// auditStart notes when p's execution started (its first Execute).
func (s *session) auditStart(p *portal) time.Time {
	if p.started.IsZero() {
		p.started = time.Now()
	}
	s.aud = auditState{}
	return p.started
}

// auditPortal is deferred by runPortal: when the portal's statement is
// finished (or failed), its record goes to the sink.
func (s *session) auditPortal(sink AuditSink, p *portal, start time.Time, errp *error) {
	err := *errp
	if err == nil && !p.done {
		return // suspended: audited when the portal finishes
	}
	st := &p.prep.stmt
	switch st.Kind {
	case dialect.KindQuery, dialect.KindExec, dialect.KindCopyFrom, dialect.KindCopyTo, dialect.KindCall:
	default:
		return
	}
	rec := AuditRecord{
		At:              start,
		User:            s.c.user,
		Role:            s.roleNames(),
		ApplicationName: s.settings.vals["application_name"],
		ClientAddr:      s.c.clientAddr(),
		Duration:        time.Since(start),
		SQLState:        "00000",
	}
	rec.Fingerprint, rec.Statement = s.normalized(p.prep)
	if err != nil {
		rec.SQLState = asPG(err).Code
		if isWriteError(err) {
			rec.SQLState = "08006"
		}
	}
	if l := &s.aud.label; s.aud.labeled && err == nil {
		rec.Relations, rec.Authority, rec.AsOf = l.Relations, l.Authority, l.AsOf
	} else {
		for _, r := range st.Relations {
			schema := r.Schema
			if schema == "" {
				schema = s.currentSchema()
			}
			rec.Relations = append(rec.Relations, strings.ToLower(schema+"."+r.Name))
		}
		rec.Authority = s.authorityOf(st)
	}
	if st.Kind == dialect.KindCall && st.Call != nil {
		rec.Relations = append(rec.Relations, strings.ToLower(st.Call.Schema+"."+st.Call.Name)+"()")
	}
	if i := strings.LastIndexByte(s.aud.tag, ' '); i >= 0 && err == nil {
		rec.Rows, _ = strconv.ParseInt(s.aud.tag[i+1:], 10, 64)
	}
	sink.Audit(rec)
}

// roleNames is the audit trail's role column for the session's principal,
// joined once per principal (a session's principal and its roles are
// fixed when it starts).
func (s *session) roleNames() string {
	if s.audRoles.of != s.acl || !s.audRoles.ok {
		s.audRoles.of, s.audRoles.names, s.audRoles.ok = s.acl, s.acl.roleNames(), true
	}
	return s.audRoles.names
}

// normalized is the audit fingerprint and masked text of a statement,
// kept on its prepared statement: a prepared statement's source never
// changes, so it is normalized once rather than per execution.
func (s *session) normalized(p *prepared) (fingerprint, text string) {
	if !p.normOK || p.normSrc != p.stmt.Source {
		p.normFP, p.normText = s.c.srv.normalize(p.stmt.Source)
		p.normSrc, p.normOK = p.stmt.Source, true
	}
	return p.normFP, p.normText
}

// auditUnparsed records a statement the gateway could not parse or
// translate (called where parsing fails, for Query and Parse messages):
// outcome is the error's SQLSTATE, no relations, no label. Its text is
// stored as any statement's is, literals masked by the grammar's scanner
// (which accepts much that the parser refuses); text the scanner cannot
// tokenize either (an unterminated quote, say) is stored as its length
// and its beginning up to the first quote, dollar sign or digit (at most
// 64 bytes), never a literal; the fingerprint is over that stored text,
// as for every statement (a hash of the full text could confirm a
// guessed literal).
func (s *session) auditUnparsed(text string, err error) {
	sink := s.c.srv.cfg.Audit
	if sink == nil || err == nil || isWriteError(err) {
		return
	}
	rec := AuditRecord{
		At:              time.Now(),
		User:            s.c.user,
		Role:            s.roleNames(),
		ApplicationName: s.settings.vals["application_name"],
		ClientAddr:      s.c.clientAddr(),
		SQLState:        asPG(err).Code,
	}
	rec.Fingerprint, rec.Statement = s.c.srv.normalize(text)
	sink.Audit(rec)
}

// unscannable describes text the scanner cannot tokenize (see
// auditUnparsed): its length and its beginning before anything that may
// start a literal.
func unscannable(src string) string {
	end := len(src)
	if i := strings.IndexAny(src, "'$\"0123456789"); i >= 0 {
		end = i
	}
	if end > 64 {
		end = 64
	}
	for end > 0 && end < len(src) && !utf8.RuneStart(src[end]) {
		end--
	}
	prefix := strings.Join(strings.Fields(src[:end]), " ")
	return fmt.Sprintf("(not scannable, %d bytes) %s…", len(src), prefix)
}

func clientIP(a net.Addr) string {
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// normalizer caches statement fingerprints and literal-masked texts:
// prepared and repeated statements are scanned once.
type normalizer struct {
	mu    sync.Mutex
	cache map[string][2]string
}

// normalize returns a statement's fingerprint and its text with every
// literal (strings, numbers, bit strings) replaced by ? and comments
// dropped, using the Postgres grammar's own scanner (so AS OF revisions
// and anything else the parser would not accept are masked too).
func (s *Server) normalize(src string) (fingerprint, text string) {
	n := &s.norm
	n.mu.Lock()
	if v, ok := n.cache[src]; ok {
		n.mu.Unlock()
		return v[0], v[1]
	}
	n.mu.Unlock()
	text = maskLiterals(src)
	sum := sha256.Sum256([]byte(strings.ToLower(text)))
	fingerprint = hex.EncodeToString(sum[:8])
	n.mu.Lock()
	if n.cache == nil || len(n.cache) >= 4096 {
		n.cache = map[string][2]string{}
	}
	n.cache[src] = [2]string{fingerprint, text}
	n.mu.Unlock()
	return fingerprint, text
}

func maskLiterals(src string) string {
	res, err := pg.Scan(src)
	if err != nil {
		return unscannable(src)
	}
	var b strings.Builder
	prevEnd := 0
	for _, tok := range res.Tokens {
		start, end := int(tok.Start), int(tok.End)
		if start < prevEnd || end > len(src) || start > end {
			continue
		}
		gap := src[prevEnd:start]
		prevEnd = end
		switch tok.Token {
		case pg.Token_SQL_COMMENT, pg.Token_C_COMMENT:
			continue
		}
		if b.Len() > 0 && gap != "" {
			b.WriteByte(' ')
		}
		switch tok.Token {
		case pg.Token_SCONST, pg.Token_USCONST, pg.Token_BCONST, pg.Token_XCONST, pg.Token_ICONST, pg.Token_FCONST:
			b.WriteByte('?')
		default:
			b.WriteString(src[start:end])
		}
	}
	return b.String()
}
