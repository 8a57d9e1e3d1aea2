package pgtypes

import (
	"encoding/binary"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// Numeric sign words of PostgreSQL's on-disk and binary wire format.
const (
	numPos  = 0x0000
	numNeg  = 0x4000
	numNaN  = 0xC000
	numPInf = 0xD000
	numNInf = 0xF000

	numMaxDscale = 0x3FFF
)

// pgNumeric is a decimal number as PostgreSQL's numeric holds it: a sign,
// the decimal digits without leading zeros of the integer part (intDigits,
// "" for zero) and exactly dscale fraction digits (frac), or a special value.
type pgNumeric struct {
	special uint16 // 0, numNaN, numPInf or numNInf
	neg     bool
	intPart string
	frac    string
}

func (n pgNumeric) isZero() bool {
	return n.special == 0 && strings.Trim(n.intPart, "0") == "" && strings.Trim(n.frac, "0") == ""
}

// appendText appends numeric_out's text.
func (n pgNumeric) appendText(dst []byte) []byte {
	switch n.special {
	case numNaN:
		return append(dst, "NaN"...)
	case numPInf:
		return append(dst, "Infinity"...)
	case numNInf:
		return append(dst, "-Infinity"...)
	}
	if n.neg && !n.isZero() {
		dst = append(dst, '-')
	}
	if n.intPart == "" {
		dst = append(dst, '0')
	} else {
		dst = append(dst, n.intPart...)
	}
	if n.frac != "" {
		dst = append(dst, '.')
		dst = append(dst, n.frac...)
	}
	return dst
}

// appendBinary appends numeric_send's bytes: ndigits, weight, sign, dscale
// (int16 each) and base-10000 digits, stripped of leading and trailing zero
// digits.
func (n pgNumeric) appendBinary(dst []byte) []byte {
	if n.special != 0 {
		// ndigits 0, weight 0, the sign word, and the dscale numeric_send
		// reads out of a special value's header: (sign & 0x1F80) >> 7,
		// which is 0 for NaN and 32 for the infinities.
		dst = binary.BigEndian.AppendUint16(append(dst, 0, 0, 0, 0), n.special)
		return binary.BigEndian.AppendUint16(dst, (n.special&0x1F80)>>7)
	}
	ip := n.intPart
	if pad := (4 - len(ip)%4) % 4; pad > 0 {
		ip = strings.Repeat("0", pad) + ip
	}
	fp := n.frac
	if pad := (4 - len(fp)%4) % 4; pad > 0 {
		fp += strings.Repeat("0", pad)
	}
	all := ip + fp
	groups := make([]uint16, 0, len(all)/4)
	for i := 0; i < len(all); i += 4 {
		d, _ := strconv.Atoi(all[i : i+4])
		groups = append(groups, uint16(d))
	}
	weight := len(ip)/4 - 1
	for len(groups) > 0 && groups[0] == 0 {
		groups = groups[1:]
		weight--
	}
	for len(groups) > 0 && groups[len(groups)-1] == 0 {
		groups = groups[:len(groups)-1]
	}
	sign := uint16(numPos)
	if len(groups) == 0 {
		weight = 0
	} else if n.neg {
		sign = numNeg
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(groups)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(weight)))
	dst = binary.BigEndian.AppendUint16(dst, sign)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(n.frac)))
	for _, g := range groups {
		dst = binary.BigEndian.AppendUint16(dst, g)
	}
	return dst
}

// withScale returns n rounded (half away from zero, as PostgreSQL does) or
// zero-padded to scale fraction digits.
func (n pgNumeric) withScale(scale int) pgNumeric {
	if n.special != 0 || scale < 0 {
		return n
	}
	if len(n.frac) <= scale {
		n.frac += strings.Repeat("0", scale-len(n.frac))
		return n
	}
	roundUp := n.frac[scale] >= '5'
	digits := []byte(n.intPart + n.frac[:scale])
	if roundUp {
		i := len(digits) - 1
		for ; i >= 0; i-- {
			if digits[i] == '9' {
				digits[i] = '0'
				continue
			}
			digits[i]++
			break
		}
		if i < 0 {
			digits = append([]byte{'1'}, digits...)
		}
	}
	n.intPart = strings.TrimLeft(string(digits[:len(digits)-scale]), "0")
	n.frac = string(digits[len(digits)-scale:])
	return n
}

