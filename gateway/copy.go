package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unsafe"

	"github.com/dolthub/vitess/go/vt/sqlparser"
	"github.com/jackc/pgproto3/v2"

	"github.com/dualgate/dualgate/gateway/dialect"
	"github.com/dualgate/dualgate/gateway/pgerror"
)

// copyBatchRows is how many COPY rows go into one engine INSERT.
const copyBatchRows = 256

// copyFrom runs COPY ... FROM STDIN: the whole input is received and every
// line parsed and type-checked before anything is written; the rows are
// then inserted in one transaction, so a bad line (reported with its line
// number) leaves nothing behind.
func (s *session) copyFrom(st *dialect.Statement) error {
	cp := st.Copy
	if cp.Format == "binary" {
		return pgerror.Unsupported("COPY FROM STDIN in binary format").WithHint("use FORMAT text or csv")
	}
	ctx, release := s.c.statementContext(s.settings.statementTimeout())
	defer release()
	if rc, ok := s.c.srv.cfg.Hooks.(RawCopier); ok && strings.EqualFold(cp.Table.Schema, "raw") && len(cp.Columns) > 0 {
		if oids, ok := rc.RawCopyColumns(cp.Table.Name, cp.Columns); ok {
			return s.copyFromRaw(ctx, st, rc, oids)
		}
	}
	table := qualifiedName(cp.Table)
	cols, oids, err := s.copyColumns(ctx, table, cp.Columns)
	if err != nil {
		return err
	}
	formats := make([]uint16, len(cols))
	if err := s.c.send(&pgproto3.CopyInResponse{OverallFormat: 0, ColumnFormatCodes: formats}); err != nil {
		return err
	}
	if err := s.c.flush(); err != nil {
		return writeError{err}
	}
	data, err := s.receiveCopyData()
	if err != nil {
		return err
	}
	parser := newCopyParser(cp, data)
	var rows [][]sqlparser.Expr
	for {
		fields, line, err := parser.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return copyLineError(cp, line, err)
		}
		if len(fields) != len(cols) {
			if len(fields) < len(cols) {
				return copyLineError(cp, line, fmt.Errorf("missing data for column %q", cols[len(fields)]))
			}
			return copyLineError(cp, line, errors.New("extra data after last expected column"))
		}
		row := make([]sqlparser.Expr, len(fields))
		for i, f := range fields {
			var v any
			if f != nil {
				if v, err = s.codec.Decode(oids[i], 0, f); err != nil {
					return copyLineError(cp, line, fmt.Errorf("column %q: %w", cols[i], err))
				}
			}
			if row[i], err = bindExpr(v); err != nil {
				return copyLineError(cp, line, fmt.Errorf("column %q: %w", cols[i], err))
			}
		}
		rows = append(rows, row)
		parser.lines = append(parser.lines, line)
	}
	if err := s.insertCopyRows(ctx, table, cols, rows, parser.lines, cp); err != nil {
		return err
	}
	l := s.labelFor(ctx, st)
	return s.complete(commandTag("COPY", uint64(len(rows))), &l)
}

// RawCopier is an optional interface of Config.Hooks: COPY ... FROM STDIN
// into raw.<source> with a column list then skips the engine's INSERTs
// and hands the decoded rows straight to the hooks, which buffer them
// for the session exactly as rows inserted into the raw table (they
// become durable with the statement's or transaction's Commit).
type RawCopier interface {
	// RawCopyColumns returns the Postgres type of each named column of
	// raw.<source>, to decode its COPY text with; ok is false when this
	// COPY must go through the engine instead (not a source, a column
	// that is not a source column, a type the direct path does not take).
	RawCopyColumns(source string, columns []string) (oids []uint32, ok bool)
	// CopyRaw buffers rows (values in columns order, as Codec.TextToValue
	// decodes them; nil is NULL) for the session. A *CopyRowError names
	// the row that was refused; then nothing of the COPY is buffered.
	CopyRaw(ctx context.Context, sessionID uint32, source string, columns []string, rows [][]any) error
}

// CopyRowError is a row of a COPY refused by RawCopier.CopyRaw (Row is
// its 0-based index among the rows passed).
type CopyRowError struct {
	Row int
	Err error
}

