package gateway

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/jackc/pgproto3/v2"
	"github.com/rs/zerolog"
	"github.com/xdg-go/scram"

	"github.com/dualgate/dualgate/gateway/pgerror"
)

// conn is one client connection. Only its own goroutine touches the socket
// and the session; other goroutines use cancelStatement, wake and
// closeSocket, which are safe concurrently.
type conn struct {
	srv    *Server
	id     uint32
	secret uint32
	nc     net.Conn
	log    zerolog.Logger

	bw      *bufio.Writer
	be      *pgproto3.Backend // startup and authentication
	fr      frontendReader    // every message after them (receive.go)
	scratch []byte            // reused message encoding buffer

	user    string
	appName string
	started time.Time
	sess    *session

	mu     sync.Mutex
	cancel context.CancelFunc // of the running statement, nil when idle

	// The fast path's statement context (lookupContext), owned by the
	// serving goroutine: reused lookup after lookup until a cancel fires.
	lookupCtx     context.Context
	lookupCancel  context.CancelFunc
	releaseLookup func() // c.endLookup, bound once

	clientIP string // the client's IP address (audit records), once known
}

// clientAddr is the client's IP address, computed once: the remote
// address of a connection never changes (TLS wraps the same socket).
func (c *conn) clientAddr() string {
	if c.clientIP == "" {
		c.clientIP = clientIP(c.nc.RemoteAddr())
	}
	return c.clientIP
}

// errMessageTooLarge is returned by the bounded reader for a message whose
// declared length exceeds the configured maximum.
var errMessageTooLarge = errors.New("message too large")

// boundedReader refuses to read message bodies above max bytes, so a
// hostile length header cannot make the server allocate it.
type boundedReader struct {
	cr  pgproto3.ChunkReader
	max int
}

func (b *boundedReader) Next(n int) ([]byte, error) {
	if n > b.max {
		return nil, fmt.Errorf("%w: %d bytes declared, the limit is %d", errMessageTooLarge, n, b.max)
	}
	return b.cr.Next(n)
}

func (s *Server) handle(nc net.Conn) {
	start := time.Now()
	c := &conn{srv: s, nc: nc, started: start}
	c.id = s.nextID.Add(1)
	var sb [4]byte
	_, _ = rand.Read(sb[:])
	c.secret = binary.BigEndian.Uint32(sb[:])
	c.log = s.log.With().Uint32("conn_id", c.id).Str("client_addr", nc.RemoteAddr().String()).Logger()
	c.setStream(nc)
	defer nc.Close()

	if err := c.startup(); err != nil {
		if !errors.Is(err, errCancelRequest) {
			c.log.Info().Err(err).Msg("connection refused at startup")
		}
		return
	}
	defer c.sess.close()
	if !s.register(c) {
		c.fatal(pgerror.New(pgerror.AdminShutdown, "the server is shutting down"))
		return
	}
	defer s.unregister(c)
	if m := s.cfg.Metrics; m != nil {
		m.ConnectionOpened()
		defer m.ConnectionClosed()
	}
	c.log = c.log.With().Str("user", c.user).Str("application_name", c.appName).Logger()
	c.log.Info().Msg("connection opened")
	err := c.serve()
	ev := c.log.Info().Dur("duration", time.Since(start))
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		ev = ev.Err(err)
	}
	ev.Msg("connection closed")
}

func (c *conn) setStream(rw net.Conn) {
	c.bw = bufio.NewWriterSize(rw, 32<<10)
	cr := &boundedReader{cr: pgproto3.NewChunkReader(rw), max: c.srv.cfg.MaxMessageSize}
	c.be = pgproto3.NewBackend(cr, c.bw)
	c.fr = frontendReader{cr: cr}
}

// send encodes a message into the write buffer; nothing reaches the socket
// until flush (or the buffer fills).
func (c *conn) send(msg pgproto3.BackendMessage) error {
	var err error
	c.scratch, err = msg.Encode(c.scratch[:0])
	if err != nil {
		return fmt.Errorf("encode %T: %w", msg, err)
	}
	_, err = c.bw.Write(c.scratch)
	return err
}

