package catalog

import (
	"reflect"
	"strings"
	"testing"
)

func viewByName(t *testing.T, views []View, name string) View {
	t.Helper()
	for _, v := range views {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no view %s", name)
	return View{}
}

func TestViews(t *testing.T) {
	src := base + `serving_tables:
  cart_events:
    description: Cart clicks.
    key: [cart_id]
    columns: {cart_id: text, sku: text}
`
	// A default shows in catalog.columns.
	src = strings.Replace(src, "total_cents: bigint, accepted_at", `total_cents: {type: bigint, default: "0"}, accepted_at`, 1)
	c, errs := loadString(t, src)
	if errs != nil {
		t.Fatal(errs)
	}
	views := c.Views()
	if got := len(views); got != len(ViewNames()) || got != 8 {
		t.Fatalf("%d views", got)
	}
	for _, v := range views {
		for _, r := range v.Rows {
			if len(r) != len(v.Columns) {
				t.Fatalf("view %s: row has %d values for %d columns", v.Name, len(r), len(v.Columns))
			}
			for i, val := range r {
				switch val.(type) {
				case nil:
				case string:
					if v.Columns[i].PGType != "text" {
						t.Errorf("view %s column %s: string in %s column", v.Name, v.Columns[i].Name, v.Columns[i].PGType)
					}
				case int64:
					if v.Columns[i].PGType != "int8" {
						t.Errorf("view %s column %s: int64 in %s column", v.Name, v.Columns[i].Name, v.Columns[i].PGType)
					}
				case bool:
					if v.Columns[i].PGType != "bool" {
						t.Errorf("view %s column %s: bool in %s column", v.Name, v.Columns[i].Name, v.Columns[i].PGType)
					}
				default:
					t.Errorf("view %s: value of type %T", v.Name, val)
				}
			}
		}
	}
	want := map[string][][]any{
		"contexts": {{"shop", "shop-team", nil, c.Contexts[0].File, int64(1), int64(1), int64(1), int64(1), int64(0)}},
		"entities": {{"shop", "orders", "canonical.orders", "An order.", "shop-team", "order_id", int64(4), "status", "accepted", int64(1), "orders_feed v1"}},
		"sources":  {{"shop", "orders_feed", "raw.orders_feed", nil, "shop-team", "event_id", "rows", int64(5)}},
		"mappings": {{"shop", "orders", "orders_feed", int64(1), true,
			"SELECT order_id, lower(status) AS status, total_cents, occurred_at AS accepted_at FROM batch", nil, nil}},
		"projections": {
			{"shop", "order_status", "serving.order_status", "projection", false, nil, "shop-team", "order_id", "2s", int64(2000), "orders",
				"SELECT o.order_id, o.status FROM canonical.orders o"},
			{"shop", "cart_events", "serving.cart_events", "serving_table", false, "Cart clicks.", "shop-team", "cart_id", nil, nil, nil, nil},
		},
		"rules": {
			{"shop", "orders", "non_negative_total", "check", "total_cents >= 0", "error", nil},
			{"shop", "orders", "status_from_accepted", "transition", "status: accepted -> paid, cancelled", "error", nil},
			{"shop", "orders", "status_from_paid", "transition", "status: paid -> shipped, cancelled", "error", nil},
		},
		"lineage": {
			{"source", "orders_feed", "entity", "orders", "mapping", int64(1), "shop"},
			{"entity", "orders", "projection", "order_status", "affected_by order_id", nil, "shop"},
		},
	}
	for name, rows := range want {
		v := viewByName(t, views, name)
		if !reflect.DeepEqual(v.Rows, rows) {
			t.Errorf("catalog.%s rows:\n got %v\nwant %v", name, v.Rows, rows)
		}
	}
	cols := viewByName(t, views, "columns")
	wantCols := [][]any{
		{"shop", "raw", "orders_feed", "source", "event_id", int64(1), "text", true, nil, nil},
		{"shop", "raw", "orders_feed", "source", "order_id", int64(2), "text", false, nil, nil},
		{"shop", "raw", "orders_feed", "source", "status", int64(3), "text", false, nil, nil},
		{"shop", "raw", "orders_feed", "source", "total_cents", int64(4), "bigint", false, nil, nil},
		{"shop", "raw", "orders_feed", "source", "occurred_at", int64(5), "timestamptz", false, nil, nil},
		{"shop", "canonical", "orders", "entity", "order_id", int64(1), "text", true, nil, nil},
		{"shop", "canonical", "orders", "entity", "status", int64(2), "text", false, nil, nil},
		{"shop", "canonical", "orders", "entity", "total_cents", int64(3), "bigint", false, nil, "0"},
		{"shop", "canonical", "orders", "entity", "accepted_at", int64(4), "timestamptz", false, nil, nil},
		{"shop", "serving", "order_status", "projection", "order_id", int64(1), "text", true, nil, nil},
		{"shop", "serving", "order_status", "projection", "status", int64(2), "text", false, nil, nil},
		{"shop", "serving", "cart_events", "serving_table", "cart_id", int64(1), "text", true, nil, nil},
		{"shop", "serving", "cart_events", "serving_table", "sku", int64(2), "text", false, nil, nil},
	}
	if !reflect.DeepEqual(cols.Rows, wantCols) {
		t.Errorf("catalog.columns rows:\n got %v\nwant %v", cols.Rows, wantCols)
	}
	// relation columns through the public helper
	if got, ok := c.RelationColumns("history", "orders"); !ok || len(got) != 9 || got[4] != "commit_id" {
		t.Errorf("history.orders columns %v", got)
	}
	if got, ok := c.RelationColumns("diff", "orders"); !ok || got[0] != "to_order_id" || got[1] != "from_order_id" {
		t.Errorf("diff.orders columns %v", got)
	}
}

func TestDemoViews(t *testing.T) {
	c, err := Load("../testdata/catalog")
	if err != nil {
		t.Fatal(err)
	}
	lineage := viewByName(t, c.Views(), "lineage")
	edges := map[string]bool{}
	for _, r := range lineage.Rows {
		edges[r[0].(string)+":"+r[1].(string)+"->"+r[2].(string)+":"+r[3].(string)] = true
	}
	for _, e := range []string{
		"source:oms_orders->entity:commercial_orders",
		"source:erp_corrections->entity:settlement_events",
		"entity:return_authorizations->projection:daily_sales_mart",
		"projection:daily_sales_mart->reconciliation:returns_reduce_net_sales",
		"external:finance_mart.daily_recognized_sales->reconciliation:recognized_sales_vs_legacy_mart",
	} {
		if !edges[e] {
			t.Errorf("lineage edge %s missing", e)
		}
	}
}