// parseNumeric parses numeric_in's text: surrounding spaces, a sign,
// digits with an optional point and exponent, or NaN / [+-]Infinity / inf.
func parseNumeric(s string) (pgNumeric, bool) {
	s = strings.TrimSpace(s)
	var n pgNumeric
	switch strings.ToLower(s) {
	case "nan":
		return pgNumeric{special: numNaN}, true
	case "infinity", "+infinity", "inf", "+inf":
		return pgNumeric{special: numPInf}, true
	case "-infinity", "-inf":
		return pgNumeric{special: numNInf}, true
	}
	if s == "" {
		return n, false
	}
	if s[0] == '-' || s[0] == '+' {
		n.neg = s[0] == '-'
		s = s[1:]
	}
	mant, exp := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp = s[:i], s[i+1:]
		if exp == "" {
			return n, false
		}
	}
	ip, fp := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		ip, fp = mant[:i], mant[i+1:]
	}
	if ip == "" && fp == "" || !allDigits(ip) || !allDigits(fp) {
		return n, false
	}
	if exp != "" {
		e, err := strconv.Atoi(exp)
		if err != nil || e > 1000 || e < -1000 {
			return n, false
		}
		digits := ip + fp
		point := len(ip) + e
		switch {
		case point <= 0:
			ip, fp = "", strings.Repeat("0", -point)+digits
		case point >= len(digits):
			ip, fp = digits+strings.Repeat("0", point-len(digits)), ""
		default:
			ip, fp = digits[:point], digits[point:]
		}
	}
	n.intPart = strings.TrimLeft(ip, "0")
	n.frac = fp
	if len(n.frac) > numMaxDscale {
		return n, false
	}
	return n, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// numericFromDecimal keeps the decimal's exponent as the display scale, so
// a GMS DECIMAL(10,2) value 1.50 prints "1.50".
func numericFromDecimal(d decimal.Decimal) pgNumeric {
	scale := int32(0)
	if d.Exponent() < 0 {
		scale = -d.Exponent()
	}
	n, _ := parseNumeric(d.StringFixed(scale))
	return n
}

// numericFromFloat converts like float8_numeric: NaN and infinities are
// kept, other values use the shortest digits that round-trip.
func numericFromFloat(f float64, bits int) pgNumeric {
	switch {
	case math.IsNaN(f):
		return pgNumeric{special: numNaN}
	case math.IsInf(f, 1):
		return pgNumeric{special: numPInf}
	case math.IsInf(f, -1):
		return pgNumeric{special: numNInf}
	}
	n, _ := parseNumeric(strconv.FormatFloat(f, 'f', -1, bits))
	return n
}

// decodeNumericBinary parses numeric_recv's input into a numeric.
func decodeNumericBinary(src []byte) (pgNumeric, bool) {
	if len(src) < 8 {
		return pgNumeric{}, false
	}
	ndigits := int(binary.BigEndian.Uint16(src[0:]))
	weight := int(int16(binary.BigEndian.Uint16(src[2:])))
	sign := binary.BigEndian.Uint16(src[4:])
	dscale := int(binary.BigEndian.Uint16(src[6:]))
	if len(src) != 8+2*ndigits {
		return pgNumeric{}, false
	}
	switch sign {
	case numNaN, numPInf, numNInf:
		return pgNumeric{special: sign}, true
	case numPos, numNeg:
	default:
		return pgNumeric{}, false
	}
	if dscale > numMaxDscale {
		return pgNumeric{}, false
	}
	var sb strings.Builder
	for i := 0; i < ndigits; i++ {
		d := binary.BigEndian.Uint16(src[8+2*i:])
		if d >= 10000 {
			return pgNumeric{}, false
		}
		sb.WriteString(strconv.FormatUint(uint64(10000+d), 10)[1:])
	}
	digits := sb.String()
	// digits[0:4] has weight `weight`: the decimal point is after
	// (weight+1)*4 digits.
	point := (weight + 1) * 4
	var ip, fp string
	switch {
	case point <= 0:
		fp = strings.Repeat("0", -point) + digits
	case point >= len(digits):
		ip = digits + strings.Repeat("0", point-len(digits))
	default:
		ip, fp = digits[:point], digits[point:]
	}
	// numeric_recv truncates digits hidden by dscale, pads to it otherwise
	if len(fp) > dscale {
		fp = fp[:dscale]
	} else {
		fp += strings.Repeat("0", dscale-len(fp))
	}
	return pgNumeric{neg: sign == numNeg, intPart: strings.TrimLeft(ip, "0"), frac: fp}, true
}

// decimalValue converts a finite numeric to a decimal.Decimal with the
// numeric's scale as exponent.
func (n pgNumeric) decimalValue() decimal.Decimal {
	digits := strings.TrimLeft(n.intPart+n.frac, "0")
	bi := new(big.Int)
	if digits != "" {
		bi.SetString(digits, 10)
	}
	if n.neg {
		bi.Neg(bi)
	}
	return decimal.NewFromBigInt(bi, -int32(len(n.frac)))
}
