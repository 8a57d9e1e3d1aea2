package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

// Postgres OIDs of the hidden columns of the batch relation.
const (
	oidInt8        = 20
	oidText        = 25
	oidTimestamptz = 1184
)

// KindOf is the store value kind that holds values of a catalog (Postgres)
// column type: integers are int64, numeric is decimal, real and double
// precision are float64, date and timestamps are time (UTC, microseconds),
// json and jsonb are json, bytea is bytes, boolean is bool, and text-like
// types (text, varchar, char, uuid, time, interval) are strings.
func KindOf(t catalog.Type) canonical.Kind {
	switch t.Name {
	case "smallint", "integer", "bigint":
		return canonical.KindInt64
	case "numeric":
		return canonical.KindDecimal
	case "real", "double precision":
		return canonical.KindFloat64
	case "date", "timestamp", "timestamptz":
		return canonical.KindTime
	case "json", "jsonb":
		return canonical.KindJSON
	case "bytea":
		return canonical.KindBytes
	case "boolean":
		return canonical.KindBool
	}
	return canonical.KindString
}

// jsonStringer is implemented by the engine's JSON values.
type jsonStringer interface {
	JSONString() (string, error)
}

// Conform converts v (an engine value, a value read back from the store, or
// a plain Go value) to the store representation of a column of type t,
// applying Postgres' assignment rules: integer ranges, numeric precision and
// scale (rounded to the scale), varchar/char lengths (char is not padded),
// valid JSON, parseable dates and timestamps. nil stays nil. The error says
// why the value does not fit.
func Conform(t catalog.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t.Name {
	case "smallint", "integer", "bigint":
		n, err := toInt64(v)
		if err != nil {
			return nil, err
		}
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		switch t.Name {
		case "smallint":
			lo, hi = math.MinInt16, math.MaxInt16
		case "integer":
			lo, hi = math.MinInt32, math.MaxInt32
		}
		if n < lo || n > hi {
			return nil, fmt.Errorf("%d is out of range for type %s", n, t)
		}
		return n, nil
	case "numeric":
		d, err := toDecimal(v)
		if err != nil {
			return nil, err
		}
		if len(t.Args) >= 1 {
			scale := 0
			if len(t.Args) == 2 {
				scale = t.Args[1]
			}
			d = d.Round(int32(scale))
			intDigits := len(d.Truncate(0).Abs().String())
			if d.Abs().LessThan(decimal.NewFromInt(1)) {
				intDigits = 0
			}
			if intDigits > t.Args[0]-scale {
				return nil, fmt.Errorf("numeric field overflow: %s does not fit %s", d, t)
			}
		}
		return d, nil
	case "real", "double precision":
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case decimal.Decimal:
			return x.InexactFloat64(), nil
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return nil, fmt.Errorf("invalid input syntax for type %s: %q", t, x)
			}
			return f, nil
		}
		n, err := toInt64(v)
		if err != nil {
			return nil, err
		}
		return float64(n), nil
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "t", "true", "yes", "on", "1":
				return true, nil
			case "f", "false", "no", "off", "0":
				return false, nil
			}
			return nil, fmt.Errorf("invalid input syntax for type boolean: %q", x)
		}
		n, err := toInt64(v)
		if err != nil {
			return nil, err
		}
		return n != 0, nil
	case "date", "timestamp", "timestamptz":
		tm, err := toTime(v)
		if err != nil {
			return nil, err
		}
		tm = tm.UTC()
		if t.Name == "date" {
			tm = time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC)
		}
		return canonical.Normalize(canonical.KindTime, tm)
	case "json", "jsonb":
		var s string
		switch x := v.(type) {
		case jsonStringer:
			js, err := x.JSONString()
			if err != nil {
				return nil, err
			}
			s = js
		case string:
			s = x
		case []byte:
			s = string(x)
		case json.RawMessage:
			s = string(x)
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("cannot encode %T as json: %w", v, err)
			}
			s = string(b)
		}
		if !json.Valid([]byte(s)) {
			return nil, fmt.Errorf("invalid input syntax for type %s: %q", t.Name, s)
		}
		return s, nil
	case "bytea":
		switch x := v.(type) {
		case []byte:
			return bytes.Clone(x), nil
		case string:
			return []byte(x), nil
		}
		return nil, fmt.Errorf("%T (%v) is not bytea", v, v)
	}
	// Text-like types.
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case []byte:
		s = string(x)
	case int64, int32, int16, int8, int, uint64, uint32, uint16, uint8, uint, float64, float32, bool:
		s = fmt.Sprint(x)
	case decimal.Decimal:
		s = x.String()
	case fmt.Stringer:
		s = x.String()
	default:
		return nil, fmt.Errorf("%T (%v) is not %s", v, v, t)
	}
	if (t.Name == "varchar" || t.Name == "char") && len(t.Args) == 1 {
		if n := utf8.RuneCountInString(strings.TrimRight(s, " ")); n > t.Args[0] {
			return nil, fmt.Errorf("value too long for type %s (%d characters)", t, n)
		}
	}
	return s, nil
}

