package pgtypes

import (
	"math"
	"strconv"
	"strings"
)

// interval is PostgreSQL's interval: months, days and microseconds, each
// with its own sign.
type interval struct {
	months int32
	days   int32
	us     int64
}

// appendText appends interval_out's text for IntervalStyle postgres (the
// default): "1 year 2 mons 3 days 04:05:06.789", "-1 days +02:00:00".
func (iv interval) appendText(dst []byte) []byte {
	year := iv.months / 12
	mon := iv.months % 12
	isZero, isBefore := true, false
	part := func(v int64, unit string) {
		if v == 0 {
			return
		}
		if !isZero {
			dst = append(dst, ' ')
		}
		if isBefore && v > 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, v, 10)
		dst = append(dst, ' ')
		dst = append(dst, unit...)
		if v != 1 {
			dst = append(dst, 's')
		}
		isBefore = v < 0
		isZero = false
	}
	part(int64(year), "year")
	part(int64(mon), "mon")
	part(int64(iv.days), "day")
	if isZero || iv.us != 0 {
		t := iv.us
		minus := t < 0
		if !isZero {
			dst = append(dst, ' ')
		}
		mag := uint64(t)
		if minus {
			dst = append(dst, '-')
			mag = -mag // also right for MinInt64
		} else if isBefore {
			dst = append(dst, '+')
		}
		dst = appendPad(dst, int64(mag/uint64(usPerHour)), 2)
		dst = append(dst, ':')
		dst = appendPad(dst, int64(mag/uint64(usPerMin)%60), 2)
		dst = append(dst, ':')
		dst = appendSeconds(dst, int64(mag/uint64(usPerSec)%60), int64(mag%uint64(usPerSec)))
	}
	return dst
}

// parseInterval parses interval input in the postgres and postgres_verbose
// styles ("1 year 2 mons -3 days +04:05:06.789", "@ 1 hour ago", "5" for
// seconds) and ISO 8601 ("P1Y2M3DT4H5M6.789S"). Fractional units spill into
// smaller ones as PostgreSQL does (a month is 30 days, a day 24 hours).
func parseInterval(s string) (interval, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return interval{}, false
	}
	if s[0] == 'p' {
		return parseISOInterval(s[1:])
	}
	if strings.HasPrefix(s, "@") {
		s = strings.TrimSpace(s[1:])
	}
	ago := false
	if strings.HasSuffix(s, " ago") || s == "ago" {
		ago = true
		s = strings.TrimSpace(strings.TrimSuffix(s, "ago"))
	}
	var acc ivAcc
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return interval{}, false
	}
	for i := 0; i < len(fields); i++ {
		tok := fields[i]
		if strings.IndexByte(tok, ':') >= 0 {
			if !acc.clock(tok) {
				return interval{}, false
			}
			continue
		}
		if y, m, ok := yearMonth(tok); ok { // SQL-standard "Y-M"
			if !acc.mark(ivYear | ivMonth) {
				return interval{}, false
			}
			acc.months += float64(y*12 + m)
			continue
		}
		// a number, possibly glued to its unit ("3days")
		j := 0
		if j < len(tok) && (tok[j] == '+' || tok[j] == '-') {
			j++
		}
		for j < len(tok) && (tok[j] >= '0' && tok[j] <= '9' || tok[j] == '.') {
			j++
		}
		num, unit := tok[:j], tok[j:]
		if num == "" || num == "+" || num == "-" {
			return interval{}, false
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsInf(v, 0) {
			return interval{}, false
		}
		if unit == "" {
			switch {
			case i+1 < len(fields) && !startsNumeric(fields[i+1]):
				i++
				unit = fields[i]
			case i+1 < len(fields) && strings.IndexByte(fields[i+1], ':') >= 0:
				unit = "day" // SQL-standard "D H:M:S"
			default:
				unit = "second"
			}
		}
		if !acc.add(v, unit) {
			return interval{}, false
		}
	}
	iv, ok := acc.result()
	if ago {
		if iv.months == math.MinInt32 || iv.days == math.MinInt32 || iv.us == math.MinInt64 {
			return iv, false
		}
		iv = interval{-iv.months, -iv.days, -iv.us}
	}
	return iv, ok
}

