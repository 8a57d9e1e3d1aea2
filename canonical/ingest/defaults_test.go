package ingest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

// TestAddColumnDefault: a column added to a stored entity with a catalog
// default is one schema commit; rows stored before read with the default at
// head, and AS OF a commit before the column existed they have no such
// column; rows written after carry what the mapping produces.
func TestAddColumnDefault(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	p := newPipeline(t, s, shopCatalog(t, false), nil)
	if _, err := p.Ingest(ctx, "order_events", [][]any{ev("e1", "o1", "submitted", 10, 1, 0)}, "t"); err != nil {
		t.Fatal(err)
	}
	before := s.Head().ID
	y := strings.Replace(shopV1, "%V2%\n", "", 1)
	y = strings.Replace(y, "qty: smallint, updated_at: timestamptz}",
		`qty: smallint, updated_at: timestamptz, channel: {type: text, default: web}, fee: {type: "numeric(8,2)", default: "1.5"}, since: {type: date, default: "2024-01-31"}}`, 1)
	y = strings.Replace(y, "occurred_at AS updated_at FROM batch", "occurred_at AS updated_at, 'app' AS channel, NULL::numeric AS fee, NULL::date AS since FROM batch", 1)
	cat, err := catalog.LoadFiles(catalog.File{Name: "shop.yaml", Data: []byte(y)})
	if err != nil {
		t.Fatal(err)
	}
	p2 := newPipeline(t, s, cat, nil)
	if h := s.Head(); h.ID != before+1 || h.Kind != canonical.KindSchema {
		t.Fatalf("head after adding columns with defaults: %+v", h)
	}
	row, ok, err := s.Get(ctx, "orders", []any{"o1"}, canonical.HEAD)
	if err != nil || !ok {
		t.Fatalf("o1 at head: %v %v", ok, err)
	}
	ts, _ := s.Schema("orders", canonical.HEAD)
	got := func(r []any, col string) any { return r[ts.ColumnIndex(col)] }
	if got(row, "channel") != "web" || !got(row, "fee").(decimal.Decimal).Equal(decimal.RequireFromString("1.5")) ||
		!got(row, "since").(time.Time).Equal(time.Date(2024, 1, 31, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("o1 at head reads the defaults: %v", row)
	}
	old, ok, err := s.Get(ctx, "orders", []any{"o1"}, before)
	if err != nil || !ok {
		t.Fatalf("o1 AS OF %d: %v %v", before, ok, err)
	}
	if oldTS, _ := s.Schema("orders", before); len(old) != len(oldTS.Columns) || oldTS.ColumnIndex("channel") >= 0 {
		t.Fatalf("o1 AS OF %d has the columns of then: %v (%v)", before, old, oldTS.Columns)
	}
	if _, err := p2.Ingest(ctx, "order_events", [][]any{ev("e2", "o2", "submitted", 20, 2, 1)}, "t"); err != nil {
		t.Fatal(err)
	}
	row, _, _ = s.Get(ctx, "orders", []any{"o2"}, canonical.HEAD)
	if got(row, "channel") != "app" || got(row, "fee") != nil {
		t.Fatalf("o2 carries the mapping's values, not the defaults: %v", row)
	}
}

// TestDefaultRefused: a default the catalog accepts but the column type
// does not (varchar length is checked by both; an out-of-range smallint
// by the catalog) never reaches the store.
func TestDefaultRefused(t *testing.T) {
	y := strings.Replace(shopV1, "%V2%\n", "", 1)
	y = strings.Replace(y, "qty: smallint, updated_at: timestamptz}", "qty: smallint, updated_at: timestamptz, level: {type: smallint, default: 70000}}", 1)
	_, err := catalog.LoadFiles(catalog.File{Name: "shop.yaml", Data: []byte(y)})
	if err == nil || !strings.Contains(err.Error(), `default "70000": out of range for type smallint`) {
		t.Fatalf("out-of-range default: %v", err)
	}
}
