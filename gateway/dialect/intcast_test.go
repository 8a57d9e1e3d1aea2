package dialect

import (
	"strings"
	"testing"
)

// TestIntLiteralCasts: string constants cast to integer types are read as
// Postgres reads them (the engine would turn 'x' into 0).
func TestIntLiteralCasts(t *testing.T) {
	for q, code := range map[string]string{
		`SELECT 'x'::int`:                     "22P02",
		`SELECT '1.5'::integer`:               "22P02",
		`SELECT ''::bigint`:                   "22P02",
		`SELECT '40000'::smallint`:            "22003",
		`SELECT '9999999999'::int4`:           "22003",
		`SELECT '99999999999999999999'::int8`: "22003",
		`SELECT ' 12 '::int, '-7'::int2, '9000000000'::int8, '4294967295'::oid`: "",
	} {
		_, err := Parse(q)
		switch {
		case code == "" && err != nil:
			t.Errorf("%s: %v", q, err)
		case code != "" && (err == nil || !strings.Contains(err.Error(), code)):
			t.Errorf("%s: %v, want %s", q, err, code)
		}
	}
}
