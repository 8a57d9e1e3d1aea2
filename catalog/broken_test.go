package catalog

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const reconSection = `reconciliations:
  status_check:
    level: record
    left: SELECT order_id, status FROM canonical.orders
    right: SELECT order_id, status FROM serving.order_status
    match: [order_id]
    grace: 5s
    repair: rebuild
`

const policySection = `policies:
  roles:
    analyst:
      grants:
        - {privilege: read, on: canonical.orders}
  masks:
    - {column: canonical.orders.status, role: analyst, method: hash}
  users:
    alice: [analyst]
`

// markerPos returns the 1-based line:col of the n-th occurrence of marker in s.
func markerPos(t *testing.T, s, marker string, n int) string {
	t.Helper()
	off := -1
	for i, from := 0, 0; i < n; i++ {
		j := strings.Index(s[from:], marker)
		if j < 0 {
			t.Fatalf("marker %q (#%d) not in catalog", marker, n)
		}
		off = from + j
		from = off + 1
	}
	line := strings.Count(s[:off], "\n") + 1
	col := utf8.RuneCountInString(s[strings.LastIndex(s[:off], "\n")+1:off]) + 1
	return fmt.Sprintf("%d:%d", line, col)
}

func TestBrokenCatalogs(t *testing.T) {
	full := base + reconSection + policySection
	cases := []struct {
		name     string
		old, new string // edit applied to full (old must occur)
		at       string // the error points at the first character of this text in the edited file ("" = not checked)
		atN      int    // occurrence of at (default 1)
		want     string // substring of the error line
	}{
		{"unknown key", "    dedupe_key: [event_id]", "    dedupe_keys: [event_id]", "dedupe_keys", 0,
			`unknown key "dedupe_keys" in source orders_feed; did you mean "dedupe_key"?`},
		{"unknown top-level key", "owner: shop-team", "ownr: shop-team", "ownr", 0, `unknown key "ownr" in the catalog file; did you mean "owner"?`},
		{"bad column type", "total_cents: bigint, occurred_at", "total_cents: bigintt, occurred_at", "bigintt", 0,
			`column "total_cents": "bigintt" is not a supported Postgres type; did you mean "bigint"?`},
		{"non-postgres type", "status: text, total_cents: bigint, occurred_at", "status: string, total_cents: bigint, occurred_at", "string", 0,
			`"string" is not a supported Postgres type; use a Postgres type: text,`},
		{"default on a source column", "total_cents: bigint, occurred_at", "total_cents: {type: bigint, default: 0}, occurred_at", "0}", 0,
			`source orders_feed column "total_cents": default is not supported here`},
		{"default not of the column type", "total_cents: bigint, accepted_at", "total_cents: {type: bigint, default: lots}, accepted_at", "lots", 0,
			`entity orders column "total_cents": default "lots": not an integer; write a constant of type bigint`},
		{"default expression", "accepted_at: timestamptz}", "accepted_at: {type: timestamptz, default: \"now()\"}}", "\"now()", 0,
			`default "now()": not a timestamp (YYYY-MM-DD[ HH:MM:SS[.ffffff]][±HH[:MM]]); write a constant of type timestamptz (expressions such as now() are not supported)`},
		{"bad type modifier", "total_cents: bigint, accepted_at", "total_cents: \"numeric(2,4)\", accepted_at", "\"numeric(2,4)", 0, `numeric scale 4 exceeds precision 2`},
		{"list where a map is needed", "    columns: {order_id: text, status: text, total_cents: bigint, accepted_at: timestamptz}",
			"    columns: [order_id, status]", "[order_id, status]", 0, "entity orders.columns must be a mapping, not a list"},
		{"scalar where a list is needed", "    mappings:\n      - source: orders_feed", "    mappings: orders_feed\n    x:\n      - source: orders_feed", "orders_feed\n", 0,
			"entity orders.mappings must be a list, not a scalar"},
		{"key not a column", "    key: [order_id]\n    columns: {order_id", "    key: [order_no]\n    columns: {order_id", "order_no", 0,
			`entity orders key: "order_no" is not a column; did you mean "order_id"?`},
		{"index column not a column", "    key: [order_id]\n    columns: {order_id", "    key: [order_id]\n    indexes: {by_state: [state]}\n    columns: {order_id", "state]", 0,
			`entity orders index by_state: "state" is not a column; did you mean "status"?`},
		{"dedupe key not a column", "dedupe_key: [event_id]", "dedupe_key: [evt_id]", "evt_id", 0, `source orders_feed dedupe_key: "evt_id" is not a column`},
		{"invalid name", "  orders:\n    description", "  Orders:\n    description", "Orders", 0, `invalid entity name "Orders"; names become Postgres identifiers`},
		{"reserved column name", "accepted_at: timestamptz}", "accepted_at: timestamptz, user: text}", "user", 0, `column name "user" is a reserved word in Postgres`},
		{"history column collision", "accepted_at: timestamptz}", "accepted_at: timestamptz, source: text}", "source: text", 0, `entity column "source" collides with a history system column`},
		{"unknown mapping source", "      - source: orders_feed", "      - source: order_feed", "order_feed", 0,
			`entity orders mapping from order_feed: unknown source "order_feed"; did you mean "orders_feed"?`},
		{"mapping SQL syntax error", "AS accepted_at FROM batch", "AS accepted_at FORM batch", "FORM", 0, `select: SQL does not parse: syntax error at or near "FORM"`},
		{"mapping misses a column", "lower(status) AS status, total_cents, occurred_at", "lower(status) AS status, occurred_at", "SELECT order_id, lower", 0,
			"select does not produce column(s) total_cents; add them to the select list"},
		{"mapping misses the key", "select: SELECT order_id, lower(status)", "select: SELECT lower(status)", "SELECT lower", 0, "select does not produce key column(s) order_id"},
		{"mapping extra column", "total_cents, occurred_at AS accepted_at", "total_cents, 1 AS extra, occurred_at AS accepted_at", "1 AS extra", 0,
			`output column "extra" is not a column of orders`},
		{"mapping unnamed expression", "lower(status) AS status,", "lower(status),", "lower(status)", 0, "output expression has no column name; name it with AS <entity column>"},
		{"mapping star", "SELECT order_id, lower(status) AS status, total_cents, occurred_at AS accepted_at FROM batch", "SELECT * FROM batch", "*", 0,
			"SELECT * is not allowed in mappings"},
		{"mapping reads another relation", "AS accepted_at FROM batch", "AS accepted_at FROM raw.orders_feed", "raw.orders_feed", 0,
			"reads raw.orders_feed; mappings read only the relation batch"},
		{"mapping references unknown batch column", "status, total_cents, occurred_at AS", "status, total_cent AS total_cents, occurred_at AS", "total_cent AS", 0,
			`"total_cent" is not a column of source orders_feed; did you mean "total_cents"?`},
		{"mapping type mismatch", "total_cents, occurred_at AS accepted_at FROM", "status AS total_cents, occurred_at AS accepted_at FROM", "status AS total_cents", 0,
			"source column status (text) does not fit entity column total_cents (bigint); convert it explicitly"},
		{"mapping cast mismatch", "total_cents, occurred_at AS accepted_at FROM", "total_cents, occurred_at::date::text AS accepted_at FROM", "occurred_at::date::text", 0,
			"cast to text does not fit entity column accepted_at (timestamptz)"},
		{"mapping not a select", "select: SELECT order_id, lower(status) AS status, total_cents, occurred_at AS accepted_at FROM batch", "select: DELETE FROM batch", "DELETE", 0,
			"expected a SELECT statement"},
		{"duplicate mapping version", "FROM batch\nprojections:", "FROM batch\n      - source: orders_feed\n        version: 1\n        select: SELECT order_id, status, total_cents, occurred_at AS accepted_at FROM batch\nprojections:",
			"1\n        select: SELECT order_id, status", 0, "entity orders mapping from orders_feed: version 1 declared twice; bump the version"},
		{"delete_when unknown column", "AS accepted_at FROM batch\n", "AS accepted_at FROM batch\n        delete_when: state = 'gone'\n", "state = 'gone'", 0,
			`delete_when: "state" is not a column; did you mean "status"?`},
		{"projection reads raw", "FROM canonical.orders o\n", "FROM raw.orders_feed o\n", "raw.orders_feed o", 0,
			"projection order_status: reads raw.orders_feed; projections read canonical.<entity> only"},
		{"projection reads unknown entity", "FROM canonical.orders o\n", "FROM canonical.order o\n", "canonical.order o", 0,
			`reads unknown entity canonical.order; did you mean "orders"?`},
		{"projection unqualified entity", "FROM canonical.orders o\n", "FROM orders o\n", "orders o", 0, "reads orders; qualify it: canonical.orders"},
		{"projection key not an output", "    key: [order_id]\n    freshness_sla", "    key: [id]\n    freshness_sla", "id]\n    fresh", 0,
			`projection order_status: key column "id" is not an output column of select`},
		{"projection unknown column", "SELECT o.order_id, o.status FROM", "SELECT o.order_id, o.state AS status FROM", "o.state", 0,
			`projection order_status: "state" is not a column of canonical.orders; did you mean "status"?`},
		{"projection SQL error position in a block", "    select: SELECT o.order_id, o.status FROM canonical.orders o\n", "    select: |\n      SELECT o.order_id,\n             o.status\n      FROM canonical.orders o WHERE o.status = = 'x'\n", "= 'x'", 0,
			`select: SQL does not parse: syntax error at or near "="`},
		{"affected_by unknown entity", "affected_by: {orders: order_id}", "affected_by: {orders: order_id, shipments: order_id}", "shipments", 0,
			`affected_by names unknown entity "shipments"`},
		{"affected_by unknown column", "affected_by: {orders: order_id}", "affected_by: {orders: order_no}", "order_no}", 0,
			`affected_by.orders: "order_no" is not a column of orders; did you mean "order_id"?`},
		{"affected_by wrong arity", "affected_by: {orders: order_id}", "affected_by: {orders: [order_id, status]}", "orders: [", 0,
			"affected_by.orders has 2 column(s) but the key has 1"},
		{"affected_by missing", "    affected_by: {orders: order_id}\n", "", "order_status:", 0, `projection order_status: missing required key "affected_by"`},
		{"transition column not a column", "{column: status,", "{column: state,", "state,", 0, `transitions: column "state" is not a column of orders`},
		{"transition state never entered", "allowed: {accepted:", "initial: [new], allowed: {accepted:", "accepted:", 0,
			`state "accepted" can never be entered`},
		{"rule SQL syntax error", `check: "total_cents >= 0"`, `check: "total_cents >= >= 0"`, ">= 0\"", 0, `rule non_negative_total check: SQL does not parse: syntax error at or near ">="`},
		{"rule is not one expression", `check: "total_cents >= 0"`, `check: "total_cents >= 0; DROP TABLE x"`, "", 0, "not a single SQL boolean expression"},
		{"rule unknown column", `check: "total_cents >= 0"`, `check: "total >= 0"`, "total >= 0", 0, `check: "total" is not a column; did you mean "total_cents"?`},
		{"rule subquery", `check: "total_cents >= 0"`, `check: "total_cents >= (SELECT 1)"`, `"total_cents >= (`, 0, "check contains a subquery; rules are row-local"},
		{"unknown severity", `check: "total_cents >= 0"}`, `check: "total_cents >= 0", severity: fatal}`, "fatal", 0, `unknown severity "fatal"`},
		{"bad duration", "freshness_sla: 2s", "freshness_sla: 2 seconds", "2 seconds", 0, `freshness_sla: bad duration "2 seconds"`},
		{"unknown level", "level: record", "level: records", "records", 0, `unknown level "records"; did you mean "record"?`},
		{"match not an output", "match: [order_id]", "match: [order_no]", "order_no]", 0, `match column "order_no" is not an output column of left`},
		{"reconciliation unknown relation", "FROM serving.order_status", "FROM serving.order_statuses", "serving.order_statuses", 0,
			`right: unknown relation serving.order_statuses; did you mean "order_status"?`},
		{"reconciliation unqualified relation", "FROM canonical.orders\n    right", "FROM orders\n    right", "orders\n    right", 0, "left: unqualified relation orders"},
		{"tolerance not a decimal", "    grace: 5s\n", "    grace: 5s\n    tolerance: {absolute: lots}\n", "lots", 0, `tolerance.absolute "lots" is not a decimal`},
		{"tolerance negative", "    grace: 5s\n", "    grace: 5s\n    tolerance: {relative: -0.1}\n", "-0.1", 0, "tolerance.relative is negative"},
		{"unknown repair", "repair: rebuild", "repair: rebuilt", "rebuilt", 0, `unknown repair "rebuilt"; did you mean "rebuild"?`},
		{"bad grace duration", "grace: 5s", "grace: soon", "soon", 0, `grace: bad duration "soon"`},
		{"temporal without sla", "level: record", "level: temporal", "status_check:", 0, "temporal reconciliations need sla"},
		{"dsn with password", "    grace: 5s\n", "    grace: 5s\n    right_dsn: postgres://u:secret@legacy:5432/mart\n", "postgres://", 0, "right_dsn contains a password"},
		{"grant unknown relation", "on: canonical.orders}", "on: canonical.ordres}", "canonical.ordres", 0, `unknown relation canonical.ordres; did you mean "orders"?`},
		{"grant unknown schema", "on: canonical.orders}", "on: canon}", "canon}", 0, `unknown schema "canon"; did you mean "canonical"?`},
		{"grant unknown privilege", "privilege: read", "privilege: select", "select, on", 0, `unknown privilege "select"`},
		{"grant write on a projection", "{privilege: read, on: canonical.orders}", "{privilege: write, on: serving.order_status}", "serving.order_status}", 0,
			"projections are written only by the materializer"},
		{"grant ingest on canonical", "{privilege: read, on: canonical.orders}", "{privilege: ingest, on: canonical.orders}", "canonical.orders}", 0,
			"grant ingest: cannot be granted on canonical.orders; ingest is granted on raw or raw.<source>"},
		{"grant unknown column", "{privilege: read, on: canonical.orders}", "{privilege: read, on: canonical.orders, columns: [order_id, stauts]}", "stauts", 0,
			`grant read: "stauts" is not a column of canonical.orders; did you mean "status"?`},
		{"grant columns of a schema", "{privilege: read, on: canonical.orders}", "{privilege: read, on: canonical, columns: [order_id]}", "order_id]}", 0,
			"grant read: columns need a relation, not the whole schema canonical"},
		{"grant columns not read", "{privilege: read, on: canonical.orders}", "{privilege: admin, on: canonical.orders, columns: [order_id]}", "order_id]}", 0,
			"grant admin: only read can be granted on columns"},
		{"grant column named twice", "{privilege: read, on: canonical.orders}", "{privilege: read, on: canonical.orders, columns: [status, status]}", "status]", 0,
			`grant read: column "status" is named twice`},
		{"grant column twice over", "{privilege: read, on: canonical.orders}", "{privilege: read, on: canonical.orders.status, columns: [order_id]}", "columns: [order_id]}", 0,
			`on "canonical.orders.status" already names a column`},
		{"grant empty columns", "{privilege: read, on: canonical.orders}", "{privilege: read, on: canonical.orders, columns: []}", "columns: []", 0,
			"columns is empty"},
		{"mask unknown column", "column: canonical.orders.status", "column: canonical.orders.email", "canonical.orders.email", 0,
			`mask: "email" is not a column of canonical.orders`},
		{"mask unknown method", "method: hash", "method: md5", "md5", 0, `unknown method "md5"`},
		{"mask unknown role", "role: analyst, method", "role: analysts, method", "analysts", 0, `role "analysts" is not declared in policies.roles; did you mean "analyst"?`},
		{"user unknown role", "alice: [analyst]", "alice: [analyst, stewart]", "stewart", 0, `user alice: role "stewart" is not declared`},
		{"YAML syntax error", "    key: [order_id]\n    columns: {order_id", "    key: [order_id\n    columns: {order_id", "", 0, "YAML syntax error"},
		{"duplicate key", "    description: An order.\n", "    description: An order.\n    description: Again.\n", "description: Again", 0, `duplicate key "description"`},
		{"alias not supported", "    description: An order.\n", "    description: *x\n", "*x", 0, "YAML aliases are not supported"},
		{"missing context", "context: shop\n", "", "", 0, `missing required key "context"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(full, tc.old) {
				t.Fatalf("edit target %q not in base catalog", tc.old)
			}
			src := strings.Replace(full, tc.old, tc.new, 1)
			_, errs := loadString(t, src)
			if errs == nil {
				t.Fatalf("catalog loaded; want error %q", tc.want)
			}
			t.Log("\n" + errs.Error()) // visible with -v: the messages as users see them
			var found *Error
			for _, e := range errs {
				if strings.Contains(e.Error(), tc.want) {
					found = e
					break
				}
			}
			if found == nil {
				t.Fatalf("no error contains %q; got:\n%v", tc.want, errs)
			}
			if !strings.HasPrefix(found.Error(), "shop.yaml:") {
				t.Errorf("error does not start with the file name: %v", found)
			}
			if tc.at != "" {
				n := tc.atN
				if n == 0 {
					n = 1
				}
				want := markerPos(t, src, tc.at, n)
				got := fmt.Sprintf("%d:%d", found.Pos.Line, found.Pos.Col)
				if got != want {
					t.Errorf("error at %s, want %s (%q): %v", got, want, tc.at, found)
				}
			}
			if found.Hint == "" {
				t.Errorf("error has no fix hint: %v", found)
			}
		})
	}
}

func TestManyErrorsAtOnce(t *testing.T) {
	src := base
	for _, e := range [][2]string{
		{"dedupe_key: [event_id]", "dedupe_key: [evt_id]"},
		{"total_cents: bigint, accepted_at", "total_cents: money, accepted_at"},
		{`check: "total_cents >= 0"`, `check: "total_cents >="`},
		{"freshness_sla: 2s", "freshness_sla: fast"},
		{"FROM canonical.orders o", "FROM canonical.nope o"},
	} {
		src = strings.Replace(src, e[0], e[1], 1)
	}
	_, errs := loadString(t, src)
	if len(errs) < 5 {
		t.Fatalf("want at least 5 errors, got %d:\n%v", len(errs), errs)
	}
	lines := strings.Split(errs.Error(), "\n")
	if len(lines) != len(errs) {
		t.Errorf("Error() should print one error per line")
	}
	for _, want := range []string{"shop.yaml:6:18: source orders_feed dedupe_key", "shop.yaml:11:", "shop.yaml:13:", "shop.yaml:21:20", "shop.yaml:22:"} {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, want)
		}
		if !found {
			t.Errorf("no error starting with %q in:\n%v", want, errs)
		}
	}
	for i := 1; i < len(errs); i++ {
		if errs[i].Pos.Line < errs[i-1].Pos.Line {
			t.Errorf("errors not in line order:\n%v", errs)
		}
	}
	report, ok := Check(writeFile(t, t.TempDir(), "shop.yaml", src))
	if ok || !strings.Contains(report, fmt.Sprintf("catalog invalid: %d errors", len(errs))) {
		t.Errorf("Check: ok=%v\n%s", ok, report)
	}
}

func TestDuplicatesAcrossContexts(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", base)
	writeFile(t, dir, "b.yaml", strings.Replace(base, "context: shop", "context: shop_copy", 1))
	_, err := Load(dir)
	if err == nil {
		t.Fatal("duplicate sources/entities/projections across contexts accepted")
	}
	for _, want := range []string{
		"b.yaml:4:3: duplicate source \"orders_feed\"; rename one: both would be raw.orders_feed",
		"b.yaml:8:3: duplicate entity \"orders\"",
		"b.yaml:19:3: duplicate projection \"order_status\"",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	writeFile(t, dir, "b.yaml", base)
	_, err = Load(dir)
	if err == nil || !strings.Contains(err.Error(), `b.yaml:1:1: duplicate context "shop"`) {
		t.Errorf("duplicate context: %v", err)
	}
}

func TestServingTables(t *testing.T) {
	serving := `serving_tables:
  cart_events:
    description: Cart clicks from the web shop.
    authoritative: false
    key: [cart_id, seq]
    columns: {cart_id: text, seq: bigint, payload: jsonb}
    writers: [analyst]
    retention: 7d
`
	full := base + serving + policySection
	c, errs := loadString(t, strings.Replace(full, "on: canonical.orders}", "on: serving.cart_events}", 1))
	if errs != nil {
		t.Fatal(errs)
	}
	st := c.ServingTable("cart_events")
	if st == nil || st.Retention != 7*24*time.Hour || st.Writers[0] != "analyst" || st.Relation() != "serving.cart_events" {
		t.Fatalf("serving table %+v", st)
	}
	for _, tc := range []struct{ old, new, at, want string }{
		{"authoritative: false", "authoritative: true", "true", "serving tables are never authoritative"},
		{"writers: [analyst]", "writers: [writer]", "writer]", `writer role "writer" is not declared in policies.roles`},
		{"key: [cart_id, seq]", "key: [cart_id, sequence]", "sequence", `serving table cart_events key: "sequence" is not a column; did you mean "seq"?`},
		{"cart_events:", "order_status:", "order_status:\n    description: Cart", `serving table "order_status" has the name of a projection`},
		{"payload: jsonb}", "payload: json}\n    x: 1", "x: 1", `unknown key "x" in serving table cart_events`},
	} {
		src := strings.Replace(full, tc.old, tc.new, 1)
		_, errs := loadString(t, src)
		var found *Error
		for _, e := range errs {
			if strings.Contains(e.Error(), tc.want) {
				found = e
			}
		}
		if found == nil {
			t.Errorf("no error %q in:\n%v", tc.want, errs)
			continue
		}
		if want := markerPos(t, src, tc.at, 1); fmt.Sprintf("%d:%d", found.Pos.Line, found.Pos.Col) != want {
			t.Errorf("%q at %v, want %s", tc.want, found.Pos, want)
		}
	}
}

// TestColumnGrants loads both forms of a column grant: columns: [...] next
// to a relation, and the one-column shorthand schema.relation.column.
func TestColumnGrants(t *testing.T) {
	src := strings.Replace(base+reconSection+policySection, "{privilege: read, on: canonical.orders}",
		"{privilege: read, on: canonical.orders, columns: [order_id, Status]}\n        - {privilege: read, on: history.orders.total_cents}", 1)
	c, errs := loadString(t, src)
	if errs != nil {
		t.Fatal(errs)
	}
	gs := c.Grants("analyst")
	if len(gs) != 2 || gs[0].Relation != "orders" || strings.Join(gs[0].Columns, ",") != "order_id,status" ||
		gs[1].Schema != "history" || strings.Join(gs[1].Columns, ",") != "total_cents" {
		t.Fatalf("grants: %+v %+v", gs[0], gs[1])
	}
}

// TestColumnFeedsAndSelectReads: the column lineage masks follow.
func TestColumnFeedsAndSelectReads(t *testing.T) {
	c, errs := loadString(t, base+reconSection+policySection)
	if errs != nil {
		t.Fatal(errs)
	}
	if f := c.ColumnFeeds("orders", "status"); len(f) != 1 || strings.Join(f["orders_feed"], ",") != "status" {
		t.Fatalf("feeds of orders.status: %v", f)
	}
	if f := c.ColumnFeeds("orders", "accepted_at"); strings.Join(f["orders_feed"], ",") != "occurred_at" {
		t.Fatalf("feeds of orders.accepted_at: %v", f)
	}
	reads, ok := SelectReads(`SELECT o.order_id, lower(s.status) AS st, total FROM canonical.orders o JOIN serving.order_status s USING (order_id)`)
	if !ok || strings.Join(reads["canonical.orders"], ",") != "order_id,total" || strings.Join(reads["serving.order_status"], ",") != "status,total" {
		t.Fatalf("reads: %v", reads)
	}
	if reads, ok := SelectReads(`SELECT * FROM raw.x`); !ok || reads["raw.x"][0] != "*" {
		t.Fatalf("star: %v", reads)
	}
	if _, ok := SelectReads(`SELEC 1`); ok {
		t.Fatal("unparsable SQL analyzed")
	}
}
