// Package testdata ships the demo catalog inside the dualgate binary.
package testdata

import "embed"

// Catalog holds the demo catalog files under "catalog/"; load it with
// catalog.LoadFS(testdata.Catalog, "catalog").
//
//go:embed catalog/*.yaml
var Catalog embed.FS
