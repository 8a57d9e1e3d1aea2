package projections

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/canonical"
)

// ErrBadValue is wrapped by errors about values a store cannot hold.
var ErrBadValue = errors.New("projections: bad value")

var errCorrupt = errors.New("projections: corrupt row encoding")

// Normalize converts a value as the SQL engine or the canonical store
// returns it to the store's Go representation (see the package comment):
// every integer becomes int64 (uint64 above MaxInt64 becomes a decimal),
// float32 becomes float64, time.Time becomes UTC with microsecond
// precision, json.Marshaler values become their JSON text, fmt.Stringer
// values their text. nil stays nil.
func Normalize(v any) (any, error) {
	switch x := v.(type) {
	case nil, int64, float64, string, bool:
		return v, nil
	case decimal.Decimal:
		return x, nil
	case []byte:
		return append([]byte{}, x...), nil
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint:
		return Normalize(uint64(x))
	case uint64:
		if x > math.MaxInt64 {
			return decimal.NewFromBigInt(new(big.Int).SetUint64(x), 0), nil
		}
		return int64(x), nil
	case float32:
		return float64(x), nil
	case time.Time:
		return time.UnixMicro(x.UnixMicro()).UTC(), nil
	case json.RawMessage:
		return string(x), nil
	case json.Marshaler:
		b, err := x.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%w: %T: %w", ErrBadValue, v, err)
		}
		return string(b), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	return nil, fmt.Errorf("%w: unsupported Go type %T", ErrBadValue, v)
}

