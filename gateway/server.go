// Package gateway is dualgate's Postgres front door: it speaks the
// PostgreSQL v3 wire protocol (github.com/jackc/pgproto3/v2, server side),
// authenticates clients, keeps per-connection sessions (settings,
// transactions, prepared statements, portals, COPY) and runs statements
// translated by package dialect on go-mysql-server.
//
// Concurrency: the Server owns the listener and a registry of live
// connections (for CancelRequest and shutdown); each connection is owned
// by exactly one goroutine, which is the only one that reads or writes its
// socket. Other goroutines reach a connection only through its statement
// cancel function and its read deadline.
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/gateway/pgfunc"
)

// Config configures a Server.
type Config struct {
	// Listen is the TCP address to accept clients on (host:port).
	Listen string
	// TLS, when set, answers SSLRequest with 'S' and upgrades the connection.
	TLS *tls.Config
	// Users holds SCRAM-SHA-256 verifiers; required unless Trust is set.
	Users *Users
	// Trust accepts every client without a password. It is refused unless
	// Listen is a loopback address (the demo runs this way).
	Trust bool
	// AllowCleartext offers cleartext password authentication on TLS
	// connections (checked against the same verifiers).
	AllowCleartext bool
	// MaxMessageSize bounds a single protocol message (default 64 MiB).
	MaxMessageSize int
	// ShutdownGrace bounds how long running statements may take to finish
	// after a shutdown starts (default 10s).
	ShutdownGrace time.Duration
	// Version is the dualgate version reported in server_version and version().
	Version string
	// Log receives connection and statement events.
	Log zerolog.Logger
	// Clock reports canonical commits for result labels (nil: commit 0).
	Clock CommitClock
	// Hooks makes writes buffered during a statement or transaction
	// durable when it ends (nil: nothing is buffered).
	Hooks TxHooks
	// DualgateTables are engine tables made elsewhere that belong in the
	// dualgate schema next to the gateway's own (e.g. commits, quarantine).
	DualgateTables []sql.Table
	// SystemTables are more gateway-style tables for the dualgate schema.
	SystemTables []SystemTable
	// Freshness reports serving projections' lag (nil: no projections).
	Freshness Freshness
	// Procedures are the CALL-able procedures by lower-case schema.name.
	Procedures map[string]Procedure
	// Metrics, when set, is told of connections and statements (/metrics).
	Metrics Metrics
	// Access enforces the catalog's grants and masks (nil: everything is
	// allowed; see access.go). Build it with NewAccess.
	Access *Access
	// Audit receives a record of every statement that reads or writes
	// (nil: no audit trail; see audit.go).
	Audit AuditSink
	// Forward, when set, makes this server a sidecar: statements its own
	// engine does not answer go to the primary (see forward.go).
	Forward *Forwarder
}

// DefaultMaxMessageSize is the default bound on one protocol message.
const DefaultMaxMessageSize = 64 << 20

// Server accepts Postgres clients and serves them from an Engine.
type Server struct {
	cfg    Config
	eng    *Engine
	log    zerolog.Logger
	secret [32]byte // keys the stable fake SCRAM salt of unknown users

	mu       sync.Mutex
	ln       net.Listener
	conns    map[uint32]*conn
	closing  bool
	nextID   atomic.Uint32
	fastHits atomic.Uint64
	norm     normalizer // audit fingerprints (audit.go)
	wg       sync.WaitGroup
	shutdown chan struct{}
}

// NewServer checks cfg and returns a server for eng.
func NewServer(cfg Config, eng *Engine) (*Server, error) {
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Trust {
		host, _, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("listen address %q: %w", cfg.Listen, err)
		}
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("trust authentication is only allowed on a loopback address, not %q: use --users with SCRAM verifiers", cfg.Listen)
		}
	} else if cfg.Users == nil {
		return nil, errors.New("no users file: pass --users FILE (lines made by `dualgate passwd USER`) or run the loopback-only demo")
	}
	pgfunc.Version = cfg.Version
	s := &Server{cfg: cfg, eng: eng, log: cfg.Log, conns: map[uint32]*conn{}, shutdown: make(chan struct{})}
	if _, err := rand.Read(s.secret[:]); err != nil {
		return nil, fmt.Errorf("server secret: %w", err)
	}
	if eng != nil {
		s.attachPgCatalog()
	}
	if eng != nil {
		if err := eng.AddSystemSchema("dualgate", append(s.dualgateTables(), cfg.SystemTables...), cfg.DualgateTables...); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Listen opens the TCP listener; Addr is valid afterwards.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Serve accepts connections until ctx ends or Shutdown is called, then
// shuts down gracefully and returns.
func (s *Server) Serve(ctx context.Context) error {
	if s.Addr() == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.log.Info().Str("listen", s.Addr().String()).Bool("tls", s.cfg.TLS != nil).Bool("trust", s.cfg.Trust).Msg("accepting Postgres clients")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace+5*time.Second)
			defer cancel()
			_ = s.Shutdown(sctx)
		case <-stop:
		}
	}()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				s.wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(nc)
		}()
	}
}

// Shutdown stops accepting, wakes idle sessions so they end with 57P01,
// lets running statements finish for up to the configured grace, then
// cancels what still runs and waits for every connection goroutine.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closing = true
	close(s.shutdown)
	if s.ln != nil {
		_ = s.ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.log.Info().Int("connections", len(conns)).Msg("shutting down")
	for _, c := range conns {
		c.wake()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	grace := time.NewTimer(s.cfg.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
		return nil
	case <-grace.C:
	case <-ctx.Done():
	}
	for _, c := range conns {
		c.cancelStatement()
		c.closeSocket()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shutdown: %w", ctx.Err())
	}
}

func (s *Server) isClosing() bool {
	select {
	case <-s.shutdown:
		return true
	default:
		return false
	}
}

func (s *Server) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c.id] = c
	return true
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	delete(s.conns, c.id)
	s.mu.Unlock()
}

// cancel handles a CancelRequest: the statement running on the connection
// with that process id is canceled if the secret matches.
func (s *Server) cancel(pid, secret uint32) {
	s.mu.Lock()
	c := s.conns[pid]
	s.mu.Unlock()
	if c == nil {
		return
	}
	var a, b [4]byte
	binary.BigEndian.PutUint32(a[:], c.secret)
	binary.BigEndian.PutUint32(b[:], secret)
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		s.log.Warn().Uint32("conn_id", pid).Msg("cancel request with wrong secret ignored")
		return
	}
	s.log.Info().Uint32("conn_id", pid).Msg("cancel request")
	c.cancelStatement()
}

// ConnectionCount is the number of live client connections.
func (s *Server) ConnectionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
