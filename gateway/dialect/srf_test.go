package dialect

import (
	"strings"
	"testing"
)

// TestExecArraySRFs runs the array set-returning functions the catalog
// queries of psql, pgJDBC and SQLAlchemy use, printed over pg_unnest.
func TestExecArraySRFs(t *testing.T) {
	te := newTestEngine(t)
	if _, err := te.pg(`CREATE TABLE ix (id int PRIMARY KEY, indkey text, opts text);
		INSERT INTO ix VALUES (1, '2 1', '{fillfactor=70,"a b"}'), (2, '3', NULL), (3, '', '{}')`, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, q, want string }{
		{"unnest-from", `SELECT x FROM unnest('{a,"b c",NULL}') x`, "a,b c,NULL"},
		{"unnest-from-ordinality", `SELECT u, o FROM pg_catalog.unnest('{a,b}') WITH ORDINALITY AS t(u, o)`, "a|1,b|2"},
		{"unnest-zip", `SELECT a, b FROM unnest('{1,2,3}', '{x}') AS t(a, b)`, "1|x,2|NULL,3|NULL"},
		{"unnest-correlated-array", `SELECT id, array(SELECT 'toast.' || x FROM pg_catalog.unnest(opts) x) FROM ix ORDER BY id`,
			`1|{toast.fillfactor=70,"toast.a b"},2|{},3|{}`},
		{"select-list-lockstep", `SELECT id, unnest(indkey) AS attnum, generate_subscripts(indkey, 1) AS ord FROM ix ORDER BY id, ord`,
			"1|2|0,1|1|1,2|3|0"},
		{"select-list-no-from", `SELECT unnest('{a,b}')`, "a,b"},
		{"expandarray", `SELECT id, (information_schema._pg_expandarray(indkey)).n AS n, (information_schema._pg_expandarray(indkey)).x AS x FROM ix ORDER BY id, n`,
			"1|1|2,1|2|1,2|1|3"},
		{"expandarray-record", `SELECT r.id, r.keys, (r.keys).x, (r.keys).n FROM (SELECT id, information_schema._pg_expandarray(indkey) AS keys FROM ix) r WHERE (r.keys).n = 2`,
			"1|(1,2)|1|2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := te.pg(tc.q, nil)
			if err != nil {
				t.Fatalf("%s: %v", tc.q, err)
			}
			if got := strings.Join(rows, ","); got != tc.want {
				t.Errorf("%s\n got %s\nwant %s", tc.q, got, tc.want)
			}
		})
	}
	for _, q := range []string{
		`SELECT count(*), unnest(indkey) FROM ix`,
		`SELECT unnest(indkey) FROM ix GROUP BY id`,
		`SELECT 1 + (unnest(indkey)::int) FROM ix WHERE unnest(indkey) = '1'`,
	} {
		if _, err := Parse(q); err == nil || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("%s: %v, want 0A000", q, err)
		}
	}
}

// TestExecBitOperators checks the integer bit operators (signed results).
func TestExecBitOperators(t *testing.T) {
	te := newTestEngine(t)
	for q, want := range map[string]string{
		`SELECT 6 & 3, 6 | 3, 6 # 3, 1 << 4, 32 >> 2, ~5, -1 & -2`:                            "2|7|5|16|8|-6|-2",
		`SELECT CASE (v & 1::smallint) WHEN 1 THEN 'D' ELSE 'A' END FROM (SELECT '3' AS v) q`: "D",
	} {
		rows, err := te.pg(q, nil)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		if got := strings.Join(rows, ","); got != want {
			t.Errorf("%s = %s, want %s", q, got, want)
		}
	}
}
