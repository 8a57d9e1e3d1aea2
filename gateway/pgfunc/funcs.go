// Package pgfunc provides go-mysql-server functions with PostgreSQL
// semantics, for the SQL that package gateway/dialect prints.
//
// What the engine needs (the gateway wires this once):
//
//   - Every engine session runs SessionInit first (sql_mode with
//     ANSI_QUOTES, group_concat_max_len, time_zone UTC).
//   - Register(engine) adds the scalar functions of Functions() to the
//     engine's catalog (names are chosen not to clash with GMS builtins).
//   - Table functions (generate_series) are looked up by GMS only through
//     the database provider: the provider must implement
//     sql.TableFunctionProvider and answer TableFunction(ctx, name) from
//     TableFunctions() (memory.DbProvider: WithTableFunctions).
//   - Bind variables are named v1, v2, ... ($n -> :v<n>): pass
//     map[string]sqlparser.Expr{"v1": ...} to Engine.QueryWithBindings.
//   - pg_backend_pid() returns the session user variable
//     @dualgate_backend_pid when the gateway has set it (an integer), and
//     the GMS session id otherwise. pg_current_catalog() (current_database(),
//     current_catalog) returns @dualgate_database, else "dualgate".
//     current_user/session_user print pg_session_user(), the session's
//     client user name (sql.Client.User).
//   - Errors: pg_div returns ErrDivisionByZero (map to SQLSTATE 22012);
//     pg_timestamp/pg_timestamptz return errors wrapping
//     ErrInvalidDatetime (22007).
package pgfunc

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/gateway/pgtypes"
)

// SessionInit lists the engine statements the gateway must run on every new
// engine session before any translated SQL:
//   - sql_mode: ANSI_QUOTES is required ("identifiers"). PIPES_AS_CONCAT
//     is accepted but not implemented by GMS v0.20.0, so the dialect never
//     relies on it (|| is printed as CONCAT). STRICT_TRANS_TABLES makes bad
//     values errors, as in Postgres. ONLY_FULL_GROUP_BY is left out: GMS's
//     check rejects queries Postgres accepts (grouping by a primary key).
//   - group_concat_max_len: GMS truncates GROUP_CONCAT (string_agg,
//     array_agg) at 1024 bytes by default.
//   - time_zone: timestamptz values are stored and computed in UTC.
var SessionInit = []string{
	"SET SESSION sql_mode = 'ANSI_QUOTES,PIPES_AS_CONCAT,STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'",
	"SET SESSION group_concat_max_len = 4294967295",
	"SET SESSION time_zone = '+00:00'",
}

// Version is reported by version(); the binary sets it at start-up.
var Version = "dev"

// BackendPIDVar and DatabaseVar are the session user variables read by
// pg_backend_pid() and current_database().
const (
	BackendPIDVar = "dualgate_backend_pid"
	DatabaseVar   = "dualgate_database"
)

