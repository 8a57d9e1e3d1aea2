package pgfunc

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/types"
)

// ErrOutOfRange is returned when integer arithmetic leaves its type's range
// (SQLSTATE 22003), where the engine would wrap around or widen.
var ErrOutOfRange = errors.New("out of range")

// Postgres arithmetic for +, - and *: integers are checked for overflow
// in their type (int4 op int4 stays int4, as in Postgres; the engine would
// widen to bigint or wrap at 64 bits), and date ± integer counts days
// (the engine would do numeric arithmetic on 20240101). Everything else
// is the engine's own arithmetic.

type arithOp byte

const (
	opAdd arithOp = '+'
	opSub arithOp = '-'
	opMul arithOp = '*'
)

func (o arithOp) engine(l, r sql.Expression) sql.Expression {
	switch o {
	case opAdd:
		return expression.NewPlus(l, r)
	case opSub:
		return expression.NewMinus(l, r)
	}
	return expression.NewMult(l, r)
}

func narrowInt(t sql.Type) bool {
	return types.IsInteger(t) && t != types.Int64 && t != types.Uint64 && t != types.Uint32
}

func isDate(t sql.Type) bool { return t == types.Date }

func arithType(op arithOp) func(args []sql.Expression) sql.Type {
	return func(args []sql.Expression) sql.Type {
		l, r := args[0].Type(), args[1].Type()
		switch {
		case types.IsInteger(l) && types.IsInteger(r):
			if narrowInt(l) && narrowInt(r) {
				return types.Int32
			}
			return types.Int64
		case op != opMul && isDate(l) && types.IsInteger(r), op == opAdd && types.IsInteger(l) && isDate(r):
			return types.Date
		case op == opSub && isDate(l) && isDate(r):
			return types.Int32
		}
		return op.engine(args[0], args[1]).Type()
	}
}

func arithEval(op arithOp) func(*sql.Context, []any, []sql.Expression) (any, error) {
	return func(ctx *sql.Context, v []any, args []sql.Expression) (any, error) {
		l, r := args[0].Type(), args[1].Type()
		switch {
		case types.IsInteger(l) && types.IsInteger(r):
			a, err := toInt64(ctx, v[0])
			if err != nil {
				return nil, err
			}
			b, err := toInt64(ctx, v[1])
			if err != nil {
				return nil, err
			}
			res, ok := checked(op, a, b)
			if narrowInt(l) && narrowInt(r) {
				if !ok || res > math.MaxInt32 || res < math.MinInt32 {
					return nil, fmt.Errorf("integer %w", ErrOutOfRange)
				}
				return int32(res), nil
			}
			if !ok {
				return nil, fmt.Errorf("bigint %w", ErrOutOfRange)
			}
			return res, nil
		case op != opMul && isDate(l) && types.IsInteger(r), op == opAdd && types.IsInteger(l) && isDate(r):
			d, n := v[0], v[1]
			if isDate(r) {
				d, n = v[1], v[0]
			}
			t, ok := d.(time.Time)
			if !ok {
				break
			}
			days, err := toInt64(ctx, n)
			if err != nil {
				return nil, err
			}
			if op == opSub {
				days = -days
			}
			return t.AddDate(0, 0, int(days)), nil
		case op == opSub && isDate(l) && isDate(r):
			a, ok1 := v[0].(time.Time)
			b, ok2 := v[1].(time.Time)
			if ok1 && ok2 {
				return int32(a.Sub(b).Hours() / 24), nil
			}
		}
		return op.engine(expression.NewLiteral(v[0], l), expression.NewLiteral(v[1], r)).Eval(ctx, nil)
	}
}

func toInt64(ctx *sql.Context, v any) (int64, error) {
	if u, ok := v.(uint64); ok {
		if u > math.MaxInt64 {
			return 0, fmt.Errorf("bigint %w", ErrOutOfRange)
		}
		return int64(u), nil
	}
	n, _, err := types.Int64.Convert(ctx, v)
	if err != nil {
		return 0, err
	}
	return n.(int64), nil
}

// checked does a op b on int64, reporting overflow.
func checked(op arithOp, a, b int64) (int64, bool) {
	switch op {
	case opAdd:
		s := a + b
		return s, !((a >= 0) == (b >= 0) && (s >= 0) != (a >= 0))
	case opSub:
		s := a - b
		return s, !((a >= 0) != (b >= 0) && (s >= 0) != (a >= 0))
	}
	if a == 0 || b == 0 {
		return 0, true
	}
	p := a * b
	if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return p, false
	}
	return p, true
}
