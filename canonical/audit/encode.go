package audit

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendRecord appends r's JSON, byte for byte what json.Marshal(r)
// produces (field order, HTML-safe string escaping, invalid UTF-8 as
// \ufffd, U+2028/U+2029 escaped, ES6 float formatting, RFC 3339 times),
// without reflection: records are hashed over this form, so it must never
// differ (TestAppendRecordIsMarshal compares them over random records).
// Values json.Marshal would refuse or that the hand encoder does not
// cover (a time outside years 0-9999 or not in UTC, a NaN or infinite
// duration) go through json.Marshal itself.
func appendRecord(dst []byte, r *Record) ([]byte, error) {
	if !plainTime(r.At) || math.IsNaN(r.DurationMS) || math.IsInf(r.DurationMS, 0) {
		b, err := json.Marshal(r)
		if err != nil {
			return dst, err
		}
		return append(dst, b...), nil
	}
	b := append(dst, `{"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"at":"`...)
	b = r.At.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","user_name":`...)
	b = appendString(b, r.User)
	b = append(b, `,"role":`...)
	b = appendString(b, r.Role)
	b = append(b, `,"application_name":`...)
	b = appendString(b, r.Application)
	b = append(b, `,"client_addr":`...)
	b = appendString(b, r.ClientAddr)
	b = append(b, `,"fingerprint":`...)
	b = appendString(b, r.Fingerprint)
	b = append(b, `,"statement":`...)
	b = appendString(b, r.Statement)
	b = append(b, `,"relations":`...)
	if r.Relations == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, rel := range r.Relations {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, rel)
		}
		b = append(b, ']')
	}
	b = append(b, `,"authority":`...)
	b = appendString(b, r.Authority)
	b = append(b, `,"as_of":`...)
	b = strconv.AppendUint(b, r.AsOf, 10)
	b = append(b, `,"rows":`...)
	b = strconv.AppendInt(b, r.Rows, 10)
	b = append(b, `,"duration_ms":`...)
	b = appendFloat(b, r.DurationMS)
	b = append(b, `,"sqlstate":`...)
	b = appendString(b, r.SQLState)
	if r.Via != "" {
		b = append(b, `,"via":`...)
		b = appendString(b, r.Via)
	}
	b = append(b, `,"prev_hash":`...)
	b = appendString(b, r.PrevHash)
	b = append(b, `,"hash":`...)
	b = appendString(b, r.Hash)
	return append(b, '}'), nil
}

// plainTime: t encodes as AppendFormat(RFC3339Nano) exactly as
// time.Time.MarshalJSON does (which refuses years outside 0-9999).
func plainTime(t time.Time) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	return off == 0
}

// appendFloat is encoding/json's float64 encoding (ES6 number to string).
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString is encoding/json's string encoding with HTML escaping on
// (json.Marshal's default).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
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
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