// yearMonth parses "[+-]Y-M"; the sign applies to both fields.
func yearMonth(tok string) (int64, int64, bool) {
	neg := false
	if tok != "" && (tok[0] == '-' || tok[0] == '+') {
		neg = tok[0] == '-'
		tok = tok[1:]
	}
	i := strings.IndexByte(tok, '-')
	if i <= 0 || !allDigits(tok[:i]) || !allDigits(tok[i+1:]) || i == len(tok)-1 || len(tok) > 12 {
		return 0, 0, false
	}
	y, _ := strconv.ParseInt(tok[:i], 10, 64)
	m, _ := strconv.ParseInt(tok[i+1:], 10, 64)
	if m > 11 {
		return 0, 0, false
	}
	if neg {
		return -y, -m, true
	}
	return y, m, true
}

func startsNumeric(s string) bool {
	return s != "" && (s[0] >= '0' && s[0] <= '9' || s[0] == '+' || s[0] == '-' || s[0] == '.')
}

// ivAcc accumulates interval fields in floating point, then rounds the way
// PostgreSQL's DecodeInterval spills fractions.
type ivAcc struct {
	months, days float64
	us           float64 // fractional contributions
	usInt        int64   // exact integral contributions
	seen         uint32  // units given so far: PostgreSQL refuses repeats
	overflow     bool
}

// addInt adds x to usInt, noting overflow.
func (a *ivAcc) addInt(x int64) {
	s := a.usInt + x
	if (x > 0 && s < a.usInt) || (x < 0 && s > a.usInt) {
		a.overflow = true
	}
	a.usInt = s
}

// Unit bits for ivAcc.seen.
const (
	ivMicro = 1 << iota
	ivMilli
	ivSecond
	ivMinute
	ivHour
	ivDay
	ivWeek
	ivMonth
	ivYear
	ivDecade
	ivCentury
	ivMillennium
)

func (a *ivAcc) mark(bits uint32) bool {
	if a.seen&bits != 0 {
		return false
	}
	a.seen |= bits
	return true
}

func (a *ivAcc) addUS(v float64, mult int64) {
	if v == math.Trunc(v) && math.Abs(v)*float64(mult) < 9e18 {
		a.addInt(int64(v) * mult)
		return
	}
	a.us += v * float64(mult)
}

func (a *ivAcc) add(v float64, unit string) bool {
	var bit uint32
	switch unit {
	case "microsecond", "microseconds", "us", "usec", "usecs", "microsecon":
		bit = ivMicro
	case "millisecond", "milliseconds", "ms", "msec", "msecs", "millisecon":
		bit = ivMilli
	case "second", "seconds", "s", "sec", "secs":
		bit = ivSecond
		if v != math.Trunc(v) {
			bit |= ivMilli | ivMicro
		}
	case "minute", "minutes", "m", "min", "mins":
		bit = ivMinute
	case "hour", "hours", "h", "hr", "hrs":
		bit = ivHour
	case "day", "days", "d":
		bit = ivDay
	case "week", "weeks", "w":
		bit = ivWeek
	case "month", "months", "mon", "mons":
		bit = ivMonth
	case "year", "years", "y", "yr", "yrs":
		bit = ivYear
	case "decade", "decades", "dec", "decs":
		bit = ivDecade
	case "century", "centuries", "c", "cent":
		bit = ivCentury
	case "millennium", "millennia", "mil", "mils":
		bit = ivMillennium
	}
	if bit != 0 && !a.mark(bit) {
		return false
	}
	switch unit {
	case "microsecond", "microseconds", "us", "usec", "usecs", "microsecon":
		a.addUS(v, 1)
	case "millisecond", "milliseconds", "ms", "msec", "msecs", "millisecon":
		a.addUS(v, 1000)
	case "second", "seconds", "s", "sec", "secs":
		a.addUS(v, usPerSec)
	case "minute", "minutes", "m", "min", "mins":
		a.addUS(v, usPerMin)
	case "hour", "hours", "h", "hr", "hrs":
		a.addUS(v, usPerHour)
	case "day", "days", "d":
		a.spillDays(v)
	case "week", "weeks", "w":
		a.spillDays(v * 7)
	case "month", "months", "mon", "mons":
		a.spillMonths(v)
	case "year", "years", "y", "yr", "yrs":
		a.spillMonths(v * 12)
	case "decade", "decades", "dec", "decs":
		a.spillMonths(v * 120)
	case "century", "centuries", "c", "cent":
		a.spillMonths(v * 1200)
	case "millennium", "millennia", "mil", "mils":
		a.spillMonths(v * 12000)
	default:
		return false
	}
	return true
}

