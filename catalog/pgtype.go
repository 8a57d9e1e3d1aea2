package catalog

import (
	"fmt"
	"strconv"
	"strings"
)

// Type is a Postgres column type. Name is the canonical spelling (aliases
// such as int4, float8 or timestamp with time zone are normalized); Args are
// the type modifiers (varchar(n), char(n), numeric(p,s)).
type Type struct {
	Name string
	Args []int
	OID  uint32
}

// String returns the type as Postgres spells it, e.g. "numeric(12,2)".
func (t Type) String() string {
	if len(t.Args) == 0 {
		return t.Name
	}
	parts := make([]string, len(t.Args))
	for i, a := range t.Args {
		parts[i] = strconv.Itoa(a)
	}
	return t.Name + "(" + strings.Join(parts, ",") + ")"
}

// Typmod is the type's pg_attribute.atttypmod, as Postgres stores it:
// length + 4 for char(n) and varchar(n), ((precision << 16) | scale) + 4
// for numeric(p[,s]), and -1 for a type without modifiers. (Precisions of
// time types are not reported: timestamp(0)'s modifier is 0.)
func (t Type) Typmod() int32 {
	switch {
	case (t.Name == "char" || t.Name == "varchar") && len(t.Args) == 1:
		return int32(t.Args[0]) + 4
	case t.Name == "numeric" && len(t.Args) >= 1:
		scale := 0
		if len(t.Args) == 2 {
			scale = t.Args[1]
		}
		return int32(t.Args[0]<<16|scale) + 4
	}
	return -1
}

// Postgres type OIDs of the supported types.
var typeOIDs = map[string]uint32{
	"text": 25, "varchar": 1043, "char": 1042, "boolean": 16, "smallint": 21,
	"integer": 23, "bigint": 20, "numeric": 1700, "real": 700, "double precision": 701,
	"date": 1082, "time": 1083, "timestamp": 1114, "timestamptz": 1184, "interval": 1186,
	"uuid": 2950, "json": 114, "jsonb": 3802, "bytea": 17,
}

var typeAliases = map[string]string{
	"text": "text", "varchar": "varchar", "character varying": "varchar",
	"char": "char", "character": "char", "bpchar": "char",
	"boolean": "boolean", "bool": "boolean",
	"smallint": "smallint", "int2": "smallint",
	"integer": "integer", "int": "integer", "int4": "integer",
	"bigint": "bigint", "int8": "bigint",
	"numeric": "numeric", "decimal": "numeric",
	"real": "real", "float4": "real",
	"double precision": "double precision", "float8": "double precision", "float": "double precision",
	"date": "date",
	"time": "time", "time without time zone": "time",
	"timestamp": "timestamp", "timestamp without time zone": "timestamp",
	"timestamptz": "timestamptz", "timestamp with time zone": "timestamptz",
	"interval": "interval", "uuid": "uuid", "json": "json", "jsonb": "jsonb", "bytea": "bytea",
}

// SupportedTypes lists the accepted column type names (canonical spellings).
var SupportedTypes = []string{"text", "varchar(n)", "char(n)", "boolean", "smallint", "integer", "bigint",
	"numeric(p,s)", "real", "double precision", "date", "time", "timestamp", "timestamptz", "interval",
	"uuid", "json", "jsonb", "bytea"}

// ParseType parses a Postgres type name such as "bigint", "varchar(20)" or
// "numeric(12, 2)". Arrays, domains and other types are not supported.
func ParseType(s string) (Type, error) {
	t := strings.ToLower(strings.Join(strings.Fields(s), " "))
	if t == "" {
		return Type{}, fmt.Errorf("empty column type")
	}
	if strings.HasSuffix(t, "[]") {
		return Type{}, fmt.Errorf("array types are not supported (%q)", s)
	}
	base, argText := t, ""
	if i := strings.IndexByte(t, '('); i >= 0 {
		if !strings.HasSuffix(t, ")") {
			return Type{}, fmt.Errorf("unbalanced parentheses in type %q", s)
		}
		base, argText = strings.TrimSpace(t[:i]), t[i+1:len(t)-1]
	}
	name, ok := typeAliases[base]
	if !ok {
		return Type{}, fmt.Errorf("%q is not a supported Postgres type", s)
	}
	var args []int
	if argText != "" || strings.Contains(t, "(") {
		for _, a := range strings.Split(argText, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(a))
			if err != nil || n < 0 {
				return Type{}, fmt.Errorf("bad type modifier %q in %q", strings.TrimSpace(a), s)
			}
			args = append(args, n)
		}
	}
	switch name {
	case "varchar", "char":
		if len(args) > 1 {
			return Type{}, fmt.Errorf("%s takes one length, e.g. %s(20)", name, name)
		}
		if len(args) == 1 && (args[0] < 1 || args[0] > 10485760) {
			return Type{}, fmt.Errorf("%s length must be between 1 and 10485760", name)
		}
	case "numeric":
		if len(args) > 2 {
			return Type{}, fmt.Errorf("numeric takes precision and scale, e.g. numeric(12,2)")
		}
		if len(args) >= 1 && (args[0] < 1 || args[0] > 1000) {
			return Type{}, fmt.Errorf("numeric precision must be between 1 and 1000")
		}
		if len(args) == 2 && args[1] > args[0] {
			return Type{}, fmt.Errorf("numeric scale %d exceeds precision %d", args[1], args[0])
		}
	case "time", "timestamp", "timestamptz", "interval":
		if len(args) > 1 || (len(args) == 1 && args[0] > 6) {
			return Type{}, fmt.Errorf("%s precision must be 0..6", name)
		}
	default:
		if len(args) > 0 {
			return Type{}, fmt.Errorf("%s takes no modifiers", name)
		}
	}
	return Type{Name: name, Args: args, OID: typeOIDs[name]}, nil
}

// Category groups types whose values Postgres assigns to each other without
// an explicit cast (numbers, strings, dates and timestamps, json/jsonb).
func (t Type) Category() string {
	switch t.Name {
	case "smallint", "integer", "bigint", "numeric", "real", "double precision":
		return "number"
	case "text", "varchar", "char":
		return "string"
	case "date", "timestamp", "timestamptz":
		return "datetime"
	case "json", "jsonb":
		return "json"
	}
	return t.Name
}
