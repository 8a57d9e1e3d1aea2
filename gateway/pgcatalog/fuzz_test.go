package pgcatalog_test

import (
	"strings"
	"testing"

	"github.com/dualgate/dualgate/gateway/pgcatalog"
)

// FuzzParseIdent feeds parse_ident arbitrary text: it never panics, and
// whatever it accepts strictly prints back (quote_ident, dots) to text it
// parses to the same parts.
func FuzzParseIdent(f *testing.F) {
	for _, s := range []string{`public.orders`, `"Mixed Case".Tbl`, ` a . "b""c" `, `a.`, `"unclosed`, `""`, `x y`, `über.$1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts, err := pgcatalog.ParseIdent(s, true)
		if _, lerr := pgcatalog.ParseIdent(s, false); err == nil && lerr != nil {
			t.Fatalf("%q: strict accepted what lax refused: %v", s, lerr)
		}
		if err != nil {
			return
		}
		quoted := make([]string, len(parts))
		for i, p := range parts {
			quoted[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
		}
		again, err := pgcatalog.ParseIdent(strings.Join(quoted, "."), true)
		if err != nil || strings.Join(again, "\x00") != strings.Join(parts, "\x00") {
			t.Fatalf("%q parsed to %q; re-parsing its quoted form gave %q, %v", s, parts, again, err)
		}
	})
}

// TestParseIdent pins parse_ident's answers (PostgreSQL 15's, by the
// differential script testdata/sql/bi_tools.slt for the common ones).
func TestParseIdent(t *testing.T) {
	for in, want := range map[string]string{
		`public.orders`:     "public|orders",
		`"Mixed Case".Tbl`:  "Mixed Case|tbl",
		` a . "b""c" `:      `a|b"c`,
		`Ünïcode.x`:         "Ünïcode|x",
		`a.b.c`:             "a|b|c",
		`a.`:                "error",
		`.a`:                "error",
		`"unclosed`:         "error",
		`""`:                "error",
		`a b`:               "error",
		`public.orders(id)`: "error",
	} {
		parts, err := pgcatalog.ParseIdent(in, true)
		got := strings.Join(parts, "|")
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("parse_ident(%q) = %q (%v), want %q", in, got, err, want)
		}
	}
}
