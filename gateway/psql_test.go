package gateway_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// runPsql runs a psql script file against host:port and returns what psql
// printed (stdout and stderr interleaved, as a user sees it).
func runPsql(t *testing.T, host, port, user, db, script string) string {
	t.Helper()
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Fatalf("psql not installed (apt-get install postgresql-client-15): %v", err)
	}
	cmd := exec.Command(psql, "-X", "-q", "-h", host, "-p", port, "-U", user, "-d", db, "-f", script)
	cmd.Dir = filepath.Join("..")
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10", "PAGER=", "PGTZ=UTC", "PSQLRC=/dev/null")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run() // psql exits 0 even with failed statements (no ON_ERROR_STOP)
	return out.String()
}

// TestPsqlSession runs one psql script against dualgate and against
// PostgreSQL 15: what psql prints must be identical, and equal to the
// golden file (refresh it with DUALGATE_UPDATE_GOLDEN=1).
func TestPsqlSession(t *testing.T) {
	script := filepath.Join("testdata", "psql", "session.sql")
	golden := filepath.Join("..", "testdata", "psql", "session.out")

	g := startGateway(t, nil)
	host, port, _ := net.SplitHostPort(g.addr)
	got := runPsql(t, host, port, "tester", "dualgate", script)

	srv := postgresPeer(t)
	admin, err := pgconn.Connect(ctxT(t), srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	for _, q := range []string{"DROP DATABASE IF EXISTS psql_session", "CREATE DATABASE psql_session"} {
		if _, err := admin.Exec(ctxT(t), q).ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	pgOut := runPsql(t, "127.0.0.1", strconv.Itoa(srv.Port), "postgres", "psql_session", script)
	if normalizePsql(got) != normalizePsql(pgOut) {
		t.Errorf("psql output differs from PostgreSQL 15.\n--- dualgate:\n%s\n--- postgresql:\n%s", got, pgOut)
	}
	if os.Getenv("DUALGATE_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(pgOut), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("golden file: %v (create it with DUALGATE_UPDATE_GOLDEN=1)", err)
	}
	if normalizePsql(got) != normalizePsql(string(want)) {
		t.Errorf("psql output differs from %s:\n%s", golden, got)
	}
}

// normalizePsql drops the LINE/caret lines psql prints under an error
// when the server sends a cursor position: dualgate gives positions for
// syntax errors, not yet for every semantic error as PostgreSQL does.
func normalizePsql(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "LINE ") || strings.HasPrefix(strings.TrimSpace(l), "^") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
