package gateway_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestStartupParameterStatus(t *testing.T) {
	g := startGateway(t, nil)
	c := g.connect(t)
	pc := c.PgConn()
	for name, want := range map[string]string{
		"server_encoding":             "UTF8",
		"client_encoding":             "UTF8",
		"DateStyle":                   "ISO, MDY",
		"integer_datetimes":           "on",
		"standard_conforming_strings": "on",
		"TimeZone":                    "UTC",
		"is_superuser":                "on",
	} {
		if got := pc.ParameterStatus(name); got != want {
			t.Errorf("ParameterStatus %s = %q, want %q", name, got, want)
		}
	}
	if v := pc.ParameterStatus("server_version"); !strings.HasPrefix(v, "15.") || !strings.Contains(v, "dualgate") {
		t.Errorf("server_version = %q, want a 15.x string naming dualgate", v)
	}
	var pid int32
	var db, who, ver string
	if err := c.QueryRow(ctxT(t), `SELECT pg_backend_pid(), current_database(), current_user, version()`).Scan(&pid, &db, &who, &ver); err != nil {
		t.Fatal(err)
	}
	if uint32(pid) != pc.PID() || db != "dualgate" || who != "tester" || !strings.Contains(ver, "dualgate") {
		t.Errorf("pg_backend_pid=%d (BackendKeyData %d), current_database=%q, current_user=%q, version=%q", pid, pc.PID(), db, who, ver)
	}
	if pc.PID() == 0 || len(pc.SecretKey()) == 0 {
		t.Errorf("BackendKeyData pid=%d secret=%d, want non-zero", pc.PID(), pc.SecretKey())
	}
}

func TestSimpleAndExtendedQueries(t *testing.T) {
	g := startGateway(t, nil)
	c := g.connect(t)
	mustExec(t, c,
		`CREATE TABLE items (id int4 PRIMARY KEY, name text NOT NULL, price numeric(10,2), active boolean, seen timestamptz)`,
		`INSERT INTO items VALUES (1, 'apple', 1.25, true, '2024-03-01 10:00:00+00'), (2, 'pear', 2.50, false, NULL), (3, 'fig', NULL, true, '2024-03-02 11:30:00.5+02')`)

	// Extended protocol with a parameter, binary results (pgx's default).
	var name string
	var active bool
	if err := c.QueryRow(ctxT(t), `SELECT name, active FROM items WHERE id = $1`, 2).Scan(&name, &active); err != nil {
		t.Fatal(err)
	}
	if name != "pear" || active {
		t.Fatalf("got %q %v, want pear false", name, active)
	}

	// Simple protocol, text results.
	rows, err := c.Query(ctxT(t), `SELECT id, price, seen FROM items ORDER BY id`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id    int32
		price *string
		seen  *time.Time
	}
	var got []row
	for rows.Next() {
		var r row
		var p pgtypeNumeric
		if err := rows.Scan(&r.id, &p, &r.seen); err != nil {
			t.Fatal(err)
		}
		r.price = p.s
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].id != 1 || *got[0].price != "1.25" || got[2].price != nil || got[1].seen != nil {
		t.Fatalf("rows = %+v", got)
	}
	if want := time.Date(2024, 3, 2, 9, 30, 0, 500e6, time.UTC); !got[2].seen.Equal(want) {
		t.Errorf("timestamptz = %v, want %v", got[2].seen, want)
	}
	fds := rows.FieldDescriptions()
	if fds[0].DataTypeOID != 23 || fds[1].DataTypeOID != 1700 || fds[2].DataTypeOID != 1184 {
		t.Errorf("type OIDs = %d %d %d, want 23 1700 1184", fds[0].DataTypeOID, fds[1].DataTypeOID, fds[2].DataTypeOID)
	}
	if fds[0].TableOID == 0 || fds[0].TableOID != fds[2].TableOID || fds[1].TableAttributeNumber != 3 || fds[2].TableAttributeNumber != 5 {
		t.Errorf("table OID/attnum = %d/%d %d/%d, want one table OID and columns 3 and 5", fds[0].TableOID, fds[1].TableAttributeNumber, fds[2].TableOID, fds[2].TableAttributeNumber)
	}

	// Multiple statements in one simple query; the last result wins in pgx.
	res, err := c.PgConn().Exec(ctxT(t), `UPDATE items SET active = false WHERE id = 1; SELECT count(*) FROM items WHERE active`).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].CommandTag.String() != "UPDATE 1" || string(res[1].Rows[0][0]) != "1" {
		t.Fatalf("multi-statement results: %d, %v", len(res), res)
	}
}

