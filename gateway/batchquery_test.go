package gateway_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/gateway/pgtypes"
)

func TestQueryBatch(t *testing.T) {
	eng := gateway.NewEngine()
	defer eng.Close()
	cols := []gateway.BatchColumn{{Name: "order_id", OID: pgtypes.Text}, {Name: "status", OID: pgtypes.Text}, {Name: "total_cents", OID: pgtypes.Int8}}
	rows := [][]any{{"o-1", "ACCEPTED", int64(1250)}, {"o-2", "Paid", int64(-5)}, {"o-3", nil, int64(0)}}
	names, out, err := eng.QueryBatch(context.Background(),
		`SELECT order_id, lower(status) AS status, total_cents >= 0 AS ok FROM batch ORDER BY order_id`, cols, rows)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(names) != "[order_id status ok]" {
		t.Fatalf("names = %v", names)
	}
	got := fmt.Sprint(out)
	if got != "[[o-1 accepted true] [o-2 paid false] [o-3 <nil> true]]" {
		t.Fatalf("rows = %s", got)
	}
	// Each call's batch is private and gone afterwards.
	if _, _, err := eng.QueryBatch(context.Background(), `SELECT * FROM batch WHERE nope = 1`, cols, rows); err == nil {
		t.Fatal("expected an error for an unknown column")
	}
	if _, _, err := eng.QueryBatch(context.Background(), `DELETE FROM batch`, cols, rows); err == nil {
		t.Fatal("expected a refusal of a non-SELECT")
	}
}
