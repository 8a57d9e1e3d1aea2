package reconcile

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/projections"
)

// normalize turns a value from either side (the engine's Go values, or
// pgx's for an external side) into one of: nil, int64, decimal.Decimal,
// float64, string, bool, time.Time (UTC) or []byte.
func normalize(v any) (any, error) {
	switch x := v.(type) {
	case pgtype.Numeric:
		if !x.Valid {
			return nil, nil
		}
		if x.NaN || x.InfinityModifier != pgtype.Finite {
			return nil, fmt.Errorf("reconcile: numeric %v cannot be compared", x)
		}
		return decimal.NewFromBigInt(x.Int, x.Exp), nil
	case pgtype.Date:
		if !x.Valid {
			return nil, nil
		}
		return x.Time.UTC(), nil
	case pgtype.Interval:
		if !x.Valid {
			return nil, nil
		}
		return fmt.Sprintf("%d months %d days %d us", x.Months, x.Days, x.Microseconds), nil
	case [16]byte: // uuid from pgx
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16]), nil
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	}
	return projections.Normalize(v)
}

// numeric returns v as an exact decimal when it is a number. Floats go
// through their shortest decimal representation, never binary equality.
func numeric(v any) (decimal.Decimal, bool) {
	switch x := v.(type) {
	case int64:
		return decimal.NewFromInt(x), true
	case decimal.Decimal:
		return x, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return decimal.Decimal{}, false
		}
		d, err := decimal.NewFromString(strconv.FormatFloat(x, 'f', -1, 64))
		return d, err == nil
	}
	return decimal.Decimal{}, false
}

// text is a value's canonical text: equal values of different Go types
// (int64 5 and decimal 5.00, a date as time.Time or as '2026-01-02')
// have equal text.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		x = x.UTC()
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format("2006-01-02")
		}
		return x.Format("2006-01-02T15:04:05.999999Z07:00")
	case []byte:
		return fmt.Sprintf("\\x%x", x)
	}
	if d, ok := numeric(v); ok {
		return d.String()
	}
	return fmt.Sprint(v)
}

// equal reports whether two normalized values are the same value.
func equal(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if da, ok := numeric(a); ok {
		if db, ok := numeric(b); ok {
			return da.Equal(db)
		}
	}
	return text(a) == text(b)
}

// jsonObject renders named values as a JSON object in column order, the
// form of an exception's key, left and right values.
func jsonObject(names []string, vals []any) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(n)
		b.Write(k)
		b.WriteString(": ")
		b.WriteString(jsonValue(vals[i]))
	}
	b.WriteByte('}')
	return b.String()
}

func jsonValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case decimal.Decimal:
		return x.String()
	case float64:
		if d, ok := numeric(x); ok {
			return d.String()
		}
	}
	s, _ := json.Marshal(text(v))
	return string(s)
}

// keyText is the map key of a row's match values.
func keyText(vals []any) string {
	var b strings.Builder
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(0)
		}
		if v == nil {
			b.WriteByte(1) // NULL never equals the text "NULL"
			continue
		}
		b.WriteString(text(v))
	}
	return b.String()
}
