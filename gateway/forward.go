package gateway

// Forwarding: the sidecar role (DESIGN.md, Roles). A sidecar answers the
// statements it can from its own engine (serving projections read from the
// shared Redis store, settings, relation-free expressions) and forwards
// everything else to the primary over the Postgres protocol, so clients see
// one server.
//
// Design choices:
//
//   - One backend connection per client session, opened lazily by the
//     first forwarded statement (a consumer that only reads projections
//     never touches the primary) and closed with the session. It connects
//     as the --primary URL's user, or as the client's user when the URL
//     names none, with the client's startup parameters.
//   - Messages are relayed raw: the client's Parse/Bind/Describe/Execute/
//     Close/Sync and COPY data go to the primary as the client encoded them,
//     and the primary's replies (RowDescription, DataRow bytes in whatever
//     formats the client asked for, CommandComplete tags, ErrorResponse
//     with every field, NOTICEs, ParameterStatus labels) go back unchanged.
//     pgconn does the connecting (auth, TLS) and the cancel request;
//     ReceiveMessage reads the replies one at a time. Each extended-protocol
//     message is followed by a Flush and its reply is read before the next
//     client message is handled, so local and forwarded statements can
//     interleave in one pipeline and replies stay in order.
//   - Transactions live on the primary: BEGIN is forwarded, and while the
//     primary reports a transaction every statement is forwarded; the
//     session's transaction status is the primary's (ReadyForQuery).
//   - Session settings (SET/RESET/DISCARD) run locally and are mirrored to
//     the backend (replayed when it opens), so label and staleness
//     settings apply to both local and forwarded results.
//   - A local serving read that dualgate.stale_policy = canonical would
//     compute from canonical is forwarded instead: the sidecar has no
//     canonical data, the primary does.
//   - What the sidecar cannot parse, the primary decides (the whole text is
//     forwarded and the primary's error or result is relayed).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgproto3/v2"
	"github.com/jackc/pgx/v5/pgconn"
	pgproto5 "github.com/jackc/pgx/v5/pgproto3"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/dualgate/dualgate/gateway/dialect"
	"github.com/dualgate/dualgate/gateway/pgerror"
)

// SQLSTATEs of a primary that cannot be reached or was lost.
const (
	codeCannotConnect = "08001" // sqlclient_unable_to_establish_sqlconnection
	codeConnLost      = "08006" // connection_failure
)

// cancelGrace is how long a forwarded statement may keep running after a
// cancel request was sent to the primary before the backend connection is
// closed (a primary that no longer answers must not hang the session).
const cancelGrace = 10 * time.Second

// Forwarder sends the statements a sidecar does not answer from its own
// engine to the primary. Put it in Config.Forward.
type Forwarder struct {
	cfg       *pgconn.Config
	addr      string
	userGiven bool
	dbGiven   bool
	local     func(schema, name string) bool
}

