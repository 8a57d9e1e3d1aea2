package projections

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// PinAsOf returns sql with every relation of the canonical schema pinned to
// commit asOf with DESIGN.md's per-table time travel clause
// (`canonical.orders FOR SYSTEM_TIME AS OF 42`). Relations are found with
// the Postgres parser (RangeVar nodes, so CTE names, column references and
// string literals are never touched) and the clause is placed after the
// relation name's last token (found with the Postgres scanner), before any
// alias. It is what a QueryFunc needs to run a projection's SELECT against
// canonical as of a commit on an engine that understands the clause.
func PinAsOf(sql string, asOf uint64) (string, error) {
	tree, err := pg.Parse(sql)
	if err != nil {
		return "", fmt.Errorf("projections: parse: %w", err)
	}
	var locs []int32
	walk(tree.ProtoReflect(), func(m protoreflect.Message) {
		if rv, ok := m.Interface().(*pg.RangeVar); ok && strings.EqualFold(rv.Schemaname, "canonical") {
			locs = append(locs, rv.Location)
		}
	})
	if len(locs) == 0 {
		return sql, nil
	}
	scan, err := pg.Scan(sql)
	if err != nil {
		return "", fmt.Errorf("projections: scan: %w", err)
	}
	toks := scan.Tokens
	var ends []int32
	for _, loc := range locs {
		i := sort.Search(len(toks), func(i int) bool { return toks[i].Start >= loc })
		if i >= len(toks) || toks[i].Start != loc {
			return "", fmt.Errorf("projections: no token at relation offset %d", loc)
		}
		// name ( '.' name )*
		for i+2 < len(toks) && sql[toks[i+1].Start:toks[i+1].End] == "." {
			i += 2
		}
		ends = append(ends, toks[i].End)
	}
	sort.Slice(ends, func(a, b int) bool { return ends[a] > ends[b] })
	clause := " FOR SYSTEM_TIME AS OF " + strconv.FormatUint(asOf, 10)
	out := sql
	for _, e := range ends {
		out = out[:e] + clause + out[e:]
	}
	return out, nil
}

// walk calls fn for every message in the tree rooted at m.
func walk(m protoreflect.Message, fn func(protoreflect.Message)) {
	if !m.IsValid() {
		return
	}
	fn(m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			if fd.Kind() == protoreflect.MessageKind {
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					walk(l.Get(i).Message(), fn)
				}
			}
		case fd.IsMap():
		case fd.Kind() == protoreflect.MessageKind:
			walk(v.Message(), fn)
		}
		return true
	})
}
