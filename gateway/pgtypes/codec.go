package pgtypes

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/dualgate/dualgate/gateway/pgerror"
)

// Wire formats of a column or parameter (the format codes of Bind and
// RowDescription).
const (
	TextFormat   int16 = 0
	BinaryFormat int16 = 1
)

// Codec encodes and decodes values with the session settings that change
// Postgres output. The zero value is usable but means extra_float_digits 0
// (%.15g floats); NewCodec returns PostgreSQL's defaults. A Codec is not
// changed by Encode or Decode, so it can be shared by readers while the
// session does not change its settings.
type Codec struct {
	// TimeZone is the session TimeZone: timestamptz text is shown in it and
	// timestamptz input without an offset is read in it. nil means UTC.
	TimeZone *time.Location
	// DateStyle is the session DateStyle, kept for the session's benefit:
	// only "ISO, MDY" (PostgreSQL's default) is implemented whatever it
	// says: output is ISO, and slashed input dates are month/day/year.
	// Refusing other settings is the session's job.
	DateStyle string
	// ExtraFloatDigits is extra_float_digits: >= 1 (PostgreSQL's default 1)
	// prints the shortest text that reads back to the same float; <= 0
	// prints %.{15+n}g for float8 and %.{6+n}g for float4.
	ExtraFloatDigits int
}

// NewCodec returns a Codec with PostgreSQL's default settings: TimeZone
// UTC, DateStyle "ISO, MDY", extra_float_digits 1.
func NewCodec() *Codec {
	return &Codec{TimeZone: time.UTC, DateStyle: "ISO, MDY", ExtraFloatDigits: 1}
}

func (c *Codec) loc() *time.Location {
	if c == nil || c.TimeZone == nil {
		return time.UTC
	}
	return c.TimeZone
}

// Encode appends the wire bytes (without the length prefix) of the non-NULL
// value v for a column of type oid, in text (0) or binary (1) format.
// It is EncodeMod with typmod -1. An empty value (text ”, bytea ”) appends
// nothing, so with a nil dst the result may be nil: NULL is the caller's
// to write (length -1), never inferred from the result.
//
// v is a value from a GMS row: int8..int64, uint8..uint64, float32/64,
// decimal.Decimal, string, []byte, bool, time.Time, types.Timespan,
// sql.JSONWrapper, or a Go slice for array types. Strings are accepted for
// every type and read as PostgreSQL reads text input (intervals and uuids
// are stored as text; "t"/"true"/"1"... for bool). Integers for a bool
// column print t/f (GMS booleans are int8 0/1).
//
// Values: timestamp prints t's wall clock in t's own location (GMS values
// are UTC), timestamptz prints the instant in c.TimeZone, date uses t's
// calendar date. numeric keeps a decimal.Decimal's exponent as display
// scale. jsonb text is printed the way jsonb_out does (keys ordered by
// length then bytes, ", " and ": " separators, numbers as numeric); json
// prints strings unchanged and documents like jsonb.
func (c *Codec) Encode(dst []byte, oid uint32, format int16, v any) ([]byte, error) {
	return c.EncodeMod(dst, oid, -1, format, v)
}