// NewForwarder parses the primary's connection string (postgres://… or
// key=value) and returns a forwarder. local reports whether a relation
// (lower-case schema, name as written) is answered by this server's own
// engine; statements reading anything else are forwarded.
func NewForwarder(primary string, local func(schema, name string) bool) (*Forwarder, error) {
	cfg, err := pgconn.ParseConfig(primary)
	if err != nil {
		return nil, fmt.Errorf("--primary: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	f := &Forwarder{cfg: cfg, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), local: local}
	if u, err := url.Parse(primary); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		f.userGiven = u.User != nil && u.User.Username() != ""
		f.dbGiven = strings.Trim(u.Path, "/") != ""
	} else {
		f.userGiven = strings.Contains(primary, "user=")
		f.dbGiven = strings.Contains(primary, "dbname=")
	}
	if local == nil {
		f.local = func(string, string) bool { return false }
	}
	return f, nil
}

// Addr is the primary's host:port, as messages name it.
func (f *Forwarder) Addr() string { return f.addr }

// Connect opens a connection to the primary. user and database apply when
// the connection string names none; params are more startup parameters
// (those the connection string sets win). Failures carry SQLSTATE 08001
// and name the primary.
func (f *Forwarder) Connect(ctx context.Context, user, database string, params map[string]string) (*pgconn.PgConn, error) {
	cfg := f.cfg.Copy()
	if !f.userGiven && user != "" {
		cfg.User = user
	}
	if !f.dbGiven && database != "" {
		cfg.Database = database
	}
	for k, v := range params {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code != "" && !strings.HasPrefix(pe.Code, "08") {
			// The primary answered and refused (e.g. 28P01): say so.
			return nil, pgerror.New(pe.Code, "the primary at %s refused the connection: %s", f.addr, pe.Message).
				WithHint("this sidecar forwards everything but serving.* reads to the primary (--primary)")
		}
		return nil, pgerror.New(codeCannotConnect, "cannot connect to the primary at %s: %v", f.addr, err).
			WithHint("check --primary and that the primary is up; serving.* projections are still answered by this sidecar")
	}
	return conn, nil
}

// route says where a statement runs.
type route int

const (
	routeLocal   route = iota // this server's engine only
	routeForward              // the primary only
	routeBoth                 // locally, and mirrored to the primary (session settings)
)

// forwardOnlySettings change what the primary computes and mean nothing to
// the sidecar's own reads; SET and SHOW of them go to the primary.
var forwardOnlySettings = map[string]bool{"dualgate.as_of": true, "dualgate.commit_message": true}

// forwarding is one session's link to the primary.
type forwarding struct {
	f        *Forwarder
	startup  map[string]string
	user     string
	database string

	conn    *pgconn.PgConn // nil until the first forwarded statement
	pending bool           // extended messages sent since the backend's last Sync
	stmts   map[string]*fwdStmt
	portals map[string]*fwdStmt
	replay  []string // session statements run before the backend opened
	lostTx  bool     // the backend was lost inside a transaction
	wbuf    []byte
}

// fwdStmt is a prepared statement (or portal) that lives on the primary.
type fwdStmt struct {
	relations []string
}

func newForwarding(f *Forwarder, user string, startup map[string]string) *forwarding {
	params := map[string]string{}
	for k, v := range startup {
		switch k {
		case "user", "database", "replication":
			continue
		}
		params[k] = v
	}
	db := startup["database"]
	if db == "" {
		db = user
	}
	return &forwarding{f: f, user: user, database: db, startup: params, stmts: map[string]*fwdStmt{}, portals: map[string]*fwdStmt{}}
}

func (f *forwarding) close() {
	if f == nil || f.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = f.conn.Close(ctx)
	f.conn = nil
}

// errRelayed reports a statement whose ErrorResponse came from the primary
// and was already passed to the client: fail only marks the failure.
var errRelayed = errors.New("error relayed from the primary")

// ensureBackend opens the backend connection if needed and replays the session
// settings made before it.
func (s *session) ensureBackend(ctx context.Context) error {
	f := s.fwd
	if f.conn != nil {
		return nil
	}
	conn, err := f.f.Connect(ctx, f.user, f.database, f.startup)
	if err != nil {
		return err
	}
	f.conn = conn
	for _, q := range f.replay {
		if _, err := conn.Exec(ctx, q).ReadAll(); err != nil {
			s.c.log.Warn().Err(err).Str("statement", q).Msg("sidecar: replaying a session setting on the primary failed")
		}
	}
	f.replay = nil
	s.c.log.Debug().Str("primary", f.f.addr).Uint32("backend_pid", conn.PID()).Msg("sidecar: backend connection opened")
	return nil
}

// lost drops a backend connection that failed and returns the error for
// the client (08006). A transaction open on it is gone: the session stays
// in a failed transaction until the client ends it.
func (s *session) lost(err error) error {
	f := s.fwd
	if f.conn != nil {
		_ = f.conn.Conn().Close()
		f.close()
	}
	f.conn, f.pending = nil, false
	f.stmts, f.portals = map[string]*fwdStmt{}, map[string]*fwdStmt{}
	if s.tx != 'I' {
		f.lostTx = true
		s.tx = 'E'
	}
	s.c.log.Warn().Err(err).Str("primary", f.f.addr).Msg("sidecar: lost the connection to the primary")
	return pgerror.New(codeConnLost, "lost the connection to the primary at %s: %v", f.f.addr, err).
		WithHint("retry; serving.* projections are still answered by this sidecar")
}

// route decides where st runs.
func (s *session) route(st *dialect.Statement) route {
	f := s.fwd
	if f.lostTx && s.tx == 'I' {
		f.lostTx = false // ended locally
	}
	if f.lostTx {
		return routeLocal // the session's failed transaction ends locally
	}
	if s.tx != 'I' {
		return routeForward
	}
	switch st.Kind {
	case dialect.KindEmpty, dialect.KindNoop:
		return routeLocal
	case dialect.KindQuery:
		for _, r := range st.Relations {
			schema := strings.ToLower(r.Schema)
			if schema == "" {
				schema = s.currentSchema()
			}
			if r.AsOf != "" || !f.f.local(schema, r.Name) {
				return routeForward
			}
		}
		return routeLocal
	case dialect.KindShow:
		if forwardOnlySettings[st.Show] {
			return routeForward
		}
		return routeLocal
	case dialect.KindSet, dialect.KindReset, dialect.KindDiscard:
		if mirrored(st) {
			return routeBoth
		}
		return routeForward
	case dialect.KindDeallocate:
		if _, ok := f.stmts[st.Savepoint]; ok {
			return routeForward
		}
		if st.Savepoint == "" || strings.EqualFold(st.Savepoint, "all") {
			return routeBoth
		}
		return routeLocal
	}
	return routeForward
}

// mirrored says whether a session statement applies to the sidecar's own
// session as well as the primary's: SET and RESET (not SET LOCAL, which only
// means something inside a transaction, and those run on the primary; not
// the forward-only settings) and DISCARD.
func mirrored(st *dialect.Statement) bool {
	switch st.Kind {
	case dialect.KindSet, dialect.KindReset:
		return !st.Set.Local && !forwardOnlySettings[strings.ToLower(st.Set.Name)]
	case dialect.KindDiscard:
		return true
	}
	return false
}

// forwardQuery is simpleQuery on a sidecar session.
func (s *session) forwardQuery(text string) error {
	stmts, err := s.eng.parse(text)
	if err != nil {
		// The primary has the tables this text may need to translate.
		if ferr := s.forwardSimple(text, nil); ferr != nil {
			if isWriteError(ferr) {
				return ferr
			}
			if !errors.Is(ferr, errRelayed) {
				ferr = err // no primary to decide: the sidecar's own error stands
			}
			if err := s.fail(ferr, text); err != nil {
				return err
			}
		}
		return s.ready()
	}
	if len(stmts) == 0 {
		if err := s.c.send(&pgproto3.EmptyQueryResponse{}); err != nil {
			return err
		}
		return s.ready()
	}
	routes := make([]route, len(stmts))
	anyLocal, anyForward := false, false
	for i := range stmts {
		routes[i] = s.route(&stmts[i])
		anyLocal = anyLocal || routes[i] == routeLocal
		anyForward = anyForward || routes[i] == routeForward
	}
	if anyForward && !anyLocal {
		// All of it goes to the primary, as the client wrote it (one round
		// trip, and the primary's own statement splitting and time travel).
		if err := s.forwardSimple(text, stmts); err != nil {
			if isWriteError(err) {
				return err
			}
			if err := s.fail(err, text); err != nil {
				return err
			}
		}
		return s.ready()
	}
	var parts []string
	for i := range stmts {
		var err error
		r := s.route(&stmts[i]) // again: a BEGIN before it moves it to the primary
		if r == routeForward {
			src := stmts[i].Source
			if hasTimeTravel(&stmts[i]) {
				if parts == nil {
					parts, _ = pg.SplitWithScanner(text, true)
				}
				if len(parts) != len(stmts) {
					err = pgerror.Unsupported("time travel in a statement sent together with serving reads; send it on its own")
				} else {
					src = parts[i]
				}
			}
			if err == nil {
				err = s.forwardSimple(src, stmts[i:i+1])
			}
		} else {
			p := &portal{prep: &prepared{stmt: stmts[i]}}
			err = s.runPortal(p, 0, true)
			p.closeCursor()
			if err == nil && r == routeBoth {
				s.mirror(&stmts[i])
			}
		}
		if err != nil {
			if isWriteError(err) {
				return err
			}
			if err := s.fail(err, stmts[i].Source); err != nil {
				return err
			}
			break
		}
	}
	return s.ready()
}

func hasTimeTravel(st *dialect.Statement) bool {
	for _, r := range st.Relations {
		if r.AsOf != "" {
			return true
		}
	}
	return false
}

// forwardSimple sends text as one Query and relays the replies up to (not
// including) ReadyForQuery; stmts, when known, are its statements, whose
// session settings are then applied locally too. It returns errRelayed when
// the primary reported an error.
func (s *session) forwardSimple(text string, stmts []dialect.Statement) error {
	ctx, release := s.c.statementContext(s.settings.statementTimeout())
	defer release()
	if err := s.ensureBackend(ctx); err != nil {
		return err
	}
	if err := s.syncBackend(ctx); err != nil {
		return err
	}
	before := s.tx
	saved := s.settings.clone()
	res, err := s.exchange(ctx, exchangeSpec{relations: relationsOf(stmts), done: isReadyForQuery}, &pgproto3.Query{String: text})
	if err != nil {
		return err
	}
	for i := 0; i < res.completed && i < len(stmts); i++ {
		if mirrored(&stmts[i]) {
			s.applyQuietly(&stmts[i])
		}
	}
	switch {
	case before == 'I' && s.tx != 'I':
		s.txSettings = saved
	case before != 'I' && s.tx == 'I':
		if res.lastTag == "ROLLBACK" && s.txSettings != nil {
			s.restoreQuietly(s.txSettings)
		}
		s.txSettings = nil
	}
	if res.errored {
		return errRelayed
	}
	return nil
}

func relationsOf(stmts []dialect.Statement) []string {
	var out []string
	for _, st := range stmts {
		for _, r := range st.Relations {
			name := r.Name
			if r.Schema != "" {
				name = r.Schema + "." + r.Name
			}
			out = append(out, name)
		}
	}
	return out
}

// applyQuietly applies a session statement the primary already ran (and
// reported) to the local session, without replies of its own.
func (s *session) applyQuietly(st *dialect.Statement) {
	switch st.Kind {
	case dialect.KindSet, dialect.KindReset:
		set := st.Set
		if set.Local {
			return
		}
		if set.All {
			s.restoreQuietly(s.defaults)
			return
		}
		key := strings.ToLower(set.Name)
		old, had := s.settings.vals[key]
		var err error
		if set.Reset {
			_, err = s.settings.reset(set.Name, s.defaults)
		} else {
			_, err = s.settings.set(set.Name, strings.Join(set.Value, ", "))
		}
		if err == nil {
			err = s.settingChanged(key)
		}
		if err != nil {
			if had {
				s.settings.vals[key] = old
			} else {
				delete(s.settings.vals, key)
			}
			s.c.log.Debug().Err(err).Str("setting", key).Msg("sidecar: setting accepted by the primary but not locally")
		}
	case dialect.KindDiscard:
		for name, p := range s.portals {
			p.closeCursor()
			delete(s.portals, name)
		}
		s.prepared = map[string]*prepared{}
		s.fwd.stmts, s.fwd.portals = map[string]*fwdStmt{}, map[string]*fwdStmt{}
		s.restoreQuietly(s.defaults)
	}
}

func (s *session) restoreQuietly(saved map[string]string) {
	for k, v := range saved {
		if s.settings.vals[k] == v {
			continue
		}
		s.settings.vals[k] = v
		_ = s.settingChanged(k)
	}
}

// mirror repeats a session statement that ran locally on the backend, or
// records it for when the backend opens. The primary's reply is not
// relayed (the client already has the local one).
func (s *session) mirror(st *dialect.Statement) {
	f := s.fwd
	if st.Kind == dialect.KindDiscard || (st.Set != nil && st.Set.All) {
		f.replay = nil
		f.stmts, f.portals = map[string]*fwdStmt{}, map[string]*fwdStmt{}
	}
	if f.conn == nil {
		f.replay = append(f.replay, st.Source)
		return
	}
	ctx, release := s.c.statementContext(s.settings.statementTimeout())
	defer release()
	if err := s.syncBackend(ctx); err != nil {
		return
	}
	if _, err := f.conn.Exec(ctx, st.Source).ReadAll(); err != nil {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			_ = s.lost(err)
			return
		}
		s.c.log.Warn().Err(err).Str("statement", st.Source).Msg("sidecar: the primary refused a session setting this sidecar accepted")
	}
}

