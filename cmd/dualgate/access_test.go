package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/testdata"
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

// awaitServed runs a serving read until it answers want rows: until a
// projection's first materialization (which runs in the background after
// the listener opens) it is unavailable (55000) or without the new rows.
// Any other error fails the test at once.
func awaitServed(t *testing.T, c *pgconn.PgConn, sql string, want int) [][]string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		rows, err := accessQuery(t, c, sql)
		var pe *pgconn.PgError
		if err != nil && (!errors.As(err, &pe) || pe.Code != "55000") {
			t.Fatalf("%s: %v", sql, err)
		}
		if err == nil && len(rows) == want {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not served within a minute: %v %v", sql, rows, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
  'sku-1',2,500,1000,now() - interval '1 day',now() - interval '1 day'),
  ('e2','o-old',1,'SUBMITTED','c2','old@example.com','+4477','web','eu','eur','sku-1',1,500,500,now() - interval '400 days',now() - interval '400 days')`)
	mustDeny(t, ingestor, "oms_connector", `SELECT * FROM canonical.commercial_orders`, "canonical.commercial_orders", "read")
	mustDeny(t, ingestor, "oms_connector", `SELECT * FROM raw.oms_orders`, "raw.oms_orders", "read")
	// Serving tables: `writers: [ingestor]` is a write grant.
	mustAllow(t, ingestor, "oms_connector", `INSERT INTO serving.basket_events (basket_id, event_seq, event_type, occurred_at) VALUES ('b-1', 1, 'item_added', now())`)

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
	mustDeny(t, analyst, "alice", `DELETE FROM serving.basket_events`, "serving.basket_events", "write")
	mustDeny(t, analyst, "alice", `INSERT INTO serving.order_timeline (order_id) VALUES ('x')`, "serving.order_timeline", "write")
	rows = mustAllow(t, analyst, "alice", `SELECT has_table_privilege('canonical.commercial_orders', 'SELECT'), has_table_privilege('raw.oms_orders', 'select'),
		has_table_privilege('canonical.commercial_orders', 'UPDATE'), has_schema_privilege('serving', 'USAGE'), has_schema_privilege('raw', 'USAGE'),
		has_table_privilege('sam', 'canonical.commercial_orders', 'UPDATE'), has_column_privilege('canonical.commercial_orders', 'customer_email', 'SELECT'),
		has_table_privilege('dualgate.audit', 'SELECT'), has_table_privilege('audrey', 'dualgate.audit', 'SELECT')`)
	if got := strings.Join(rows[0], ","); got != "t,f,f,t,f,t,t,f,t" { // booleans, typed bool on the wire
		t.Fatalf("has_*_privilege for alice: %v", rows)
	}

	// Support: redact and last4, on canonical and on the serving projection.
	support := accessConnect(t, addr, "sasha")
	rows = mustAllow(t, support, "sasha", `SELECT customer_email, customer_phone FROM canonical.commercial_orders WHERE order_id = 'o-1'`)
	if len(rows) != 1 || rows[0][0] != "***" || rows[0][1] != "*3311" {
		t.Fatalf("support masks: %v", rows)
	}
	mustDeny(t, support, "sasha", `SELECT * FROM canonical.payment_instructions`, "canonical.payment_instructions", "read")
	rows = awaitServed(t, support, `SELECT customer_email, customer_phone FROM serving.order_timeline WHERE order_id = 'o-1'`, 1)
	if len(rows) != 1 || rows[0][0] != "***" || rows[0][1] != "*3311" {
		t.Fatalf("support masks on serving.order_timeline: %v", rows)
	}
	res = support.ExecParams(context.Background(), `SELECT customer_email, customer_phone FROM serving.order_timeline WHERE order_id = $1`,
		[][]byte{[]byte("o-1")}, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "***" || string(res.Rows[0][1]) != "*3311" {
		t.Fatalf("serving fast path for support: %v %q", res.Err, res.Rows)
	}
	// Row filter: support sees orders of the last 180 days only in
	// serving.order_timeline (scans, aggregates, COPY and the fast path);
	// the analyst, without a filter, sees both.
	awaitServed(t, analyst, `SELECT order_id FROM serving.order_timeline`, 2)
	if rows := mustAllow(t, analyst, "alice", `SELECT count(*) FROM serving.order_timeline WHERE order_id = 'o-old'`); rows[0][0] != "1" {
		t.Fatalf("analyst sees the old order: %v", rows)
	}
	if rows := mustAllow(t, support, "sasha", `SELECT order_id FROM serving.order_timeline ORDER BY order_id`); len(rows) != 1 || rows[0][0] != "o-1" {
		t.Fatalf("support's row filter: %v", rows)
	}
	if rows := mustAllow(t, support, "sasha", `SELECT count(*) FROM serving.order_timeline WHERE order_id IN ('o-1', 'o-old')`); rows[0][0] != "1" {
		t.Fatalf("support's row filter under aggregates: %v", rows)
	}
	res = support.ExecParams(context.Background(), `SELECT order_id FROM serving.order_timeline WHERE order_id = $1`,
		[][]byte{[]byte("o-old")}, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 0 {
		t.Fatalf("support's row filter on the fast path: %v %q", res.Err, res.Rows)
	}
	var buf strings.Builder
	if _, err := support.CopyTo(context.Background(), &buf, `COPY serving.order_timeline TO STDOUT`); err != nil || strings.Contains(buf.String(), "o-old") {
		t.Fatalf("support's row filter on COPY TO: %v %q", err, buf.String())
	}
	if rows := mustAllow(t, support, "sasha", `SELECT count(*) FROM canonical.commercial_orders`); rows[0][0] != "2" {
		t.Fatalf("no row filter on canonical for support: %v", rows)
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

// TestAuditTrail runs a scripted session as several users, then reads
// dualgate.audit as the auditor: one record per statement with user, role,
// masked literals, fingerprint, relations, label, rows and SQLSTATE; only
// the audit privilege reads it; the chain verifies, survives a restart,
// and a record changed on disk is caught by CALL dualgate.verify_audit().
func TestAuditTrail(t *testing.T) {
	dir := t.TempDir()
	t.Run("session", func(t *testing.T) {
		addr := startPrimary(t, dir)
		ingestor := accessConnect(t, addr, "oms_connector")
		mustAllow(t, ingestor, "oms_connector", `INSERT INTO raw.oms_orders VALUES ('e1','o-1',1,'SUBMITTED','c1','ann@example.com','+3311','web','eu','eur',
  'sku-1',2,500,1000,'2024-05-01 10:00:00+00','2024-05-01 10:00:00+00')`)
		analyst := accessConnect(t, addr, "alice")
		mustAllow(t, analyst, "alice", `SET application_name = 'metabase'`)
		mustAllow(t, analyst, "alice", `SELECT status FROM canonical.commercial_orders WHERE order_id = 'o-1'`)
		mustAllow(t, analyst, "alice", `SELECT status FROM canonical.commercial_orders WHERE order_id = 'o-2'`)
		mustDeny(t, analyst, "alice", `SELECT * FROM raw.oms_orders WHERE customer_email = 'ann@example.com'`, "raw.oms_orders", "read")
		res := analyst.ExecParams(context.Background(), `SELECT status FROM canonical.commercial_orders WHERE order_id = $1`, [][]byte{[]byte("o-1")}, nil, nil, nil).Read()
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		admin := accessConnect(t, addr, "ops")
		mustDeny(t, admin, "ops", `SELECT * FROM dualgate.audit`, "dualgate.audit", "audit")
		mustDeny(t, analyst, "alice", `CALL dualgate.verify_audit()`, "dualgate.verify_audit", "audit")

		auditor := accessConnect(t, addr, "audrey")
		rows := mustAllow(t, auditor, "audrey", `SELECT user_name, role, application_name, client_addr, fingerprint, statement, relations,
			coalesce(authority, ''), as_of, rows, sqlstate, duration_ms >= 0, length(hash) FROM dualgate.audit ORDER BY seq`)
		if len(rows) != 7 {
			t.Fatalf("want 7 audit records (SET is not audited), got %d: %v", len(rows), rows)
		}
		for _, r := range rows {
			if strings.Contains(strings.Join(r, " "), "ann@example.com") || strings.Contains(r[5], "o-1") {
				t.Fatalf("a literal reached the audit trail: %v", r)
			}
		}
		want := [][]string{
			{"oms_connector", "ingestor", "", "127.0.0.1", "", "INSERT INTO raw.oms_orders VALUES (?,?,?,?,?,?,?,?,?,?, ?,?,?,?,?,?)", "raw.oms_orders", "derived", "", "1", "00000"},
			{"alice", "analyst", "metabase", "127.0.0.1", "", "SELECT status FROM canonical.commercial_orders WHERE order_id = ?", "canonical.commercial_orders", "authoritative", "1", "1", "00000"},
			{"alice", "analyst", "metabase", "127.0.0.1", "", "SELECT status FROM canonical.commercial_orders WHERE order_id = ?", "canonical.commercial_orders", "authoritative", "1", "0", "00000"},
			{"alice", "analyst", "metabase", "127.0.0.1", "", "SELECT * FROM raw.oms_orders WHERE customer_email = ?", "raw.oms_orders", "derived", "", "0", "42501"},
			{"alice", "analyst", "metabase", "127.0.0.1", "", "SELECT status FROM canonical.commercial_orders WHERE order_id = $1", "canonical.commercial_orders", "authoritative", "1", "1", "00000"},
			{"ops", "admin", "", "127.0.0.1", "", "SELECT * FROM dualgate.audit", "dualgate.audit", "derived", "", "0", "42501"},
			{"alice", "analyst", "metabase", "127.0.0.1", "", "CALL dualgate.verify_audit()", "dualgate.verify_audit()", "", "", "0", "42501"},
		}
		for i, w := range want {
			r := rows[i]
			for j, v := range w {
				if j == 4 || j == 8 {
					continue // fingerprints are checked below; as_of is the head commit
				}
				if r[j] != v {
					t.Errorf("record %d column %d: got %q, want %q (%v)", i+1, j, r[j], v, r)
				}
			}
			if r[11] != "t" && r[11] != "1" || r[12] != "64" {
				t.Errorf("record %d: duration or hash: %v", i+1, r)
			}
		}
		if rows[1][4] != rows[2][4] || rows[1][4] == rows[4][4] || len(rows[1][4]) != 16 {
			t.Errorf("fingerprints: same shape same print, other shape another: %q %q %q", rows[1][4], rows[2][4], rows[4][4])
		}
		rows = mustAllow(t, auditor, "audrey", `CALL dualgate.verify_audit()`)
		if len(rows) != 1 || rows[0][0] != "t" {
			t.Fatalf("verify_audit: %v", rows)
		}
	})
	// Tamper with a record on disk while the server is down: the trail
	// stores each group commit as one batch whose string table holds each
	// text once, first used by record 2 for "alice"; a same-length
	// replacement keeps the batch decodable and changes alice's records.
	db, err := pebble.Open(filepath.Join(dir, "audit"), &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{'b'}, UpperBound: []byte{'c'}})
	if err != nil {
		t.Fatal(err)
	}
	var key, forged []byte
	for ok := it.First(); ok && key == nil; ok = it.Next() {
		if v := it.Value(); bytes.Contains(v, []byte("alice")) {
			key, forged = bytes.Clone(it.Key()), bytes.Replace(v, []byte("alice"), []byte("carol"), 1)
		}
	}
	if err := it.Close(); err != nil || key == nil {
		t.Fatalf("no audit batch holds alice's records (%v)", err)
	}
	if err := db.Set(key, forged, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Run("tampered", func(t *testing.T) {
		addr := startPrimary(t, dir)
		auditor := accessConnect(t, addr, "audrey")
		_, err := accessQuery(t, auditor, `CALL dualgate.verify_audit()`)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "XX001" || !strings.Contains(pe.Message, "record 2") {
			t.Fatalf("tampered audit record not caught: %v", err)
		}
	})
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)           {}
func (quietPebble) Errorf(string, ...any)          {}
func (quietPebble) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }

// TestAccessSCRAM serves the demo catalog with SCRAM authentication (no
// trust): a user the policies map gets its roles; an authenticated user
// mapped to no role has no privileges at all.
func TestAccessSCRAM(t *testing.T) {
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	var users strings.Builder
	for _, u := range []string{"alice", "nobody"} {
		v, err := gateway.MakeVerifier("pw-" + u)
		if err != nil {
			t.Fatal(err)
		}
		users.WriteString(u + ":" + v + "\n")
	}
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte(users.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &serveOptions{listen: "127.0.0.1:0", data: t.TempDir(), users: path, shutdownGrace: 2 * time.Second, maxMessage: 1 << 20}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, o, cat, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), func(a net.Addr) { addrc <- a.String() })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() { cancel(); <-done }()
	connect := func(user string) *pgconn.PgConn {
		c, err := pgconn.Connect(context.Background(), "postgres://"+user+":pw-"+user+"@"+addr+"/dualgate?sslmode=disable")
		if err != nil {
			t.Fatalf("connect as %s: %v", user, err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	alice := connect("alice")
	mustAllow(t, alice, "alice", `SELECT count(*) FROM canonical.commercial_orders`)
	mustDeny(t, alice, "alice", `SELECT * FROM raw.oms_orders`, "raw.oms_orders", "read")
	nobody := connect("nobody")
	mustDeny(t, nobody, "nobody", `SELECT count(*) FROM canonical.commercial_orders`, "canonical.commercial_orders", "read")
	mustDeny(t, nobody, "nobody", `SELECT * FROM catalog.entities`, "catalog.entities", "read")
	mustAllow(t, nobody, "nobody", `SELECT count(*) FROM pg_catalog.pg_class`)
}

// governanceCatalog is the demo catalog with test additions: a partner
// role granted some columns only (user pat), analysts also reading raw and
// the quarantine, and a reconciliation comparing a masked column.
func governanceCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	const file = "catalog/commercial_order_lifecycle.yaml"
	b, err := fs.ReadFile(testdata.Catalog, file)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	edit := func(old, new string) {
		t.Helper()
		if !strings.Contains(src, old) {
			t.Fatalf("demo catalog lacks %q", old)
		}
		src = strings.Replace(src, old, new, 1)
	}
	edit("policies:\n  roles:\n", `policies:
  roles:
    partner:
      description: A delivery partner; some columns of orders only.
      grants:
        - {privilege: read, on: canonical.commercial_orders, columns: [order_id, status, region]}
        - {privilege: read, on: serving.order_timeline.order_id}
        - {privilege: read, on: history}
        - {privilege: read, on: diff}
    fixer:
      description: Corrects orders, reading some of their columns only.
      grants:
        - {privilege: read, on: canonical.commercial_orders, columns: [order_id, status]}
        - {privilege: correct, on: canonical.commercial_orders}
    sidecar:
      description: A sidecar's service user, relaying the audit records of its local reads.
      grants:
        - {privilege: relay_audit}
    eu_analyst:
      description: Reads EU orders only, wherever copies of them are.
      grants:
        - {privilege: read, on: canonical}
        - {privilege: read, on: raw}
        - {privilege: read, on: serving}
        - {privilege: read, on: dualgate.quarantine}
        - {privilege: read, on: reconcile}
