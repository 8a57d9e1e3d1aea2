package projections

import (
	"errors"
	"fmt"
	"testing"

	"github.com/shopspring/decimal"
)

// checkRows agrees with byKey on every input: the same duplicate-key
// verdict (decimals 1.5 and 1.50 are one key) and the same refusal of a
// value that does not normalize, with the real hash and with every key
// colliding.
func TestCheckRowsAgreesWithByKey(t *testing.T) {
	d := func(s string) decimal.Decimal { return decimal.RequireFromString(s) }
	cases := map[string][][]any{
		"unique":            {{int64(1), "a"}, {int64(2), "b"}, {int64(3), "c"}},
		"duplicate":         {{int64(1), "a"}, {int64(2), "b"}, {int64(1), "c"}},
		"duplicate last":    {{int64(1), "a"}, {int64(2), "b"}, {int64(3), "c"}, {int64(3), "d"}},
		"equal decimals":    {{d("1.5"), "a"}, {d("1.50"), "b"}},
		"distinct decimals": {{d("1.5"), "a"}, {d("1.05"), "b"}},
		"bad value":         {{int64(1), "a"}, {int64(2), struct{}{}}},
		"empty":             {},
	}
	for i := 0; i < 50; i++ {
		var rows [][]any
		for j := 0; j < 40; j++ {
			rows = append(rows, []any{int64((i*7 + j*j) % 37), fmt.Sprint(j)})
		}
		cases[fmt.Sprintf("generated %d", i)] = rows
	}
	hashes := map[string]func([]byte) uint64{
		"constant": func([]byte) uint64 { return 42 },
		"two":      func(b []byte) uint64 { return uint64(len(b) % 2) },
	}
	for _, name := range []string{"duplicate", "duplicate last", "equal decimals", "bad value"} {
		if _, err := byKey(cases[name], []int{0}); err == nil {
			t.Fatalf("%s: byKey accepts it", name)
		}
	}
	for name, rows := range cases {
		_, want := byKey(rows, []int{0})
		check := func(how string, got error) {
			t.Helper()
			if (want == nil) != (got == nil) || errors.Is(want, ErrDuplicateKey) != errors.Is(got, ErrDuplicateKey) ||
				(want != nil && want.Error() != got.Error()) {
				t.Fatalf("%s, %s: checkRows = %v, byKey = %v", name, how, got, want)
			}
		}
		check("maphash", checkRows(rows, []int{0}))
		for hn, h := range hashes {
			check(hn, checkRowsHash(rows, []int{0}, h))
		}
	}
}