// EncodeMod is Encode with the column's type modifier: bpchar(n) pads text
// to n characters and numeric(p,s) rounds or pads to s fraction digits, as
// PostgreSQL's stored values would be.
func (c *Codec) EncodeMod(dst []byte, oid uint32, typmod int32, format int16, v any) ([]byte, error) {
	if v == nil {
		return dst, pgerror.New(pgerror.InternalError, "Encode called with NULL for %s", typeName(oid))
	}
	if format != TextFormat && format != BinaryFormat {
		return dst, pgerror.New(pgerror.ProtocolViolation, "unsupported format code: %d", format)
	}
	bin := format == BinaryFormat
	switch oid {
	case Bool:
		b, err := toBool(v)
		if err != nil {
			return dst, err
		}
		switch {
		case bin && b:
			return append(dst, 1), nil
		case bin:
			return append(dst, 0), nil
		case b:
			return append(dst, 't'), nil
		}
		return append(dst, 'f'), nil

	case Int2, Int4, Int8, OID, XID:
		n, err := toInt64(oid, v)
		if err != nil {
			return dst, err
		}
		if err := checkIntRange(oid, n); err != nil {
			return dst, err
		}
		if (oid == OID || oid == XID) && n < 0 {
			n += 1 << 32
		}
		if !bin {
			return strconv.AppendInt(dst, n, 10), nil
		}
		switch oid {
		case Int2:
			return binary.BigEndian.AppendUint16(dst, uint16(n)), nil
		case Int4, OID, XID:
			return binary.BigEndian.AppendUint32(dst, uint32(n)), nil
		}
		return binary.BigEndian.AppendUint64(dst, uint64(n)), nil

	case Float4, Float8:
		f, err := toFloat(oid, v)
		if err != nil {
			return dst, err
		}
		if oid == Float4 {
			f32 := float32(f)
			if bin {
				if f32 != f32 {
					return binary.BigEndian.AppendUint32(dst, 0x7fc00000), nil // PostgreSQL's NaN
				}
				return binary.BigEndian.AppendUint32(dst, math.Float32bits(f32)), nil
			}
			return appendFloat(dst, float64(f32), 32, c.extraDigits()), nil
		}
		if bin {
			if math.IsNaN(f) {
				return binary.BigEndian.AppendUint64(dst, 0x7ff8000000000000), nil // PostgreSQL's NaN
			}
			return binary.BigEndian.AppendUint64(dst, math.Float64bits(f)), nil
		}
		return appendFloat(dst, f, 64, c.extraDigits()), nil

	case Numeric:
		n, err := toNumeric(oid, v)
		if err != nil {
			return dst, err
		}
		if typmod >= 4 {
			n = n.withScale(int((((typmod - 4) & 0x7ff) ^ 1024) - 1024))
		}
		if bin {
			return n.appendBinary(dst), nil
		}
		return n.appendText(dst), nil

	case Text, Varchar, Bpchar, NameOID, Unknown, Char:
		if oid != Bpchar && oid != Char { // fast paths: no copy of the value
			switch x := v.(type) {
			case string:
				return append(dst, x...), nil
			case []byte:
				return append(dst, x...), nil
			}
		}
		s, err := c.toText(v)
		if err != nil {
			return dst, err
		}
		if oid == Bpchar && typmod > 4 {
			if n := utf8.RuneCountInString(s); n < int(typmod-4) {
				s += strings.Repeat(" ", int(typmod-4)-n)
			}
		}
		if oid == Char {
			ch := charByte(s)
			switch {
			case bin:
				return append(dst, ch), nil
			case ch >= 0x80: // PostgreSQL 15 prints high-bit "char" values as \ooo
				return append(dst, '\\', '0'+ch>>6, '0'+ch>>3&7, '0'+ch&7), nil
			case ch == 0:
				return dst, nil
			}
			return append(dst, ch), nil
		}
		return append(dst, s...), nil

	case Bytea:
		var b []byte
		switch x := v.(type) {
		case []byte:
			b = x
		case string:
			b = []byte(x)
		default:
			s, err := c.toText(v)
			if err != nil {
				return dst, err
			}
			b = []byte(s)
		}
		if bin {
			return append(dst, b...), nil
		}
		dst = append(dst, '\\', 'x')
		return hex.AppendEncode(dst, b), nil

	case Date:
		days, err := c.toDate(v)
		if err != nil {
			return dst, err
		}
		if bin {
			return binary.BigEndian.AppendUint32(dst, uint32(int32(days))), nil
		}
		return appendDateText(dst, days), nil

	case Time:
		us, err := c.toTime(v)
		if err != nil {
			return dst, err
		}
		if bin {
			return binary.BigEndian.AppendUint64(dst, uint64(us)), nil
		}
		return appendClock(dst, us), nil

	case Timestamp, Timestamptz:
		us, err := c.toTimestamp(oid, v)
		if err != nil {
			return dst, err
		}
		if bin {
			return binary.BigEndian.AppendUint64(dst, uint64(us)), nil
		}
		if oid == Timestamptz {
			return appendTimestampText(dst, us, c.loc()), nil
		}
		return appendTimestampText(dst, us, nil), nil

	case Interval:
		iv, err := toInterval(v)
		if err != nil {
			return dst, err
		}
		if bin {
			dst = binary.BigEndian.AppendUint64(dst, uint64(iv.us))
			dst = binary.BigEndian.AppendUint32(dst, uint32(iv.days))
			return binary.BigEndian.AppendUint32(dst, uint32(iv.months)), nil
		}
		return iv.appendText(dst), nil

	case UUID:
		u, err := toUUID(v)
		if err != nil {
			return dst, err
		}
		if bin {
			return append(dst, u[:]...), nil
		}
		return appendUUID(dst, u), nil

	case JSON, JSONB:
		start := len(dst)
		if bin && oid == JSONB {
			dst = append(dst, 1)
		}
		var err error
		if s, ok := v.(string); ok && oid == JSON {
			if !json.Valid([]byte(s)) {
				return dst[:start], errSyntax(JSON, s)
			}
			return append(dst, s...), nil
		}
		if b, ok := v.([]byte); ok && oid == JSON {
			if !json.Valid(b) {
				return dst[:start], errSyntax(JSON, string(b))
			}
			return append(dst, b...), nil
		}
		dst, err = appendJSONBValue(dst, v)
		if err != nil {
			return dst[:start], err
		}
		return dst, nil
	}
	if elem := ElemOID(oid); elem != 0 {
		return c.encodeArray(dst, oid, elem, typmod, bin, v)
	}
	// a type this package does not know: its text is the best we have
	if bin {
		return dst, pgerror.New(pgerror.FeatureNotSupported, "binary output of type oid %d is not supported", oid)
	}
	s, err := c.toText(v)
	if err != nil {
		return dst, err
	}
	return append(dst, s...), nil
}

