package catalog

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes as a catalog file: loading must never
// panic, and must return either a catalog or ValidationErrors naming the file.
func FuzzLoad(f *testing.F) {
	demo, err := os.ReadFile("../testdata/catalog/commercial_order_lifecycle.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(demo)
	f.Add([]byte(base))
	f.Add([]byte(base + reconSection + policySection))
	f.Add([]byte(strings.Replace(base, "FROM batch", "FORM batch", 1)))
	f.Add([]byte(strings.Replace(base, "key: [order_id]", "key: [order_id", 1)))
	f.Add([]byte("context: x\nentities:\n  e:\n    key: [a]\n    columns: {a: text}\n    mappings:\n      - {source: s, version: 1, select: \"SELECT $1\"}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("context: [\n"))
	f.Add([]byte("---\ncontext: a\n---\ncontext: b\n"))
	f.Add([]byte("context: x\nprojections:\n  p:\n    key: [k]\n    freshness_sla: 1d2h\n    select: \"WITH RECURSIVE r AS (SELECT 1) SELECT 1 AS k FROM r\"\n    affected_by: {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := LoadFiles(File{Name: "fuzz.yaml", Data: data})
		if err == nil {
			if c == nil {
				t.Fatal("nil catalog without error")
			}
			_ = c.Views()
			_ = c.Summary()
			return
		}
		if c != nil {
			t.Fatal("catalog returned with an error")
		}
		var ve ValidationErrors
		if !errors.As(err, &ve) || len(ve) == 0 {
			t.Fatalf("error is %T, want non-empty ValidationErrors: %v", err, err)
		}
		for _, e := range ve {
			if e.Pos.File != "fuzz.yaml" {
				t.Fatalf("error without the file name: %v", e)
			}
			if e.Msg == "" {
				t.Fatalf("empty message: %#v", e)
			}
		}
	})
}
