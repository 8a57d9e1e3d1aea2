package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CheckConstant reports whether text is valid Postgres input for a value
// of type t, as the catalog's column defaults must be. It checks what the
// catalog can check on its own (number syntax and ranges, numeric
// precision, boolean spellings, lengths, date/time and JSON syntax); the
// canonical store converts the value itself when it applies the default.
func CheckConstant(t Type, text string) error {
	s := strings.TrimSpace(text)
	switch t.Name {
	case "smallint", "integer", "bigint":
		bits := map[string]int{"smallint": 16, "integer": 32, "bigint": 64}[t.Name]
		if _, err := strconv.ParseInt(s, 10, bits); err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return fmt.Errorf("out of range for type %s", t.Name)
			}
			return fmt.Errorf("not an integer")
		}
	case "numeric":
		m := numericText.FindStringSubmatch(s)
		if m == nil || m[1]+m[2] == "" {
			return fmt.Errorf("not a number")
		}
		if len(t.Args) > 0 {
			scale := 0
			if len(t.Args) > 1 {
				scale = t.Args[1]
			}
			if digits := len(strings.TrimLeft(m[1], "0")); digits > t.Args[0]-scale {
				return fmt.Errorf("numeric field overflow: %s allows %d digits before the decimal point", t, t.Args[0]-scale)
			}
		}
	case "real", "double precision":
		switch strings.ToLower(s) {
		case "nan", "infinity", "-infinity", "+infinity", "inf", "-inf":
			return nil
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return fmt.Errorf("not a number")
		}
	case "boolean":
		switch strings.ToLower(s) {
		case "t", "true", "y", "yes", "on", "1", "f", "false", "n", "no", "off", "0":
		default:
			return fmt.Errorf("not a boolean (true/false, yes/no, on/off, 1/0)")
		}
	case "varchar", "char":
		if len(t.Args) > 0 && utf8.RuneCountInString(text) > t.Args[0] {
			return fmt.Errorf("value too long for type %s", t)
		}
	case "date":
		if _, err := time.Parse("2006-01-02", s); err != nil {
			return fmt.Errorf("not a date (YYYY-MM-DD)")
		}
	case "time":
		if !parsesAs(s, "15:04", "15:04:05", "15:04:05.999999") {
			return fmt.Errorf("not a time of day (HH:MM[:SS[.ffffff]])")
		}
	case "timestamp", "timestamptz":
		if !parsesAs(s, "2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05.999999", "2006-01-02T15:04:05.999999",
			"2006-01-02 15:04:05.999999Z07", "2006-01-02 15:04:05.999999Z07:00", "2006-01-02T15:04:05.999999Z07:00") {
			return fmt.Errorf("not a timestamp (YYYY-MM-DD[ HH:MM:SS[.ffffff]][±HH[:MM]])")
		}
	case "uuid":
		if !uuidText.MatchString(s) {
			return fmt.Errorf("not a uuid")
		}
	case "json", "jsonb":
		if !json.Valid([]byte(text)) {
			return fmt.Errorf("not valid JSON")
		}
	case "interval":
		return fmt.Errorf("interval defaults are not supported")
	}
	return nil
}

var (
	numericText = regexp.MustCompile(`^[+-]?([0-9]*)(?:\.([0-9]*))?$`)
	uuidText    = regexp.MustCompile(`^\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$`)
)

func parsesAs(s string, layouts ...string) bool {
	for _, l := range layouts {
		if _, err := time.Parse(l, s); err == nil {
			return true
		}
	}
	return false
}