func (c *Codec) extraDigits() int {
	if c == nil {
		return 1
	}
	return c.ExtraFloatDigits
}

// toDate returns days since 2000-01-01 (or the infinity sentinels).
func (c *Codec) toDate(v any) (int64, error) {
	switch x := v.(type) {
	case time.Time:
		return pgDays(x), nil
	case string:
		return parseDate(x)
	case []byte:
		return parseDate(string(x))
	}
	return 0, errValue(Date, v)
}

func parseDate(s string) (int64, error) {
	f, ok := parseDateTime(s)
	if !ok {
		return 0, f.err(Date, s)
	}
	if f.special == 0 && !f.hasDate {
		return 0, errSyntax(Date, s)
	}
	if f.special == 0 && !f.validDay() {
		f.fail = "range"
		return 0, f.err(Date, s)
	}
	switch f.special {
	case 1:
		return datePosInf, nil
	case -1:
		return dateNegInf, nil
	}
	d := f.days()
	if d < minDate || d > maxDate {
		return 0, pgerror.New(datetimeFieldOverflow, "date out of range: \"%s\"", clip(s))
	}
	return d, nil
}

// toTime returns microseconds since midnight for a time column.
func (c *Codec) toTime(v any) (int64, error) {
	var us int64
	switch x := v.(type) {
	case types.Timespan:
		us = x.AsMicroseconds()
	case time.Duration:
		us = x.Microseconds()
	case time.Time:
		h, m, s := x.Clock()
		us = int64(h)*usPerHour + int64(m)*usPerMin + int64(s)*usPerSec + int64(x.Nanosecond()/1000)
	case string:
		return parseTime(x)
	case []byte:
		return parseTime(string(x))
	default:
		return 0, errValue(Time, v)
	}
	if us < 0 || us > usPerDay {
		return 0, pgerror.New(datetimeFieldOverflow, "time out of range: %s", types.Timespan(us).String())
	}
	return us, nil
}

func parseTime(s string) (int64, error) {
	f, ok := parseDateTime(s)
	if !ok {
		return 0, f.err(Time, s)
	}
	if !f.hasTime || f.special != 0 {
		return 0, errSyntax(Time, s)
	}
	return f.us, nil
}

// toTimestamp returns microseconds since 2000-01-01: the wall clock for
// timestamp, the UTC instant for timestamptz.
func (c *Codec) toTimestamp(oid uint32, v any) (int64, error) {
	switch x := v.(type) {
	case time.Time:
		if oid == Timestamptz {
			return instantMicros(x), nil
		}
		return wallMicros(x), nil
	case string:
		return c.parseTimestamp(oid, x)
	case []byte:
		return c.parseTimestamp(oid, string(x))
	}
	return 0, errValue(oid, v)
}

