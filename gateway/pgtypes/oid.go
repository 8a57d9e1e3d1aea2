package pgtypes

import (
	"fmt"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/sqltypes"
)

// Postgres type OIDs (pg_type.oid) of the types dualgate puts on the wire.
const (
	Bool        uint32 = 16
	Bytea       uint32 = 17
	Char        uint32 = 18 // "char": the one-byte internal type
	NameOID     uint32 = 19 // the "name" type (Name is the typname function)
	Int8        uint32 = 20
	Int2        uint32 = 21
	Int4        uint32 = 23
	Text        uint32 = 25
	OID         uint32 = 26
	XID         uint32 = 28 // transaction ids of catalog columns (xmin, relfrozenxid)
	JSON        uint32 = 114
	Float4      uint32 = 700
	Float8      uint32 = 701
	Unknown     uint32 = 705
	Bpchar      uint32 = 1042
	Varchar     uint32 = 1043
	Date        uint32 = 1082
	Time        uint32 = 1083
	Timestamp   uint32 = 1114
	Timestamptz uint32 = 1184
	Interval    uint32 = 1186
	Numeric     uint32 = 1700
	UUID        uint32 = 2950
	JSONB       uint32 = 3802

	BoolArray    uint32 = 1000
	Int2Array    uint32 = 1005
	Int4Array    uint32 = 1007
	TextArray    uint32 = 1009
	VarcharArray uint32 = 1015
	Int8Array    uint32 = 1016
	Float4Array  uint32 = 1021
	Float8Array  uint32 = 1022
	OIDArray     uint32 = 1028
	NumericArray uint32 = 1231
)

type typeInfo struct {
	name   string // pg_type.typname
	size   int16  // pg_type.typlen
	format string // format_type without typmod
	elem   uint32 // element type of an array type, 0 otherwise
}

var typeTable = map[uint32]typeInfo{
	Bool:        {"bool", 1, "boolean", 0},
	Bytea:       {"bytea", -1, "bytea", 0},
	Char:        {"char", 1, `"char"`, 0},
	NameOID:     {"name", 64, "name", 0},
	Int8:        {"int8", 8, "bigint", 0},
	Int2:        {"int2", 2, "smallint", 0},
	Int4:        {"int4", 4, "integer", 0},
	Text:        {"text", -1, "text", 0},
	OID:         {"oid", 4, "oid", 0},
	XID:         {"xid", 4, "xid", 0},
	JSON:        {"json", -1, "json", 0},
	Float4:      {"float4", 4, "real", 0},
	Float8:      {"float8", 8, "double precision", 0},
	Unknown:     {"unknown", -2, "unknown", 0},
	Bpchar:      {"bpchar", -1, "character", 0},
	Varchar:     {"varchar", -1, "character varying", 0},
	Date:        {"date", 4, "date", 0},
	Time:        {"time", 8, "time without time zone", 0},
	Timestamp:   {"timestamp", 8, "timestamp without time zone", 0},
	Timestamptz: {"timestamptz", 8, "timestamp with time zone", 0},
	Interval:    {"interval", 16, "interval", 0},
	Numeric:     {"numeric", -1, "numeric", 0},
	UUID:        {"uuid", 16, "uuid", 0},
	JSONB:       {"jsonb", -1, "jsonb", 0},

	BoolArray:    {"_bool", -1, "boolean[]", Bool},
	Int2Array:    {"_int2", -1, "smallint[]", Int2},
	Int4Array:    {"_int4", -1, "integer[]", Int4},
	TextArray:    {"_text", -1, "text[]", Text},
	VarcharArray: {"_varchar", -1, "character varying[]", Varchar},
	Int8Array:    {"_int8", -1, "bigint[]", Int8},
	Float4Array:  {"_float4", -1, "real[]", Float4},
	Float8Array:  {"_float8", -1, "double precision[]", Float8},
	OIDArray:     {"_oid", -1, "oid[]", OID},
	NumericArray: {"_numeric", -1, "numeric[]", Numeric},
}

var arrayOf = map[uint32]uint32{}

func init() {
	for oid, ti := range typeTable {
		if ti.elem != 0 {
			arrayOf[ti.elem] = oid
		}
	}
}

// Known reports whether oid is one of the types this package encodes.
func Known(oid uint32) bool {
	_, ok := typeTable[oid]
	return ok
}

