package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/gateway/pgtest"
)

// The README cannot rot: every shell command line, SQL statement and the
// catalog it shows are run by these tests.

// readmeBlock is a fenced code block of README.md.
type readmeBlock struct {
	info    string   // the fence's info string ("sql", "sh", "sql library", "")
	line    int      // the line of its first content line
	heading string   // the last heading before it
	lines   []string // its content
}

// readmeBlocks reads README.md and returns its fenced blocks and its text
// outside them.
func readmeBlocks(t *testing.T) (blocks []readmeBlock, prose string) {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cur *readmeBlock
	var out strings.Builder
	heading := ""
	for i, l := range strings.Split(string(text), "\n") {
		trimmed := strings.TrimSpace(l)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &readmeBlock{info: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), line: i + 2, heading: heading}
		case cur != nil && trimmed == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, l)
		default:
			if strings.HasPrefix(l, "#") {
				heading = strings.TrimSpace(strings.TrimLeft(l, "#"))
			}
			out.WriteString(l)
			out.WriteByte('\n')
		}
	}
	if cur != nil {
		t.Fatalf("README.md: the block at line %d is not closed", cur.line)
	}
	return blocks, out.String()
}

// readmeStmt is one SQL statement of a README block.
type readmeStmt struct {
	sql       string
	line      int
	notice    string // the label NOTICE the README shows after it ("" none)
	commented bool   // shown commented out (illustrative; see TestReadmeSQL)
}

// commentedStmt is a README comment line that shows a statement.
var commentedStmt = regexp.MustCompile(`^--\s*((CALL|SELECT|SET|RESET)\s.*)$`)

// parseReadmeSQL splits a block into statements (on semicolons outside
// quotes and comments) and attaches each `-- NOTICE:  …` line to the
// statement before it.
func parseReadmeSQL(b readmeBlock) []readmeStmt {
	var stmts []readmeStmt
	var cur strings.Builder
	start := 0
	flush := func(line int, commented bool) {
		if s := strings.TrimSpace(cur.String()); s != "" {
			stmts = append(stmts, readmeStmt{sql: s, line: start, commented: commented})
		}
		cur.Reset()
	}
	for i, l := range b.lines {
		n := b.line + i
		t := strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(t, "-- NOTICE:"); ok {
			if len(stmts) > 0 {
				stmts[len(stmts)-1].notice = strings.TrimSpace(rest)
			}
			continue
		}
		if m := commentedStmt.FindStringSubmatch(t); m != nil {
			for _, s := range splitSQL(m[1]) {
				stmts = append(stmts, readmeStmt{sql: s, line: n, commented: true})
			}
			continue
		}
		if strings.TrimSpace(cur.String()) == "" {
			start = n
		}
		inQuote := false
		for j := 0; j < len(l); j++ {
			c := l[j]
			switch {
			case c == '\'':
				inQuote = !inQuote
			case !inQuote && c == '-' && j+1 < len(l) && l[j+1] == '-':
				j = len(l)
				continue
			case !inQuote && c == ';':
				flush(n, false)
				start = n
				continue
			}
			cur.WriteByte(c)
		}
		cur.WriteByte('\n')
	}
	flush(0, false)
	return stmts
}

// splitSQL splits one line of statements on semicolons outside quotes.
func splitSQL(s string) []string {
	var out []string
	inQuote, from := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\'':
			inQuote = !inQuote
		case s[i] == ';' && !inQuote:
			if t := strings.TrimSpace(s[from:i]); t != "" {
				out = append(out, t)
			}
			from = i + 1
		}
	}
	if t := strings.TrimSpace(s[from:]); t != "" {
		out = append(out, t)
	}
	return out
}

