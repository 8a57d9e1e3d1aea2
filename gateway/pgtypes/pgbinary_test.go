package pgtypes

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/dualgate/dualgate/gateway/pgerror"
)

// TestDecodeBinaryAgreesWithPostgres sends hand-made binary parameters to
// PostgreSQL and to Decode: both must accept or both refuse, and an
// accepted value must print as PostgreSQL prints it.
func TestDecodeBinaryAgreesWithPostgres(t *testing.T) {
	conn := pgConnect(t)
	c := NewCodec()
	h := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			panic(err)
		}
		return b
	}
	cases := []struct {
		oid uint32
		src []byte
	}{
		{Bool, h("02")},
		{Int2, h("ffff")},
		{Int4, h("000001")},
		{Numeric, h("0002 0001 0000 0000 0000 0001")},        // leading zero digit
		{Numeric, h("0002 0000 0000 0000 0001 0000")},        // trailing zero digit
		{Numeric, h("0001 0000 4000 0000 0000")},             // negative zero
		{Numeric, h("0002 0000 0000 0001 0001 1388")},        // dscale hides a digit: 1.5 -> 1.5? (dscale 1)
		{Numeric, h("0001 ffff 0000 0002 04d2")},             // 0.1234 with dscale 2 -> truncated
		{Numeric, h("0001 0000 0000 0000 2710")},             // digit 10000
		{Numeric, h("0000 0000 c000 0000")},                  // NaN
		{Numeric, h("0000 0000 d000 0020")},                  // Infinity
		{Numeric, h("0000 0000 f000 0000")},                  // -Infinity, dscale 0
		{Numeric, h("0000 0000 8000 0000")},                  // bad sign
		{Numeric, h("0000 0000 0000 4000")},                  // bad dscale
		{Numeric, h("0001 0000 0000 0000")},                  // missing digit
		{Numeric, h("0001 03e8 0000 0000 0001")},             // weight 1000
		{Date, h("7fffffff")},                                // infinity (refused on purpose)
		{Date, h("80000001")},                                // far BC
		{Time, h("00000014 1dd76001")},                       // 24:00:00.000001
		{Time, h("ffffffff ffffffff")},                       // negative
		{Timestamp, h("00000000 00000000")},                  // 2000-01-01
		{Timestamp, h("7fffffff fffffffe")},                  // past the end
		{Timestamptz, h("80000000 00000001")},                // before the start
		{Interval, h("00000000 00000001 00000002 00000003")}, // 1us 2 days 3 mons
		{Interval, h("80000000 00000000 00000000 00000000")}, // min int64 time
		{Interval, h("ffffffff ffffffff 80000000 80000000")}, // min int32 days and months
		{UUID, h("00112233445566778899aabbccddeeff")},
		{JSONB, h("01 7b2262223a312c2261223a327d")},  // {"b":1,"a":2}
		{JSONB, h("02 7b7d")},                        // version 2
		{JSON, h("7b2262223a20317d")},                // {"b": 1}
		{Text, h("c3")},                              // invalid UTF-8
		{Text, h("6100")},                            // NUL
		{Bytea, h("")},                               // empty
		{Int4Array, h("00000000 00000000 00000017")}, // empty
		{Int4Array, h("00000001 00000001 00000017 00000002 00000001 00000004 00000007 ffffffff")},
		{Int4Array, h("00000001 00000000 00000017 00000001 00000001 00000003 000000")},
		{Int4Array, h("00000001 00000000 00000014 00000001 00000001 00000008 0000000000000007")},
		{Int4Array, h("00000001 00000002 00000017 00000000 00000001")}, // bad flags
		{TextArray, h("00000001 00000000 00000019 00000001 00000001 00000002 6162")},
	}
	for _, tc := range cases {
		t.Run(Name(tc.oid)+" "+hex.EncodeToString(tc.src), func(t *testing.T) {
			res := conn.ExecParams(context.Background(), "SELECT $1", [][]byte{tc.src}, []uint32{tc.oid}, []int16{1}, []int16{0}).Read()
			got, err := c.Decode(tc.oid, BinaryFormat, tc.src)
			if res.Err != nil {
				if err == nil {
					t.Errorf("postgres refuses (%v); Decode accepted %#v", res.Err, got)
				} else if _, ok := pgerror.As(err); !ok {
					t.Errorf("error %T is not a *pgerror.Error", err)
				}
				return
			}
			want := string(res.Rows[0][0])
			if err != nil {
				if pe, ok := pgerror.As(err); ok && pe.Code == datetimeFieldOverflow &&
					(strings.Contains(want, "infinity") || want == "-2562047788:00:54.775808") {
					return // refused on purpose (documented on Decode)
				}
				if pe, ok := pgerror.As(err); ok && pe.Code == pgerror.NumericValueOutOfRange && len(want) > maxNumericIntDigits {
					return // refused on purpose (documented on Decode)
				}
				t.Errorf("postgres accepts as %q; Decode: %v", want, err)
				return
			}
			enc, err := c.Encode(nil, tc.oid, TextFormat, got)
			if err != nil || string(enc) != want {
				t.Errorf("Decode = %#v prints %q (%v); postgres prints %q", got, enc, err, want)
			}
		})
	}
}
