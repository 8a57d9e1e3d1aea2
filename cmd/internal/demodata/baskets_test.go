package demodata_test

import (
	"testing"
	"time"

	"github.com/dualgate/dualgate/canonical/ingest"
	"github.com/dualgate/dualgate/cmd/internal/demodata"
)

// TestBasketEvents: with Config.Baskets the generator writes the digital
// channel's basket events as serving-table batches that fit
// serving.basket_events; they include abandoned baskets and checkout
// retries, some of which reference the order the checkout placed; and the
// sources' batches are the same with or without them.
func TestBasketEvents(t *testing.T) {
	cat := demoCatalog(t)
	st := cat.ServingTable(demodata.TableBaskets)
	if st == nil {
		t.Fatalf("serving table %s is not in the demo catalog", demodata.TableBaskets)
	}
	if len(st.Columns) != len(demodata.BasketColumns) {
		t.Fatalf("catalog has %d basket columns, generator %d", len(st.Columns), len(demodata.BasketColumns))
	}
	for i, c := range st.Columns {
		if c.Name != demodata.BasketColumns[i] {
			t.Fatalf("basket column %d: catalog %s, generator %s", i, c.Name, demodata.BasketColumns[i])
		}
	}
	cfg := demodata.Config{Seed: 9, Orders: 2000, Days: 3}
	with, without := cfg, cfg
	with.Baskets = true
	gw, gn := demodata.NewConfig(with), demodata.NewConfig(without)
	var baskets [][]any
	sources := func(bs []demodata.Batch) []demodata.Batch {
		var out []demodata.Batch
		for _, b := range bs {
			if b.Serving {
				if b.Source != demodata.TableBaskets {
					t.Fatalf("serving batch for %s", b.Source)
				}
				baskets = append(baskets, b.Rows...)
				continue
			}
			out = append(out, b)
		}
		return out
	}
	for d := 0; d < 3; d++ {
		a, b := sources(gw.Day(d)), gn.Day(d)
		if fingerprintBatches(a) != fingerprintBatches(b) {
			t.Fatalf("day %d: the sources' batches differ with baskets on", d)
		}
	}
	s := gw.Stats()
	t.Logf("basket stats: %d rows, %d baskets, %d abandoned, %d retries (%d of placed orders)",
		s.Rows[demodata.TableBaskets], s.Baskets, s.AbandonedBaskets, s.CheckoutRetries, s.OrderRetries)
	if len(baskets) != s.Rows[demodata.TableBaskets] || len(baskets) == 0 {
		t.Fatalf("%d basket rows, stats say %d", len(baskets), s.Rows[demodata.TableBaskets])
	}
	type key struct {
		basket string
		seq    int64
	}
	seen := map[key]bool{}
	types := map[string]int{}
	lastSeq := map[string]int64{}
	lastAt := map[string]time.Time{}
	retries, orderRetries, abandonedRetries, completed := 0, 0, 0, 0
	for _, r := range baskets {
		for j, c := range st.Columns {
			if !goTypeOK(c.Type, r[j]) {
				t.Fatalf("basket_events.%s (%s) holds %T %v", c.Name, c.Type, r[j], r[j])
			}
			if _, err := ingest.Conform(c.Type, r[j]); err != nil {
				t.Fatalf("basket_events.%s: %v", c.Name, err)
			}
		}
		id, seq, typ, at := r[0].(string), r[1].(int64), r[4].(string), r[10].(time.Time)
		k := key{id, seq}
		if seen[k] {
			t.Fatalf("basket event %v written twice", k)
		}
		seen[k] = true
		if seq != lastSeq[id]+1 || at.Before(lastAt[id]) {
			t.Fatalf("basket %s: event %d at %s after event %d at %s", id, seq, at, lastSeq[id], lastAt[id])
		}
		lastSeq[id], lastAt[id] = seq, at
		types[typ]++
		abandoned := len(id) > 2 && id[len(id)-2:] == "-A"
		switch typ {
		case demodata.BasketCheckoutRetry:
			retries++
			if r[9] != nil {
				orderRetries++
			}
			if abandoned {
				abandonedRetries++
			}
		case demodata.BasketCheckoutCompleted:
			completed++
			if r[9] == nil || abandoned {
				t.Fatalf("completed checkout without an order: %v", r)
			}
		}
		if abandoned && r[9] != nil {
			t.Fatalf("abandoned basket with an order: %v", r)
		}
	}
	t.Logf("event types: %v", types)
	for _, typ := range []string{demodata.BasketItemAdded, demodata.BasketItemRemoved, demodata.BasketQuantityChanged,
		demodata.BasketCheckoutStarted, demodata.BasketCheckoutFailed, demodata.BasketCheckoutRetry, demodata.BasketCheckoutCompleted} {
		if types[typ] == 0 {
			t.Errorf("no %s events", typ)
		}
	}
	if retries != s.CheckoutRetries || orderRetries != s.OrderRetries || orderRetries == 0 || abandonedRetries == 0 {
		t.Errorf("retries %d (stats %d), of orders %d (stats %d), of abandoned baskets %d",
			retries, s.CheckoutRetries, orderRetries, s.OrderRetries, abandonedRetries)
	}
	if s.AbandonedBaskets == 0 || s.Baskets <= s.AbandonedBaskets || completed == 0 {
		t.Errorf("baskets %d, abandoned %d, completed checkouts %d", s.Baskets, s.AbandonedBaskets, completed)
	}
}
