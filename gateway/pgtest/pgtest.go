// Package pgtest starts throwaway PostgreSQL 15 servers (Debian's
// postgresql-15 binaries) on loopback, for differential tests and for the
// benchmark harness that measures dualgate against PostgreSQL.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// BinDir is where Debian installs PostgreSQL 15's server programs.
const BinDir = "/usr/lib/postgresql/15/bin"

// Server is a running throwaway PostgreSQL.
type Server struct {
	Port int
	dir  string
	proc *exec.Cmd
	done chan struct{}
	log  *os.File
}

// Pid is the postmaster's process id (its CPU times, with those of the
// backends it has reaped, are in /proc/<pid>/stat).
func (s *Server) Pid() int { return s.proc.Process.Pid }

// Options tune a server; zero values are fine for tests.
type Options struct {
	// Durable keeps fsync on (benchmarks compare durable commits).
	Durable bool
	// Settings are extra `-c name=value` settings.
	Settings map[string]string
}

// Start initializes a cluster in a temporary directory and starts it on a
// free loopback port. When running as root, the server runs as the
// `postgres` OS user, since PostgreSQL refuses to run as root.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if _, err := os.Stat(filepath.Join(BinDir, "postgres")); err != nil {
		return nil, fmt.Errorf("PostgreSQL 15 server not installed (apt-get install postgresql-15): %w", err)
	}
	dir, err := os.MkdirTemp("", "dualgate-pg-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	s := &Server{dir: dir, done: make(chan struct{})}
	cred, err := s.prepareDir()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(BinDir, "initdb"), "-D", data, "--auth=trust", "-U", "postgres",
		"--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("free port: %w", err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if s.log, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args := []string{"-D", data, "-k", dir, "-p", strconv.Itoa(s.Port), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"}
	if !opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off")
	}
	for k, v := range opts.Settings {
		args = append(args, "-c", k+"="+v)
	}
	s.proc = exec.Command(filepath.Join(BinDir, "postgres"), args...)
	// SIGQUIT (immediate shutdown) when the process that started it dies
	// without stopping it (a killed test binary or dgbench), so no server
	// outlives it.
	s.proc.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	s.proc.Dir = dir
	s.proc.Stdout, s.proc.Stderr = s.log, s.log
	if err := s.proc.Start(); err != nil {
		s.log.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	go func() { _ = s.proc.Wait(); close(s.done) }()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) prepareDir() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, os.Chmod(s.dir, 0o700)
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres OS user (apt-get install postgresql-15): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(s.dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, os.Chmod(s.dir, 0o700)
}

func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := pgconn.Connect(cctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			return c.Close(ctx)
		}
		select {
		case <-s.done:
			out, _ := os.ReadFile(s.log.Name())
			return fmt.Errorf("postgres exited at start: %s", out)
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.Join(errors.New("postgres did not accept connections"), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// DSN is a connection string for a database of the server.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// Stop shuts the server down (fast mode) and removes its files.
func (s *Server) Stop() {
	if s.proc != nil && s.proc.Process != nil {
		_ = s.proc.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = s.proc.Process.Kill()
			<-s.done
		}
	}
	if s.log != nil {
		s.log.Close()
	}
	os.RemoveAll(s.dir)
}
