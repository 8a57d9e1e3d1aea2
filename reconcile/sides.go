package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/projections"
)

// pairing is the point in time a run compared at.
type pairing struct {
	asOf      uint64  // canonical commit both internal sides were pinned to
	watermark *uint64 // the serving watermark paired with (nil: no projection read)
	head      uint64  // canonical head when the run started
	// paired is false when the serving side kept moving while it was read,
	// or projections read disagree on their watermark: differences are
	// then pending, never exceptions.
	paired bool
	// projections read, with their watermarks
	projs []sideMark
	// external is set when the right side was read from right_dsn.
	external bool
}

// sideMark is one relation a run read and the point it was read at.
type sideMark struct {
	side, relation, kind string
	commit               *uint64
}

// ErrNotMaterialized: a projection the rule reads has no generation yet
// (the run is pending, not failed).
var ErrNotMaterialized = errors.New("projection not materialized yet")

// projectionsRead lists the serving projections the rule's sides read.
func (e *Engine) projectionsRead(r *catalog.Reconciliation) []string {
	var out []string
	for _, rel := range append(append([]string{}, r.LeftRelations...), r.RightRelations...) {
		name, ok := strings.CutPrefix(rel, "serving.")
		if !ok || e.mat == nil {
			continue
		}
		if _, isProj := e.mat.Projection(name); isProj && !containsFold(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// watermarks reads the current watermark of each projection.
func (e *Engine) watermarks(ctx context.Context, projs []string) ([]projections.Watermark, error) {
	out := make([]projections.Watermark, len(projs))
	for i, p := range projs {
		wm, err := e.mat.Store().Watermark(ctx, p)
		if errors.Is(err, projections.ErrNoGeneration) {
			return nil, fmt.Errorf("serving.%s: %w", p, ErrNotMaterialized)
		}
		if err != nil {
			return nil, err
		}
		out[i] = wm
	}
	return out, nil
}

func sameMarks(a, b []projections.Watermark) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// maxReadAttempts bounds how often a run re-reads a serving side that
// moved while it was read.
const maxReadAttempts = 4

// read reads both sides of r at a paired point in time.
func (e *Engine) read(ctx context.Context, r *catalog.Reconciliation) (left, right rows, p pairing, err error) {
	return e.readSides(ctx, r, true)
}

// readSides reads the left side of r, and the right side too when
// withRight, at a paired point in time. Without the right side only the
// pairing of the left side is established (an external right side is then
// read by the caller, range by range).
func (e *Engine) readSides(ctx context.Context, r *catalog.Reconciliation, withRight bool) (left, right rows, p pairing, err error) {
	p.head = e.canon.Head().ID
	projs := e.projectionsRead(r)
	if len(projs) == 0 {
		p.asOf, p.paired = p.head, true
		left, right, err = e.readBoth(ctx, r, p.asOf, withRight)
		p.external = r.RightDSN != ""
		p.projs = e.marks(r, p, nil)
		return left, right, p, err
	}
	for attempt := 0; attempt < maxReadAttempts; attempt++ {
		before, err := e.watermarks(ctx, projs)
		if err != nil {
			return rows{}, rows{}, p, err
		}
		p.asOf, p.paired = before[0].Commit, true
		for _, wm := range before[1:] {
			if wm.Commit != p.asOf {
				p.paired = false
				p.asOf = min(p.asOf, wm.Commit)
			}
		}
		w := p.asOf
		p.watermark = &w
		left, right, err = e.readBoth(ctx, r, p.asOf, withRight)
		if err != nil {
			return rows{}, rows{}, p, err
		}
		after, err := e.watermarks(ctx, projs)
		if err != nil {
			return rows{}, rows{}, p, err
		}
		p.external = r.RightDSN != ""
		p.projs = e.marks(r, p, before)
		if sameMarks(before, after) {
			return left, right, p, nil
		}
		select {
		case <-ctx.Done():
			return rows{}, rows{}, p, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
	p.paired = false // the projection kept moving: report, do not open
	return left, right, p, nil
}

// marks describes what each relation was read at.
func (e *Engine) marks(r *catalog.Reconciliation, p pairing, wms []projections.Watermark) []sideMark {
	var out []sideMark
	projs := e.projectionsRead(r)
	add := func(side string, rels []string, external bool) {
		for _, rel := range rels {
			m := sideMark{side: side, relation: rel}
			schema, name, _ := strings.Cut(rel, ".")
			switch {
			case external:
				m.kind = "external"
			case schema == "canonical":
				m.kind = "canonical"
				c := p.asOf
				m.commit = &c
			case schema == "serving":
				m.kind = "serving"
				for i, pr := range projs {
					if pr == name && i < len(wms) {
						c := wms[i].Commit
						m.commit = &c
					}
				}
			default:
				m.kind = schema
			}
			out = append(out, m)
		}
	}
	add("left", r.LeftRelations, false)
	add("right", r.RightRelations, r.RightDSN != "")
	return out
}

// readBoth runs both sides (the right one only when withRight) with
// canonical pinned at asOf.
func (e *Engine) readBoth(ctx context.Context, r *catalog.Reconciliation, asOf uint64, withRight bool) (left, right rows, err error) {
	if left, err = e.internal(ctx, r.Left, asOf); err != nil {
		return rows{}, rows{}, fmt.Errorf("left side: %w", err)
	}
	switch {
	case r.Right == "" || !withRight:
	case r.RightDSN != "":
		if right, err = e.external(ctx, r); err != nil {
			return rows{}, rows{}, fmt.Errorf("right side: %w", err)
		}
	default:
		if right, err = e.internal(ctx, r.Right, asOf); err != nil {
			return rows{}, rows{}, fmt.Errorf("right side: %w", err)
		}
	}
	return left, right, nil
}

// internal runs a side on dualgate's engine with canonical pinned at asOf.
// A side that reads an entity's or a projection's columns as they are is
// read from the store directly: same rows, without planning and
// converting every row through the engine.
func (e *Engine) internal(ctx context.Context, sql string, asOf uint64) (rows, error) {
	if schema, rel, cols, ok := plainSelect(sql); ok {
		switch {
		case schema == "canonical" && asOf > 0:
			if rs, ok, err := e.scanCanonical(ctx, rel, cols, asOf); ok || err != nil {
				return rs, err
			}
		case schema == "serving" && e.mat != nil:
			if _, isProj := e.mat.Projection(rel); isProj {
				return e.scanServing(ctx, rel, cols)
			}
		}
	}
	q := sql
	if asOf > 0 {
		var err error
		if q, err = projections.PinAsOf(sql, asOf); err != nil {
			return rows{}, err
		}
	}
	cols, rs, err := e.query(ctx, q)
	if err != nil {
		return rows{}, err
	}
	return normalized(cols, rs)
}

func normalized(cols []string, rs [][]any) (rows, error) {
	for _, r := range rs {
		for i, v := range r {
			n, err := normalize(v)
			if err != nil {
				return rows{}, err
			}
			r[i] = n
		}
	}
	return rows{cols: cols, rows: rs}, nil
}

// externalTimeout bounds reading a legacy system.
const externalTimeout = 2 * time.Minute

// external reads the right side from the rule's right_dsn with pgx.
func (e *Engine) external(ctx context.Context, r *catalog.Reconciliation) (rows, error) {
	dsn, err := r.ResolveRightDSN()
	if err != nil {
		return rows{}, fmt.Errorf("%w: %w", ErrNotConfigured, err)
	}
	ctx, cancel := context.WithTimeout(ctx, externalTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return rows{}, fmt.Errorf("connect to right_dsn: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	res, err := conn.Query(ctx, r.Right)
	if err != nil {
		return rows{}, err
	}
	defer res.Close()
	var cols []string
	for _, f := range res.FieldDescriptions() {
		cols = append(cols, f.Name)
	}
	var out [][]any
	for res.Next() {
		vals, err := res.Values()
		if err != nil {
			return rows{}, err
		}
		out = append(out, vals)
	}
	if err := res.Err(); err != nil {
		return rows{}, err
	}
	return normalized(cols, out)
}

// scanCanonical reads columns cols of entity table at commit asOf from the
// canonical store; ok is false when the table or a column is not there
// (the engine then answers, with its own error).
func (e *Engine) scanCanonical(ctx context.Context, table string, cols []string, asOf uint64) (rows, bool, error) {
	it, err := e.canon.Scan(ctx, table, canonical.ScanOptions{AsOf: asOf})
	if err != nil {
		return rows{}, false, nil
	}
	defer it.Close()
	ts := it.Schema()
	idx := make([]int, len(cols))
	for i, c := range cols {
		if idx[i] = ts.ColumnIndex(c); idx[i] < 0 {
			return rows{}, false, nil
		}
	}
	var out [][]any
	for it.Next() {
		row := it.Row()
		r := make([]any, len(idx))
		for i, j := range idx {
			r[i] = row[j]
		}
		out = append(out, r)
	}
	if err := it.Err(); err != nil {
		return rows{}, true, err
	}
	rs, err := normalized(cols, out)
	return rs, true, err
}

// scanServing reads columns cols of projection proj from the store.
func (e *Engine) scanServing(ctx context.Context, proj string, cols []string) (rows, error) {
	p, _ := e.mat.Projection(proj)
	idx := make([]int, len(cols))
	for i, c := range cols {
		idx[i] = -1
		for j, pc := range p.Columns {
			if strings.EqualFold(pc.Name, c) {
				idx[i] = j
			}
		}
		if idx[i] < 0 {
			return rows{}, fmt.Errorf("serving.%s has no column %s", proj, c)
		}
	}
	var out [][]any
	err := e.mat.Store().Scan(ctx, proj, func(_, row []any) error {
		r := make([]any, len(idx))
		for i, j := range idx {
			if j < len(row) {
				r[i] = row[j]
			}
		}
		out = append(out, r)
		return nil
	})
	if errors.Is(err, projections.ErrNoGeneration) {
		return rows{}, fmt.Errorf("serving.%s: %w", proj, ErrNotMaterialized)
	}
	if err != nil {
		return rows{}, err
	}
	return rows{cols: cols, rows: out}, nil
}