// syncBackend ends a pending extended-protocol exchange on the backend.
func (s *session) syncBackend(ctx context.Context) error {
	f := s.fwd
	if !f.pending || f.conn == nil {
		return nil
	}
	f.pending = false
	_, err := s.exchange(ctx, exchangeSpec{done: isReadyForQuery}, &pgproto3.Sync{})
	return err
}

// exchangeSpec says how exchange relays: which message ends it, the
// relations of the statement (for dualgate.last_result), and whether the
// ParseComplete and BindComplete of messages the sidecar added itself are
// kept from the client.
type exchangeSpec struct {
	relations []string
	done      func(pgproto5.BackendMessage) bool
	quiet     bool
}

// exchangeResult is what exchange saw.
type exchangeResult struct {
	errored   bool
	completed int    // CommandCompletes relayed
	lastTag   string // the last command tag
}

func isReadyForQuery(m pgproto5.BackendMessage) bool {
	_, ok := m.(*pgproto5.ReadyForQuery)
	return ok
}

// replyOf ends the exchange of one Parse, Bind or Close.
func replyOf(m pgproto5.BackendMessage) bool {
	switch m.(type) {
	case *pgproto5.ParseComplete, *pgproto5.BindComplete, *pgproto5.CloseComplete, *pgproto5.ErrorResponse:
		return true
	}
	return false
}

