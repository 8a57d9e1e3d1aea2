package gateway

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/testdata"
)

// TestPrincipalMasksAndGrants resolves the demo catalog's users: roles,
// grants, masks (history and diff inherit canonical's), and the rule that
// a user mapped to no role is unrestricted only under trust.
func TestPrincipalMasksAndGrants(t *testing.T) {
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	a := NewAccess(cat, nil)
	alice := a.principal("alice", false)
	if alice.all || alice.masks["canonical.commercial_orders"]["customer_email"] != "hash" ||
		alice.masks["history.commercial_orders"]["customer_phone"] != "null" ||
		alice.masks["diff.commercial_orders"]["from_customer_email"] != "hash" {
		t.Fatalf("alice: %+v", alice.masks)
	}
	if !alice.canRead("canonical", "commercial_orders") || alice.canRead("raw", "oms_orders") || alice.canWrite("canonical", "commercial_orders") {
		t.Fatal("alice's grants")
	}
	sam := a.principal("sam", false)
	if len(sam.masks) != 0 || !sam.canWrite("canonical", "commercial_orders") {
		t.Fatalf("sam: %v", sam)
	}
	ops := a.principal("ops", false)
	if !ops.canRead("raw", "oms_orders") || ops.canRead("dualgate", "audit") || !a.principal("audrey", false).canRead("dualgate", "audit") {
		t.Fatal("admin reads all but the audit trail; the auditor reads it")
	}
	if a.principal("stranger", false).canRead("canonical", "commercial_orders") {
		t.Fatal("an authenticated user without roles has no privileges")
	}
	if !a.principal("stranger", true).all {
		t.Fatal("an unmapped trust user is the local operator")
	}
	if NewAccess(nil, nil).principal("x", false).all != true {
		t.Fatal("no policies: everything allowed")
	}
}

func TestMaskValue(t *testing.T) {
	for _, c := range []struct {
		method string
		in     any
		want   any
	}{
		{"redact", "ann@example.com", "***"},
		{"last4", "+33612345678", "********5678"},
		{"last4", "1234", "****"},
		{"null", "x", nil},
		{"hash", int64(5), nil},
		{"redact", nil, nil},
	} {
		if got := maskValue(c.method, c.in, []byte("k")); got != c.want {
			t.Errorf("%s(%v) = %v, want %v", c.method, c.in, got, c.want)
		}
	}
	h1, h2 := maskValue("hash", "a", []byte("k")), maskValue("hash", "a", []byte("k"))
	if h1 != h2 || len(h1.(string)) != 32 || h1 == maskValue("hash", "a", []byte("other")) {
		t.Fatalf("hash: %v %v", h1, h2)
	}
}

