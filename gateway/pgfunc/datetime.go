package pgfunc

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/gateway/pgtypes"
)

// arrayElem renders one element of a Postgres array literal: NULL for
// NULL, and strings double-quoted when array_out would quote them.
func arrayElem(ctx *sql.Context, v any) string {
	if v == nil {
		return "NULL"
	}
	var s string
	switch x := v.(type) {
	case time.Time:
		s = formatTimestamp(x)
	case decimal.Decimal:
		s = x.String()
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		s = strconv.FormatFloat(float64(x), 'g', -1, 32)
	default:
		s = toString(ctx, v)
	}
	needQuote := s == "" || strings.EqualFold(s, "NULL")
	for _, r := range s {
		switch r {
		case '{', '}', ',', '"', '\\', ' ', '\t', '\n', '\r', '\v', '\f':
			needQuote = true
		}
	}
	if !needQuote {
		return s
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	return `"` + s + `"`
}

func formatTimestamp(t time.Time) string {
	if t.Nanosecond() == 0 {
		if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
			return t.Format("2006-01-02 15:04:05")
		}
		return t.Format("2006-01-02 15:04:05")
	}
	return strings.TrimRight(t.Format("2006-01-02 15:04:05.000000"), "0")
}

func toTime(ctx *sql.Context, v any) (time.Time, error) {
	t, _, err := types.DatetimeMaxPrecision.Convert(ctx, v)
	if err != nil {
		return time.Time{}, err
	}
	tt, ok := t.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("invalid input syntax for type timestamp: %v", v)
	}
	return tt, nil
}

func evalDateTrunc(ctx *sql.Context, v []any, _ []sql.Expression) (any, error) {
	field := strings.ToLower(toString(ctx, v[0]))
	t, err := toTime(ctx, v[1])
	if err != nil {
		return nil, err
	}
	y, mo, d := t.Date()
	loc := t.Location()
	switch field {
	case "microseconds", "microsecond":
		return t.Truncate(time.Microsecond), nil
	case "milliseconds", "millisecond":
		return t.Truncate(time.Millisecond), nil
	case "second", "seconds":
		return t.Truncate(time.Second), nil
	case "minute", "minutes":
		return time.Date(y, mo, d, t.Hour(), t.Minute(), 0, 0, loc), nil
	case "hour", "hours":
		return time.Date(y, mo, d, t.Hour(), 0, 0, 0, loc), nil
	case "day", "days":
		return time.Date(y, mo, d, 0, 0, 0, 0, loc), nil
	case "week", "weeks":
		wd := (int(t.Weekday()) + 6) % 7 // Monday = 0
		return time.Date(y, mo, d-wd, 0, 0, 0, 0, loc), nil
	case "month", "months":
		return time.Date(y, mo, 1, 0, 0, 0, 0, loc), nil
	case "quarter":
		return time.Date(y, ((mo-1)/3)*3+1, 1, 0, 0, 0, 0, loc), nil
	case "year", "years":
		return time.Date(y, 1, 1, 0, 0, 0, 0, loc), nil
	case "decade":
		return time.Date(y-y%10, 1, 1, 0, 0, 0, 0, loc), nil
	case "century":
		return time.Date((y-1)/100*100+1, 1, 1, 0, 0, 0, 0, loc), nil
	case "millennium":
		return time.Date((y-1)/1000*1000+1, 1, 1, 0, 0, 0, 0, loc), nil
	}
	return nil, fmt.Errorf("unit %q not recognized for type timestamp", field)
}

func evalDatePart(ctx *sql.Context, v []any, _ []sql.Expression) (any, error) {
	field := strings.ToLower(toString(ctx, v[0]))
	t, err := toTime(ctx, v[1])
	if err != nil {
		return nil, err
	}
	sec := float64(t.Second()) + float64(t.Nanosecond())/1e9
	y := t.Year()
	switch field {
	case "epoch":
		return float64(t.Unix()) + float64(t.Nanosecond())/1e9, nil
	case "year", "years":
		return float64(y), nil
	case "month", "months":
		return float64(t.Month()), nil
	case "day", "days":
		return float64(t.Day()), nil
	case "hour", "hours":
		return float64(t.Hour()), nil
	case "minute", "minutes":
		return float64(t.Minute()), nil
	case "second", "seconds":
		return sec, nil
	case "milliseconds", "millisecond":
		return math.Round(sec*1e6) / 1e3, nil
	case "microseconds", "microsecond":
		return math.Round(sec * 1e6), nil
	case "dow":
		return float64(t.Weekday()), nil
	case "isodow":
		wd := int(t.Weekday())
		if wd == 0 {
			wd = 7
		}
		return float64(wd), nil
	case "doy":
		return float64(t.YearDay()), nil
	case "week":
		_, w := t.ISOWeek()
		return float64(w), nil
	case "isoyear":
		iy, _ := t.ISOWeek()
		return float64(iy), nil
	case "quarter":
		return float64((int(t.Month())-1)/3 + 1), nil
	case "decade":
		return math.Floor(float64(y) / 10), nil
	case "century":
		if y > 0 {
			return float64((y + 99) / 100), nil
		}
		return float64(-((99 - (y - 1)) / 100)), nil
	case "millennium":
		if y > 0 {
			return float64((y + 999) / 1000), nil
		}
		return float64(-((999 - (y - 1)) / 1000)), nil
	case "timezone", "timezone_hour", "timezone_minute":
		return float64(0), nil
	}
	return nil, fmt.Errorf("unit %q not recognized for type timestamp", field)
}

var monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
var dayNames = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

func evalToChar(ctx *sql.Context, v []any, _ []sql.Expression) (any, error) {
	format := toString(ctx, v[1])
	switch x := v[0].(type) {
	case time.Time:
		return toCharTime(x, format), nil
	case string:
		t, err := toTime(ctx, x)
		if err != nil {
			return nil, err
		}
		return toCharTime(t, format), nil
	}
	d, _, err := types.InternalDecimalType.Convert(ctx, v[0])
	if err != nil {
		return nil, err
	}
	return toCharNumber(d.(decimal.Decimal), format), nil
}

// casing applies the capitalisation of a pattern (MONTH, Month, month).
func casing(pat, s string) string {
	switch {
	case pat == strings.ToUpper(pat):
		return strings.ToUpper(s)
	case pat == strings.ToLower(pat):
		return strings.ToLower(s)
	}
	return s
}

// toCharTime implements the common to_char date/time patterns.
func toCharTime(t time.Time, f string) string {
	var b strings.Builder
	fm := false
	num := func(n, width int) {
		if fm {
			b.WriteString(strconv.Itoa(n))
		} else {
			b.WriteString(fmt.Sprintf("%0*d", width, n))
		}
		fm = false
	}
	word := func(pat, s string, pad int) {
		s = casing(pat, s)
		if !fm && len(s) < pad {
			s += strings.Repeat(" ", pad-len(s))
		}
		b.WriteString(s)
		fm = false
	}
	hasPrefix := func(p string) bool { return strings.HasPrefix(strings.ToUpper(f), p) }
	for len(f) > 0 {
		switch {
		case hasPrefix("FM"):
			fm = true
			f = f[2:]
			continue
		case f[0] == '"':
			end := strings.IndexByte(f[1:], '"')
			if end < 0 {
				b.WriteString(f[1:])
				f = ""
			} else {
				b.WriteString(f[1 : end+1])
				f = f[end+2:]
			}
			continue
		case hasPrefix("YYYY"):
			num(t.Year(), 4)
			f = f[4:]
		case hasPrefix("YY"):
			num(t.Year()%100, 2)
			f = f[2:]
		case hasPrefix("HH24"):
			num(t.Hour(), 2)
			f = f[4:]
		case hasPrefix("HH12"):
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			num(h, 2)
			f = f[4:]
		case hasPrefix("HH"):
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			num(h, 2)
			f = f[2:]
		case hasPrefix("MI"):
			num(t.Minute(), 2)
			f = f[2:]
		case hasPrefix("SS"):
			num(t.Second(), 2)
			f = f[2:]
		case hasPrefix("MS"):
			num(t.Nanosecond()/1e6, 3)
			f = f[2:]
		case hasPrefix("US"):
			num(t.Nanosecond()/1e3, 6)
			f = f[2:]
		case hasPrefix("AM") || hasPrefix("PM"):
			s := "AM"
			if t.Hour() >= 12 {
				s = "PM"
			}
			word(f[:2], s, 0)
			f = f[2:]
		case hasPrefix("MONTH"):
			word(f[:5], monthNames[t.Month()-1], 9)
			f = f[5:]
		case hasPrefix("MON"):
			word(f[:3], monthNames[t.Month()-1][:3], 0)
			f = f[3:]
		case hasPrefix("MM"):
			num(int(t.Month()), 2)
			f = f[2:]
		case hasPrefix("DAY"):
			word(f[:3], dayNames[t.Weekday()], 9)
			f = f[3:]
		case hasPrefix("DY"):
			word(f[:2], dayNames[t.Weekday()][:3], 0)
			f = f[2:]
		case hasPrefix("DDD"):
			num(t.YearDay(), 3)
			f = f[3:]
		case hasPrefix("DD"):
			num(t.Day(), 2)
			f = f[2:]
		case hasPrefix("D"):
			num(int(t.Weekday())+1, 1)
			f = f[1:]
		case hasPrefix("IW"):
			_, w := t.ISOWeek()
			num(w, 2)
			f = f[2:]
		case hasPrefix("Q"):
			num((int(t.Month())-1)/3+1, 1)
			f = f[1:]
		case hasPrefix("TZ"):
			word(f[:2], "UTC", 0)
			f = f[2:]
		default:
			b.WriteByte(f[0])
			f = f[1:]
		}
	}
	return b.String()
}