// toInt64 converts a value to an integer by Postgres's assignment rules:
// Go integers as the store normalizes them, plus integral floats and
// decimals, booleans and integer text.
func toInt64(v any) (int64, error) {
	if n, err := canonical.Normalize(canonical.KindInt64, v); err == nil && n != nil {
		return n.(int64), nil
	}
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return int64(x), nil
		}
		return 0, fmt.Errorf("%v is not an integer", x)
	case float32:
		return toInt64(float64(x))
	case decimal.Decimal:
		if x.Equal(x.Truncate(0)) && x.Abs().LessThan(decimal.New(1, 18)) {
			return x.IntPart(), nil
		}
		return 0, fmt.Errorf("%s is not an integer in range", x)
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid input syntax for type integer: %q", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%T (%v) is not an integer", v, v)
}

func toDecimal(v any) (decimal.Decimal, error) {
	switch x := v.(type) {
	case decimal.Decimal:
		return x, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return decimal.Decimal{}, fmt.Errorf("%v is not a finite number", x)
		}
		return decimal.NewFromFloat(x), nil
	case float32:
		return decimal.NewFromFloat32(x), nil
	case string:
		d, err := decimal.NewFromString(strings.TrimSpace(x))
		if err != nil {
			return decimal.Decimal{}, fmt.Errorf("invalid input syntax for type numeric: %q", x)
		}
		return d, nil
	}
	n, err := toInt64(v)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%T (%v) is not numeric", v, v)
	}
	return decimal.NewFromInt(n), nil
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"}

func toTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case string:
		s := strings.TrimSpace(x)
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("invalid input syntax for type timestamp: %q", x)
	}
	return time.Time{}, fmt.Errorf("%T (%v) is not a date or timestamp", v, v)
}

// engineValue converts a store value of a column of type t to the Go value
// the engine holds for that Postgres type in the batch relation.
func engineValue(t catalog.Type, v any) any {
	if v == nil {
		return nil
	}
	switch t.Name {
	case "smallint":
		if n, ok := v.(int64); ok {
			return int16(n)
		}
	case "integer":
		if n, ok := v.(int64); ok {
			return int32(n)
		}
	case "real":
		if f, ok := v.(float64); ok {
			return float32(f)
		}
	case "json", "jsonb":
		if s, ok := v.(string); ok {
			var x any
			if err := json.Unmarshal([]byte(s), &x); err == nil {
				return types.JSONDocument{Val: x}
			}
		}
	}
	return v
}

// truthy interprets a predicate result: NULL is "unknown" (reported as
// null=true), false/0 is false, anything else true.
func truthy(v any) (val, null bool) {
	switch x := v.(type) {
	case nil:
		return false, true
	case bool:
		return x, false
	case string:
		b, err := Conform(catalog.Type{Name: "boolean"}, x)
		if err != nil {
			return true, false
		}
		return b.(bool), false
	case decimal.Decimal:
		return !x.IsZero(), false
	}
	if n, err := toInt64(v); err == nil {
		return n != 0, false
	}
	return true, false
}

// valuesEqual compares two store values of the same kind exactly (decimal
// scale included, as the store's encoding does).
func valuesEqual(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch x := a.(type) {
	case decimal.Decimal:
		y, ok := b.(decimal.Decimal)
		return ok && x.Exponent() == y.Exponent() && x.Coefficient().Cmp(y.Coefficient()) == 0
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	}
	return a == b
}

func rowsEqual(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !valuesEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// jsonValue is the JSON form of a value in a quarantine payload.
func jsonValue(v any) any {
	switch x := v.(type) {
	case nil, bool, string, int64, int32, int16, int8, int, float32:
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
		return x
	case decimal.Decimal:
		return json.Number(x.String())
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		return fmt.Sprintf("\\x%x", x)
	case jsonStringer:
		if s, err := x.JSONString(); err == nil {
			return json.RawMessage(s)
		}
	}
	return fmt.Sprint(v)
}

// payload encodes named values as a JSON object (names in order).
func payload(names []string, vals []any, extra ...any) string {
	var b strings.Builder
	b.WriteByte('{')
	write := func(k string, v any) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(jsonValue(v))
		if err != nil {
			vb, _ = json.Marshal(fmt.Sprint(v))
		}
		b.Write(vb)
	}
	for i, n := range names {
		if i < len(vals) {
			write(n, vals[i])
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		write(fmt.Sprint(extra[i]), extra[i+1])
	}
	b.WriteByte('}')
	return b.String()
}
