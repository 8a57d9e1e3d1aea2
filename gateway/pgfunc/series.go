package pgfunc

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
)

// GenerateSeries is the table function generate_series(start, stop[, step])
// over integers (BIGINT column) or timestamps (DATETIME(6) column, step an
// interval given as Postgres interval text such as '1 day' or
// '1 hour 30 minutes'); the column is named generate_series.
type GenerateSeries struct {
	db   sql.Database
	args []sql.Expression
}

var _ sql.TableFunction = (*GenerateSeries)(nil)
var _ sql.ExecSourceRel = (*GenerateSeries)(nil)

// NewInstance implements sql.TableFunction.
func (g *GenerateSeries) NewInstance(_ *sql.Context, db sql.Database, args []sql.Expression) (sql.Node, error) {
	if len(args) < 2 || len(args) > 3 {
		return nil, sql.ErrInvalidArgumentNumber.New("generate_series", "2 or 3", len(args))
	}
	return &GenerateSeries{db: db, args: args}, nil
}

// Name implements sql.Nameable.
func (g *GenerateSeries) Name() string { return "generate_series" }

// Database implements sql.Databaser.
func (g *GenerateSeries) Database() sql.Database { return g.db }

// WithDatabase implements sql.Databaser.
func (g *GenerateSeries) WithDatabase(db sql.Database) (sql.Node, error) {
	n := *g
	n.db = db
	return &n, nil
}

// Expressions implements sql.Expressioner.
func (g *GenerateSeries) Expressions() []sql.Expression { return g.args }

// WithExpressions implements sql.Expressioner.
func (g *GenerateSeries) WithExpressions(e ...sql.Expression) (sql.Node, error) {
	if len(e) != len(g.args) {
		return nil, sql.ErrInvalidChildrenNumber.New(g, len(e), len(g.args))
	}
	n := *g
	n.args = e
	return &n, nil
}

// Resolved implements sql.Node.
func (g *GenerateSeries) Resolved() bool {
	for _, a := range g.args {
		if !a.Resolved() {
			return false
		}
	}
	return true
}

// IsReadOnly implements sql.Node.
func (g *GenerateSeries) IsReadOnly() bool { return true }

func (g *GenerateSeries) String() string { return "generate_series" }

// Schema implements sql.Node.
func (g *GenerateSeries) Schema() sql.Schema {
	t := sql.Type(types.Int64)
	if g.timestamps() {
		t = types.DatetimeMaxPrecision
	} else if g.int4() {
		t = types.Int32
	}
	return sql.Schema{{Name: "generate_series", Type: t, Source: "generate_series", Nullable: false}}
}

// int4 says whether every argument is an integer of at most 32 bits, in
// which case the series is int4 as in Postgres (generate_series(int4, int4)).
func (g *GenerateSeries) int4() bool {
	for _, a := range g.args {
		t := a.Type()
		if !types.IsInteger(t) || t == types.Int64 || t == types.Uint64 || t == types.Uint32 {
			return false
		}
	}
	return len(g.args) > 0
}

func (g *GenerateSeries) timestamps() bool {
	return len(g.args) > 0 && types.IsTime(g.args[0].Type())
}

// Children implements sql.Node.
func (g *GenerateSeries) Children() []sql.Node { return nil }

// WithChildren implements sql.Node.
func (g *GenerateSeries) WithChildren(children ...sql.Node) (sql.Node, error) {
	if len(children) != 0 {
		return nil, sql.ErrInvalidChildrenNumber.New(g, len(children), 0)
	}
	return g, nil
}

// CollationCoercibility implements sql.CollationCoercible.
func (g *GenerateSeries) CollationCoercibility(*sql.Context) (sql.CollationID, byte) {
	return sql.Collation_binary, 5
}

// RowIter implements sql.ExecSourceRel.
func (g *GenerateSeries) RowIter(ctx *sql.Context, row sql.Row) (sql.RowIter, error) {
	if g.timestamps() {
		return g.timeIter(ctx, row)
	}
	vals := make([]int64, 3)
	vals[2] = 1
	for i, a := range g.args {
		v, err := a.Eval(ctx, row)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return &seriesIter{done: true}, nil
		}
		n, _, err := types.Int64.Convert(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("generate_series: %w", err)
		}
		vals[i] = n.(int64)
	}
	if vals[2] == 0 {
		return nil, fmt.Errorf("step size cannot equal zero")
	}
	return &seriesIter{cur: vals[0], stop: vals[1], step: vals[2], int4: g.int4()}, nil
}

type seriesIter struct {
	cur, stop, step int64
	done            bool
	int4            bool // emit int32 values
}

func (s *seriesIter) Next(*sql.Context) (sql.Row, error) {
	if s.done || (s.step > 0 && s.cur > s.stop) || (s.step < 0 && s.cur < s.stop) {
		return nil, io.EOF
	}
	v := s.cur
	next := s.cur + s.step
	if (s.step > 0 && next < s.cur) || (s.step < 0 && next > s.cur) {
		s.done = true // overflow
	}
	s.cur = next
	if s.int4 {
		return sql.Row{int32(v)}, nil
	}
	return sql.Row{v}, nil
}

