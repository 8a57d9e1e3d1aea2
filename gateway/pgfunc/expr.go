package pgfunc

import (
	"fmt"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
)

// fnExpr is the one expression type behind every scalar function here:
// a name, its arguments, a result type and an evaluator over the
// evaluated argument values.
type fnExpr struct {
	name string
	args []sql.Expression
	typ  func(args []sql.Expression) sql.Type
	// eval gets the argument values; when strict is set it is not called
	// if any of them is NULL (the result is NULL), like a STRICT function.
	eval   func(ctx *sql.Context, vals []any, args []sql.Expression) (any, error)
	strict bool
	nondet bool
	desc   string
}

var _ sql.FunctionExpression = (*fnExpr)(nil)
var _ sql.NonDeterministicExpression = (*fnExpr)(nil)

func (f *fnExpr) FunctionName() string { return f.name }
func (f *fnExpr) Description() string  { return f.desc }
func (f *fnExpr) Resolved() bool {
	for _, a := range f.args {
		if !a.Resolved() {
			return false
		}
	}
	return true
}
func (f *fnExpr) String() string {
	parts := make([]string, len(f.args))
	for i, a := range f.args {
		parts[i] = a.String()
	}
	return f.name + "(" + strings.Join(parts, ", ") + ")"
}
func (f *fnExpr) Type() sql.Type             { return f.typ(f.args) }
func (f *fnExpr) IsNullable() bool           { return true }
func (f *fnExpr) IsNonDeterministic() bool   { return f.nondet }
func (f *fnExpr) Children() []sql.Expression { return f.args }
func (f *fnExpr) WithChildren(children ...sql.Expression) (sql.Expression, error) {
	if len(children) != len(f.args) {
		return nil, sql.ErrInvalidChildrenNumber.New(f, len(children), len(f.args))
	}
	nf := *f
	nf.args = children
	return &nf, nil
}

func (f *fnExpr) Eval(ctx *sql.Context, row sql.Row) (any, error) {
	vals := make([]any, len(f.args))
	for i, a := range f.args {
		v, err := a.Eval(ctx, row)
		if err != nil {
			return nil, err
		}
		if v == nil && f.strict {
			return nil, nil
		}
		vals[i] = v
	}
	return f.eval(ctx, vals, f.args)
}

// spec declares a function: its name, accepted argument counts, and the
// expression template.
type spec struct {
	name  string
	min   int
	max   int
	proto fnExpr
}

func (s spec) function() sql.Function {
	return sql.FunctionN{Name: s.name, Fn: func(args ...sql.Expression) (sql.Expression, error) {
		if len(args) < s.min || len(args) > s.max {
			want := fmt.Sprint(s.min)
			if s.max != s.min {
				want = fmt.Sprintf("%d to %d", s.min, s.max)
			}
			return nil, sql.ErrInvalidArgumentNumber.New(s.name, want, len(args))
		}
		f := s.proto
		f.name = s.name
		f.args = args
		return &f, nil
	}}
}

func fixed(t sql.Type) func([]sql.Expression) sql.Type {
	return func([]sql.Expression) sql.Type { return t }
}

// Spec declares an engine function from outside this package (pgcatalog's
// catalog functions) on the same expression machinery as the Postgres
// functions here: argument-count checks, strict NULL handling, typing.
type Spec struct {
	Name             string
	Min, Max         int
	Type             sql.Type
	Strict           bool
	NonDeterministic bool
	Description      string
	Eval             func(ctx *sql.Context, vals []any) (any, error)
}

// Function returns the engine function.
func (s Spec) Function() sql.Function {
	eval := s.Eval
	return spec{name: s.Name, min: s.Min, max: s.Max, proto: fnExpr{
		typ:    fixed(s.Type),
		strict: s.Strict,
		nondet: s.NonDeterministic,
		desc:   s.Description,
		eval:   func(ctx *sql.Context, v []any, _ []sql.Expression) (any, error) { return eval(ctx, v) },
	}}.function()
}
