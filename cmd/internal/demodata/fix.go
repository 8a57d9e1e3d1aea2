package demodata

import (
	"context"
	"fmt"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/canonical/ingest"
)

// ApplyFix applies a steward fix as a correction commit (committer by,
// message f.Message): it reads the entity row at head, sets the fix's
// columns and hands the row to Pipeline.Correct, which checks it like any
// correction. A row that no longer exists is an error.
func ApplyFix(ctx context.Context, p *ingest.Pipeline, f Fix, by string) (ingest.Report, error) {
	store := p.Store()
	ts, err := store.Schema(f.Entity, canonical.HEAD)
	if err != nil {
		return ingest.Report{}, err
	}
	row, ok, err := store.Get(ctx, f.Entity, f.Key, canonical.HEAD)
	if err != nil {
		return ingest.Report{}, err
	}
	if !ok {
		return ingest.Report{}, fmt.Errorf("demodata: fix of %s %v: no such row", f.Entity, f.Key)
	}
	for i, c := range f.Columns {
		j := ts.ColumnIndex(c)
		if j < 0 {
			return ingest.Report{}, fmt.Errorf("demodata: fix of %s: no column %s", f.Entity, c)
		}
		row[j] = f.Values[i]
	}
	return p.Correct(ctx, f.Entity, []canonical.Change{{Table: f.Entity, Op: canonical.OpUpsert, Row: row}}, by, f.Message)
}
