package demodata_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/canonical/ingest"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/cmd/internal/demodata"
	"github.com/dualgate/dualgate/testdata"
)

func demoCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// writeValue encodes v unambiguously (type and value) for fingerprints.
func writeValue(h hash.Hash, v any) {
	switch x := v.(type) {
	case time.Time:
		fmt.Fprintf(h, "t:%s;", x.UTC().Format(time.RFC3339Nano))
	case decimal.Decimal:
		fmt.Fprintf(h, "d:%s;", x.String())
	default:
		fmt.Fprintf(h, "%T:%v;", v, v)
	}
}

// hashBatches writes bs to h.
func hashBatches(h hash.Hash, bs []demodata.Batch) {
	for _, b := range bs {
		fmt.Fprintf(h, "batch %s %s %v %d\n", b.Source, b.Name, b.Serving, len(b.Rows))
		for _, r := range b.Rows {
			for _, v := range r {
				writeValue(h, v)
			}
			h.Write([]byte{'\n'})
		}
	}
}

// fingerprintBatches hashes bs.
func fingerprintBatches(bs []demodata.Batch) string {
	h := sha256.New()
	hashBatches(h, bs)
	return hex.EncodeToString(h.Sum(nil))
}

// fingerprint runs a generator (basket events on) through its history
// and a few trickle ticks and hashes every batch.
func fingerprint(seed int64, orders, days int) string {
	g := demodata.NewConfig(demodata.Config{Seed: seed, Orders: orders, Days: days, Baskets: true})
	h := sha256.New()
	write := func(bs []demodata.Batch) { hashBatches(h, bs) }
	for d := 0; d < g.Days(); d++ {
		write(g.Day(d))
	}
	for i := 1; i <= 5; i++ {
		write(g.Trickle(g.End().Add(time.Duration(i)*time.Hour), 20))
	}
	for _, r := range g.LegacyMart(g.Now()) {
		for _, v := range r {
			writeValue(h, v)
		}
	}
	fmt.Fprintf(h, "%+v", g.Stats())
	return hex.EncodeToString(h.Sum(nil))
}

func TestDeterministic(t *testing.T) {
	a, b := fingerprint(42, 1000, 5), fingerprint(42, 1000, 5)
	if a != b {
		t.Fatalf("same seed and size gave different output: %s vs %s", a, b)
	}
	if c := fingerprint(43, 1000, 5); c == a {
		t.Fatal("a different seed gave the same output")
	}
	if c := fingerprint(42, 1001, 5); c == a {
		t.Fatal("a different size gave the same output")
	}
}

// goTypeOK reports whether v has the Go type the generator promises for
// a column of type typ.
func goTypeOK(typ catalog.Type, v any) bool {
	if v == nil {
		return true
	}
	switch typ.Name {
	case "integer", "bigint", "smallint":
		_, ok := v.(int64)
		return ok
	case "numeric":
		_, ok := v.(decimal.Decimal)
		return ok
	case "date":
		x, ok := v.(time.Time)
		return ok && x.Equal(x.Truncate(24*time.Hour)) && x.Location() == time.UTC
	case "timestamptz":
		x, ok := v.(time.Time)
		return ok && x.Location() == time.UTC
	case "text", "char", "varchar":
		_, ok := v.(string)
		return ok
	}
	return false
}

func TestRowsConformToCatalog(t *testing.T) {
	cat := demoCatalog(t)
	for _, name := range demodata.Sources {
		if cat.Source(name) == nil {
			t.Fatalf("source %s is not in the demo catalog", name)
		}
	}
	g := demodata.New(7, 1500, 7)
	var all []demodata.Batch
	for d := 0; d < g.Days(); d++ {
		all = append(all, g.Day(d)...)
	}
	for i := 1; i <= 48; i++ {
		all = append(all, g.Trickle(g.End().Add(time.Duration(i)*time.Hour), 10)...)
	}
	seen := map[string]int{}
	for _, b := range all {
		src := cat.Source(b.Source)
		if src == nil {
			t.Fatalf("batch for unknown source %q", b.Source)
		}
		if len(b.Rows) == 0 {
			t.Fatalf("empty batch for %s", b.Source)
		}
		seen[b.Source] += len(b.Rows)
		for _, r := range b.Rows {
			if len(r) != len(src.Columns) {
				t.Fatalf("%s row has %d values for %d columns: %v", b.Source, len(r), len(src.Columns), r)
			}
			for j, c := range src.Columns {
				if !goTypeOK(c.Type, r[j]) {
					t.Fatalf("%s.%s (%s) holds %T %v", b.Source, c.Name, c.Type, r[j], r[j])
				}
				if _, err := ingest.Conform(c.Type, r[j]); err != nil {
					t.Fatalf("%s.%s: %v", b.Source, c.Name, err)
				}
			}
			for _, k := range src.DedupeKey {
				for j, c := range src.Columns {
					if c.Name == k && r[j] == nil {
						t.Fatalf("%s: NULL dedupe key column %s", b.Source, k)
					}
				}
			}
		}
	}
	for _, name := range demodata.Sources {
		if seen[name] == 0 {
			t.Errorf("no rows for %s", name)
		}
	}
	csv := all[0].CSV([]string{"a"})
	if csv == "" {
		t.Fatal("empty CSV")
	}
}

