package gateway

import (
	"errors"
	"io"
	"strings"

	"github.com/jackc/pgproto3/v2"

	"github.com/dualgate/dualgate/gateway/dialect"
)

// COPY's text and CSV formats are PostgreSQL's own, not RFC 4180: the CSV
// format tells NULL (an unquoted empty field, or the NULL string) from an
// empty string (a quoted ""), takes configurable QUOTE and ESCAPE
// characters, and the text format has backslash escapes and `\.` as an end
// marker. encoding/csv cannot express those, hence this small codec.

// copyParser splits COPY input into rows of fields; a nil field is NULL.
type copyParser struct {
	data   []byte
	pos    int
	line   int // line number of the next row (1-based)
	csv    bool
	delim  byte
	null   string
	quote  byte
	escape byte
	header bool
	lines  []int    // line numbers of accepted rows, kept by the caller
	fields [][]byte // textRow's fields, reused row to row
	ended  bool     // the end-of-data marker was read
}

func newCopyParser(cp *dialect.Copy, data []byte) *copyParser {
	p := &copyParser{data: data, line: 1, csv: cp.Format == "csv", header: cp.Header}
	p.delim = '\t'
	p.null = `\N`
	if p.csv {
		p.delim, p.null, p.quote = ',', "", '"'
		if cp.Quote != "" {
			p.quote = cp.Quote[0]
		}
		p.escape = p.quote
		if cp.Escape != "" {
			p.escape = cp.Escape[0]
		}
	}
	if cp.Delimiter != "" {
		p.delim = cp.Delimiter[0]
	}
	if cp.Format == "csv" || cp.Null != "" {
		p.null = cp.Null
		if cp.Null == "" && !p.csv {
			p.null = ""
		}
	}
	return p
}

// next returns the fields of the next row and the line it started on.
func (p *copyParser) next() ([][]byte, int, error) {
	for {
		if p.ended || p.pos >= len(p.data) {
			return nil, p.line, io.EOF
		}
		line := p.line
		var fields [][]byte
		var err error
		if p.csv {
			fields, err = p.csvRow()
		} else {
			fields, err = p.textRow()
		}
		if err != nil {
			return nil, line, err
		}
		if fields == nil { // end-of-data marker
			p.ended = true
			return nil, line, io.EOF
		}
		if p.header {
			p.header = false
			continue
		}
		return fields, line, nil
	}
}

// rawLine returns the next line without its terminator (\n or \r\n).
func (p *copyParser) rawLine() []byte {
	start := p.pos
	i := start
	for i < len(p.data) && p.data[i] != '\n' {
		i++
	}
	end := i
	if i < len(p.data) {
		i++
	}
	if end > start && p.data[end-1] == '\r' {
		end--
	}
	p.pos = i
	p.line++
	return p.data[start:end]
}

// textRow parses one text-format line. Fields without backslash escapes
// are returned as slices of the input (no copy); the returned slice of
// fields is reused by the next call, so callers consume it first.
func (p *copyParser) textRow() ([][]byte, error) {
	raw := p.rawLine()
	if len(raw) == 2 && raw[0] == '\\' && raw[1] == '.' {
		return nil, nil
	}
	fields := p.fields[:0]
	start := 0
	for {
		end, esc := start, false
		for end < len(raw) && raw[end] != p.delim {
			if raw[end] == '\\' {
				esc = true
				end++ // the escaped byte is never a delimiter
			}
			end++
		}
		if end > len(raw) { // a backslash ends the line
			return nil, errors.New("end-of-copy marker corrupt: a backslash ends the line")
		}
		f := raw[start:end]
		switch {
		case string(f) == p.null:
			fields = append(fields, nil)
		case esc:
			fields = append(fields, unescapeText(f))
		case len(f) == 0:
			fields = append(fields, []byte{})
		default:
			fields = append(fields, f)
		}
		if end == len(raw) {
			break
		}
		start = end + 1
	}
	p.fields = fields
	return fields, nil
}

// unescapeText resolves the backslash escapes of a text-format field
// (which textRow checked does not end in a lone backslash).
func unescapeText(raw []byte) []byte {
	cur := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		b := raw[i]
		if b != '\\' || i+1 >= len(raw) {
			cur = append(cur, b)
			continue
		}
		i++
		c := raw[i]
		switch c {
		case 'b':
			cur = append(cur, '\b')
		case 'f':
			cur = append(cur, '\f')
		case 'n':
			cur = append(cur, '\n')
		case 'r':
			cur = append(cur, '\r')
		case 't':
			cur = append(cur, '\t')
		case 'v':
			cur = append(cur, '\v')
		case 'x':
			v, n := 0, 0
			for n < 2 && i+1 < len(raw) && isHex(raw[i+1]) {
				i++
				v = v*16 + hexVal(raw[i])
				n++
			}
			if n == 0 {
				cur = append(cur, 'x')
			} else {
				cur = append(cur, byte(v))
			}
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v, n := int(c-'0'), 1
			for n < 3 && i+1 < len(raw) && raw[i+1] >= '0' && raw[i+1] <= '7' {
				i++
				v = v*8 + int(raw[i]-'0')
				n++
			}
			cur = append(cur, byte(v))
		default:
			cur = append(cur, c)
		}
	}
	return cur
}

func isHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

func hexVal(b byte) int {
	switch {
	case b >= '0' && b <= '9':
		return int(b - '0')
	case b >= 'a' && b <= 'f':
		return int(b-'a') + 10
	}
	return int(b-'A') + 10
}