// noticePattern turns a NOTICE as the README shows it into a pattern of
// the notice the gateway sends: numbers and N stand for any number (commit
// ids, lags and counts depend on the data and the moment), … for anything.
func noticePattern(shown string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	rs := []rune(shown)
	isLetter := func(i int) bool {
		return i >= 0 && i < len(rs) && (rs[i] >= 'a' && rs[i] <= 'z' || rs[i] >= 'A' && rs[i] <= 'Z' || rs[i] == '_')
	}
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '…':
			b.WriteString(".*")
		case r >= '0' && r <= '9':
			for i+1 < len(rs) && rs[i+1] >= '0' && rs[i+1] <= '9' {
				i++
			}
			b.WriteString(`\d+`)
		case r == 'N' && !isLetter(i-1) && !isLetter(i+1):
			b.WriteString(`\d+`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// readmeSession is a connection that records the NOTICEs it receives.
type readmeSession struct {
	conn    *pgconn.PgConn
	mu      sync.Mutex
	notices []string
}

func connectReadme(t *testing.T, addr, user string) *readmeSession {
	t.Helper()
	s := &readmeSession{}
	cfg, err := pgconn.ParseConfig(dsn(addr, user))
	if err != nil {
		t.Fatal(err)
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		s.mu.Lock()
		s.notices = append(s.notices, n.Message)
		s.mu.Unlock()
	}
	if s.conn, err = pgconn.ConnectConfig(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.Close(context.Background()) })
	return s
}

// exec runs one README statement and checks the NOTICE the README shows
// for it; it returns the statement's last result.
func (s *readmeSession) exec(t *testing.T, st readmeStmt) *pgconn.Result {
	t.Helper()
	s.waitServing(t, st.sql)
	s.mu.Lock()
	s.notices = nil
	s.mu.Unlock()
	res, err := s.conn.Exec(context.Background(), st.sql).ReadAll()
	if err != nil {
		t.Fatalf("README.md line %d: %v\n%s", st.line, err, st.sql)
	}
	s.mu.Lock()
	got := append([]string(nil), s.notices...)
	s.mu.Unlock()
	if st.notice != "" {
		p := noticePattern(st.notice)
		ok := false
		for _, n := range got {
			ok = ok || p.MatchString(n)
		}
		if !ok {
			t.Errorf("README.md line %d shows the NOTICE %q after\n%s\nthe gateway sent %q", st.line, st.notice, st.sql, got)
		}
	}
	if len(res) == 0 {
		return nil
	}
	return res[len(res)-1]
}

// servingRef finds the serving relations a statement reads.
var servingRef = regexp.MustCompile(`serving\.([a-z_][a-z0-9_]*)`)

// waitServing waits until every projection the statement reads has caught
// up with canonical (projections follow commits in the background; serving
// tables have no watermark and are not waited for).
func (s *readmeSession) waitServing(t *testing.T, sql string) {
	t.Helper()
	for _, m := range servingRef.FindAllStringSubmatch(sql, -1) {
		deadline := time.Now().Add(60 * time.Second)
		for {
			res, err := s.conn.Exec(context.Background(), "SELECT generation, lag_commits FROM dualgate.projections WHERE name = '"+m[1]+"'").ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			rows := res[0].Rows
			if len(rows) == 0 || (len(rows[0][0]) > 0 && string(rows[0][1]) == "0") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("projection %s did not catch up with canonical within a minute", m[1])
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// figureColumn names the columns of the board's answers that must hold a
// figure (sums and counts).
var figureColumn = regexp.MustCompile(`_cents$|^shipped_(now|before)$|^orders$|^lines$`)

// requireRows fails unless res has rows and its figure columns are set.
func requireRows(t *testing.T, st readmeStmt, res *pgconn.Result) {
	t.Helper()
	if res == nil || len(res.Rows) == 0 {
		t.Errorf("README.md line %d returns no rows on the demo:\n%s", st.line, st.sql)
		return
	}
	for i, f := range res.FieldDescriptions {
		if figureColumn.MatchString(f.Name) && res.Rows[0][i] == nil {
			t.Errorf("README.md line %d: %s is NULL on the demo:\n%s", st.line, f.Name, st.sql)
		}
	}
}

// TestReadmeSQL runs every statement of README.md's ```sql blocks, in
// order, in one session against the demo (its history, steward
// corrections and, when PostgreSQL 15 is installed, the legacy finance
// mart), as a newcomer would after `make run`. It checks each NOTICE the
// README shows (authority word, relations, wording; numbers stand for
// numbers), that the board's question gets figures (every answer but the
// exception lists has rows, sums and counts set), and runs the statements
// the README shows commented out: the legacy mart's reconciliations (with
// the mart) and the exception workflow (ack, resolve, history) on a real
// exception id.
func TestReadmeSQL(t *testing.T) {
	blocks, _ := readmeBlocks(t)
	legacy := ""
	if _, err := os.Stat(pgtest.BinDir + "/postgres"); err == nil {
		pg, err := pgtest.Start(context.Background(), pgtest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer pg.Stop()
		legacy = pg.DSN("postgres")
		t.Setenv("DUALGATE_LEGACY_FINANCE_DSN", "") // restored after the demo sets it
	} else if os.Getenv("DUALGATE_CI") != "" {
		t.Fatalf("PostgreSQL 15 is required: %v", err)
	} else {
		t.Logf("PostgreSQL 15 not installed (%v): the legacy mart's statements and the exception workflow are skipped", err)
	}
	// Eight days, so the legacy mart's defects fall on closed dates; its
	// rule's one-minute grace is taken as passed, so they open exceptions.
	addr, _, stop := startDemo(t, t.TempDir(), &demoOptions{orders: 300, days: 8, seed: 1, stewardFixes: 3, legacyDSN: legacy},
		func(c *catalog.Catalog) { c.Reconciliation("recognized_sales_vs_legacy_mart").Grace = 0 })
	defer stop()
	s := connectReadme(t, addr, "demo")
	var deferred []readmeStmt
	ran, checked := 0, 0
	for _, b := range blocks {
		if b.info != "sql" {
			continue
		}
		board := strings.Contains(b.heading, "board's question")
		for _, st := range parseReadmeSQL(b) {
			if st.commented {
				switch {
				case strings.Contains(st.sql, "recognized_sales"):
					if legacy == "" {
						continue
					}
				case strings.Contains(st.sql, "reconcile.ack") || strings.Contains(st.sql, "reconcile.resolve") || strings.Contains(st.sql, "exception_history"):
					deferred = append(deferred, st)
					continue
				default:
					t.Errorf("README.md line %d: a commented-out statement this test does not know how to run: %s", st.line, st.sql)
					continue
				}
			}
			res := s.exec(t, st)
			ran++
			if st.notice != "" {
				checked++
			}
			if board && strings.HasPrefix(st.sql, "SELECT") && !strings.Contains(st.sql, "reconcile.exceptions") {
				requireRows(t, st, res)
			}
		}
	}
	if checked < 5 {
		t.Errorf("%d NOTICEs checked; the README shows more", checked)
	}
	t.Logf("%d README statements ran, %d NOTICEs checked", ran, checked)
	// The exception workflow, on an exception the legacy mart's defects
	// opened.
	if legacy != "" {
		res := s.exec(t, readmeStmt{sql: "SELECT min(id) FROM reconcile.exceptions WHERE status = 'open'"})
		if res == nil || len(res.Rows) != 1 || res.Rows[0][0] == nil {
			t.Fatal("no open exception to acknowledge after the legacy mart's reconciliation")
		}
		id := string(res.Rows[0][0])
		seven := regexp.MustCompile(`\b7\b`)
		for _, st := range deferred {
			st.sql = seven.ReplaceAllString(st.sql, id)
			res := s.exec(t, st)
			if strings.HasPrefix(st.sql, "SELECT") {
				requireRows(t, st, res)
			}
		}
		if n := queryInt(t, s.conn, "SELECT count(*) FROM reconcile.exceptions WHERE id = "+id+" AND status = 'accepted_variance'"); n != 1 {
			t.Errorf("exception %s is not resolved as accepted_variance after the README's ack and resolve", id)
		}
		if n := queryInt(t, s.conn, "SELECT count(*) FROM reconcile.exception_history WHERE exception_id = "+id); n < 3 {
			t.Errorf("exception %s has %d status changes, want opened, acknowledged, resolved", id, n)
		}
	}
	// The walkthrough's effects are there: its ingest, its correction.
	res, err := s.conn.Exec(context.Background(), "RESET dualgate.as_of; SELECT kind FROM dualgate.commits ORDER BY commit_id").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range res[len(res)-1].Rows {
		kinds = append(kinds, string(r[0]))
	}
	if got := strings.Join(kinds, ","); !strings.Contains(got, "ingest") || !strings.Contains(got, "correction") {
		t.Fatalf("commits after the README walkthrough: %s, want an ingest and a correction", got)
	}
}

// readmeCatalog writes the README's "Write your own catalog" YAML (its
// only ```yaml block) to dir/library.yaml.
func readmeCatalog(t *testing.T, blocks []readmeBlock, dir string) string {
	t.Helper()
	var yaml []readmeBlock
	for _, b := range blocks {
		if b.info == "yaml" {
			yaml = append(yaml, b)
		}
	}
	if len(yaml) != 1 {
		t.Fatalf("README.md has %d yaml blocks, want the one of \"Write your own catalog\"", len(yaml))
	}
	path := filepath.Join(dir, "library.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(yaml[0].lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReadmeCatalog takes the catalog of README.md's "Write your own
// catalog", checks it with `dualgate check`, serves it, and runs the
// section's ```sql library block: a row ingested over the wire reads back
// from canonical and serving (with the NOTICEs shown), and its
// reconciliation runs clean.
func TestReadmeCatalog(t *testing.T) {
	blocks, _ := readmeBlocks(t)
	path := readmeCatalog(t, blocks, t.TempDir())
	if out, err := runCLI(t, "check", "--catalog", path); err != nil || !strings.Contains(out, "catalog OK") {
		t.Fatalf("dualgate check --catalog library.yaml: %v\n%s", err, out)
	}
	cat, err := catalog.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s := connectReadme(t, startPrimaryCatalog(t, "", cat), "me")
	n := 0
	for _, b := range blocks {
		if b.info != "sql library" {
			continue
		}
		for _, st := range parseReadmeSQL(b) {
			res := s.exec(t, st)
			n++
			if strings.HasPrefix(st.sql, "SELECT") {
				requireRows(t, st, res)
			}
		}
	}
	if n < 4 {
		t.Fatalf("README.md's own-catalog session has %d statements", n)
	}
	if got := queryInt(t, s.conn, "SELECT count(*) FROM reconcile.runs WHERE rule = 'open_loans_records' AND outcome = 'clean' AND matched = 1"); got != 1 {
		t.Errorf("open_loans_records did not run clean on the ingested loan (%d clean runs)", got)
	}
}

// shellWords splits a shell command line (quotes, no expansions) and drops
// a trailing # comment.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == '#' && !in:
			i = len(line)
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// readmeCommands returns the `dualgate …` command lines of README.md's
// code blocks (continuation lines joined), with their line numbers.
func readmeCommands(blocks []readmeBlock) (cmds [][]string, lines []int) {
	for _, b := range blocks {
		if b.info != "sh" && b.info != "bash" && b.info != "" {
			continue
		}
		joined, start := "", 0
		for i, l := range b.lines {
			if joined == "" {
				start = b.line + i
			}
			if t, ok := strings.CutSuffix(strings.TrimRight(l, " "), `\`); ok {
				joined += t + " "
				continue
			}
			joined += l
			w := shellWords(strings.TrimPrefix(strings.TrimSpace(joined), "$ "))
			joined = ""
			if len(w) > 0 && w[0] == "dualgate" {
				cmds, lines = append(cmds, w), append(lines, start)
			}
		}
	}
	return cmds, lines
}

// TestReadmeCommands runs every `dualgate …` command line of README.md's
// code blocks through the real command tree with validation only: cobra
// parses the flags, then serve, demo and the sidecar make the checks a
// real start makes (catalog checked and loaded, users file read, role and
// flag combinations, the gateway's configuration) and stop before opening
// a store, a listener or a connection. File arguments are replaced by
// real ones (the README's own catalog for library.yaml, the demo catalog
// for other catalogs, a users file, temporary directories). Inline
// `dualgate …` commands in the text are checked for their subcommand and
// flag names. The Makefile's `make run` line (the README's start command)
// is validated the same way.
func TestReadmeCommands(t *testing.T) {
	blocks, prose := readmeBlocks(t)
	dir := t.TempDir()
	library := readmeCatalog(t, blocks, dir)
	demoCatalog, err := filepath.Abs(filepath.Join("..", "..", "testdata", "catalog"))
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := gateway.MakeVerifier("secret")
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("ops:"+verifier+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	substitute := func(flag, v string) string {
		switch flag {
		case "catalog":
			if filepath.Base(v) == "library.yaml" {
				return library
			}
			if _, err := os.Stat(filepath.Join("..", "..", v)); err == nil {
				abs, _ := filepath.Abs(filepath.Join("..", "..", v))
				return abs
			}
			return demoCatalog // the primary's catalog files, e.g. /etc/dualgate/catalog
		case "users":
			return users
		case "data", "generate-only":
			return filepath.Join(dir, "data-"+filepath.Base(v))
		}
		return v
	}
	run := func(words []string) (string, error) {
		args := append([]string(nil), words[1:]...)
		for i := 0; i < len(args); i++ {
			name, val, hasVal := strings.Cut(strings.TrimPrefix(args[i], "--"), "=")
			if !strings.HasPrefix(args[i], "--") {
				continue
			}
			if hasVal {
				args[i] = "--" + name + "=" + substitute(name, val)
			} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				args[i+1] = substitute(name, args[i+1])
			}
		}
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetIn(strings.NewReader("secret\n"))
		root.SetArgs(args)
		err := root.ExecuteContext(context.WithValue(context.Background(), validateOnlyKey{}, true))
		return out.String(), err
	}
	cmds, lines := readmeCommands(blocks)
	// `make run`, the README's start command, runs the Makefile's
	// `go run ./cmd/dualgate …` line.
	makefile, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(makefile), "\n") {
		if _, args, ok := strings.Cut(l, " ./cmd/dualgate "); ok && strings.Contains(l, " run ") {
			cmds, lines = append(cmds, append([]string{"dualgate"}, shellWords(args)...)), append(lines, -(i+1))
		}
	}
	seen := map[string]bool{}
	for i, w := range cmds {
		out, err := run(w)
		if err != nil {
			t.Errorf("README.md line %d (negative: Makefile line): %s: %v\n%s", lines[i], strings.Join(w, " "), err, out)
			continue
		}
		seen[w[1]] = true
		if w[1] == "serve" && strings.Contains(strings.Join(w, " "), "--role sidecar") {
			seen["sidecar"] = true
			// The check that caught the README's old example: a sidecar
			// with --users but without --catalog refuses to start.
			var without []string
			for j := 0; j < len(w); j++ {
				if w[j] == "--catalog" {
					j++
					continue
				}
				without = append(without, w[j])
			}
			if _, err := run(without); err == nil || !strings.Contains(err.Error(), "needs --catalog") {
				t.Errorf("README.md line %d without --catalog: %v, want the sidecar's refusal", lines[i], err)
			}
		}
	}
	for _, want := range []string{"check", "serve", "sidecar", "demo"} {
		if !seen[want] {
			t.Errorf("no `dualgate %s` command line validated in README.md's code blocks or make run", want)
		}
	}
	// Inline commands: the subcommand and every flag named exist.
	inline := regexp.MustCompile("`([^`]*)`")
	cmdInSpan := regexp.MustCompile(`(?:^|[\s/])dualgate\s+([a-z]+)((?:\s|$)[^` + "`" + `]*)`)
	root := newRoot()
	n := 0
	for _, span := range inline.FindAllStringSubmatch(prose, -1) {
		m := cmdInSpan.FindStringSubmatch(span[1])
		if m == nil {
			continue
		}
		n++
		var sub *cobra.Command
		for _, c := range root.Commands() {
			if c.Name() == m[1] {
				sub = c
			}
		}
		if sub == nil {
			t.Errorf("README.md names `dualgate %s`, which is no command (in `%s`)", m[1], span[1])
			continue
		}
		for _, w := range strings.Fields(m[2]) {
			if name, ok := strings.CutPrefix(w, "--"); ok {
				name, _, _ = strings.Cut(name, "=")
				if sub.Flags().Lookup(name) == nil {
					t.Errorf("README.md's `%s`: dualgate %s has no flag --%s", span[1], m[1], name)
				}
			}
		}
	}
	if n < 5 {
		t.Errorf("%d inline `dualgate …` commands found in README.md", n)
	}
	t.Logf("%d command lines validated, %d inline commands checked", len(cmds), n)
}

// waitMaterialized waits until a projection has a generation (projections
// follow canonical in the background).
func waitMaterialized(t *testing.T, conn *pgconn.PgConn, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		res, err := conn.Exec(context.Background(), "SELECT generation FROM dualgate.projections WHERE name = '"+name+"'").ReadAll()
		if err == nil && len(res) == 1 && len(res[0].Rows) == 1 && len(res[0].Rows[0][0]) > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("projection %s was not materialized within a minute", name)
}
