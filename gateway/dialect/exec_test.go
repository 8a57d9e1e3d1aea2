package dialect

import (
	"strings"
	"testing"

	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// pgExec translates Postgres SQL and runs each statement on te.
func (te *testEngine) pg(q string, binds map[string]sqlparser.Expr) ([]string, error) {
	te.t.Helper()
	stmts, err := Parse(q)
	if err != nil {
		return nil, err
	}
	var rows []string
	for _, st := range stmts {
		if st.Engine == "" {
			te.t.Fatalf("%q: no engine text (kind %v)", q, st.Kind)
		}
		rows, err = te.run(st.Engine, binds)
		if err != nil {
			return nil, &engineErr{st.Engine, err}
		}
	}
	return rows, nil
}

type engineErr struct {
	q   string
	err error
}

func (e *engineErr) Error() string { return e.err.Error() + "\n    engine SQL: " + e.q }

const fixture = `
CREATE TABLE emp (id int PRIMARY KEY, name text NOT NULL, dept text, salary numeric(10,2), boss int, hired date);
INSERT INTO emp VALUES
 (1, 'Ann', 'eng', 100.50, NULL, '2020-01-15'),
 (2, 'Bob', 'eng', 90.00, 1, '2021-03-01'),
 (3, 'Cid', 'ops', NULL, 1, '2019-07-30'),
 (4, 'Dee', NULL, 70.25, 2, NULL),
 (5, 'o''Neil\x', 'ops', 80.00, 3, '2022-12-31');
CREATE TABLE dept (code text PRIMARY KEY, title text);
INSERT INTO dept VALUES ('eng', 'Engineering'), ('ops', 'Operations'), ('hr', 'People');
`

func newFixture(t *testing.T) *testEngine {
	te := newTestEngine(t)
	if _, err := te.pg(fixture, nil); err != nil {
		t.Fatal(err)
	}
	return te
}

func TestExecSelect(t *testing.T) {
	te := newFixture(t)
	cases := []struct {
		name, q string
		want    string // rows joined by ";"
	}{
		{"where-order", `SELECT id, name FROM emp WHERE salary > 75 ORDER BY salary DESC`, "1|Ann;2|Bob;5|o'Neil\\x"},
		{"nulls-last-asc", `SELECT id FROM emp ORDER BY salary`, "4;5;2;1;3"},
		{"nulls-first-desc", `SELECT id FROM emp ORDER BY salary DESC`, "3;1;2;5;4"},
		{"nulls-explicit", `SELECT id FROM emp ORDER BY dept NULLS FIRST, id DESC`, "4;2;1;5;3"},
		{"order-alias-ordinal", `SELECT id, salary AS s FROM emp ORDER BY s, 1 DESC`, "4|70.25;5|80.00;2|90.00;1|100.50;3|NULL"},
		{"inner-join-on", `SELECT e.name, d.title FROM emp e JOIN dept d ON d.code = e.dept ORDER BY e.id`, "Ann|Engineering;Bob|Engineering;Cid|Operations;o'Neil\\x|Operations"},
		{"left-join", `SELECT d.code, count(e.id) FROM dept d LEFT JOIN emp e ON e.dept = d.code GROUP BY d.code ORDER BY 1`, "eng|2;hr|0;ops|2"},
		{"right-join", `SELECT d.code FROM emp e RIGHT JOIN dept d ON e.dept = d.code WHERE e.id IS NULL`, "hr"},
		{"full-join", `SELECT e.id, d.code FROM emp e FULL JOIN dept d ON e.dept = d.code ORDER BY e.id, d.code`, "1|eng;2|eng;3|ops;4|NULL;5|ops;NULL|hr"},
		{"using", `SELECT count(*) FROM emp JOIN (SELECT code AS dept FROM dept) x USING (dept)`, "4"},
		{"cross-comma", `SELECT count(*) FROM emp, dept`, "15"},
		{"cross-join", `SELECT count(*) FROM emp CROSS JOIN dept`, "15"},
		{"subquery-from", `SELECT m FROM (SELECT max(id) AS m FROM emp) AS s`, "5"},
		{"subquery-scalar", `SELECT name, (SELECT title FROM dept WHERE code = emp.dept) FROM emp WHERE id = 1`, "Ann|Engineering"},
		{"exists", `SELECT code FROM dept d WHERE NOT EXISTS (SELECT 1 FROM emp WHERE dept = d.code)`, "hr"},
		{"in-subquery", `SELECT id FROM emp WHERE dept IN (SELECT code FROM dept WHERE title LIKE 'O%') ORDER BY id`, "3;5"},
		{"eq-any-subquery", `SELECT id FROM emp WHERE boss = ANY (SELECT id FROM emp WHERE dept = 'ops') ORDER BY id`, "5"},
		{"ne-all-subquery", `SELECT code FROM dept WHERE code <> ALL (SELECT dept FROM emp WHERE dept IS NOT NULL)`, "hr"},
		{"eq-any-array", `SELECT id FROM emp WHERE id = ANY(ARRAY[2, 4]) ORDER BY id`, "2;4"},
		{"not-in-subquery-null-lhs", `SELECT id FROM emp WHERE boss NOT IN (SELECT boss FROM emp WHERE id > 3) ORDER BY id`, "2;3"},
		{"not-in-subquery-null-rhs", `SELECT count(*) FROM dept WHERE code NOT IN (SELECT dept FROM emp)`, "0"},
		{"not-in-subquery-value", `SELECT id, boss NOT IN (SELECT boss FROM emp WHERE id > 3) FROM emp ORDER BY id`, "1|NULL;2|true;3|true;4|false;5|false"},
		{"not-exists-and", `SELECT id FROM emp WHERE dept IN (SELECT code FROM dept) AND NOT EXISTS (SELECT 1 FROM emp e2 WHERE e2.boss = emp.id)`, "5"},
		{"in-list", `SELECT id FROM emp WHERE id NOT IN (1, 2, 3) ORDER BY 1`, "4;5"},
		{"group-having", `SELECT dept, sum(salary) FROM emp GROUP BY dept HAVING count(*) > 1 ORDER BY dept`, "eng|190.50;ops|80.00"},
		{"limit-offset", `SELECT id FROM emp ORDER BY id LIMIT 2 OFFSET 1`, "2;3"},
		{"offset-only", `SELECT id FROM emp ORDER BY id OFFSET 3`, "4;5"},
		{"fetch-first", `SELECT id FROM emp ORDER BY id FETCH FIRST 2 ROWS ONLY`, "1;2"},
		{"distinct", `SELECT DISTINCT dept FROM emp ORDER BY dept`, "eng;ops;NULL"},
		{"distinct-on", `SELECT DISTINCT ON (dept) dept, name FROM emp ORDER BY dept, salary DESC`, "eng|Ann;ops|Cid;NULL|Dee"},
		{"union", `SELECT dept FROM emp UNION SELECT code FROM dept ORDER BY 1`, "eng;hr;ops;NULL"},
		{"union-all", `SELECT 1 UNION ALL SELECT 1`, "1;1"},
		{"intersect", `SELECT dept FROM emp INTERSECT SELECT code FROM dept ORDER BY dept`, "eng;ops"},
		{"intersect-all", `SELECT x FROM (VALUES (1), (1), (2)) v(x) INTERSECT ALL SELECT x FROM (VALUES (1), (1), (3)) w(x)`, "1;1"},
		{"window-named-ref", `SELECT id, sum(id) OVER (w ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM emp WINDOW w AS (ORDER BY id) ORDER BY id LIMIT 3`, "1|1;2|3;3|5"},
		{"window-named", `SELECT id, sum(id) OVER w FROM emp WINDOW w AS (ORDER BY id) ORDER BY id LIMIT 3`, "1|1;2|3;3|6"},
		{"except", `SELECT code FROM dept EXCEPT SELECT dept FROM emp`, "hr"},
		{"except-all", `SELECT x FROM (VALUES (1), (1), (2)) v(x) EXCEPT ALL SELECT 1`, "1;2"},
		{"values", `VALUES (1, 'a'), (2, 'b') ORDER BY 1 DESC`, "2|b;1|a"},
		{"values-from", `SELECT y, x FROM (VALUES (1, 'a'), (2, 'b')) AS t (x, y) ORDER BY x`, "a|1;b|2"},
		{"cte", `WITH e AS (SELECT * FROM emp WHERE dept = 'eng') SELECT count(*) FROM e`, "2"},
		{"cte-recursive", `WITH RECURSIVE chain(id, boss, depth) AS (SELECT id, boss, 0 FROM emp WHERE id = 5 UNION ALL SELECT e.id, e.boss, c.depth + 1 FROM emp e JOIN chain c ON e.id = c.boss) SELECT id, depth FROM chain ORDER BY depth`, "5|0;3|1;1|2"},
		{"window", `SELECT id, row_number() OVER (PARTITION BY dept ORDER BY id DESC), sum(id) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM emp ORDER BY id`, "1|2|1;2|1|3;3|2|5;4|1|7;5|1|9"},
		{"window-nulls", `SELECT id, rank() OVER (ORDER BY salary) FROM emp ORDER BY id`, "1|4;2|3;3|5;4|1;5|2"},
		{"case-searched", `SELECT id, CASE WHEN salary >= 90 THEN 'high' WHEN salary IS NULL THEN 'none' ELSE 'low' END FROM emp ORDER BY id`, "1|high;2|high;3|none;4|low;5|low"},
		{"case-simple", `SELECT CASE dept WHEN 'eng' THEN 1 WHEN 'ops' THEN 2 ELSE 0 END FROM emp ORDER BY id`, "1;1;2;0;2"},
		{"casts", `SELECT '42'::int4 + 1, CAST('3.456' AS numeric(5,2)), 7::text || 'x', '2024-02-03'::date, '2024-02-03 04:05:06.5'::timestamp, 1.5::float8`, "43|3.46|7x|2024-02-03 00:00:00 +0000 UTC|2024-02-03 04:05:06.5 +0000 UTC|1.5"},
		{"cast-varchar-truncates", `SELECT 'abcdef'::varchar(3), 'abcdef'::text`, "abc|abcdef"},
		{"cast-timestamptz-offset", `SELECT '2024-01-01 10:00:00+02'::timestamptz, '2024-01-01T10:00:00Z'::timestamptz, '2024-01-01 10:00:00+02'::timestamp, '2024-01-01 10:00:00.123456'::timestamp(3)`, "2024-01-01 08:00:00 +0000 UTC|2024-01-01 10:00:00 +0000 UTC|2024-01-01 10:00:00 +0000 UTC|2024-01-01 10:00:00.123 +0000 UTC"},
		{"cast-numeric-text", `SELECT '12.5'::numeric * 2, 3::numeric, '0.10'::numeric`, "25.0|3|0.10"},
		{"lateral", `SELECT s.x, l.y FROM (SELECT 1 AS x) s, LATERAL (SELECT s.x + 1 AS y) l`, "1|2"},
		{"order-by-agg-alias", `SELECT dept, count(*) AS n FROM emp GROUP BY dept ORDER BY n DESC, dept`, "eng|2;ops|2;NULL|1"},
		{"table-stmt", `TABLE dept`, "eng|Engineering;hr|People;ops|Operations"},
		{"bool-casts", `SELECT 'yes'::bool, 'off'::boolean, 0::bool, 't'::text::bool`, "true|false|false|true"},
		{"quoted-idents", `SELECT "Name" FROM (SELECT name AS "Name" FROM emp WHERE id = 1) q`, "Ann"},
		{"concat", `SELECT name || '-' || dept FROM emp WHERE id = 1`, "Ann-eng"},
		{"ilike", `SELECT id FROM emp WHERE name ILIKE 'a%' OR name NOT ILIKE '%O%' ORDER BY id`, "1;3;4"},
		{"like-case-sensitive", `SELECT 'abc' LIKE 'A%', 'abc' LIKE 'a%'`, "false|true"},
		{"like-escape", `SELECT 'a_b' LIKE 'a\_b', 'axb' LIKE 'a\_b', 'a%' LIKE 'a!%' ESCAPE '!'`, "true|false|true"},
		{"distinct-from", `SELECT id FROM emp WHERE dept IS DISTINCT FROM 'eng' ORDER BY id`, "3;4;5"},
		{"not-distinct-from", `SELECT id FROM emp WHERE dept IS NOT DISTINCT FROM NULL`, "4"},
		{"nullif-coalesce", `SELECT nullif(dept, 'eng'), coalesce(salary, 0) FROM emp WHERE id IN (1, 3) ORDER BY id`, "NULL|100.50;ops|0.00"},
		{"greatest-least", `SELECT greatest(1, NULL, 3), least(NULL, 2, 5), greatest(NULL, NULL)`, "3|2|NULL"},
		{"between", `SELECT id FROM emp WHERE id BETWEEN 2 AND 3 OR id NOT BETWEEN 1 AND 4 ORDER BY id`, "2;3;5"},
		{"between-symmetric", `SELECT 2 BETWEEN SYMMETRIC 3 AND 1`, "true"},
		{"strings", `SELECT 'a\b', E'c\\d', E'e\'f', 'it''s'`, "a\\b|c\\d|e'f|it's"},
		{"backslash-data", `SELECT name FROM emp WHERE name = 'o''Neil\x'`, "o'Neil\\x"},
		{"numeric-exact", `SELECT 0.1 + 0.2, 1.50 * 2`, "0.3|3.00"},
		{"int-division", `SELECT 7 / 2, 7.0 / 2, -7 / 2`, "3|3.50000|-3"},
		{"typed-literals", `SELECT date '2024-01-01' + interval '1 day', timestamp '2024-01-01 10:00:00' - interval '2 hours'`, "2024-01-02 00:00:00 +0000 UTC|2024-01-01 08:00:00 +0000 UTC"},
		{"interval-multi", `SELECT timestamp '2024-01-01 00:00:00' + interval '1 day 02:30:00', timestamp '2024-01-01 00:00:00' - interval '1 hour 30 minutes', timestamp '2024-01-01 00:00:00' + interval '1.5 seconds', date '2024-03-31' + interval '1 month', timestamp '2024-01-08 00:00:00' + interval '1 week ago'`, "2024-01-02 02:30:00 +0000 UTC|2023-12-31 22:30:00 +0000 UTC|2024-01-01 00:00:01.5 +0000 UTC|2024-04-30 00:00:00 +0000 UTC|2024-01-01 00:00:00 +0000 UTC"},
		{"booleans", `SELECT true AND NOT false, 1 = 1 IS TRUE, NULL::bool IS UNKNOWN`, "true|true|true"},
		{"regex", `SELECT 'abc' ~ 'b', 'ABC' ~* 'b', 'abc' !~ 'z'`, "true|true|true"},
		{"power", `SELECT 2 ^ 3`, "8"},
		{"functions", `SELECT length('héllo'), lower('AB'), upper('ab'), abs(-2), floor(2.7), ceil(2.1), round(2.345, 2), position('b' in 'abc'), substring('abcdef' from 2 for 3), trim(both 'x' from 'xxaxbxx'), btrim('  a  '), ltrim('zzaz', 'z'), strpos('abc', 'c'), concat('a', NULL, 'b')`, "5|ab|AB|2|2|3|2.35|2|bcd|axb|a|az|3|ab"},
		{"more-functions", `SELECT split_part('a,b,c', ',', 2), split_part('a,b,c', ',', -1), initcap('hello wORLD'), regexp_replace('aaa', 'a', 'b'), regexp_replace('aAa', 'a', 'b', 'gi'), length(gen_random_uuid()::text), to_timestamp(86400)`, "b|c|Hello World|baa|bbb|36|1970-01-02 00:00:00 +0000 UTC"},
		{"at-time-zone-utc", `SELECT timestamp '2024-01-01 10:00:00' AT TIME ZONE 'UTC'`, "2024-01-01 10:00:00 +0000 UTC"},
		{"operator-syntax", `SELECT 'abc' OPERATOR(pg_catalog.~) 'b'`, "true"},
		{"three-part-column", `SELECT "public"."emp"."name" AS "name" FROM "public"."emp" WHERE "public"."emp"."id" = 1`, "Ann"},
		{"json-build", `SELECT json_build_object('a', 1)->>'a', jsonb_build_array(1, 'x')->>1`, "1|x"},
		{"string-agg", `SELECT string_agg(name, ', ' ORDER BY name DESC) FROM emp WHERE dept = 'eng'`, "Bob, Ann"},
		{"string-agg-long", `SELECT length(string_agg(repeat('x', 100), '')) FROM generate_series(1, 50)`, "5000"},
		{"array-agg", `SELECT array_agg(id ORDER BY id), array_agg(dept ORDER BY id) FROM emp`, "{1,2,3,4,5}|{eng,eng,ops,NULL,ops}"},
		{"array-agg-quote", `SELECT array_agg(x) FROM (VALUES ('a b'), ('c"d')) v(x)`, `{"a b","c\"d"}`},
		{"agg-filter", `SELECT count(*) FILTER (WHERE dept = 'eng'), sum(id) FILTER (WHERE id > 3) FROM emp`, "2|9"},
		{"bool-agg", `SELECT bool_and(id > 0), bool_or(id > 4) FROM emp`, "true|true"},
		{"date-funcs", `SELECT date_trunc('month', timestamp '2024-05-17 10:11:12'), extract(year from date '2024-05-17'), date_part('dow', date '2024-05-17'), extract(epoch from timestamp '1970-01-02 00:00:00')`, "2024-05-01 00:00:00 +0000 UTC|2024|5|86400"},
		{"to-char", `SELECT to_char(timestamp '2024-05-07 13:04:05.123', 'YYYY-MM-DD HH24:MI:SS.MS Mon FMDay FMDD'), to_char(1234.5, 'FM9999.00')`, "2024-05-07 13:04:05.123 May Tuesday 7|1234.50"},
		{"generate-series", `SELECT g FROM generate_series(1, 10, 3) g`, "1;4;7;10"},
		{"generate-series-ts", `SELECT d FROM generate_series(timestamp '2024-01-31 00:00:00', timestamp '2024-04-30 00:00:00', interval '1 month') AS d`, "2024-01-31 00:00:00 +0000 UTC;2024-02-29 00:00:00 +0000 UTC;2024-03-31 00:00:00 +0000 UTC;2024-04-30 00:00:00 +0000 UTC"},
		{"generate-series-ts-hours", `SELECT count(*) FROM generate_series('2024-01-01 00:00'::timestamp, '2024-01-01 12:00'::timestamp, '1 hour 30 minutes'::interval)`, "9"},
		{"generate-series-col", `SELECT sum(n) FROM generate_series(1, 4) AS s(n)`, "10"},
		{"current-schema", `SELECT current_schema(), current_schema`, "public|public"},
		{"version", `SELECT version() LIKE 'PostgreSQL 15.0 (dualgate %'`, "true"},
		{"session-user", `SELECT current_user, session_user, user`, "alice|alice|alice"},
		{"backend-pid-default", `SELECT pg_backend_pid()`, "77"},
		{"current-database", `SELECT current_database(), current_catalog`, "dualgate|dualgate"},
		{"now", `SELECT now() IS NOT NULL, current_timestamp IS NOT NULL, current_date IS NOT NULL, localtimestamp IS NOT NULL`, "true|true|true|true"},
		{"collate-c", `SELECT name FROM emp WHERE id = 1 ORDER BY name COLLATE "C"`, "Ann"},
		{"row-compare", `SELECT (1, 2) = (1, 2)`, "true"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := Parse(c.q)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			rows, err := te.run(st[0].Engine, nil)
			if err != nil {
				t.Fatalf("engine: %v\n  engine SQL: %s", err, st[0].Engine)
			}
			got := strings.Join(boolRows(rows, st[0].ResultTypes), ";")
			if got != c.want {
				t.Errorf("got  %s\nwant %s\n  engine SQL: %s", got, c.want, st[0].Engine)
			}
		})
	}
}