// describedBy ends the exchange of a Describe.
func describedBy(m pgproto5.BackendMessage) bool {
	switch m.(type) {
	case *pgproto5.RowDescription, *pgproto5.NoData, *pgproto5.ErrorResponse:
		return true
	}
	return false
}

// executedBy ends the exchange of an Execute.
func executedBy(m pgproto5.BackendMessage) bool {
	switch m.(type) {
	case *pgproto5.CommandComplete, *pgproto5.EmptyQueryResponse, *pgproto5.PortalSuspended, *pgproto5.ErrorResponse:
		return true
	}
	return false
}

// exchange sends msgs to the backend and relays its replies to the client
// until done reports the last one (a ReadyForQuery is never relayed: it
// sets the session's transaction status). A cancel of the statement
// context sends a cancel request to the primary; the primary's answer (an
// error) is relayed like any other. A backend that fails is dropped with
// an 08006 error.
func (s *session) exchange(ctx context.Context, x exchangeSpec, msgs ...pgproto3.FrontendMessage) (exchangeResult, error) {
	f := s.fwd
	var res exchangeResult
	conn := f.conn
	b := f.wbuf[:0]
	for _, m := range msgs {
		var err error
		if b, err = m.Encode(b); err != nil {
			return res, fmt.Errorf("encode %T: %w", m, err)
		}
		switch m.(type) {
		case *pgproto3.Sync, *pgproto3.Query:
			f.pending = false
		default:
			f.pending = true
		}
	}
	f.wbuf = b
	if _, err := conn.Conn().Write(b); err != nil {
		return res, s.lost(err)
	}
	stop := s.watchCancel(ctx, conn)
	defer stop()
	var authority, asOf, notice string
	for {
		msg, err := conn.ReceiveMessage(context.Background())
		if err != nil {
			if ctx.Err() != nil {
				return res, s.lost(fmt.Errorf("the primary did not answer a cancel request within %s: %w", cancelGrace, err))
			}
			return res, s.lost(err)
		}
		relay := true
		switch m := msg.(type) {
		case *pgproto5.ReadyForQuery:
			s.tx = m.TxStatus
			if s.tx == 'I' {
				f.lostTx = false
			}
			relay = false
		case *pgproto5.ParameterStatus:
			switch m.Name {
			case "dualgate.authority":
				authority = m.Value
			case "dualgate.as_of":
				asOf = m.Value
			}
		case *pgproto5.NoticeResponse:
			if strings.HasPrefix(m.Message, "authoritative:") || strings.HasPrefix(m.Message, "derived:") {
				notice = m.Message
			}
		case *pgproto5.ErrorResponse:
			res.errored = true
		case *pgproto5.CommandComplete:
			res.completed++
			res.lastTag = string(m.CommandTag)
			if authority != "" {
				n, _ := strconv.ParseUint(asOf, 10, 64)
				s.setLastLabel(label{Authority: authority, AsOf: n, Relations: x.relations, Notice: notice})
				authority, asOf, notice = "", "", ""
			}
		case *pgproto5.CopyInResponse:
			if err := s.relayMessage(msg); err != nil {
				return res, err
			}
			if err := s.c.flush(); err != nil {
				return res, writeError{err}
			}
			if err := s.copyToBackend(conn); err != nil {
				return res, err
			}
			relay = false
		case *pgproto5.ParseComplete, *pgproto5.BindComplete:
			relay = !x.quiet
		}
		if relay {
			if err := s.relayMessage(msg); err != nil {
				return res, err
			}
		}
		if x.done(msg) {
			return res, nil
		}
	}
}

