package pgfunc

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
)

// Unnest is the table function pg_unnest(arr1[, arr2, ...]): the elements
// of one-dimensional Postgres arrays given as array text ("{a,"b c",NULL}",
// or an int2vector/oidvector's "1 2"), zipped as Postgres's multi-argument
// unnest and its set-returning functions in a select list run in lockstep:
// as many rows as the longest array has elements. For each argument i it
// has three columns: v<i>, the element (text; NULL past the array's end),
// s<i>, its subscript (generate_subscripts: 1-based for array text, 0-based
// for vectors), and o<i>, its 1-based position (WITH ORDINALITY,
// information_schema._pg_expandarray's n). A NULL array has no elements.
// The dialect prints unnest, generate_subscripts and _pg_expandarray (in
// FROM and in select lists) over it.
type Unnest struct {
	db   sql.Database
	args []sql.Expression
}

var _ sql.TableFunction = (*Unnest)(nil)
var _ sql.ExecSourceRel = (*Unnest)(nil)

// NewInstance implements sql.TableFunction.
func (u *Unnest) NewInstance(_ *sql.Context, db sql.Database, args []sql.Expression) (sql.Node, error) {
	if len(args) < 1 {
		return nil, sql.ErrInvalidArgumentNumber.New("pg_unnest", "at least 1", len(args))
	}
	return &Unnest{db: db, args: args}, nil
}

// Name implements sql.Nameable.
func (u *Unnest) Name() string { return "pg_unnest" }

// Database implements sql.Databaser.
func (u *Unnest) Database() sql.Database { return u.db }

// WithDatabase implements sql.Databaser.
func (u *Unnest) WithDatabase(db sql.Database) (sql.Node, error) {
	n := *u
	n.db = db
	return &n, nil
}

// Expressions implements sql.Expressioner.
func (u *Unnest) Expressions() []sql.Expression { return u.args }

// WithExpressions implements sql.Expressioner.
func (u *Unnest) WithExpressions(e ...sql.Expression) (sql.Node, error) {
	if len(e) != len(u.args) {
		return nil, sql.ErrInvalidChildrenNumber.New(u, len(e), len(u.args))
	}
	n := *u
	n.args = e
	return &n, nil
}

// Resolved implements sql.Node.
func (u *Unnest) Resolved() bool {
	for _, a := range u.args {
		if !a.Resolved() {
			return false
		}
	}
	return true
}

// IsReadOnly implements sql.Node.
func (u *Unnest) IsReadOnly() bool { return true }

func (u *Unnest) String() string { return "pg_unnest" }

// Schema implements sql.Node.
func (u *Unnest) Schema() sql.Schema {
	var s sql.Schema
	for i := range u.args {
		n := strconv.Itoa(i + 1)
		s = append(s,
			&sql.Column{Name: "v" + n, Type: types.LongText, Source: "pg_unnest", Nullable: true},
			&sql.Column{Name: "s" + n, Type: types.Int32, Source: "pg_unnest", Nullable: true},
			&sql.Column{Name: "o" + n, Type: types.Int64, Source: "pg_unnest", Nullable: true})
	}
	return s
}

// Children implements sql.Node.
func (u *Unnest) Children() []sql.Node { return nil }

// WithChildren implements sql.Node.
func (u *Unnest) WithChildren(children ...sql.Node) (sql.Node, error) {
	if len(children) != 0 {
		return nil, sql.ErrInvalidChildrenNumber.New(u, len(children), 0)
	}
	return u, nil
}

// CollationCoercibility implements sql.CollationCoercible.
func (u *Unnest) CollationCoercibility(*sql.Context) (sql.CollationID, byte) {
	return sql.Collation_binary, 5
}

// RowIter implements sql.ExecSourceRel.
func (u *Unnest) RowIter(ctx *sql.Context, row sql.Row) (sql.RowIter, error) {
	it := &unnestIter{arrays: make([][]*string, len(u.args)), lower: make([]int, len(u.args))}
	for i, a := range u.args {
		v, err := a.Eval(ctx, row)
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue
		}
		text := toString(ctx, v)
		elems, ok := ParseArray(text)
		if !ok {
			return nil, fmt.Errorf("malformed array literal: %q", text)
		}
		it.arrays[i] = elems
		it.lower[i] = 1
		if !strings.HasPrefix(strings.TrimSpace(text), "{") {
			it.lower[i] = 0 // int2vector and oidvector subscripts start at 0
		}
		if len(elems) > it.rows {
			it.rows = len(elems)
		}
	}
	return it, nil
}

