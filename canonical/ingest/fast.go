package ingest

import (
	"math"

	"github.com/dualgate/dualgate/catalog"
)

// conform is Conform, returning v itself (no new interface value, so no
// allocation) when it is already the store value of a column of type t:
// the common case on the ingest path, where raw values were conformed
// once and are conformed again as mapped entity values.
func conform(t catalog.Type, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		switch t.Name {
		case "bigint":
			return v, nil
		case "integer":
			if x >= math.MinInt32 && x <= math.MaxInt32 {
				return v, nil
			}
		case "smallint":
			if x >= math.MinInt16 && x <= math.MaxInt16 {
				return v, nil
			}
		}
	case string:
		switch t.Name {
		case "text":
			return v, nil
		case "varchar", "char":
			// A string of at most n bytes has at most n characters.
			if len(t.Args) == 0 || (len(t.Args) == 1 && len(x) <= t.Args[0]) {
				return v, nil
			}
		}
	case float64:
		if t.Name == "double precision" {
			return v, nil
		}
	case bool:
		if t.Name == "boolean" {
			return v, nil
		}
	}
	return Conform(t, v)
}