// relayMessage writes a backend message to the client unchanged.
func (s *session) relayMessage(msg pgproto5.BackendMessage) error {
	var err error
	s.c.scratch, err = msg.Encode(s.c.scratch[:0])
	if err != nil {
		return fmt.Errorf("encode %T: %w", msg, err)
	}
	if _, err := s.c.bw.Write(s.c.scratch); err != nil {
		return writeError{err}
	}
	return nil
}

// copyToBackend passes the client's COPY data to the primary until
// CopyDone or CopyFail.
func (s *session) copyToBackend(conn *pgconn.PgConn) error {
	w := bufio.NewWriterSize(conn.Conn(), 64<<10)
	var b []byte
	for {
		msg, err := s.c.fr.receive()
		if err != nil {
			// The client is gone: end the COPY on the primary too.
			b, _ = (&pgproto3.CopyFail{Message: "client connection lost"}).Encode(b[:0])
			_, _ = w.Write(b)
			_ = w.Flush()
			return writeError{err}
		}
		var end bool
		switch m := msg.(type) {
		case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
			_, end = m.(*pgproto3.CopyData)
			end = !end
			b, err = m.Encode(b[:0])
		case *pgproto3.Flush, *pgproto3.Sync:
			continue // ignored during COPY, as in Postgres
		default:
			b, err = (&pgproto3.CopyFail{Message: fmt.Sprintf("unexpected message %T during COPY", msg)}).Encode(b[:0])
			end = true
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return s.lost(err)
		}
		if end {
			if err := w.Flush(); err != nil {
				return s.lost(err)
			}
			return nil
		}
	}
}

