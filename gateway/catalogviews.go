package gateway

import (
	"context"
	"fmt"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway/dialect"
)

// AddCatalogViews exposes the catalog.* views (contexts, entities, columns,
// sources, mappings, projections, rules, lineage) of a loaded catalog as
// the `catalog` schema. Calling it again with a new catalog replaces them.
func (e *Engine) AddCatalogViews(c *catalog.Catalog) error {
	var tables []SystemTable
	for _, v := range c.Views() {
		cols := make([]SystemColumn, len(v.Columns))
		for i, vc := range v.Columns {
			oid, _, ok := dialect.TypeOID(vc.PGType)
			if !ok {
				return fmt.Errorf("catalog.%s.%s: unknown type %q", v.Name, vc.Name, vc.PGType)
			}
			cols[i] = SystemColumn{Name: vc.Name, OID: oid}
		}
		rows := v.Rows
		tables = append(tables, SystemTable{
			Name:        v.Name,
			Description: "DERIVED (non-authoritative): " + v.Description,
			View:        true,
			Columns:     cols,
			Rows:        func(context.Context) ([][]any, error) { return rows, nil },
		})
	}
	return e.AddSystemSchema("catalog", tables)
}