// commandComplete sends CommandComplete with tag: send's encoding,
// without making a message (and a copy of tag) per statement.
func (c *conn) commandComplete(tag string) error {
	b := append(c.scratch[:0], 'C', 0, 0, 0, 0)
	b = append(b, tag...)
	b = append(b, 0)
	binary.BigEndian.PutUint32(b[1:], uint32(len(b)-1))
	c.scratch = b
	_, err := c.bw.Write(b)
	return err
}

func (c *conn) flush() error { return c.bw.Flush() }

// sendError writes an ErrorResponse for err (which gets SQLSTATE XX000 if
// it carries none).
func (c *conn) sendError(err error) error {
	pe, ok := pgerror.As(err)
	if !ok {
		pe = pgerror.Wrap(pgerror.InternalError, err)
	}
	sev := pe.Severity
	if sev == "" {
		sev = "ERROR"
	}
	return c.send(&pgproto3.ErrorResponse{
		Severity:            sev,
		SeverityUnlocalized: sev,
		Code:                pe.Code,
		Message:             pe.Message,
		Detail:              pe.Detail,
		Hint:                pe.Hint,
		Position:            pe.Position,
	})
}

// notice sends a NoticeResponse.
func (c *conn) notice(code, msg string) error {
	return c.send(&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: code, Message: msg})
}

// fatal sends a FATAL error and flushes; the caller closes.
func (c *conn) fatal(pe *pgerror.Error) {
	pe.Severity = "FATAL"
	_ = c.sendError(pe)
	_ = c.flush()
}

var errCancelRequest = errors.New("cancel request handled")

// startup runs the startup phase: SSL/GSS negotiation, the startup
// message, authentication and the initial parameter reports.
func (c *conn) startup() error {
	_ = c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.nc.SetDeadline(time.Time{})
	tlsDone := false
	for {
		msg, err := c.be.ReceiveStartupMessage()
		if err != nil {
			c.fatal(pgerror.New(pgerror.ProtocolViolation, "invalid startup packet: %v", err))
			return fmt.Errorf("startup: %w", err)
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if c.srv.cfg.TLS == nil || tlsDone {
				if _, err := c.nc.Write([]byte{'N'}); err != nil {
					return err
				}
				continue
			}
			if _, err := c.nc.Write([]byte{'S'}); err != nil {
				return err
			}
			tc := tls.Server(c.nc, c.srv.cfg.TLS)
			if err := tc.Handshake(); err != nil {
				return fmt.Errorf("tls handshake: %w", err)
			}
			c.nc = tc
			c.setStream(tc)
			tlsDone = true
		case *pgproto3.GSSEncRequest:
			if _, err := c.nc.Write([]byte{'N'}); err != nil {
				return err
			}
		case *pgproto3.CancelRequest:
			c.srv.cancel(m.ProcessID, m.SecretKey)
			return errCancelRequest
		case *pgproto3.StartupMessage:
			return c.begin(m, tlsDone)
		default:
			c.fatal(pgerror.New(pgerror.ProtocolViolation, "unexpected startup message %T", msg))
			return fmt.Errorf("unexpected startup message %T", msg)
		}
	}
}

// begin authenticates the client of a StartupMessage and opens its session.
func (c *conn) begin(m *pgproto3.StartupMessage, overTLS bool) error {
	params := make(map[string]string, len(m.Parameters))
	for k, v := range m.Parameters {
		params[k] = v
	}
	c.user = params["user"]
	if c.user == "" {
		c.fatal(pgerror.New(pgerror.InvalidAuthorization, "no PostgreSQL user name specified in startup packet"))
		return errors.New("no user")
	}
	c.appName = params["application_name"]
	if err := c.authenticate(overTLS); err != nil {
		return err
	}
	sess, err := newSession(c, params)
	if err != nil {
		c.fatal(asPG(err))
		return err
	}
	c.sess = sess
	if err := c.send(&pgproto3.AuthenticationOk{}); err != nil {
		return err
	}
	for _, name := range reportedSettings {
		if err := c.send(&pgproto3.ParameterStatus{Name: name, Value: sess.settings.get(name)}); err != nil {
			return err
		}
	}
	if err := c.send(&pgproto3.BackendKeyData{ProcessID: c.id, SecretKey: c.secret}); err != nil {
		return err
	}
	if err := c.send(&pgproto3.ReadyForQuery{TxStatus: 'I'}); err != nil {
		return err
	}
	return c.flush()
}