func (c *Codec) parseTimestamp(oid uint32, s string) (int64, error) {
	f, ok := parseDateTime(s)
	if !ok {
		return 0, f.err(oid, s)
	}
	if f.special == 0 && !f.hasDate {
		return 0, errSyntax(oid, s)
	}
	if f.special == 0 && !f.validDay() {
		f.fail = "range"
		return 0, f.err(oid, s)
	}
	switch f.special {
	case 1:
		return tsPosInf, nil
	case -1:
		return tsNegInf, nil
	}
	days := f.days()
	if days < minDate-1 || days > 106751991167/1000 { // far outside: avoid overflow
		return 0, pgerror.New(datetimeFieldOverflow, "timestamp out of range: \"%s\"", clip(s))
	}
	us := days*usPerDay + f.us
	if oid == Timestamptz {
		switch {
		case f.zoneLoc != nil:
			us -= zoneOffset(us, f.zoneLoc)
		case f.hasZone:
			us -= int64(f.offset) * usPerSec
		default:
			us -= zoneOffset(us, c.loc())
		}
	}
	if us < minTS || us > maxTS {
		return 0, pgerror.New(datetimeFieldOverflow, "timestamp out of range: \"%s\"", clip(s))
	}
	return us, nil
}

// InstantAt returns the instant (in UTC) whose wall-clock reading in loc is
// wall's reading (its fields, whatever its location), resolving DST
// transitions as zoneOffset does. Precision is the microsecond, as in
// Postgres.
func InstantAt(wall time.Time, loc *time.Location) time.Time {
	us := wallMicros(wall)
	return microsToTime(us - zoneOffset(us, loc))
}

// zoneOffset returns the UTC offset in microseconds in loc of a wall
// clock given as microseconds since 2000-01-01, resolving transitions as
// PostgreSQL's DetermineTimeZoneOffset does: a wall clock in a
// spring-forward gap takes the offset before the transition, one in a
// fall-back overlap the offset after it.
func zoneOffset(wall int64, loc *time.Location) int64 {
	offAt := func(us int64) int64 {
		_, off := microsToTime(us).In(loc).Zone()
		return int64(off) * usPerSec
	}
	before := offAt(wall - usPerDay)
	after := offAt(wall + usPerDay)
	okBefore := offAt(wall-before) == before
	okAfter := offAt(wall-after) == after
	switch {
	case okAfter:
		return after
	case okBefore:
		return before
	}
	return before
}

func toInterval(v any) (interval, error) {
	switch x := v.(type) {
	case string:
		iv, ok := parseInterval(x)
		if !ok {
			return iv, errSyntax(Interval, x)
		}
		return iv, nil
	case []byte:
		return toInterval(string(x))
	case time.Duration:
		return interval{us: x.Microseconds()}, nil
	case types.Timespan:
		return interval{us: x.AsMicroseconds()}, nil
	}
	return interval{}, errValue(Interval, v)
}

// parseUUID accepts uuid_in's forms: 32 hex digits, optionally in braces,
// with a hyphen allowed after any group of four digits.
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	t := s
	if strings.HasPrefix(t, "{") {
		if !strings.HasSuffix(t, "}") {
			return u, false
		}
		t = t[1 : len(t)-1]
	}
	n := 0
	for i := 0; i < len(t); i++ {
		if t[i] == '-' {
			if n == 0 || n%4 != 0 || n == 32 || i+1 < len(t) && t[i+1] == '-' {
				return u, false
			}
			continue
		}
		hv, ok := hexVal(t[i])
		if !ok || n >= 32 {
			return u, false
		}
		if n%2 == 0 {
			u[n/2] = hv << 4
		} else {
			u[n/2] |= hv
		}
		n++
	}
	return u, n == 32
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func toUUID(v any) ([16]byte, error) {
	switch x := v.(type) {
	case string:
		u, ok := parseUUID(x)
		if !ok {
			return u, errSyntax(UUID, x)
		}
		return u, nil
	case []byte:
		if len(x) == 16 {
			return [16]byte(x), nil
		}
		return toUUID(string(x))
	case [16]byte:
		return x, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Array && rv.Len() == 16 && rv.Type().Elem().Kind() == reflect.Uint8 {
		var u [16]byte
		reflect.Copy(reflect.ValueOf(u[:]), rv)
		return u, nil
	}
	if s, ok := v.(interface{ String() string }); ok {
		return toUUID(s.String())
	}
	return [16]byte{}, errValue(UUID, v)
}

func appendUUID(dst []byte, u [16]byte) []byte {
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:])
	return append(dst, buf[:]...)
}

