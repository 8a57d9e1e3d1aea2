package dialect

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/dualgate/dualgate/gateway/pgerror"
)

// Substitute returns the Postgres text of the one statement in sql with
// every relation read from defs (keys "schema.name", lower case) replaced
// by the derived table `(<defs[key]>) AS <alias>`: the alias the query
// gave the relation, else its own name, so column references keep
// resolving. It is how a serving projection too stale to answer is
// computed from its definition over canonical instead
// (dualgate.stale_policy = canonical).
//
// Relations are found with the Postgres parser: only RangeVar nodes in
// FROM positions (FROM lists, JOIN operands, UPDATE ... FROM, DELETE ...
// USING) are replaced, never the target of INSERT/UPDATE/DELETE, CTE
// names, column names or string literals. An unqualified name matches
// when schema (the session's current schema) is the relation's schema and
// no CTE of the statement has that name. Three-part column references
// (schema.table.column) to a replaced relation are shortened to
// table.column. The result is deparsed by libpg_query, so it is parsed
// again (Parse/ParseWith) before it runs.
//
// Time-travel clauses (AS OF) are not Postgres grammar and would not
// survive the deparse: a statement with one fails with 0A000, as does a
// statement that reads none of defs.
func Substitute(sql, schema string, defs map[string]string) (string, error) {
	if _, revs := timeTravel(sql); len(revs) > 0 {
		return "", pgerror.Unsupported("computing a statement with time travel (AS OF) from canonical in place of a projection")
	}
	tree, err := pg.Parse(sql)
	if err != nil {
		return "", syntaxError(sql, err)
	}
	if len(tree.Stmts) != 1 {
		return "", pgerror.New(pgerror.FeatureNotSupported, "expected one statement, got %d", len(tree.Stmts))
	}
	subs := map[string]*pg.Node{}
	for k, def := range defs {
		dt, err := pg.Parse(def)
		if err != nil {
			return "", pgerror.New(pgerror.SyntaxError, "definition of %s: %v", k, err)
		}
		if len(dt.Stmts) != 1 || dt.Stmts[0].Stmt.GetSelectStmt() == nil {
			return "", pgerror.New(pgerror.FeatureNotSupported, "definition of %s is not one SELECT", k)
		}
		subs[strings.ToLower(k)] = dt.Stmts[0].Stmt
	}
	ctes := map[string]bool{}
	walkMessages(tree.ProtoReflect(), func(m protoreflect.Message) bool {
		if c, ok := m.Interface().(*pg.CommonTableExpr); ok {
			ctes[strings.ToLower(c.Ctename)] = true
		}
		return true
	})
	key := func(rv *pg.RangeVar) string {
		if rv == nil || rv.Catalogname != "" {
			return ""
		}
		s := strings.ToLower(rv.Schemaname)
		if s == "" {
			if ctes[strings.ToLower(rv.Relname)] {
				return ""
			}
			s = strings.ToLower(schema)
		}
		k := s + "." + strings.ToLower(rv.Relname)
		if _, ok := subs[k]; !ok {
			return ""
		}
		return k
	}
	replaced := map[string]bool{} // schema.name of qualified references replaced
	n := 0
	walkMessages(tree.ProtoReflect(), func(m protoreflect.Message) bool {
		node, ok := m.Interface().(*pg.Node)
		if !ok {
			return true
		}
		rv := node.GetRangeVar()
		k := key(rv)
		if k == "" {
			return true
		}
		alias := &pg.Alias{Aliasname: rv.Relname}
		if rv.Alias != nil {
			alias = rv.Alias
		}
		if rv.Schemaname != "" {
			replaced[strings.ToLower(rv.Schemaname)+"\x00"+strings.ToLower(rv.Relname)] = true
		}
		// A fresh copy per reference: the tree must not share nodes.
		sub := proto.Clone(subs[k]).(*pg.Node)
		node.Node = &pg.Node_RangeSubselect{RangeSubselect: &pg.RangeSubselect{Subquery: sub, Alias: alias}}
		n++
		return false // the definition reads canonical, never what it replaces
	})
	if n == 0 {
		return "", pgerror.New(pgerror.FeatureNotSupported, "the statement reads none of the relations to substitute")
	}
	if len(replaced) > 0 {
		walkMessages(tree.ProtoReflect(), func(m protoreflect.Message) bool {
			cr, ok := m.Interface().(*pg.ColumnRef)
			if !ok || len(cr.Fields) < 3 {
				return true
			}
			s, t := cr.Fields[0].GetString_(), cr.Fields[1].GetString_()
			if s != nil && t != nil && replaced[strings.ToLower(s.Sval)+"\x00"+strings.ToLower(t.Sval)] {
				cr.Fields = cr.Fields[1:]
			}
			return true
		})
	}
	out, err := pg.Deparse(tree)
	if err != nil {
		return "", pgerror.New(pgerror.InternalError, "deparse: %v", err)
	}
	return out, nil
}

// walkMessages calls fn for every message of the tree rooted at m, parents
// before children; fn returning false skips the message's children (fn
// may have replaced them).
func walkMessages(m protoreflect.Message, fn func(protoreflect.Message) bool) {
	if !m.IsValid() {
		return
	}
	if !fn(m) {
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walkMessages(l.Get(i).Message(), fn)
			}
		case fd.IsMap():
		default:
			walkMessages(v.Message(), fn)
		}
		return true
	})
}
