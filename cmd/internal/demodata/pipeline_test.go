package demodata_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/canonical/ingest"
	"github.com/dualgate/dualgate/cmd/internal/demodata"
	"github.com/dualgate/dualgate/gateway"
)

// newPipeline opens a real store under a temp dir and a pipeline over the
// demo catalog that runs its mappings on a real gateway engine.
func newPipeline(t *testing.T) *ingest.Pipeline {
	t.Helper()
	ctx := context.Background()
	store, err := canonical.Open(ctx, t.TempDir(), canonical.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	eng := gateway.NewEngine()
	t.Cleanup(func() { eng.Close() })
	query := func(ctx context.Context, q string, names []string, oids []uint32, rows [][]any) ([]string, [][]any, error) {
		cols := make([]gateway.BatchColumn, len(names))
		for i := range names {
			cols[i] = gateway.BatchColumn{Name: names[i], OID: oids[i]}
		}
		return eng.QueryBatch(ctx, q, cols, rows)
	}
	p, err := ingest.New(store, demoCatalog(t), query, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

type totals struct{ received, committed, unchanged, duplicates, quarantined, warnings int }

func ingestAll(t *testing.T, p *ingest.Pipeline, bs []demodata.Batch, per map[string]*totals) {
	t.Helper()
	for _, b := range bs {
		rep, err := p.Ingest(context.Background(), b.Source, b.Rows, "demo_loader")
		if err != nil {
			t.Fatalf("ingest %s (%d rows): %v", b.Source, len(b.Rows), err)
		}
		if rep.Received != len(b.Rows) || rep.Received != rep.Committed+rep.Unchanged+rep.Duplicates+rep.Quarantined {
			t.Fatalf("%s: counts do not add up: %+v", b.Source, rep)
		}
		tt := per[b.Source]
		if tt == nil {
			tt = &totals{}
			per[b.Source] = tt
		}
		tt.received += rep.Received
		tt.committed += rep.Committed
		tt.unchanged += rep.Unchanged
		tt.duplicates += rep.Duplicates
		tt.quarantined += rep.Quarantined
		tt.warnings += rep.Warnings
	}
}

func TestPipelineEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("ingests 1k orders through the real pipeline")
	}
	ctx := context.Background()
	p := newPipeline(t)
	store := p.Store()
	g := demodata.New(2026, 1000, 7)
	per := map[string]*totals{}
	start := time.Now()
	for d := 0; d < g.Days(); d++ {
		ingestAll(t, p, g.Day(d), per)
	}
	for i := 1; i <= 6; i++ {
		ingestAll(t, p, g.Trickle(g.End().Add(time.Duration(i)*10*time.Minute), 3), per)
	}
	// Let the lifecycles of the history's first days finish (no new
	// orders), so that canonical can be compared with the legacy mart.
	ingestAll(t, p, g.Advance(g.End().AddDate(0, 0, 4)), per)
	s := g.Stats()
	t.Logf("ingested in %v: %+v", time.Since(start), s)
	warnings := 0
	for _, src := range demodata.Sources {
		tt := per[src]
		if tt == nil {
			tt = &totals{}
		}
		t.Logf("%-24s %+v", src, *tt)
		warnings += tt.warnings
		if tt.received != s.Rows[src] {
			t.Errorf("%s: received %d, generator delivered %d", src, tt.received, s.Rows[src])
		}
		if tt.duplicates < s.Duplicates[src] {
			t.Errorf("%s: %d duplicates reported, %d injected", src, tt.duplicates, s.Duplicates[src])
		}
		if tt.duplicates != s.Duplicates[src] {
			t.Errorf("%s: %d duplicates reported, exactly %d expected", src, tt.duplicates, s.Duplicates[src])
		}
		if tt.quarantined != s.Quarantine[src] {
			t.Errorf("%s: %d rows quarantined, the generator predicts %d", src, tt.quarantined, s.Quarantine[src])
		}
	}
	if warnings != s.Warnings {
		t.Errorf("%d rule warnings, the generator predicts %d", warnings, s.Warnings)
	}
	// Reversals are quarantined as illegal transitions.
	q, err := store.Quarantined(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]int{}
	for _, r := range q {
		rules[r.Source+"/"+r.Entity+"/"+r.Rule]++
	}
	t.Logf("quarantine by rule: %v", rules)
	if s.Reversals[demodata.SrcOrders] > 0 && rules["oms_orders/commercial_orders/transition"] < s.Reversals[demodata.SrcOrders] {
		t.Errorf("OMS reversals %d, transition quarantines %d", s.Reversals[demodata.SrcOrders], rules["oms_orders/commercial_orders/transition"])
	}
	if s.Reversals[demodata.SrcShipments] > 0 && rules["warehouse_shipments/shipment_executions/transition"] < s.Reversals[demodata.SrcShipments] {
		t.Errorf("WMS reversals %d, transition quarantines %d", s.Reversals[demodata.SrcShipments], rules["warehouse_shipments/shipment_executions/transition"])
	}
	// Canonical has the orders.
	it, err := store.Scan(ctx, "commercial_orders", canonical.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.Next() {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	it.Close()
	if want := s.Orders - s.RuleBreakers[demodata.SrcOrders] - s.OutOfOrder; n < want {
		t.Errorf("canonical.commercial_orders has %d orders, want at least %d", n, want)
	}
	checkLegacyMart(t, g, store)
	// The steward fixes the generator proposes are accepted.
	fixes := g.Fixes()
	if len(fixes) == 0 {
		t.Fatal("no steward fixes proposed")
	}
	for _, f := range fixes {
		rep, err := demodata.ApplyFix(ctx, p, f, "sam")
		if err != nil {
			t.Fatalf("fix %+v: %v", f, err)
		}
		if rep.Committed != 1 {
			t.Errorf("fix %+v: %+v", f, rep)
		}
	}
}

// checkLegacyMart compares recognized sales in canonical with the legacy
// mart on the history's first two dates, where every order is long
// fulfilled: they agree but for the mart's documented defects (a double
// count on the second date, APAC rounding).
func checkLegacyMart(t *testing.T, g *demodata.Generator, store *canonical.Store) {
	t.Helper()
	ts, err := store.Schema("commercial_orders", canonical.HEAD)
	if err != nil {
		t.Fatal(err)
	}
	iStatus, iTotal, iPlaced, iRegion := ts.ColumnIndex("status"), ts.ColumnIndex("total_cents"), ts.ColumnIndex("placed_at"), ts.ColumnIndex("region")
	type key struct {
		day    time.Time
		region string
	}
	canon := map[key]int64{}
	it, err := store.Scan(context.Background(), "commercial_orders", canonical.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for it.Next() {
		r := it.Row()
		if st := r[iStatus].(string); st != "fulfilled" && st != "closed" {
			continue
		}
		canon[key{r[iPlaced].(time.Time).UTC().Truncate(24 * time.Hour), r[iRegion].(string)}] += r[iTotal].(int64)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	it.Close()
	mart := map[key]int64{}
	for _, r := range g.LegacyMart(g.End()) {
		mart[key{r[0].(time.Time), r[1].(string)}] = r[2].(int64)
	}
	doubled := 0
	for _, day := range []time.Time{g.Start(), g.Start().AddDate(0, 0, 1)} {
		for _, region := range []string{"EU", "NA", "APAC"} {
			k := key{day, region}
			c, m := canon[k], mart[k]
			switch {
			case c == m:
			case region == "APAC" && m-c < 5000 && c-m < 5000:
			case day.Equal(g.Start().AddDate(0, 0, 1)) && m > c && m-c < 200000:
				doubled++
			default:
				t.Errorf("legacy mart %s %s: canonical %d, mart %d", day.Format("2006-01-02"), region, c, m)
			}
		}
	}
	if doubled > 1 {
		t.Errorf("%d double counts, want at most one", doubled)
	}
	if _, ok := mart[key{g.Start().AddDate(0, 0, 2), "EU"}]; ok {
		t.Error("the missing day is in the mart")
	}
}