// Decode decodes a Bind parameter or COPY field (src, without its length
// prefix; a NULL is the caller's) of type oid in text (0) or binary (1)
// format into a Go value to hand to GMS. The result never aliases src.
//
// Go types by OID:
//
//	bool                              bool
//	int2, int4, int8, oid             int64
//	float4                            float64 (holding the float32 value)
//	float8                            float64
//	numeric                           decimal.Decimal (exponent = -dscale);
//	                                  NaN and ±Infinity as float64
//	text, varchar, bpchar, name,
//	"char", unknown                   string (must be valid UTF-8 without NUL)
//	bytea                             []byte (text: hex \x... or escape format)
//	date                              time.Time, midnight UTC
//	time                              string "HH:MM:SS[.ffffff]"
//	timestamp                         time.Time in UTC holding the wall clock
//	timestamptz                       time.Time in UTC (text without an offset
//	                                  is read in c.TimeZone)
//	interval                          string in interval_out's format
//	uuid                              string, lower-case hyphenated
//	json, jsonb                       string (validated JSON text)
//	arrays of the above               []any (nil elements for NULL)
//	any other OID                     string (text), []byte (binary)
//
// Infinite dates and timestamps have no time.Time: they are refused with
// 22008, as is the interval -2562047788:00:54.775808 (which PostgreSQL
// sends but does not read back). Numerics with more than 1001 digits before
// the decimal point (past 1e1000) are refused with 22003. Errors are *pgerror.Error: 22P02 for bad text input (22007 for
// date/time syntax, as PostgreSQL), 22003 / 22008 for values out of range,
// 22P03 for bad binary input.
func (c *Codec) Decode(oid uint32, format int16, src []byte) (any, error) {
	if format == BinaryFormat {
		return c.decodeBinary(oid, src)
	}
	if format != TextFormat {
		return nil, pgerror.New(pgerror.ProtocolViolation, "unsupported format code: %d", format)
	}
	return c.decodeText(oid, string(src))
}

// TextToValue decodes the text form of a value of type oid, as in a COPY
// FROM field or a literal: Decode with format 0.
func (c *Codec) TextToValue(oid uint32, s string) (any, error) {
	return c.decodeText(oid, s)
}