func (a *ivAcc) spillDays(v float64) {
	whole := math.Trunc(v)
	a.days += whole
	a.us += (v - whole) * float64(usPerDay)
}

func (a *ivAcc) spillMonths(v float64) {
	whole := math.Trunc(v)
	a.months += whole
	a.spillDays((v - whole) * 30)
}

// clock adds a [-]HH:MM[:SS[.f]] field.
func (a *ivAcc) clock(tok string) bool {
	neg := false
	if tok[0] == '-' || tok[0] == '+' {
		neg = tok[0] == '-'
		tok = tok[1:]
	}
	parts := strings.Split(tok, ":")
	if len(parts) > 3 || len(parts) < 2 {
		return false
	}
	var us uint64
	for i, p := range parts {
		if p == "" {
			return false
		}
		frac := ""
		if i == 2 {
			if k := strings.IndexByte(p, '.'); k >= 0 {
				p, frac = p[:k], p[k+1:]
			}
			if !allDigits(frac) || p == "" {
				return false
			}
		}
		if !allDigits(p) || len(p) > 10 {
			return false
		}
		v, _ := strconv.ParseUint(p, 10, 64)
		if i > 0 && v >= 60 || v > math.MaxInt64/uint64(usPerHour) {
			return false
		}
		us += v * [...]uint64{uint64(usPerHour), uint64(usPerMin), uint64(usPerSec)}[i]
		if frac != "" {
			fv, err := strconv.ParseFloat("0."+frac, 64)
			if err != nil {
				return false
			}
			us += uint64(math.RoundToEven(fv * 1e6))
		}
	}
	if us >= 1<<63 { // PostgreSQL refuses even -2562047788:00:54.775808, its own minimum
		return false
	}
	if !a.mark(ivHour | ivMinute | ivSecond) {
		return false
	}
	if neg {
		a.addInt(-int64(us))
	} else {
		a.addInt(int64(us))
	}
	return true
}

func (a *ivAcc) result() (interval, bool) {
	us := math.Round(a.us)
	if a.months > math.MaxInt32 || a.months < math.MinInt32 || a.days > math.MaxInt32 || a.days < math.MinInt32 ||
		math.Abs(us) >= 9e18 || a.overflow {
		return interval{}, false
	}
	a.addInt(int64(us))
	if a.overflow {
		return interval{}, false
	}
	return interval{int32(a.months), int32(a.days), a.usInt}, true
}

// parseISOInterval parses the part after "P" of an ISO 8601 duration.
func parseISOInterval(s string) (interval, bool) {
	var acc ivAcc
	inTime := false
	if s == "" {
		return interval{}, false
	}
	for s != "" {
		if s[0] == 't' {
			if inTime {
				return interval{}, false
			}
			inTime = true
			s = s[1:]
			continue
		}
		j := 0
		if s[0] == '-' || s[0] == '+' {
			j++
		}
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		if j == 0 || j >= len(s) {
			return interval{}, false
		}
		v, err := strconv.ParseFloat(s[:j], 64)
		if err != nil || math.IsInf(v, 0) {
			return interval{}, false
		}
		unit := s[j]
		s = s[j+1:]
		var ok bool
		switch {
		case !inTime && unit == 'y':
			ok = acc.add(v, "year")
		case !inTime && unit == 'm':
			ok = acc.add(v, "month")
		case !inTime && unit == 'w':
			ok = acc.add(v, "week")
		case !inTime && unit == 'd':
			ok = acc.add(v, "day")
		case inTime && unit == 'h':
			ok = acc.add(v, "hour")
		case inTime && unit == 'm':
			ok = acc.add(v, "minute")
		case inTime && unit == 's':
			ok = acc.add(v, "second")
		}
		if !ok {
			return interval{}, false
		}
	}
	return acc.result()
}
