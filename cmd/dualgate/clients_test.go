package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// updateGolden rewrites the golden files of TestClients (psql output).
var updateGolden = flag.Bool("update", false, "rewrite the golden files of TestClients")

// clientsRoot is the repository root, where testdata/ is.
var clientsRoot = filepath.Join("..", "..")

// needClient returns a client's path, or skips the test when the client
// is not installed; with DUALGATE_CI=1 (set by .ci/run, which installs
// every client) a missing client fails the test instead.
func needClient(t *testing.T, what, install string, find func() (string, error)) string {
	t.Helper()
	path, err := find()
	if err == nil {
		return path
	}
	if os.Getenv("DUALGATE_CI") == "1" {
		t.Fatalf("%s is missing (%v); CI installs it: %s", what, err, install)
	}
	t.Skipf("%s not installed (%v): %s", what, err, install)
	return ""
}

// fileExists is a find func for needClient.
func fileExists(path string) func() (string, error) {
	return func() (string, error) {
		if _, err := os.Stat(path); err != nil {
			return "", err
		}
		return path, nil
	}
}

// clientFixture is what TestClients loads into a fresh primary serving
// the demo catalog: three orders through raw.oms_orders (one ingest
// batch, so one canonical commit that the projections follow), and a
// scratch schema with a foreign key, an index and a view.
var clientFixture = []string{
	`SET dualgate.label_notices = off`,
	`INSERT INTO raw.oms_orders VALUES
	 ('e1','o-1',1,'SUBMITTED','c1','ann@example.com','+3311','web','eu','eur','sku-1',2,500,1000,'2024-05-01 10:00:00+00','2024-05-01 10:00:00+00'),
	 ('e2','o-2',1,'SUBMITTED','c2','bob@example.com','+3312','app','na','usd','sku-2',1,2500,2500,'2024-05-02 10:00:00+00','2024-05-02 10:00:00+00'),
	 ('e3','o-3',1,'SUBMITTED','c1','ann@example.com','+3311','web','eu','eur','sku-3',4,1000,4000,'2024-05-03 10:00:00+00','2024-05-03 10:00:00+00')`,
	`CREATE TABLE public.clients (client_id bigint PRIMARY KEY, name varchar(40) NOT NULL, email text)`,
	`CREATE TABLE public.purchases (purchase_id integer PRIMARY KEY, client_id bigint REFERENCES public.clients (client_id),
	 amount numeric(12,2), paid boolean, day date, at timestamptz, note text, ratio double precision)`,
	`CREATE INDEX purchases_day ON public.purchases (day)`,
	`CREATE VIEW public.big_purchases AS SELECT purchase_id, amount FROM public.purchases WHERE amount > 100`,
	`INSERT INTO public.clients VALUES (9000000000, 'Ann', 'ann@example.com')`,
}

