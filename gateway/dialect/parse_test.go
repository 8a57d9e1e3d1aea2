package dialect

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dualgate/dualgate/gateway/pgerror"
)

func TestTranslate(t *testing.T) {
	cases := []struct{ in, want string }{
		{`select a, "B" from s.t`, `SELECT "a", "B" FROM "s"."t"`},
		{`select count(*) from t`, `SELECT COUNT(*) AS "count" FROM "t"`},
		{`select $1::int4, $2`, `SELECT CAST(:v1 AS SIGNED) AS "int4", :v2 AS "?column?"`},
		{`select 'a\b'`, `SELECT 'a\\b' AS "?column?"`},
		{`select x from t order by x`, `SELECT "x" FROM "t" ORDER BY ("x" IS NULL), "x"`},
		{`select x from t order by x desc nulls last`, `SELECT "x" FROM "t" ORDER BY ("x" IS NULL), "x" DESC`},
		{`select a || b from t`, `SELECT CONCAT("a", "b") AS "?column?" FROM "t"`},
		{`select a from t where b ilike 'x'`, `SELECT "a" FROM "t" WHERE (LOWER("b") LIKE LOWER('x'))`},
		{`select a is distinct from b`, `SELECT (NOT ("a" <=> "b")) AS "?column?"`},
		{`select x::numeric(10,2), y::timestamptz, z::text`, `SELECT CAST("x" AS DECIMAL(10,2)) AS "x", pg_timestamptz("y") AS "y", pg_text("z") AS "z"`},
		{`insert into t values (1) on conflict do nothing`, `INSERT IGNORE INTO "t" VALUES (1)`},
		{`insert into t default values`, `INSERT INTO "t" () VALUES ()`},
		{`create schema s`, `CREATE DATABASE "s"`},
		{`drop table if exists a, s.b`, `DROP TABLE IF EXISTS "a", "s"."b"`},
		{`create table t (id text primary key, body text)`, `CREATE TABLE "t" ("id" VARCHAR(255) NOT NULL PRIMARY KEY, "body" LONGTEXT)`},
		{`select * from t limit all offset 2`, `SELECT * FROM "t" LIMIT 4611686018427387903 OFFSET 2`},
	}
	for _, c := range cases {
		st, err := Parse(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if st[0].Engine != c.want {
			t.Errorf("%s\n got  %s\n want %s", c.in, st[0].Engine, c.want)
		}
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		in   string
		code string
		pos  int32
	}{
		{`selec 1`, pgerror.SyntaxError, 1},
		{`select 1 from`, pgerror.SyntaxError, 14},
		{`select 'é' frm t`, pgerror.SyntaxError, 16},
		{`insert into t values (1) returning id`, pgerror.FeatureNotSupported, 0},
		{`select x similar to 'a'`, pgerror.FeatureNotSupported, 10},
		{`copy t from '/etc/passwd'`, pgerror.FeatureNotSupported, 0},
		{`copy t to stdout (format binary)`, pgerror.FeatureNotSupported, 0},
		{`select array[1,2]`, pgerror.FeatureNotSupported, 8},
		{`select x < any($1)`, pgerror.FeatureNotSupported, 10},
		{`select 'maybe'::bool`, pgerror.InvalidTextRepresentation, 15},
		{`select * from t for share`, pgerror.FeatureNotSupported, 0},
		{`create table t (a int[])`, pgerror.FeatureNotSupported, 17},
		{`select rank() within group (order by x) from t`, pgerror.FeatureNotSupported, 8},
		{`prepare p as select 1`, pgerror.FeatureNotSupported, 0},
		{`select * from t order by a fetch first 1 rows with ties`, pgerror.FeatureNotSupported, 0},
		{`select $0`, pgerror.UndefinedParameter, 8},
		{`select x at time zone 'Europe/Paris' from (select 1 as x) s`, pgerror.FeatureNotSupported, 0},
		{`create table t (id int default nextval('s'))`, pgerror.FeatureNotSupported, 32},
		{`select 1 union select 2 order by 1 + 1`, pgerror.FeatureNotSupported, 0},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		pe, ok := pgerror.As(err)
		if !ok {
			t.Errorf("%s: error %v is not a *pgerror.Error", c.in, err)
			continue
		}
		if pe.Code != c.code || (c.pos != 0 && pe.Position != c.pos) {
			t.Errorf("%s: got %s at %d (%s), want %s at %d", c.in, pe.Code, pe.Position, pe.Message, c.code, c.pos)
		}
	}
}

func TestSessionStatements(t *testing.T) {
	one := func(q string) Statement {
		t.Helper()
		st, err := Parse(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if len(st) != 1 {
			t.Fatalf("%s: %d statements", q, len(st))
		}
		return st[0]
	}
	kinds := []struct {
		q    string
		kind Kind
		tag  string
	}{
		{`BEGIN`, KindBegin, "BEGIN"},
		{`START TRANSACTION ISOLATION LEVEL SERIALIZABLE`, KindBegin, "START TRANSACTION"},
		{`COMMIT`, KindCommit, "COMMIT"},
		{`END`, KindCommit, "COMMIT"},
		{`ROLLBACK`, KindRollback, "ROLLBACK"},
		{`ABORT`, KindRollback, "ROLLBACK"},
		{`SAVEPOINT s1`, KindSavepoint, "SAVEPOINT"},
		{`RELEASE SAVEPOINT s1`, KindRelease, "RELEASE"},
		{`ROLLBACK TO s1`, KindRollbackTo, "ROLLBACK"},
		{`SHOW ALL`, KindShow, "SHOW"},
		{`DISCARD ALL`, KindDiscard, "DISCARD ALL"},
		{`DEALLOCATE p1`, KindDeallocate, "DEALLOCATE"},
		{`DEALLOCATE ALL`, KindDeallocate, "DEALLOCATE ALL"},
		{`LISTEN x`, KindNoop, "LISTEN"},
		{`UNLISTEN *`, KindNoop, "UNLISTEN"},
		{`SET TRANSACTION ISOLATION LEVEL READ COMMITTED`, KindNoop, "SET"},
		{`SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`, KindNoop, "SET"},
		{`CALL dualgate.verify()`, KindCall, "CALL"},
		{`TRUNCATE t`, KindExec, "TRUNCATE TABLE"},
		{`ALTER TABLE t ADD COLUMN c int`, KindExec, "ALTER TABLE"},
		{`CREATE VIEW v AS SELECT 1`, KindExec, "CREATE VIEW"},
		{`DROP VIEW v`, KindExec, "DROP VIEW"},
		{`CREATE INDEX i ON t (a)`, KindExec, "CREATE INDEX"},
		{` -- nothing`, KindEmpty, ""},
	}
	for _, k := range kinds {
		st := one(k.q)
		if st.Kind != k.kind || st.Tag != k.tag {
			t.Errorf("%s: got kind %d tag %q, want %d %q", k.q, st.Kind, st.Tag, k.kind, k.tag)
		}
	}
	if s := one(`ROLLBACK TO SAVEPOINT sp`); s.Savepoint != "sp" {
		t.Errorf("savepoint %q", s.Savepoint)
	}
	if s := one(`SHOW TIME ZONE`); s.Show != "timezone" {
		t.Errorf("show %q", s.Show)
	}
	if s := one(`show search_path`); s.Show != "search_path" {
		t.Errorf("show %q", s.Show)
	}
	sets := []struct {
		q    string
		want Set
	}{
		{`SET search_path TO canonical, public`, Set{Name: "search_path", Value: []string{"canonical", "public"}}},
		{`SET LOCAL statement_timeout = 5000`, Set{Name: "statement_timeout", Value: []string{"5000"}, Local: true}},
		{`SET SESSION dualgate.as_of = 'HEAD~2'`, Set{Name: "dualgate.as_of", Value: []string{"HEAD~2"}}},
		{`SET TIME ZONE 'UTC'`, Set{Name: "timezone", Value: []string{"UTC"}}},
		{`SET datestyle = DEFAULT`, Set{Name: "datestyle", Reset: true}},
		{`RESET dualgate.as_of`, Set{Name: "dualgate.as_of", Reset: true}},
		{`RESET ALL`, Set{Reset: true, All: true}},
		{`SET extra_float_digits = 3`, Set{Name: "extra_float_digits", Value: []string{"3"}}},
		{`SET application_name = 'psql'`, Set{Name: "application_name", Value: []string{"psql"}}},
	}
	for _, s := range sets {
		st := one(s.q)
		if st.Set == nil || !reflect.DeepEqual(*st.Set, s.want) {
			t.Errorf("%s: got %+v want %+v", s.q, st.Set, s.want)
		}
	}
	call := one(`CALL reconcile.ack(42, 'looked at it')`)
	if !reflect.DeepEqual(*call.Call, Call{Schema: "reconcile", Name: "ack", Args: []string{"42", "'looked at it'"}}) {
		t.Errorf("call %+v", call.Call)
	}
	multi, err := Parse(`BEGIN; INSERT INTO t VALUES (1);COMMIT`)
	if err != nil || len(multi) != 3 || multi[1].Source != "INSERT INTO t VALUES (1)" || multi[2].Source != "COMMIT" {
		t.Errorf("multi: %v %+v", err, multi)
	}
}

func TestCopy(t *testing.T) {
	cases := []struct {
		q    string
		kind Kind
		want Copy
	}{
		{`COPY raw.orders FROM STDIN`, KindCopyFrom, Copy{Table: Relation{Schema: "raw", Name: "orders"}, Format: "text", Delimiter: "\t", Null: `\N`}},
		{`COPY t (a, b) FROM STDIN WITH CSV HEADER DELIMITER ';'`, KindCopyFrom,
			Copy{Table: Relation{Schema: "", Name: "t"}, Columns: []string{"a", "b"}, Format: "csv", Header: true, Delimiter: ";", Null: "", Quote: `"`, Escape: `"`}},
		{`COPY t FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER ',', NULL '', QUOTE '''', ESCAPE '\')`, KindCopyFrom,
			Copy{Table: Relation{Schema: "", Name: "t"}, Format: "csv", Header: true, Delimiter: ",", Null: "", Quote: `'`, Escape: `\`}},
		{`COPY t TO STDOUT WITH (FORMAT csv, FORCE_QUOTE *)`, KindCopyTo,
			Copy{Table: Relation{Schema: "", Name: "t"}, Query: `SELECT * FROM "t"`, Format: "csv", Delimiter: ",", Quote: `"`, Escape: `"`, ForceQuote: []string{"*"}}},
		{`COPY (SELECT a FROM t WHERE b) TO STDOUT`, KindCopyTo,
			Copy{Query: `SELECT "a" FROM "t" WHERE "b"`, Format: "text", Delimiter: "\t", Null: `\N`}},
	}
	for _, c := range cases {
		st, err := Parse(c.q)
		if err != nil {
			t.Errorf("%s: %v", c.q, err)
			continue
		}
		if st[0].Kind != c.kind || st[0].Tag != "COPY" || !reflect.DeepEqual(*st[0].Copy, c.want) {
			t.Errorf("%s:\n got  %d %+v\n want %d %+v", c.q, st[0].Kind, *st[0].Copy, c.kind, c.want)
		}
	}
}

func TestResultTypes(t *testing.T) {
	cases := []struct {
		q     string
		types []uint32
		star  int
	}{
		{`select a = b, a and b, x is null, x is not distinct from y, s like 'a', x in (1), exists (select 1), true, '1'::bool`, []uint32{16, 16, 16, 16, 16, 16, 16, 16, 16}, -1},
		{`select x::int8, x::text, x::numeric, x::date, x::timestamptz, x::uuid, x::jsonb, x::json, x, *`, []uint32{20, 25, 1700, 1082, 1184, 2950, 3802, 114, 0, 0}, 9},
		{`select *, *`, nil, 1},
		{`select array_agg(x::int4), string_agg(s, ',')`, []uint32{1007, 25}, -1},
	}
	for _, c := range cases {
		st, err := Parse(c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		if !reflect.DeepEqual(st[0].ResultTypes, c.types) || st[0].StarIndex != c.star {
			t.Errorf("%s: got %v star %d", c.q, st[0].ResultTypes, st[0].StarIndex)
		}
	}
}

func TestTypeOID(t *testing.T) {
	cases := []struct {
		name   string
		oid    uint32
		typmod int32
	}{
		{"int4", 23, -1}, {"pg_catalog.int4", 23, -1}, {"integer", 23, -1}, {"bigint", 20, -1},
		{"varchar(20)", 1043, 24}, {"character varying", 1043, -1}, {"bool", 16, -1},
		{"timestamptz", 1184, -1}, {"timestamp with time zone", 1184, -1}, {"timestamp(3) without time zone", 1114, 3},
		{"numeric(10,2)", 1700, 10<<16 | 2 + 4}, {"numeric", 1700, -1}, {"text[]", 1009, -1}, {"_int4", 1007, -1},
		{"serial", 23, -1}, {"bigserial", 20, -1}, {"jsonb", 3802, -1}, {"uuid", 2950, -1}, {"double precision", 701, -1},
		{"bytea", 17, -1}, {"interval", 1186, -1}, {"date", 1082, -1}, {"float4", 700, -1}, {"int2[]", 1005, -1},
	}
	for _, c := range cases {
		oid, tm, ok := TypeOID(c.name)
		if !ok || oid != c.oid || tm != c.typmod {
			t.Errorf("%s: got %d %d %v", c.name, oid, tm, ok)
		}
	}
	if _, _, ok := TypeOID("hstore"); ok {
		t.Error("hstore should be unknown")
	}
}

func TestCreateAndDropInfo(t *testing.T) {
	st, err := Parse(`CREATE TABLE canonical.orders (order_id text PRIMARY KEY, total numeric(12,2), ok boolean, at timestamptz, n bigserial, tags varchar(10), doc jsonb, iv interval)`)
	if err != nil {
		t.Fatal(err)
	}
	want := &CreateTable{Table: Relation{Schema: "canonical", Name: "orders"}, Columns: []ColumnDef{
		{"order_id", 25, -1}, {"total", 1700, 12<<16 | 2 + 4}, {"ok", 16, -1}, {"at", 1184, -1},
		{"n", 20, -1}, {"tags", 1043, 14}, {"doc", 3802, -1}, {"iv", 1186, -1},
	}}
	if !reflect.DeepEqual(st[0].Create, want) {
		t.Errorf("create: %+v", st[0].Create)
	}
	if st[0].Tag != "CREATE TABLE" || st[0].Kind != KindExec {
		t.Errorf("tag %q kind %d", st[0].Tag, st[0].Kind)
	}
	st, err = Parse(`DROP TABLE IF EXISTS a, s.b`)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st[0].Drop, []Relation{{Schema: "", Name: "a"}, {Schema: "s", Name: "b"}}) || st[0].Tag != "DROP TABLE" {
		t.Errorf("drop: %+v %q", st[0].Drop, st[0].Tag)
	}
	st, err = Parse(`ALTER TABLE t ADD COLUMN c uuid, ADD COLUMN d int8`)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st[0].AddColumns, &CreateTable{Table: Relation{Schema: "", Name: "t"}, Columns: []ColumnDef{{"c", 2950, -1}, {"d", 20, -1}}}) {
		t.Errorf("add columns: %+v", st[0].AddColumns)
	}
	st, err = Parse(`SELECT * FROM s.a JOIN b ON true WHERE x IN (SELECT y FROM c)`)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st[0].Relations, []Relation{{Schema: "s", Name: "a"}, {Schema: "", Name: "b"}, {Schema: "", Name: "c"}}) {
		t.Errorf("relations: %+v", st[0].Relations)
	}
	st, err = Parse(`WITH c AS (SELECT 1) SELECT * FROM c, d`)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st[0].Relations, []Relation{{Schema: "", Name: "d"}}) {
		t.Errorf("relations with CTE: %+v", st[0].Relations)
	}
}

// TestWholeRowReferences: a relation's whole row as a value is refused by
// name (0A000), never taken for a missing column; a column of that name
// wins, as in Postgres.
func TestWholeRowReferences(t *testing.T) {
	cols := func(schema, table string) []string {
		switch table {
		case "t":
			return []string{"id", "v"}
		case "u":
			return []string{"id", "u"}
		}
		return nil
	}
	for sql, refused := range map[string]bool{
		`SELECT o FROM t o`:                true,
		`SELECT row_to_json(t) FROM t`:     true,
		`SELECT to_json(o.*) FROM t o`:     true,
		`SELECT o.* FROM t o`:              false,
		`SELECT u FROM u`:                  false, // the column u
		`SELECT id FROM t WHERE t IS NULL`: true,
		`SELECT v AS t FROM t GROUP BY t`:  false, // the output column t
		`SELECT v AS t FROM t ORDER BY t`:  false,
	} {
		_, err := ParseWith(sql, Options{TableColumns: cols})
		pe, isPG := err.(*pgerror.Error)
		if refused != (isPG && pe.Code == pgerror.FeatureNotSupported && strings.Contains(pe.Message, "whole-row reference")) {
			t.Errorf("%s: %v", sql, err)
		}
	}
}

// TestWriteTargetFirst: the target of INSERT, UPDATE and DELETE is the
// first of a statement's relations, whatever else it reads (the gateway
// refuses writes to projections by it).
func TestWriteTargetFirst(t *testing.T) {
	for _, sql := range []string{
		`INSERT INTO serving.p (a) SELECT a FROM canonical.e JOIN serving.q ON true`,
		`UPDATE serving.p SET a = q.a FROM serving.q WHERE q.k = p.k AND p.a IN (SELECT a FROM canonical.e)`,
		`DELETE FROM serving.p USING serving.q WHERE q.k = p.k`,
		`DELETE FROM serving.p WHERE a IN (SELECT a FROM serving.q)`,
	} {
		st, err := Parse(sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if rels := st[0].Relations; len(rels) < 2 || rels[0] != (Relation{Schema: "serving", Name: "p"}) {
			t.Errorf("%s: relations %+v, want serving.p first", sql, rels)
		}
	}
}
