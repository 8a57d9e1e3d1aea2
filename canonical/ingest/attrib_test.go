package ingest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dualgate/dualgate/catalog"
)

func TestAttributedQuery(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want string
	}{
		{"SELECT order_id, lower(status) AS status FROM batch WHERE line_no = 1 ORDER BY _seq", true, "batch._seq AS __dg_seq FROM batch"},
		{"SELECT b.order_id FROM batch b", true, "b._seq AS __dg_seq"},
		{"SELECT order_id, (SELECT max(x) FROM batch) AS m FROM batch", true, "__dg_seq"},
		{"SELECT order_id, sum(total) AS total FROM batch GROUP BY order_id", false, ""},
		{"SELECT count(*) AS n FROM batch", false, ""},
		{"SELECT DISTINCT order_id FROM batch", false, ""},
		{"SELECT a.order_id FROM batch a JOIN batch b USING (order_id)", false, ""},
		{"SELECT order_id FROM batch UNION SELECT order_id FROM batch", false, ""},
		{"SELECT order_id, row_number() OVER () AS n FROM batch", false, ""},
	} {
		got, ok := attributedQuery(tc.in)
		if ok != tc.ok || (ok && !strings.Contains(got, tc.want)) {
			t.Errorf("%s: got %q %v", tc.in, got, ok)
		}
	}
}

func TestConform(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		in   any
		want string
		err  bool
	}{
		{"integer", int64(40000), "40000", false},
		{"smallint", int32(40000), "", true},
		{"numeric(5,2)", "123.456", "123.46", false},
		{"numeric(5,2)", "1234.5", "", true},
		{"varchar(3)", "abcd", "", true},
		{"char(3)", "EUR", "EUR", false},
		{"bigint", "12x", "", true},
		{"boolean", int8(1), "true", false},
		{"jsonb", `{"a":1}`, `{"a":1}`, false},
		{"json", `{"a":`, "", true},
		{"date", "2026-03-01", "2026-03-01 00:00:00 +0000 UTC", false},
	} {
		ty, err := parseType(tc.typ)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Conform(ty, tc.in)
		if (err != nil) != tc.err {
			t.Errorf("%s %v: err %v", tc.typ, tc.in, err)
			continue
		}
		if err == nil {
			if s := toString(got); s != tc.want {
				t.Errorf("%s %v: got %q want %q", tc.typ, tc.in, s, tc.want)
			}
		}
	}
}

func parseType(s string) (catalog.Type, error) { return catalog.ParseType(s) }

func toString(v any) string { return fmt.Sprint(v) }