// TestClients runs real Postgres clients against a live dualgate primary
// serving the demo catalog: psql's meta-commands (golden file), pgJDBC's
// DatabaseMetaData and a PreparedStatement round trip, SQLAlchemy's
// inspector over psycopg2 and a Core select, and node-postgres. Each
// client program prints facts; the assertions are on those facts.
//
// Under the race detector the clients' catalog queries take minutes, so
// the test skips there; .ci/run runs it once more without -race.
func TestClients(t *testing.T) {
	if raceDetector {
		t.Skip("slow under -race; .ci/run runs: go test -run TestClients ./cmd/dualgate/")
	}
	addr := startPrimary(t, "")
	host, port, _ := net.SplitHostPort(addr)
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, dsn(addr, "loader"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range clientFixture {
		if _, err := conn.Exec(ctx, q).ReadAll(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The serving projections are built at start and follow the commit
	// asynchronously.
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := conn.Exec(ctx, "SELECT count(*) FROM serving.order_timeline").ReadAll()
		if err == nil && len(res) == 1 && len(res[0].Rows) == 1 && string(res[0].Rows[0][0]) == "3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serving.order_timeline did not reach the 3 orders: %v %v", res, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	head := queryInt(t, conn, "SELECT max(commit_id) FROM dualgate.commits")

	// psql first: it reads the fixture before other clients add rows.
	t.Run("psql", func(t *testing.T) { testPsqlMeta(t, host, port) })
	t.Run("jdbc", func(t *testing.T) { testJDBC(t, host, port, head) })
	t.Run("sqlalchemy", func(t *testing.T) { testSQLAlchemy(t, host, port, head) })
	t.Run("node", func(t *testing.T) { testNode(t, host, port, head) })
}

// runClient runs a client program and returns its standard output; a
// failing program fails the test with everything it printed.
func runClient(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PGTZ=UTC", "TZ=UTC")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	t.Logf("%s ran in %v", filepath.Base(name), time.Since(start).Round(time.Millisecond))
	return stdout.String()
}

// facts checks that every wanted line is among the printed lines, and
// that no printed line matches a forbidden pattern.
func facts(t *testing.T, out string, want []string, forbid ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		have[l] = true
	}
	var missing []string
	for _, w := range want {
		if !have[w] {
			missing = append(missing, w)
		}
	}
	for _, f := range forbid {
		if m := regexp.MustCompile(f).FindString(out); m != "" {
			t.Errorf("output has %q (matching %q)", m, f)
		}
	}
	if len(missing) > 0 {
		t.Errorf("missing facts:\n  %s\nclient printed:\n%s", strings.Join(missing, "\n  "), out)
	}
}

// tabs joins fields with tabs, as the client programs print them.
func tabs(fields ...any) string {
	s := make([]string, len(fields))
	for i, f := range fields {
		s[i] = fmt.Sprint(f)
	}
	return strings.Join(s, "\t")
}

// demoSchemas are the schemas every client must list.
var demoSchemas = []string{"canonical", "catalog", "diff", "dualgate", "history", "public", "raw", "reconcile", "serving"}

// browsedEverySchema checks the "browse" lines a client printed: one per
// demo schema, matching pattern (with %s for the schema).
func browsedEverySchema(t *testing.T, client, out, pattern string) {
	t.Helper()
	for _, s := range demoSchemas {
		re := regexp.MustCompile(fmt.Sprintf(pattern, regexp.QuoteMeta(s)))
		if !re.MatchString(out) {
			t.Errorf("%s did not browse schema %s sanely (want a line matching %s):\n%s", client, s, re, out)
		}
	}
}

// testJDBC compiles testdata/clients/jdbc/Browse.java against Debian's
// pgJDBC and checks what DatabaseMetaData and a PreparedStatement say.
func testJDBC(t *testing.T, host, port string, head int) {
	javac := needClient(t, "javac", "apt-get install default-jdk-headless", func() (string, error) { return exec.LookPath("javac") })
	java := needClient(t, "java", "apt-get install default-jdk-headless", func() (string, error) { return exec.LookPath("java") })
	jar := os.Getenv("DUALGATE_JDBC_JAR")
	if jar == "" {
		jar = "/usr/share/java/postgresql.jar"
	}
	jar = needClient(t, "pgJDBC", "apt-get install libpostgresql-jdbc-java", fileExists(jar))
	classes := t.TempDir()
	src, _ := filepath.Abs(filepath.Join(clientsRoot, "testdata", "clients", "jdbc", "Browse.java"))
	runClient(t, classes, javac, "-d", classes, "-cp", jar, src)
	out := runClient(t, classes, java, "-Duser.timezone=UTC", "-cp", jar+string(os.PathListSeparator)+classes, "Browse", host, port, "dualgate", "analyst")

	want := []string{
		tabs("pk", "canonical.commercial_orders", "order_id", 1, "commercial_orders_pkey"),
		tabs("pk", "serving.order_timeline", "order_id", 1, "order_timeline_pkey"),
		tabs("pk", "public.purchases", "purchase_id", 1, "purchases_pkey"),
		tabs("index", "canonical.commercial_orders", "commercial_orders_pkey", "unique", 1, "order_id"),
		tabs("index", "public.purchases", "purchases_day", "non-unique", 1, "day"),
		tabs("fk", "public.purchases.client_id", "public.clients.client_id", "purchases_client_id_fkey", 1, 3),
		// TYPE_NAME, java.sql.Types, COLUMN_SIZE, IS_NULLABLE.
		tabs("column", "canonical.commercial_orders.order_id", 1, "text", 12, 2147483647, "NO", "null"),
		tabs("column", "canonical.commercial_orders.currency", 7, "bpchar", 1, 3, "YES", "null"),
		tabs("column", "canonical.commercial_orders.total_cents", 9, "int8", -5, 19, "YES", "null"),
		tabs("column", "canonical.commercial_orders.placed_at", 10, "timestamptz", 93, 35, "YES", "null"),
		tabs("column", "serving.order_timeline.order_id", 1, "text", 12, 2147483647, "NO", "null"),
		tabs("column", "public.clients.name", 2, "varchar", 12, 40, "NO", "null"),
		tabs("column", "public.purchases.amount", 3, "numeric", 2, 12, "YES", "null"),
		tabs("column", "public.purchases.paid", 4, "bool", -7, 1, "YES", "null"),
		tabs("table", "public.big_purchases", "VIEW", "DERIVED (non-authoritative): public.big_purchases (view not in canonical, history or diff)"),
		// The PreparedStatement round trip: result types and values.
		tabs("insert", 1),
		tabs("rstype", "purchase_id", "int4", "java.lang.Integer"),
		tabs("rstype", "client_id", "int8", "java.lang.Long"),
		tabs("rstype", "amount", "numeric", "java.math.BigDecimal"),
		tabs("rstype", "paid", "bool", "java.lang.Boolean"),
		tabs("rstype", "day", "date", "java.sql.Date"),
		tabs("rstype", "at", "timestamptz", "java.sql.Timestamp"),
		tabs("rstype", "note", "text", "java.lang.String"),
		tabs("rstype", "ratio", "float8", "java.lang.Double"),
		tabs("order", "o-2", "submitted", 2500, "USD", "2024-05-02T10:00Z"),
		tabs("notice", fmt.Sprintf("authoritative: canonical.commercial_orders as of commit %d", head)),
		tabs("label", "authoritative", true),
		tabs("error", "42P01"),
	}
	for run := 0; run < 3; run++ { // unnamed, then named server-side statement
		want = append(want, tabs(fmt.Sprintf("row%d", run), 3, 9000000000, "1234.56", true, "2024-05-03",
			"2024-05-03T10:30:15.250Z", `it's "quoted" ünïcode`, 0.125))
	}
	for _, s := range demoSchemas {
		want = append(want, tabs("schema", s))
	}
	for _, tb := range []string{"canonical.commercial_orders", "history.commercial_orders", "diff.commercial_orders"} {
		want = append(want, tabs("table", tb, "TABLE", tableComment(t, out, tb)))
	}
	facts(t, out, want, `(?m)^schema\t_batch`)
	// getColumns of the first relation of every schema: columns, all sane.
	browsedEverySchema(t, "pgJDBC", out, `(?m)^browse\t%s\t\S+\t[1-9]\d*\tok$`)
	// The computed catalog.* and reconcile.* relations are views.
	for _, v := range []string{"catalog.entities", "reconcile.rules"} {
		if !regexp.MustCompile(`(?m)^table\t` + regexp.QuoteMeta(v) + `\tVIEW\t`).MatchString(out) {
			t.Errorf("getTables does not list %s as a VIEW", v)
		}
	}
	if !regexp.MustCompile(`(?m)^product\tPostgreSQL\t15\.0 \(dualgate .+\)$`).MatchString(out) {
		t.Errorf("getDatabaseProductVersion is not 15.0 (dualgate ...):\n%s", out)
	}
	for _, tb := range []string{"canonical.commercial_orders", "history.commercial_orders", "diff.order_lines"} {
		if c := tableComment(t, out, tb); !strings.HasPrefix(c, "AUTHORITATIVE") {
			t.Errorf("getTables remarks of %s = %q, want the AUTHORITATIVE label", tb, c)
		}
	}
	for _, tb := range []string{"serving.order_timeline", "raw.oms_orders", "dualgate.commits", "catalog.entities"} {
		if c := tableComment(t, out, tb); !strings.HasPrefix(c, "DERIVED (non-authoritative)") {
			t.Errorf("getTables remarks of %s = %q, want the DERIVED label", tb, c)
		}
	}
}

// tableComment is the REMARKS the JDBC client printed for a table.
func tableComment(t *testing.T, out, table string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "\t")
		if len(f) == 4 && f[0] == "table" && f[1] == table {
			return f[3]
		}
	}
	t.Errorf("getTables did not list %s", table)
	return ""
}

