package pgtypes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/gateway/pgerror"
)

// SQLSTATEs PostgreSQL uses for date/time input that pgerror does not name.
const (
	datetimeFieldOverflow    = "22008"
	characterNotInRepertoire = "22021"
)

func typeName(oid uint32) string {
	if Known(oid) {
		return FormatType(oid, -1)
	}
	return fmt.Sprintf("oid %d", oid)
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// errSyntax is PostgreSQL's "invalid input syntax for type X" (22P02, or
// 22007 for date/time types as PostgreSQL reports them).
func errSyntax(oid uint32, input string) *pgerror.Error {
	code := pgerror.InvalidTextRepresentation
	switch oid {
	case Date, Time, Timestamp, Timestamptz, Interval:
		code = pgerror.InvalidDatetimeFormat
	}
	return pgerror.New(code, "invalid input syntax for type %s: \"%s\"", typeName(oid), clip(input))
}

func errRange(oid uint32, input string) *pgerror.Error {
	switch oid {
	case Date, Time, Timestamp, Timestamptz, Interval:
		return pgerror.New(datetimeFieldOverflow, "%s out of range: \"%s\"", typeName(oid), clip(input))
	}
	return pgerror.New(pgerror.NumericValueOutOfRange, "value \"%s\" is out of range for type %s", clip(input), typeName(oid))
}

func errBinary(oid uint32, format string, args ...any) *pgerror.Error {
	return pgerror.New(pgerror.InvalidBinaryRepresentation, "incorrect binary data format for type %s", typeName(oid)).
		WithDetail(format, args...)
}

func errValue(oid uint32, v any) *pgerror.Error {
	return pgerror.New(pgerror.DatatypeMismatch, "cannot encode Go value of type %T as %s", v, typeName(oid))
}

// toInt64 converts an engine value to an integer for an integer column.
func toInt64(oid uint32, v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, errRange(oid, strconv.FormatUint(x, 10))
		}
		return int64(x), nil
	case uint:
		return toInt64(oid, uint64(x))
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case float64:
		return floatToInt(oid, x)
	case float32:
		return floatToInt(oid, float64(x))
	case decimal.Decimal:
		r := x.Round(0) // half away from zero, as numeric_int8 rounds
		if !r.IsInteger() || r.GreaterThan(decimal.NewFromInt(math.MaxInt64)) || r.LessThan(decimal.NewFromInt(math.MinInt64)) {
			return 0, errRange(oid, x.String())
		}
		return r.IntPart(), nil
	case string:
		return parseInt(oid, x)
	case []byte:
		return parseInt(oid, string(x))
	}
	return 0, errValue(oid, v)
}

func floatToInt(oid uint32, f float64) (int64, error) {
	r := math.RoundToEven(f)
	if math.IsNaN(r) || r < -9.223372036854775808e18 || r >= 9.223372036854775808e18 {
		return 0, errRange(oid, strconv.FormatFloat(f, 'g', -1, 64))
	}
	return int64(r), nil
}

// parseInt parses int2in/int4in/int8in text (surrounding spaces, a sign,
// decimal digits; PostgreSQL 15 accepts nothing else).
func parseInt(oid uint32, s string) (int64, error) {
	t := strings.TrimSpace(s)
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && validIntSyntax(t) {
			return 0, errRange(oid, s)
		}
		return 0, errSyntax(oid, s)
	}
	if t != "" && t[0] == '+' && len(t) > 1 && (t[1] == '+' || t[1] == '-') {
		return 0, errSyntax(oid, s)
	}
	return n, nil
}

func validIntSyntax(t string) bool {
	if t != "" && (t[0] == '+' || t[0] == '-') {
		t = t[1:]
	}
	return t != "" && allDigits(t)
}

func checkIntRange(oid uint32, n int64) error {
	var lo, hi int64
	switch oid {
	case Int2:
		lo, hi = math.MinInt16, math.MaxInt16
	case Int4:
		lo, hi = math.MinInt32, math.MaxInt32
	case OID, XID:
		lo, hi = math.MinInt32, math.MaxUint32
	default:
		return nil
	}
	if n < lo || n > hi {
		return errRange(oid, strconv.FormatInt(n, 10))
	}
	return nil
}

// toFloat converts an engine value for a float column.
func toFloat(oid uint32, v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case decimal.Decimal:
		f, _ := x.Float64()
		return f, nil
	case string:
		return parseFloat(oid, x)
	case []byte:
		return parseFloat(oid, string(x))
	}
	n, err := toInt64(oid, v)
	if err != nil {
		if u, ok := v.(uint64); ok {
			return float64(u), nil
		}
		return 0, err
	}
	return float64(n), nil
}