func (c *Codec) decodeText(oid uint32, s string) (any, error) {
	switch oid {
	case Bool:
		b, ok := parseBool(s)
		if !ok {
			return nil, errSyntax(oid, s)
		}
		return b, nil
	case Int2, Int4, Int8:
		n, err := parseInt(oid, s)
		if err != nil {
			return nil, err
		}
		return n, checkIntRange(oid, n)
	case OID, XID:
		n, err := parseInt(oid, s)
		if err != nil {
			return nil, err
		}
		if err := checkIntRange(oid, n); err != nil {
			return nil, err
		}
		if n < 0 {
			n += 1 << 32
		}
		return n, nil
	case Float4, Float8:
		return parseFloat(oid, s)
	case Numeric:
		n, ok := parseNumeric(s)
		if !ok {
			return nil, errSyntax(oid, s)
		}
		if len(n.intPart) > maxNumericIntDigits {
			return nil, errNumericSize()
		}
		return numericValue(n), nil
	case Char:
		if ch := charByte(s); ch != 0 {
			return string([]byte{ch}), nil
		}
		return "", nil
	case NameOID:
		v, err := validText(oid, s)
		if err != nil {
			return nil, err
		}
		return clipName(v.(string)), nil
	case Text, Varchar, Bpchar, Unknown:
		return validText(oid, s)
	case Bytea:
		return parseBytea(s)
	case Date:
		d, err := parseDate(s)
		if err != nil {
			return nil, err
		}
		return dateValue(d)
	case Time:
		us, err := parseTime(s)
		if err != nil {
			return nil, err
		}
		return string(appendClock(nil, us)), nil
	case Timestamp, Timestamptz:
		us, err := c.parseTimestamp(oid, s)
		if err != nil {
			return nil, err
		}
		return timestampValue(oid, us)
	case Interval:
		iv, ok := parseInterval(s)
		if !ok {
			return nil, errSyntax(oid, s)
		}
		return string(iv.appendText(nil)), nil
	case UUID:
		u, ok := parseUUID(s)
		if !ok {
			return nil, errSyntax(oid, s)
		}
		return string(appendUUID(nil, u)), nil
	case JSON, JSONB:
		if !utf8.ValidString(s) || !json.Valid([]byte(s)) {
			return nil, errSyntax(oid, s)
		}
		if oid == JSONB {
			// jsonb_in also reads every number as a numeric
			if _, err := appendJSONBText(nil, s); err != nil {
				return nil, err
			}
		}
		return s, nil
	}
	if elem := ElemOID(oid); elem != 0 {
		elems, ok := parseArrayLiteral(s)
		if !ok {
			return nil, errArrayLiteral(s)
		}
		out := make([]any, len(elems))
		for i, e := range elems {
			if e == nil {
				continue
			}
			v, err := c.decodeText(elem, *e)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return validText(oid, s)
}

// clipName truncates a name to 63 bytes at a character boundary, as
// namein does.
func clipName(s string) string {
	if len(s) <= 63 {
		return s
	}
	n := 63
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func validText(oid uint32, s string) (any, error) {
	if !utf8.ValidString(s) {
		return nil, pgerror.New(characterNotInRepertoire, "invalid byte sequence for encoding \"UTF8\" in %s value", typeName(oid))
	}
	if strings.IndexByte(s, 0) >= 0 {
		return nil, pgerror.New(characterNotInRepertoire, "invalid byte sequence for encoding \"UTF8\": 0x00")
	}
	return s, nil
}

// maxNumericIntDigits bounds the integer digits of a decoded numeric.
// PostgreSQL allows 131072, but GMS decimals hold 65 digits and turning a
// ten-byte binary numeric into a 131072-digit decimal.Decimal costs a
// quarter of a second.
const maxNumericIntDigits = 1001 // 1e1000, the largest numeric_in reads with an exponent

func errNumericSize() *pgerror.Error {
	return pgerror.New(pgerror.NumericValueOutOfRange,
		"numeric values with more than %d digits before the decimal point are not supported by dualgate", maxNumericIntDigits)
}

func numericValue(n pgNumeric) any {
	switch n.special {
	case numNaN:
		return math.NaN()
	case numPInf:
		return math.Inf(1)
	case numNInf:
		return math.Inf(-1)
	}
	return n.decimalValue()
}

func dateValue(d int64) (any, error) {
	if d == datePosInf || d == dateNegInf {
		return nil, pgerror.New(datetimeFieldOverflow, "infinite dates are not supported by dualgate")
	}
	if d < minDate || d > maxDate {
		return nil, pgerror.New(datetimeFieldOverflow, "date out of range")
	}
	y, m, dd := civilFromDays(d + pgEpochDays)
	return time.Date(int(y), time.Month(m), dd, 0, 0, 0, 0, time.UTC), nil
}

func timestampValue(oid uint32, us int64) (any, error) {
	if us == tsPosInf || us == tsNegInf {
		return nil, pgerror.New(datetimeFieldOverflow, "infinite timestamps are not supported by dualgate")
	}
	if us < minTS || us > maxTS {
		return nil, pgerror.New(datetimeFieldOverflow, "%s out of range", typeName(oid))
	}
	return microsToTime(us), nil
}

// parseBytea reads byteain's hex (\x...) and escape formats.
func parseBytea(s string) (any, error) {
	if strings.HasPrefix(s, `\x`) {
		out := make([]byte, 0, (len(s)-2)/2)
		for i := 2; i < len(s); {
			c := s[i]
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				i++
				continue
			}
			hi, ok := hexVal(c)
			if !ok {
				return nil, pgerror.New(pgerror.InvalidParameterValue, "invalid hexadecimal digit: \"%s\"", clip(string(c)))
			}
			if i+1 >= len(s) {
				return nil, pgerror.New(pgerror.InvalidParameterValue, "invalid hexadecimal data: odd number of digits")
			}
			lo, ok := hexVal(s[i+1])
			if !ok {
				return nil, pgerror.New(pgerror.InvalidParameterValue, "invalid hexadecimal digit: \"%s\"", clip(string(s[i+1])))
			}
			out = append(out, hi<<4|lo)
			i += 2
		}
		return out, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '\\':
			out = append(out, '\\')
			i++
		case i+3 < len(s) && s[i+1] >= '0' && s[i+1] <= '3' && isOct(s[i+2]) && isOct(s[i+3]):
			out = append(out, (s[i+1]-'0')<<6|(s[i+2]-'0')<<3|(s[i+3]-'0'))
			i += 3
		default:
			return nil, errSyntax(Bytea, s)
		}
	}
	return out, nil
}

// charByte is charin: "\\ooo" is an octal byte, otherwise the first byte
// (0 for the empty string).
func charByte(s string) byte {
	if len(s) == 4 && s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && isOct(s[2]) && isOct(s[3]) {
		return (s[1]-'0')<<6 | (s[2]-'0')<<3 | (s[3] - '0')
	}
	if s == "" {
		return 0
	}
	return s[0]
}

func isOct(c byte) bool { return c >= '0' && c <= '7' }

func (c *Codec) decodeBinary(oid uint32, src []byte) (any, error) {
	need := func(n int) error {
		if len(src) != n {
			return errBinary(oid, "expected %d bytes, got %d", n, len(src))
		}
		return nil
	}
	switch oid {
	case Bool:
		if err := need(1); err != nil {
			return nil, err
		}
		return src[0] != 0, nil
	case Int2:
		if err := need(2); err != nil {
			return nil, err
		}
		return int64(int16(binary.BigEndian.Uint16(src))), nil
	case Int4:
		if err := need(4); err != nil {
			return nil, err
		}
		return int64(int32(binary.BigEndian.Uint32(src))), nil
	case OID, XID:
		if err := need(4); err != nil {
			return nil, err
		}
		return int64(binary.BigEndian.Uint32(src)), nil
	case Int8:
		if err := need(8); err != nil {
			return nil, err
		}
		return int64(binary.BigEndian.Uint64(src)), nil
	case Float4:
		if err := need(4); err != nil {
			return nil, err
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(src))), nil
	case Float8:
		if err := need(8); err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(src)), nil
	case Numeric:
		n, ok := decodeNumericBinary(src)
		if !ok {
			return nil, errBinary(oid, "invalid numeric header or digits (%d bytes)", len(src))
		}
		if len(n.intPart) > maxNumericIntDigits {
			return nil, errNumericSize()
		}
		return numericValue(n), nil
	case NameOID:
		if len(src) >= 64 { // namerecv refuses what namein would clip
			return nil, pgerror.New("42622", "identifier too long").WithDetail("Identifier must be less than 64 characters.")
		}
		return validText(oid, string(src))
	case Text, Varchar, Bpchar, Unknown:
		return validText(oid, string(src))
	case Char:
		if len(src) > 1 {
			return nil, errBinary(oid, "expected at most 1 byte, got %d", len(src))
		}
		if len(src) == 0 || src[0] == 0 {
			return "", nil
		}
		return string(src), nil
	case Bytea:
		return append([]byte{}, src...), nil
	case Date:
		if err := need(4); err != nil {
			return nil, err
		}
		return dateValue(int64(int32(binary.BigEndian.Uint32(src))))
	case Time:
		if err := need(8); err != nil {
			return nil, err
		}
		us := int64(binary.BigEndian.Uint64(src))
		if us < 0 || us > usPerDay {
			return nil, pgerror.New(datetimeFieldOverflow, "time out of range")
		}
		return string(appendClock(nil, us)), nil
	case Timestamp, Timestamptz:
		if err := need(8); err != nil {
			return nil, err
		}
		return timestampValue(oid, int64(binary.BigEndian.Uint64(src)))
	case Interval:
		if err := need(16); err != nil {
			return nil, err
		}
		iv := interval{
			us:     int64(binary.BigEndian.Uint64(src)),
			days:   int32(binary.BigEndian.Uint32(src[8:])),
			months: int32(binary.BigEndian.Uint32(src[12:])),
		}
		if iv.us == math.MinInt64 {
			// PostgreSQL sends it but refuses its text: keep Decode's
			// strings readable by Encode
			return nil, pgerror.New(datetimeFieldOverflow, "interval out of range")
		}
		return string(iv.appendText(nil)), nil
	case UUID:
		if err := need(16); err != nil {
			return nil, err
		}
		return string(appendUUID(nil, [16]byte(src))), nil
	case JSON:
		return c.decodeText(oid, string(src))
	case JSONB:
		if len(src) == 0 || src[0] != 1 {
			return nil, errBinary(oid, "unsupported jsonb version number")
		}
		return c.decodeText(oid, string(src[1:]))
	}
	if elem := ElemOID(oid); elem != 0 {
		return c.decodeBinaryArray(oid, elem, src)
	}
	return append([]byte{}, src...), nil
}