// watchCancel sends the primary a cancel request when ctx ends (client
// CancelRequest, statement_timeout, shutdown), and closes the backend if
// the primary still has not answered cancelGrace later.
func (s *session) watchCancel(ctx context.Context, conn *pgconn.PgConn) (stop func()) {
	var mu sync.Mutex
	finished := false
	var hard *time.Timer
	after := context.AfterFunc(ctx, func() {
		go func() {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := conn.CancelRequest(cctx); err != nil {
				s.c.log.Warn().Err(err).Msg("sidecar: cancel request to the primary failed")
			}
		}()
		mu.Lock()
		if !finished {
			nc := conn.Conn()
			hard = time.AfterFunc(cancelGrace, func() { _ = nc.Close() })
		}
		mu.Unlock()
	})
	return func() {
		after()
		mu.Lock()
		finished = true
		if hard != nil {
			hard.Stop()
		}
		mu.Unlock()
	}
}

// The extended protocol. Each hook reports whether the message concerned a
// forwarded statement (and was handled); otherwise the session handles it.

// forwardParse handles Parse of a statement the sidecar forwards.
func (s *session) forwardParse(m *pgproto3.Parse) (bool, error) {
	f := s.fwd
	forward := s.tx != 'I' && !f.lostTx
	var rels []string
	if !forward {
		stmts, err := s.eng.parse(m.Query)
		switch {
		case err != nil || len(stmts) > 1:
			forward = true
		case len(stmts) == 1:
			forward = s.route(&stmts[0]) == routeForward
			rels = relationsOf(stmts)
		}
	}
	if !forward {
		delete(f.stmts, m.Name)
		return false, nil
	}
	if m.Name != "" {
		_, local := s.prepared[m.Name]
		if _, dup := f.stmts[m.Name]; dup || local {
			return true, pgerror.New("42P05", "prepared statement %q already exists", m.Name)
		}
	}
	delete(s.prepared, m.Name)
	ctx, release := s.c.statementContext(s.settings.statementTimeout())
	defer release()
	if err := s.ensureBackend(ctx); err != nil {
		return true, err
	}
	res, err := s.exchange(ctx, exchangeSpec{done: replyOf}, m, &pgproto3.Flush{})
	if err != nil {
		return true, err
	}
	if res.errored {
		return true, errRelayed
	}
	f.stmts[m.Name] = &fwdStmt{relations: rels}
	return true, nil
}