func (s *seriesIter) Close(*sql.Context) error { return nil }

func (g *GenerateSeries) timeIter(ctx *sql.Context, row sql.Row) (sql.RowIter, error) {
	if len(g.args) != 3 {
		return nil, fmt.Errorf("generate_series over timestamps needs an interval step")
	}
	var vals [3]any
	for i, a := range g.args {
		v, err := a.Eval(ctx, row)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return &timeSeriesIter{done: true}, nil
		}
		vals[i] = v
	}
	start, err := toTime(ctx, vals[0])
	if err != nil {
		return nil, err
	}
	stop, err := toTime(ctx, vals[1])
	if err != nil {
		return nil, err
	}
	step, err := parseInterval(toString(ctx, vals[2]))
	if err != nil {
		return nil, err
	}
	if step.zero() {
		return nil, fmt.Errorf("step size cannot equal zero")
	}
	return &timeSeriesIter{start: start, stop: stop, step: step, forward: step.add(start, 1).After(start)}, nil
}

type timeSeriesIter struct {
	start, stop time.Time
	step        interval
	forward     bool
	n           int
	done        bool
}

func (s *timeSeriesIter) Next(*sql.Context) (sql.Row, error) {
	if s.done {
		return nil, io.EOF
	}
	// Each value is start + n*step (not repeated addition), as Postgres
	// does for month steps from the 31st.
	v := s.step.add(s.start, s.n)
	if (s.forward && v.After(s.stop)) || (!s.forward && v.Before(s.stop)) || s.n > 10_000_000 {
		s.done = true
		return nil, io.EOF
	}
	s.n++
	return sql.Row{v}, nil
}

func (s *timeSeriesIter) Close(*sql.Context) error { return nil }

// interval is a Postgres interval: months, days and a time part.
type interval struct {
	months, days int
	dur          time.Duration
}

func (iv interval) zero() bool { return iv.months == 0 && iv.days == 0 && iv.dur == 0 }

func (iv interval) add(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	h, mi, s := t.Clock()
	t2 := time.Date(y, m+time.Month(iv.months*n), 1, h, mi, s, t.Nanosecond(), t.Location())
	// Clamp the day to the month's end, as Postgres does.
	last := time.Date(t2.Year(), t2.Month()+1, 0, 0, 0, 0, 0, t.Location()).Day()
	if d > last {
		d = last
	}
	t2 = time.Date(t2.Year(), t2.Month(), d, h, mi, s, t.Nanosecond(), t.Location())
	return t2.AddDate(0, 0, iv.days*n).Add(iv.dur * time.Duration(n))
}

var unitDur = map[string]time.Duration{
	"microsecond": time.Microsecond, "microseconds": time.Microsecond, "us": time.Microsecond,
	"millisecond": time.Millisecond, "milliseconds": time.Millisecond, "ms": time.Millisecond,
	"second": time.Second, "seconds": time.Second, "sec": time.Second, "secs": time.Second, "s": time.Second,
	"minute": time.Minute, "minutes": time.Minute, "min": time.Minute, "mins": time.Minute, "m": time.Minute,
	"hour": time.Hour, "hours": time.Hour, "h": time.Hour, "hr": time.Hour, "hrs": time.Hour,
}

// parseInterval reads the Postgres interval text forms the dialect
// passes ('1 day', '2 hours 30 minutes', '1 mon', '01:30:00', '1 week ago').
func parseInterval(s string) (interval, error) {
	var iv interval
	f := strings.Fields(strings.ToLower(s))
	neg := false
	if len(f) > 0 && f[len(f)-1] == "ago" {
		neg, f = true, f[:len(f)-1]
	}
	bad := fmt.Errorf("invalid input syntax for type interval: %q", s)
	for i := 0; i < len(f); i++ {
		if strings.Contains(f[i], ":") {
			sign := time.Duration(1)
			tok := f[i]
			if strings.HasPrefix(tok, "-") {
				sign, tok = -1, tok[1:]
			}
			p := strings.Split(tok, ":")
			if len(p) == 2 {
				p = append(p, "0")
			}
			if len(p) != 3 {
				return iv, bad
			}
			h, e1 := strconv.Atoi(p[0])
			m, e2 := strconv.Atoi(p[1])
			sec, e3 := strconv.ParseFloat(p[2], 64)
			if e1 != nil || e2 != nil || e3 != nil {
				return iv, bad
			}
			iv.dur += sign * (time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second)))
			continue
		}
		if i+1 >= len(f) {
			return iv, bad
		}
		n, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return iv, bad
		}
		unit := f[i+1]
		i++
		switch unit {
		case "day", "days", "d":
			iv.days += int(n)
		case "week", "weeks", "w":
			iv.days += int(n) * 7
		case "month", "months", "mon", "mons":
			iv.months += int(n)
		case "year", "years", "y", "yr", "yrs":
			iv.months += int(n) * 12
		default:
			d, ok := unitDur[unit]
			if !ok {
				return iv, bad
			}
			iv.dur += time.Duration(n * float64(d))
		}
	}
	if neg {
		iv.months, iv.days, iv.dur = -iv.months, -iv.days, -iv.dur
	}
	return iv, nil
}