`)
	edit("  row_filters:\n", `  row_filters:
    - {relation: canonical.commercial_orders, role: eu_analyst, where: "region = 'EU'"}
`)
	edit("        - {privilege: read, on: catalog}\n    steward:", "        - {privilege: read, on: catalog}\n        - {privilege: read, on: raw}\n        - {privilege: read, on: dualgate.quarantine}\n    steward:")
	edit("  users:\n", "  users:\n    pat: [partner]\n    fred: [fixer]\n    sid: [sidecar]\n    eve: [eu_analyst]\n")
	edit("projections:\n", `projections:
  contact_board:
    description: Test projection copying a masked column under another name, without a declared mask.
    key: [order_id]
    freshness_sla: 1m
    select: SELECT o.order_id, lower(o.customer_email) AS contact, o.region FROM canonical.commercial_orders o
    affected_by: {commercial_orders: order_id}
`)
	edit("reconciliations:\n", `reconciliations:
  email_check:
    description: Test rule over a masked column.
    level: record
    left: SELECT order_id, customer_email FROM canonical.commercial_orders
    right: SELECT order_id, customer_email FROM raw.oms_orders WHERE line_no = 1
    match: [order_id]
    compare: [customer_email]
    grace: 0s
    repair: none

`)
	cat, err := catalog.LoadFS(fstest.MapFS{file: {Data: []byte(src)}}, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// mustDenyColumn checks a 42501 naming the relation and the column.
func mustDenyColumn(t *testing.T, c *pgconn.PgConn, sql, relation, column string) {
	t.Helper()
	mustDeny(t, c, "pat", sql, "relation "+relation, "read privilege required")
	_, err := accessQuery(t, c, sql)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && column != "" && !strings.Contains(pe.Message, "column "+column+" ") {
		t.Fatalf("%s: want the column %s named: %s", sql, column, pe.Message)
	}
	t.Logf("%s: %s", sql, pe.Message)
}

// TestAccessColumnGrants: a role granted some columns of a relation reads
// those and is refused (42501 naming relation, column and privilege) any
// statement touching another one -- select list, *, WHERE, JOIN, GROUP BY,
// ORDER BY, subqueries, CTEs, COPY, the fast path, history and diff --
// and has_column_privilege/has_table_privilege say so.
func TestAccessColumnGrants(t *testing.T) {
	addr := startPrimaryCatalog(t, "", governanceCatalog(t))
	ingestor := accessConnect(t, addr, "oms_connector")
	mustAllow(t, ingestor, "oms_connector", `INSERT INTO raw.oms_orders VALUES ('e1','o-1',1,'SUBMITTED','c1','ann@example.com','+3311','web','eu','eur',
  'sku-1',2,500,1000,now() - interval '1 day',now() - interval '1 day')`)
	pat := accessConnect(t, addr, "pat")
	rows := mustAllow(t, pat, "pat", `SELECT order_id, status FROM canonical.commercial_orders WHERE region = 'EU' ORDER BY status`)
	if len(rows) != 1 || rows[0][0] != "o-1" {
		t.Fatalf("granted columns: %v", rows)
	}
	if rows := mustAllow(t, pat, "pat", `SELECT count(*), region FROM canonical.commercial_orders GROUP BY region`); len(rows) != 1 || rows[0][0] != "1" {
		t.Fatalf("count(*) over granted columns: %v", rows)
	}
	mustAllow(t, pat, "pat", `SELECT o.order_id FROM canonical.commercial_orders o JOIN canonical.commercial_orders p USING (order_id) WHERE o.status = p.status`)
	mustAllow(t, pat, "pat", `SELECT order_id, status, commit_id, committed_at FROM history.commercial_orders`)
	mustAllow(t, pat, "pat", `SELECT to_status, from_status, diff_type, to_commit FROM diff.commercial_orders`)
	awaitServed(t, pat, `SELECT order_id FROM serving.order_timeline`, 1)
	const rel = "canonical.commercial_orders"
	for sql, col := range map[string]string{
		`SELECT * FROM canonical.commercial_orders`:                                                                                                    "",
		`SELECT order_id, customer_email FROM canonical.commercial_orders`:                                                                             "customer_email",
		`SELECT o.customer_phone FROM canonical.commercial_orders o`:                                                                                   "customer_phone",
		`SELECT order_id FROM canonical.commercial_orders WHERE customer_email = 'ann@example.com'`:                                                    "customer_email",
		`SELECT a.order_id FROM canonical.commercial_orders a JOIN canonical.commercial_orders b ON a.customer_id = b.customer_id`:                     "customer_id",
		`SELECT order_id FROM canonical.commercial_orders a JOIN canonical.commercial_orders b USING (order_id, channel)`:                              "channel",
		`SELECT channel, count(*) FROM canonical.commercial_orders GROUP BY channel`:                                                                   "channel",
		`SELECT order_id FROM canonical.commercial_orders ORDER BY total_cents`:                                                                        "total_cents",
		`SELECT order_id FROM canonical.commercial_orders WHERE order_id IN (SELECT order_id FROM canonical.commercial_orders WHERE currency = 'EUR')`: "currency",
		`WITH x AS (SELECT customer_email AS e FROM canonical.commercial_orders) SELECT count(*) FROM x`:                                               "customer_email",
		`SELECT (SELECT max(customer_id) FROM canonical.commercial_orders)`:                                                                            "customer_id",
		`SELECT order_id FROM canonical.commercial_orders AS OF 'HEAD' WHERE placed_at < now()`:                                                        "placed_at",
	} {
		mustDenyColumn(t, pat, sql, rel, col)
	}
	// Whole-row references: refused (by the column check or the engine),
	// never answered with the other columns.
	for _, sql := range []string{`SELECT o FROM canonical.commercial_orders o`, `SELECT row_to_json(o) FROM canonical.commercial_orders o`,
		`SELECT to_json(o.*) FROM canonical.commercial_orders o`, `TABLE canonical.commercial_orders`} {
		rows, err := accessQuery(t, pat, sql)
		if err == nil {
			t.Fatalf("%s: answered %v", sql, rows)
		}
		t.Logf("%s: %v", sql, err)
	}
	mustDenyColumn(t, pat, `SELECT customer_email FROM history.commercial_orders`, "history.commercial_orders", "customer_email")
	mustDenyColumn(t, pat, `SELECT * FROM history.commercial_orders`, "history.commercial_orders", "")
	mustDenyColumn(t, pat, `SELECT to_customer_email FROM diff.commercial_orders`, "diff.commercial_orders", "to_customer_email")
	mustDenyColumn(t, pat, `SELECT customer_email FROM serving.order_timeline`, "serving.order_timeline", "customer_email")
	mustDeny(t, pat, "pat", `SELECT * FROM canonical.payment_instructions`, "canonical.payment_instructions", "read")
	// COPY: by table (all columns or a list) and by query.
	mustDenyColumn(t, pat, `COPY canonical.commercial_orders TO STDOUT`, rel, "")
	var buf strings.Builder
	if _, err := pat.CopyTo(context.Background(), &buf, `COPY canonical.commercial_orders (order_id, status) TO STDOUT`); err != nil || !strings.Contains(buf.String(), "o-1") {
		t.Fatalf("COPY of granted columns: %v %q", err, buf.String())
	}
	if _, err := pat.CopyTo(context.Background(), &buf, `COPY (SELECT order_id, customer_email FROM canonical.commercial_orders) TO STDOUT`); err == nil || !strings.Contains(err.Error(), "customer_email") {
		t.Fatalf("COPY (query) of a column not granted: %v", err)
	}
	// The fast path (extended protocol, key as a parameter) is checked too.
	res := pat.ExecParams(context.Background(), `SELECT order_id, status FROM canonical.commercial_orders WHERE order_id = $1`, [][]byte{[]byte("o-1")}, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][1]) != "submitted" {
		t.Fatalf("fast path on granted columns: %v %q", res.Err, res.Rows)
	}
	for i := 0; i < 2; i++ { // the second time from the check cache
		res = pat.ExecParams(context.Background(), `SELECT order_id, customer_email FROM canonical.commercial_orders WHERE order_id = $1`, [][]byte{[]byte("o-1")}, nil, nil, nil).Read()
		var pe *pgconn.PgError
		if !errors.As(res.Err, &pe) || pe.Code != "42501" || !strings.Contains(pe.Message, "customer_email") || len(res.Rows) != 0 {
			t.Fatalf("fast path on a column not granted: %v %q", res.Err, res.Rows)
		}
	}
	rows = mustAllow(t, pat, "pat", `SELECT has_column_privilege('canonical.commercial_orders', 'status', 'SELECT'),
		has_column_privilege('canonical.commercial_orders', 'customer_email', 'SELECT'), has_table_privilege('canonical.commercial_orders', 'SELECT'),
		has_column_privilege('history.commercial_orders', 'commit_id', 'SELECT'), has_column_privilege('history.commercial_orders', 'customer_email', 'select'),
		has_column_privilege('diff.commercial_orders', 'to_status', 'SELECT'), has_column_privilege('canonical.commercial_orders', 1, 'SELECT'),
		has_column_privilege('alice', 'canonical.commercial_orders', 'customer_email', 'SELECT'), has_column_privilege('canonical.commercial_orders', 'status', 'UPDATE')`)
	if got := strings.Join(rows[0], ","); got != "t,f,f,t,f,t,t,t,f" {
		t.Fatalf("privilege functions for pat: %v", got)
	}
	// Metabase lists a table it can read some columns of.
	rows = mustAllow(t, pat, "pat", `SELECT has_any_column_privilege('canonical.commercial_orders', 'SELECT'),
		has_any_column_privilege('canonical.commercial_orders', 'UPDATE'), has_any_column_privilege('alice', 'canonical.commercial_orders', 'SELECT')`)
	if got := strings.Join(rows[0], ","); got != "t,f,t" {
		t.Fatalf("has_any_column_privilege for pat: %v", got)
	}
	if _, err := accessQuery(t, pat, `SELECT has_column_privilege('canonical.commercial_orders', 'nope', 'SELECT')`); err == nil || !strings.Contains(err.Error(), "42703") {
		t.Fatalf("unknown column: %v", err)
	}
	// Writes into a column-limited relation name granted columns only.
	fixer := accessConnect(t, addr, "fred")
	mustAllow(t, fixer, "fred", `UPDATE canonical.commercial_orders SET status = status WHERE order_id = 'none'`)
	mustDenyColumn(t, fixer, `UPDATE canonical.commercial_orders SET status = status WHERE customer_email = 'ann@example.com'`, rel, "customer_email")
	mustDenyColumn(t, fixer, `DELETE FROM canonical.commercial_orders WHERE region = 'EU'`, rel, "region")
}

// TestMaskCopies: masks follow masked values into their copies. The
// analyst of the test catalog reads raw.oms_orders and the quarantine:
// the raw fields feeding masked canonical columns come out masked, and so
// do those keys of quarantine payloads; reconcile.exceptions of a rule
// comparing a masked column show masked values. The steward, without
// masks, sees the clear values in the same places.
func TestMaskCopies(t *testing.T) {
	addr := startPrimaryCatalog(t, "", governanceCatalog(t))
	ingestor := accessConnect(t, addr, "oms_connector")
	mustAllow(t, ingestor, "oms_connector", `INSERT INTO raw.oms_orders VALUES ('e1','o-1',1,'SUBMITTED','c1','Ann@Example.com','+3311','web','eu','eur',
  'sku-1',2,500,1000,now() - interval '1 day',now() - interval '1 day'),
  ('e2','o-neg',1,'SUBMITTED','c2','neg@example.com','+4477','web','eu','eur','sku-1',1,500,-5,now(),now())`)
	steward := accessConnect(t, addr, "sam")
	analyst := accessConnect(t, addr, "alice")
	clear := func(what string, rows [][]string) {
		t.Helper()
		s := fmt.Sprint(rows)
		if !strings.Contains(strings.ToLower(s), "example.com") {
			t.Fatalf("%s: the steward should see clear values: %v", what, rows)
		}
	}
	masked := func(what string, rows [][]string) {
		t.Helper()
		if len(rows) == 0 {
			t.Fatalf("%s: no rows", what)
		}
		s := fmt.Sprint(rows)
		if strings.Contains(strings.ToLower(s), "example.com") || strings.Contains(s, "+3311") || strings.Contains(s, "+4477") {
			t.Fatalf("%s: a masked value left the server through a copy: %v", what, rows)
		}
	}
	// raw.<source>: the fields the mappings copy into masked columns.
	const rawQ = `SELECT order_id, customer_email, customer_phone, region FROM raw.oms_orders ORDER BY order_id`
	clear("raw", mustAllow(t, steward, "sam", rawQ))
	rows := mustAllow(t, analyst, "alice", rawQ)
	masked("raw", rows)
	if len(rows) != 2 || rows[0][0] != "o-1" || !hashRE.MatchString(rows[0][1]) || rows[0][2] != "NULL" || rows[0][3] != "eu" {
		t.Fatalf("raw for the analyst: email hashed, phone null, the rest clear: %v", rows)
	}
	masked("raw *", mustAllow(t, analyst, "alice", `SELECT * FROM raw.oms_orders`))
	var buf strings.Builder
	if _, err := analyst.CopyTo(context.Background(), &buf, `COPY raw.oms_orders TO STDOUT`); err != nil || strings.Contains(buf.String(), "example.com") {
		t.Fatalf("COPY raw TO: %v %q", err, buf.String())
	}
	// dualgate.quarantine: the rejected row's payload.
	const qQ = `SELECT entity, rule, payload FROM dualgate.quarantine`
	clear("quarantine", mustAllow(t, steward, "sam", qQ))
	rows = mustAllow(t, analyst, "alice", qQ)
	masked("quarantine", rows)
	if !strings.Contains(rows[0][2], `"customer_email"`) || !strings.Contains(rows[0][2], `"order_id": "o-neg"`) && !strings.Contains(rows[0][2], `"order_id":"o-neg"`) {
		t.Fatalf("quarantine payload keeps its keys and unmasked values: %v", rows)
	}
	// reconcile.exceptions of a rule over a masked column.
	mustAllow(t, steward, "sam", `CALL reconcile.run('email_check')`)
	const eQ = `SELECT key, left_value, right_value, coalesce(difference, '') FROM reconcile.exceptions WHERE rule = 'email_check'`
	clear("exceptions", mustAllow(t, steward, "sam", eQ))
	rows = mustAllow(t, analyst, "alice", eQ)
	masked("exceptions", rows)
	if !strings.Contains(rows[0][0], `"o-1"`) || !hashRE.MatchString(rows[0][1]) || !hashRE.MatchString(rows[0][2]) {
		t.Fatalf("exceptions for the analyst: key clear, values hashed: %v", rows)
	}
	// serving.<projection>: a column computed from a masked canonical
	// column is masked though the catalog declares no mask on it (and the
	// fast path masks it too); the steward sees it clear.
	const pQ = `SELECT order_id, contact, region FROM serving.contact_board WHERE order_id = 'o-1'`
	clear("projection", awaitServed(t, steward, pQ, 1))
	rows = mustAllow(t, analyst, "alice", pQ)
	masked("projection", rows)
	if !hashRE.MatchString(rows[0][1]) || rows[0][2] != "EU" {
		t.Fatalf("projection for the analyst: contact hashed, region clear: %v", rows)
	}
	res := analyst.ExecParams(context.Background(), `SELECT contact FROM serving.contact_board WHERE order_id = $1`, [][]byte{[]byte("o-1")}, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 || !hashRE.MatchString(string(res.Rows[0][0])) {
		t.Fatalf("projection fast path for the analyst: %v %q", res.Err, res.Rows)
	}
	// The check of has_table_privilege and writes: masks on copies do not
	// make raw unwritable for a masked role that may ingest.
	if rows := mustAllow(t, analyst, "alice", `SELECT has_table_privilege('raw.oms_orders', 'SELECT'), has_column_privilege('raw.oms_orders', 'customer_email', 'SELECT')`); strings.Join(rows[0], ",") != "t,t" {
		t.Fatalf("privileges on raw: %v", rows)
	}
}

// TestAuditUnparsed: statements that do not parse (simple and extended
// protocol, and text the scanner cannot tokenize) are in dualgate.audit
// with their SQLSTATE and without their literals.
func TestAuditUnparsed(t *testing.T) {
	addr := startPrimary(t, "")
	analyst := accessConnect(t, addr, "alice")
	for _, q := range []string{
		`SELEC status FROM canonical.commercial_orders WHERE customer_email = 'ann@example.com'`,
		`SELECT status FROM canonical.commercial_orders WHERE customer_email = 'ann@example.com`,
	} {
		if _, err := accessQuery(t, analyst, q); err == nil {
			t.Fatalf("%s: parsed", q)
		}
	}
	if _, err := analyst.Prepare(context.Background(), "bad", `SELECT FROM WHERE 'ann@example.com' 42`, nil); err == nil {
		t.Fatal("bad statement prepared")
	}
	auditor := accessConnect(t, addr, "audrey")
	rows := mustAllow(t, auditor, "audrey", `SELECT user_name, role, statement, sqlstate, relations, fingerprint FROM dualgate.audit WHERE sqlstate <> '00000' ORDER BY seq`)
	if len(rows) != 3 {
		t.Fatalf("want 3 records of unparsable statements, got %v", rows)
	}
	for i, r := range rows {
		if r[0] != "alice" || r[1] != "analyst" || r[3] == "" || r[3] == "00000" || r[4] != "" || len(r[5]) != 16 ||
			strings.Contains(r[2], "ann@") || strings.Contains(r[2], "42") {
			t.Errorf("record %d: %v", i+1, r)
		}
	}
	if rows[0][2] != "SELEC status FROM canonical.commercial_orders WHERE customer_email = ?" || rows[0][3] != "42601" {
		t.Errorf("scannable text is recorded with literals masked: %v", rows[0])
	}
	if !strings.HasPrefix(rows[1][2], "(not scannable, ") {
		t.Errorf("unscannable text: %v", rows[1])
	}
	t.Logf("%v", rows)
}

