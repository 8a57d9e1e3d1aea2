package catalog

import "testing"

// designExample is the catalog of DESIGN.md verbatim, plus the shipments
// entity and fulfillment_daily projection it refers to.
const designExample = `context: commercial_order_lifecycle
owner: order-domain-team
sources:
  oms_orders:
    columns: {event_id: text, order_id: text, status: text, total_cents: bigint, occurred_at: timestamptz}
    dedupe_key: [event_id]
entities:
  orders:
    description: A commercial commitment accepted by the retailer.
    key: [order_id]
    columns: {order_id: text, status: text, total_cents: bigint, accepted_at: timestamptz}
    transitions: {column: status, allowed: {accepted: [paid, cancelled], paid: [shipped, cancelled]}}
    rules: [{name: non_negative_total, check: "total_cents >= 0"}]
    mappings:
      - source: oms_orders
        version: 2
        select: SELECT order_id, lower(status) AS status, total_cents, occurred_at AS accepted_at FROM batch
  shipments:
    key: [shipment_id]
    columns: {shipment_id: text, order_id: text, units: integer, ship_date: date, shipped_at: timestamptz}
projections:
  order_timeline:
    key: [order_id]
    freshness_sla: 2s
    select: SELECT o.order_id, o.status, s.shipped_at FROM canonical.orders o LEFT JOIN canonical.shipments s USING (order_id)
    affected_by: {orders: order_id, shipments: order_id}
  fulfillment_daily:
    key: [day]
    freshness_sla: 1m
    select: SELECT ship_date AS day, units FROM canonical.shipments
    affected_by: {shipments: ship_date}
reconciliations:
  shipped_units:
    level: balance            # record | count | balance | state | temporal | semantic
    owner: fulfillment-team
    left: SELECT ship_date AS day, sum(units) FROM canonical.shipments GROUP BY 1
    right: SELECT day, sum(units) FROM serving.fulfillment_daily GROUP BY 1
    match: [day]
    tolerance: {absolute: 0}
    grace: 30s
    schedule: 1m
    repair: rebuild
`

func TestDesignExample(t *testing.T) {
	c, errs := loadString(t, designExample)
	if errs != nil {
		t.Fatalf("DESIGN.md example: %v", errs)
	}
	r := c.Reconciliation("shipped_units")
	if r.Level != LevelBalance || r.Tolerance.Absolute == nil || !r.Tolerance.Absolute.IsZero() || r.Repair != "rebuild" {
		t.Errorf("reconciliation: %+v", r)
	}
	if got := r.RightColumns; len(got) != 2 || got[1] != "sum" {
		t.Errorf("right columns %v, want [day sum] (Postgres names unaliased aggregates after the function)", got)
	}
	if p := c.Projection("order_timeline"); p.Column("shipped_at").Type.Name != "timestamptz" {
		t.Errorf("projection column types not inferred: %+v", p.Columns)
	}
}
