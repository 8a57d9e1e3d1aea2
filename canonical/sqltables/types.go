package sqltables

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

// KindOf is the store value kind that holds values of a catalog (Postgres)
// column type: integers are int64, numeric is decimal, real and double
// precision are float64, date/timestamp/timestamptz are time, json/jsonb are
// json, bytea is bytes, and text-like types (text, varchar, char, uuid, time,
// interval) are strings.
func KindOf(t catalog.Type) canonical.Kind {
	switch t.Name {
	case "smallint", "integer", "bigint":
		return canonical.KindInt64
	case "numeric":
		return canonical.KindDecimal
	case "real", "double precision":
		return canonical.KindFloat64
	case "boolean":
		return canonical.KindBool
	case "date", "timestamp", "timestamptz":
		return canonical.KindTime
	case "json", "jsonb":
		return canonical.KindJSON
	case "bytea":
		return canonical.KindBytes
	}
	return canonical.KindString
}

// EntitySchema is the store table schema of a catalog entity: the store table
// is named like the entity, columns in catalog order with KindOf kinds, the
// key columns NOT NULL and every other column nullable, the entity key as
// primary key, no secondary indexes (the catalog declares none). Whoever
// creates the store tables (a schema commit) should use it so the engine
// tables and the store agree.
func EntitySchema(e *catalog.Entity) canonical.TableSchema {
	ts := canonical.TableSchema{Name: e.Name, PrimaryKey: append([]string(nil), e.Key...)}
	key := map[string]bool{}
	for _, k := range e.Key {
		key[k] = true
	}
	for _, c := range e.Columns {
		ts.Columns = append(ts.Columns, canonical.Column{Name: c.Name, Kind: KindOf(c.Type), Nullable: !key[c.Name]})
	}
	return ts
}

// EngineType is the engine (GMS) type of a catalog (Postgres) column type.
// Text-like types (text, varchar, char, uuid, time, interval) are LongText.
func EngineType(t catalog.Type) sql.Type {
	switch t.Name {
	case "smallint":
		return types.Int16
	case "integer":
		return types.Int32
	case "bigint":
		return types.Int64
	case "numeric":
		p, s := 65, 20
		if len(t.Args) >= 1 {
			p, s = t.Args[0], 0
			if len(t.Args) == 2 {
				s = t.Args[1]
			}
		}
		if p > 65 {
			p = 65
		}
		if s > 30 {
			s = 30
		}
		if s > p {
			s = p
		}
		return types.MustCreateDecimalType(uint8(p), uint8(s))
	case "real":
		return types.Float32
	case "double precision":
		return types.Float64
	case "boolean":
		return types.Boolean
	case "date":
		return types.Date
	case "timestamp", "timestamptz":
		return types.DatetimeMaxPrecision
	case "json", "jsonb":
		return types.JSON
	case "bytea":
		return types.LongBlob
	}
	return types.LongText
}

// kindType is the engine type of a store column without a catalog column.
func kindType(k canonical.Kind) sql.Type {
	switch k {
	case canonical.KindInt64:
		return types.Int64
	case canonical.KindFloat64:
		return types.Float64
	case canonical.KindDecimal:
		return types.MustCreateDecimalType(65, 20)
	case canonical.KindBytes:
		return types.LongBlob
	case canonical.KindBool:
		return types.Boolean
	case canonical.KindTime:
		return types.DatetimeMaxPrecision
	case canonical.KindJSON:
		return types.JSON
	}
	return types.LongText
}

// Engine types of the system columns.
var (
	tInt64 = types.Int64
	tText  = types.LongText
	tTime  = types.DatetimeMaxPrecision
	tJSON  = types.JSON
)

// toEngine converts a store value (see canonical.Kind) to the Go value the
// engine type typ holds.
func toEngine(typ sql.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case int64:
		switch typ {
		case types.Int16:
			return int16(x), nil
		case types.Int32:
			return int32(x), nil
		case types.Boolean:
			return int8(x), nil
		}
		if types.IsDecimal(typ) {
			return decimal.NewFromInt(x), nil
		}
		return x, nil
	case float64:
		if typ == types.Float32 {
			return float32(x), nil
		}
		return x, nil
	case bool:
		if x {
			return int8(1), nil
		}
		return int8(0), nil
	case string:
		if types.IsJSON(typ) {
			doc, _, err := types.JSON.Convert(nil, x)
			if err != nil {
				// Free text stored in a json column reads as a JSON string.
				return types.JSONDocument{Val: x}, nil
			}
			return doc, nil
		}
		return x, nil
	case decimal.Decimal:
		if dt, ok := typ.(sql.DecimalType); ok {
			return x.Round(int32(dt.Scale())), nil
		}
		return x, nil
	case time.Time, []byte:
		return x, nil
	}
	return nil, fmt.Errorf("sqltables: unexpected store value %T", v)
}

// toStore converts an engine value to the store representation of kind k.
func toStore(k canonical.Kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if w, ok := v.(sql.JSONWrapper); ok {
		b, err := types.MarshallJson(w)
		if err != nil {
			return nil, err
		}
		v = string(b)
	}
	switch k {
	case canonical.KindBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int8:
			return x != 0, nil
		case int64:
			return x != 0, nil
		case int:
			return x != 0, nil
		}
	case canonical.KindInt64:
		if d, ok := v.(decimal.Decimal); ok {
			if !d.Equal(d.Truncate(0)) {
				return nil, fmt.Errorf("%w: %s is not an integer", canonical.ErrBadValue, d)
			}
			return d.IntPart(), nil
		}
	case canonical.KindDecimal:
		switch x := v.(type) {
		case int8:
			return decimal.NewFromInt(int64(x)), nil
		case int16:
			return decimal.NewFromInt(int64(x)), nil
		case int32:
			return decimal.NewFromInt(int64(x)), nil
		case float32:
			return decimal.NewFromFloat32(x), nil
		}
	case canonical.KindString:
		switch x := v.(type) {
		case fmt.Stringer:
			return x.String(), nil
		case time.Time:
			return x.Format(time.RFC3339Nano), nil
		}
	case canonical.KindJSON:
		switch v.(type) {
		case string, []byte, json.RawMessage:
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			v = string(b)
		}
	}
	return canonical.Normalize(k, v)
}

// fitScale rounds a decimal to the scale of a DECIMAL type (as Postgres
// stores numeric(p,s)); other values are returned as they are.
func fitScale(typ sql.Type, v any) any {
	if d, ok := v.(decimal.Decimal); ok {
		if dt, ok := typ.(sql.DecimalType); ok {
			return d.Round(int32(dt.Scale()))
		}
	}
	return v
}
