package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is a small valid catalog used by the tests (line numbers matter: the
// broken variants below are edits of it).
const base = `context: shop
owner: shop-team
sources:
  orders_feed:
    columns: {event_id: text, order_id: text, status: text, total_cents: bigint, occurred_at: timestamptz}
    dedupe_key: [event_id]
entities:
  orders:
    description: An order.
    key: [order_id]
    columns: {order_id: text, status: text, total_cents: bigint, accepted_at: timestamptz}
    transitions: {column: status, allowed: {accepted: [paid, cancelled], paid: [shipped, cancelled]}}
    rules: [{name: non_negative_total, check: "total_cents >= 0"}]
    mappings:
      - source: orders_feed
        version: 1
        select: SELECT order_id, lower(status) AS status, total_cents, occurred_at AS accepted_at FROM batch
projections:
  order_status:
    key: [order_id]
    freshness_sla: 2s
    select: SELECT o.order_id, o.status FROM canonical.orders o
    affected_by: {orders: order_id}
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadString(t *testing.T, content string) (*Catalog, ValidationErrors) {
	t.Helper()
	dir := t.TempDir()
	p := writeFile(t, dir, "shop.yaml", content)
	c, err := Load(p)
	if err == nil {
		return c, nil
	}
	var ve ValidationErrors
	if !errors.As(err, &ve) {
		t.Fatalf("error is %T, want ValidationErrors: %v", err, err)
	}
	for _, e := range ve {
		// report positions relative to the file name only
		e.Pos.File = filepath.Base(e.Pos.File)
	}
	return nil, ve
}

func TestBaseCatalogLoads(t *testing.T) {
	c, errs := loadString(t, base)
	if errs != nil {
		t.Fatalf("base catalog: %v", errs)
	}
	en := c.Entity("orders")
	if en == nil || c.Source("orders_feed") == nil || c.Projection("order_status") == nil {
		t.Fatal("lookups failed")
	}
	if got := columnNames(en.Columns); !reflect.DeepEqual(got, []string{"order_id", "status", "total_cents", "accepted_at"}) {
		t.Errorf("column order not kept: %v", got)
	}
	if en.Owner != "shop-team" {
		t.Errorf("owner not inherited: %q", en.Owner)
	}
	if !en.Transitions.Allows("accepted", "paid") || en.Transitions.Allows("paid", "accepted") {
		t.Error("transitions wrong")
	}
	if !reflect.DeepEqual(en.Transitions.Initial, []string{"accepted"}) {
		t.Errorf("initial states: %v", en.Transitions.Initial)
	}
	if m := en.CurrentMapping("orders_feed"); m == nil || m.Version != 1 {
		t.Error("current mapping missing")
	}
	if p := c.Projection("order_status"); p.FreshnessSLA != 2*time.Second || p.Column("status").Type.Name != "text" {
		t.Errorf("projection: %+v", p)
	}
	if en.Pos.Line != 8 || en.Pos.Col != 3 {
		t.Errorf("entity position %v, want 8:3", en.Pos)
	}
}

func TestDemoCatalog(t *testing.T) {
	c, err := Load("../testdata/catalog")
	if err != nil {
		t.Fatalf("demo catalog does not load:\n%v", err)
	}
	if c.Context("commercial_order_lifecycle") == nil {
		t.Fatal("demo context missing")
	}
	for _, name := range []string{"commercial_orders", "order_lines", "payment_instructions", "shipment_executions", "return_authorizations", "settlement_events"} {
		if c.Entity(name) == nil {
			t.Errorf("entity %s missing", name)
		}
	}
	for _, name := range []string{"oms_orders", "payment_events", "fraud_decisions", "warehouse_shipments", "returns", "marketplace_settlements", "erp_corrections"} {
		if c.Source(name) == nil {
			t.Errorf("source %s missing", name)
		}
	}
	for _, name := range []string{"order_timeline", "fulfillment_board", "daily_sales_mart", "fraud_features", "executive_kpis"} {
		if c.Projection(name) == nil {
			t.Errorf("projection %s missing", name)
		}
	}
	if c.ServingTable("basket_events") == nil {
		t.Error("serving table basket_events missing")
	}
	levels := map[Level]bool{}
	for _, r := range c.Reconciliations() {
		levels[r.Level] = true
	}
	for _, l := range Levels {
		if !levels[Level(l)] {
			t.Errorf("no %s reconciliation in the demo", l)
		}
	}
	for _, r := range []string{"analyst", "steward", "ingestor", "auditor", "admin", "support"} {
		if len(c.Grants(r)) == 0 {
			t.Errorf("role %s has no grants", r)
		}
	}
	if got := c.UserRoles("sasha"); !reflect.DeepEqual(got, []string{"support"}) {
		t.Errorf("sasha roles %v", got)
	}
	if got := len(c.MappingsFor("oms_orders")); got != 2 {
		t.Errorf("oms_orders feeds %d current mappings, want 2", got)
	}
	if m := c.Entity("commercial_orders").CurrentMapping("oms_orders"); m == nil || m.Version != 2 {
		t.Error("commercial_orders current oms mapping should be v2")
	}
	// every object carries a description
	for _, ctx := range c.Contexts {
		for _, s := range ctx.Sources {
			if s.Description == "" {
				t.Errorf("source %s has no description", s.Name)
			}
		}
		for _, e := range ctx.Entities {
			if e.Description == "" {
				t.Errorf("entity %s has no description", e.Name)
			}
			for _, r := range e.Rules {
				if r.Description == "" {
					t.Errorf("rule %s.%s has no description", e.Name, r.Name)
				}
			}
			for _, m := range e.Mappings {
				if m.Description == "" {
					t.Errorf("mapping %s<-%s v%d has no description", e.Name, m.Source, m.Version)
				}
			}
		}
		for _, p := range ctx.Projections {
			if p.Description == "" {
				t.Errorf("projection %s has no description", p.Name)
			}
		}
		for _, r := range ctx.Reconciliations {
			if r.Description == "" {
				t.Errorf("reconciliation %s has no description", r.Name)
			}
		}
	}
	report, ok := Check("../testdata/catalog/commercial_order_lifecycle.yaml")
	if !ok || !strings.HasPrefix(report, "catalog OK: 1 context, 7 sources") {
		t.Errorf("Check: ok=%v report=%q", ok, report)
	}
}

func TestLoadFSAndDir(t *testing.T) {
	c, err := LoadFS(os.DirFS("../testdata"), "catalog")
	if err != nil {
		t.Fatal(err)
	}
	if c.Contexts[0].File != "catalog/commercial_order_lifecycle.yaml" {
		t.Errorf("file name %q", c.Contexts[0].File)
	}
	// a directory with two contexts, sorted by file name
	dir := t.TempDir()
	writeFile(t, dir, "b.yaml", strings.Replace(base, "context: shop", "context: shop_b", 1))
	other := "context: billing\nowner: billing-team\nentities:\n  invoices:\n    key: [invoice_id]\n    columns: {invoice_id: text, order_id: text}\nprojections:\n  invoice_orders:\n    key: [invoice_id]\n    freshness_sla: 1s\n    select: SELECT i.invoice_id, i.order_id, o.status FROM canonical.invoices i JOIN canonical.orders o ON o.order_id = i.order_id\n    affected_by: {invoices: invoice_id, orders: {order_id: order_id}}\n"
	writeFile(t, dir, "a.yml", other)
	writeFile(t, dir, "notes.txt", "not a catalog")
	c, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Contexts) != 2 || c.Contexts[0].Name != "billing" || c.Contexts[1].Name != "shop_b" {
		t.Fatalf("contexts %v", c.Contexts)
	}
	if c.Entity("orders") == nil || c.Entity("invoices") == nil {
		t.Fatal("cross-context lookups failed")
	}
}

func TestMissingPath(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml: cannot read catalog") {
		t.Fatalf("got %v", err)
	}
	report, ok := Check(filepath.Join(t.TempDir(), "nope.yaml"))
	if ok || !strings.Contains(report, "catalog invalid: 1 error") {
		t.Fatalf("Check: %v %q", ok, report)
	}
}
