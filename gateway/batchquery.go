package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"

	"github.com/dualgate/dualgate/gateway/dialect"
	"github.com/dualgate/dualgate/gateway/pgerror"
)

// BatchColumn names and types a column of the `batch` relation.
type BatchColumn struct {
	Name string
	OID  uint32 // Postgres type
}

// batchSeq numbers the private schemas QueryBatch creates.
var batchSeq atomic.Uint64

// batchSchemaPrefix starts the names of QueryBatch's private schemas,
// which the Postgres catalogs of other sessions do not list.
const batchSchemaPrefix = "_batch_"

// QueryBatch runs one Postgres SELECT (a catalog mapping, a quality rule
// check) over rows exposed as a relation named `batch`, and returns the
// result's column names and rows. The rows are visible only to this call:
// they sit in a private schema that is the call's current schema, and the
// schema is removed afterwards. The pipelines use it through small
// interfaces of their own, so they never import the gateway.
func (e *Engine) QueryBatch(ctx context.Context, query string, cols []BatchColumn, rows [][]any) (names []string, out [][]any, err error) {
	defer func() {
		if r := recover(); r != nil { // an engine bug must not take the pipelines down
			names, out, err = nil, nil, pgerror.New(pgerror.InternalError, "engine panicked on %q: %v", query, r)
		}
	}()
	stmts, err := dialect.Parse(query)
	if err != nil {
		return nil, nil, err
	}
	if len(stmts) != 1 || stmts[0].Kind != dialect.KindQuery {
		return nil, nil, pgerror.New(pgerror.SyntaxError, "expected exactly one SELECT over batch")
	}
	schema := batchSchemaPrefix + strconv.FormatUint(batchSeq.Add(1), 10)
	sysCols := make([]SystemColumn, len(cols))
	for i, c := range cols {
		sysCols[i] = SystemColumn{Name: c.Name, OID: c.OID}
	}
	table := SystemTable{Name: "batch", Columns: sysCols, Rows: func(context.Context) ([][]any, error) { return rows, nil }}
	if err := e.AddSystemSchema(schema, []SystemTable{table}); err != nil {
		return nil, nil, err
	}
	defer e.dropSystemSchema(schema)

	es, err := e.newSession(0, "dualgate", "internal")
	if err != nil {
		return nil, nil, err
	}
	defer es.close()
	es.sess.SetCurrentDatabase(schema)
	sctx := es.context(ctx, stmts[0].Engine)
	sch, iter, err := es.run(sctx, stmts[0].Engine, nil)
	if err != nil {
		return nil, nil, err
	}
	defer iter.Close(sctx)
	names = make([]string, len(sch))
	for i, c := range sch {
		names[i] = c.Name
	}
	for {
		row, err := iter.Next(sctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("batch query: %w", engineError(err))
		}
		out = append(out, append([]any(nil), row...))
	}
	return names, out, nil
}

// dropSystemSchema removes a schema registered with AddSystemSchema.
func (e *Engine) dropSystemSchema(name string) {
	e.provider.remove(name)
	e.forget(name, []dialect.Relation{{Schema: name, Name: "batch"}})
}