var specs = []spec{
	{name: "pg_add", min: 2, max: 2, proto: fnExpr{typ: arithType(opAdd), eval: arithEval(opAdd), strict: true,
		desc: "Postgres +: integer overflow is an error, date + integer adds days"}},
	{name: "pg_sub", min: 2, max: 2, proto: fnExpr{typ: arithType(opSub), eval: arithEval(opSub), strict: true,
		desc: "Postgres -: integer overflow is an error, date - integer subtracts days, date - date counts days"}},
	{name: "pg_mul", min: 2, max: 2, proto: fnExpr{typ: arithType(opMul), eval: arithEval(opMul), strict: true,
		desc: "Postgres *: integer overflow is an error"}},
	{name: "pg_mod", min: 2, max: 2, proto: fnExpr{typ: modType, eval: evalMod, strict: true,
		desc: "Postgres modulo: the sign of the dividend; modulo by zero is an error"}},
	{name: "pg_div", min: 2, max: 2, proto: fnExpr{typ: divType, eval: evalDiv, strict: true,
		desc: "Postgres division: integer operands divide as integers (truncating); division by zero is an error"}},
	{name: "pg_version", min: 0, max: 0, proto: fnExpr{typ: fixed(types.LongText), eval: func(*sql.Context, []any, []sql.Expression) (any, error) {
		return "PostgreSQL 15.0 (dualgate " + Version + ") on x86_64-pc-linux-gnu, compiled by Go, 64-bit", nil
	}, desc: "Postgres-style version string"}},
	{name: "pg_session_user", min: 0, max: 0, proto: fnExpr{typ: fixed(types.LongText), eval: func(ctx *sql.Context, _ []any, _ []sql.Expression) (any, error) {
		return ctx.Session.Client().User, nil
	}, desc: "the client's user name"}},
	{name: "pg_backend_pid", min: 0, max: 0, proto: fnExpr{typ: fixed(types.Int32), eval: func(ctx *sql.Context, _ []any, _ []sql.Expression) (any, error) {
		if _, v, err := ctx.GetUserVariable(ctx, BackendPIDVar); err == nil && v != nil {
			n, _, err := types.Int32.Convert(ctx, v)
			if err == nil {
				return n, nil
			}
		}
		return int32(ctx.Session.ID()), nil
	}, desc: "the session's backend process id"}},
	{name: "pg_current_catalog", min: 0, max: 0, proto: fnExpr{typ: fixed(types.LongText), eval: func(ctx *sql.Context, _ []any, _ []sql.Expression) (any, error) {
		if _, v, err := ctx.GetUserVariable(ctx, DatabaseVar); err == nil && v != nil {
			return fmt.Sprint(v), nil
		}
		return "dualgate", nil
	}, desc: "the Postgres database name of the session"}},
	{name: "pg_array_elem", min: 1, max: 1, proto: fnExpr{typ: fixed(types.LongText), eval: func(ctx *sql.Context, v []any, _ []sql.Expression) (any, error) {
		return arrayElem(ctx, v[0]), nil
	}, desc: "one element of a Postgres array literal, quoted as array_out does"}},
	{name: "pg_btrim", min: 2, max: 2, proto: fnExpr{typ: fixed(types.LongText), strict: true, eval: trimEval(true, true)}},
	{name: "pg_ltrim", min: 2, max: 2, proto: fnExpr{typ: fixed(types.LongText), strict: true, eval: trimEval(true, false)}},
	{name: "pg_rtrim", min: 2, max: 2, proto: fnExpr{typ: fixed(types.LongText), strict: true, eval: trimEval(false, true)}},
	{name: "pg_timestamptz", min: 1, max: 2, proto: fnExpr{typ: fixed(types.DatetimeMaxPrecision), strict: true, eval: timestampEval(true),
		desc: "Postgres timestamptz input (optional precision): offsets are applied and the value is returned in UTC"}},
	{name: "pg_timestamp", min: 1, max: 2, proto: fnExpr{typ: fixed(types.DatetimeMaxPrecision), strict: true, eval: timestampEval(false),
		desc: "Postgres timestamp input: an offset, if any, is ignored"}},
	{name: "pg_text", min: 1, max: 1, proto: fnExpr{typ: fixed(types.LongText), strict: true, eval: evalText,
		desc: "a value cast to text as Postgres prints it (dates as YYYY-MM-DD, not the engine's datetime form)"}},
	{name: "pg_sleep", min: 1, max: 1, proto: fnExpr{typ: fixed(types.LongText), strict: true, eval: evalSleep,
		desc: "waits the given seconds; a cancel or statement_timeout ends the wait"}},
	{name: "split_part", min: 3, max: 3, proto: fnExpr{typ: fixed(types.LongText), strict: true, eval: evalSplitPart,
		desc: "the n-th field of a string split on a delimiter (negative n counts from the end)"}},
	{name: "initcap", min: 1, max: 1, proto: fnExpr{typ: fixed(types.LongText), strict: true, eval: evalInitcap,
		desc: "first letter of each word upper case, the rest lower case"}},
	{name: "pg_at_zone", min: 1, max: 2, proto: fnExpr{typ: fixed(types.DatetimeMaxPrecision), strict: true, eval: zoneEval(atZone),
		desc: "timestamptz AT TIME ZONE zone (default: the session TimeZone): the wall-clock reading there"}},
	{name: "pg_from_zone", min: 1, max: 2, proto: fnExpr{typ: fixed(types.DatetimeMaxPrecision), strict: true, eval: zoneEval(pgtypes.InstantAt),
		desc: "timestamp AT TIME ZONE zone (default: the session TimeZone): the instant with that wall-clock reading there"}},
	{name: "date_trunc", min: 2, max: 2, proto: fnExpr{typ: fixed(types.DatetimeMaxPrecision), strict: true, eval: evalDateTrunc,
		desc: "truncate a timestamp to the given precision"}},
	{name: "date_part", min: 2, max: 2, proto: fnExpr{typ: fixed(types.Float64), strict: true, eval: evalDatePart,
		desc: "a field of a date/time value (EXTRACT)"}},
	{name: "to_char", min: 2, max: 2, proto: fnExpr{typ: fixed(types.LongText), strict: true, eval: evalToChar,
		desc: "format a timestamp or number"}},
	{name: "pg_bitop", min: 3, max: 3, proto: fnExpr{typ: fixed(types.Int64), strict: true, eval: evalBitop,
		desc: "Postgres integer bit operators & | # << >> and prefix ~ on signed 64-bit values"}},
	{name: "pg_record", min: 1, max: 64, proto: fnExpr{typ: fixed(types.LongText), eval: evalRecord,
		desc: "a row value as record_out prints it: (a,\"b c\",)"}},
	{name: "pg_record_field", min: 2, max: 2, proto: fnExpr{typ: fixed(types.LongText), strict: true, eval: evalRecordField,
		desc: "field i (1-based) of a row value's text, (rec).field"}},
}

