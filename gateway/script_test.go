package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dualgate/dualgate/gateway/pgtest"
)

// SQL behaviour scripts (testdata/sql/*.slt) in a sqllogictest style:
//
//	statement ok
//	<sql>
//
//	statement error <SQLSTATE> [message substring]
//	<sql>
//
//	query <type>,<type>... [rowsort]
//	<sql>
//	----
//	<tab-separated text values, NULL for null>
//
// Every query runs over the wire twice, through the simple protocol and
// through the extended protocol, and both must give the expected rows and
// column types. A script whose first line is `# differential` also runs
// against a real PostgreSQL 15, which must give the very same answers, so
// the expectations are PostgreSQL's, not ours.

type scriptStep struct {
	line     int
	kind     string // statement | query
	sql      string
	errCode  string // statement error
	errText  string
	types    []string
	rowsort  bool
	expected []string
}

func parseScript(t *testing.T, path string) (steps []scriptStep, differential bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 0 && strings.TrimSpace(lines[0]) == "# differential" {
		differential = true
	}
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		st := scriptStep{line: i + 1}
		head := strings.Fields(l)
		switch head[0] {
		case "statement":
			st.kind = "statement"
			if len(head) >= 3 && head[1] == "error" {
				st.errCode = head[2]
				st.errText = strings.Join(head[3:], " ")
			} else if len(head) != 2 || head[1] != "ok" {
				t.Fatalf("%s:%d: expected `statement ok` or `statement error CODE`", path, i+1)
			}
		case "query":
			st.kind = "query"
			if len(head) < 2 {
				t.Fatalf("%s:%d: query needs its column types", path, i+1)
			}
			st.types = strings.Split(head[1], ",")
			st.rowsort = len(head) > 2 && head[2] == "rowsort"
		default:
			t.Fatalf("%s:%d: unknown directive %q", path, i+1, head[0])
		}
		var sqlLines []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "" && lines[i] != "----"; i++ {
			sqlLines = append(sqlLines, lines[i])
		}
		st.sql = strings.Join(sqlLines, "\n")
		if st.kind == "query" {
			if i >= len(lines) || lines[i] != "----" {
				t.Fatalf("%s:%d: query without ---- separator", path, st.line)
			}
			for i++; i < len(lines) && lines[i] != ""; i++ {
				st.expected = append(st.expected, lines[i])
			}
		}
		steps = append(steps, st)
	}
	return steps, differential
}

// typeNames maps the type names scripts use to OIDs.
var typeNames = map[string]uint32{
	"bool": 16, "bytea": 17, "int8": 20, "int2": 21, "int4": 23, "text": 25, "oid": 26, "json": 114,
	"float4": 700, "float8": 701, "bpchar": 1042, "varchar": 1043, "date": 1082, "time": 1083,
	"timestamp": 1114, "timestamptz": 1184, "interval": 1186, "numeric": 1700, "uuid": 2950, "jsonb": 3802,
	"_int4": 1007, "_text": 1009, "_int8": 1016,
}

func renderRows(res *pgconn.Result) []string {
	out := make([]string, len(res.Rows))
	for i, r := range res.Rows {
		vals := make([]string, len(r))
		for j, v := range r {
			if v == nil {
				vals[j] = "NULL"
			} else {
				vals[j] = string(v)
			}
		}
		out[i] = strings.Join(vals, "\t")
	}
	return out
}

// runScript runs every step on conn; where names the server in failures.
func runScript(t *testing.T, path, where string, conn *pgconn.PgConn, steps []scriptStep) {
	ctx := context.Background()
	for _, st := range steps {
		loc := fmt.Sprintf("%s:%d (%s)", filepath.Base(path), st.line, where)
		switch st.kind {
		case "statement":
			_, err := conn.Exec(ctx, st.sql).ReadAll()
			if st.errCode == "" {
				if err != nil {
					t.Errorf("%s: %s\nfailed: %v", loc, st.sql, err)
				}
				continue
			}
			if got := pgCode(err); got != st.errCode || !strings.Contains(fmt.Sprint(err), st.errText) {
				t.Errorf("%s: %s\ngot error %v (SQLSTATE %q), want %s %q", loc, st.sql, err, got, st.errCode, st.errText)
			}
		case "query":
			simple, err := conn.Exec(ctx, st.sql).ReadAll()
			if err != nil {
				t.Errorf("%s: %s\nfailed (simple protocol): %v", loc, st.sql, err)
				continue
			}
			ext := conn.ExecParams(ctx, st.sql, nil, nil, nil, nil).Read()
			if ext.Err != nil {
				t.Errorf("%s: %s\nfailed (extended protocol): %v", loc, st.sql, ext.Err)
				continue
			}
			for proto, res := range map[string]*pgconn.Result{"simple": simple[len(simple)-1], "extended": ext} {
				checkResult(t, loc+" "+proto, st, res)
			}
		}
	}
}

func checkResult(t *testing.T, loc string, st scriptStep, res *pgconn.Result) {
	t.Helper()
	if len(res.FieldDescriptions) != len(st.types) {
		t.Errorf("%s: %s\n%d columns, want %d", loc, st.sql, len(res.FieldDescriptions), len(st.types))
		return
	}
	for i, f := range res.FieldDescriptions {
		want, ok := typeNames[st.types[i]]
		if !ok {
			t.Fatalf("%s: unknown type name %q in script", loc, st.types[i])
		}
		if f.DataTypeOID != want {
			t.Errorf("%s: %s\ncolumn %d (%s) has type OID %d, want %s (%d)", loc, st.sql, i+1, f.Name, f.DataTypeOID, st.types[i], want)
		}
	}
	got := renderRows(res)
	want := append([]string(nil), st.expected...)
	if st.rowsort {
		sort.Strings(got)
		sort.Strings(want)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: %s\ngot rows:\n%s\nwant:\n%s", loc, st.sql, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

var (
	peerOnce sync.Once
	peer     *pgtest.Server
	peerErr  error
)

// postgresPeer starts (once per test binary) the PostgreSQL 15 that
// differential scripts are checked against.
func postgresPeer(t *testing.T) *pgtest.Server {
	peerOnce.Do(func() { peer, peerErr = pgtest.Start(context.Background(), pgtest.Options{}) })
	if peerErr != nil {
		t.Fatalf("PostgreSQL 15 peer for differential scripts: %v", peerErr)
	}
	return peer
}

func TestMain(m *testing.M) {
	code := m.Run()
	if peer != nil {
		peer.Stop()
	}
	os.Exit(code)
}

func TestSQLScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "sql", "*.slt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/sql: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".slt"), func(t *testing.T) {
			steps, differential := parseScript(t, path)
			g := startGateway(t, nil)
			conn, err := pgconn.Connect(ctxT(t), g.dsn("script"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			runScript(t, path, "dualgate", conn, steps)
			if !differential {
				return
			}
			srv := postgresPeer(t)
			db := "s_" + strings.ReplaceAll(strings.TrimSuffix(filepath.Base(path), ".slt"), "-", "_")
			admin, err := pgconn.Connect(ctxT(t), srv.DSN("postgres"))
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close(context.Background())
			for _, q := range []string{"DROP DATABASE IF EXISTS " + db, "CREATE DATABASE " + db} {
				if _, err := admin.Exec(ctxT(t), q).ReadAll(); err != nil {
					t.Fatal(err)
				}
			}
			pg, err := pgconn.Connect(ctxT(t), srv.DSN(db))
			if err != nil {
				t.Fatal(err)
			}
			defer pg.Close(context.Background())
			runScript(t, path, "postgresql", pg, steps)
		})
	}
}
