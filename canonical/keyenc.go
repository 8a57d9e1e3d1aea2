package canonical

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Order-preserving ("memcomparable") key encoding.
//
// A key is the concatenation of its encoded values; each value is a tag byte
// followed by a self-delimiting payload, so a tuple encoding is prefix-free for
// a fixed number of columns and bytes.Compare on encodings equals the tuple
// order. Within one column (one kind) the order is:
//
//	NULL         0x01                        (NULL sorts first, as in GMS/MySQL)
//	int64        0x10 + 8 bytes big endian with the sign bit flipped
//	float64      0x11 + 8 bytes: IEEE bits, all bits inverted if negative,
//	             else sign bit set (-0 is encoded as +0; NaN sorts last)
//	decimal      0x12 + class (0 negative, 1 zero, 2 positive) then for non-zero
//	             values 0.d1d2..dn x 10^E (d1 != 0, no trailing zeros):
//	             E as sign-flipped 8 bytes, ASCII digits, 0x00 terminator; for
//	             negative values E and every digit byte are inverted and the
//	             terminator is 0xFF. 1.50 and 1.5 encode identically.
//	string/json  0x13/0x17 + bytes with 0x00 escaped as 0x00 0xFF, then 0x00 0x01
//	bytes        0x14 + same escaping
//	bool         0x15 + 0x00 (false) or 0x01 (true)
//	time         0x16 + UTC unix micros as int64 above
const (
	ktNull    = 0x01
	ktInt     = 0x10
	ktFloat   = 0x11
	ktDecimal = 0x12
	ktString  = 0x13
	ktBytes   = 0x14
	ktBool    = 0x15
	ktTime    = 0x16
	ktJSON    = 0x17
)

// AppendKey appends the order-preserving encoding of normalized values to b.
// kinds gives each value's column kind (needed to tell json from string); it
// may be nil, then strings are encoded as strings.
func AppendKey(b []byte, kinds []Kind, vals []any) ([]byte, error) {
	for i, v := range vals {
		var k Kind
		if kinds != nil && i < len(kinds) {
			k = kinds[i]
		}
		var err error
		if b, err = appendKeyValue(b, k, v); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendKeyValue(b []byte, k Kind, v any) ([]byte, error) {
	if v == nil {
		return append(b, ktNull), nil
	}
	switch x := v.(type) {
	case int64:
		b = append(b, ktInt)
		return binary.BigEndian.AppendUint64(b, uint64(x)^(1<<63)), nil
	case float64:
		b = append(b, ktFloat)
		if x == 0 {
			x = 0 // -0 -> +0
		}
		if math.IsNaN(x) {
			x = math.NaN()
		}
		bits := math.Float64bits(x)
		if bits&(1<<63) != 0 {
			bits = ^bits
		} else {
			bits |= 1 << 63
		}
		return binary.BigEndian.AppendUint64(b, bits), nil
	case decimal.Decimal:
		return appendKeyDecimal(append(b, ktDecimal), x), nil
	case string:
		if k == KindJSON {
			b = append(b, ktJSON)
		} else {
			b = append(b, ktString)
		}
		return appendEscaped(b, x), nil
	case []byte:
		return appendEscaped(append(b, ktBytes), string(x)), nil
	case bool:
		if x {
			return append(b, ktBool, 1), nil
		}
		return append(b, ktBool, 0), nil
	case time.Time:
		b = append(b, ktTime)
		return binary.BigEndian.AppendUint64(b, uint64(x.UnixMicro())^(1<<63)), nil
	}
	return nil, fmt.Errorf("%w: cannot key-encode %T", ErrBadValue, v)
}

func appendEscaped(b []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, 0)
		if i < 0 {
			break
		}
		b = append(b, s[:i]...)
		b = append(b, 0x00, 0xFF)
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, 0x00, 0x01)
}

func appendKeyDecimal(b []byte, d decimal.Decimal) []byte {
	c := d.Coefficient()
	sign := c.Sign()
	if sign == 0 {
		return append(b, 1)
	}
	digits := new(big.Int).Abs(c).String()
	exp := int64(d.Exponent())
	t := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(t))
	digits = t
	e := exp + int64(len(digits))
	ue := uint64(e) ^ (1 << 63)
	if sign > 0 {
		b = append(b, 2)
		b = binary.BigEndian.AppendUint64(b, ue)
		b = append(b, digits...)
		return append(b, 0x00)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, ^ue)
	for i := 0; i < len(digits); i++ {
		b = append(b, ^digits[i])
	}
	return append(b, 0xFF)
}

// DecodeKey decodes a key produced by AppendKey back into its values. It
// never panics on malformed input; it returns an error instead.
func DecodeKey(b []byte) ([]any, error) {
	var out []any
	for len(b) > 0 {
		v, rest, err := decodeKeyValue(b)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		b = rest
	}
	return out, nil
}

// decodeKeyN decodes exactly n values and returns the remainder.
func decodeKeyN(b []byte, n int) ([]any, []byte, error) {
	out := make([]any, n)
	for i := 0; i < n; i++ {
		v, rest, err := decodeKeyValue(b)
		if err != nil {
			return nil, nil, err
		}
		out[i], b = v, rest
	}
	return out, b, nil
}

// skipKeyN returns the length of the first n encoded values of b. It
// decodes nothing it can step over (index scans call it once per entry),
// so only decimals, whose length is in their encoding, are decoded.
func skipKeyN(b []byte, n int) (int, error) {
	orig := len(b)
	for i := 0; i < n; i++ {
		rest, err := skipKeyValue(b)
		if err != nil {
			return 0, err
		}
		b = rest
	}
	return orig - len(b), nil
}