// csvRow parses one CSV record, which may span lines inside quotes.
func (p *copyParser) csvRow() ([][]byte, error) {
	if p.data[p.pos] == '\\' && p.pos+1 < len(p.data) && p.data[p.pos+1] == '.' &&
		(p.pos+2 == len(p.data) || p.data[p.pos+2] == '\n' || p.data[p.pos+2] == '\r') {
		p.rawLine()
		return nil, nil
	}
	fields := [][]byte{}
	var cur []byte
	quoted := false
	for {
		if p.pos >= len(p.data) {
			break
		}
		b := p.data[p.pos]
		if b == p.quote {
			quoted = true
			p.pos++
			closed := false
			for p.pos < len(p.data) {
				c := p.data[p.pos]
				if c == p.escape && p.escape != p.quote && p.pos+1 < len(p.data) && (p.data[p.pos+1] == p.quote || p.data[p.pos+1] == p.escape) {
					cur = append(cur, p.data[p.pos+1])
					p.pos += 2
					continue
				}
				if c == p.quote {
					if p.escape == p.quote && p.pos+1 < len(p.data) && p.data[p.pos+1] == p.quote {
						cur = append(cur, p.quote)
						p.pos += 2
						continue
					}
					p.pos++
					closed = true
					break
				}
				if c == '\n' {
					p.line++
				}
				cur = append(cur, c)
				p.pos++
			}
			if !closed {
				return nil, errors.New("unterminated CSV quoted field")
			}
			continue
		}
		if b == p.delim {
			fields = append(fields, p.csvField(cur, quoted))
			cur, quoted = nil, false
			p.pos++
			continue
		}
		if b == '\n' || b == '\r' {
			p.pos++
			if b == '\r' && p.pos < len(p.data) && p.data[p.pos] == '\n' {
				p.pos++
			}
			break
		}
		cur = append(cur, b)
		p.pos++
	}
	p.line++
	fields = append(fields, p.csvField(cur, quoted))
	return fields, nil
}

func (p *copyParser) csvField(v []byte, quoted bool) []byte {
	if !quoted && string(v) == p.null {
		return nil
	}
	if v == nil {
		return []byte{}
	}
	return v
}

// copyWriter formats rows for COPY TO.
type copyWriter struct {
	csv        bool
	delim      byte
	nullText   string
	quote      byte
	escape     byte
	forceQuote []bool
	buf        []byte
	col        int
}

func newCopyWriter(cp *dialect.Copy, fields []pgproto3.FieldDescription) *copyWriter {
	w := &copyWriter{csv: cp.Format == "csv", delim: '\t', nullText: `\N`}
	if w.csv {
		w.delim, w.nullText, w.quote = ',', "", '"'
		if cp.Quote != "" {
			w.quote = cp.Quote[0]
		}
		w.escape = w.quote
		if cp.Escape != "" {
			w.escape = cp.Escape[0]
		}
		w.forceQuote = make([]bool, len(fields))
		for _, fq := range cp.ForceQuote {
			for i, f := range fields {
				if fq == "*" || strings.EqualFold(fq, string(f.Name)) {
					w.forceQuote[i] = true
				}
			}
		}
	}
	if cp.Delimiter != "" {
		w.delim = cp.Delimiter[0]
	}
	if cp.Null != "" || w.csv {
		w.nullText = cp.Null
		if !w.csv && cp.Null == "" {
			w.nullText = `\N`
		}
	}
	return w
}

func (w *copyWriter) start() { w.buf, w.col = w.buf[:0], 0 }

func (w *copyWriter) sep() {
	if w.col > 0 {
		w.buf = append(w.buf, w.delim)
	}
	w.col++
}

func (w *copyWriter) nullValue() {
	w.sep()
	w.buf = append(w.buf, w.nullText...)
}

func (w *copyWriter) value(i int, v []byte) {
	w.sep()
	if w.csv {
		w.csvValue(v, w.forceQuote != nil && i < len(w.forceQuote) && w.forceQuote[i])
		return
	}
	for _, b := range v {
		switch b {
		case '\\':
			w.buf = append(w.buf, '\\', '\\')
		case '\n':
			w.buf = append(w.buf, '\\', 'n')
		case '\r':
			w.buf = append(w.buf, '\\', 'r')
		case '\t':
			w.buf = append(w.buf, '\\', 't')
		case w.delim:
			w.buf = append(w.buf, '\\', b)
		default:
			w.buf = append(w.buf, b)
		}
	}
}

func (w *copyWriter) csvValue(v []byte, force bool) {
	need := force || string(v) == w.nullText || string(v) == `\.`
	if !need {
		for _, b := range v {
			if b == w.delim || b == w.quote || b == '\n' || b == '\r' || b == w.escape {
				need = true
				break
			}
		}
	}
	if !need {
		w.buf = append(w.buf, v...)
		return
	}
	w.buf = append(w.buf, w.quote)
	for _, b := range v {
		if b == w.quote || b == w.escape {
			w.buf = append(w.buf, w.escape)
		}
		w.buf = append(w.buf, b)
	}
	w.buf = append(w.buf, w.quote)
}

func (w *copyWriter) header(names [][]byte) []byte {
	w.start()
	for i, n := range names {
		w.value(i, n)
	}
	return w.end()
}

func (w *copyWriter) end() []byte {
	w.buf = append(w.buf, '\n')
	return w.buf // valid until the next row; send copies it into the write buffer
}
