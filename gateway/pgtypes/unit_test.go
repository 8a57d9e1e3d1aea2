package pgtypes

import (
	"math"
	"testing"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/sqltypes"

	"github.com/dualgate/dualgate/gateway/pgerror"
)

func TestFromEngine(t *testing.T) {
	enum := types.MustCreateEnumType([]string{"a", "b"}, sql.Collation_Default)
	set := types.MustCreateSetType([]string{"x", "y"}, sql.Collation_Default)
	cases := []struct {
		t      sql.Type
		oid    uint32
		typmod int32
	}{
		{types.Boolean, Int2, -1},
		{types.Int8, Int2, -1},
		{types.Uint8, Int2, -1},
		{types.Int16, Int2, -1},
		{types.Uint16, Int4, -1},
		{types.Int24, Int4, -1},
		{types.Uint24, Int4, -1},
		{types.Int32, Int4, -1},
		{types.Uint32, Int8, -1},
		{types.Int64, Int8, -1},
		{types.Uint64, Numeric, -1},
		{types.Float32, Float4, -1},
		{types.Float64, Float8, -1},
		{types.MustCreateDecimalType(10, 2), Numeric, (10<<16 | 2) + 4},
		{types.MustCreateDecimalType(65, 30), Numeric, -1}, // the dialect's plain numeric
		{types.MustCreateDecimalType(65, 20), Numeric, -1}, // canonical's and serving's plain numeric
		{types.MustCreateDecimalType(65, 10), Numeric, (65<<16 | 10) + 4},
		{types.MustCreateStringWithDefaults(sqltypes.Char, 5), Bpchar, 9},
		{types.MustCreateStringWithDefaults(sqltypes.VarChar, 20), Varchar, 24},
		{types.Text, Text, -1},
		{types.LongText, Text, -1},
		{types.Blob, Bytea, -1},
		{types.MustCreateBinary(sqltypes.VarBinary, 10), Bytea, -1},
		{types.MustCreateBinary(sqltypes.Binary, 10), Bytea, -1},
		{types.Date, Date, -1},
		{types.Datetime, Timestamp, 0}, // DATETIME is DATETIME(0): timestamp(0)
		{types.DatetimeMaxPrecision, Timestamp, -1},
		{types.MustCreateDatetimeType(sqltypes.Datetime, 3), Timestamp, 3},
		{types.Timestamp, Timestamp, 0},
		{types.Time, Time, -1},
		{types.JSON, JSONB, -1},
		{types.Year, Int2, -1},
		{enum, Text, -1},
		{set, Text, -1},
		{types.MustCreateBitType(8), Int8, -1},
		{types.Null, Text, -1},
		{nil, Text, -1},
	}
	for _, c := range cases {
		if got := FromEngine(c.t); got != c.oid {
			t.Errorf("FromEngine(%v) = %d, want %d", c.t, got, c.oid)
		}
		if got := TypmodFromEngine(c.t); got != c.typmod {
			t.Errorf("TypmodFromEngine(%v) = %d, want %d", c.t, got, c.typmod)
		}
	}
	if got := FromEngineValue(enum, uint16(2)); got != "b" {
		t.Errorf("enum value: %#v", got)
	}
	if got := FromEngineValue(set, uint64(3)); got != "x,y" {
		t.Errorf("set value: %#v", got)
	}
	if got := FromEngineValue(types.Int64, int64(3)); got != int64(3) {
		t.Errorf("plain value: %#v", got)
	}
}

func TestLookups(t *testing.T) {
	if ArrayOID(Int4) != Int4Array || ElemOID(TextArray) != Text || ElemOID(Text) != 0 {
		t.Error("array mapping")
	}
	if oid, ok := ByName("integer"); !ok || oid != Int4 {
		t.Error("ByName(integer)")
	}
	if oid, ok := ByName("_text"); !ok || oid != TextArray {
		t.Error("ByName(_text)")
	}
	if Name(12345) != "" || Size(12345) != -1 || FormatType(12345, -1) != "???" {
		t.Error("unknown OID")
	}
}

