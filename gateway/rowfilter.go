package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/planbuilder"
	"github.com/dolthub/go-mysql-server/sql/transform"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/dualgate/dualgate/gateway/dialect"
)

// Row filters (policies.row_filters): a session of a filtered role sees
// only the rows of the relation its filter accepts. They are applied where
// masks are (masking.go): the relation's rows are filtered as they are read,
// before masks and before anything the statement computes, so no WHERE,
// join, aggregate, COPY TO or fast-path lookup reaches the other rows.
//
// A filter applies unless another of the user's roles reads the relation
// without one; the filters of several roles are ORed (privileges are a
// union). A filter on canonical.<entity> applies to history.<entity> too;
// diff.<entity> (whose columns are to_/from_ pairs) is refused to such
// sessions. A filtered relation cannot be written by the session. A filter
// the engine cannot compile hides every row (and is logged): failing
// closed.

// compileRowFilter translates a catalog filter (Postgres expression over
// schema.table's columns) into an engine expression evaluated on the
// table's full rows.
func (e *Engine) compileRowFilter(schema, table, where string) (sql.Expression, error) {
	stmts, err := dialect.Parse("SELECT * FROM " + quoteIdent(schema) + "." + quoteIdent(table) + " WHERE " + where)
	if err != nil {
		return nil, err
	}
	if len(stmts) != 1 || stmts[0].Engine == "" {
		return nil, fmt.Errorf("row filter %q is not one expression", where)
	}
	// An unregistered session (id 0: no masks) with the gateway's SQL mode.
	es, err := e.newSession(0, "dualgate", "")
	if err != nil {
		return nil, err
	}
	ctx := es.context(context.Background(), stmts[0].Engine)
	db, err := e.provider.Database(ctx, schema)
	if err != nil {
		return nil, err
	}
	t, ok, err := db.GetTableInsensitive(ctx, table)
	if err != nil || !ok {
		return nil, fmt.Errorf("row filter: relation %s.%s: %v", schema, table, err)
	}
	tsch := t.Schema()
	stmt, _, err := e.gms.Parser.ParseOneWithOptions(ctx, stmts[0].Engine, sql.LoadSqlMode(ctx).ParserOptions())
	if err != nil {
		return nil, err
	}
	node, _, err := planbuilder.New(ctx, e.gms.Analyzer.Catalog, e.gms.EventScheduler, e.gms.Parser).BindOnly(stmt, stmts[0].Engine, nil)
	if err != nil {
		return nil, err
	}
	var cond sql.Expression
	transform.Inspect(node, func(n sql.Node) bool {
		if f, ok := n.(*plan.Filter); ok && cond == nil {
			cond = f.Expression
		}
		return cond == nil
	})
	if cond == nil {
		return nil, fmt.Errorf("row filter %q: no condition found", where)
	}
	// Bound (not analyzed) fields carry column ids; point them at the
	// positions of the table's rows.
	var bad error
	cond, _, err = transform.Expr(cond, func(x sql.Expression) (sql.Expression, transform.TreeIdentity, error) {
		gf, ok := x.(*expression.GetField)
		if !ok {
			return x, transform.SameTree, nil
		}
		i := tsch.IndexOfColName(gf.Name())
		if i < 0 {
			bad = fmt.Errorf("row filter %q: unknown column %s", where, gf.Name())
			return x, transform.SameTree, nil
		}
		return gf.WithIndex(i), transform.NewTree, nil
	})
	if err != nil {
		return nil, err
	}
	return cond, bad
}

// rowFilterDenied: the predicate used when a filter cannot be compiled.
var rowFilterDenied sql.Expression = expression.NewLiteral(false, types.Boolean)

// passes evaluates a row filter (nil: every row passes).
func passes(ctx *sql.Context, f sql.Expression, row sql.Row) (bool, error) {
	if f == nil {
		return true, nil
	}
	v, err := sql.EvaluateCondition(ctx, f, row)
	if err != nil {
		return false, err
	}
	return sql.IsTrue(v), nil
}

// orFilters joins the filters of several roles.
func orFilters(ws []string) string {
	if len(ws) == 1 {
		return ws[0]
	}
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = "(" + w + ")"
	}
	return strings.Join(parts, " OR ")
}