// pgtypeNumeric scans a numeric as its text form.
type pgtypeNumeric struct{ s *string }

func (p *pgtypeNumeric) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		p.s = nil
	case string:
		p.s = &v
	case []byte:
		s := string(v)
		p.s = &s
	default:
		return errors.New("unexpected numeric source")
	}
	return nil
}

func TestErrorsCarrySQLState(t *testing.T) {
	g := startGateway(t, nil)
	c := g.connect(t)
	mustExec(t, c, `CREATE TABLE u (id int PRIMARY KEY)`, `INSERT INTO u VALUES (1)`)
	cases := []struct {
		sql, code string
	}{
		{`SELEC 1`, "42601"},
		{`SELECT * FROM missing_table`, "42P01"},
		{`SELECT nope FROM u`, "42703"},
		{`INSERT INTO u VALUES (1)`, "23505"},
		{`SET no_such_setting = 1`, "42704"},
		{`SET DateStyle = 'German'`, "22023"},
	}
	for _, tc := range cases {
		_, err := c.Exec(ctxT(t), tc.sql)
		if got := pgCode(err); got != tc.code {
			t.Errorf("%s: SQLSTATE %q (%v), want %s", tc.sql, got, err, tc.code)
		}
	}
	var pe *pgconn.PgError
	_, err := c.Exec(ctxT(t), `SELECT 1 FROM u WHERE`)
	if !errors.As(err, &pe) || pe.Position == 0 {
		t.Errorf("syntax error without position: %v", err)
	}
	// The connection is still usable after errors.
	var n int
	if err := c.QueryRow(ctxT(t), `SELECT count(*) FROM u`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("after errors: %v %d", err, n)
	}
}

func TestTransactions(t *testing.T) {
	g := startGateway(t, nil)
	c := g.connect(t)
	mustExec(t, c, `CREATE TABLE acct (id int PRIMARY KEY, bal int)`, `INSERT INTO acct VALUES (1, 100)`)
	pc := c.PgConn()

	mustExec(t, c, `BEGIN`, `UPDATE acct SET bal = 50 WHERE id = 1`)
	if pc.TxStatus() != 'T' {
		t.Fatalf("tx status %c, want T", pc.TxStatus())
	}
	if _, err := c.Exec(ctxT(t), `SELECT * FROM nope`); err == nil {
		t.Fatal("expected error")
	}
	if pc.TxStatus() != 'E' {
		t.Fatalf("tx status %c, want E", pc.TxStatus())
	}
	_, err := c.Exec(ctxT(t), `SELECT 1`)
	if pgCode(err) != "25P02" {
		t.Fatalf("in failed tx: %v, want 25P02", err)
	}
	mustExec(t, c, `ROLLBACK`)
	if pc.TxStatus() != 'I' {
		t.Fatalf("tx status %c, want I", pc.TxStatus())
	}
	var bal int
	if err := c.QueryRow(ctxT(t), `SELECT bal FROM acct WHERE id = 1`).Scan(&bal); err != nil || bal != 100 {
		t.Fatalf("after rollback bal = %d (%v), want 100", bal, err)
	}

	mustExec(t, c, `BEGIN`, `UPDATE acct SET bal = 70 WHERE id = 1`, `COMMIT`)
	if err := c.QueryRow(ctxT(t), `SELECT bal FROM acct WHERE id = 1`).Scan(&bal); err != nil || bal != 70 {
		t.Fatalf("after commit bal = %d (%v), want 70", bal, err)
	}

	// COMMIT of a failed transaction rolls back and says so.
	mustExec(t, c, `BEGIN`, `UPDATE acct SET bal = 1 WHERE id = 1`)
	_, _ = c.Exec(ctxT(t), `SELECT * FROM nope`)
	tag, err := pc.Exec(ctxT(t), `COMMIT`).ReadAll()
	if err != nil || tag[0].CommandTag.String() != "ROLLBACK" {
		t.Fatalf("COMMIT in failed tx: %v %v, want tag ROLLBACK", tag, err)
	}
	if err := c.QueryRow(ctxT(t), `SELECT bal FROM acct WHERE id = 1`).Scan(&bal); err != nil || bal != 70 {
		t.Fatalf("bal = %d, want 70", bal)
	}
}

