package gateway_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestResultLabels checks every channel a label travels on: NOTICE,
// ParameterStatus, label columns and dualgate.last_result.
func TestResultLabels(t *testing.T) {
	g := startGateway(t, nil)
	cfg, err := pgx.ParseConfig(g.dsn("labels"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var notices []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		notices = append(notices, n.Message)
		mu.Unlock()
	}
	c, err := pgx.ConnectConfig(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	mustExec(t, c, `CREATE TABLE scratch (id int4 PRIMARY KEY)`, `INSERT INTO scratch VALUES (1)`)
	mu.Lock()
	notices = nil
	mu.Unlock()

	var n int
	if err := c.QueryRow(ctxT(t), `SELECT count(*) FROM scratch`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if got := c.PgConn().ParameterStatus("dualgate.authority"); got != "derived" {
		t.Errorf("dualgate.authority = %q, want derived for a scratch table", got)
	}
	if got := c.PgConn().ParameterStatus("dualgate.as_of"); got != "0" {
		t.Errorf("dualgate.as_of = %q, want 0 without canonical commits", got)
	}
	mu.Lock()
	if len(notices) != 1 || !strings.HasPrefix(notices[0], "derived: public.scratch") {
		t.Errorf("notices = %q, want one derived notice naming public.scratch", notices)
	}
	notices = nil
	mu.Unlock()

	var authority, relations string
	var asOf int64
	if err := c.QueryRow(ctxT(t), `SELECT authority, as_of, relations FROM dualgate.last_result`).Scan(&authority, &asOf, &relations); err != nil {
		t.Fatal(err)
	}
	if authority != "derived" || relations != "public.scratch" {
		t.Errorf("last_result = %q %d %q", authority, asOf, relations)
	}

	mustExec(t, c, `SET dualgate.label_notices = off`, `SET dualgate.label_columns = on`)
	mu.Lock()
	notices = nil
	mu.Unlock()
	rows, err := c.Query(ctxT(t), `SELECT id FROM scratch`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, f := range rows.FieldDescriptions() {
		cols = append(cols, f.Name)
	}
	var id int32
	var la string
	var lo int64
	for rows.Next() {
		if err := rows.Scan(&id, &la, &lo); err != nil {
			t.Fatal(err)
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if strings.Join(cols, ",") != "id,_authority,_as_of" || la != "derived" {
		t.Errorf("label columns: %v, row authority %q", cols, la)
	}
	mu.Lock()
	if len(notices) != 0 {
		t.Errorf("notices with label_notices off: %q", notices)
	}
	mu.Unlock()
	if got := c.PgConn().ParameterStatus("dualgate.authority"); got != "derived" {
		t.Errorf("ParameterStatus must be sent even with notices off, got %q", got)
	}
}