func near(t *testing.T, what string, got int, base int, rate float64) {
	t.Helper()
	want := float64(base) * rate
	tol := 4*math.Sqrt(want) + 2
	if math.Abs(float64(got)-want) > tol {
		t.Errorf("%s: %d, want about %.1f (rate %g of %d)", what, got, want, rate, base)
	}
}

func TestMessRates(t *testing.T) {
	const orders = 10000
	g := demodata.New(11, orders, 10)
	deliveries := 0
	for d := 0; d < g.Days(); d++ {
		for _, b := range g.Day(d) {
			deliveries += len(b.Rows)
		}
	}
	s := g.Stats()
	t.Logf("stats: %+v", s)
	// Submissions of the last hours may still be in flight (late).
	if s.Orders > orders || s.Orders < orders*99/100 {
		t.Fatalf("orders placed %d, want about %d", s.Orders, orders)
	}
	rows, dups := 0, 0
	for _, src := range demodata.Sources {
		rows += s.Rows[src]
		dups += s.Duplicates[src]
	}
	if f := float64(dups) / float64(rows-dups); f < 0.015 || f > 0.025 {
		t.Errorf("duplicate rows %d of %d (%.4f), want about %g", dups, rows, f, demodata.RateDuplicate)
	}
	near(t, "rule-breaking orders", s.RuleBreakers[demodata.SrcOrders], orders, demodata.RateRuleBreaker)
	near(t, "out-of-order pairs", s.OutOfOrder, orders, demodata.RateOutOfOrder*0.97)
	near(t, "clock-skew warnings", s.Warnings, orders, demodata.RateClockSkew)
	near(t, "e-mail typos", s.EmailTypos, orders, demodata.RateEmailTypo)
	near(t, "OMS reversals", s.Reversals[demodata.SrcOrders], orders, demodata.RateReversal*0.85)
	if s.Late < orders/20 || s.Late > orders/3 {
		t.Errorf("late deliveries %d", s.Late)
	}
	if s.Reversals[demodata.SrcShipments] == 0 || s.Overrides == 0 || s.Cancellations == 0 || s.LateFiles == 0 ||
		s.DoubleBilled == 0 || s.ERP == 0 || s.RuleBreakers[demodata.SrcSettlements] == 0 || s.Duplicates[demodata.SrcSettlements] == 0 {
		t.Errorf("some mess is missing: %+v", s)
	}
	// Every expected quarantine is accounted for by an injected kind.
	if q, want := s.Quarantine[demodata.SrcOrders], s.RuleBreakers[demodata.SrcOrders]+s.Reversals[demodata.SrcOrders]+s.OutOfOrder; q != want {
		t.Errorf("oms quarantine %d, want rule breakers + reversals + out-of-order = %d", q, want)
	}
	if q, want := s.Quarantine[demodata.SrcShipments], s.Reversals[demodata.SrcShipments]; q != want {
		t.Errorf("shipment quarantine %d, want reversals %d", q, want)
	}
	if q := s.Quarantine[demodata.SrcFraud]; q != s.Overrides {
		t.Errorf("fraud quarantine %d, want overrides %d", q, s.Overrides)
	}
	if q := s.Quarantine[demodata.SrcSettlements]; q != s.RuleBreakers[demodata.SrcSettlements] {
		t.Errorf("settlement quarantine %d, want rule breakers %d", q, s.RuleBreakers[demodata.SrcSettlements])
	}
}

func TestLegacyMartDefects(t *testing.T) {
	g := demodata.New(5, 3000, 7)
	for d := 0; d < g.Days(); d++ {
		g.Day(d)
	}
	mart := g.LegacyMart(g.End())
	if len(mart) == 0 {
		t.Fatal("empty mart")
	}
	missing := g.Start().AddDate(0, 0, 2)
	dates := map[time.Time]bool{}
	for _, r := range mart {
		d, region, cents := r[0].(time.Time), r[1].(string), r[2].(int64)
		dates[d] = true
		if d.Equal(missing) {
			t.Fatalf("the missing day %s has rows", missing.Format("2006-01-02"))
		}
		if !d.Before(g.End()) {
			t.Fatalf("row for %s after the cutoff", d)
		}
		if region == "APAC" && cents%10 != 0 {
			t.Fatalf("APAC amounts are rounded to tens: %d", cents)
		}
	}
	for d := g.Start(); d.Before(g.End().AddDate(0, 0, -1)); d = d.AddDate(0, 0, 1) {
		if !dates[d] && !d.Equal(missing) {
			t.Errorf("no mart rows for %s", d.Format("2006-01-02"))
		}
	}
}

// TestStreamsLargeSizes: a 10M-order generator only holds the days it has
// reached (orders are placed day by day and derived again when due).
func TestStreamsLargeSizes(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 20k orders")
	}
	g := demodata.New(1, 10_000_000, 1000) // 10k orders a day
	rows := 0
	for d := 0; d < 2; d++ {
		for _, b := range g.Day(d) {
			rows += len(b.Rows)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("2 days of a 10M-order generator: %d rows, %d orders, heap %d MB", rows, g.Stats().Orders, ms.HeapAlloc>>20)
	if o := g.Stats().Orders; o < 19000 || o > 20000 {
		t.Fatalf("orders delivered after 2 of 1000 days: %d", o)
	}
	if ms.HeapAlloc > 400<<20 {
		t.Fatalf("heap %d MB after two days", ms.HeapAlloc>>20)
	}
}