func TestSetShowReset(t *testing.T) {
	g := startGateway(t, nil)
	c := g.connect(t)
	pc := c.PgConn()
	mustExec(t, c, `SET TimeZone = 'Europe/Paris'`)
	if got := pc.ParameterStatus("TimeZone"); got != "Europe/Paris" {
		t.Fatalf("ParameterStatus TimeZone = %q", got)
	}
	var tz string
	if err := c.QueryRow(ctxT(t), `SHOW timezone`).Scan(&tz); err != nil || tz != "Europe/Paris" {
		t.Fatalf("SHOW timezone = %q %v", tz, err)
	}
	mustExec(t, c, `SET application_name = 'audit'`, `SET dualgate.label_notices = off`, `SET search_path = public`)
	var app, ln string
	if err := c.QueryRow(ctxT(t), `SHOW application_name`).Scan(&app); err != nil || app != "audit" {
		t.Fatalf("application_name %q %v", app, err)
	}
	if err := c.QueryRow(ctxT(t), `SHOW dualgate.label_notices`).Scan(&ln); err != nil || ln != "off" {
		t.Fatalf("dualgate.label_notices %q %v", ln, err)
	}
	mustExec(t, c, `RESET ALL`)
	if err := c.QueryRow(ctxT(t), `SHOW timezone`).Scan(&tz); err != nil || tz != "UTC" {
		t.Fatalf("after RESET ALL timezone = %q %v", tz, err)
	}
	// SET inside a rolled back transaction is undone; SET LOCAL ends with it.
	mustExec(t, c, `BEGIN`, `SET extra_float_digits = 3`, `SET LOCAL statement_timeout = '5s'`, `ROLLBACK`)
	var efd, st string
	_ = c.QueryRow(ctxT(t), `SHOW extra_float_digits`).Scan(&efd)
	_ = c.QueryRow(ctxT(t), `SHOW statement_timeout`).Scan(&st)
	if efd != "1" || st != "0" {
		t.Fatalf("after rollback extra_float_digits=%q statement_timeout=%q, want 1 and 0", efd, st)
	}
}

