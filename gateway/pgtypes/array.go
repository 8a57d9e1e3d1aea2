package pgtypes

import (
	"encoding/binary"
	"strings"

	"github.com/dualgate/dualgate/gateway/pgerror"
)

// encodeArray encodes a one-dimensional array from a Go slice or from a
// PostgreSQL array literal string.
func (c *Codec) encodeArray(dst []byte, oid, elem uint32, typmod int32, bin bool, v any) ([]byte, error) {
	var elems []any
	switch x := v.(type) {
	case string:
		lit, ok := parseArrayLiteral(x)
		if !ok {
			return dst, errArrayLiteral(x)
		}
		elems = make([]any, len(lit))
		for i, e := range lit {
			if e != nil {
				elems[i] = *e
			}
		}
	default:
		var ok bool
		if elems, ok = sliceElems(v); !ok {
			return dst, errValue(oid, v)
		}
	}
	start := len(dst)
	if bin {
		hasNull := int32(0)
		for _, e := range elems {
			if e == nil {
				hasNull = 1
			}
		}
		if len(elems) == 0 {
			dst = binary.BigEndian.AppendUint32(dst, 0)
			dst = binary.BigEndian.AppendUint32(dst, 0)
			return binary.BigEndian.AppendUint32(dst, elem), nil
		}
		dst = binary.BigEndian.AppendUint32(dst, 1)
		dst = binary.BigEndian.AppendUint32(dst, uint32(hasNull))
		dst = binary.BigEndian.AppendUint32(dst, elem)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(elems)))
		dst = binary.BigEndian.AppendUint32(dst, 1)
		for _, e := range elems {
			if e == nil {
				dst = binary.BigEndian.AppendUint32(dst, 0xFFFFFFFF)
				continue
			}
			at := len(dst)
			dst = append(dst, 0, 0, 0, 0)
			var err error
			dst, err = c.EncodeMod(dst, elem, typmod, BinaryFormat, e)
			if err != nil {
				return dst[:start], err
			}
			binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
		}
		return dst, nil
	}
	dst = append(dst, '{')
	var buf []byte
	for i, e := range elems {
		if i > 0 {
			dst = append(dst, ',')
		}
		if e == nil {
			dst = append(dst, "NULL"...)
			continue
		}
		var err error
		buf, err = c.EncodeMod(buf[:0], elem, typmod, TextFormat, e)
		if err != nil {
			return dst[:start], err
		}
		dst = appendArrayElem(dst, buf)
	}
	return append(dst, '}'), nil
}

// errArrayLiteral is the error for an array literal parseArrayLiteral
// refuses: 0A000 for the multidimensional ones it does not handle, 22P02
// for malformed ones.
func errArrayLiteral(s string) *pgerror.Error {
	t := strings.TrimLeft(s, " \t\n\r\v\f")
	if strings.HasPrefix(t, "{") && strings.HasPrefix(strings.TrimLeft(t[1:], " \t\n\r\v\f"), "{") {
		return pgerror.New(pgerror.FeatureNotSupported, "multidimensional arrays are not supported by dualgate")
	}
	return pgerror.New(pgerror.InvalidTextRepresentation, "malformed array literal: \"%s\"", clip(s))
}