// NormalizeRow normalizes every value of row into a new slice.
func NormalizeRow(row []any) ([]any, error) {
	out := make([]any, len(row))
	for i, v := range row {
		n, err := Normalize(v)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// EncodeKey returns the store encoding of a key: canonical's
// order-preserving key encoding (canonical.AppendKey) of the normalized
// values. Equal keys encode identically (decimals 1.5 and 1.50 too).
func EncodeKey(key []any) ([]byte, error) { return AppendKey(nil, key) }

// AppendKey appends EncodeKey(key) to dst. Keys of up to four columns are
// normalized on the stack, so a point lookup encoding into a stack buffer
// allocates nothing.
func AppendKey(dst []byte, key []any) ([]byte, error) {
	var small [4]any
	n := small[:0]
	if len(key) > len(small) {
		n = make([]any, 0, len(key))
	}
	for _, v := range key {
		nv, err := Normalize(v)
		if err != nil {
			return nil, err
		}
		n = append(n, nv)
	}
	return canonical.AppendKey(dst, nil, n)
}

// DecodeKey is the inverse of EncodeKey.
func DecodeKey(b []byte) ([]any, error) { return canonical.DecodeKey(b) }

// Row value tags (see the package comment).
const (
	tNull    = 0
	tInt     = 1 // zigzag varint
	tFloat   = 2 // 8 bytes IEEE bits, big endian
	tDecimal = 3 // zigzag varint exponent, uvarint len, coefficient as decimal text
	tString  = 4 // uvarint len, bytes
	tBytes   = 5 // uvarint len, bytes
	tFalse   = 6
	tTrue    = 7
	tTime    = 8 // zigzag varint unix microseconds (UTC)
)

// EncodeRow appends the store encoding of a row of normalized values to b.
func EncodeRow(b []byte, row []any) ([]byte, error) {
	b = binary.AppendUvarint(b, uint64(len(row)))
	for _, v := range row {
		switch x := v.(type) {
		case nil:
			b = append(b, tNull)
		case int64:
			b = binary.AppendVarint(append(b, tInt), x)
		case float64:
			b = binary.BigEndian.AppendUint64(append(b, tFloat), math.Float64bits(x))
		case decimal.Decimal:
			b = binary.AppendVarint(append(b, tDecimal), int64(x.Exponent()))
			c := x.Coefficient().String()
			b = binary.AppendUvarint(b, uint64(len(c)))
			b = append(b, c...)
		case string:
			b = binary.AppendUvarint(append(b, tString), uint64(len(x)))
			b = append(b, x...)
		case []byte:
			b = binary.AppendUvarint(append(b, tBytes), uint64(len(x)))
			b = append(b, x...)
		case bool:
			if x {
				b = append(b, tTrue)
			} else {
				b = append(b, tFalse)
			}
		case time.Time:
			b = binary.AppendVarint(append(b, tTime), x.UnixMicro())
		default:
			return nil, fmt.Errorf("%w: cannot encode %T (normalize first)", ErrBadValue, v)
		}
	}
	return b, nil
}

// DecodeRow decodes a row encoded by EncodeRow. It never panics on
// malformed input.
func DecodeRow(b []byte) ([]any, error) {
	n, m := binary.Uvarint(b)
	if m <= 0 || n > uint64(len(b)) {
		return nil, errCorrupt
	}
	b = b[m:]
	row := make([]any, n)
	for i := range row {
		if len(b) == 0 {
			return nil, errCorrupt
		}
		tag := b[0]
		b = b[1:]
		switch tag {
		case tNull:
		case tInt, tTime:
			x, m := binary.Varint(b)
			if m <= 0 {
				return nil, errCorrupt
			}
			b = b[m:]
			if tag == tTime {
				row[i] = time.UnixMicro(x).UTC()
			} else {
				row[i] = x
			}
		case tFloat:
			if len(b) < 8 {
				return nil, errCorrupt
			}
			row[i], b = math.Float64frombits(binary.BigEndian.Uint64(b)), b[8:]
		case tDecimal:
			exp, m := binary.Varint(b)
			if m <= 0 || exp < math.MinInt32 || exp > math.MaxInt32 {
				return nil, errCorrupt
			}
			b = b[m:]
			s, rest, err := lenPrefixed(b)
			if err != nil {
				return nil, err
			}
			c, ok := new(big.Int).SetString(string(s), 10)
			if !ok {
				return nil, errCorrupt
			}
			row[i], b = decimal.NewFromBigInt(c, int32(exp)), rest
		case tString, tBytes:
			s, rest, err := lenPrefixed(b)
			if err != nil {
				return nil, err
			}
			if tag == tString {
				row[i] = string(s)
			} else {
				row[i] = append([]byte{}, s...)
			}
			b = rest
		case tFalse:
			row[i] = false
		case tTrue:
			row[i] = true
		default:
			return nil, errCorrupt
		}
	}
	if len(b) != 0 {
		return nil, errCorrupt
	}
	return row, nil
}

func lenPrefixed(b []byte) ([]byte, []byte, error) {
	l, m := binary.Uvarint(b)
	if m <= 0 || l > uint64(len(b)-m) {
		return nil, nil, errCorrupt
	}
	return b[m : m+int(l)], b[m+int(l):], nil
}

// NumBuckets is the number of buckets every projection generation is
// hashed into (see the package comment).
const NumBuckets = 256

// BucketOf returns the bucket of an encoded key.
func BucketOf(encKey []byte) int { return int(xxhash.Sum64(encKey) % NumBuckets) }

// EntryHash is the 64-bit hash of one stored entry (encoded key followed by
// encoded row; the key encoding is self-delimiting, so the concatenation is
// unambiguous). A bucket's checksum is the sum, modulo 2^64, of the entry
// hashes of its rows: order-independent and updatable per write.
func EntryHash(encKey, encRow []byte) uint64 {
	d := xxhash.New()
	_, _ = d.Write(encKey)
	_, _ = d.Write(encRow)
	return d.Sum64()
}

// Bucket is one bucket's row count and checksum.
type Bucket struct {
	Count int64
	Sum   uint64
}

// ComputeBuckets computes the bucket counts and checksums of a set of rows
// (e.g. a projection recomputed from canonical) exactly as the stores
// maintain them, for reconciliation. keyOf returns a row's key values.
func ComputeBuckets(rows [][]any, keyOf func(row []any) []any) ([]Bucket, error) {
	out := make([]Bucket, NumBuckets)
	for _, r := range rows {
		n, err := NormalizeRow(r)
		if err != nil {
			return nil, err
		}
		k, err := EncodeKey(keyOf(n))
		if err != nil {
			return nil, err
		}
		v, err := EncodeRow(nil, n)
		if err != nil {
			return nil, err
		}
		b := &out[BucketOf(k)]
		b.Count++
		b.Sum += EntryHash(k, v)
	}
	return out, nil
}