func TestStatementTimeoutAndCancel(t *testing.T) {
	g := startGateway(t, nil)
	c := g.connect(t)
	mustExec(t, c, `SET statement_timeout = '200ms'`)
	start := time.Now()
	_, err := c.Exec(ctxT(t), `SELECT pg_sleep(5)`)
	if pgCode(err) != "57014" || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("statement_timeout: %v, want 57014 statement timeout", err)
	}
	if time.Since(start) > 4*time.Second {
		t.Fatalf("statement_timeout did not stop the statement early")
	}
	mustExec(t, c, `SET statement_timeout = 0`)

	// CancelRequest from another connection (pgx sends it when ctx ends).
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Exec(ctx, `SELECT pg_sleep(5)`)
	if err == nil {
		t.Fatal("expected the statement to be canceled")
	}
	// pgx closes the connection on context cancel; use low-level pgconn
	// to check that the server really canceled the statement.
	pc, err := pgconn.Connect(ctxT(t), g.dsn("tester"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var qerr error
	go func() {
		defer wg.Done()
		_, qerr = pc.Exec(context.Background(), `SELECT pg_sleep(5)`).ReadAll()
	}()
	time.Sleep(300 * time.Millisecond)
	if err := pc.CancelRequest(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if pgCode(qerr) != "57014" || !strings.Contains(qerr.Error(), "user request") {
		t.Fatalf("after CancelRequest: %v, want 57014", qerr)
	}
	if _, err := pc.Exec(ctxT(t), `SELECT 1`).ReadAll(); err != nil {
		t.Fatalf("connection unusable after cancel: %v", err)
	}
}

func TestCopyInAndOut(t *testing.T) {
	g := startGateway(t, nil)
	c := g.connect(t)
	mustExec(t, c, `CREATE TABLE people (id int PRIMARY KEY, name text, note text)`)
	pc := c.PgConn()

	csv := "id,name,note\n1,Ann,\"said \"\"hi\"\"\"\n2,Bob,\n3,\"Cy, Jr\",\"\"\n"
	tag, err := pc.CopyFrom(ctxT(t), strings.NewReader(csv), `COPY people FROM STDIN WITH (FORMAT csv, HEADER true)`)
	if err != nil || tag.RowsAffected() != 3 {
		t.Fatalf("COPY csv: %v %v", tag, err)
	}
	text := "4\tDee\t\\N\n5\tEve\ttab\\there\n"
	if tag, err = pc.CopyFrom(ctxT(t), strings.NewReader(text), `COPY people (id, name, note) FROM STDIN`); err != nil || tag.RowsAffected() != 2 {
		t.Fatalf("COPY text: %v %v", tag, err)
	}
	var nullNotes int
	if err := c.QueryRow(ctxT(t), `SELECT count(*) FROM people WHERE note IS NULL`).Scan(&nullNotes); err != nil || nullNotes != 2 {
		t.Fatalf("NULL notes = %d (%v), want 2 (Bob unquoted empty, Dee \\N)", nullNotes, err)
	}

	// A bad line fails the whole COPY, names the line, keeps nothing.
	bad := "6,Fay,x\nseven,Gus,y\n"
	_, err = pc.CopyFrom(ctxT(t), strings.NewReader(bad), `COPY people FROM STDIN (FORMAT csv)`)
	if pgCode(err) != "22P02" || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad COPY: %v, want 22P02 naming line 2", err)
	}
	dup := "8,Hal,x\n1,Ann again,y\n"
	_, err = pc.CopyFrom(ctxT(t), strings.NewReader(dup), `COPY people FROM STDIN (FORMAT csv)`)
	if pgCode(err) != "23505" || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("duplicate COPY: %v, want 23505 naming line 2", err)
	}
	var n int
	if err := c.QueryRow(ctxT(t), `SELECT count(*) FROM people`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("rows after failed COPYs = %d, want 5", n)
	}

	var out strings.Builder
	if _, err := pc.CopyTo(ctxT(t), &out, `COPY (SELECT id, name, note FROM people WHERE id IN (1, 2, 5) ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)`); err != nil {
		t.Fatal(err)
	}
	want := "id,name,note\n1,Ann,\"said \"\"hi\"\"\"\n2,Bob,\n5,Eve,tab\there\n"
	if out.String() != want {
		t.Fatalf("COPY TO csv:\n%q\nwant\n%q", out.String(), want)
	}
	out.Reset()
	if _, err := pc.CopyTo(ctxT(t), &out, `COPY people (id, note) TO STDOUT`); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "4\t\\N\n") || !strings.Contains(out.String(), "5\ttab\\there\n") {
		t.Fatalf("COPY TO text:\n%s", out.String())
	}
}
