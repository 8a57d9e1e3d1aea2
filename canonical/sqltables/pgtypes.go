package sqltables

import (
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/dualgate/dualgate/catalog"
)

// PostgresTyped is implemented by every table of this package: the Postgres
// type of each column (catalog types for entity and source columns, with
// typmods such as numeric(12,2); bigint, text, timestamptz, jsonb for the
// system columns), for the gateway's RowDescription and pg_catalog.
type PostgresTyped interface {
	PostgresTypes() []catalog.Type
}

var (
	_ PostgresTyped = (*CanonicalTable)(nil)
	_ PostgresTyped = (*baseTable)(nil)
)

// PostgresTypes implements PostgresTyped.
func (t *CanonicalTable) PostgresTypes() []catalog.Type {
	return pgTypes(t.sch, func(name string) *catalog.Column { return t.entity.Column(name) })
}

// PostgresTypes implements PostgresTyped.
func (t *baseTable) PostgresTypes() []catalog.Type { return pgTypes(t.sch, t.catCol) }

// pgTypes maps a schema to Postgres types: catalog columns by name (a
// to_/from_ prefix is tried too), otherwise by engine type.
func pgTypes(sch sql.Schema, col func(name string) *catalog.Column) []catalog.Type {
	out := make([]catalog.Type, len(sch))
	for i, c := range sch {
		if col != nil {
			cc := col(c.Name)
			for _, p := range []string{"to_", "from_"} {
				if cc == nil && strings.HasPrefix(c.Name, p) {
					cc = col(strings.TrimPrefix(c.Name, p))
				}
			}
			if cc != nil {
				out[i] = cc.Type
				continue
			}
		}
		out[i] = pgTypeOfEngine(c.Type)
	}
	return out
}

func pgTypeOfEngine(t sql.Type) catalog.Type {
	name := "text"
	switch {
	case t == types.Int64:
		name = "bigint"
	case t == types.Int32:
		name = "integer"
	case t == types.Int16:
		name = "smallint"
	case t == types.Boolean:
		name = "boolean"
	case t == types.Float64:
		name = "double precision"
	case t == types.Float32:
		name = "real"
	case types.IsDecimal(t):
		name = "numeric"
	case t == types.Date:
		name = "date"
	case types.IsTime(t):
		name = "timestamptz"
	case types.IsJSON(t):
		name = "jsonb"
	case types.IsBlobType(t):
		name = "bytea"
	}
	ct, err := catalog.ParseType(name)
	if err != nil {
		ct = catalog.Type{Name: name}
	}
	return ct
}