func (c *conn) authFailed() error {
	c.log.Warn().Str("user", c.user).Msg("password authentication failed")
	c.fatal(pgerror.New(pgerror.InvalidPassword, "password authentication failed for user %q", c.user))
	return errors.New("authentication failed")
}

// authenticate runs trust, SCRAM-SHA-256 or (over TLS, when enabled)
// cleartext password authentication.
func (c *conn) authenticate(overTLS bool) error {
	cfg := c.srv.cfg
	if cfg.Trust {
		return nil
	}
	cred, known := cfg.Users.Lookup(c.user)
	if !known {
		cred = fakeCredentials(c.srv.secret[:], c.user)
	}
	if cfg.AllowCleartext && overTLS {
		if err := c.send(&pgproto3.AuthenticationCleartextPassword{}); err != nil {
			return err
		}
		if err := c.flush(); err != nil {
			return err
		}
		_ = c.be.SetAuthType(pgproto3.AuthTypeCleartextPassword)
		msg, err := c.be.Receive()
		if err != nil {
			return err
		}
		pw, ok := msg.(*pgproto3.PasswordMessage)
		if !ok || !known || !checkCleartext(cred, pw.Password) {
			return c.authFailed()
		}
		return nil
	}
	server, err := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) { return cred, nil })
	if err != nil {
		return err
	}
	conv := server.NewConversation()
	if err := c.send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}}); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	_ = c.be.SetAuthType(pgproto3.AuthTypeSASL)
	msg, err := c.be.Receive()
	if err != nil {
		return err
	}
	first, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok {
		c.fatal(pgerror.New(pgerror.ProtocolViolation, "expected SASL initial response, got %T", msg))
		return errors.New("protocol violation during SASL")
	}
	if first.AuthMechanism != "SCRAM-SHA-256" {
		c.fatal(pgerror.New(pgerror.ProtocolViolation, "SASL mechanism %q is not supported; use SCRAM-SHA-256", first.AuthMechanism))
		return errors.New("bad SASL mechanism")
	}
	out, err := conv.Step(string(first.Data))
	if err != nil {
		return c.authFailed()
	}
	if err := c.send(&pgproto3.AuthenticationSASLContinue{Data: []byte(out)}); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	_ = c.be.SetAuthType(pgproto3.AuthTypeSASLContinue)
	msg, err = c.be.Receive()
	if err != nil {
		return err
	}
	resp, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		c.fatal(pgerror.New(pgerror.ProtocolViolation, "expected SASL response, got %T", msg))
		return errors.New("protocol violation during SASL")
	}
	out, err = conv.Step(string(resp.Data))
	if err != nil || !conv.Valid() || !known {
		return c.authFailed()
	}
	return c.send(&pgproto3.AuthenticationSASLFinal{Data: []byte(out)})
}

// serve is the message loop after startup.
func (c *conn) serve() error {
	for {
		msg, err := c.fr.receive()
		if err != nil {
			if c.srv.isClosing() {
				c.fatal(pgerror.New(pgerror.AdminShutdown, "terminating connection due to administrator command"))
				return nil
			}
			if errors.Is(err, errMessageTooLarge) {
				c.fatal(pgerror.New(pgerror.ProgramLimitExceeded, "%v", err).WithHint("raise --max-message-size or send smaller statements/COPY chunks"))
				return err
			}
			var ne net.Error
			if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return err
			}
			c.fatal(pgerror.New(pgerror.ProtocolViolation, "invalid message: %v", err))
			return err
		}
		if done, err := c.dispatch(msg); done || err != nil {
			return err
		}
	}
}

