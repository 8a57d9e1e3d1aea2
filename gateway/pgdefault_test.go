package gateway

import (
	"testing"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/gateway/pgtypes"
)

// TestPgDefault: literal column defaults render as pg_get_expr(adbin)
// shows them in Postgres.
func TestPgDefault(t *testing.T) {
	lit := func(v any, typ sql.Type) *sql.ColumnDefaultValue {
		d, _ := sql.NewColumnDefaultValue(expression.NewLiteral(v, typ), typ, true, false, true)
		return d
	}
	for _, c := range []struct {
		d    *sql.ColumnDefaultValue
		oid  uint32
		want string
	}{
		{lit("web", types.LongText), pgtypes.Text, "'web'::text"},
		{lit("it's", types.LongText), pgtypes.Text, "'it''s'::text"},
		{lit("new", types.LongText), pgtypes.Varchar, "'new'::character varying"},
		{lit(int32(1), types.Int32), pgtypes.Int4, "1"},
		{lit(int32(-1), types.Int32), pgtypes.Int4, "'-1'::integer"},
		{lit(int64(5000000000), types.Int64), pgtypes.Int8, "'5000000000'::bigint"},
		{lit(int8(1), types.Boolean), pgtypes.Bool, "true"},
		{lit(int8(0), types.Boolean), pgtypes.Bool, "false"},
		{lit(decimal.RequireFromString("1.50"), types.MustCreateDecimalType(12, 2)), pgtypes.Numeric, "1.50"},
		{lit(nil, types.LongText), pgtypes.Text, ""},
	} {
		if got := pgDefault(c.d, c.oid); got != c.want {
			t.Errorf("pgDefault(%v, %d) = %q, want %q", c.d, c.oid, got, c.want)
		}
	}
}
