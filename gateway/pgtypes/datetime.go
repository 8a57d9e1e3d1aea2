package pgtypes

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dualgate/dualgate/gateway/pgerror"
)

const (
	usPerSec  = int64(1000000)
	usPerMin  = 60 * usPerSec
	usPerHour = 60 * usPerMin
	usPerDay  = 24 * usPerHour

	// days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch
	pgEpochDays = 10957

	dateNegInf = math.MinInt32
	datePosInf = math.MaxInt32
	tsNegInf   = math.MinInt64
	tsPosInf   = math.MaxInt64

	// PostgreSQL's supported ranges: dates from 4714-11-24 BC (Julian day 0)
	// to 5874897-12-31; timestamps to 294276-12-31.
	minDate = -2451545                 // 4714-11-24 BC in days from 2000-01-01
	maxDate = 2147483494 - 2451545 - 1 // 5874897-12-31: DATE_END_JULIAN - POSTGRES_EPOCH_JDATE - 1
	minTS   = minDate * usPerDay       // 4714-11-24 00:00:00 BC
	maxTS   = int64(9223371331200000000) - 1
)

// daysFromCivil returns days since 1970-01-01 of a proleptic Gregorian date
// with astronomical year numbering (year 0 is 1 BC).
func daysFromCivil(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := int64((153*mp+2)/5 + d - 1)
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y int64, m, d int) {
	z += 719468
	era := z
	if era < 0 {
		era -= 146096
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return
}

func daysIn(y int64, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// pgDays returns days since 2000-01-01 of t's calendar date (in t's own
// location).
func pgDays(t time.Time) int64 {
	y, m, d := t.Date()
	return daysFromCivil(int64(y), int(m), d) - pgEpochDays
}

// wallMicros returns t's wall clock (in t's own location) as microseconds
// since 2000-01-01 00:00:00, rounding nanoseconds to microseconds.
func wallMicros(t time.Time) int64 {
	h, mi, s := t.Clock()
	return pgDays(t)*usPerDay + int64(h)*usPerHour + int64(mi)*usPerMin + int64(s)*usPerSec + int64((t.Nanosecond()+500)/1000)
}

// instantMicros returns t as microseconds since 2000-01-01 00:00:00 UTC.
func instantMicros(t time.Time) int64 {
	return wallMicros(t.UTC())
}

// microsToTime returns the UTC time.Time for microseconds since 2000-01-01.
func microsToTime(us int64) time.Time {
	days := floorDiv(us, usPerDay)
	rem := us - days*usPerDay
	y, m, d := civilFromDays(days + pgEpochDays)
	return time.Date(int(y), time.Month(m), d, 0, 0, 0, 0, time.UTC).Add(time.Duration(rem) * time.Microsecond)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func appendPad(dst []byte, v int64, width int) []byte {
	s := strconv.FormatInt(v, 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// appendYMD appends ISO "YYYY-MM-DD" with PostgreSQL's BC year numbering
// (the " BC" suffix is the caller's, it goes after the time zone).
func appendYMD(dst []byte, days int64) ([]byte, bool) {
	y, m, d := civilFromDays(days + pgEpochDays)
	bc := y <= 0
	if bc {
		y = 1 - y
	}
	dst = appendPad(dst, y, 4)
	dst = append(dst, '-')
	dst = appendPad(dst, int64(m), 2)
	dst = append(dst, '-')
	dst = appendPad(dst, int64(d), 2)
	return dst, bc
}

// appendSeconds appends "SS" and, if us != 0, ".ffffff" without trailing
// zeros, as PostgreSQL's AppendSeconds does.
func appendSeconds(dst []byte, sec int64, us int64) []byte {
	dst = appendPad(dst, sec, 2)
	if us != 0 {
		f := strconv.FormatInt(1000000+us, 10)[1:]
		dst = append(dst, '.')
		dst = append(dst, strings.TrimRight(f, "0")...)
	}
	return dst
}

// appendClock appends "HH:MM:SS[.ffffff]" for microseconds since midnight.
func appendClock(dst []byte, us int64) []byte {
	dst = appendPad(dst, us/usPerHour, 2)
	dst = append(dst, ':')
	dst = appendPad(dst, us/usPerMin%60, 2)
	dst = append(dst, ':')
	return appendSeconds(dst, us/usPerSec%60, us%usPerSec)
}

func appendDateText(dst []byte, days int64) []byte {
	switch days {
	case dateNegInf:
		return append(dst, "-infinity"...)
	case datePosInf:
		return append(dst, "infinity"...)
	}
	dst, bc := appendYMD(dst, days)
	if bc {
		dst = append(dst, " BC"...)
	}
	return dst
}

// appendTimestampText appends timestamp_out / timestamptz_out's ISO text.
// With loc nil the value is a wall clock; otherwise us is an instant shown
// in loc with its UTC offset.
func appendTimestampText(dst []byte, us int64, loc *time.Location) []byte {
	switch us {
	case tsNegInf:
		return append(dst, "-infinity"...)
	case tsPosInf:
		return append(dst, "infinity"...)
	}
	offset := 0
	if loc != nil {
		_, offset = microsToTime(us).In(loc).Zone()
		us += int64(offset) * usPerSec
	}
	days := floorDiv(us, usPerDay)
	dst, bc := appendYMD(dst, days)
	dst = append(dst, ' ')
	dst = appendClock(dst, us-days*usPerDay)
	if loc != nil {
		dst = appendTZ(dst, offset)
	}
	if bc {
		dst = append(dst, " BC"...)
	}
	return dst
}

// appendTZ appends a UTC offset as PostgreSQL's EncodeTimezone does for ISO
// style: +HH, +HH:MM or +HH:MM:SS.
func appendTZ(dst []byte, offset int) []byte {
	if offset < 0 {
		dst = append(dst, '-')
		offset = -offset
	} else {
		dst = append(dst, '+')
	}
	h, m, s := offset/3600, offset/60%60, offset%60
	dst = appendPad(dst, int64(h), 2)
	if m != 0 || s != 0 {
		dst = append(dst, ':')
		dst = appendPad(dst, int64(m), 2)
	}
	if s != 0 {
		dst = append(dst, ':')
		dst = appendPad(dst, int64(s), 2)
	}
	return dst
}

// dtFields is a parsed date/time input.
type dtFields struct {
	special  int // 0, +1 (infinity), -1 (-infinity)
	hasDate  bool
	year     int64 // astronomical (0 = 1 BC)
	mon, day int
	hasTime  bool
	us       int64 // microseconds since midnight (may be 24:00:00)
	hasZone  bool
	offset   int            // seconds east of UTC, if zoneLoc is nil
	zoneLoc  *time.Location // a named zone
	// why parsing failed when it did: "" (syntax), "range" (a field out
	// of range) or "zone" (badZone is not a known time zone)
	fail    string
	badZone string
}

type dtScanner struct {
	s string
	i int
}

func (p *dtScanner) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *dtScanner) digits() (string, bool) {
	st := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	return p.s[st:p.i], p.i > st
}

func (p *dtScanner) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func atoiSmall(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 10 {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// parseDateTime parses the ISO and MDY forms of PostgreSQL date/time input:
// [date][ |T][time][zone][ BC|AD], date being YYYY-MM-DD, YYYYMMDD or
// MM/DD/YYYY, time HH:MM[:SS[.f]], zone Z, UTC, GMT, +HH[:MM[:SS]], +HHMM
// or an IANA name; and the special words infinity, -infinity, epoch and
// allballs. Range checks are the caller's.
func parseDateTime(s string) (dtFields, bool) {
	var f dtFields
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "infinity", "+infinity":
		f.special = 1
		return f, true
	case "-infinity":
		f.special = -1
		return f, true
	case "epoch":
		f.hasDate, f.year, f.mon, f.day, f.hasTime = true, 1970, 1, 1, true
		f.hasZone = true
		return f, true
	case "allballs":
		f.hasTime, f.hasZone = true, true
		return f, true
	}
	p := &dtScanner{s: t}
	p.skipSpace()
	st := p.i
	if d1, ok := p.digits(); ok {
		switch p.peek() {
		case '-':
			p.i++
			d2, ok2 := p.digits()
			if !ok2 || p.peek() != '-' {
				return f, false
			}
			p.i++
			d3, ok3 := p.digits()
			if !ok3 {
				return f, false
			}
			if !f.setDate(d1, d2, d3) {
				return f, false
			}
		case '/':
			p.i++
			d2, ok2 := p.digits()
			if !ok2 || p.peek() != '/' {
				return f, false
			}
			p.i++
			d3, ok3 := p.digits()
			if !ok3 || len(d3) < 4 && len(d3) != 2 {
				return f, false
			}
			if len(d3) == 2 { // two-digit years: 70-99 -> 19xx, else 20xx
				y, _ := atoiSmall(d3)
				if y >= 70 {
					d3 = strconv.FormatInt(1900+y, 10)
				} else {
					d3 = strconv.FormatInt(2000+y, 10)
				}
			}
			if !f.setDate(d3, d1, d2) {
				return f, false
			}
		case ':':
			p.i = st
		default:
			if len(d1) != 8 {
				return f, false
			}
			if !f.setDate(d1[:4], d1[4:6], d1[6:]) {
				return f, false
			}
		}
	}
	if f.hasDate {
		if c := p.peek(); c == 't' || c == 'T' {
			p.i++
		} else {
			p.skipSpace()
		}
	}
	// time
	if c := p.peek(); c >= '0' && c <= '9' {
		h, _ := p.digits()
		if p.peek() != ':' {
			return f, false
		}
		p.i++
		mi, ok := p.digits()
		if !ok {
			return f, false
		}
		sec, frac := "0", ""
		if p.peek() == ':' {
			p.i++
			if sec, ok = p.digits(); !ok {
				return f, false
			}
			if p.peek() == '.' {
				p.i++
				frac, _ = p.digits()
			}
		}
		hv, ok1 := atoiSmall(h)
		mv, ok2 := atoiSmall(mi)
		sv, ok3 := atoiSmall(sec)
		if !ok1 || !ok2 || !ok3 {
			return f, false
		}
		if hv > 24 || mv > 59 || sv > 60 {
			f.fail = "range"
			return f, false
		}
		us := int64(0)
		if frac != "" {
			fv, err := strconv.ParseFloat("0."+frac, 64)
			if err != nil {
				return f, false
			}
			us = int64(math.RoundToEven(fv * 1e6))
		}
		p.skipSpace()
		if rest := strings.ToLower(p.s[p.i:]); strings.HasPrefix(rest, "am") || strings.HasPrefix(rest, "pm") {
			if len(rest) == 2 || rest[2] == ' ' {
				if hv > 12 || hv == 0 {
					return f, false
				}
				if hv == 12 {
					hv = 0
				}
				if rest[0] == 'p' {
					hv += 12
				}
				p.i += 2
			}
		}
		f.hasTime = true
		f.us = hv*usPerHour + mv*usPerMin + sv*usPerSec + us
		if f.us > usPerDay {
			f.fail = "range"
			return f, false
		}
	}
	p.skipSpace()
	// zone
	switch c := p.peek(); {
	case c == '+' || c == '-':
		p.i++
		sign := 1
		if c == '-' {
			sign = -1
		}
		d, ok := p.digits()
		if !ok {
			return f, false
		}
		var hh, mm, ss int64
		switch {
		case p.peek() == ':':
			hh, _ = atoiSmall(d)
			p.i++
			m, ok := p.digits()
			if !ok {
				return f, false
			}
			mm, _ = atoiSmall(m)
			if p.peek() == ':' {
				p.i++
				s2, ok := p.digits()
				if !ok {
					return f, false
				}
				ss, _ = atoiSmall(s2)
			}
		case len(d) <= 2:
			hh, _ = atoiSmall(d)
		case len(d) == 4:
			hh, _ = atoiSmall(d[:2])
			mm, _ = atoiSmall(d[2:])
		case len(d) == 6:
			hh, _ = atoiSmall(d[:2])
			mm, _ = atoiSmall(d[2:4])
			ss, _ = atoiSmall(d[4:])
		default:
			return f, false
		}
		if hh > 15 || mm > 59 || ss > 59 {
			return f, false
		}
		f.hasZone = true
		f.offset = sign * int(hh*3600+mm*60+ss)
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		st := p.i
		for p.i < len(p.s) && p.s[p.i] != ' ' {
			p.i++
		}
		word := p.s[st:p.i]
		switch strings.ToLower(word) {
		case "z", "utc", "gmt", "zulu", "ut":
			f.hasZone = true
		case "bc", "ad":
			p.i = st
		default:
			if !strings.ContainsRune(word, '/') || strings.Contains(word, "..") {
				return f, false
			}
			loc, err := loadZone(word)
			if err != nil {
				f.fail, f.badZone = "zone", word
				return f, false
			}
			f.hasZone, f.zoneLoc = true, loc
		}
	}
	p.skipSpace()
	switch rest := strings.ToLower(p.s[p.i:]); rest {
	case "":
	case "bc":
		if !f.hasDate {
			return f, false
		}
		f.year = 1 - f.year
	case "ad":
	default:
		return f, false
	}
	if !f.hasDate && !f.hasTime {
		return f, false
	}
	return f, true
}

// zones caches the IANA zones named in input (only names that load, so
// hostile input cannot grow it).
var zones sync.Map

func loadZone(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, l)
	return l, nil
}

func (f *dtFields) setDate(y, m, d string) bool {
	yv, ok1 := atoiSmall(y)
	mv, ok2 := atoiSmall(m)
	dv, ok3 := atoiSmall(d)
	// Feb 29 is checked by validDay once a BC suffix has been seen
	if !ok1 || !ok2 || !ok3 {
		return false
	}
	if yv == 0 || mv < 1 || mv > 12 || dv < 1 || dv > int64(daysIn(4, int(mv))) {
		f.fail = "range"
		return false
	}
	f.hasDate, f.year, f.mon, f.day = true, yv, int(mv), int(dv)
	return true
}

// err returns the error for input s of type oid that parseDateTime
// refused, or that has a day past the end of its month.
func (f dtFields) err(oid uint32, s string) *pgerror.Error {
	switch f.fail {
	case "range":
		return pgerror.New(datetimeFieldOverflow, "date/time field value out of range: \"%s\"", clip(s))
	case "zone":
		return pgerror.New(pgerror.InvalidParameterValue, "time zone \"%s\" not recognized", clip(strings.ToLower(f.badZone)))
	}
	return errSyntax(oid, s)
}

// days returns the parsed date as days since 2000-01-01.
func (f dtFields) days() int64 {
	return daysFromCivil(f.year, f.mon, f.day) - pgEpochDays
}

// validDay rejects Feb 29 of a year that is not a leap year (with BC
// years numbered astronomically).
func (f dtFields) validDay() bool {
	return f.day <= daysIn(f.year, f.mon)
}
