package catalog

import "testing"

func TestFilterThroughMapping(t *testing.T) {
	for _, c := range []struct {
		sel, where, want string
		ok               bool
	}{
		{"SELECT order_id, upper(region) AS region, total FROM batch", "region = 'EU'", "upper(region) = 'EU'", true},
		{"SELECT b.order_id, b.zone AS region FROM batch b WHERE b.line_no = 1", "region IN ('EU', 'UK') AND order_id <> 'x'",
			"(line_no = 1) AND (zone IN ('EU', 'UK') AND order_id <> 'x')", true},
		{"SELECT order_id, coalesce(r, 'EU') AS region FROM batch", "region = 'EU' OR region IS NULL", "COALESCE(r, 'EU') = 'EU' OR COALESCE(r, 'EU') IS NULL", true},
		{"SELECT order_id, region FROM batch", "placed_at > now() - interval '180 days'", "", false},           // not produced
		{"SELECT order_id, max(region) AS region FROM batch GROUP BY order_id", "region = 'EU'", "", false},    // grouped
		{"SELECT order_id, region FROM batch WHERE order_id IN (SELECT 1)", "region = 'EU'", "", false},        // subquery
		{"SELECT order_id, region FROM batch", "region = (SELECT 'EU')", "", false},                            // subquery in the filter
		{"SELECT b.order_id, c.region FROM batch b JOIN batch c USING (order_id)", "region = 'EU'", "", false}, // join
	} {
		got, ok := FilterThroughMapping(&Mapping{Select: c.sel}, c.where)
		if ok != c.ok || got != c.want {
			t.Errorf("%s | %s: got %q %v, want %q %v", c.sel, c.where, got, ok, c.want, c.ok)
		}
	}
}

func TestFilterThroughProjection(t *testing.T) {
	for _, c := range []struct {
		sel, where, want string
		ok               bool
	}{
		{"SELECT o.order_id, o.region AS zone, s.shipped_at FROM canonical.orders o LEFT JOIN canonical.shipments s USING (order_id)", "region = 'EU'", "zone = 'EU'", true},
		{"SELECT order_id, region FROM canonical.orders", "region = 'EU' AND order_id > 'a'", "region = 'EU' AND order_id > 'a'", true},
		{"SELECT o.order_id, lower(o.region) AS region FROM canonical.orders o", "region = 'EU'", "", false},                         // computed
		{"SELECT o.order_id FROM canonical.orders o", "region = 'EU'", "", false},                                                    // not in the output
		{"SELECT a.order_id, a.region FROM canonical.orders a JOIN canonical.orders b USING (order_id)", "region = 'EU'", "", false}, // read twice
		{"SELECT region, count(*) AS n FROM canonical.orders GROUP BY region", "region = 'EU'", "", false},                           // grouped
	} {
		got, ok := FilterThroughProjection(&Projection{Select: c.sel}, "orders", c.where)
		if ok != c.ok || got != c.want {
			t.Errorf("%s | %s: got %q %v, want %q %v", c.sel, c.where, got, ok, c.want, c.ok)
		}
	}
}

func TestFilterThroughProjectionSubqueries(t *testing.T) {
	sel := "SELECT o.order_id, o.region, (SELECT sum(p.c) FROM canonical.payments p WHERE p.order_id = o.order_id) AS paid FROM canonical.orders o"
	if got, ok := FilterThroughProjection(&Projection{Select: sel}, "orders", "region = 'EU'"); !ok || got != "region = 'EU'" {
		t.Fatalf("scalar subquery output: %q %v", got, ok)
	}
	sel = "SELECT o.order_id, o.region FROM canonical.orders o WHERE o.order_id IN (SELECT order_id FROM canonical.payments)"
	if got, ok := FilterThroughProjection(&Projection{Select: sel}, "orders", "region = 'EU'"); ok {
		t.Fatalf("subquery in WHERE: %q", got)
	}
}
