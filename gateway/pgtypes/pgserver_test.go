package pgtypes

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dualgate/dualgate/gateway/pgtest"
)

// A throwaway PostgreSQL 15 server shared by the tests of this package:
// started on first use, stopped by TestMain.

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
	srv, err := pgtest.Start(context.Background(), pgtest.Options{})
	if err != nil {
		return "", err
	}
	pgStop = srv.Stop
	return srv.DSN("postgres"), nil
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
