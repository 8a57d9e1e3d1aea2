package sqltables

import (
	"github.com/dolthub/go-mysql-server/sql"

	"github.com/dualgate/dualgate/canonical"
)

// Writes receives the rows statements write through engine tables: inserts
// into raw.<source> (ingest) and steward DML on canonical.<entity>
// (corrections). Nothing is stored when a row arrives: the implementation
// (ingest.Batcher) buffers per session (ctx.Session.ID()) and the gateway
// commits or discards the buffer when the statement (autocommit) or the
// transaction ends, so one statement or transaction is one batch and at
// most one canonical commit.
type Writes interface {
	// Raw buffers one captured row of a source, in the source's column order.
	Raw(ctx *sql.Context, source string, row []any) error
	// Correction buffers a steward change to an entity: op upsert with the
	// new row, or op delete with the old row (its key is what matters).
	Correction(ctx *sql.Context, entity string, op canonical.Op, row []any) error
}
