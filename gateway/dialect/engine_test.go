package dialect

import (
	"context"
	"fmt"
	"strings"
	"testing"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/vt/sqlparser"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/gateway/pgfunc"
)

// testEngine is a GMS in-memory engine configured the way the gateway runs
// it: pgfunc.SessionInit, the pgfunc functions and table functions.
type testEngine struct {
	t   testing.TB
	e   *sqle.Engine
	ctx *sql.Context
}

func newTestEngine(t testing.TB) *testEngine {
	t.Helper()
	db := memory.NewDatabase("public")
	db.BaseDatabase.EnablePrimaryKeyIndexes()
	pro0 := memory.NewDBProvider(db)
	tfp, err := pro0.WithTableFunctions(pgfunc.TableFunctions()...)
	if err != nil {
		t.Fatal(err)
	}
	pro := tfp.(*memory.DbProvider)
	e := sqle.NewDefault(pro)
	pgfunc.Register(e)
	sess := memory.NewSession(sql.NewBaseSessionWithClientServer("dualgate", sql.Client{User: "alice", Address: "127.0.0.1"}, 77), pro)
	ctx := sql.NewContext(context.Background(), sql.WithSession(sess))
	ctx.SetCurrentDatabase("public")
	te := &testEngine{t: t, e: e, ctx: ctx}
	for _, q := range pgfunc.SessionInit {
		te.mustExec(q)
	}
	return te
}

// run executes engine SQL and returns rows rendered as strings.
func (te *testEngine) run(q string, binds map[string]sqlparser.Expr) ([]string, error) {
	var (
		iter sql.RowIter
		err  error
	)
	if binds != nil {
		_, iter, _, err = te.e.QueryWithBindings(te.ctx, q, nil, binds, nil)
	} else {
		_, iter, _, err = te.e.Query(te.ctx, q)
	}
	if err != nil {
		return nil, err
	}
	rows, err := sql.RowIterToRows(te.ctx, iter)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rows {
		parts := make([]string, len(r))
		for i, v := range r {
			if d, ok := v.(decimal.Decimal); ok && d.Exponent() < 0 {
				parts[i] = d.StringFixed(-d.Exponent())
			} else if v == nil {
				parts[i] = "NULL"
			} else {
				parts[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out, nil
}

func (te *testEngine) mustExec(q string) []string {
	te.t.Helper()
	rows, err := te.run(q, nil)
	if err != nil {
		te.t.Fatalf("engine %q: %v", q, err)
	}
	return rows
}