// forwardBind handles Bind of a forwarded statement.
func (s *session) forwardBind(m *pgproto3.Bind) (bool, error) {
	f := s.fwd
	st, ok := f.stmts[m.PreparedStatement]
	if !ok {
		delete(f.portals, m.DestinationPortal)
		return false, nil
	}
	if m.DestinationPortal != "" {
		_, local := s.portals[m.DestinationPortal]
		if _, dup := f.portals[m.DestinationPortal]; dup || local {
			return true, pgerror.New("42P03", "portal %q already exists", m.DestinationPortal)
		}
	}
	if old := s.portals[m.DestinationPortal]; old != nil {
		old.closeCursor()
		delete(s.portals, m.DestinationPortal)
	}
	if err := s.sendForwarded(exchangeSpec{done: replyOf}, m); err != nil {
		return true, err
	}
	f.portals[m.DestinationPortal] = st
	return true, nil
}

// forwardDescribe handles Describe of a forwarded statement or portal.
func (s *session) forwardDescribe(m *pgproto3.Describe) (bool, error) {
	f := s.fwd
	var ok bool
	switch m.ObjectType {
	case 'S':
		_, ok = f.stmts[m.Name]
	case 'P':
		_, ok = f.portals[m.Name]
	}
	if !ok {
		return false, nil
	}
	if err := s.sendForwarded(exchangeSpec{done: describedBy}, m); err != nil {
		return true, err
	}
	return true, nil
}

// forwardExecute handles Execute of a forwarded portal, and mirrors a
// local session statement (SET) to the primary after it ran.
func (s *session) forwardExecute(m *pgproto3.Execute) (bool, error) {
	f := s.fwd
	st, ok := f.portals[m.Portal]
	if !ok {
		p := s.portals[m.Portal]
		if p == nil || p.done || p.cursor != nil || s.route(&p.prep.stmt) != routeBoth {
			return false, nil
		}
		if err := s.runPortal(p, int64(m.MaxRows), false); err != nil {
			p.closeCursor()
			p.done = true
			return true, err
		}
		s.mirror(&p.prep.stmt)
		return true, nil
	}
	if err := s.sendForwarded(exchangeSpec{relations: st.relations, done: executedBy}, m); err != nil {
		return true, err
	}
	return true, nil
}

