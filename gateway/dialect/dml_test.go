package dialect

import (
	"strings"
	"testing"

	"github.com/dolthub/vitess/go/sqltypes"
	"github.com/dolthub/vitess/go/vt/sqlparser"
)

func TestExecDMLAndDDL(t *testing.T) {
	te := newTestEngine(t)
	steps := []struct {
		q, check, want string
	}{
		{`CREATE SCHEMA IF NOT EXISTS shop`, ``, ``},
		{`CREATE TABLE shop.item (id bigserial PRIMARY KEY, sku text NOT NULL UNIQUE, price numeric(8,2) DEFAULT 0 CHECK (price >= 0), active boolean DEFAULT true, meta jsonb, made timestamptz DEFAULT now(), uid uuid, note varchar(20), qty int2, w float8, b bytea, d date, tm time, iv interval)`, ``, ``},
		// memory databases made by CREATE DATABASE lack primary-key
		// indexes, so the foreign key points into public.
		{`CREATE TABLE public.owner (id bigint PRIMARY KEY)`, ``, ``},
		{`INSERT INTO owner SELECT g FROM generate_series(1, 3) g`, ``, ``},
		{`CREATE TABLE shop.sale (id serial, item bigint REFERENCES public.owner (id) ON DELETE CASCADE, n int NOT NULL, PRIMARY KEY (id))`, ``, ``},
		{`INSERT INTO shop.item (sku, price) VALUES ('a', 1.50), ('b', 2), ('c', DEFAULT)`, `SELECT id, sku, price, active FROM shop.item ORDER BY id`, "1|a|1.50|1;2|b|2.00|1;3|c|0.00|1"},
		{`INSERT INTO shop.item DEFAULT VALUES`, ``, ``}, // sku NOT NULL: must fail, see below
		{`INSERT INTO shop.item (sku) SELECT 'd' || x FROM (VALUES (1), (2)) v(x)`, `SELECT count(*) FROM shop.item`, "5"},
		{`UPDATE shop.item SET meta = '{"k": "v", "a": [1, 2]}' WHERE sku = 'a'`, `SELECT meta->>'k', meta->'a'->>1, meta->'a' FROM shop.item WHERE sku = 'a'`, `v|2|[1, 2]`},
		{`INSERT INTO shop.item (sku, price) VALUES ('a', 9) ON CONFLICT DO NOTHING`, `SELECT price FROM shop.item WHERE sku = 'a'`, "1.50"},
		{`INSERT INTO shop.item (sku, price) VALUES ('a', 9) ON CONFLICT (sku) DO UPDATE SET price = EXCLUDED.price + 1`, `SELECT price FROM shop.item WHERE sku = 'a'`, "10.00"},
		{`INSERT INTO shop.sale (item, n) VALUES (1, 3), (2, 4), (1, 5)`, `SELECT sum(n) FROM shop.sale`, "12"},
		{`UPDATE shop.item SET price = price * 2, note = 'x' WHERE sku = 'b'`, `SELECT price, note FROM shop.item WHERE sku = 'b'`, "4.00|x"},
		{`UPDATE shop.item i SET qty = s.n FROM shop.sale s WHERE s.item = i.id AND s.n = 4`, `SELECT qty FROM shop.item WHERE id = 2`, "4"},
		{`DELETE FROM shop.sale s USING shop.item i WHERE s.item = i.id AND i.sku = 'b'`, `SELECT count(*) FROM shop.sale`, "2"},
		{`DELETE FROM shop.sale WHERE n = 5`, `SELECT count(*) FROM shop.sale`, "1"},
		{`CREATE INDEX ON shop.sale (n DESC)`, ``, ``},
		{`CREATE UNIQUE INDEX item_note ON shop.item (note)`, ``, ``},
		{`CREATE VIEW shop.cheap AS SELECT sku FROM shop.item WHERE price < 3`, `SELECT sku FROM shop.cheap ORDER BY sku`, "c;d1;d2"},
		{`DROP VIEW shop.cheap`, ``, ``},
		{`ALTER TABLE shop.sale ADD COLUMN memo text DEFAULT 'm'`, `SELECT memo FROM shop.sale`, "m"},
		{`ALTER TABLE shop.sale ALTER COLUMN memo SET DEFAULT 'z', ADD CONSTRAINT n_pos CHECK (n > 0)`, ``, ``},
		{`INSERT INTO shop.sale (n) VALUES (7)`, `SELECT memo FROM shop.sale ORDER BY id`, "m;z"},
		{`DELETE FROM shop.sale AS s WHERE s.n = 7`, `SELECT count(*) FROM shop.sale`, "1"},
		{`UPDATE shop.sale AS s SET n = s.n + 1 WHERE s.n = 3`, `SELECT n FROM shop.sale FOR UPDATE`, "4"},
		{`ALTER TABLE shop.sale DROP COLUMN memo`, `SELECT count(*) FROM shop.sale`, "1"},
		{`TRUNCATE shop.sale`, `SELECT count(*) FROM shop.sale`, "0"},
		{`CREATE TABLE shop.kv AS SELECT sku AS k FROM shop.item`, `SELECT count(*) FROM shop.kv`, "5"},
		{`DROP TABLE IF EXISTS shop.sale, shop.kv, shop.nothere`, ``, ``},
	}
	for _, s := range steps {
		_, err := te.pg(s.q, nil)
		if strings.Contains(s.q, "DEFAULT VALUES") {
			if err == nil {
				t.Errorf("%s: want NOT NULL violation", s.q)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.q, err)
		}
		if s.check != "" {
			rows, err := te.pg(s.check, nil)
			if err != nil {
				t.Fatalf("%s: %v", s.check, err)
			}
			if got := strings.Join(rows, ";"); got != s.want {
				t.Errorf("after %s\n  %s: got %s want %s", s.q, s.check, got, s.want)
			}
		}
	}
}

func TestExecParams(t *testing.T) {
	te := newFixture(t)
	st, err := Parse(`SELECT name FROM emp WHERE id = $1::int4 OR name = $2 ORDER BY id LIMIT $3`)
	if err != nil {
		t.Fatal(err)
	}
	s := st[0]
	if got := s.Params; len(got) != 3 || got[0] != 23 || got[1] != 0 || got[2] != 0 {
		t.Errorf("params %v", got)
	}
	binds := map[string]sqlparser.Expr{}
	for k, v := range map[string]any{"v1": int64(2), "v2": "Cid", "v3": int64(10)} {
		e, err := sqlparser.ExprFromValue(mustValue(t, v))
		if err != nil {
			t.Fatal(err)
		}
		binds[k] = e
	}
	rows, err := te.run(s.Engine, binds)
	if err != nil {
		t.Fatalf("%v\n%s", err, s.Engine)
	}
	if got := strings.Join(rows, ";"); got != "Bob;Cid" {
		t.Errorf("got %s", got)
	}
}

func mustValue(t *testing.T, v any) sqltypes.Value {
	t.Helper()
	switch x := v.(type) {
	case int64:
		return sqltypes.NewInt64(x)
	case string:
		return sqltypes.NewVarChar(x)
	}
	t.Fatalf("bad value %T", v)
	return sqltypes.Value{}
}
