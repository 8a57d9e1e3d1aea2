package demodata

import (
	"testing"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/testdata"
)

// The generator predicts which out-of-order events the pipeline
// quarantines with a mirror of commercial_orders' transitions.
func TestOrderTransitionsMirrorCatalog(t *testing.T) {
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	tr := cat.Entity("commercial_orders").Transitions
	for _, from := range tr.States {
		for _, to := range tr.States {
			if got, want := orderAllows(from, to), tr.Allows(from, to); got != want {
				t.Errorf("%s -> %s: mirror %v, catalog %v", from, to, got, want)
			}
		}
		if got, want := orderAllows("", from), tr.IsInitial(from); got != want {
			t.Errorf("initial %s: mirror %v, catalog %v", from, got, want)
		}
	}
}
