package canonical

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/shopspring/decimal"
)

// Kind is the value kind of a column. Values of each kind have exactly one Go
// representation when read back from the store:
//
//	KindInt64   int64
//	KindFloat64 float64
//	KindDecimal decimal.Decimal (exact; scale is preserved in rows)
//	KindString  string
//	KindBytes   []byte
//	KindBool    bool
//	KindTime    time.Time (UTC, microsecond precision)
//	KindJSON    string (JSON or free text)
//
// NULL is a nil interface value in every kind.
type Kind uint8

// Value kinds.
const (
	KindInt64 Kind = iota + 1
	KindFloat64
	KindDecimal
	KindString
	KindBytes
	KindBool
	KindTime
	KindJSON
)

var kindNames = map[Kind]string{
	KindInt64: "int64", KindFloat64: "float64", KindDecimal: "decimal", KindString: "string",
	KindBytes: "bytes", KindBool: "bool", KindTime: "time", KindJSON: "json",
}

// String returns the kind's name ("int64", "decimal", ...).
func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if n == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("canonical: unknown value kind %q", s)
}

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// ErrBadValue is wrapped by errors about values that do not fit their column.
var ErrBadValue = errors.New("canonical: bad value")

// Normalize converts v to the canonical Go representation of kind k (see
// Kind). It accepts the usual Go relatives of each kind (any integer type for
// int64, float32, strings for decimals, time.Time in any zone, json.RawMessage,
// ...). nil stays nil.
func Normalize(k Kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case KindInt64:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		case int32:
			return int64(x), nil
		case int16:
			return int64(x), nil
		case int8:
			return int64(x), nil
		case uint8:
			return int64(x), nil
		case uint16:
			return int64(x), nil
		case uint32:
			return int64(x), nil
		case uint:
			if uint64(x) > math.MaxInt64 {
				break
			}
			return int64(x), nil
		case uint64:
			if x > math.MaxInt64 {
				break
			}
			return int64(x), nil
		}
	case KindFloat64:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case int:
			return float64(x), nil
		}
	case KindDecimal:
		switch x := v.(type) {
		case decimal.Decimal:
			return x, nil
		case string:
			d, err := decimal.NewFromString(x)
			if err != nil {
				return nil, fmt.Errorf("%w: %q is not a decimal: %w", ErrBadValue, x, err)
			}
			return d, nil
		case int64:
			return decimal.NewFromInt(x), nil
		case int:
			return decimal.NewFromInt(int64(x)), nil
		case float64:
			return decimal.NewFromFloat(x), nil
		}
	case KindString:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	case KindBytes:
		switch x := v.(type) {
		case []byte:
			return append([]byte{}, x...), nil
		case string:
			return []byte(x), nil
		}
	case KindBool:
		if x, ok := v.(bool); ok {
			return x, nil
		}
	case KindTime:
		switch x := v.(type) {
		case time.Time:
			return time.UnixMicro(x.UnixMicro()).UTC(), nil
		}
	case KindJSON:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case json.RawMessage:
			return string(x), nil
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("%w: cannot encode %T as json: %w", ErrBadValue, v, err)
			}
			return string(b), nil
		}
	default:
		return nil, fmt.Errorf("%w: unknown kind %d", ErrBadValue, k)
	}
	return nil, fmt.Errorf("%w: %T (%v) is not a %s", ErrBadValue, v, v, k)
}

// inferKind guesses the kind of a Go value (used for raw rows, which have no
// schema in the store).
func inferKind(v any) (Kind, error) {
	switch v.(type) {
	case int64, int, int32, int16, int8, uint8, uint16, uint32, uint, uint64:
		return KindInt64, nil
	case float64, float32:
		return KindFloat64, nil
	case decimal.Decimal:
		return KindDecimal, nil
	case string:
		return KindString, nil
	case []byte:
		return KindBytes, nil
	case bool:
		return KindBool, nil
	case time.Time:
		return KindTime, nil
	case json.RawMessage:
		return KindJSON, nil
	}
	return 0, fmt.Errorf("%w: unsupported Go type %T", ErrBadValue, v)
}

