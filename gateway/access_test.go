package gateway

import (
	"testing"

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