// TestRelayAudit: CALL dualgate.relay_audit appends a sidecar's records to
// the trail, marked with who relayed them, for relay_audit only (admin
// does not include it: a forged record would hide what someone saw); a
// malformed batch is refused whole with 22023.
func TestRelayAudit(t *testing.T) {
	addr := startPrimaryCatalog(t, "", governanceCatalog(t))
	admin := accessConnect(t, addr, "ops")
	mustDeny(t, admin, "ops", `CALL dualgate.relay_audit('[]')`, "dualgate.relay_audit", "relay_audit")
	sid := accessConnect(t, addr, "sid")
	mustDeny(t, sid, "sid", `SELECT * FROM dualgate.audit`, "dualgate.audit", "audit")
	for batch, want := range map[string]string{
		`not json`: "not a JSON array of records",
		`[{"at":"2026-01-02T03:04:05Z","user":"eve","stmt":"SELECT ?","state":"00000","extra":1}]`: "unknown field",
		`[{"at":"2026-01-02T03:04:05Z","user":"","stmt":"SELECT ?","state":"00000"}]`:              "record 1 has no user",
		`[{"at":"2026-01-02T03:04:05Z","user":"eve","stmt":"SELECT ?","state":"0"}]`:               `record 1 has a state "0" that is not a SQLSTATE`,
	} {
		res := sid.ExecParams(context.Background(), `CALL dualgate.relay_audit($1)`, [][]byte{[]byte(batch)}, nil, nil, nil).Read()
		var pe *pgconn.PgError
		if !errors.As(res.Err, &pe) || pe.Code != "22023" || !strings.Contains(pe.Message, want) {
			t.Fatalf("batch %s: %v, want 22023 saying %q", batch, res.Err, want)
		}
	}
	recs := []gateway.AuditRecord{
		{At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), User: "alice", Role: "analyst", ApplicationName: "shop-api", ClientAddr: "10.0.0.7",
			Fingerprint: "00000000000000aa", Statement: "SELECT status FROM serving.order_timeline WHERE order_id = ?",
			Relations: []string{"serving.order_timeline"}, Authority: "derived", AsOf: 7, Rows: 1, Duration: 300 * time.Microsecond, SQLState: "00000"},
		{At: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), User: "alice", Statement: "SELECT * FROM canonical.commercial_orders", SQLState: "42501"},
	}
	batch, err := gateway.EncodeAuditBatch(recs)
	if err != nil {
		t.Fatal(err)
	}
	res := sid.ExecParams(context.Background(), `CALL dualgate.relay_audit($1)`, [][]byte{[]byte(batch)}, nil, nil, nil).Read()
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	auditor := accessConnect(t, addr, "audrey")
	rows := mustAllow(t, auditor, "audrey", `SELECT user_name, role, application_name, client_addr, statement, relations, coalesce(authority, ''), as_of, rows, duration_ms, sqlstate, via
		FROM dualgate.audit WHERE via IS NOT NULL ORDER BY seq`)
	want := [][]string{
		{"alice", "analyst", "shop-api", "10.0.0.7", "SELECT status FROM serving.order_timeline WHERE order_id = ?", "serving.order_timeline", "derived", "7", "1", "0.3", "00000", "relayed by sid from 127.0.0.1"},
		{"alice", "", "", "", "SELECT * FROM canonical.commercial_orders", "", "", "0", "0", "0", "42501", "relayed by sid from 127.0.0.1"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("relayed records:\n got %q\nwant %q", rows, want)
	}
	if rows := mustAllow(t, auditor, "audrey", `CALL dualgate.verify_audit()`); len(rows) != 1 || rows[0][0] != "t" {
		t.Fatalf("verify_audit: %v", rows)
	}
}

