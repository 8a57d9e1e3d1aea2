package ingest

import (
	"fmt"
	"strings"

	"github.com/dualgate/dualgate/catalog"
)

// RowError is a row refused by Batcher.CopyRows: Row is its 0-based index
// among the rows passed, Column the column whose value does not fit.
type RowError struct {
	Row    int
	Column string
	Err    error
}

func (e *RowError) Error() string {
	return fmt.Sprintf("row %d column %s: %v", e.Row+1, e.Column, e.Err)
}

// Unwrap returns the value's error.
func (e *RowError) Unwrap() error { return e.Err }

// copyTypes are the source column types whose values CopyRows takes as
// the gateway decodes them from COPY text, because Conform turns them into
// exactly the store values an INSERT through the engine's raw table stores
// (TestCopyRawMatchesInsert in cmd/internal/primary checks it). Other
// types (real, unconstrained numeric, json, bytea, ...) are converted by
// the engine's column types on INSERT, so their COPY takes that path.
func copyType(t catalog.Type) bool {
	switch t.Name {
	case "smallint", "integer", "bigint", "text", "varchar", "char", "boolean", "double precision",
		"date", "timestamp", "timestamptz":
		return true
	case "numeric":
		return len(t.Args) >= 1
	}
	return false
}

// CopyColumns returns the Postgres type OIDs of the named columns of
// raw.<source>, for a COPY whose rows CopyRows may take; ok is false when
// the source is unknown, a column is not a source column (or is named
// twice), or its type is not one CopyRows takes.
func (b *Batcher) CopyColumns(source string, columns []string) (oids []uint32, ok bool) {
	src := b.p.cat.Source(source)
	if src == nil || len(columns) == 0 {
		return nil, false
	}
	pos, ok := copyPositions(src, columns)
	if !ok {
		return nil, false
	}
	oids = make([]uint32, len(columns))
	for i, j := range pos {
		t := src.Columns[j].Type
		if !copyType(t) {
			return nil, false
		}
		oids[i] = t.OID
	}
	return oids, true
}

// copyPositions maps named columns to source column positions.
func copyPositions(src *catalog.Source, columns []string) ([]int, bool) {
	pos := make([]int, len(columns))
	seen := make([]bool, len(src.Columns))
	for i, c := range columns {
		pos[i] = -1
		for j, sc := range src.Columns {
			if strings.EqualFold(sc.Name, c) {
				pos[i] = j
				break
			}
		}
		if pos[i] < 0 || seen[pos[i]] {
			return nil, false
		}
		seen[pos[i]] = true
	}
	return pos, true
}

// CopyRows buffers rows COPYed into raw.<source> for the session, like
// one Raw call per row (columns not named are NULL): values are the
// gateway's decoding of the COPY text for the types CopyColumns returned.
// Every value is conformed to its column type first; a value that does
// not fit fails the whole COPY with a *RowError and nothing is buffered.
// rows (and the rows in it) are owned by the Batcher afterwards.
func (b *Batcher) CopyRows(sessionID uint32, source string, columns []string, rows [][]any) error {
	src := b.p.cat.Source(source)
	if src == nil {
		return fmt.Errorf("ingest: unknown source %q", source)
	}
	pos, ok := copyPositions(src, columns)
	if !ok {
		return fmt.Errorf("ingest: COPY raw.%s (%s): not all source columns", source, strings.Join(columns, ", "))
	}
	if len(rows) == 0 {
		return nil // as an INSERT of no rows: nothing to commit, no notice
	}
	identity := len(pos) == len(src.Columns)
	for i, j := range pos {
		identity = identity && i == j
	}
	out := rows
	var slab []any
	n := len(src.Columns)
	for r, row := range rows {
		if len(row) != len(columns) {
			return fmt.Errorf("ingest: COPY raw.%s row %d has %d values for %d columns", source, r+1, len(row), len(columns))
		}
		full := row
		if !identity {
			if len(slab) < n {
				slab = make([]any, n*1024)
			}
			full, slab = slab[:n:n], slab[n:]
		}
		for i, v := range row {
			j := pos[i]
			c, err := conform(src.Columns[j].Type, v)
			if err != nil {
				return &RowError{Row: r, Column: src.Columns[j].Name, Err: err}
			}
			full[j] = c
		}
		out[r] = full
	}
	s := b.buf(sessionID)
	if _, ok := s.raw[source]; !ok {
		s.rawOrder = append(s.rawOrder, source)
	}
	if s.raw[source] == nil {
		s.raw[source] = out
	} else {
		s.raw[source] = append(s.raw[source], out...)
	}
	return nil
}