// evalRecord prints its arguments as record_out does: NULL is an empty
// field; a field is quoted (with quotes and backslashes doubled) when it is
// empty or holds a comma, a parenthesis, a quote, a backslash or a space.
func evalRecord(ctx *sql.Context, v []any, _ []sql.Expression) (any, error) {
	var b strings.Builder
	b.WriteByte('(')
	for i, x := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		if x == nil {
			continue
		}
		s := arrayElem(ctx, x)
		if strings.HasPrefix(s, `"`) { // array quoting; record_out quotes by its own rules
			s = toString(ctx, x)
		}
		if s != "" && !strings.ContainsAny(s, "(),\"\\ \t\n\r\v\f") {
			b.WriteString(s)
			continue
		}
		b.WriteByte('"')
		for _, c := range []byte(s) {
			if c == '"' || c == '\\' {
				b.WriteByte(c)
			}
			b.WriteByte(c)
		}
		b.WriteByte('"')
	}
	b.WriteByte(')')
	return b.String(), nil
}

func evalBitop(ctx *sql.Context, v []any, _ []sql.Expression) (any, error) {
	var n [2]int64
	for i, x := range v[1:] {
		c, _, err := types.Int64.Convert(ctx, x)
		if err != nil {
			return nil, err
		}
		n[i] = c.(int64)
	}
	a, b := n[0], n[1]
	switch toString(ctx, v[0]) {
	case "&":
		return a & b, nil
	case "|":
		return a | b, nil
	case "#":
		return a ^ b, nil
	case "<<":
		return a << (uint64(b) & 63), nil
	case ">>":
		return a >> (uint64(b) & 63), nil
	case "~":
		return ^a, nil
	}
	return nil, fmt.Errorf("pg_bitop: unknown operator %q", toString(ctx, v[0]))
}

func evalRecordField(ctx *sql.Context, v []any, _ []sql.Expression) (any, error) {
	n, _, err := types.Int64.Convert(ctx, v[1])
	if err != nil {
		return nil, err
	}
	f, ok := recordField(toString(ctx, v[0]), int(n.(int64)))
	if !ok {
		return nil, fmt.Errorf("malformed record literal: %q", toString(ctx, v[0]))
	}
	return f, nil
}

// Functions returns the scalar functions, for Catalog.RegisterFunction.
func Functions() []sql.Function {
	out := make([]sql.Function, len(specs))
	for i, s := range specs {
		out[i] = s.function()
	}
	return out
}

// TableFunctions returns the table functions (generate_series), for the
// database provider's sql.TableFunctionProvider.
func TableFunctions() []sql.TableFunction {
	return []sql.TableFunction{&GenerateSeries{}, &Unnest{}}
}

// Register adds Functions() to the engine's catalog. Table functions must
// be served by the database provider (see the package comment).
func Register(engine *sqle.Engine) {
	engine.Analyzer.Catalog.RegisterFunction(sql.NewEmptyContext(), Functions()...)
}

func modType(args []sql.Expression) sql.Type {
	return expression.NewMod(args[0], args[1]).Type()
}

func evalMod(ctx *sql.Context, v []any, args []sql.Expression) (any, error) {
	if isZero(v[1]) {
		return nil, ErrDivisionByZero
	}
	return expression.NewMod(expression.NewLiteral(v[0], args[0].Type()), expression.NewLiteral(v[1], args[1].Type())).Eval(ctx, nil)
}

