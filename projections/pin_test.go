package projections

import "testing"

func TestPinAsOf(t *testing.T) {
	cases := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT o.a FROM canonical.orders o LEFT JOIN canonical.ships AS s USING (a)",
			"SELECT o.a FROM canonical.orders FOR SYSTEM_TIME AS OF 7 o LEFT JOIN canonical.ships FOR SYSTEM_TIME AS OF 7 AS s USING (a)"},
		{"WITH x AS (SELECT * FROM canonical.t) SELECT 'canonical.t', (SELECT count(*) FROM canonical . \"t\" WHERE t.a = x.a) FROM x, raw.s",
			"WITH x AS (SELECT * FROM canonical.t FOR SYSTEM_TIME AS OF 7) SELECT 'canonical.t', (SELECT count(*) FROM canonical . \"t\" FOR SYSTEM_TIME AS OF 7 WHERE t.a = x.a) FROM x, raw.s"},
	}
	for _, c := range cases {
		got, err := PinAsOf(c.in, 7)
		if err != nil || got != c.want {
			t.Errorf("PinAsOf(%q)\n got %q, %v\nwant %q", c.in, got, err, c.want)
		}
	}
	if _, err := PinAsOf("SELEC 1", 1); err == nil {
		t.Error("syntax error not reported")
	}
}