func (e *CopyRowError) Error() string { return fmt.Sprintf("row %d: %v", e.Row+1, e.Err) }

// Unwrap returns the row's error.
func (e *CopyRowError) Unwrap() error { return e.Err }

// copyFromRaw is copyFrom into raw.<source> through a RawCopier: the
// input is parsed and decoded here (text-format input line by line as it
// arrives, overlapping the client's sending; text fields without escapes
// are not copied), then buffered by the hooks in one call. As in copyFrom,
// nothing is buffered unless every line is good.
func (s *session) copyFromRaw(ctx context.Context, st *dialect.Statement, rc RawCopier, oids []uint32) error {
	cp := st.Copy
	formats := make([]uint16, len(cp.Columns))
	if err := s.c.send(&pgproto3.CopyInResponse{OverallFormat: 0, ColumnFormatCodes: formats}); err != nil {
		return err
	}
	if err := s.c.flush(); err != nil {
		return writeError{err}
	}
	rr := &rawRows{s: s, cp: cp, oids: oids, parser: newCopyParser(cp, nil)}
	var buf []byte
	total, done := 0, false
	for !done {
		msg, err := s.c.fr.receive()
		if err != nil {
			return writeError{err}
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			total += len(m.Data)
			if total > s.c.srv.cfg.MaxMessageSize*16 {
				rr.fail(pgerror.New(pgerror.ProgramLimitExceeded, "COPY input larger than %d bytes", s.c.srv.cfg.MaxMessageSize*16).WithHint("split the input into several COPY statements"))
				buf = nil
				continue
			}
			if rr.err != nil {
				continue // only drained now
			}
			// buf is only appended to, never written where it was read:
			// the decoded strings share its bytes. Text input is parsed as
			// it comes, so when buf is full the unparsed tail (at most a
			// line) moves to a new buffer instead of everything.
			if streaming := !rr.parser.csv; streaming && len(buf)+len(m.Data) > cap(buf) {
				tail := buf[rr.parser.pos:]
				nb := make([]byte, len(tail), max(1<<20, 2*(len(tail)+len(m.Data))))
				copy(nb, tail)
				buf, rr.parser.pos = nb, 0
			}
			buf = append(buf, m.Data...)
			if !rr.parser.csv {
				// Text format: parse the complete lines received so far.
				if nl := bytes.LastIndexByte(buf, '\n'); nl >= 0 {
					rr.parse(buf[:nl+1])
				}
			}
		case *pgproto3.CopyDone:
			done = true
		case *pgproto3.CopyFail:
			return pgerror.New(pgerror.QueryCanceled, "COPY from stdin failed: %s", m.Message)
		case *pgproto3.Flush, *pgproto3.Sync:
			// Postgres ignores these during COPY IN.
		default:
			return pgerror.New(pgerror.ProtocolViolation, "unexpected message type %T during COPY from stdin", msg)
		}
	}
	if rr.err == nil {
		rr.parse(buf)
	}
	if rr.err != nil {
		return rr.err
	}
	n := rr.rows.len()
	if err := rc.CopyRaw(ctx, s.c.id, cp.Table.Name, cp.Columns, rr.rows.flat()); err != nil {
		var re *CopyRowError
		if errors.As(err, &re) && re.Row >= 0 && re.Row < rr.lines.len() {
			return copyLineError(cp, rr.lines.at(re.Row), re.Err)
		}
		return err
	}
	l := s.labelFor(ctx, st)
	return s.complete(commandTag("COPY", uint64(n)), &l)
}

// rawRows collects the decoded rows of a COPY into raw.<source>.
type rawRows struct {
	s      *session
	cp     *dialect.Copy
	oids   []uint32
	parser *copyParser
	rows   chunked[[]any]
	lines  chunked[int] // input line of each row, for errors
	slab   []any
	ended  bool  // the end-of-data marker was read
	err    error // the first bad line (the rest of the input is only drained)
}