// Row value encoding (not order-preserving; used for stored rows and hashing).
// A row is uvarint(ncols) followed by each value: a tag byte and its payload.
const (
	vtNull    = 0
	vtInt     = 1 // zigzag varint
	vtFloat   = 2 // 8 bytes IEEE bits, big endian
	vtDecimal = 3 // zigzag varint exponent, sign byte, uvarint len, coefficient magnitude bytes
	vtString  = 4 // uvarint len, bytes
	vtBytes   = 5 // uvarint len, bytes
	vtFalse   = 6
	vtTrue    = 7
	vtTime    = 8 // zigzag varint unix micros
	vtJSON    = 9 // uvarint len, bytes
)

// appendValue appends the row encoding of a normalized value v of kind k.
// For raw rows (k == 0) the kind is inferred.
func appendValue(b []byte, k Kind, v any) ([]byte, error) {
	if v == nil {
		return append(b, vtNull), nil
	}
	switch x := v.(type) {
	case int64:
		b = append(b, vtInt)
		return binary.AppendVarint(b, x), nil
	case float64:
		b = append(b, vtFloat)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(x)), nil
	case decimal.Decimal:
		b = append(b, vtDecimal)
		b = binary.AppendVarint(b, int64(x.Exponent()))
		c := x.Coefficient()
		if c.Sign() < 0 {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		mag := new(big.Int).Abs(c).Bytes()
		b = binary.AppendUvarint(b, uint64(len(mag)))
		return append(b, mag...), nil
	case string:
		if k == KindJSON {
			b = append(b, vtJSON)
		} else {
			b = append(b, vtString)
		}
		b = binary.AppendUvarint(b, uint64(len(x)))
		return append(b, x...), nil
	case []byte:
		b = append(b, vtBytes)
		b = binary.AppendUvarint(b, uint64(len(x)))
		return append(b, x...), nil
	case bool:
		if x {
			return append(b, vtTrue), nil
		}
		return append(b, vtFalse), nil
	case time.Time:
		b = append(b, vtTime)
		return binary.AppendVarint(b, x.UnixMicro()), nil
	}
	return nil, fmt.Errorf("%w: cannot encode %T", ErrBadValue, v)
}

// encodeRow encodes normalized values. kinds may be nil (raw rows).
func encodeRow(b []byte, kinds []Kind, row []any) ([]byte, error) {
	b = binary.AppendUvarint(b, uint64(len(row)))
	var err error
	for i, v := range row {
		var k Kind
		if kinds != nil {
			k = kinds[i]
		}
		if b, err = appendValue(b, k, v); err != nil {
			return nil, err
		}
	}
	return b, nil
}

var errCorrupt = errors.New("canonical: corrupt encoding")

// decodeRow decodes a row encoded by encodeRow.
func decodeRow(b []byte) ([]any, error) {
	n, m := binary.Uvarint(b)
	if m <= 0 || n > uint64(len(b)) {
		return nil, errCorrupt
	}
	b = b[m:]
	row := make([]any, n)
	// Strings of a row share one copy of the row's bytes (one allocation
	// instead of one per string).
	vd := valueDecoder{orig: b}
	var err error
	for i := range row {
		if row[i], b, err = vd.value(b); err != nil {
			return nil, err
		}
	}
	if len(b) != 0 {
		return nil, errCorrupt
	}
	return row, nil
}

// valueDecoder decodes the values of one encoded row. Strings share one
// copy of the row's bytes, made when the first string is decoded.
type valueDecoder struct {
	orig []byte // the row's values (after the column count)
	sbuf string
}