func divType(args []sql.Expression) sql.Type {
	if types.IsInteger(args[0].Type()) && types.IsInteger(args[1].Type()) {
		return types.Int64
	}
	return expression.NewDiv(args[0], args[1]).Type()
}

func isZero(v any) bool {
	switch n := v.(type) {
	case int:
		return n == 0
	case int8:
		return n == 0
	case int16:
		return n == 0
	case int32:
		return n == 0
	case int64:
		return n == 0
	case uint8:
		return n == 0
	case uint16:
		return n == 0
	case uint32:
		return n == 0
	case uint64:
		return n == 0
	case float32:
		return n == 0
	case float64:
		return n == 0
	case decimal.Decimal:
		return n.IsZero()
	}
	return false
}

// ErrDivisionByZero is returned for x / 0 (Postgres SQLSTATE 22012).
var ErrDivisionByZero = fmt.Errorf("division by zero")

func evalDiv(ctx *sql.Context, v []any, args []sql.Expression) (any, error) {
	if isZero(v[1]) {
		return nil, ErrDivisionByZero
	}
	if types.IsInteger(args[0].Type()) && types.IsInteger(args[1].Type()) {
		a, _, err := types.Int64.Convert(ctx, v[0])
		if err != nil {
			return nil, err
		}
		b, _, err := types.Int64.Convert(ctx, v[1])
		if err != nil {
			return nil, err
		}
		return a.(int64) / b.(int64), nil // Go truncates toward zero, like Postgres
	}
	return expression.NewDiv(expression.NewLiteral(v[0], args[0].Type()), expression.NewLiteral(v[1], args[1].Type())).Eval(ctx, nil)
}

func trimEval(left, right bool) func(*sql.Context, []any, []sql.Expression) (any, error) {
	return func(ctx *sql.Context, v []any, _ []sql.Expression) (any, error) {
		s, chars := toString(ctx, v[0]), toString(ctx, v[1])
		if left {
			s = strings.TrimLeft(s, chars)
		}
		if right {
			s = strings.TrimRight(s, chars)
		}
		return s, nil
	}
}

func toString(ctx *sql.Context, v any) string {
	s, _, err := types.LongText.Convert(ctx, v)
	if err != nil || s == nil {
		return fmt.Sprint(v)
	}
	if b, ok := s.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(s)
}

func evalSplitPart(ctx *sql.Context, v []any, _ []sql.Expression) (any, error) {
	s, delim := toString(ctx, v[0]), toString(ctx, v[1])
	n, _, err := types.Int64.Convert(ctx, v[2])
	if err != nil {
		return nil, err
	}
	idx := n.(int64)
	if idx == 0 {
		return nil, fmt.Errorf("field position must not be zero")
	}
	var parts []string
	if delim == "" {
		parts = []string{s}
	} else {
		parts = strings.Split(s, delim)
	}
	if idx < 0 {
		idx = int64(len(parts)) + idx + 1
	}
	if idx < 1 || idx > int64(len(parts)) {
		return "", nil
	}
	return parts[idx-1], nil
}

func evalInitcap(ctx *sql.Context, v []any, _ []sql.Expression) (any, error) {
	s := []rune(toString(ctx, v[0]))
	start := true
	for i, r := range s {
		alnum := unicode.IsLetter(r) || unicode.IsDigit(r)
		if start {
			s[i] = unicode.ToUpper(r)
		} else {
			s[i] = unicode.ToLower(r)
		}
		start = !alnum
	}
	return string(s), nil
}

// evalSleep implements pg_sleep(seconds): the wait ends early, with the
// context's error, when the statement is canceled or times out.
func evalSleep(ctx *sql.Context, v []any, _ []sql.Expression) (any, error) {
	f, _, err := types.Float64.Convert(ctx, v[0])
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(time.Duration(f.(float64) * float64(time.Second)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return "", nil
	}
}

// evalText is ::text for values whose engine text differs from Postgres's:
// a date prints as YYYY-MM-DD (the engine prints a datetime). Everything
// else converts as the engine's CAST AS CHAR does.
func evalText(ctx *sql.Context, v []any, args []sql.Expression) (any, error) {
	if t, ok := v[0].(time.Time); ok && types.IsDateType(args[0].Type()) {
		return t.Format("2006-01-02"), nil
	}
	out, _, err := types.LongText.Convert(ctx, v[0])
	return out, err
}
