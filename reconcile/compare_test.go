package reconcile

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/catalog"
)

func dec(s string) *decimal.Decimal { d := decimal.RequireFromString(s); return &d }

func kinds(c Comparison) map[string]Kind {
	out := map[string]Kind{}
	for _, d := range c.Diffs {
		out[d.Key] = d.Kind
	}
	return out
}

func TestCompareRecord(t *testing.T) {
	r := &catalog.Reconciliation{Name: "r", Level: catalog.LevelRecord, Right: "x", Match: []string{"id"}}
	left := rows{cols: []string{"id", "status", "amount"}, rows: [][]any{
		{"a", "paid", int64(5)}, {"b", "paid", int64(7)}, {"c", "open", int64(1)}, {"d", "open", int64(2)}}}
	// Different column order and numeric representation on the right.
	right := rows{cols: []string{"amount", "id", "status"}, rows: [][]any{
		{decimal.RequireFromString("5.00"), "a", "paid"}, {int64(8), "b", "paid"}, {int64(1), "c", "open"}, {int64(9), "e", "x"}}}
	c, err := compare(r, left, right, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Kind{`{"id": "b"}`: KindValueMismatch, `{"id": "d"}`: KindMissingRight, `{"id": "e"}`: KindMissingLeft}
	got := kinds(c)
	if len(got) != len(want) {
		t.Fatalf("diffs %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	if c.Compared != 5 || c.Matched != 2 {
		t.Errorf("compared %d matched %d, want 5 and 2", c.Compared, c.Matched)
	}
	for _, d := range c.Diffs {
		if d.Kind == KindValueMismatch && d.Diff != `{"amount": -1}` {
			t.Errorf("difference %q, want amount -1 (left - right)", d.Diff)
		}
	}
}

func TestCompareBalanceTolerance(t *testing.T) {
	r := &catalog.Reconciliation{Name: "b", Level: catalog.LevelBalance, Right: "x", Match: []string{"day"},
		Compare: []string{"amount"}, Tolerance: &catalog.Tolerance{Absolute: dec("100"), Relative: dec("0.001")}}
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	left := rows{cols: []string{"day", "amount"}, rows: [][]any{
		{day(1), int64(1000)},    // within absolute 100
		{day(2), int64(1000000)}, // off by 900: within relative 0.001*1e6 = 1000
		{day(3), int64(1000)},    // off by 101: out
		{day(4), int64(50)},      // missing on the right: 50 vs 0 within 100
		{day(5), int64(500)},     // missing on the right: out
	}}
	right := rows{cols: []string{"day", "amount"}, rows: [][]any{
		{"2026-01-01", decimal.RequireFromString("1099.99")},
		{day(2), int64(999100)},
		{day(3), float64(899)},
	}}
	c, err := compare(r, left, right, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := kinds(c)
	if len(got) != 2 || got[`{"day": "2026-01-03"}`] != KindBalance || got[`{"day": "2026-01-05"}`] != KindBalance {
		t.Fatalf("diffs %v", got)
	}
	if c.Matched != 3 {
		t.Errorf("matched %d, want 3", c.Matched)
	}
	// Exact decimals: 1099.99 vs 1000 is 99.99 apart, inside 100; a
	// tolerance of 99.98 is not enough.
	if within(decimal.RequireFromString("1099.99"), decimal.NewFromInt(1000), &catalog.Tolerance{Absolute: dec("99.98")}) {
		t.Error("99.99 apart must be outside an absolute tolerance of 99.98")
	}
}

func TestCompareCountGroupsAddUp(t *testing.T) {
	r := &catalog.Reconciliation{Name: "c", Level: catalog.LevelCount, Right: "x", Match: []string{"wh"}}
	left := rows{cols: []string{"wh", "n"}, rows: [][]any{{"A", int64(3)}, {"B", int64(2)}}}
	// The right side reports A in two rows (e.g. a UNION): they add up.
	right := rows{cols: []string{"wh", "n"}, rows: [][]any{{"A", int64(1)}, {"A", int64(2)}, {"B", int64(3)}}}
	c, err := compare(r, left, right, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(c); len(got) != 1 || got[`{"wh": "B"}`] != KindCountMismatch {
		t.Fatalf("diffs %v", got)
	}
}

func TestCompareStateAndDuplicates(t *testing.T) {
	r := &catalog.Reconciliation{Name: "s", Level: catalog.LevelState, Right: "x", Match: []string{"id"}, Compare: []string{"status"}}
	left := rows{cols: []string{"id", "status"}, rows: [][]any{{"a", "paid"}, {"b", "paid"}, {"c", "open"}}}
	right := rows{cols: []string{"id", "status"}, rows: [][]any{{"a", "paid"}, {"b", "shipped"}, {"c", "open"}, {"c", "open"}}}
	c, err := compare(r, left, right, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := kinds(c)
	if len(got) != 2 || got[`{"id": "b"}`] != KindStateMismatch || got[`{"id": "c"}`] != KindDuplicateKey {
		t.Fatalf("diffs %v", got)
	}
}

func TestCompareTemporal(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	r := &catalog.Reconciliation{Name: "t", Level: catalog.LevelTemporal, Right: "x", Match: []string{"id"},
		Compare: []string{"at"}, SLA: 48 * time.Hour}
	left := rows{cols: []string{"id", "at"}, rows: [][]any{
		{"ontime", now.Add(-100 * time.Hour)},
		{"late", now.Add(-100 * time.Hour)},
		{"waiting", now.Add(-10 * time.Hour)}, // no right event yet, inside SLA: pending
		{"overdue", now.Add(-49 * time.Hour)}, // no right event, SLA passed: late
	}}
	right := rows{cols: []string{"id", "at"}, rows: [][]any{
		{"ontime", now.Add(-60 * time.Hour)},
		{"late", now.Add(-1 * time.Hour)},
		{"orphan", now},
	}}
	c, err := compare(r, left, right, now)
	if err != nil {
		t.Fatal(err)
	}
	got := kinds(c)
	if len(got) != 2 || got[`{"id": "late"}`] != KindLate || got[`{"id": "overdue"}`] != KindLate {
		t.Fatalf("diffs %v", got)
	}
	if c.Pending != 1 {
		t.Errorf("pending %d, want 1", c.Pending)
	}
}

func TestCompareSemanticOneSided(t *testing.T) {
	r := &catalog.Reconciliation{Name: "inv", Level: catalog.LevelSemantic, Match: []string{"id"}}
	left := rows{cols: []string{"id", "total"}, rows: [][]any{{"x", int64(-1)}, {"y", int64(-5)}}}
	c, err := compare(r, left, rows{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Diffs) != 2 || c.Diffs[0].Kind != KindInvariant || c.Diffs[0].Left != `{"id": "x", "total": -1}` {
		t.Fatalf("diffs %+v", c.Diffs)
	}
}

func TestComparePlanErrors(t *testing.T) {
	r := &catalog.Reconciliation{Name: "r", Level: catalog.LevelRecord, Right: "x", Match: []string{"id"}}
	_, err := compare(r, rows{cols: []string{"key"}}, rows{cols: []string{"id"}}, time.Now())
	if err == nil {
		t.Fatal("a missing match column must be an error")
	}
}
