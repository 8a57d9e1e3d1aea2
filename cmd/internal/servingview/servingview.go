// Package servingview is the dualgate.projections system view (DESIGN.md:
// watermark and lag per projection), shared by the primary, whose
// materializer reports the statuses, and the sidecar, which reports what
// it sees in Redis against the primary's head.
package servingview

import (
	"context"

	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/gateway/pgtypes"
	"github.com/dualgate/dualgate/projections"
)

// Table is dualgate.projections with the given description, one row per
// status statuses returns.
func Table(description string, statuses func(ctx context.Context) []projections.Status) gateway.SystemTable {
	return gateway.SystemTable{
		Name:        "projections",
		Description: description,
		Columns: []gateway.SystemColumn{{Name: "name", OID: pgtypes.Text}, {Name: "store", OID: pgtypes.Text},
			{Name: "generation", OID: pgtypes.Text}, {Name: "watermark_commit", OID: pgtypes.Int8},
			{Name: "head_commit", OID: pgtypes.Int8}, {Name: "lag_commits", OID: pgtypes.Int8},
			{Name: "lag_ms", OID: pgtypes.Int8}, {Name: "sla_ms", OID: pgtypes.Int8}, {Name: "state", OID: pgtypes.Text},
			{Name: "error", OID: pgtypes.Text}},
		Rows: func(ctx context.Context) ([][]any, error) {
			var rows [][]any
			for _, st := range statuses(ctx) {
				var errText any
				if st.Err != "" {
					errText = st.Err
				}
				rows = append(rows, []any{st.Name, st.Store, st.Generation, int64(st.Watermark), int64(st.Head),
					int64(st.LagCommits), st.Lag.Milliseconds(), st.SLA.Milliseconds(), string(st.State), errText})
			}
			return rows, nil
		},
	}
}