// Size returns pg_type.typlen for oid: the fixed size in bytes, -1 for
// variable-length (varlena) types, -2 for unknown (a C string), and -1 for
// OIDs this package does not know.
func Size(oid uint32) int16 {
	if ti, ok := typeTable[oid]; ok {
		return ti.size
	}
	return -1
}

// Name returns pg_type.typname for oid ("int4", "_text", ...), or "" if the
// OID is not known.
func Name(oid uint32) string {
	return typeTable[oid].name
}

// ElemOID returns the element type of an array type, or 0 if oid is not an
// array type this package knows.
func ElemOID(oid uint32) uint32 {
	return typeTable[oid].elem
}

// ArrayOID returns the array type whose elements are of type elem, or 0.
func ArrayOID(elem uint32) uint32 {
	return arrayOf[elem]
}

// ByName returns the OID for a pg_type typname ("int4", "_text") or a
// format_type spelling without modifier ("integer", "text[]").
func ByName(name string) (uint32, bool) {
	for oid, ti := range typeTable {
		if ti.name == name || ti.format == name {
			return oid, true
		}
	}
	return 0, false
}

// FormatType returns what PostgreSQL's format_type(oid, typmod) prints for a
// known type: "integer", "character varying(20)", "numeric(10,2)",
// "timestamp(3) with time zone", "integer[]". typmod -1 means no modifier
// (and, as in PostgreSQL, bpchar without a modifier prints "bpchar").
// Unknown OIDs print "???" as PostgreSQL does.
func FormatType(oid uint32, typmod int32) string {
	ti, ok := typeTable[oid]
	if !ok {
		return "???"
	}
	if ti.elem != 0 {
		return FormatType(ti.elem, typmod) + "[]"
	}
	if typmod < 0 {
		if oid == Bpchar {
			return "bpchar"
		}
		return ti.format
	}
	switch oid {
	case Bpchar, Varchar:
		if typmod > 4 {
			return fmt.Sprintf("%s(%d)", ti.format, typmod-4)
		}
		return ti.format
	case Bool, Int2, Int4, Int8, Float4, Float8:
		return ti.format // spelled by format_type itself, modifier ignored
	case Numeric:
		if typmod < 4 {
			return ti.format
		}
		m := typmod - 4
		// scale is an 11-bit signed field since PostgreSQL 15
		scale := ((m & 0x7ff) ^ 1024) - 1024
		return fmt.Sprintf("numeric(%d,%d)", (m>>16)&0xffff, scale)
	case Time:
		return fmt.Sprintf("time(%d) without time zone", typmod)
	case Timestamp:
		return fmt.Sprintf("timestamp(%d) without time zone", typmod)
	case Timestamptz:
		return fmt.Sprintf("timestamp(%d) with time zone", typmod)
	case Interval:
		return "interval" + intervalTypmodOut(typmod)
	}
	// types without a typmodout function print the raw modifier, as
	// PostgreSQL's printTypmod does
	return fmt.Sprintf("%s(%d)", ti.format, typmod)
}

// Interval typmod field bits, as in PostgreSQL's datetime.h.
const (
	imMonth   = 1 << 1
	imYear    = 1 << 2
	imDay     = 1 << 3
	imHour    = 1 << 10
	imMinute  = 1 << 11
	imSecond  = 1 << 12
	imFull    = 0x7FFF
	imFullPrc = 0xFFFF
)

func intervalTypmodOut(typmod int32) string {
	fields := (typmod >> 16) & 0x7FFF
	prec := typmod & 0xFFFF
	var f string
	switch fields {
	case imYear:
		f = " year"
	case imMonth:
		f = " month"
	case imDay:
		f = " day"
	case imHour:
		f = " hour"
	case imMinute:
		f = " minute"
	case imSecond:
		f = " second"
	case imYear | imMonth:
		f = " year to month"
	case imDay | imHour:
		f = " day to hour"
	case imDay | imHour | imMinute:
		f = " day to minute"
	case imDay | imHour | imMinute | imSecond:
		f = " day to second"
	case imHour | imMinute:
		f = " hour to minute"
	case imHour | imMinute | imSecond:
		f = " hour to second"
	case imMinute | imSecond:
		f = " minute to second"
	}
	if prec != imFullPrc {
		return fmt.Sprintf("%s(%d)", f, prec)
	}
	return f
}