// TestEncodeEngineValues covers values GMS produces that the PostgreSQL
// comparison does not: booleans as int8, strings into numbers, range
// errors.
func TestEncodeEngineValues(t *testing.T) {
	c := NewCodec()
	ok := []struct {
		oid    uint32
		format int16
		v      any
		want   string
	}{
		{Bool, 0, int8(1), "t"},
		{Bool, 0, int64(0), "f"},
		{Bool, 0, "yes", "t"},
		{Bool, 1, uint64(7), "\x01"},
		{Int4, 0, "  12 ", "12"},
		{Int4, 0, 12.0, "12"},
		{Int8, 0, dec("12"), "12"},
		{Int8, 0, dec("2.5"), "3"},
		{Int8, 0, 2.5, "2"},
		{Int2, 0, true, "1"},
		{Float8, 0, "1.5", "1.5"},
		{Float8, 0, int32(3), "3"},
		{Float4, 0, 0.1, "0.1"},
		{Numeric, 0, 1.25, "1.25"},
		{Numeric, 0, "1e3", "1000"},
		{Numeric, 0, float32(0.1), "0.1"},
		{Text, 0, int64(5), "5"},
		{Text, 0, 2.5, "2.5"},
		{Text, 0, true, "true"},
		{Text, 0, dec("1.50"), "1.50"},
		{Text, 0, types.MustJSON(`{"b":1,"a":2}`), `{"a": 2, "b": 1}`},
		{Varchar, 1, "x", "x"},
		{Bytea, 0, "ab", `\x6162`},
		{Time, 0, time.Date(2000, 1, 1, 4, 5, 6, 7000, time.UTC), "04:05:06.000007"},
		{Time, 0, 90 * time.Minute, "01:30:00"},
		{Timestamp, 0, time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), "2024-01-02 03:04:05"},
		{Timestamptz, 0, time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), "2024-01-02 02:04:05+00"},
		{Date, 0, "2024-01-02 10:00", "2024-01-02"},
		{Interval, 0, types.Timespan(-usPerHour), "-01:00:00"},
		{JSON, 0, `{"b":1,  "a":2}`, `{"b":1,  "a":2}`},
		{JSON, 0, types.MustJSON(`{"b":1,"a":[true,null]}`), `{"a": [true, null], "b": 1}`},
		{JSONB, 1, types.MustJSON(`[1.5]`), "\x01[1.5]"},
		{JSONB, 0, map[string]int{"z": 1, "yy": 2}, `{"z": 1, "yy": 2}`},
		{UUID, 0, []byte("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{TextArray, 0, []*string{nil}, "{NULL}"},
		{Int4Array, 0, "{1, 2}", "{1,2}"},
		{99999, 0, int64(7), "7"},
	}
	for _, tc := range ok {
		got, err := c.Encode(nil, tc.oid, tc.format, tc.v)
		if err != nil || string(got) != tc.want {
			t.Errorf("Encode(%d, %d, %#v) = %q, %v; want %q", tc.oid, tc.format, tc.v, got, err, tc.want)
		}
	}
	bad := []struct {
		oid  uint32
		v    any
		code string
	}{
		{Int2, int32(40000), pgerror.NumericValueOutOfRange},
		{Int4, int64(math.MaxInt32 + 1), pgerror.NumericValueOutOfRange},
		{Int8, uint64(math.MaxUint64), pgerror.NumericValueOutOfRange},
		{Int8, math.NaN(), pgerror.NumericValueOutOfRange},
		{Int4, "12x", pgerror.InvalidTextRepresentation},
		{Bool, "maybe", pgerror.InvalidTextRepresentation},
		{Numeric, "1.2.3", pgerror.InvalidTextRepresentation},
		{Time, types.Timespan(-1), "22008"},
		{Time, types.Timespan(25 * usPerHour), "22008"},
		{Date, "2024-02-30", "22008"},
		{JSON, "{", pgerror.InvalidTextRepresentation},
		{JSONB, "{", pgerror.InvalidTextRepresentation},
		{JSONB, math.Inf(1), pgerror.DatatypeMismatch},
		{UUID, "nope", pgerror.InvalidTextRepresentation},
		{Interval, "1 fortnight", pgerror.InvalidDatetimeFormat},
		{Int4Array, "{1,", pgerror.InvalidTextRepresentation},
		{Int4Array, "{{1}}", pgerror.FeatureNotSupported},
		{Int4Array, []any{"x"}, pgerror.InvalidTextRepresentation},
		{Date, 12, pgerror.DatatypeMismatch},
		{Text, struct{}{}, pgerror.DatatypeMismatch},
		{Int4, nil, pgerror.InternalError},
	}
	for _, tc := range bad {
		for _, format := range []int16{0, 1} {
			got, err := c.Encode([]byte("keep"), tc.oid, format, tc.v)
			pe, ok := pgerror.As(err)
			if !ok || pe.Code != tc.code {
				t.Errorf("Encode(%d, %d, %#v) = %q, %v; want SQLSTATE %s", tc.oid, format, tc.v, got, err, tc.code)
			}
		}
	}
	if _, err := c.Encode(nil, Int4, 2, int32(1)); err == nil {
		t.Error("format 2 accepted")
	}
	if _, err := c.Encode(nil, 99999, 1, int32(1)); err == nil {
		t.Error("binary of unknown OID accepted")
	}
}