// TestRowFilterCopies: a filter on canonical.commercial_orders follows the
// rows' copies: raw.oms_orders through the mapping's expressions (the raw
// region is lower case, the entity's upper case), serving projections
// through their plain copies of region (a projection that computes its
// rows otherwise shows none), and quarantine rows and exceptions that could
// carry other rows are hidden.
func TestRowFilterCopies(t *testing.T) {
	addr := startPrimaryCatalog(t, "", governanceCatalog(t))
	ingestor := accessConnect(t, addr, "oms_connector")
	mustAllow(t, ingestor, "oms_connector", `INSERT INTO raw.oms_orders VALUES
  ('e1','o-eu',1,'SUBMITTED','c1','ann@example.com','+3311','web','eu','eur','sku-1',2,500,1000,now() - interval '1 day',now() - interval '1 day'),
  ('e2','o-na',1,'SUBMITTED','c2','bob@example.com','+1555','web','na','usd','sku-2',1,700,700,now() - interval '1 day',now() - interval '1 day'),
  ('e3','o-bad',1,'SUBMITTED','c3','cy@example.com','+1556','web','na','usd','sku-2',1,700,-5,now() - interval '1 day',now() - interval '1 day')`)
	eve := accessConnect(t, addr, "eve")
	steward := accessConnect(t, addr, "sam")
	if rows := mustAllow(t, eve, "eve", `SELECT order_id FROM canonical.commercial_orders ORDER BY 1`); !reflect.DeepEqual(rows, [][]string{{"o-eu"}}) {
		t.Fatalf("canonical: %v", rows)
	}
	if rows := mustAllow(t, eve, "eve", `SELECT order_id, region FROM raw.oms_orders ORDER BY 1`); !reflect.DeepEqual(rows, [][]string{{"o-eu", "eu"}}) {
		t.Fatalf("raw follows the filter through the mapping: %v", rows)
	}
	if rows := mustAllow(t, steward, "sam", `SELECT count(*) FROM raw.oms_orders`); rows[0][0] != "3" {
		t.Fatalf("the steward, unfiltered, sees every raw row: %v", rows)
	}
	// contact_board copies region as is; order_timeline too (its scalar
	// subqueries do not change its rows).
	awaitServed(t, steward, `SELECT order_id FROM serving.contact_board`, 2)
	if rows := mustAllow(t, eve, "eve", `SELECT order_id, region FROM serving.contact_board ORDER BY 1`); !reflect.DeepEqual(rows, [][]string{{"o-eu", "EU"}}) {
		t.Fatalf("serving.contact_board follows the filter: %v", rows)
	}
	awaitServed(t, steward, `SELECT order_id FROM serving.order_timeline`, 2)
	if rows := mustAllow(t, eve, "eve", `SELECT order_id FROM serving.order_timeline ORDER BY 1`); !reflect.DeepEqual(rows, [][]string{{"o-eu"}}) {
		t.Fatalf("serving.order_timeline follows the filter: %v", rows)
	}
	res := eve.ExecParams(context.Background(), `SELECT order_id FROM serving.order_timeline WHERE order_id = $1`, [][]byte{[]byte("o-na")}, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 0 {
		t.Fatalf("the fast path follows the filter: %v %q", res.Err, res.Rows)
	}
	// daily_sales_mart aggregates by region: its rows are not copies of
	// order rows, so it shows the filtered session none.
	if rows := mustAllow(t, eve, "eve", `SELECT count(*) FROM serving.daily_sales_mart`); rows[0][0] != "0" {
		t.Fatalf("an aggregate projection fails closed: %v", rows)
	}
	// The rejected order (negative total) is in quarantine: hidden from eve.
	if rows := mustAllow(t, steward, "sam", `SELECT count(*) FROM dualgate.quarantine WHERE source = 'oms_orders'`); rows[0][0] == "0" {
		t.Fatalf("no quarantined row to hide: %v", rows)
	}
	if rows := mustAllow(t, eve, "eve", `SELECT count(*) FROM dualgate.quarantine WHERE source = 'oms_orders'`); rows[0][0] != "0" {
		t.Fatalf("quarantine of a filtered entity's source: %v", rows)
	}
	// Exceptions of a rule reading commercial_orders are hidden.
	mustAllow(t, steward, "sam", `CALL reconcile.run('email_check')`)
	if rows := mustAllow(t, steward, "sam", `SELECT count(*) FROM reconcile.exceptions WHERE rule = 'email_check'`); rows[0][0] == "0" {
		t.Fatalf("no exception to hide: %v", rows)
	}
	if rows := mustAllow(t, eve, "eve", `SELECT count(*) FROM reconcile.exceptions WHERE rule = 'email_check'`); rows[0][0] != "0" {
		t.Fatalf("exceptions of a rule over a filtered entity: %v", rows)
	}
	// Appending to raw is still allowed to a filtered ingestor (nothing is
	// revealed by an INSERT); eve has no ingest grant, so 42501 here names
	// ingest, not the filter.
	mustDeny(t, eve, "eve", `INSERT INTO raw.oms_orders (event_id) VALUES ('x')`, "raw.oms_orders", "ingest")
}