// parseFloat parses float4in/float8in text: decimal or hex floats,
// NaN, [+-]Infinity, [+-]inf, with surrounding spaces.
func parseFloat(oid uint32, s string) (float64, error) {
	t := strings.TrimSpace(s)
	bits := 64
	if oid == Float4 {
		bits = 32
	}
	if strings.ContainsRune(t, '_') || t == "" {
		return 0, errSyntax(oid, s)
	}
	switch strings.ToLower(t) {
	case "nan", "+nan", "-nan":
		return math.NaN(), nil
	case "infinity", "+infinity", "inf", "+inf":
		return math.Inf(1), nil
	case "-infinity", "-inf":
		return math.Inf(-1), nil
	}
	f, err := strconv.ParseFloat(t, bits)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, errRange(oid, s)
		}
		return 0, errSyntax(oid, s)
	}
	if math.IsInf(f, 0) || math.IsNaN(f) { // "infinity" spellings handled above
		return 0, errSyntax(oid, s)
	}
	if f == 0 && nonzeroMantissa(t) { // underflow: strtod's ERANGE
		return 0, errRange(oid, s)
	}
	return f, nil
}

func nonzeroMantissa(t string) bool {
	hex := len(t) > 2 && (t[1] == 'x' || t[1] == 'X' || len(t) > 3 && (t[2] == 'x' || t[2] == 'X'))
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !hex && (c == 'e' || c == 'E') || hex && (c == 'p' || c == 'P') {
			return false
		}
		if c >= '1' && c <= '9' || hex && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return true
		}
	}
	return false
}

// appendFloat appends float4out/float8out text. extra > 0 gives the
// shortest text that round-trips (PostgreSQL 12+ with extra_float_digits
// >= 1); otherwise %.{15|6 + extra}g.
func appendFloat(dst []byte, f float64, bits int, extra int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	dig := 15
	if bits == 32 {
		dig = 6
	}
	if extra <= 0 {
		p := dig + extra
		if p < 1 {
			p = 1
		}
		return strconv.AppendFloat(dst, f, 'g', p, bits)
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, bits) // [-]d[.ddd]e±XX
	if e[0] == '-' {
		e = e[1:]
		dst = append(dst, '-')
	}
	if f == 0 {
		return append(dst, '0')
	}
	ei := bytes.IndexByte(e, 'e')
	x, _ := strconv.Atoi(string(e[ei+1:]))
	// the digits without the point, in place: d.ddd -> dddd
	mant := e[:ei]
	if len(mant) > 1 {
		copy(mant[1:], mant[2:])
		mant = mant[:len(mant)-1]
	}
	if x < -4 || x >= dig {
		dst = append(dst, mant[0])
		if len(mant) > 1 {
			dst = append(dst, '.')
			dst = append(dst, mant[1:]...)
		}
		dst = append(dst, 'e')
		if x < 0 {
			dst = append(dst, '-')
			x = -x
		} else {
			dst = append(dst, '+')
		}
		return appendPad(dst, int64(x), 2)
	}
	if x < 0 {
		dst = append(dst, "0."...)
		for i := 0; i < -x-1; i++ {
			dst = append(dst, '0')
		}
		return append(dst, mant...)
	}
	if len(mant) <= x+1 {
		dst = append(dst, mant...)
		for i := len(mant); i < x+1; i++ {
			dst = append(dst, '0')
		}
		return dst
	}
	dst = append(dst, mant[:x+1]...)
	dst = append(dst, '.')
	return append(dst, mant[x+1:]...)
}

// toNumeric converts an engine value for a numeric column.
func toNumeric(oid uint32, v any) (pgNumeric, error) {
	switch x := v.(type) {
	case decimal.Decimal:
		return numericFromDecimal(x), nil
	case float64:
		return numericFromFloat(x, 64), nil
	case float32:
		return numericFromFloat(float64(x), 32), nil
	case uint64:
		n, _ := parseNumeric(strconv.FormatUint(x, 10))
		return n, nil
	case uint:
		n, _ := parseNumeric(strconv.FormatUint(uint64(x), 10))
		return n, nil
	case string:
		n, ok := parseNumeric(x)
		if !ok {
			return n, errSyntax(oid, x)
		}
		return n, nil
	case []byte:
		return toNumeric(oid, string(x))
	}
	i, err := toInt64(oid, v)
	if err != nil {
		return pgNumeric{}, err
	}
	n, _ := parseNumeric(strconv.FormatInt(i, 10))
	return n, nil
}

