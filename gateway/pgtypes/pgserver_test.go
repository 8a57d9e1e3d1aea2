package pgtypes

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// A throwaway PostgreSQL 15 server shared by the tests of this package:
// started on first use, stopped by TestMain.

const pgBin = "/usr/lib/postgresql/15/bin"

var (
	pgOnce sync.Once
	pgURL  string
	pgErr  error
	pgStop func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pgStop != nil {
		pgStop()
	}
	os.Exit(code)
}

// pgConnect returns a new connection to the shared server, failing the test
// if the server cannot be started.
func pgConnect(t testing.TB) *pgconn.PgConn {
	t.Helper()
	pgOnce.Do(func() { pgURL, pgErr = startPostgres() })
	if pgErr != nil {
		t.Fatalf("cannot start PostgreSQL 15: %v", pgErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, pgURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func startPostgres() (string, error) {
	if _, err := os.Stat(filepath.Join(pgBin, "postgres")); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "pgtypes-pg-")
	if err != nil {
		return "", err
	}
	cleanupDir := func() { os.RemoveAll(dir) }
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			cleanupDir()
			return "", fmt.Errorf("running as root and no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			cleanupDir()
			return "", err
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		cleanupDir()
		return "", err
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(filepath.Join(pgBin, "initdb"), "-D", data, "--auth=trust", "-U", "postgres",
		"--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		cleanupDir()
		return "", fmt.Errorf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cleanupDir()
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logf, err := os.Create(filepath.Join(os.TempDir(), filepath.Base(dir)+".log"))
	if err != nil {
		cleanupDir()
		return "", err
	}
	srv := exec.Command(filepath.Join(pgBin, "postgres"), "-D", data, "-k", dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "shared_buffers=16MB")
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	srv.Dir = dir
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		logf.Close()
		cleanupDir()
		return "", err
	}
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	pgStop = func() {
		srv.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			srv.Process.Kill()
			<-done
		}
		logf.Close()
		os.Remove(logf.Name())
		cleanupDir()
	}
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgconn.Connect(ctx, url)
		cancel()
		if err == nil {
			c.Close(context.Background())
			return url, nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logf.Name())
			pgStop()
			pgStop = nil
			return "", fmt.Errorf("postgres exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			pgStop()
			pgStop = nil
			return "", fmt.Errorf("postgres did not accept connections: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pgExec runs a statement without results (SET ...).
func pgExec(t testing.TB, conn *pgconn.PgConn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql).ReadAll(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// pgValue returns the bytes PostgreSQL sends for the text literal lit cast
// to typ, in text and in binary format, and the result column's type OID.
func pgValue(t testing.TB, conn *pgconn.PgConn, typ, lit string) (text, bin []byte, oid uint32, err error) {
	t.Helper()
	sql := "SELECT $1::text::" + typ
	for i, f := range []int16{TextFormat, BinaryFormat} {
		res := conn.ExecParams(context.Background(), sql, [][]byte{[]byte(lit)}, []uint32{Text}, []int16{0}, []int16{f}).Read()
		if res.Err != nil {
			return nil, nil, 0, res.Err
		}
		if len(res.Rows) != 1 {
			t.Fatalf("%s: %d rows", sql, len(res.Rows))
		}
		oid = res.FieldDescriptions[0].DataTypeOID
		if i == 0 {
			text = res.Rows[0][0]
		} else {
			bin = res.Rows[0][0]
		}
	}
	return text, bin, oid, nil
}

// pgReadParam sends v as a parameter of type oid in the given format and
// returns PostgreSQL's text rendering of it.
func pgReadParam(conn *pgconn.PgConn, oid uint32, format int16, v []byte) (string, error) {
	res := conn.ExecParams(context.Background(), "SELECT $1::text", [][]byte{v}, []uint32{oid}, []int16{format}, []int16{0}).Read()
	if res.Err != nil {
		return "", res.Err
	}
	return string(res.Rows[0][0]), nil
}

// pgCastText returns PostgreSQL's lit::typ::text.
func pgCastText(conn *pgconn.PgConn, typ, lit string) (string, error) {
	res := conn.ExecParams(context.Background(), "SELECT $1::text::"+typ+"::text", [][]byte{[]byte(lit)}, []uint32{Text}, []int16{0}, []int16{0}).Read()
	if res.Err != nil {
		return "", res.Err
	}
	return string(res.Rows[0][0]), nil
}