// boolRows renders columns the translator typed as boolean the way the
// gateway will (t/f from 1/0), as true/false.
func boolRows(rows []string, types []uint32) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		cols := strings.Split(r, "|")
		for j := range cols {
			if j < len(types) && types[j] == 16 {
				switch cols[j] {
				case "1", "true":
					cols[j] = "true"
				case "0", "false":
					cols[j] = "false"
				}
			}
		}
		out[i] = strings.Join(cols, "|")
	}
	return out
}

func TestExecSessionValues(t *testing.T) {
	te := newTestEngine(t)
	te.mustExec("SET @dualgate_backend_pid = 4242, @dualgate_database = 'analytics'")
	rows, err := te.pg(`SELECT pg_backend_pid(), current_database()`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows, ";"); got != "4242|analytics" {
		t.Errorf("got %s", got)
	}
}

func TestExecErrors(t *testing.T) {
	te := newFixture(t)
	for _, q := range []string{
		`SELECT 1 / 0`,
		`SELECT 1.5 / 0`,
		`SELECT 'garbage'::timestamptz`,
	} {
		if rows, err := te.pg(q, nil); err == nil {
			t.Errorf("%s: want an error, got %v", q, rows)
		}
	}
	rows, err := te.pg(`SELECT - -1, -(2)`, nil)
	if err != nil || strings.Join(rows, ";") != "1|-2" {
		t.Errorf("negation: %v %v", rows, err)
	}
}
