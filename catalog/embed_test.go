package catalog_test

import (
	"strings"
	"testing"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/testdata"
)

// The binary loads the demo catalog embedded in package testdata.
func TestEmbeddedDemoCatalog(t *testing.T) {
	c, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	if c.Context("commercial_order_lifecycle") == nil {
		t.Fatal("demo context missing")
	}
	report, ok := catalog.CheckFS(testdata.Catalog, "catalog")
	if !ok || !strings.HasPrefix(report, "catalog OK") {
		t.Fatalf("CheckFS: %v %q", ok, report)
	}
}
