package pgtypes

import (
	"testing"
	"time"
)

func BenchmarkEncode(b *testing.B) {
	c := NewCodec()
	c.TimeZone, _ = time.LoadLocation("Europe/Berlin")
	cases := []struct {
		name string
		oid  uint32
		v    any
	}{
		{"int8", Int8, int64(1234567890)},
		{"float8", Float8, 0.1},
		{"text", Text, "hello world"},
		{"numeric", Numeric, dec("-12345.6789")},
		{"timestamptz", Timestamptz, time.Date(2024, 1, 2, 3, 4, 5, 123000, time.UTC)},
		{"jsonb", JSONB, `{"b": 1, "a": [1, 2]}`},
	}
	for _, tc := range cases {
		for _, f := range []int16{TextFormat, BinaryFormat} {
			b.Run(tc.name+[]string{"/text", "/binary"}[f], func(b *testing.B) {
				buf := make([]byte, 0, 256)
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if buf, err = c.Encode(buf[:0], tc.oid, f, tc.v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
