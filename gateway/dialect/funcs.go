package dialect

import (
	"regexp"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// plainName matches function names that can be printed unquoted.
var plainName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// renamed lists Postgres functions whose engine counterpart has another
// name (same arguments, same semantics).
var renamed = map[string]string{
	"length":                "CHAR_LENGTH", // MySQL LENGTH counts bytes
	"char_length":           "CHAR_LENGTH",
	"character_length":      "CHAR_LENGTH",
	"octet_length":          "LENGTH",
	"substr":                "SUBSTRING",
	"substring":             "SUBSTRING",
	"ln":                    "LN",
	"random":                "RAND",
	"ceiling":               "CEIL",
	"now":                   "", // special-cased below
	"version":               "pg_version",
	"pg_backend_pid":        "pg_backend_pid",
	"date_trunc":            "date_trunc",
	"date_part":             "date_part",
	"to_char":               "to_char",
	"current_database":      "pg_current_catalog",
	"current_schema":        "DATABASE",
	"transaction_timestamp": "",
	"statement_timestamp":   "",
	"format":                "pg_format",  // pgcatalog (the engine's FORMAT formats numbers)
	"split_part":            "split_part", // pgfunc
	"initcap":               "initcap",    // pgfunc
	"gen_random_uuid":       "UUID",
	"uuid_generate_v4":      "UUID",
	"json_build_object":     "JSON_OBJECT",
	"jsonb_build_object":    "JSON_OBJECT",
	"json_build_array":      "JSON_ARRAY",
	"jsonb_build_array":     "JSON_ARRAY",
}

// funcCall prints a function call, aggregate or window function.
func (p *printer) funcCall(f *pg.FuncCall) string {
	if s, ok := p.srfColumn(f); ok {
		return s
	}
	names := p.names(f.Funcname)
	if len(names) == 2 && names[0] == "pg_catalog" {
		names = names[1:]
	}
	if len(names) != 1 {
		p.unsupported(f.Location, "schema-qualified function %s", strings.Join(names, "."))
	}
	name := strings.ToLower(names[0])
	if !plainName.MatchString(name) {
		p.unsupported(f.Location, "function name %q", names[0])
	}
	if f.AggWithinGroup {
		p.unsupported(f.Location, "WITHIN GROUP")
	}
	if f.FuncVariadic {
		p.unsupported(f.Location, "VARIADIC arguments")
	}
	call := p.funcBody(f, name)
	if f.Over != nil {
		call += " OVER " + p.windowSpec(f.Over)
	}
	return call
}

// filtered applies an aggregate FILTER (WHERE ...) to one argument:
// agg(x) FILTER (WHERE c) == agg(CASE WHEN c THEN x END) for aggregates
// that ignore NULLs.
func (p *printer) filtered(f *pg.FuncCall, arg string) string {
	if f.AggFilter == nil {
		return arg
	}
	return "CASE WHEN " + p.expr(f.AggFilter) + " THEN " + arg + " END"
}

func (p *printer) funcBody(f *pg.FuncCall, name string) string {
	args := f.Args
	nargs := len(args)
	distinct := ""
	if f.AggDistinct {
		distinct = "DISTINCT "
	}
	simpleAgg := func(fn string) string {
		if len(f.AggOrder) > 0 {
			p.unsupported(f.Location, "ORDER BY inside %s()", name)
		}
		if nargs != 1 {
			p.unsupported(f.Location, "%s() with %d arguments", name, nargs)
		}
		return fn + "(" + distinct + p.filtered(f, p.expr(args[0])) + ")"
	}
	switch name {
	case "count":
		if f.AggStar {
			if f.AggFilter != nil {
				return "COUNT(" + p.filtered(f, "1") + ")"
			}
			return "COUNT(*)"
		}
		return simpleAgg("COUNT")
	case "sum", "avg", "min", "max", "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop":
		return simpleAgg(strings.ToUpper(name))
	case "bool_and", "every":
		return "(" + simpleAgg("MIN") + " <> 0)"
	case "bool_or":
		return "(" + simpleAgg("MAX") + " <> 0)"
	case "string_agg":
		if nargs != 2 {
			p.unsupported(f.Location, "string_agg with %d arguments", nargs)
		}
		sep := args[1].GetAConst()
		if sep == nil || sep.GetSval() == nil {
			p.unsupported(f.Location, "string_agg with a non-constant separator")
		}
		return "GROUP_CONCAT(" + distinct + p.filtered(f, p.expr(args[0])) + p.aggOrder(f) + " SEPARATOR " + strLit(sep.GetSval().Sval) + ")"
	case "array_agg":
		if nargs != 1 {
			p.unsupported(f.Location, "array_agg with %d arguments", nargs)
		}
		// Postgres array text: {1,2,NULL}. pg_array_elem quotes an element
		// as array_out does (and renders NULL as NULL); an empty group
		// gives NULL, as in Postgres.
		elem := "pg_array_elem(" + p.expr(args[0]) + ")"
		if f.AggFilter != nil {
			elem = p.filtered(f, elem)
		}
		return "CONCAT('{', GROUP_CONCAT(" + distinct + elem + p.aggOrder(f) + " SEPARATOR ','), '}')"
	}
	if f.AggStar || f.AggDistinct || len(f.AggOrder) > 0 || f.AggFilter != nil {
		p.unsupported(f.Location, "aggregate options on %s()", name)
	}
	for _, arg := range args {
		if cr := arg.GetColumnRef(); cr != nil && len(cr.Fields) == 2 && isStar(arg) {
			q, _ := strVal(cr.Fields[0])
			p.unsupported(cr.Location, "whole-row reference %s.* as an argument of %s() (list its columns instead)", q, name)
		}
	}
	a := p.exprs(args)
	join := func() string { return strings.Join(a, ", ") }
	switch name {
	case "now", "transaction_timestamp", "statement_timestamp":
		if nargs == 0 {
			return "NOW(6)"
		}
	case "clock_timestamp":
		if nargs == 0 {
			return "SYSDATE(6)"
		}
	case "concat":
		// Postgres's concat skips NULLs; MySQL's CONCAT returns NULL.
		return "CONCAT_WS(''" + prefixComma(a) + ")"
	case "log":
		if nargs == 1 {
			return "LOG10(" + a[0] + ")" // log(x) is base 10 in Postgres
		}
	case "trunc":
		if nargs == 1 {
			return "TRUNCATE(" + a[0] + ", 0)"
		}
		if nargs == 2 {
			return "TRUNCATE(" + join() + ")"
		}
	case "strpos":
		if nargs == 2 {
			return "LOCATE(" + a[1] + ", " + a[0] + ")"
		}
	case "position":
		// POSITION(a IN b) arrives as position(b, a).
		if nargs == 2 {
			return "LOCATE(" + a[1] + ", " + a[0] + ")"
		}
	case "substring", "substr":
		if nargs == 2 {
			if c := args[1].GetAConst(); c != nil && c.GetSval() != nil {
				p.unsupported(f.Location, "substring with a regular expression")
			}
		}
		if nargs == 3 && strings.EqualFold(f.Funcformat.String(), "COERCE_SQL_SYNTAX") {
			if c := args[2].GetAConst(); c != nil && c.GetSval() != nil {
				p.unsupported(f.Location, "substring ... SIMILAR")
			}
		}
	case "btrim", "ltrim", "rtrim":
		// trim(BOTH|LEADING|TRAILING [chars] FROM s) arrives as these.
		// One argument: spaces, as in MySQL. Two: Postgres removes any
		// character of the set, MySQL's TRIM removes the whole string, so
		// pgfunc provides set semantics.
		if nargs == 1 {
			switch name {
			case "btrim":
				return "TRIM(" + a[0] + ")"
			case "ltrim":
				return "LTRIM(" + a[0] + ")"
			default:
				return "RTRIM(" + a[0] + ")"
			}
		}
		return "pg_" + name + "(" + join() + ")"
	case "extract", "date_part":
		// EXTRACT(field FROM x) arrives as extract('field', x). Fields of a
		// timestamptz are read in the session TimeZone (but the epoch is
		// the instant's).
		if nargs == 2 && p.isTimestamptz(args[1]) {
			if c := args[0].GetAConst(); c != nil && c.GetSval() != nil && !strings.EqualFold(c.GetSval().Sval, "epoch") {
				return "date_part(" + a[0] + ", pg_at_zone(" + a[1] + "))"
			}
		}
		return "date_part(" + join() + ")"
	case "date_trunc":
		// A timestamptz is truncated in the session TimeZone (or the
		// zone given as a third argument): local midnight, not UTC's.
		if (nargs == 2 || nargs == 3) && p.isTimestamptz(args[1]) {
			zone := ""
			if nargs == 3 {
				zone = ", " + a[2]
			}
			return "pg_from_zone(date_trunc(" + a[0] + ", pg_at_zone(" + a[1] + zone + "))" + zone + ")"
		}
		if nargs == 3 {
			p.unsupported(f.Location, "date_trunc with a time zone over a value that is not known to be a timestamptz (cast it: x::timestamptz)")
		}
	case "to_char":
		if nargs == 2 && p.isTimestamptz(args[0]) {
			return "to_char(pg_at_zone(" + a[0] + "), " + a[1] + ")"
		}
	case "div":
		if nargs == 2 {
			return "(" + a[0] + " DIV " + a[1] + ")"
		}
	case "generate_series":
		p.unsupported(f.Location, "generate_series outside FROM")
	case "unnest", "generate_subscripts":
		p.unsupported(f.Location, "%s here (it is supported in FROM and in a plain select list)", name)
	case "timezone":
		// x AT TIME ZONE z arrives as timezone(z, x): a timestamptz becomes
		// the wall clock in z (a timestamp), a timestamp the instant whose
		// wall clock in z it is (a timestamptz). The engine keeps both as
		// the same DATETIME, so the direction comes from x's type.
		if nargs == 2 {
			switch p.typeOf(args[1]) {
			case oidTimestamptz:
				return "pg_at_zone(" + a[1] + ", " + a[0] + ")"
			case oidTimestamp:
				return "pg_from_zone(" + a[1] + ", " + a[0] + ")"
			}
			if c := args[0].GetAConst(); c != nil && c.GetSval() != nil {
				switch strings.ToLower(c.GetSval().Sval) {
				case "utc", "etc/utc", "gmt", "z", "zulu", "+00", "+00:00", "00:00", "universal":
					// timestamptz values are held in UTC: either way the
					// identity.
					return a[1]
				}
			}
		}
		p.unsupported(f.Location, "AT TIME ZONE over a value not known to be a timestamp or timestamptz (cast it: x::timestamptz AT TIME ZONE …)")
	case "regexp_replace":
		// Postgres replaces the first match unless the flags say 'g';
		// MySQL's 3-argument form replaces all of them.
		if nargs == 3 {
			return "REGEXP_REPLACE(" + join() + ", 1, 1, 'c')"
		}
		if nargs == 4 {
			c := args[3].GetAConst()
			if c == nil || c.GetSval() == nil || strings.Trim(c.GetSval().Sval, "gi") != "" {
				p.unsupported(f.Location, "regexp_replace flags other than constant g/i")
			}
			flags := c.GetSval().Sval
			occ, mt := "1", "'c'"
			if strings.Contains(flags, "g") {
				occ = "0"
			}
			if strings.Contains(flags, "i") {
				mt = "'i'"
			}
			return "REGEXP_REPLACE(" + a[0] + ", " + a[1] + ", " + a[2] + ", 1, " + occ + ", " + mt + ")"
		}
	case "to_timestamp":
		if nargs == 1 {
			return "FROM_UNIXTIME(" + a[0] + ")" // seconds since the epoch, session time zone UTC
		}
		p.unsupported(f.Location, "to_timestamp(text, format)")
	case "json_agg", "jsonb_agg":
		// (with ORDER BY / FILTER / DISTINCT it was refused above)
		return "JSON_ARRAYAGG(" + join() + ")"
	case "nextval", "currval", "setval", "lastval":
		p.unsupported(f.Location, "sequences (%s); use serial / identity columns", name)
	}
	if r, ok := renamed[name]; ok && r != "" {
		return r + "(" + join() + ")"
	}
	return strings.ToUpper(name) + "(" + join() + ")"
}

func prefixComma(a []string) string {
	if len(a) == 0 {
		return ""
	}
	return ", " + strings.Join(a, ", ")
}

func (p *printer) aggOrder(f *pg.FuncCall) string {
	if len(f.AggOrder) == 0 {
		return ""
	}
	return " ORDER BY " + p.sortList(f.AggOrder, nil)
}

// Frame option bits (PostgreSQL nodes/parsenodes.h).
const (
	frameNonDefault        = 0x00001
	frameRange             = 0x00002
	frameRows              = 0x00004
	frameGroups            = 0x00008
	frameBetween           = 0x00010
	frameStartUnboundedPre = 0x00020
	frameEndUnboundedPre   = 0x00040
	frameStartUnboundedFol = 0x00080
	frameEndUnboundedFol   = 0x00100
	frameStartCurrent      = 0x00200
	frameEndCurrent        = 0x00400
	frameStartOffsetPre    = 0x00800
	frameEndOffsetPre      = 0x01000
	frameStartOffsetFol    = 0x02000
	frameEndOffsetFol      = 0x04000
	frameExclude           = 0x08000 | 0x10000 | 0x20000
)

// windowSpec prints OVER (...). Named windows (OVER w, OVER (w ...))
// are inlined from the query's WINDOW clause: GMS v0.20.0 drops the
// ORDER BY of a named window (running sums become totals).
func (p *printer) windowSpec(w *pg.WindowDef) string {
	return "(" + p.windowBody(p.resolveWindow(w, 0)) + ")"
}

func (p *printer) resolveWindow(w *pg.WindowDef, depth int) *pg.WindowDef {
	ref := w.Refname
	if ref == "" && w.Name != "" && len(w.PartitionClause) == 0 && len(w.OrderClause) == 0 && w.FrameOptions&frameNonDefault == 0 {
		ref = w.Name // OVER w
	}
	if ref == "" {
		return w
	}
	base, ok := p.windows[ref]
	if !ok || depth > 10 {
		p.unsupported(w.Location, "window %q is not defined", ref)
	}
	base = p.resolveWindow(base, depth+1)
	merged := &pg.WindowDef{
		PartitionClause: base.PartitionClause,
		OrderClause:     w.OrderClause,
		FrameOptions:    w.FrameOptions,
		StartOffset:     w.StartOffset,
		EndOffset:       w.EndOffset,
		Location:        w.Location,
	}
	if len(merged.OrderClause) == 0 {
		merged.OrderClause = base.OrderClause
	}
	if w.Refname == "" {
		// OVER w: the whole definition, frame included.
		merged.FrameOptions, merged.StartOffset, merged.EndOffset = base.FrameOptions, base.StartOffset, base.EndOffset
	}
	return merged
}

func (p *printer) windowBody(w *pg.WindowDef) string {
	var parts []string
	if len(w.PartitionClause) > 0 {
		parts = append(parts, "PARTITION BY "+p.exprList(w.PartitionClause))
	}
	if len(w.OrderClause) > 0 {
		parts = append(parts, "ORDER BY "+p.sortList(w.OrderClause, nil))
	}
	fo := w.FrameOptions
	if fo&frameNonDefault != 0 {
		if fo&frameGroups != 0 {
			p.unsupported(w.Location, "GROUPS frames")
		}
		if fo&frameExclude != 0 {
			p.unsupported(w.Location, "frame EXCLUDE")
		}
		unit := "RANGE"
		if fo&frameRows != 0 {
			unit = "ROWS"
		}
		start := p.frameBound(fo, true, w.StartOffset)
		if fo&frameBetween != 0 {
			parts = append(parts, unit+" BETWEEN "+start+" AND "+p.frameBound(fo, false, w.EndOffset))
		} else {
			parts = append(parts, unit+" "+start)
		}
	}
	return strings.Join(parts, " ")
}

func (p *printer) frameBound(fo int32, start bool, off *pg.Node) string {
	ubp, ubf, cur, op, of := int32(frameStartUnboundedPre), int32(frameStartUnboundedFol), int32(frameStartCurrent), int32(frameStartOffsetPre), int32(frameStartOffsetFol)
	if !start {
		ubp, ubf, cur, op, of = frameEndUnboundedPre, frameEndUnboundedFol, frameEndCurrent, frameEndOffsetPre, frameEndOffsetFol
	}
	switch {
	case fo&ubp != 0:
		return "UNBOUNDED PRECEDING"
	case fo&ubf != 0:
		return "UNBOUNDED FOLLOWING"
	case fo&cur != 0:
		return "CURRENT ROW"
	case fo&op != 0:
		return p.expr(off) + " PRECEDING"
	case fo&of != 0:
		return p.expr(off) + " FOLLOWING"
	}
	return "CURRENT ROW"
}

// sortList prints ORDER BY items. Postgres sorts NULLs last in ascending
// order and first in descending order; MySQL does the opposite, so every
// key gets an explicit leading (key IS NULL) key. resolve, when not nil,
// maps an output-column name or ordinal to the ORDER BY key to print and
// the expression to test for NULL (the engine resolves neither aliases nor
// ordinals inside ORDER BY expressions).
func (p *printer) sortList(list []*pg.Node, resolve func(*pg.Node) (key, nullKey string, ok bool)) string {
	var out []string
	for _, n := range list {
		sb := n.GetSortBy()
		if sb == nil {
			p.unsupported(-1, "sort item %s", nodeName(n))
		}
		if sb.SortbyDir == pg.SortByDir_SORTBY_USING {
			p.unsupported(sb.Location, "ORDER BY ... USING")
		}
		var key, nullKey string
		resolved := false
		if resolve != nil {
			key, nullKey, resolved = resolve(sb.Node)
		}
		if !resolved {
			key = p.expr(sb.Node)
			nullKey = key
			if neverNull(sb.Node) {
				nullKey = ""
			}
		}
		out = append(out, orderKeys(key, nullKey, sb)...)
	}
	return strings.Join(out, ", ")
}

// orderKeys prints one Postgres sort item as engine keys; nullKey == ""
// omits the NULL-ordering key.
func orderKeys(key, nullKey string, sb *pg.SortBy) []string {
	desc := sb.SortbyDir == pg.SortByDir_SORTBY_DESC
	nullsFirst := desc
	switch sb.SortbyNulls {
	case pg.SortByNulls_SORTBY_NULLS_FIRST:
		nullsFirst = true
	case pg.SortByNulls_SORTBY_NULLS_LAST:
		nullsFirst = false
	}
	var out []string
	if nullKey != "" {
		if nullsFirst {
			out = append(out, "("+nullKey+" IS NULL) DESC")
		} else {
			out = append(out, "("+nullKey+" IS NULL)")
		}
	}
	if desc {
		return append(out, key+" DESC")
	}
	return append(out, key)
}

// neverNull reports sort keys that cannot be NULL (constants), for which
// the NULL-ordering key is noise.
func neverNull(n *pg.Node) bool {
	if c := n.GetAConst(); c != nil {
		return !c.Isnull
	}
	return false
}