type unnestIter struct {
	arrays [][]*string
	lower  []int
	rows   int
	next   int
}

func (it *unnestIter) Next(*sql.Context) (sql.Row, error) {
	if it.next >= it.rows {
		return nil, io.EOF
	}
	j := it.next
	it.next++
	out := make(sql.Row, 0, 3*len(it.arrays))
	for i, elems := range it.arrays {
		if j >= len(elems) {
			out = append(out, nil, nil, nil)
			continue
		}
		var v any
		if elems[j] != nil {
			v = *elems[j]
		}
		out = append(out, v, int32(it.lower[i]+j), int64(j+1))
	}
	return out, nil
}

func (it *unnestIter) Close(*sql.Context) error { return nil }

// ParseArray parses a one-dimensional array literal ("{a,"b c",NULL}"),
// or the text of an int2vector/oidvector ("1 2"); nil elements are NULLs.
// An explicit lower bound ("[0:1]={a,b}") is accepted and dropped.
func ParseArray(s string) ([]*string, bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "="); i > 0 {
			s = strings.TrimSpace(s[i+1:])
		}
	}
	if !strings.HasPrefix(s, "{") {
		var out []*string
		for _, f := range strings.Fields(s) {
			if _, err := strconv.ParseInt(f, 10, 64); err != nil {
				return nil, false
			}
			f := f
			out = append(out, &f)
		}
		return out, true
	}
	if len(s) < 2 || s[len(s)-1] != '}' {
		return nil, false
	}
	body := s[1 : len(s)-1]
	var out []*string
	if strings.TrimSpace(body) == "" {
		return out, true
	}
	i := 0
	for {
		for i < len(body) && body[i] == ' ' {
			i++
		}
		var b strings.Builder
		quoted := false
		if i < len(body) && body[i] == '"' {
			quoted = true
			i++
			for i < len(body) && body[i] != '"' {
				if body[i] == '\\' && i+1 < len(body) {
					i++
				}
				b.WriteByte(body[i])
				i++
			}
			if i >= len(body) {
				return nil, false
			}
			i++
		} else {
			for i < len(body) && body[i] != ',' {
				if body[i] == '{' || body[i] == '}' || body[i] == '"' {
					return nil, false // nested arrays are not one-dimensional
				}
				if body[i] == '\\' && i+1 < len(body) {
					i++
				}
				b.WriteByte(body[i])
				i++
			}
		}
		e := b.String()
		if !quoted {
			e = strings.TrimSpace(e)
		}
		if !quoted && strings.EqualFold(e, "NULL") {
			out = append(out, nil)
		} else {
			out = append(out, &e)
		}
		for i < len(body) && body[i] == ' ' {
			i++
		}
		if i >= len(body) {
			return out, true
		}
		if body[i] != ',' {
			return nil, false
		}
		i++
	}
}

// recordField returns field i (1-based) of a record's text as record_out
// prints it ("(1,"a b",)"): NULL for an empty unquoted field, quotes and
// doubled quotes or backslashes undone.
func recordField(s string, i int) (any, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return nil, false
	}
	body := s[1 : len(s)-1]
	field, pos := 1, 0
	for {
		var b strings.Builder
		quoted := false
		for pos < len(body) && body[pos] != ',' {
			c := body[pos]
			switch {
			case c == '"':
				quoted = true
				pos++
				for pos < len(body) {
					if body[pos] == '"' {
						if pos+1 < len(body) && body[pos+1] == '"' {
							b.WriteByte('"')
							pos += 2
							continue
						}
						break
					}
					if body[pos] == '\\' && pos+1 < len(body) {
						pos++
					}
					b.WriteByte(body[pos])
					pos++
				}
				pos++ // closing quote
			case c == '\\' && pos+1 < len(body):
				b.WriteByte(body[pos+1])
				pos += 2
			default:
				b.WriteByte(c)
				pos++
			}
		}
		if field == i {
			if !quoted && b.Len() == 0 {
				return nil, true
			}
			return b.String(), true
		}
		if pos >= len(body) {
			return nil, false // fewer fields than i
		}
		pos++
		field++
	}
}
