package main

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// accessQuery runs sql (simple protocol) and returns its rows as text.
func accessQuery(t *testing.T, c *pgconn.PgConn, sql string) ([][]string, error) {
	t.Helper()
	res, err := c.Exec(context.Background(), sql).ReadAll()
	if err != nil {
		return nil, err
	}
	var rows [][]string
	for _, r := range res {
		for _, row := range r.Rows {
			out := make([]string, len(row))
			for i, v := range row {
				if v == nil {
					out[i] = "NULL"
				} else {
					out[i] = string(v)
				}
			}
			rows = append(rows, out)
		}
	}
	return rows, nil
}

func accessConnect(t *testing.T, addr, user string) *pgconn.PgConn {
	t.Helper()
	c, err := pgconn.Connect(context.Background(), dsn(addr, user))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// mustDeny checks that sql fails with 42501 naming relation and privilege.
func mustDeny(t *testing.T, c *pgconn.PgConn, user, sql, relation, privilege string) {
	t.Helper()
	_, err := accessQuery(t, c, sql)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("%s: %s: want 42501, got %v", user, sql, err)
	}
	if pe.Code != "42501" || !strings.Contains(pe.Message, relation) || !strings.Contains(pe.Message, privilege) {
		t.Fatalf("%s: %s: want 42501 naming %s and %s, got %s %s", user, sql, relation, privilege, pe.Code, pe.Message)
	}
}

func mustAllow(t *testing.T, c *pgconn.PgConn, user, sql string) [][]string {
	t.Helper()
	rows, err := accessQuery(t, c, sql)
	if err != nil {
		t.Fatalf("%s: %s: %v", user, sql, err)
	}
	return rows
}

var hashRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestAccessRoleMatrix runs the demo catalog's roles over the wire: each
// tries reads, ingest, corrections, procedures and DDL; allowed ones work
// and the rest fail with 42501 naming the relation and the privilege.
// Masked values never leave unmasked: select lists, expressions, filters,
// history, diff, COPY TO, serving projections and the fast path.
func TestAccessRoleMatrix(t *testing.T) {
	addr := startPrimary(t, "")
	ingestor := accessConnect(t, addr, "oms_connector")
	mustAllow(t, ingestor, "oms_connector", `INSERT INTO raw.oms_orders VALUES ('e1','o-1',1,'SUBMITTED','c1','ann@example.com','+3311','web','eu','eur',
  'sku-1',2,500,1000,now() - interval '1 day',now() - interval '1 day')`)
	mustDeny(t, ingestor, "oms_connector", `SELECT * FROM canonical.commercial_orders`, "canonical.commercial_orders", "read")
	mustDeny(t, ingestor, "oms_connector", `SELECT * FROM raw.oms_orders`, "raw.oms_orders", "read")

	steward := accessConnect(t, addr, "sam")
	rows := mustAllow(t, steward, "sam", `SELECT customer_email, customer_phone FROM canonical.commercial_orders WHERE order_id = 'o-1'`)
	if len(rows) != 1 || rows[0][0] != "ann@example.com" || rows[0][1] != "+3311" {
		t.Fatalf("steward reads clear values: %v", rows)
	}
	mustAllow(t, steward, "sam", `SET dualgate.commit_message = 'typo'`)
	mustAllow(t, steward, "sam", `UPDATE canonical.commercial_orders SET region = 'EU' WHERE order_id = 'o-1'`)
	mustDeny(t, steward, "sam", `INSERT INTO raw.oms_orders (event_id) VALUES ('x')`, "raw.oms_orders", "ingest")
	mustDeny(t, steward, "sam", `CALL dualgate.replay('oms_orders', 1, 1)`, "dualgate.replay", "admin")
	mustDeny(t, steward, "sam", `CREATE TABLE scratch (a int)`, "CREATE TABLE", "admin")
	mustDeny(t, steward, "sam", `SELECT * FROM dualgate.sessions`, "dualgate.sessions", "read")

	analyst := accessConnect(t, addr, "alice")
	check := func(what string, rows [][]string) {
		t.Helper()
		for _, r := range rows {
			for _, v := range r {
				if strings.Contains(v, "ann@example.com") || strings.Contains(v, "3311") {
					t.Fatalf("%s: a masked value left the server: %v", what, rows)
				}
			}
		}
	}
	rows = mustAllow(t, analyst, "alice", `SELECT customer_email, customer_phone, status FROM canonical.commercial_orders WHERE order_id = 'o-1'`)
	if len(rows) != 1 || !hashRE.MatchString(rows[0][0]) || rows[0][1] != "NULL" {
		t.Fatalf("analyst: email hashed, phone null: %v", rows)
	}
	hash := rows[0][0]
	check("expressions", mustAllow(t, analyst, "alice", `SELECT upper(customer_email), customer_email || '', coalesce(customer_phone, 'none') FROM canonical.commercial_orders`))
	if rows := mustAllow(t, analyst, "alice", `SELECT order_id FROM canonical.commercial_orders WHERE customer_email = 'ann@example.com'`); len(rows) != 0 {
		t.Fatalf("a filter on the clear value of a masked column matched: %v", rows)
	}
	if rows := mustAllow(t, analyst, "alice", `SELECT count(*) FROM canonical.commercial_orders WHERE customer_email = '`+hash+`'`); rows[0][0] != "1" {
		t.Fatalf("filter on the hash: %v", rows)
	}
	check("join", mustAllow(t, analyst, "alice", `SELECT a.customer_email, b.customer_phone FROM canonical.commercial_orders a JOIN canonical.commercial_orders b USING (order_id)`))
	check("history", mustAllow(t, analyst, "alice", `SELECT customer_email, customer_phone FROM history.commercial_orders`))
	check("diff", mustAllow(t, analyst, "alice", `SELECT to_customer_email, from_customer_email, to_customer_phone FROM diff.commercial_orders`))
	check("as of", mustAllow(t, analyst, "alice", `SELECT customer_email FROM canonical.commercial_orders AS OF 'HEAD'`))
	// COPY TO, by table and by query.
	for _, q := range []string{`COPY canonical.commercial_orders TO STDOUT`, `COPY (SELECT customer_email, customer_phone FROM canonical.commercial_orders) TO STDOUT (FORMAT csv)`} {
		var buf strings.Builder
		if _, err := analyst.CopyTo(context.Background(), &buf, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if !strings.Contains(buf.String(), hash) || strings.Contains(buf.String(), "ann@example.com") || strings.Contains(buf.String(), "3311") {
			t.Fatalf("%s: %q", q, buf.String())
		}
	}
	// The fast path (extended protocol, whole key as a parameter).
	res := analyst.ExecParams(context.Background(), `SELECT order_id, customer_email, customer_phone FROM canonical.commercial_orders WHERE order_id = $1`,
		[][]byte{[]byte("o-1")}, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][1]) != hash || res.Rows[0][2] != nil {
		t.Fatalf("fast path: %v %q", res.Err, res.Rows)
	}
	mustDeny(t, analyst, "alice", `UPDATE canonical.commercial_orders SET region = 'EU' WHERE order_id = 'o-1'`, "canonical.commercial_orders", "correct")
	mustDeny(t, analyst, "alice", `SELECT * FROM raw.oms_orders`, "raw.oms_orders", "read")
	mustDeny(t, analyst, "alice", `SELECT o.order_id FROM canonical.commercial_orders o JOIN raw.oms_orders r USING (order_id)`, "raw.oms_orders", "read")
	mustDeny(t, analyst, "alice", `COPY raw.oms_orders TO STDOUT`, "raw.oms_orders", "read")
	mustDeny(t, analyst, "alice", `CALL dualgate.verify()`, "dualgate.verify", "admin")
	rows = mustAllow(t, analyst, "alice", `SELECT has_table_privilege('canonical.commercial_orders', 'SELECT'), has_table_privilege('raw.oms_orders', 'select'),
		has_table_privilege('canonical.commercial_orders', 'UPDATE'), has_schema_privilege('serving', 'USAGE'), has_schema_privilege('raw', 'USAGE'),
		has_table_privilege('sam', 'canonical.commercial_orders', 'UPDATE')`)
	if strings.Join(rows[0], ",") != "t,f,f,t,f,t" {
		t.Fatalf("has_*_privilege for alice: %v", rows)
	}

	// Support: redact and last4, on canonical and on the serving projection.
	support := accessConnect(t, addr, "sasha")
	rows = mustAllow(t, support, "sasha", `SELECT customer_email, customer_phone FROM canonical.commercial_orders`)
	if len(rows) != 1 || rows[0][0] != "***" || rows[0][1] != "*3311" {
		t.Fatalf("support masks: %v", rows)
	}
	mustDeny(t, support, "sasha", `SELECT * FROM canonical.payment_instructions`, "canonical.payment_instructions", "read")
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows = mustAllow(t, support, "sasha", `SELECT customer_email, customer_phone FROM serving.order_timeline WHERE order_id = 'o-1'`)
		if len(rows) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(rows) != 1 || rows[0][0] != "***" || rows[0][1] != "*3311" {
		t.Fatalf("support masks on serving.order_timeline: %v", rows)
	}
	res = support.ExecParams(context.Background(), `SELECT customer_email, customer_phone FROM serving.order_timeline WHERE order_id = $1`,
		[][]byte{[]byte("o-1")}, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "***" || string(res.Rows[0][1]) != "*3311" {
		t.Fatalf("serving fast path for support: %v %q", res.Err, res.Rows)
	}

	// Admin: everything but the audit trail; an unmapped trust user is the
	// local operator.
	admin := accessConnect(t, addr, "ops")
	mustAllow(t, admin, "ops", `CREATE TABLE scratch (a int)`)
	mustAllow(t, admin, "ops", `SELECT customer_email FROM canonical.commercial_orders`)
	mustAllow(t, admin, "ops", `CALL dualgate.verify()`)
	local := accessConnect(t, addr, "steward")
	mustAllow(t, local, "steward", `SELECT * FROM raw.oms_orders`)
	mustAllow(t, local, "steward", `SELECT * FROM scratch`)
	mustDeny(t, analyst, "alice", `SELECT * FROM scratch`, "public.scratch", "admin")
}
