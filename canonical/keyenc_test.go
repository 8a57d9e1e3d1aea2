package canonical

import (
	"bytes"
	"math"
	"math/big"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// cmpValues compares two normalized values of the same kind in SQL order
// (NULL first).
func cmpValues(a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		default:
			return 1
		}
	}
	switch x := a.(type) {
	case int64:
		y := b.(int64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case float64:
		y := b.(float64)
		switch {
		case math.IsNaN(x) && math.IsNaN(y):
			return 0
		case math.IsNaN(x):
			return 1
		case math.IsNaN(y):
			return -1
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case decimal.Decimal:
		return x.Cmp(b.(decimal.Decimal))
	case string:
		return strings.Compare(x, b.(string))
	case []byte:
		return bytes.Compare(x, b.([]byte))
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	panic("unknown type")
}

func cmpTuple(a, b []any) int {
	for i := range a {
		if c := cmpValues(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

func randValue(r *rand.Rand, k Kind) any {
	if r.Intn(12) == 0 {
		return nil
	}
	switch k {
	case KindInt64:
		switch r.Intn(4) {
		case 0:
			return []int64{math.MinInt64, math.MaxInt64, 0, -1, 1}[r.Intn(5)]
		case 1:
			return int64(r.Intn(20) - 10)
		}
		return r.Int63() - r.Int63()
	case KindFloat64:
		switch r.Intn(5) {
		case 0:
			return []float64{math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), math.SmallestNonzeroFloat64, -math.MaxFloat64, math.MaxFloat64}[r.Intn(7)]
		case 1:
			return float64(r.Intn(20) - 10)
		}
		return r.NormFloat64() * math.Pow(10, float64(r.Intn(40)-20))
	case KindDecimal:
		digits := r.Intn(30) + 1
		var sb strings.Builder
		for i := 0; i < digits; i++ {
			sb.WriteByte(byte('0' + r.Intn(10)))
		}
		c, _ := new(big.Int).SetString(sb.String(), 10)
		if r.Intn(2) == 0 {
			c.Neg(c)
		}
		return decimal.NewFromBigInt(c, int32(r.Intn(40)-20))
	case KindString, KindJSON:
		n := r.Intn(6)
		b := make([]byte, n)
		for i := range b {
			b[i] = []byte{0, 1, 'a', 'b', 0xFF, 'z'}[r.Intn(6)]
		}
		return string(b)
	case KindBytes:
		n := r.Intn(6)
		b := make([]byte, n)
		for i := range b {
			b[i] = []byte{0, 1, 2, 0xFE, 0xFF}[r.Intn(5)]
		}
		return b
	case KindBool:
		return r.Intn(2) == 0
	case KindTime:
		return time.UnixMicro(r.Int63n(1<<50) - 1<<49).UTC()
	}
	panic("kind")
}

// TestKeyOrderProperty checks, for random tuples of every kind, that
// bytes.Compare on encodings equals the SQL order of the tuples and that
// DecodeKey round-trips.
func TestKeyOrderProperty(t *testing.T) {
	kindsAll := []Kind{KindInt64, KindFloat64, KindDecimal, KindString, KindBytes, KindBool, KindTime, KindJSON}
	for seed := int64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewSource(seed))
		n := 1 + r.Intn(3)
		kinds := make([]Kind, n)
		for i := range kinds {
			kinds[i] = kindsAll[r.Intn(len(kindsAll))]
		}
		for iter := 0; iter < 2000; iter++ {
			a, b := make([]any, n), make([]any, n)
			for i, k := range kinds {
				a[i], b[i] = randValue(r, k), randValue(r, k)
				if r.Intn(3) == 0 {
					b[i] = a[i]
				}
			}
			ea, err := AppendKey(nil, kinds, a)
			if err != nil {
				t.Fatal(err)
			}
			eb, err := AppendKey(nil, kinds, b)
			if err != nil {
				t.Fatal(err)
			}
			want := cmpTuple(a, b)
			if got := bytes.Compare(ea, eb); got != want {
				t.Fatalf("seed %d kinds %v: order of %v vs %v: bytes %d, values %d\n%x\n%x", seed, kinds, a, b, got, want, ea, eb)
			}
			da, err := DecodeKey(ea)
			if err != nil {
				t.Fatalf("decode %x: %v", ea, err)
			}
			if len(da) != n || cmpTuple(da, a) != 0 {
				t.Fatalf("round trip %v -> %v", a, da)
			}
		}
	}
}

func TestKeyEncodingEdges(t *testing.T) {
	d := func(s string) decimal.Decimal { return decimal.RequireFromString(s) }
	pairs := [][2]any{
		{d("-100"), d("-99.99")}, {d("-0.001"), d("0")}, {d("0"), d("0.0001")},
		{d("0.05"), d("0.5")}, {d("9.99"), d("10")}, {d("1.2"), d("1.21")},
		{"a", "a\x00"}, {"a\x00", "a\x01"}, {"a", "ab"}, {"", "\x00"},
		{int64(-1), int64(0)}, {math.Inf(-1), -1.5}, {-1.5, -0.5}, {-0.5, 0.0}, {0.0, math.SmallestNonzeroFloat64},
	}
	for _, p := range pairs {
		a, _ := AppendKey(nil, nil, []any{p[0]})
		b, _ := AppendKey(nil, nil, []any{p[1]})
		if bytes.Compare(a, b) >= 0 {
			t.Errorf("%v should sort before %v: %x %x", p[0], p[1], a, b)
		}
	}
	a, _ := AppendKey(nil, nil, []any{d("1.50")})
	b, _ := AppendKey(nil, nil, []any{d("1.5")})
	if !bytes.Equal(a, b) {
		t.Errorf("1.50 and 1.5 must encode equally")
	}
	n, _ := AppendKey(nil, nil, []any{nil})
	for _, v := range []any{int64(math.MinInt64), "", false, math.Inf(-1), d("-1e30")} {
		e, _ := AppendKey(nil, nil, []any{v})
		if bytes.Compare(n, e) >= 0 {
			t.Errorf("NULL should sort before %v", v)
		}
	}
}

// FuzzDecodeKey: arbitrary bytes never make the key decoder panic, and what
// decodes re-encodes to the same bytes (for canonical encodings).
func FuzzDecodeKey(f *testing.F) {
	seeds := [][]any{{int64(5)}, {"x\x00y", int64(-3)}, {decimal.RequireFromString("-12.5"), true}, {nil, 1.5}, {time.Unix(0, 0).UTC(), []byte{0, 1}}}
	for _, s := range seeds {
		b, _ := AppendKey(nil, nil, s)
		f.Add(b)
	}
	f.Add([]byte{ktDecimal, 0, 0xFF})
	f.Add([]byte{ktString, 'a', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := DecodeKey(b)
		if err != nil {
			return
		}
		if _, err := AppendKey(nil, nil, vals); err != nil {
			t.Fatalf("re-encode of decoded %v: %v", vals, err)
		}
		// Skipping steps over exactly what decoding reads.
		if n, err := skipKeyN(b, len(vals)); err != nil || n != len(b) {
			t.Fatalf("skipKeyN over %d decoded values of %x: %d, %v; want %d", len(vals), b, n, err, len(b))
		}
	})
}

func FuzzDecodeRow(f *testing.F) {
	b, _ := encodeRow(nil, nil, []any{int64(1), "a", decimal.RequireFromString("1.5"), nil, true, time.Unix(1, 0).UTC(), []byte{1}, 2.5})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeRow(b)
		_, _ = decodeCommit(b)
		_, _, _, _ = decodeVersion(b)
	})
}
