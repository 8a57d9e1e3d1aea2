package demodata

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FileStep is the simulated time WriteFiles advances the generator by at
// a time (steps end on multiples of it, so a step never spans midnight).
// Memory is bounded by what one step delivers: at 10M orders over 7 days
// that is about 5,000 orders' events, not the history.
const FileStep = 5 * time.Minute

// LegacyMartFile is the file WriteFiles writes the legacy mart to.
const LegacyMartFile = "finance_mart.daily_recognized_sales.csv"

// FileSummary is what WriteFiles wrote.
type FileSummary struct {
	Files int            // files written
	Rows  map[string]int // rows per source (and TableBaskets)
	Bytes int64
	Stats Stats // the generator's counts at the end
	// Written lists the sources' (and TableBaskets') files in the order
	// they were first written to, which is delivery order at the
	// granularity of a day: load them in this order.
	Written []WrittenFile
}

// WrittenFile is one file WriteFiles wrote: the source (or TableBaskets)
// it holds rows of, and its path relative to the directory.
type WrittenFile struct{ Source, Path string }

// WriteFiles advances g to to in FileStep steps and writes every batch as
// CSV with a header line, the way the sources would hand them over as
// files (load them with COPY raw.<source> FROM … (FORMAT csv, HEADER)):
//
//	dir/<source>/<YYYY-MM-DD>.csv      deliveries of that UTC date, in delivery order
//	dir/marketplace_settlements/<file> each marketplace file as delivered
//	                                   (a second delivery: <file>.redelivery-N.csv)
//	dir/basket_events/<YYYY-MM-DD>.csv with Config.Baskets (serving.basket_events)
//	dir/finance_mart.daily_recognized_sales.csv   LegacyMart(to)
//
// columns names each source's (and TableBaskets') columns for the header,
// in row order. Nothing but one step's batches and the open files is held,
// so any size streams; the output is a function of g's Config and to.
func WriteFiles(ctx context.Context, g *Generator, dir string, to time.Time, columns map[string][]string) (FileSummary, error) {
	sum := FileSummary{Rows: map[string]int{}}
	w := &fileWriter{dir: dir, columns: columns, open: map[string]*dayFile{}, names: map[string]int{}, sum: &sum}
	defer w.closeAll()
	step := FileStep.Microseconds()
	end := to.UTC().Truncate(time.Microsecond).UnixMicro()
	for g.cursor < end {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		next := min((g.cursor/step+1)*step, end)
		day := date(g.cursor).Format("2006-01-02")
		for _, b := range g.Advance(ts(next)) {
			if err := w.write(b, day); err != nil {
				return sum, err
			}
		}
	}
	if err := w.closeAll(); err != nil {
		return sum, err
	}
	if err := w.writeFile(LegacyMartFile, LegacyMartColumns, g.LegacyMart(to)); err != nil {
		return sum, err
	}
	sum.Stats = g.Stats()
	return sum, nil
}

type dayFile struct {
	day string
	f   *os.File
	buf *bufio.Writer
	csv *csv.Writer
}

type fileWriter struct {
	dir     string
	columns map[string][]string
	open    map[string]*dayFile // per source: the current day's file
	names   map[string]int      // marketplace file deliveries so far
	sum     *FileSummary
	rec     []string
}

func (w *fileWriter) cols(source string) ([]string, error) {
	c, ok := w.columns[source]
	if !ok {
		return nil, fmt.Errorf("demodata: no columns given for %s", source)
	}
	return c, nil
}

func (w *fileWriter) write(b Batch, day string) error {
	cols, err := w.cols(b.Source)
	if err != nil {
		return err
	}
	w.sum.Rows[b.Source] += len(b.Rows)
	if b.Name != "" {
		name := b.Name
		if n := w.names[b.Name]; n > 0 {
			name = fmt.Sprintf("%s.redelivery-%d.csv", strings.TrimSuffix(b.Name, ".csv"), n)
		}
		w.names[b.Name]++
		rel := filepath.Join(b.Source, name)
		w.sum.Written = append(w.sum.Written, WrittenFile{Source: b.Source, Path: rel})
		return w.writeFile(rel, cols, b.Rows)
	}
	df := w.open[b.Source]
	if df == nil || df.day != day {
		if df != nil {
			if err := w.close(df); err != nil {
				return err
			}
		}
		rel := filepath.Join(b.Source, day+".csv")
		if df, err = w.create(rel, cols); err != nil {
			return err
		}
		w.sum.Written = append(w.sum.Written, WrittenFile{Source: b.Source, Path: rel})
		df.day = day
		w.open[b.Source] = df
	}
	return w.rows(df.csv, b.Rows)
}

func (w *fileWriter) create(rel string, cols []string) (*dayFile, error) {
	path := filepath.Join(w.dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("demodata: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("demodata: %w", err)
	}
	df := &dayFile{f: f, buf: bufio.NewWriterSize(f, 1<<16)}
	df.csv = csv.NewWriter(df.buf)
	w.sum.Files++
	if err := df.csv.Write(cols); err != nil {
		f.Close()
		return nil, fmt.Errorf("demodata: write %s: %w", path, err)
	}
	return df, nil
}

func (w *fileWriter) rows(cw *csv.Writer, rows [][]any) error {
	for _, r := range rows {
		w.rec = w.rec[:0]
		for _, v := range r {
			w.rec = append(w.rec, csvValue(v))
		}
		if err := cw.Write(w.rec); err != nil {
			return fmt.Errorf("demodata: %w", err)
		}
	}
	return nil
}

func (w *fileWriter) writeFile(rel string, cols []string, rows [][]any) error {
	df, err := w.create(rel, cols)
	if err != nil {
		return err
	}
	if err := w.rows(df.csv, rows); err != nil {
		df.f.Close()
		return err
	}
	return w.close(df)
}

func (w *fileWriter) close(df *dayFile) error {
	df.csv.Flush()
	err := df.csv.Error()
	if err == nil {
		err = df.buf.Flush()
	}
	if st, serr := df.f.Stat(); serr == nil {
		w.sum.Bytes += st.Size() + int64(df.buf.Buffered())
	}
	if cerr := df.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("demodata: write %s: %w", df.f.Name(), err)
	}
	return nil
}

func (w *fileWriter) closeAll() error {
	var first error
	for k, df := range w.open {
		if err := w.close(df); err != nil && first == nil {
			first = err
		}
		delete(w.open, k)
	}
	return first
}

// WriteCSV writes a header of columns and rows (a Batch's, in the source's
// column order) as CSV, formatted as WriteFiles writes them, for COPY …
// (FORMAT csv, HEADER).
func WriteCSV(w io.Writer, columns []string, rows [][]any) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(columns); err != nil {
		return err
	}
	rec := make([]string, 0, len(columns))
	for _, r := range rows {
		rec = rec[:0]
		for _, v := range r {
			rec = append(rec, csvValue(v))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
