package sqltables

import (
	"testing"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/canonical"
)

// TestSetDefaults: store column defaults become literal engine defaults of
// the column's engine type; columns without one keep none.
func TestSetDefaults(t *testing.T) {
	sch := sql.Schema{
		{Name: "id", Type: types.LongText},
		{Name: "channel", Type: types.LongText},
		{Name: "qty", Type: types.Int32},
		{Name: "vip", Type: types.Boolean},
		{Name: "amount", Type: types.MustCreateDecimalType(12, 2)},
	}
	cols := []canonical.Column{
		{Name: "id", Kind: canonical.KindString},
		{Name: "channel", Kind: canonical.KindString, Default: "web"},
		{Name: "qty", Kind: canonical.KindInt64, Default: int64(1)},
		{Name: "vip", Kind: canonical.KindBool, Default: true},
		{Name: "amount", Kind: canonical.KindDecimal, Default: decimal.RequireFromString("1.5")},
	}
	setDefaults(sch, cols)
	if sch[0].Default != nil {
		t.Errorf("id has a default: %v", sch[0].Default)
	}
	ctx := sql.NewEmptyContext()
	for i, want := range map[int]any{1: "web", 2: int32(1), 3: int8(1), 4: "1.50"} {
		d := sch[i].Default
		if d == nil || !d.IsLiteral() {
			t.Fatalf("%s: default %v, want a literal", sch[i].Name, d)
		}
		v, err := d.Eval(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if dv, ok := v.(decimal.Decimal); ok {
			v = dv.StringFixed(2)
		}
		if v != want {
			t.Errorf("%s: default evaluates to %#v, want %#v", sch[i].Name, v, want)
		}
	}
}