func (r *rawRows) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// parse decodes the rows of data (the input received so far, which
// extends what earlier calls saw) from where the last call stopped.
func (r *rawRows) parse(data []byte) {
	if r.err != nil || r.ended {
		return
	}
	p, n := r.parser, len(r.cp.Columns)
	p.data = data
	for {
		fields, line, err := p.next()
		if errors.Is(err, io.EOF) {
			r.ended = p.ended
			return
		}
		if err != nil {
			r.fail(copyLineError(r.cp, line, err))
			return
		}
		if len(fields) != n {
			if len(fields) < n {
				r.fail(copyLineError(r.cp, line, fmt.Errorf("missing data for column %q", r.cp.Columns[len(fields)])))
			} else {
				r.fail(copyLineError(r.cp, line, errors.New("extra data after last expected column")))
			}
			return
		}
		if len(r.slab) < n {
			r.slab = make([]any, n*1024)
		}
		row := r.slab[:n:n]
		r.slab = r.slab[n:]
		for i, f := range fields {
			if f == nil {
				continue
			}
			txt := ""
			if len(f) > 0 {
				txt = unsafe.String(&f[0], len(f))
			}
			if row[i], err = r.s.codec.TextToValue(r.oids[i], txt); err != nil {
				r.fail(copyLineError(r.cp, line, fmt.Errorf("column %q: %w", r.cp.Columns[i], err)))
				return
			}
		}
		r.rows.add(row)
		r.lines.add(line)
	}
}

// receiveCopyData collects CopyData until CopyDone; CopyFail aborts.
func (s *session) receiveCopyData() ([]byte, error) {
	var buf bytes.Buffer
	for {
		msg, err := s.c.fr.receive()
		if err != nil {
			return nil, writeError{err}
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if buf.Len()+len(m.Data) > s.c.srv.cfg.MaxMessageSize*16 {
				return nil, pgerror.New(pgerror.ProgramLimitExceeded, "COPY input larger than %d bytes", s.c.srv.cfg.MaxMessageSize*16).WithHint("split the input into several COPY statements")
			}
			buf.Write(m.Data)
		case *pgproto3.CopyDone:
			return buf.Bytes(), nil
		case *pgproto3.CopyFail:
			return nil, pgerror.New(pgerror.QueryCanceled, "COPY from stdin failed: %s", m.Message)
		case *pgproto3.Flush, *pgproto3.Sync:
			// Postgres ignores these during COPY IN.
		default:
			return nil, pgerror.New(pgerror.ProtocolViolation, "unexpected message type %T during COPY from stdin", msg)
		}
	}
}

func copyLineError(cp *dialect.Copy, line int, err error) error {
	pe, ok := pgerror.As(err)
	code := pgerror.BadCopyFileFormat
	msg := err.Error()
	if ok {
		code, msg = pe.Code, pe.Message
	}
	return pgerror.New(code, "COPY %s, line %d: %s", cp.Table.Name, line, msg).
		WithDetail("nothing from this COPY was stored")
}

// copyColumns resolves the target columns and their Postgres types.
func (s *session) copyColumns(ctx context.Context, table string, want []string) ([]string, []uint32, error) {
	q := "SELECT * FROM " + table + " LIMIT 0"
	sctx := s.eng.context(ctx, q)
	sch, iter, err := s.eng.run(sctx, q, nil)
	if err != nil {
		return nil, nil, err
	}
	_ = iter.Close(sctx)
	byName := map[string]uint32{}
	var all []string
	for _, c := range sch {
		byName[strings.ToLower(c.Name)] = s.eng.eng.columnOID(c)
		all = append(all, c.Name)
	}
	if len(want) == 0 {
		want = all
	}
	oids := make([]uint32, len(want))
	for i, w := range want {
		oid, ok := byName[strings.ToLower(w)]
		if !ok {
			return nil, nil, pgerror.New(pgerror.UndefinedColumn, "column %q of relation %s does not exist", w, table)
		}
		oids[i] = oid
	}
	return want, oids, nil
}

