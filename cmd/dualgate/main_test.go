package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestCheckCommand(t *testing.T) {
	out, err := runCLI(t, "check", "--catalog", filepath.Join("..", "..", "testdata", "catalog"))
	if err != nil || !strings.Contains(out, "catalog OK") {
		t.Fatalf("demo catalog: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("context: shop\nowner: team\nentities:\n  orders:\n    key: [order_id]\n    columns: {id: text}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "check", "--catalog", bad)
	if !errors.Is(err, errInvalidCatalog) {
		t.Fatalf("broken catalog: err = %v, want errInvalidCatalog (exit 1)", err)
	}
	if !strings.Contains(out, bad+":5:") || !strings.Contains(out, "order_id") {
		t.Fatalf("report does not name file:line and the bad key:\n%s", out)
	}
}

func TestEnvironmentFillsFlags(t *testing.T) {
	o := &serveOptions{}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	o.register(fs)
	t.Setenv("DUALGATE_LISTEN", "127.0.0.1:7777")
	t.Setenv("DUALGATE_MAX_MESSAGE_SIZE", "1024")
	t.Setenv("DUALGATE_LOG_LEVEL", "debug")
	if err := fs.Parse([]string{"--log-level", "warn"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(fs); err != nil {
		t.Fatal(err)
	}
	if o.listen != "127.0.0.1:7777" || o.maxMessage != 1024 || o.logLevel != "warn" {
		t.Fatalf("listen=%q max=%d level=%q; want env for unset flags, command line otherwise", o.listen, o.maxMessage, o.logLevel)
	}
	t.Setenv("DUALGATE_MAX_MESSAGE_SIZE", "lots")
	fs2 := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	(&serveOptions{}).register(fs2)
	if err := applyEnv(fs2); err == nil || !strings.Contains(err.Error(), "DUALGATE_MAX_MESSAGE_SIZE") {
		t.Fatalf("bad env value: %v, want an error naming the variable", err)
	}
}

func TestPasswdPrintsVerifier(t *testing.T) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetIn(strings.NewReader("hunter2\n"))
	root.SetArgs([]string{"passwd", "alice"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(out.String())
	if !strings.HasPrefix(line, "alice:SCRAM-SHA-256$4096:") {
		t.Fatalf("passwd printed %q", line)
	}
}

// TestMallocArenas: the cap applies (glibc with cgo, as this build is)
// unless MALLOC_ARENA_MAX is set, which is then left to glibc.
func TestMallocArenas(t *testing.T) {
	t.Setenv("MALLOC_ARENA_MAX", "")
	if !capMallocArenas() {
		t.Error("malloc arenas not capped (glibc with cgo: mallopt(M_ARENA_MAX) should succeed)")
	}
	t.Setenv("MALLOC_ARENA_MAX", "8")
	if capMallocArenas() {
		t.Error("capped although MALLOC_ARENA_MAX is set in the environment")
	}
}