// testSQLAlchemy runs testdata/clients/python/inspect_dualgate.py with
// Debian's python3 (SQLAlchemy and psycopg2 from Debian packages).
func testSQLAlchemy(t *testing.T, host, port string, head int) {
	python := needClient(t, "python3 with SQLAlchemy and psycopg2", "apt-get install python3-sqlalchemy python3-psycopg2", func() (string, error) {
		py := "/usr/bin/python3"
		if err := exec.Command(py, "-c", "import sqlalchemy, psycopg2").Run(); err != nil {
			return "", err
		}
		return py, nil
	})
	script, _ := filepath.Abs(filepath.Join(clientsRoot, "testdata", "clients", "python", "inspect_dualgate.py"))
	out := runClient(t, t.TempDir(), python, script, host, port, "dualgate", "analyst")
	want := []string{
		tabs("version", "15.0"),
		tabs("table", "canonical.commercial_orders"),
		tabs("table", "serving.order_timeline"),
		tabs("table", "public.purchases"),
		tabs("table", "dualgate.commits"),
		tabs("view", "public.big_purchases"),
		tabs("column", "canonical.commercial_orders.order_id", "TEXT", "False", "None", "None"),
		tabs("column", "canonical.commercial_orders.currency", "CHAR(3)", "True", "None", "None"),
		tabs("column", "canonical.commercial_orders.total_cents", "BIGINT", "True", "None", "None"),
		tabs("column", "canonical.commercial_orders.placed_at", "TIMESTAMP WITH TIME ZONE", "True", "None", "None"),
		tabs("column", "public.clients.name", "VARCHAR(40)", "False", "None", "None"),
		tabs("column", "public.purchases.amount", "NUMERIC(12, 2)", "True", "None", "None"),
		tabs("column", "public.purchases.paid", "BOOLEAN", "True", "None", "None"),
		tabs("column", "public.purchases.day", "DATE", "True", "None", "None"),
		tabs("column", "public.purchases.ratio", "DOUBLE_PRECISION", "True", "None", "None"),
		tabs("pk", "canonical.commercial_orders", "order_id", "commercial_orders_pkey"),
		tabs("pk", "serving.order_timeline", "order_id", "order_timeline_pkey"),
		tabs("pk", "public.purchases", "purchase_id", "purchases_pkey"),
		tabs("index", "public.purchases", "purchases_day", "day", "False"),
		tabs("fk", "public.purchases", "purchases_client_id_fkey", "client_id", "public.clients", "client_id"),
		tabs("comment", "canonical.commercial_orders", "AUTHORITATIVE: CommercialOrder, a commercial commitment accepted by the retailer."),
		tabs("order", "o-1", "submitted", 1000, "2024-05-01T10:00:00+00:00"),
		tabs("order", "o-3", "submitted", 4000, "2024-05-03T10:00:00+00:00"),
		tabs("notice", fmt.Sprintf("NOTICE:  authoritative: canonical.commercial_orders as of commit %d", head)),
		tabs("label", "authoritative"),
		tabs("purchase", 7, 9000000000, "19.99", "False", "2024-05-04", "2024-05-04T08:00:00+00:00", "sqlalchemy", 1.5),
		tabs("error", "42P01"),
	}
	for _, s := range demoSchemas {
		want = append(want, tabs("schema", s))
	}
	facts(t, out, want, `(?m)^order\to-2`, `(?m)^schema\t_batch`, `(?m)^bad\t.*`)
	// Every schema browsed: tables or views, and their columns.
	browsedEverySchema(t, "SQLAlchemy", out, `(?m)^browse\t%s\t(\d+\t[1-9]\d*|[1-9]\d*\t\d+)\t[1-9]\d*$`)
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^psycopg2\t1\tderived\tNOTICE:  derived: serving.order_timeline at commit %d, 0 commits \(\d+ ms\) behind canonical, SLA 2s$`, head)).MatchString(out) {
		t.Errorf("psycopg2 conn.notices / get_parameter_status did not carry the derived label:\n%s", out)
	}
}

// testNode runs testdata/clients/node/client.js with node-postgres from
// testdata/clients/node/node_modules (npm ci).
func testNode(t *testing.T, host, port string, head int) {
	node := needClient(t, "node", "apt-get install nodejs npm", func() (string, error) { return exec.LookPath("node") })
	dir, _ := filepath.Abs(filepath.Join(clientsRoot, "testdata", "clients", "node"))
	needClient(t, "node-postgres", "cd testdata/clients/node && npm ci", fileExists(filepath.Join(dir, "node_modules", "pg", "package.json")))
	out := runClient(t, dir, node, "client.js", host, port, "dualgate", "analyst")
	want := []string{
		tabs("version", "PostgreSQL"),
		tabs("fields", "purchase_id:23,client_id:20,amount:1700,paid:16,day:1082,at:1184,note:25,ratio:701"),
		tabs("purchase", 11, "number", 9000000000, "string", "98765.43", true, "2024-5-5", "2024-05-05T06:07:08.009Z", "node ✓", 2.25),
		tabs("order", "o-2", "submitted", 2500, "2024-05-02T10:00:00.000Z"),
		tabs("notice", fmt.Sprintf("authoritative: canonical.commercial_orders as of commit %d", head)),
		tabs("serving", 2),
		tabs("table", "canonical.commercial_orders", "BASE TABLE"),
		tabs("column", "order_id", "text", "NO", 1),
		tabs("column", "currency", "character", "YES", 7),
		tabs("column", "placed_at", "timestamp with time zone", "YES", 10),
		tabs("pk", "order_id", "order_lines_pkey"),
		tabs("pk", "line_no", "order_lines_pkey"),
		tabs("error", "SELECT * FROM public.no_such_table", "42P01"),
		tabs("error", "SELECT 1/0", "22012"),
		tabs("error", "SELECT 'x'::int", "22P02"),
		tabs("after-errors", 1),
	}
	facts(t, out, want)
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^notice\tderived: serving.order_timeline at commit %d, 0 commits \(\d+ ms\) behind canonical, SLA 2s$`, head)).MatchString(out) {
		t.Errorf("no derived label notice for the serving read:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^comment\torder_timeline\tDERIVED \(non-authoritative\): serving projection`).MatchString(out) {
		t.Errorf("obj_description of serving.order_timeline lacks the DERIVED label:\n%s", out)
	}
}