// insertCopyRows writes parsed rows in batches inside one transaction
// (the session's own if one is open). When a batch fails, its rows are
// retried one by one to name the offending line.
func (s *session) insertCopyRows(ctx context.Context, table string, cols []string, rows [][]sqlparser.Expr, lines []int, cp *dialect.Copy) error {
	own := s.tx == 'I'
	if own {
		if err := s.eng.exec(ctx, "START TRANSACTION"); err != nil {
			return err
		}
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = quoteIdent(c)
	}
	prefix := "INSERT INTO " + table + " (" + strings.Join(quoted, ", ") + ") VALUES "
	insert := func(batch [][]sqlparser.Expr) error {
		var sb strings.Builder
		sb.WriteString(prefix)
		bind := make(map[string]sqlparser.Expr, len(batch)*len(cols))
		n := 0
		for r, row := range batch {
			if r > 0 {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for i, v := range row {
				if i > 0 {
					sb.WriteString(", ")
				}
				n++
				name := "v" + strconv.Itoa(n)
				sb.WriteString(":" + name)
				bind[name] = v
			}
			sb.WriteByte(')')
		}
		q := sb.String()
		sctx := s.eng.context(ctx, q)
		_, iter, err := s.eng.run(sctx, q, bind)
		if err != nil {
			return err
		}
		return drain(sctx, iter)
	}
	fail := func(err error) error {
		if own {
			_ = s.eng.exec(context.Background(), "ROLLBACK")
		}
		return err
	}
	for start := 0; start < len(rows); start += copyBatchRows {
		end := min(start+copyBatchRows, len(rows))
		if err := insert(rows[start:end]); err != nil {
			if isQueryCanceled(err) {
				return fail(err)
			}
			for i := start; i < end; i++ {
				if rerr := insert(rows[i : i+1]); rerr != nil {
					return fail(copyLineError(cp, lines[i], rerr))
				}
			}
			return fail(err)
		}
	}
	if own {
		if err := s.eng.exec(ctx, "COMMIT"); err != nil {
			return fail(err)
		}
	}
	return nil
}

func qualifiedName(r dialect.Relation) string {
	if r.Schema != "" {
		return quoteIdent(r.Schema) + "." + quoteIdent(r.Name)
	}
	return quoteIdent(r.Name)
}

// copyTo runs COPY table|(query) TO STDOUT in text or CSV format.
func (s *session) copyTo(st *dialect.Statement) error {
	cp := st.Copy
	if cp.Format == "binary" {
		return pgerror.Unsupported("COPY TO STDOUT in binary format").WithHint("use FORMAT text or csv")
	}
	q := cp.Query
	if q == "" {
		cols := "*"
		if len(cp.Columns) > 0 {
			quoted := make([]string, len(cp.Columns))
			for i, c := range cp.Columns {
				quoted[i] = quoteIdent(c)
			}
			cols = strings.Join(quoted, ", ")
		}
		q = "SELECT " + cols + " FROM " + qualifiedName(cp.Table)
	}
	ctx, release := s.c.statementContext(s.settings.statementTimeout())
	defer release()
	sctx := s.eng.context(ctx, q)
	sch, iter, err := s.eng.run(sctx, q, nil)
	if err != nil {
		return err
	}
	defer iter.Close(sctx)
	fields := s.fields(&dialect.Statement{StarIndex: -1}, sch, nil)
	formats := make([]uint16, len(fields))
	if err := s.c.send(&pgproto3.CopyOutResponse{OverallFormat: 0, ColumnFormatCodes: formats}); err != nil {
		return err
	}
	w := newCopyWriter(cp, fields)
	if cp.Header && cp.Format == "csv" {
		names := make([][]byte, len(fields))
		for i, f := range fields {
			names[i] = f.Name
		}
		if err := s.c.send(&pgproto3.CopyData{Data: w.header(names)}); err != nil {
			return err
		}
	}
	var n uint64
	var cell []byte
	for {
		row, err := iter.Next(sctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return engineError(err)
		}
		w.start()
		for i, v := range row {
			if v == nil {
				w.nullValue()
				continue
			}
			cell, err = s.codec.Encode(cell[:0], fields[i].DataTypeOID, 0, v)
			if err != nil {
				return pgerror.Wrap(pgerror.DataException, err)
			}
			w.value(i, cell)
		}
		if err := s.c.send(&pgproto3.CopyData{Data: w.end()}); err != nil {
			return err
		}
		n++
	}
	if err := s.c.send(&pgproto3.CopyDone{}); err != nil {
		return err
	}
	l := s.labelFor(ctx, st)
	return s.complete(commandTag("COPY", n), &l)
}
