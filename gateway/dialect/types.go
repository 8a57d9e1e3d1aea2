package dialect

import (
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Postgres type OIDs used by the translator.
const (
	oidBool        = 16
	oidBytea       = 17
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidXID         = 28
	oidOid         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidBpchar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidInterval    = 1186
	oidTimetz      = 1266
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

// canonicalType maps Postgres type names and their SQL-standard spellings
// (as written or as pg_query reports them) to the internal name.
var canonicalType = map[string]string{
	"bool": "bool", "boolean": "bool",
	"bytea": "bytea",
	"name":  "name",
	"int8":  "int8", "bigint": "int8", "bigserial": "int8", "serial8": "int8",
	"int2": "int2", "smallint": "int2", "smallserial": "int2", "serial2": "int2",
	"int4": "int4", "int": "int4", "integer": "int4", "serial": "int4", "serial4": "int4",
	"text":   "text",
	"oid":    "oid",
	"json":   "json",
	"float4": "float4", "real": "float4",
	"float8": "float8", "double precision": "float8", "float": "float8",
	"bpchar": "bpchar", "char": "bpchar", "character": "bpchar",
	"varchar": "varchar", "character varying": "varchar",
	"date": "date",
	"time": "time", "time without time zone": "time",
	"timetz": "timetz", "time with time zone": "timetz",
	"timestamp": "timestamp", "timestamp without time zone": "timestamp",
	"timestamptz": "timestamptz", "timestamp with time zone": "timestamptz",
	"interval": "interval",
	"numeric":  "numeric", "decimal": "numeric",
	"uuid":  "uuid",
	"jsonb": "jsonb",
}

var typeOIDs = map[string]uint32{
	"bool": oidBool, "bytea": oidBytea, "name": oidName, "int8": oidInt8, "int2": oidInt2,
	"int4": oidInt4, "text": oidText, "oid": oidOid, "json": oidJSON, "float4": oidFloat4,
	"float8": oidFloat8, "bpchar": oidBpchar, "varchar": oidVarchar, "date": oidDate,
	"time": oidTime, "timetz": oidTimetz, "timestamp": oidTimestamp, "timestamptz": oidTimestamptz,
	"interval": oidInterval, "numeric": oidNumeric, "uuid": oidUUID, "jsonb": oidJSONB,
}

var arrayOIDs = map[string]uint32{
	"bool": 1000, "bytea": 1001, "name": 1003, "int2": 1005, "int4": 1007, "text": 1009,
	"bpchar": 1014, "varchar": 1015, "int8": 1016, "float4": 1021, "float8": 1022,
	"oid": 1028, "timestamp": 1115, "date": 1182, "time": 1183, "timestamptz": 1185,
	"interval": 1187, "numeric": 1231, "uuid": 2951, "json": 199, "jsonb": 3807,
}

// arrayOf returns the array type OID whose element type is elem (1009,
// text[], when elem is unknown).
func arrayOf(elem uint32) uint32 {
	for name, oid := range typeOIDs {
		if oid == elem {
			if a, ok := arrayOIDs[name]; ok {
				return a
			}
		}
	}
	return 1009
}

// TypeOID maps a Postgres type name to its OID and type modifier. It accepts
// the names pg_query reports ("int4", "pg_catalog.int4", "bpchar"), the SQL
// spellings ("integer", "character varying", "timestamp with time zone"),
// serial pseudo-types (as their integer type), typmods ("varchar(20)",
// "numeric(10,2)", "timestamptz(3)") and array suffixes ("int4[]", "_int4").
// The typmod follows Postgres's encoding (varchar(n) -> n+4,
// numeric(p,s) -> (p<<16|s)+4, timestamp(p) -> p) and is -1 when absent.
func TypeOID(name string) (oid uint32, typmod int32, ok bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "pg_catalog.")
	n = strings.TrimPrefix(n, `"pg_catalog".`)
	n = strings.Trim(n, `"`)
	array := false
	if strings.HasSuffix(n, "[]") {
		array = true
		n = strings.TrimSpace(strings.TrimSuffix(n, "[]"))
	} else if strings.HasPrefix(n, "_") {
		array = true
		n = n[1:]
	}
	var mods []int32
	if i := strings.IndexByte(n, '('); i >= 0 {
		j := strings.IndexByte(n, ')')
		if j < i {
			return 0, 0, false
		}
		for _, m := range strings.Split(n[i+1:j], ",") {
			v, err := strconv.Atoi(strings.TrimSpace(m))
			if err != nil {
				return 0, 0, false
			}
			mods = append(mods, int32(v))
		}
		// "timestamp(3) with time zone": the modifier sits in the middle.
		n = strings.TrimSpace(n[:i] + n[j+1:])
	}
	n = strings.Join(strings.Fields(n), " ")
	canon, found := canonicalType[n]
	if !found {
		return 0, 0, false
	}
	typmod = encodeTypmod(canon, mods)
	if array {
		return arrayOIDs[canon], typmod, arrayOIDs[canon] != 0
	}
	return typeOIDs[canon], typmod, true
}

func encodeTypmod(canon string, mods []int32) int32 {
	if len(mods) == 0 {
		return -1
	}
	switch canon {
	case "varchar", "bpchar":
		return mods[0] + 4
	case "numeric":
		s := int32(0)
		if len(mods) > 1 {
			s = mods[1]
		}
		return (mods[0]<<16 | s) + 4
	case "timestamp", "timestamptz", "time", "timetz", "interval":
		return mods[0]
	}
	return -1
}

// pgType is a resolved Postgres TypeName.
type pgType struct {
	canon string  // canonical name, "" when unknown
	name  string  // last name component as written (for messages)
	mods  []int64 // integer typmods
	array bool
	oid   uint32
}

func typeNameOf(tn *pg.TypeName) pgType {
	var parts []string
	for _, n := range tn.Names {
		if s := n.GetString_(); s != nil {
			parts = append(parts, s.Sval)
		}
	}
	t := pgType{array: len(tn.ArrayBounds) > 0}
	if len(parts) == 0 {
		return t
	}
	t.name = parts[len(parts)-1]
	if len(parts) == 1 || (len(parts) == 2 && parts[0] == "pg_catalog") {
		t.canon = canonicalType[t.name]
	}
	for _, m := range tn.Typmods {
		if c := m.GetAConst(); c != nil {
			if iv := c.GetIval(); iv != nil {
				t.mods = append(t.mods, int64(iv.Ival))
				continue
			}
		}
		t.mods = append(t.mods, -1)
	}
	if t.canon != "" {
		if t.array {
			t.oid = arrayOIDs[t.canon]
		} else {
			t.oid = typeOIDs[t.canon]
		}
	}
	return t
}

func (t pgType) typmod() int32 {
	mods := make([]int32, 0, len(t.mods))
	for _, m := range t.mods {
		mods = append(mods, int32(m))
	}
	if t.canon == "interval" {
		return -1 // interval typmods encode fields; not needed here
	}
	return encodeTypmod(t.canon, mods)
}

func (t pgType) display() string {
	s := t.name
	if t.array {
		s += "[]"
	}
	return s
}