// dispatch handles one frontend message; done reports a Terminate. A
// panic inside the engine ends this connection with an XX000 error and a
// logged stack instead of taking the server (and every other session)
// down.
func (c *conn) dispatch(msg pgproto3.FrontendMessage) (done bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error().Interface("panic", r).Bytes("stack", debug.Stack()).Msg("statement panicked; closing the connection")
			c.fatal(pgerror.New(pgerror.InternalError, "internal error: %v", r).WithHint("this is a dualgate bug; the server and other sessions are unaffected"))
			done, err = true, fmt.Errorf("panic: %v", r)
		}
	}()
	s := c.sess
	if s.skipToSync {
		switch msg.(type) {
		case *pgproto3.Sync:
			s.skipToSync = false
		case *pgproto3.Terminate:
			return true, nil
		default:
			return false, nil
		}
	}
	s.observeMessage()
	switch m := msg.(type) {
	case *pgproto3.Query:
		return false, s.simpleQuery(m.String)
	case *pgproto3.Parse:
		return false, s.extended(s.parse(m))
	case *pgproto3.Bind:
		return false, s.extended(s.bind(m))
	case *pgproto3.Describe:
		return false, s.extended(s.describe(m))
	case *pgproto3.Execute:
		return false, s.extended(s.execute(m))
	case *pgproto3.Close:
		return false, s.extended(s.closeObject(m))
	case *pgproto3.Sync:
		return false, s.sync()
	case *pgproto3.Flush:
		return false, c.flush()
	case *pgproto3.Terminate:
		return true, nil
	case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
		// Stray COPY messages after a failed COPY are ignored, as in Postgres.
		return false, nil
	case *pgproto3.FunctionCall:
		return false, s.extended(pgerror.Unsupported("the function call protocol message"))
	default:
		c.fatal(pgerror.New(pgerror.ProtocolViolation, "unexpected message %T", msg))
		return true, fmt.Errorf("unexpected message %T", msg)
	}
}

// statementContext returns the context a statement runs under: canceled
// by CancelRequest, shutdown after the grace period, or statement_timeout.
func (c *conn) statementContext(timeout time.Duration) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), timeout)
	}
	c.mu.Lock()
	c.cancel = cancel
	c.mu.Unlock()
	return ctx, func() {
		c.mu.Lock()
		c.cancel = nil
		c.mu.Unlock()
		cancel()
	}
}

// lookupContext is statementContext for a fast-path lookup, which must
// not keep its context past its return: without a statement_timeout it
// reuses one cancelable context per connection, made anew only after a
// cancel fired, instead of two allocations a lookup. Cancel and shutdown
// reach it as they reach any statement (c.cancel while it runs); a cancel
// that arrives after it is released finds c.cancel nil, as before.
func (c *conn) lookupContext(timeout time.Duration) (context.Context, func()) {
	if timeout > 0 {
		return c.statementContext(timeout)
	}
	if c.lookupCtx == nil || c.lookupCtx.Err() != nil {
		c.lookupCtx, c.lookupCancel = context.WithCancel(context.Background())
	}
	if c.releaseLookup == nil {
		c.releaseLookup = c.endLookup
	}
	c.mu.Lock()
	c.cancel = c.lookupCancel
	c.mu.Unlock()
	return c.lookupCtx, c.releaseLookup
}

// endLookup releases lookupContext's context: no longer cancelable by
// CancelRequest, kept for the next lookup.
func (c *conn) endLookup() {
	c.mu.Lock()
	c.cancel = nil
	c.mu.Unlock()
}

func (c *conn) cancelStatement() {
	c.mu.Lock()
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// wake makes a connection blocked on reading return, so it can see the
// server is shutting down; a running statement finishes first.
func (c *conn) wake() { _ = c.nc.SetReadDeadline(time.Now()) }

func (c *conn) closeSocket() { _ = c.nc.Close() }

// asPG returns err as a Postgres error (XX000 if it has no SQLSTATE).
func asPG(err error) *pgerror.Error {
	if pe, ok := pgerror.As(err); ok {
		return pe
	}
	return pgerror.Wrap(pgerror.InternalError, err)
}

// isQueryCanceled says whether err reports a canceled statement.
func isQueryCanceled(err error) bool {
	pe, ok := pgerror.As(err)
	return ok && pe.Code == pgerror.QueryCanceled
}