// appendArrayElem quotes an element as array_out does: when it is empty,
// is NULL in any case, or holds a quote, backslash, brace, comma or white
// space.
func appendArrayElem(dst, e []byte) []byte {
	quote := len(e) == 0 || strings.EqualFold(string(e), "NULL")
	for _, c := range e {
		switch c {
		case '"', '\\', '{', '}', ',', ' ', '\t', '\n', '\r', '\v', '\f':
			quote = true
		}
	}
	if !quote {
		return append(dst, e...)
	}
	dst = append(dst, '"')
	for _, c := range e {
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

func isArraySpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// parseArrayLiteral parses a one-dimensional array literal ("{1,NULL,"a b"}",
// optionally preceded by "[1:3]=") into its elements, nil for NULL.
func parseArrayLiteral(s string) ([]*string, bool) {
	s = strings.TrimLeft(s, " \t\n\r\v\f")
	if strings.HasPrefix(s, "[") {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, false
		}
		s = strings.TrimLeft(s[eq+1:], " \t\n\r\v\f")
	}
	if len(s) < 2 || s[0] != '{' {
		return nil, false
	}
	i := 1
	var out []*string
	skip := func() {
		for i < len(s) && isArraySpace(s[i]) {
			i++
		}
	}
	skip()
	if i < len(s) && s[i] == '}' {
		i++
		skip()
		return []*string{}, i == len(s)
	}
	for {
		skip()
		if i >= len(s) {
			return nil, false
		}
		var sb strings.Builder
		quoted := false
		if s[i] == '"' {
			quoted = true
			i++
			for {
				if i >= len(s) {
					return nil, false
				}
				c := s[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' {
					i++
					if i >= len(s) {
						return nil, false
					}
					c = s[i]
				}
				sb.WriteByte(c)
				i++
			}
			skip()
		} else {
			trailing := 0 // count of unescaped trailing spaces to trim
			for i < len(s) && s[i] != ',' && s[i] != '}' {
				c := s[i]
				if c == '{' || c == '"' {
					return nil, false
				}
				if c == '\\' {
					i++
					if i >= len(s) {
						return nil, false
					}
					sb.WriteByte(s[i])
					trailing = 0
					i++
					continue
				}
				if isArraySpace(c) {
					trailing++
				} else {
					trailing = 0
				}
				sb.WriteByte(c)
				i++
			}
			str := sb.String()
			str = str[:len(str)-trailing]
			if str == "" {
				return nil, false
			}
			sb.Reset()
			sb.WriteString(str)
		}
		e := sb.String()
		if !quoted && strings.EqualFold(e, "NULL") {
			out = append(out, nil)
		} else {
			out = append(out, &e)
		}
		if i >= len(s) {
			return nil, false
		}
		if s[i] == ',' {
			i++
			continue
		}
		if s[i] == '}' {
			i++
			skip()
			return out, i == len(s)
		}
		return nil, false
	}
}

// decodeBinaryArray reads array_recv's format for a one-dimensional (or
// empty) array of elem.
func (c *Codec) decodeBinaryArray(oid, elem uint32, src []byte) (any, error) {
	if len(src) < 12 {
		return nil, errBinary(oid, "array header too short")
	}
	ndim := int32(binary.BigEndian.Uint32(src))
	flags := binary.BigEndian.Uint32(src[4:])
	et := binary.BigEndian.Uint32(src[8:])
	if flags > 1 {
		return nil, errBinary(oid, "invalid array flags")
	}
	if et != elem {
		return nil, pgerror.New(pgerror.DatatypeMismatch, "binary data has array element type %d instead of expected %d", et, elem)
	}
	switch {
	case ndim == 0:
		if len(src) != 12 {
			return nil, errBinary(oid, "trailing bytes after empty array")
		}
		return []any{}, nil
	case ndim != 1:
		return nil, pgerror.New(pgerror.FeatureNotSupported, "multidimensional arrays are not supported by dualgate")
	}
	if len(src) < 20 {
		return nil, errBinary(oid, "array header too short")
	}
	n := int32(binary.BigEndian.Uint32(src[12:]))
	if n < 0 || int(n) > (len(src)-20)/4 {
		return nil, errBinary(oid, "invalid array dimension %d", n)
	}
	p := src[20:]
	out := make([]any, n)
	for i := range out {
		if len(p) < 4 {
			return nil, errBinary(oid, "insufficient data left in array")
		}
		l := int32(binary.BigEndian.Uint32(p))
		p = p[4:]
		if l == -1 {
			continue
		}
		if l < 0 || int(l) > len(p) {
			return nil, errBinary(oid, "insufficient data left in array")
		}
		v, err := c.decodeBinary(elem, p[:l])
		if err != nil {
			return nil, err
		}
		out[i] = v
		p = p[l:]
	}
	if len(p) != 0 {
		return nil, errBinary(oid, "trailing bytes after array")
	}
	return out, nil
}