// parseBool parses boolin's input: t/true/y/yes/on/1, f/false/n/no/off/0,
// any unique prefix, any case, with surrounding spaces.
func parseBool(s string) (bool, bool) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return false, false
	}
	prefix := func(word string, min int) bool {
		return len(t) >= min && len(t) <= len(word) && word[:len(t)] == t
	}
	switch {
	case prefix("true", 1), prefix("yes", 1), prefix("on", 2), t == "1":
		return true, true
	case prefix("false", 1), prefix("no", 1), prefix("off", 2), t == "0":
		return false, true
	}
	return false, false
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		b, ok := parseBool(x)
		if !ok {
			return false, errSyntax(Bool, x)
		}
		return b, nil
	case []byte:
		return toBool(string(x))
	case float64:
		return x != 0, nil
	case float32:
		return x != 0, nil
	case decimal.Decimal:
		return !x.IsZero(), nil
	}
	n, err := toInt64(Bool, v)
	if err != nil {
		if _, ok := v.(uint64); ok {
			return true, nil
		}
		return false, err
	}
	return n != 0, nil
}

// toText renders any engine value as the text PostgreSQL would show for it
// cast to text.
func (c *Codec) toText(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case bool:
		if x {
			return "true", nil
		}
		return "false", nil
	case int64, int32, int16, int8, int, uint64, uint32, uint16, uint8, uint:
		return fmt.Sprint(x), nil
	case float64:
		return string(appendFloat(nil, x, 64, c.ExtraFloatDigits)), nil
	case float32:
		return string(appendFloat(nil, float64(x), 32, c.ExtraFloatDigits)), nil
	case decimal.Decimal:
		return string(numericFromDecimal(x).appendText(nil)), nil
	case time.Time:
		return string(appendTimestampText(nil, wallMicros(x), nil)), nil
	case types.Timespan:
		return x.String(), nil
	case sql.JSONWrapper:
		b, err := appendJSONBValue(nil, x)
		return string(b), err
	case fmt.Stringer:
		return x.String(), nil
	}
	return "", errValue(Text, v)
}

// jsonValue renders v as jsonb text.
func appendJSONBValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case sql.JSONWrapper:
		iv, err := x.ToInterface()
		if err != nil {
			return dst, pgerror.Wrap(pgerror.InvalidTextRepresentation, err)
		}
		return appendJSONB(dst, iv)
	case string:
		return appendJSONBText(dst, x)
	case []byte:
		return appendJSONBText(dst, string(x))
	}
	return appendJSONB(dst, v)
}

func appendJSONBText(dst []byte, s string) ([]byte, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return dst, errSyntax(JSONB, s)
	}
	if _, err := d.Token(); err == nil {
		return dst, errSyntax(JSONB, s)
	}
	if strings.Contains(s, `\u0000`) {
		return dst, pgerror.New("22P05", "unsupported Unicode escape sequence").
			WithDetail("\\u0000 cannot be converted to text.")
	}
	return appendJSONB(dst, v)
}

// appendJSONB renders a decoded JSON value the way jsonb_out prints it:
// ", " and ": " separators, object keys ordered by length then bytes,
// numbers as numeric text.
func appendJSONB(dst []byte, v any) ([]byte, error) {
	var err error
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		if x {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case string:
		return appendJSONString(dst, x), nil
	case json.Number:
		n, ok := parseNumeric(string(x))
		if !ok {
			return dst, errSyntax(JSONB, string(x))
		}
		return n.appendText(dst), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return dst, errValue(JSONB, v)
		}
		return numericFromFloat(x, 64).appendText(dst), nil
	case float32:
		return appendJSONB(dst, float64(x))
	case decimal.Decimal:
		return numericFromDecimal(x).appendText(dst), nil
	case int64, int32, int16, int8, int, uint64, uint32, uint16, uint8, uint:
		return fmt.Append(dst, x), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sortJSONBKeys(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ": "...)
			if dst, err = appendJSONB(dst, x[k]); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			if dst, err = appendJSONB(dst, e); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case sql.JSONWrapper:
		return appendJSONBValue(dst, x)
	}
	// other maps and slices: go through encoding/json
	b, err := json.Marshal(v)
	if err != nil {
		return dst, errValue(JSONB, v)
	}
	return appendJSONBText(dst, string(b))
}

func sortJSONBKeys(keys []string) {
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) < len(keys[j])
		}
		return keys[i] < keys[j]
	})
}

// appendJSONString quotes s as PostgreSQL's escape_json does.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			if c < 0x20 {
				dst = fmt.Appendf(dst, "\\u%04x", c)
			} else {
				dst = append(dst, c)
			}
		}
	}
	return append(dst, '"')
}

// sliceElems returns the elements of a Go slice or array value (not
// []byte), or ok false.
func sliceElems(v any) ([]any, bool) {
	if a, ok := v.([]any); ok {
		return a, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		e := rv.Index(i)
		if e.Kind() == reflect.Pointer || e.Kind() == reflect.Interface {
			if e.IsNil() {
				continue
			}
			if e.Kind() == reflect.Pointer {
				e = e.Elem()
			}
		}
		out[i] = e.Interface()
	}
	return out, true
}