// skipKeyValue returns b after its first encoded value, checked as
// decodeKeyValue checks it.
func skipKeyValue(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty key value", errCorrupt)
	}
	switch b[0] {
	case ktNull:
		return b[1:], nil
	case ktInt, ktTime, ktFloat:
		if len(b) < 9 {
			return nil, fmt.Errorf("%w: short fixed-size key value", errCorrupt)
		}
		return b[9:], nil
	case ktBool:
		if len(b) < 2 || b[1] > 1 {
			return nil, fmt.Errorf("%w: bad bool", errCorrupt)
		}
		return b[2:], nil
	case ktString, ktBytes, ktJSON:
		// Escaped: 0x00 0xFF is a zero byte, 0x00 0x01 the terminator.
		rest := b[1:]
		for {
			i := bytes.IndexByte(rest, 0)
			if i < 0 || i+1 >= len(rest) {
				return nil, fmt.Errorf("%w: unterminated string", errCorrupt)
			}
			switch rest[i+1] {
			case 0xFF:
				rest = rest[i+2:]
			case 0x01:
				return rest[i+2:], nil
			default:
				return nil, fmt.Errorf("%w: bad string escape", errCorrupt)
			}
		}
	}
	_, rest, err := decodeKeyValue(b)
	return rest, err
}

func decodeKeyValue(b []byte) (any, []byte, error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("%w: empty key value", errCorrupt)
	}
	tag := b[0]
	b = b[1:]
	switch tag {
	case ktNull:
		return nil, b, nil
	case ktInt, ktTime:
		if len(b) < 8 {
			return nil, nil, fmt.Errorf("%w: short int", errCorrupt)
		}
		x := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
		if tag == ktTime {
			return time.UnixMicro(x).UTC(), b[8:], nil
		}
		return x, b[8:], nil
	case ktFloat:
		if len(b) < 8 {
			return nil, nil, fmt.Errorf("%w: short float", errCorrupt)
		}
		bits := binary.BigEndian.Uint64(b)
		if bits&(1<<63) != 0 {
			bits &^= 1 << 63
		} else {
			bits = ^bits
		}
		return math.Float64frombits(bits), b[8:], nil
	case ktBool:
		if len(b) < 1 || b[0] > 1 {
			return nil, nil, fmt.Errorf("%w: bad bool", errCorrupt)
		}
		return b[0] == 1, b[1:], nil
	case ktString, ktBytes, ktJSON:
		s, rest, err := decodeEscaped(b)
		if err != nil {
			return nil, nil, err
		}
		if tag == ktBytes {
			return s, rest, nil
		}
		return string(s), rest, nil
	case ktDecimal:
		return decodeKeyDecimal(b)
	}
	return nil, nil, fmt.Errorf("%w: unknown key tag 0x%02x", errCorrupt, tag)
}

func decodeEscaped(b []byte) ([]byte, []byte, error) {
	out := []byte{}
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 || i+1 >= len(b) {
			return nil, nil, fmt.Errorf("%w: unterminated string", errCorrupt)
		}
		out = append(out, b[:i]...)
		switch b[i+1] {
		case 0xFF:
			out = append(out, 0)
			b = b[i+2:]
		case 0x01:
			return out, b[i+2:], nil
		default:
			return nil, nil, fmt.Errorf("%w: bad string escape", errCorrupt)
		}
	}
}

func decodeKeyDecimal(b []byte) (any, []byte, error) {
	if len(b) < 1 {
		return nil, nil, fmt.Errorf("%w: short decimal", errCorrupt)
	}
	class := b[0]
	b = b[1:]
	switch class {
	case 1:
		return decimal.Zero, b, nil
	case 0, 2:
	default:
		return nil, nil, fmt.Errorf("%w: bad decimal class", errCorrupt)
	}
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("%w: short decimal", errCorrupt)
	}
	ue := binary.BigEndian.Uint64(b)
	b = b[8:]
	neg := class == 0
	if neg {
		ue = ^ue
	}
	e := int64(ue ^ (1 << 63))
	term := byte(0x00)
	if neg {
		term = 0xFF
	}
	i := bytes.IndexByte(b, term)
	if i <= 0 {
		return nil, nil, fmt.Errorf("%w: bad decimal digits", errCorrupt)
	}
	digits := make([]byte, i)
	for j := 0; j < i; j++ {
		c := b[j]
		if neg {
			c = ^c
		}
		if c < '0' || c > '9' {
			return nil, nil, fmt.Errorf("%w: bad decimal digit", errCorrupt)
		}
		digits[j] = c
	}
	exp := e - int64(i)
	if exp < math.MinInt32 || exp > math.MaxInt32 {
		return nil, nil, fmt.Errorf("%w: decimal exponent out of range", errCorrupt)
	}
	coef, ok := new(big.Int).SetString(string(digits), 10)
	if !ok {
		return nil, nil, fmt.Errorf("%w: bad decimal digits", errCorrupt)
	}
	if neg {
		coef.Neg(coef)
	}
	return decimal.NewFromBigInt(coef, int32(exp)), b[i+1:], nil
}

// prefixEnd returns the smallest key greater than every key that has p as a
// prefix, or nil if there is none (p is all 0xFF).
func prefixEnd(p []byte) []byte {
	e := append([]byte{}, p...)
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] != 0xFF {
			e[i]++
			return e[:i+1]
		}
	}
	return nil
}
