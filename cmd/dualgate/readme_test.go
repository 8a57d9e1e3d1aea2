package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestReadmeSQL runs every ```sql block of README.md, in order, in one
// session against a primary serving the demo catalog, so the README's
// walkthrough cannot rot. (The shell commands are `make run` and `make
// test`, which CI runs by other means.)
func TestReadmeSQL(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var lines []int
	var cur []string
	in := false
	for i, l := range strings.Split(string(text), "\n") {
		switch {
		case !in && strings.TrimSpace(l) == "```sql":
			in, cur = true, nil
			lines = append(lines, i+2)
		case in && strings.TrimSpace(l) == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, l)
		}
	}
	if len(blocks) == 0 {
		t.Fatal("README.md has no sql blocks")
	}
	// The walkthrough runs on the demo's data (a small history with its
	// steward corrections), as a newcomer would see it after `make run`.
	addr, _, stop := startDemo(t, t.TempDir(), &demoOptions{orders: 300, days: 4, seed: 1, stewardFixes: 3})
	defer stop()
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, dsn(addr, "demo"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for i, b := range blocks {
		if strings.Contains(b, "serving.") {
			waitMaterialized(t, conn, "order_timeline")
		}
		results, err := conn.Exec(ctx, b).ReadAll()
		if err != nil {
			t.Fatalf("README.md sql block at line %d failed: %v\n%s", lines[i], err, b)
		}
		t.Logf("README.md block at line %d: %d statements ran", lines[i], len(results))
	}
	// The walkthrough's effects are there: its ingest, its correction.
	res, err := conn.Exec(ctx, "RESET dualgate.as_of; SELECT kind FROM dualgate.commits ORDER BY commit_id").ReadAll()
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