// TestDecodeBinaryErrors checks bad binary parameters fail with 22P03.
func TestDecodeBinaryErrors(t *testing.T) {
	c := NewCodec()
	cases := []struct {
		oid uint32
		src string
	}{
		{Int4, "\x00\x01"},
		{Int8, "\x00"},
		{Bool, ""},
		{Float8, "\x00\x00\x00\x00"},
		{Numeric, "\x00\x01\x00\x00\x00\x00\x00\x00"},         // missing digit
		{Numeric, "\x00\x01\x00\x00\x00\x00\x00\x00\x27\x10"}, // digit 10000
		{Numeric, "\x00\x00\x00\x00\x12\x34\x00\x00"},         // bad sign
		{Date, "\x00\x00\x00"},
		{Interval, "\x00"},
		{UUID, "\x00"},
		{JSONB, "\x02{}"},
		{JSONB, ""},
		{Int4Array, "\x00\x00\x00\x01"},
		{Int4Array, "\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x17\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x04\x00\x00\x00\x07"},
	}
	for _, tc := range cases {
		_, err := c.Decode(tc.oid, 1, []byte(tc.src))
		pe, ok := pgerror.As(err)
		if !ok || pe.Code != pgerror.InvalidBinaryRepresentation {
			t.Errorf("Decode(%d, binary, %q): %v; want 22P03", tc.oid, tc.src, err)
		}
	}
	_, err := c.Decode(Int4Array, 1, []byte("\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x14\x00\x00\x00\x00\x00\x00\x00\x01"))
	if pe, ok := pgerror.As(err); !ok || pe.Code != pgerror.DatatypeMismatch {
		t.Errorf("wrong element type: %v", err)
	}
}

func TestDecodeTypes(t *testing.T) {
	c := NewCodec()
	c.TimeZone, _ = time.LoadLocation("Europe/Berlin")
	check := func(oid uint32, in string, want any) {
		t.Helper()
		got, err := c.Decode(oid, 0, []byte(in))
		if err != nil {
			t.Errorf("Decode(%d, %q): %v", oid, in, err)
			return
		}
		if wt, ok := want.(time.Time); ok {
			if gt, ok := got.(time.Time); !ok || !gt.Equal(wt) || gt.Location() != time.UTC {
				t.Errorf("Decode(%d, %q) = %#v, want %v in UTC", oid, in, got, wt)
			}
			return
		}
		if got != want {
			t.Errorf("Decode(%d, %q) = %#v (%T), want %#v (%T)", oid, in, got, got, want, want)
		}
	}
	check(Int2, "7", int64(7))
	check(OID, "-1", int64(math.MaxUint32))
	check(Float4, "0.1", float64(float32(0.1)))
	check(Bool, "on", true)
	check(Text, "x", "x")
	check(Time, "4:05 pm", "16:05:00")
	check(Interval, "90 min", "01:30:00")
	check(UUID, "A0EEBC999C0B4EF8BB6D6BB9BD380A11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
	check(Date, "2024-01-02", time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC))
	check(Timestamp, "2024-01-02 03:04:05+09", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	check(Timestamptz, "2024-01-02 03:04:05", time.Date(2024, 1, 2, 2, 4, 5, 0, time.UTC))
	check(Timestamptz, "2024-07-02 03:04:05", time.Date(2024, 7, 2, 1, 4, 5, 0, time.UTC))
	v, err := c.Decode(Numeric, 0, []byte("1.50"))
	if d, ok := v.(interface{ StringFixed(int32) string }); err != nil || !ok || d.StringFixed(2) != "1.50" {
		t.Errorf("numeric: %#v %v", v, err)
	}
	v, _ = c.Decode(Numeric, 0, []byte("NaN"))
	if f, ok := v.(float64); !ok || !math.IsNaN(f) {
		t.Errorf("numeric NaN: %#v", v)
	}
	v, _ = c.Decode(Int4Array, 0, []byte("{1,NULL}"))
	if a, ok := v.([]any); !ok || len(a) != 2 || a[0] != int64(1) || a[1] != nil {
		t.Errorf("array: %#v", v)
	}
	src := []byte(`\x01`)
	v, _ = c.Decode(Bytea, 0, src)
	src2 := []byte("ab")
	w, _ := c.Decode(Bytea, 1, src2)
	src2[0] = 'z'
	if string(v.([]byte)) != "\x01" || string(w.([]byte)) != "ab" {
		t.Errorf("bytea aliasing: %q %q", v, w)
	}
	if v, err := c.TextToValue(Int8, "42"); err != nil || v != int64(42) {
		t.Errorf("TextToValue: %v %v", v, err)
	}
	if _, err := c.Decode(Int4, 3, nil); err == nil {
		t.Error("format 3 accepted")
	}
}