// toCharNumber implements the digit patterns 9, 0, '.', 'D', ',', 'G',
// and the FM prefix. Overflow prints '#' like Postgres.
func toCharNumber(d decimal.Decimal, f string) string {
	fm := false
	if strings.HasPrefix(strings.ToUpper(f), "FM") {
		fm = true
		f = f[2:]
	}
	intPat, fracPat := f, ""
	if i := strings.IndexAny(f, ".Dd"); i >= 0 {
		intPat, fracPat = f[:i], f[i+1:]
	}
	fracDigits := strings.Count(fracPat, "9") + strings.Count(fracPat, "0")
	neg := d.IsNegative()
	d = d.Abs().Round(int32(fracDigits))
	s := d.StringFixed(int32(fracDigits))
	ip, fp := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		ip, fp = s[:i], s[i+1:]
	}
	if ip == "0" && fracDigits > 0 {
		ip = "" // Postgres prints 0.5 with '9.99' as " .50"
	}
	slots := strings.Count(intPat, "9") + strings.Count(intPat, "0")
	if len(ip) > slots {
		return strings.Repeat("#", len(f)+1)
	}
	// Fill integer pattern from the right.
	var out []byte
	di := len(ip) - 1
	firstZero := strings.IndexByte(intPat, '0')
	for pi := len(intPat) - 1; pi >= 0; pi-- {
		c := intPat[pi]
		switch c {
		case '9', '0':
			if di >= 0 {
				out = append(out, ip[di])
				di--
			} else if c == '0' || (firstZero >= 0 && pi > firstZero) {
				out = append(out, '0')
			} else {
				out = append(out, ' ')
			}
		case ',', 'G', 'g':
			if di >= 0 {
				out = append(out, ',')
			} else {
				out = append(out, ' ')
			}
		default:
			out = append(out, c)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	res := string(out)
	if fracPat != "" || strings.ContainsAny(f, ".Dd") {
		res += "." + fp
	}
	sign := " "
	if neg {
		sign = "-"
	}
	// The sign goes right before the first digit.
	trimmed := strings.TrimLeft(res, " ")
	pad := len(res) - len(trimmed)
	res = strings.Repeat(" ", pad) + sign + trimmed
	if fm {
		res = strings.TrimSpace(res)
		if strings.Contains(res, ".") && strings.Count(fracPat, "0") == 0 {
			res = strings.TrimRight(res, "0")
			res = strings.TrimSuffix(res, ".")
			if res == "" || res == "-" {
				res += "0"
			}
		}
	}
	return res
}

// ErrInvalidDatetime is returned for text that is no Postgres timestamp
// (SQLSTATE 22007).
var ErrInvalidDatetime = fmt.Errorf("invalid input syntax for type timestamp")

var tsLayouts = []string{
	"2006-01-02 15:04:05.999999999Z07:00:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999 Z07:00",
	"2006-01-02 15:04:05.999999999 Z07",
	"2006-01-02 15:04:05.999999999 MST",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04Z07:00",
	"2006-01-02 15:04Z07",
	"2006-01-02 15:04",
	"2006-01-02Z07:00",
	"2006-01-02",
}

// parsePGTimestamp reads the ISO forms Postgres accepts ('T' or space,
// optional fraction, optional Z/+hh/+hh:mm offset). hasZone reports
// whether an offset was given.
func parsePGTimestamp(s string) (t time.Time, hasZone bool, err error) {
	s = strings.TrimSpace(s)
	s = strings.Replace(s, "T", " ", 1)
	if strings.HasSuffix(s, "z") {
		s = s[:len(s)-1] + "Z"
	}
	for _, l := range tsLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, strings.Contains(l, "Z07") || strings.Contains(l, "MST"), nil
		}
	}
	return time.Time{}, false, fmt.Errorf("%w: %q", ErrInvalidDatetime, s)
}