func TestMaskLiterals(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT * FROM t WHERE a = 'x''y' AND b = 42 -- secret`:      `SELECT * FROM t WHERE a = ? AND b = ?`,
		`SELECT * FROM canonical.o AS OF 'HEAD~1' WHERE id=$1`:       `SELECT * FROM canonical.o AS OF ? WHERE id=$1`,
		`/* hi */ INSERT INTO raw.s VALUES (1.5, E'\n', B'101', x)`:  `INSERT INTO raw.s VALUES (?, ?, ?, x)`,
		`SET dualgate.commit_message = 'booked in the wrong region'`: `SET dualgate.commit_message = ?`,
	} {
		if got := maskLiterals(in); got != want {
			t.Errorf("maskLiterals(%q) = %q, want %q", in, got, want)
		}
	}
}

// testCatalog is the demo catalog with edits applied.
func testCatalog(t *testing.T, edits ...string) *catalog.Catalog {
	t.Helper()
	const file = "catalog/commercial_order_lifecycle.yaml"
	b, err := fs.ReadFile(testdata.Catalog, file)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(src, edits[i]) {
			t.Fatalf("demo catalog lacks %q", edits[i])
		}
		src = strings.Replace(src, edits[i], edits[i+1], 1)
	}
	cat, err := catalog.LoadFS(fstest.MapFS{file: {Data: []byte(src)}}, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// TestColumnGrantsResolve: column-limited relations, history/diff limited
// by canonical's column grant, and a role reading the whole relation
// lifting the limit (privileges are a union).
func TestColumnGrantsResolve(t *testing.T) {
	cat := testCatalog(t, "policies:\n  roles:\n", `policies:
  roles:
    partner:
      grants:
        - {privilege: read, on: canonical.commercial_orders, columns: [order_id, status]}
        - {privilege: read, on: history}
`, "  users:\n", "  users:\n    pat: [partner]\n    pia: [partner, analyst]\n")
	a := NewAccess(cat, nil)
	pat := a.principal("pat", false)
	if c := pat.limitedColumns("canonical", "commercial_orders"); len(c) != 2 || !c["status"] || c["customer_email"] {
		t.Fatalf("canonical: %v", c)
	}
	if c := pat.limitedColumns("history", "commercial_orders"); !c["status"] || !c["commit_id"] || c["customer_email"] {
		t.Fatalf("history: %v", c)
	}
	if pat.limitedColumns("diff", "commercial_orders") != nil || pat.canRead("diff", "commercial_orders") {
		t.Fatal("diff is not granted to the partner at all")
	}
	if pat.limitedColumns("history", "shipment_executions") != nil || !pat.canRead("history", "shipment_executions") {
		t.Fatal("history of other entities stays whole")
	}
	if !columnPrivilege(pat, "canonical", "commercial_orders", "status", "SELECT") || columnPrivilege(pat, "canonical", "commercial_orders", "region", "SELECT") ||
		tablePrivilege(pat, "canonical", "commercial_orders", "SELECT") {
		t.Fatal("privilege functions")
	}
	if pia := a.principal("pia", false); pia.limitedColumns("canonical", "commercial_orders") != nil {
		t.Fatal("the analyst role reads the relation whole: no limit")
	}
}

// TestCopyMasks: masks on canonical columns follow into the raw fields the
// mappings read, quarantine payload keys, and exceptions of rules over
// masked columns; they do not make raw unwritable.
func TestCopyMasks(t *testing.T) {
	cat := testCatalog(t, "reconciliations:\n", `reconciliations:
  email_check:
    level: record
    left: SELECT order_id, customer_email FROM canonical.commercial_orders
    right: SELECT order_id, customer_email AS customer_email FROM raw.oms_orders
    match: [order_id]
    grace: 0s
    repair: none
  phone_check:
    level: record
    left: SELECT o.order_id AS customer_phone, x.sku AS status FROM canonical.commercial_orders o, canonical.order_lines x
    right: SELECT order_id AS customer_phone, status FROM raw.oms_orders
    match: [customer_phone]
    grace: 0s
    repair: none
  raw_email:
    level: record
    left: SELECT order_id, lower(customer_email) AS e FROM raw.oms_orders
    right: SELECT order_id, customer_email AS e FROM canonical.commercial_orders
    match: [order_id]
    grace: 0s
    repair: none
`)
	a := NewAccess(cat, nil)
	alice := a.principal("alice", false)
	cm := alice.copies
	if cm == nil || cm.raw["raw.oms_orders"]["customer_email"] != "hash" || cm.raw["raw.oms_orders"]["customer_phone"] != "null" ||
		cm.raw["raw.oms_orders"]["order_id"] != "" {
		t.Fatalf("raw masks: %+v", cm)
	}
	if cm.quarantine["commercial_orders"]["customer_email"] != "hash" || cm.quarantine["oms_orders"]["customer_phone"] != "null" {
		t.Fatalf("quarantine masks: %v", cm.quarantine)
	}
	if rm := cm.rules["email_check"]; rm.method != "hash" || rm.key {
		t.Fatalf("email_check: %+v", rm)
	}
	if rm := cm.rules["raw_email"]; rm.method != "hash" {
		t.Fatalf("raw_email: %+v", rm)
	}
	if _, ok := cm.rules["phone_check"]; ok {
		t.Fatal("phone_check reads no masked column")
	}
	if alice.hasMasks("raw", "oms_orders") {
		t.Fatal("derived masks must not make raw unwritable")
	}
	if a.principal("sam", false).copies != nil {
		t.Fatal("the steward has no masks")
	}
	// The quarantine masker on a payload.
	sch := sql.Schema{{Name: "source"}, {Name: "entity"}, {Name: "payload"}}
	row := cm.quarantineMasker(sch)(sql.Row{"oms_orders", "commercial_orders", `{"customer_email":"a@b","order_id":"o-1","customer_phone":"+1"}`}, []byte("k"))
	doc, _ := row[2].(types.JSONDocument)
	m, _ := doc.Val.(map[string]any)
	if m["order_id"] != "o-1" || m["customer_phone"] != nil || m["customer_email"] != maskValue("hash", "a@b", []byte("k")) {
		t.Fatalf("payload: %v", row[2])
	}
	if row := cm.quarantineMasker(sch)(sql.Row{"oms_orders", "commercial_orders", `[1]`}, nil); row[2] != nil {
		t.Fatalf("a payload that is no object: %v", row[2])
	}
}

func TestUnscannable(t *testing.T) {
	got := maskLiterals(`SELECT * FROM t WHERE a = 'secret`)
	if got != "(not scannable, 33 bytes) SELECT * FROM t WHERE a =…" {
		t.Fatalf("%q", got)
	}
	if got := maskLiterals("SELECT x1 FROM t WHERE a = 'é"); strings.Contains(got, "é") || !strings.Contains(got, "SELECT x…") {
		t.Fatalf("%q", got)
	}
}
