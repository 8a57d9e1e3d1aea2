package primary

import (
	"context"
	"errors"
	"strings"

	"github.com/dualgate/dualgate/canonical/ingest"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/gateway/pgerror"
)

// The primary takes COPY into raw.<source> directly (gateway.RawCopier):
// the rows go from the COPY parser to the session's ingest buffer without
// one engine INSERT per 256 rows; they commit with the statement or
// transaction as inserted rows do.
var _ gateway.RawCopier = (*Side)(nil)

// RawCopyColumns implements gateway.RawCopier.
func (c *Side) RawCopyColumns(source string, columns []string) ([]uint32, bool) {
	return c.batcher.CopyColumns(source, columns)
}

// CopyRaw implements gateway.RawCopier: a value that does not fit its
// column refuses the COPY, naming the row, with the SQLSTATE PostgreSQL
// uses for it.
func (c *Side) CopyRaw(_ context.Context, sessionID uint32, source string, columns []string, rows [][]any) error {
	err := c.batcher.CopyRows(sessionID, source, columns, rows)
	var re *ingest.RowError
	if !errors.As(err, &re) {
		return err
	}
	code := pgerror.InvalidTextRepresentation
	switch msg := re.Err.Error(); {
	case strings.Contains(msg, "too long"):
		code = pgerror.StringDataRightTruncation
	case strings.Contains(msg, "out of range"), strings.Contains(msg, "overflow"):
		code = pgerror.NumericValueOutOfRange
	}
	return &gateway.CopyRowError{Row: re.Row, Err: pgerror.New(code, "column %q: %v", re.Column, re.Err)}
}