// forwardClose handles Close of a forwarded statement or portal.
func (s *session) forwardClose(m *pgproto3.Close) (bool, error) {
	f := s.fwd
	var ok bool
	switch m.ObjectType {
	case 'S':
		_, ok = f.stmts[m.Name]
		delete(f.stmts, m.Name)
	case 'P':
		_, ok = f.portals[m.Name]
		delete(f.portals, m.Name)
	}
	if !ok {
		return false, nil
	}
	if f.conn == nil {
		return true, s.c.send(&pgproto3.CloseComplete{})
	}
	if err := s.sendForwarded(exchangeSpec{done: replyOf}, m); err != nil {
		return true, err
	}
	return true, nil
}

// forwardSync ends the backend's part of an extended-protocol batch before
// the session sends its own ReadyForQuery (with the primary's transaction
// status). Forwarded portals outside a transaction end with it.
func (s *session) forwardSync() error {
	f := s.fwd
	if f.pending && f.conn != nil {
		ctx, release := s.c.statementContext(s.settings.statementTimeout())
		defer release()
		if err := s.syncBackend(ctx); err != nil {
			if isWriteError(err) {
				return err
			}
			if err := s.c.sendError(asPG(err)); err != nil {
				return err
			}
		}
	}
	if s.tx == 'I' {
		f.portals = map[string]*fwdStmt{}
	}
	return nil
}

// forwardStale runs a local serving read on the primary instead: under
// dualgate.stale_policy = canonical the read must be computed from
// canonical, which only the primary has. Parameters go as text.
func (s *session) forwardStale(p *portal, describe bool) error {
	st := &p.prep.stmt
	ctx, release := s.c.statementContext(s.settings.statementTimeout())
	defer release()
	if err := s.ensureBackend(ctx); err != nil {
		return err
	}
	if err := s.syncBackend(ctx); err != nil {
		return err
	}
	params := make([][]byte, len(p.values))
	for i, v := range p.values {
		if v == nil {
			continue
		}
		b, err := s.codec.Encode(nil, p.prep.params[i], 0, v)
		if err != nil {
			return pgerror.Wrap(pgerror.DataException, fmt.Errorf("parameter $%d: %w", i+1, err))
		}
		params[i] = b
	}
	msgs := []pgproto3.FrontendMessage{
		&pgproto3.Parse{Query: st.Source, ParameterOIDs: p.prep.params},
		&pgproto3.Bind{Parameters: params, ResultFormatCodes: p.formats},
	}
	if describe {
		msgs = append(msgs, &pgproto3.Describe{ObjectType: 'P'})
	}
	msgs = append(msgs, &pgproto3.Execute{}, &pgproto3.Sync{})
	res, err := s.exchange(ctx, exchangeSpec{relations: relationsOf([]dialect.Statement{*st}), done: isReadyForQuery, quiet: true}, msgs...)
	p.done = true
	if err != nil {
		return err
	}
	if res.errored {
		return errRelayed
	}
	return nil
}

// sendForwarded sends one extended-protocol message (and a Flush) to the
// primary under the statement timeout and relays the replies until spec
// says the exchange is done; an error the primary sent is already with
// the client (errRelayed).
func (s *session) sendForwarded(spec exchangeSpec, m pgproto3.FrontendMessage) error {
	if s.fwd.conn == nil {
		return s.lost(errors.New("the backend connection is gone"))
	}
	ctx, release := s.c.statementContext(s.settings.statementTimeout())
	defer release()
	res, err := s.exchange(ctx, spec, m, &pgproto3.Flush{})
	if err != nil {
		return err
	}
	if res.errored {
		return errRelayed
	}
	return nil
}