func timestampEval(tz bool) func(*sql.Context, []any, []sql.Expression) (any, error) {
	return func(ctx *sql.Context, v []any, args []sql.Expression) (any, error) {
		t, err := timestampValue(ctx, v[0], tz)
		if err != nil || len(v) < 2 {
			return t, err
		}
		p, _, err := types.Int64.Convert(ctx, v[1])
		if err != nil {
			return nil, err
		}
		if prec := p.(int64); prec >= 0 && prec < 6 {
			// Postgres rounds to the declared precision.
			unit := time.Duration(math.Pow10(9 - int(prec)))
			t = t.Round(unit)
		}
		return t, nil
	}
}

func timestampValue(ctx *sql.Context, v any, tz bool) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case string, []byte:
		t, hasZone, err := parsePGTimestamp(toString(ctx, x))
		if err != nil {
			return time.Time{}, err
		}
		if hasZone {
			if tz {
				t = t.UTC()
			}
			// timestamp (without zone) drops the offset and keeps the
			// wall-clock reading; timestamptz is stored in UTC.
			y, mo, d := t.Date()
			h, mi, s := t.Clock()
			t = time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
		} else if tz {
			// timestamptz input without an offset is in the session's
			// TimeZone (Postgres), not UTC.
			if loc := sessionLocation(ctx); loc != time.UTC {
				t = pgtypes.InstantAt(t, loc)
			}
		}
		return t, nil
	}
	return toTime(ctx, v)
}

// TimeZoneVar is the engine user variable holding the session's TimeZone
// setting, which the gateway keeps up to date.
const TimeZoneVar = "dualgate_timezone"

// sessionLocation is the session's TimeZone (UTC if unset or unknown).
func sessionLocation(ctx *sql.Context) *time.Location {
	_, v, err := ctx.GetUserVariable(ctx, TimeZoneVar)
	if err != nil || v == nil {
		return time.UTC
	}
	name := fmt.Sprint(v)
	if loc, err := time.LoadLocation(name); err == nil {
		return loc
	}
	if h, err := strconv.ParseFloat(name, 64); err == nil {
		return time.FixedZone(name, int(h*3600))
	}
	return time.UTC
}

// zoneLocation resolves a time zone as AT TIME ZONE and date_trunc's zone
// argument read it: an IANA name (Europe/Paris), UTC/GMT/Z, or a POSIX
// offset such as '+05' or '-03:30', which Postgres reads as hours WEST of
// Greenwich (so '+05' is UTC-5), unlike ISO 8601.
func zoneLocation(name string) (*time.Location, error) {
	n := strings.TrimSpace(name)
	switch strings.ToLower(n) {
	case "utc", "etc/utc", "gmt", "z", "zulu", "universal":
		return time.UTC, nil
	}
	if m := posixOffset.FindStringSubmatch(n); m != nil {
		h, _ := strconv.Atoi(m[2])
		mi := 0
		if m[3] != "" {
			mi, _ = strconv.Atoi(m[3])
		}
		secs := h*3600 + mi*60
		if m[1] != "-" {
			secs = -secs // POSIX: positive is west
		}
		return time.FixedZone(n, secs), nil
	}
	loc, err := time.LoadLocation(n)
	if err != nil || n == "" || strings.EqualFold(n, "local") {
		return nil, fmt.Errorf("time zone %q not recognized", name)
	}
	return loc, nil
}

var posixOffset = regexp.MustCompile(`^([+-]?)(\d{1,2})(?::(\d{2}))?$`)

// zoneEval makes pg_at_zone (conv = atZone) and pg_from_zone (conv =
// pgtypes.InstantAt: the instant whose wall clock in loc is t, DST gaps and
// overlaps resolved as Postgres does): v[0] read as a time, converted in
// the zone given as v[1] (else the session TimeZone); in UTC both are the
// identity.
func zoneEval(conv func(t time.Time, loc *time.Location) time.Time) func(*sql.Context, []any, []sql.Expression) (any, error) {
	return func(ctx *sql.Context, v []any, _ []sql.Expression) (any, error) {
		t, err := toTime(ctx, v[0])
		if err != nil {
			return nil, err
		}
		loc := sessionLocation(ctx)
		if len(v) > 1 {
			if loc, err = zoneLocation(toString(ctx, v[1])); err != nil {
				return nil, err
			}
		}
		if loc == time.UTC {
			return t, nil
		}
		return conv(t, loc), nil
	}
}

// atZone is timestamptz AT TIME ZONE zone: the wall-clock reading of the
// instant t (held as UTC) in loc, as a timestamp (no zone). The dialect
// also wraps timestamptz arguments of date_trunc, date_part and to_char in
// it (session zone), since Postgres computes those in the session TimeZone.
func atZone(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	y, mo, d := l.Date()
	h, mi, s := l.Clock()
	return time.Date(y, mo, d, h, mi, s, l.Nanosecond(), time.UTC)
}
