// Package sqlscript runs dualgate's SQL behaviour scripts (testdata/sql,
// sqllogictest style) over the wire with a real client (pgconn), for the
// gateway's and the binary's tests. The format:
//
//	statement ok
//	<sql>
//
//	statement error <SQLSTATE> [message substring]
//	<sql>
//
//	query <type>,<type>... [rowsort] [label=authoritative|derived] [match=<regexp>] [params=<v1>,<v2>...]
//	<sql>
//	----
//	<tab-separated text values, NULL for null>
//
// match= compares only the result rows (tab-separated, as above) the
// regular expression matches, so a client's query can run verbatim over
// a server holding more relations than the script is about. params= binds
// $1, $2, ... to the comma-separated values (text, types left to the
// server), as drivers such as pgJDBC send them; such a query runs through
// the extended protocol only.
//
// Every query runs twice, through the simple and through the extended
// protocol, and both must give the expected rows, column types and (if
// given) the dualgate.authority label. A script whose first line is
// `# differential` is also meant to run against PostgreSQL 15, which must
// answer the same (labels are not checked there).
package sqlscript

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// Step is one directive of a script.
type Step struct {
	line     int
	kind     string // statement | query
	sql      string
	errCode  string // statement error
	errText  string
	types    []string
	rowsort  bool
	expected []string
	label    string         // expected dualgate.authority, if given
	match    *regexp.Regexp // compare only the rows it matches, if given
	params   [][]byte       // bind values ($1, $2, ...), if given
}

// Parse reads a script; differential reports a `# differential` script.
func Parse(t testing.TB, path string) (steps []Step, differential bool) {
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
		st := Step{line: i + 1}
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
			for _, opt := range head[2:] {
				switch {
				case opt == "rowsort":
					st.rowsort = true
				case strings.HasPrefix(opt, "label="):
					st.label = strings.TrimPrefix(opt, "label=")
				case strings.HasPrefix(opt, "params="):
					for _, v := range strings.Split(strings.TrimPrefix(opt, "params="), ",") {
						st.params = append(st.params, []byte(v))
					}
				case strings.HasPrefix(opt, "match="):
					re, err := regexp.Compile(strings.TrimPrefix(opt, "match="))
					if err != nil {
						t.Fatalf("%s:%d: match=: %v", path, i+1, err)
					}
					st.match = re
				default:
					t.Fatalf("%s:%d: unknown query option %q", path, i+1, opt)
				}
			}
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
	"_int4": 1007, "_text": 1009, "_int8": 1016, "name": 19, "char": 18, "regclass": 2205, "regproc": 24,
	"regtype": 2206,
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

// Run runs every step on conn; where names the server in failures, and
// labels says whether to check dualgate.authority labels.
func Run(t testing.TB, path, where string, conn *pgconn.PgConn, steps []Step, labels bool) {
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
			results := map[string]*pgconn.Result{}
			if st.params == nil {
				simple, err := conn.Exec(ctx, st.sql).ReadAll()
				if err != nil {
					t.Errorf("%s: %s\nfailed (simple protocol): %v", loc, st.sql, err)
					continue
				}
				results["simple"] = simple[len(simple)-1]
			}
			ext := conn.ExecParams(ctx, st.sql, st.params, nil, nil, nil).Read()
			if ext.Err != nil {
				t.Errorf("%s: %s\nfailed (extended protocol): %v", loc, st.sql, ext.Err)
				continue
			}
			results["extended"] = ext
			for proto, res := range results {
				checkResult(t, loc+" "+proto, st, res)
			}
			if labels && st.label != "" {
				if got := conn.ParameterStatus("dualgate.authority"); got != st.label {
					t.Errorf("%s: %s\nlabel %q, want %q", loc, st.sql, got, st.label)
				}
			}
		}
	}
}

func checkResult(t testing.TB, loc string, st Step, res *pgconn.Result) {
	t.Helper()
	// pgconn's Result.Read records the RowDescription only with the first
	// row, so an empty result's column types cannot be checked here.
	if len(res.Rows) == 0 && len(res.FieldDescriptions) == 0 {
		if len(st.expected) > 0 {
			t.Errorf("%s: %s\nno rows, want %d", loc, st.sql, len(st.expected))
		}
		return
	}
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
	if st.match != nil {
		kept := got[:0]
		for _, r := range got {
			if st.match.MatchString(r) {
				kept = append(kept, r)
			}
		}
		got = kept
	}
	want := append([]string(nil), st.expected...)
	if st.rowsort {
		sort.Strings(got)
		sort.Strings(want)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: %s\ngot rows:\n%s\nwant:\n%s", loc, st.sql, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
