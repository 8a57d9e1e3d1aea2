package sidecar

import (
	"testing"

	"github.com/dualgate/dualgate/catalog"
)

// TestGenerationsChanged: the first sighting of a projection's generation
// is no change; a different one later is; an unreadable one is ignored.
func TestGenerationsChanged(t *testing.T) {
	var g generations
	for i, c := range []struct {
		name, gen string
		want      bool
	}{
		{"a", "g1", false}, {"a", "g1", false}, {"b", "g1", false}, {"a", "", false}, {"a", "g2", true}, {"a", "g2", false}, {"b", "g1", false},
	} {
		if got := g.changed(c.name, c.gen); got != c.want {
			t.Errorf("%d: changed(%s, %s) = %v, want %v", i, c.name, c.gen, got, c.want)
		}
	}
}

// TestFingerprint: the fingerprint changes with a projection's columns
// and with the set of projections, not otherwise.
func TestFingerprint(t *testing.T) {
	load := func(projs string) *catalog.Catalog {
		t.Helper()
		c, err := catalog.LoadFiles(catalog.File{Name: "f.yaml", Data: []byte(`context: f
owner: t
entities:
  e:
    key: [id]
    columns: {id: text, v: bigint}
projections:
` + projs)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	p1 := "  p:\n    key: [id]\n    freshness_sla: 1s\n    select: SELECT id, v FROM canonical.e\n    affected_by: {e: id}\n"
	p2 := "  p:\n    key: [id]\n    freshness_sla: 1s\n    select: SELECT id, v, v * 2 AS w FROM canonical.e\n    affected_by: {e: id}\n"
	q := "  q:\n    key: [id]\n    freshness_sla: 1s\n    select: SELECT id FROM canonical.e\n    affected_by: {e: id}\n"
	if fingerprint(load(p1)) != fingerprint(load(p1)) {
		t.Error("same catalog, different fingerprints")
	}
	if fingerprint(load(p1)) == fingerprint(load(p2)) {
		t.Error("changed columns, same fingerprint")
	}
	if fingerprint(load(p1)) == fingerprint(load(p1+q)) {
		t.Error("added projection, same fingerprint")
	}
	if d := newDefs(load(p1 + q)); len(d.order) != 2 || d.projs["q"] == nil {
		t.Errorf("newDefs: %v", d.order)
	}
}