// FromEngine returns the default Postgres type OID for a GMS column type.
//
// GMS has no boolean type (BOOLEAN is TINYINT), so TINYINT maps to int2;
// result columns known to be booleans must be typed Bool by the caller
// (Encode turns int8 0/1 into f/t). Unsigned types map to the next wider
// signed type (BIGINT UNSIGNED to numeric). GMS JSON maps to jsonb: GMS keeps
// a parsed document, not the input text, which is jsonb's semantics
// (duplicate keys collapse, whitespace is not kept), and jsonb is what
// dualgate's catalog columns declare. YEAR maps to int2, ENUM and SET to
// text, BIT to int8, the NULL type and geometry to text.
func FromEngine(t sql.Type) uint32 {
	if t == nil {
		return Text
	}
	switch t.Type() {
	case sqltypes.Int8, sqltypes.Uint8, sqltypes.Int16, sqltypes.Year:
		return Int2
	case sqltypes.Uint16, sqltypes.Int24, sqltypes.Uint24, sqltypes.Int32:
		return Int4
	case sqltypes.Uint32, sqltypes.Int64, sqltypes.Bit:
		return Int8
	case sqltypes.Uint64, sqltypes.Decimal:
		return Numeric
	case sqltypes.Float32:
		return Float4
	case sqltypes.Float64:
		return Float8
	case sqltypes.Char:
		return Bpchar
	case sqltypes.VarChar:
		return Varchar
	case sqltypes.Text:
		return Text
	case sqltypes.Binary, sqltypes.VarBinary, sqltypes.Blob:
		return Bytea
	case sqltypes.Date:
		return Date
	case sqltypes.Datetime, sqltypes.Timestamp:
		return Timestamp
	case sqltypes.Time:
		return Time
	case sqltypes.TypeJSON:
		return JSONB
	default:
		return Text
	}
}

// UnconstrainedNumeric reports whether t is one of the engine's stand-ins
// for PostgreSQL's unconstrained numeric (no precision or scale), which
// GMS cannot express: DECIMAL(65,30), what the dialect makes of a plain
// `numeric` (CREATE TABLE, ::numeric), and DECIMAL(65,20), what the
// canonical store, the serving projections and the system tables give a
// catalog column typed plain `numeric`. Both are reported as PostgreSQL
// reports `numeric`: typmod -1, format_type "numeric",
// information_schema numeric_precision and numeric_scale NULL. (A column
// declared numeric(65,30) or numeric(65,20) in CREATE TABLE keeps its
// declared typmod in the catalogs, which record it; the catalog YAML has
// no such record, so there those two spellings read as plain numeric.)
func UnconstrainedNumeric(t sql.Type) bool {
	dt, ok := t.(sql.DecimalType)
	return ok && dt.Precision() == 65 && (dt.Scale() == 30 || dt.Scale() == 20)
}

// TypmodFromEngine returns the pg_attribute.atttypmod matching a GMS column
// type for the OID FromEngine picks: character length + 4 for
// char/varchar, ((precision << 16) | scale) + 4 for numeric (-1 for the
// UnconstrainedNumeric stand-ins), the fractional seconds precision for
// datetime types when it is below 6, and -1 otherwise.
func TypmodFromEngine(t sql.Type) int32 {
	if t == nil {
		return -1
	}
	switch t.Type() {
	case sqltypes.Char, sqltypes.VarChar:
		if st, ok := t.(sql.StringType); ok {
			return int32(st.Length()) + 4
		}
	case sqltypes.Decimal:
		if UnconstrainedNumeric(t) {
			return -1
		}
		if dt, ok := t.(sql.DecimalType); ok {
			return (int32(dt.Precision())<<16 | int32(dt.Scale())) + 4
		}
	case sqltypes.Datetime, sqltypes.Timestamp:
		if dt, ok := t.(sql.DatetimeType); ok && dt.Precision() < 6 {
			return int32(dt.Precision())
		}
	}
	return -1
}

// FromEngineValue turns a GMS row value into the value Encode expects for
// the OID FromEngine gives t: GMS keeps ENUM values as their uint16 index
// and SET values as a uint64 bitmask; those become their strings. Other
// values are returned unchanged.
func FromEngineValue(t sql.Type, v any) any {
	switch tt := t.(type) {
	case sql.EnumType:
		var idx int
		switch x := v.(type) {
		case uint16:
			idx = int(x)
		case int:
			idx = x
		case int64:
			idx = int(x)
		case uint64:
			idx = int(x)
		default:
			return v
		}
		if s, ok := tt.At(idx); ok {
			return s
		}
	case sql.SetType:
		if bits, ok := v.(uint64); ok {
			if s, err := tt.BitsToString(bits); err == nil {
				return s
			}
		}
	}
	return v
}
