package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dualgate/dualgate/catalog"
)

// defaultsCatalog has an entity whose columns carry catalog defaults.
const defaultsCatalog = `context: defaults
owner: t
sources:
  items_feed:
    columns: {event_id: text, item_id: text, name: text}
    dedupe_key: [event_id]
entities:
  items:
    key: [item_id]
    columns:
      item_id: text
      name: text
      channel: {type: text, default: web}
      qty: {type: integer, default: 1}
      active: {type: boolean, default: "true"}
      since: {type: date, default: "2024-01-01"}
      note: text
    mappings:
      - source: items_feed
        version: 1
        select: SELECT item_id, name, 'feed' AS channel, 2 AS qty, false AS active, CAST('2024-05-01' AS date) AS since, NULL AS note FROM batch
`

// TestPsqlEntityDefaults: catalog column defaults are part of
// canonical.<entity> as clients see it: a steward's INSERT omitting the
// columns gets them, and pg_attrdef, pg_attribute.atthasdef,
// information_schema.columns.column_default and psql's \d show them as
// Postgres would.
func TestPsqlEntityDefaults(t *testing.T) {
	ctx := context.Background()
	cat, err := catalog.LoadFiles(catalog.File{Name: "defaults.yaml", Data: []byte(defaultsCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveForTest(t, &serveOptions{listen: "127.0.0.1:0", data: t.TempDir(), trust: true, shutdownGrace: 2 * time.Second, maxMessage: 1 << 20}, cat)
	conn, err := pgconn.Connect(ctx, dsn(addr, "loader"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	query := func(t *testing.T, q string) [][]string {
		t.Helper()
		res, err := conn.Exec(ctx, q).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var out [][]string
		for _, r := range res[len(res)-1].Rows {
			row := make([]string, len(r))
			for i, v := range r {
				row[i] = string(v)
				if v == nil {
					row[i] = "NULL"
				}
			}
			out = append(out, row)
		}
		return out
	}
	want := map[string]string{"channel": "'web'::text", "qty": "1", "active": "true", "since": "'2024-01-01'::date"}

	t.Run("steward insert", func(t *testing.T) {
		query(t, `INSERT INTO raw.items_feed VALUES ('e1', 'i1', 'from the feed')`)
		query(t, `SET dualgate.commit_message = 'by hand'`)
		query(t, `INSERT INTO canonical.items (item_id, name) VALUES ('i2', 'by hand')`)
		got := query(t, `SELECT item_id, channel, qty, active, since, note FROM canonical.items ORDER BY item_id`)
		exp := [][]string{{"i1", "feed", "2", "f", "2024-05-01", "NULL"}, {"i2", "web", "1", "t", "2024-01-01", "NULL"}}
		if strings.Join(flat(got), "|") != strings.Join(flat(exp), "|") {
			t.Fatalf("rows = %v, want %v", got, exp)
		}
		// An explicit NULL stays NULL, as in Postgres.
		query(t, `INSERT INTO canonical.items (item_id, name, channel) VALUES ('i3', 'explicit', NULL)`)
		if got := query(t, `SELECT channel, qty FROM canonical.items WHERE item_id = 'i3'`); got[0][0] != "NULL" || got[0][1] != "1" {
			t.Fatalf("explicit NULL: %v", got)
		}
	})

	t.Run("information_schema", func(t *testing.T) {
		got := map[string]string{}
		for _, r := range query(t, `SELECT column_name, column_default FROM information_schema.columns WHERE table_schema = 'canonical' AND table_name = 'items'`) {
			got[r[0]] = r[1]
		}
		for c, d := range want {
			if got[c] != d {
				t.Errorf("information_schema.columns.column_default of %s = %q, want %q", c, got[c], d)
			}
		}
		for _, c := range []string{"item_id", "name", "note"} {
			if got[c] != "NULL" {
				t.Errorf("column_default of %s = %q, want NULL", c, got[c])
			}
		}
	})

	t.Run("pg_attrdef", func(t *testing.T) {
		got := map[string]string{}
		for _, r := range query(t, `SELECT a.attname, a.atthasdef, pg_get_expr(d.adbin, d.adrelid)
			FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
			WHERE a.attrelid = 'canonical.items'::regclass AND a.attnum > 0`) {
			got[r[0]] = r[1] + " " + r[2]
		}
		for _, c := range []string{"item_id", "name", "channel", "qty", "active", "since", "note"} {
			exp := "f NULL"
			if d, ok := want[c]; ok {
				exp = "t " + d
			}
			if got[c] != exp {
				t.Errorf("pg_attribute/pg_attrdef of %s = %q, want %q", c, got[c], exp)
			}
		}
	})

	t.Run("psql", func(t *testing.T) {
		psql := needClient(t, "psql", "apt-get install postgresql-client-15", func() (string, error) { return exec.LookPath("psql") })
		host, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command(psql, "-X", "-h", host, "-p", port, "-U", "loader", "-d", "dualgate", "-c", `\d canonical.items`)
		cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10", "PAGER=", "PSQLRC=/dev/null")
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			t.Fatalf("psql: %v\n%s", err, buf.String())
		}
		out := buf.String()
		for _, line := range []string{
			"channel | text                     |           |          | 'web'::text",
			"qty     | integer                  |           |          | 1",
			"active  | boolean                  |           |          | true",
			"since   | date                     |           |          | '2024-01-01'::date",
		} {
			if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(line), " ")) {
				t.Errorf("\\d canonical.items lacks %q:\n%s", line, out)
			}
		}
	})
}

func flat(rows [][]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, strings.Join(r, ","))
	}
	return out
}