// testPsqlMeta runs testdata/clients/psql/meta.sql and compares psql's
// output with meta.out (rewritten with -update or
// DUALGATE_UPDATE_GOLDEN=1). The port, which changes per run, reads PORT.
func testPsqlMeta(t *testing.T, host, port string) {
	psql := needClient(t, "psql", "apt-get install postgresql-client-15", func() (string, error) { return exec.LookPath("psql") })
	script := filepath.Join("testdata", "clients", "psql", "meta.sql")
	golden := filepath.Join(clientsRoot, "testdata", "clients", "psql", "meta.out")
	cmd := exec.Command(psql, "-X", "-q", "-h", host, "-p", port, "-U", "analyst", "-d", "dualgate", "-f", script)
	cmd.Dir = clientsRoot
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10", "PAGER=", "PGTZ=UTC", "PSQLRC=/dev/null", "COLUMNS=200")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		t.Fatalf("psql: %v\n%s", err, buf.String())
	}
	got := strings.ReplaceAll(buf.String(), `port "`+port+`"`, `port "PORT"`)
	if *updateGolden || os.Getenv("DUALGATE_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("golden file: %v (create it with -update)", err)
	}
	if got != string(want) {
		t.Errorf("psql output differs from %s (rewrite it with -update after checking the difference):\n%s", golden, lineDiff(string(want), got))
	}
	for _, w := range []string{"ERROR", "not supported"} {
		if strings.Contains(got, w) {
			t.Errorf("psql printed %q:\n%s", w, got)
		}
	}
}

// lineDiff lists the lines of got that differ from want, with numbers.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
			if n++; n >= 20 {
				b.WriteString("  ...\n")
				break
			}
		}
	}
	return b.String()
}