// value decodes the value at the start of b (a suffix of orig) and returns
// the rest.
func (vd *valueDecoder) value(b []byte) (any, []byte, error) {
	if len(b) == 0 {
		return nil, nil, errCorrupt
	}
	tag := b[0]
	b = b[1:]
	switch tag {
	case vtNull:
		return nil, b, nil
	case vtInt:
		x, m := binary.Varint(b)
		if m <= 0 {
			return nil, nil, errCorrupt
		}
		return x, b[m:], nil
	case vtFloat:
		if len(b) < 8 {
			return nil, nil, errCorrupt
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), b[8:], nil
	case vtDecimal:
		exp, m := binary.Varint(b)
		if m <= 0 || len(b) < m+1 {
			return nil, nil, errCorrupt
		}
		neg := b[m] == 1
		b = b[m+1:]
		l, m := binary.Uvarint(b)
		if m <= 0 || l > uint64(len(b)-m) {
			return nil, nil, errCorrupt
		}
		mag := b[m : m+int(l)]
		if l <= 7 {
			// Small coefficients (every money amount): no big.Int
			// round trip through bytes.
			var c int64
			for _, x := range mag {
				c = c<<8 | int64(x)
			}
			if neg {
				c = -c
			}
			return decimal.New(c, int32(exp)), b[m+int(l):], nil
		}
		c := new(big.Int).SetBytes(mag)
		if neg {
			c.Neg(c)
		}
		return decimal.NewFromBigInt(c, int32(exp)), b[m+int(l):], nil
	case vtString, vtBytes, vtJSON:
		l, m := binary.Uvarint(b)
		if m <= 0 || l > uint64(len(b)-m) {
			return nil, nil, errCorrupt
		}
		p := b[m : m+int(l)]
		var v any
		if tag == vtBytes {
			v = append([]byte{}, p...)
		} else {
			if vd.sbuf == "" {
				vd.sbuf = string(vd.orig)
			}
			off := len(vd.orig) - len(b) + m
			v = vd.sbuf[off : off+int(l)]
		}
		return v, b[m+int(l):], nil
	case vtFalse:
		return false, b, nil
	case vtTrue:
		return true, b, nil
	case vtTime:
		x, m := binary.Varint(b)
		if m <= 0 {
			return nil, nil, errCorrupt
		}
		return time.UnixMicro(x).UTC(), b[m:], nil
	}
	return nil, nil, errCorrupt
}

// skipValue returns b after the value at its start, without decoding it.
func skipValue(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errCorrupt
	}
	tag := b[0]
	b = b[1:]
	switch tag {
	case vtNull, vtFalse, vtTrue:
		return b, nil
	case vtInt, vtTime:
		_, m := binary.Varint(b)
		if m <= 0 {
			return nil, errCorrupt
		}
		return b[m:], nil
	case vtFloat:
		if len(b) < 8 {
			return nil, errCorrupt
		}
		return b[8:], nil
	case vtDecimal:
		_, m := binary.Varint(b)
		if m <= 0 || len(b) < m+1 {
			return nil, errCorrupt
		}
		b = b[m+1:]
		fallthrough
	case vtString, vtBytes, vtJSON:
		l, m := binary.Uvarint(b)
		if m <= 0 || l > uint64(len(b)-m) {
			return nil, errCorrupt
		}
		return b[m+int(l):], nil
	}
	return nil, errCorrupt
}

// rowDecoder decodes stored rows into rows shaped by one table schema:
// values of columns the stored row lacks are the columns' defaults, values
// past the schema's columns are dropped (TableSchema.pad), and only the
// columns in need (all if nil) are decoded, the others are nil. With reuse
// every row is decoded into the same slice.
type rowDecoder struct {
	ts    *TableSchema
	need  []bool
	reuse bool
	buf   []any
}

func newRowDecoder(ts *TableSchema, cols []int, reuse bool) (*rowDecoder, error) {
	d := &rowDecoder{ts: ts, reuse: reuse}
	if cols != nil {
		d.need = make([]bool, len(ts.Columns))
		for _, c := range cols {
			if c < 0 || c >= len(ts.Columns) {
				return nil, fmt.Errorf("%w: column %d of table %s (%d columns)", ErrBadValue, c, ts.Name, len(ts.Columns))
			}
			d.need[c] = true
		}
	}
	return d, nil
}

func (d *rowDecoder) decode(b []byte) ([]any, error) {
	ncols := len(d.ts.Columns)
	n, m := binary.Uvarint(b)
	if m <= 0 || n > uint64(len(b)) {
		return nil, errCorrupt
	}
	b = b[m:]
	var row []any
	if d.reuse {
		if d.buf == nil {
			d.buf = make([]any, ncols)
		}
		row = d.buf
	} else {
		row = make([]any, ncols)
	}
	vd := valueDecoder{orig: b}
	var err error
	for i := 0; i < int(n); i++ {
		if i >= ncols || (d.need != nil && !d.need[i]) {
			if b, err = skipValue(b); err != nil {
				return nil, err
			}
			continue
		}
		if row[i], b, err = vd.value(b); err != nil {
			return nil, err
		}
	}
	if len(b) != 0 {
		return nil, errCorrupt
	}
	for i := int(n); i < ncols; i++ {
		if d.need == nil || d.need[i] {
			row[i] = d.ts.Columns[i].Default
		}
	}
	return row, nil
}
