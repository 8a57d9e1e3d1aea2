package reconcile

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// The SQL renderings are checked against a real PostgreSQL 15 by
// TestReconcileExternalBisection (cmd/internal/primary); these pin the Go
// side.
func TestValueText(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{nil, "N"},
		{int64(-5), "n-5"},
		{decimal.RequireFromString("5.00"), "n5"},
		{decimal.RequireFromString("-0.50"), "n-0.5"},
		{decimal.RequireFromString("1200"), "n1200"},
		{float64(2.5), "n2.5"},
		{"a|é", "s3:a|é"},
		{"", "s0:"},
		{"NULL", "s4:NULL"},
		{true, "btrue"},
		{time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), "t2026-01-02"},
		{time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC), "t2026-01-02T03:04:05.12Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), "t2026-01-02T02:04:05Z"},
		{[]byte{1}, `!\x01`},
	} {
		if got := string(valueText(nil, c.v)); got != c.want {
			t.Errorf("valueText(%#v) = %q, want %q", c.v, got, c.want)
		}
	}
	// Equal values of other types render alike; a NULL never renders as a
	// value does.
	if string(valueText(nil, int64(5))) != string(valueText(nil, decimal.RequireFromString("5.000"))) {
		t.Error("5 and 5.000 render differently")
	}
}

func TestRowHashIsMD5Prefix(t *testing.T) {
	// md5('') = d41d8cd98f00b204e9800998ecf8427e; PostgreSQL's
	// ('x' || substr(md5(''), 1, 15))::bit(60)::bigint is 0xd41d8cd98f00b20.
	if got := rowHash(nil); got != 0xd41d8cd98f00b20 {
		t.Errorf("rowHash('') = %#x", got)
	}
	var s sum128
	for i := 0; i < 100; i++ {
		s.add(1<<60 - 1)
	}
	if got, want := s.big().String(), "115292150460684697500"; got != want { // 100 * (2^60-1)
		t.Errorf("sum %s, want %s", got, want)
	}
}

func TestRangeRestrictable(t *testing.T) {
	for q, ok := range map[string]bool{
		"SELECT id, v FROM legacy.t":                        true,
		"SELECT id, v FROM legacy.t WHERE v > 0 ORDER BY 1": true,
		"SELECT a.id, b.v FROM a JOIN b USING (id);":        true,
		"SELECT id, sum(v) FROM t GROUP BY id":              true,
		"SELECT id FROM t LIMIT 10":                         false,
		"SELECT id FROM t OFFSET 0":                         false,
		"SELECT id FROM t FOR UPDATE":                       false,
		"SELECT 1; SELECT 2":                                false,
		"DELETE FROM t RETURNING id":                        false,
	} {
		if got := rangeRestrictable(q) == ""; got != ok {
			t.Errorf("%q: restrictable %v, want %v (%s)", q, got, ok, rangeRestrictable(q))
		}
	}
}

func TestSplitAndWhere(t *testing.T) {
	b := &bisector{keyCols: []string{`_dg_r."id"`}, keyOrder: `_dg_r."id"`, keyCasts: []string{"::text::int8"},
		classes: []keyClass{classInt}, notNull: `_dg_r."id" IS NOT NULL`}
	var rs []localRow
	for i := 0; i < 100; i++ {
		rs = append(rs, localRow{key: []any{int64(i / 2 * 2)}}) // 0 0 2 2 4 4 …
	}
	kr := &keyRange{lo: []any{int64(0)}, hi: []any{int64(1000)}, rows: rs}
	parts := b.splitAt(kr, [][]any{{int64(0)}, {int64(10)}, {int64(10)}, {int64(51)}, {int64(5000)}})
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3 (cuts 10 and 51)", len(parts))
	}
	if n := []int{len(parts[0].rows), len(parts[1].rows), len(parts[2].rows)}; n[0] != 10 || n[1] != 42 || n[2] != 48 {
		t.Errorf("rows per part %v, want 10 42 48", n)
	}
	if compareKeys(parts[2].hi, kr.hi) != 0 || compareKeys(parts[1].lo, []any{int64(10)}) != 0 {
		t.Errorf("bounds %v..%v, %v..%v", parts[1].lo, parts[1].hi, parts[2].lo, parts[2].hi)
	}
	if b.splitAt(kr, [][]any{{int64(0)}, {int64(1000)}}) != nil {
		t.Error("bounds on the range's own edges must not split it")
	}
	where, args := b.where(parts[1])
	if want := `WHERE _dg_r."id" IS NOT NULL AND _dg_r."id" >= $1::text::int8 AND _dg_r."id" < $2::text::int8`; where != want || len(args) != 2 || args[0] != "10" {
		t.Errorf("where %q %v", where, args)
	}
	if where, _ := b.where(&keyRange{nulls: true}); where != `WHERE NOT (_dg_r."id" IS NOT NULL)` {
		t.Errorf("null range: %q", where)
	}
	// Composite keys compare as rows; text under COLLATE "C" (bytes).
	b2 := &bisector{keyOrder: `(_dg_r."c" COLLATE "C"), _dg_r."n"`, keyCasts: []string{`::text COLLATE "C"`, "::text::numeric"},
		classes: []keyClass{classText, classNumeric}, notNull: "x"}
	where, args = b2.where(&keyRange{lo: []any{"é", decimal.RequireFromString("1.50")}})
	if !strings.Contains(where, `((_dg_r."c" COLLATE "C"), _dg_r."n") >= ($1::text COLLATE "C", $2::text::numeric)`) || args[1] != "1.5" {
		t.Errorf("composite where %q %v", where, args)
	}
	if compareKeys([]any{"Z", int64(1)}, []any{"a", int64(0)}) >= 0 || compareKeys([]any{"a", int64(2)}, []any{"a", decimal.RequireFromString("1.5")}) <= 0 {
		t.Error("key order is not byte order, then numeric")
	}
	if classDate.fits(time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)) || !classTime.fits(time.Now()) || classInt.fits(math.Pi) {
		t.Error("key classes")
	}
}

func TestRestrictableStatementText(t *testing.T) {
	stmt, why := restrictable("  SELECT id FROM t; -- trailing\n")
	if why != "" || stmt != "SELECT id FROM t" {
		t.Errorf("%q %q", stmt, why)
	}
	stmt, _ = restrictable("SELECT id FROM t -- no semicolon")
	if stmt != "SELECT id FROM t -- no semicolon" {
		t.Errorf("%q", stmt)
	}
}
