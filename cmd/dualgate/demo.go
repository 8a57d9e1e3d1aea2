package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/dualgate/dualgate/canonical/ingest"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/cmd/internal/demodata"
	"github.com/dualgate/dualgate/cmd/internal/primary"
	"github.com/dualgate/dualgate/testdata"
)

// demoOptions are the data flags of `dualgate demo`.
type demoOptions struct {
	orders, days  int
	seed          int64
	trickleEvery  time.Duration
	trickleOrders int
	stewardFixes  int
	legacyDSN     string // where to publish the legacy finance mart ("" none)
	legacyEvery   int    // trickle ticks between runs of the legacy mart's job (0: published once)
	generateOnly  string // write the sources' files here instead of serving ("" serve)
	out           io.Writer
	onLoaded      func(demoLoad) // tests: the load summary
	onBaskets     func(int)      // tests: the history's basket events are written (how many)
	onLegacy      func(int)      // tests: a republish of the legacy mart (its rows)

	addrMu sync.Mutex
	addr   chan string // the gateway's address, once it listens (listening)
}

func (d *demoOptions) register(fs *pflag.FlagSet) {
	fs.IntVar(&d.orders, "orders", 2000, "orders in the initial history (above ~50,000 use --generate-only: ingesting runs at the pipeline's speed)")
	fs.IntVar(&d.days, "days", 7, "days of initial history (ending now)")
	fs.Int64Var(&d.seed, "seed", 1, "seed of the deterministic data generator")
	fs.DurationVar(&d.trickleEvery, "trickle-interval", 2*time.Second, "how often live events are ingested after the history (0 disables)")
	fs.IntVar(&d.trickleOrders, "trickle-orders", 2, "new orders placed per live tick")
	fs.IntVar(&d.stewardFixes, "steward-fixes", 3, "steward corrections applied after the history")
	fs.StringVar(&d.legacyDSN, "legacy-finance-dsn", "", "a PostgreSQL (postgres://…) to publish the legacy finance mart to, for the recognized_sales_* reconciliations (its table finance_mart.daily_recognized_sales is replaced)")
	fs.IntVar(&d.legacyEvery, "legacy-every", 30, "with --legacy-finance-dsn: live ticks between runs of the legacy mart's \"nightly\" job (0: published once)")
	fs.StringVar(&d.generateOnly, "generate-only", "", "write the history's source files (CSV, one per source and day) and basket events under DIR and exit, without serving; for sizes up to 10M orders")
}

// demoLoad summarizes the initial load.
type demoLoad struct {
	Orders, Days, Batches, Rows       int
	Committed, Duplicates, Quarantine int
	Corrections                       int
	SettlementFiles                   int // marketplace files COPYed over the wire
	LegacyRows                        int // rows published to the legacy mart
	BasketEvents                      int // basket events of the history, written once the gateway listens
	Took                              time.Duration
	Skipped                           bool // the data directory already held demo data
}

// connectorUser is the committer of a source's batches: the connector that
// delivers it.
var connectorUser = map[string]string{
	demodata.SrcOrders:      "oms_connector",
	demodata.SrcPayments:    "psp_connector",
	demodata.SrcFraud:       "risk_connector",
	demodata.SrcShipments:   "wms_connector",
	demodata.SrcReturns:     "returns_connector",
	demodata.SrcSettlements: "settlement_sftp",
	demodata.SrcCorrections: "erp_connector",
}

// basketWriterUser is who writes serving.basket_events: the web and app
// backends' user (an ingestor, the table's writer role in the catalog).
const basketWriterUser = "web_backend"

// ingestWindowOrders is about how many orders' events the history ingest
// takes per window: a day with more orders is ingested in several windows,
// so memory stays bounded by a window, not a day.
const ingestWindowOrders = 5000

// generator returns the demo's generator for a history ending at end.
func (d *demoOptions) generator(end time.Time) *demodata.Generator {
	days := max(d.days, 1)
	return demodata.NewConfig(demodata.Config{Seed: d.seed, Orders: max(d.orders, 1), Days: days, Baskets: true,
		Start: end.UTC().Truncate(time.Second).Add(-time.Duration(days) * 24 * time.Hour)})
}

// listening tells the demo where the gateway accepts clients (runServe's
// ready callback): the digital channel's backend writes basket events there.
func (d *demoOptions) listening(a net.Addr) {
	d.addrMu.Lock()
	defer d.addrMu.Unlock()
	if d.addr == nil {
		d.addr = make(chan string, 1)
	}
	select {
	case d.addr <- a.String():
	default:
	}
}

// gatewayAddr waits for listening.
func (d *demoOptions) gatewayAddr(ctx context.Context) (string, error) {
	d.addrMu.Lock()
	if d.addr == nil {
		d.addr = make(chan string, 1)
	}
	ch := d.addr
	d.addrMu.Unlock()
	select {
	case a := <-ch:
		ch <- a // for the next caller
		return a, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// load is serveOptions.demo for `dualgate demo`: once the store is open it
// ingests d.days days of history ending now (d.orders orders), applies a
// few steward corrections, publishes the legacy mart, prints how long it
// took, and starts the live trickle and the digital channel's basket
// writer. The returned stop ends them and waits (runServe defers it, so it
// runs before the store closes).
//
// The sources' events are ingested through the pipeline in-process (as
// connectors calling Ingest), except the marketplaces' settlement files,
// which settlement_sftp loads the way a file connector does: each file one
// COPY … (FORMAT csv, HEADER) over the wire to the gateway at addr (which
// accepts clients while the history loads), in delivery order with the
// rest. Basket events go to the non-authoritative serving table
// serving.basket_events the way the web and app backends write it: COPY
// over the wire as web_backend, once the gateway is ready (after load
// returns), so the history's basket events are spooled to a temporary file
// until then.
func (d *demoOptions) load(ctx context.Context, side *primary.Side, addr string, log zerolog.Logger) (func(), error) {
	p := side.Pipeline()
	start := time.Now()
	if recs, err := p.Store().ScanRaw(ctx, demodata.SrcOrders, 1, 1); err != nil {
		return nil, err
	} else if len(recs) > 0 {
		fmt.Fprintf(d.out, "\nThe data directory already holds demo data: no history loaded, no live trickle.\n")
		if d.onLoaded != nil {
			d.onLoaded(demoLoad{Skipped: true})
		}
		return func() {}, nil
	}
	g := d.generator(start)
	days := g.Days()
	sum := demoLoad{Orders: d.orders, Days: days}
	files := newSettlementLoader(addr, p.Catalog(), log)
	closeFiles := true
	defer func() {
		if closeFiles {
			files.close()
		}
	}()
	spool, err := os.CreateTemp("", "dualgate-demo-baskets-*.csv")
	if err != nil {
		return nil, fmt.Errorf("demo basket spool: %w", err)
	}
	keepSpool := false
	defer func() {
		if !keepSpool {
			spool.Close()
			os.Remove(spool.Name())
		}
	}()
	spoolBuf := bufio.NewWriter(spool)
	windows := (d.orders/days + ingestWindowOrders - 1) / ingestWindowOrders
	windows = max(windows, 1)
	for day := 0; day < days; day++ {
		dayStart := g.DayEnd(day).Add(-24 * time.Hour)
		for w := 1; w <= windows; w++ {
			to := g.DayEnd(day)
			if w < windows {
				to = dayStart.Add(time.Duration(w) * 24 * time.Hour / time.Duration(windows))
			}
			for _, b := range g.Advance(to) {
				if b.Serving {
					if err := writeBasketCSV(spoolBuf, b.Rows); err != nil {
						return nil, fmt.Errorf("demo basket spool: %w", err)
					}
					sum.BasketEvents += len(b.Rows)
					continue
				}
				var rep ingest.Report
				var err error
				if b.Source == demodata.SrcSettlements {
					rep, err = files.load(ctx, b)
					sum.SettlementFiles++
				} else {
					rep, err = p.Ingest(ctx, b.Source, b.Rows, connectorUser[b.Source])
				}
				if err != nil {
					return nil, fmt.Errorf("demo history day %d: %w", day, err)
				}
				sum.Batches++
				sum.Rows += rep.Received
				sum.Committed += rep.Committed
				sum.Duplicates += rep.Duplicates
				sum.Quarantine += rep.Quarantined
			}
		}
		if windows > 1 {
			fmt.Fprintf(d.out, "  history day %d of %d ingested (%d rows so far, %s)\n", day+1, days, sum.Rows, time.Since(start).Round(time.Second))
		}
	}
	if err := spoolBuf.Flush(); err != nil {
		return nil, fmt.Errorf("demo basket spool: %w", err)
	}
	for i, f := range g.Fixes() {
		if i >= d.stewardFixes {
			break
		}
		if _, err := demodata.ApplyFix(ctx, p, f, "sam"); err != nil {
			log.Warn().Err(err).Str("entity", f.Entity).Msg("demo steward correction skipped")
			continue
		}
		sum.Corrections++
	}
	legacy := &legacyJob{dsn: d.legacyDSN, every: d.legacyEvery, onPublish: d.onLegacy, log: log}
	if d.legacyDSN != "" {
		n, err := legacy.publish(ctx, g, g.Now(), true)
		if err != nil {
			return nil, fmt.Errorf("--legacy-finance-dsn: %w", err)
		}
		// The demo catalog's rules read their right side from this variable.
		if err := os.Setenv("DUALGATE_LEGACY_FINANCE_DSN", d.legacyDSN); err != nil {
			return nil, err
		}
		sum.LegacyRows = n
		fmt.Fprintf(d.out, "\nPublished the legacy finance mart (%d rows, with its known defects: a missing day, a double count, APAC rounding) to finance_mart.daily_recognized_sales.\n", n)
	}
	sum.Took = time.Since(start)
	fmt.Fprintf(d.out, "\nLoaded %d days of retailer history (%d orders): %d rows in %d batches (%d of them marketplace files COPYed by settlement_sftp), %d committed, %d duplicates, %d quarantined, %d steward corrections; took %s (head is commit %d).\n",
		sum.Days, sum.Orders, sum.Rows, sum.Batches, sum.SettlementFiles, sum.Committed, sum.Duplicates, sum.Quarantine, sum.Corrections,
		sum.Took.Round(time.Millisecond), side.Head())
	fmt.Fprintf(d.out, "The web and app backends write %d basket events of the history to serving.basket_events as soon as the gateway listens.\n", sum.BasketEvents)
	if d.onLoaded != nil {
		d.onLoaded(sum)
	}
	tctx, cancel := context.WithCancel(ctx)
	closeFiles = false // the trickle loads the next files; stop closes it
	var wg sync.WaitGroup
	bw := &basketWriter{queue: make(chan [][]any, 256), log: log}
	keepSpool = true
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer os.Remove(spool.Name())
		defer spool.Close()
		bw.run(tctx, d, spool, sum.BasketEvents, d.trickleEvery > 0)
	}()
	if d.trickleEvery > 0 {
		fmt.Fprintf(d.out, "Live events arrive every %s (%d new orders per tick).\n", d.trickleEvery, d.trickleOrders)
		if d.legacyDSN != "" && d.legacyEvery > 0 {
			fmt.Fprintf(d.out, "The legacy mart's job runs every %d ticks (%s), publishing what was fulfilled before its previous run.\n",
				d.legacyEvery, time.Duration(d.legacyEvery)*d.trickleEvery)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			trickle(tctx, p, g, d.trickleEvery, d.trickleOrders, bw, files, legacy, log)
		}()
	}
	return func() { cancel(); wg.Wait(); files.close() }, nil
}

// trickle ingests what the generator delivers in real time until ctx ends;
// marketplace files go to files (COPY over the wire), basket events to bw,
// and every legacy.every ticks the legacy mart's job runs again.
func trickle(ctx context.Context, p *ingest.Pipeline, g *demodata.Generator, every time.Duration, orders int, bw *basketWriter, files *settlementLoader, legacy *legacyJob, log zerolog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	ticks := 0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, b := range g.Trickle(now, orders) {
				if ctx.Err() != nil {
					return
				}
				if b.Serving {
					bw.send(b.Rows)
					continue
				}
				if b.Source == demodata.SrcSettlements {
					if _, err := files.load(ctx, b); err != nil && ctx.Err() == nil {
						log.Error().Err(err).Str("file", b.Name).Msg("demo marketplace file not loaded")
					}
					continue
				}
				if _, err := p.Ingest(ctx, b.Source, b.Rows, connectorUser[b.Source]); err != nil && ctx.Err() == nil {
					log.Error().Err(err).Str("source", b.Source).Msg("demo live ingest failed")
				}
			}
			ticks++
			if legacy.dsn != "" && legacy.every > 0 && ticks%legacy.every == 0 {
				if _, err := legacy.publish(ctx, g, now, false); err != nil && ctx.Err() == nil {
					log.Error().Err(err).Msg("demo legacy mart republish failed; the mart keeps its previous run")
				}
			}
		}
	}
}

// legacyJob is the legacy finance mart's "nightly" job. Its first run
// (after the history) publishes what was fulfilled before the last
// midnight, the mart's real one-day delay. In the live demo a day is
// compressed to every ticks: each later run publishes what was fulfilled
// before the previous run, so the mart stays one run behind, as it stays
// a day behind in production, and its known defects (demodata.LegacyMart)
// are the same in every run.
type legacyJob struct {
	dsn       string
	every     int
	last      time.Time // the previous run
	runs      int
	onPublish func(int)
	log       zerolog.Logger
}

func (j *legacyJob) publish(ctx context.Context, g *demodata.Generator, now time.Time, first bool) (int, error) {
	var rows [][]any
	var cutoff time.Time
	if first {
		rows = g.LegacyMart(now)
		t := now.UTC()
		cutoff = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	} else {
		rows, cutoff = g.LegacyMartThrough(j.last), j.last.UTC().Truncate(time.Minute)
	}
	j.runs++
	n, err := publishLegacyMart(ctx, j.dsn, rows, j.runs, now, cutoff)
	if err != nil {
		return 0, err
	}
	j.last = now
	if !first {
		j.log.Info().Int("run", j.runs).Int("rows", n).Time("fulfilled_before", cutoff).Msg("demo legacy mart republished")
	}
	if j.onPublish != nil {
		j.onPublish(n)
	}
	return n, nil
}

// settlementLoader is the marketplaces' file connector (settlement_sftp):
// it loads each settlement file with one COPY raw.marketplace_settlements
// … FROM STDIN (FORMAT csv, HEADER) over the wire, as a file connector
// would, on one connection opened at the first file. Used by one goroutine
// at a time (the history's load, then the trickle).
type settlementLoader struct {
	addr string
	cols []string
	conn *pgconn.PgConn
	log  zerolog.Logger
	// last is the ingest NOTICE of the last COPY.
	last string
}

// newSettlementLoader returns the file connector of the gateway at addr,
// copying the catalog's columns of raw.marketplace_settlements.
func newSettlementLoader(addr string, cat *catalog.Catalog, log zerolog.Logger) *settlementLoader {
	l := &settlementLoader{addr: addr, log: log}
	for _, c := range cat.Source(demodata.SrcSettlements).Columns {
		l.cols = append(l.cols, c.Name)
	}
	return l
}

// ingestNotice parses the pipeline's NOTICE for a COPY into raw (see
// ingest.Report.Notice).
var ingestNotice = regexp.MustCompile(`^ingested (\d+) rows? from \S+: (\d+) committed .*?, (\d+) unchanged, (\d+) duplicates?, (\d+) quarantined`)

// load COPYs one file (b.Rows, the source's columns) and returns what the
// pipeline reported for it.
func (l *settlementLoader) load(ctx context.Context, b demodata.Batch) (ingest.Report, error) {
	rep := ingest.Report{Source: b.Source}
	if l.conn == nil {
		cfg, err := pgconn.ParseConfig("postgres://" + connectorUser[demodata.SrcSettlements] + "@" + l.addr + "/dualgate?sslmode=disable&application_name=demo_settlement_sftp")
		if err != nil {
			return rep, err
		}
		cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { l.last = n.Message }
		if l.conn, err = pgconn.ConnectConfig(ctx, cfg); err != nil {
			return rep, fmt.Errorf("settlement_sftp: %w", err)
		}
	}
	var buf bytes.Buffer
	if err := demodata.WriteCSV(&buf, l.cols, b.Rows); err != nil {
		return rep, err
	}
	l.last = ""
	copySQL := "COPY raw." + demodata.SrcSettlements + " (" + strings.Join(l.cols, ", ") + ") FROM STDIN (FORMAT csv, HEADER)"
	if _, err := l.conn.CopyFrom(ctx, &buf, copySQL); err != nil {
		if l.conn.IsClosed() {
			l.conn = nil // the next file reconnects
		}
		return rep, fmt.Errorf("settlement file %s: %w", b.Name, err)
	}
	m := ingestNotice.FindStringSubmatch(l.last)
	if m == nil {
		l.log.Warn().Str("file", b.Name).Str("notice", l.last).Msg("demo marketplace file: no ingest summary from the gateway")
		rep.Received = len(b.Rows)
		return rep, nil
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	rep.Received, rep.Committed, rep.Unchanged, rep.Duplicates, rep.Quarantined = n(1), n(2), n(3), n(4), n(5)
	return rep, nil
}

// close ends the connector's connection.
func (l *settlementLoader) close() {
	if l.conn != nil {
		l.conn.Close(context.Background())
		l.conn = nil
	}
}

// basketWriter is the digital channel's backend: it writes basket events
// to serving.basket_events with COPY over the wire as web_backend, first
// the history's (spooled while the gateway was not listening yet), then
// each live tick's.
type basketWriter struct {
	queue   chan [][]any
	dropped int
	log     zerolog.Logger
}

// send queues a tick's basket events; if the backend is not keeping up
// (or could not connect), they are dropped and counted: the serving table
// is non-authoritative, nothing downstream depends on it.
func (w *basketWriter) send(rows [][]any) {
	select {
	case w.queue <- rows:
	default:
		w.dropped += len(rows)
		if w.dropped == len(rows) {
			w.log.Warn().Msg("demo basket writer is not keeping up; dropping basket events")
		}
	}
}

// basketCopy is the COPY the backend runs.
var basketCopy = "COPY serving." + demodata.TableBaskets + " (" + strings.Join(demodata.BasketColumns, ", ") + ") FROM STDIN (FORMAT csv)"

func (w *basketWriter) run(ctx context.Context, d *demoOptions, spool *os.File, spooled int, live bool) {
	addr, err := d.gatewayAddr(ctx)
	if err != nil {
		return
	}
	var conn *pgconn.PgConn
	for {
		conn, err = pgconn.Connect(ctx, "postgres://"+basketWriterUser+"@"+addr+"/dualgate?sslmode=disable&application_name=demo_web_backend")
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		w.log.Debug().Err(err).Msg("demo basket writer: gateway not reachable yet")
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		w.log.Error().Err(err).Msg("demo basket writer: spool")
		return
	}
	tag, err := conn.CopyFrom(ctx, bufio.NewReader(spool), basketCopy)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error().Err(err).Msg("demo basket writer: the history's basket events were not written")
		}
		return
	}
	if int(tag.RowsAffected()) != spooled {
		w.log.Warn().Int64("written", tag.RowsAffected()).Int("spooled", spooled).Msg("demo basket writer: fewer history events written than spooled")
	}
	if d.onBaskets != nil {
		d.onBaskets(int(tag.RowsAffected()))
	}
	if !live {
		return
	}
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return
		case rows := <-w.queue:
			buf.Reset()
			bw := bufio.NewWriter(&buf)
			if err := writeBasketCSV(bw, rows); err == nil {
				err = bw.Flush()
			}
			if _, err := conn.CopyFrom(ctx, &buf, basketCopy); err != nil && ctx.Err() == nil {
				w.log.Error().Err(err).Int("events", len(rows)).Msg("demo basket writer: live basket events not written")
			}
		}
	}
}

// writeBasketCSV writes basket rows (demodata.BasketColumns) as CSV for
// COPY … (FORMAT csv): NULL as an empty unquoted field, timestamps RFC 3339.
func writeBasketCSV(w *bufio.Writer, rows [][]any) error {
	cw := csv.NewWriter(w)
	rec := make([]string, len(demodata.BasketColumns))
	for _, r := range rows {
		for i, v := range r {
			switch x := v.(type) {
			case nil:
				rec[i] = ""
			case time.Time:
				rec[i] = x.UTC().Format(time.RFC3339Nano)
			default:
				rec[i] = fmt.Sprint(x)
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// generate is `dualgate demo --generate-only DIR`: it writes the history
// the demo would load (d.days whole days ending at today's midnight UTC,
// so the files are the same all day for a seed and size) as source files
// under DIR, streaming (demodata.WriteFiles), and prints to out what it
// wrote and how to load it.
// Ingesting 10M orders' events at the pipeline's speed is not a demo's
// first minute, so large sizes are generated and loaded separately.
func (d *demoOptions) generate(ctx context.Context, out io.Writer) error {
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		return fmt.Errorf("demo catalog: %w", err)
	}
	cols := map[string][]string{}
	for _, s := range demodata.Sources {
		for _, c := range cat.Source(s).Columns {
			cols[s] = append(cols[s], c.Name)
		}
	}
	for _, c := range cat.ServingTable(demodata.TableBaskets).Columns {
		cols[demodata.TableBaskets] = append(cols[demodata.TableBaskets], c.Name)
	}
	if err := os.MkdirAll(d.generateOnly, 0o750); err != nil {
		return fmt.Errorf("--generate-only: %w", err)
	}
	now := time.Now().UTC()
	g := d.generator(time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC))
	start := time.Now()
	sum, err := demodata.WriteFiles(ctx, g, d.generateOnly, g.End(), cols)
	if err != nil {
		return fmt.Errorf("--generate-only %s: %w", d.generateOnly, err)
	}
	script, err := writeLoadScript(d.generateOnly, sum.Written, cols)
	if err != nil {
		return fmt.Errorf("--generate-only %s: %w", d.generateOnly, err)
	}
	total := 0
	for _, n := range sum.Rows {
		total += n
	}
	fmt.Fprintf(out, "Generated %d days of retailer history (%d orders, seed %d) in %s: %d rows in %d files (%d MB) under %s.\n",
		g.Days(), sum.Stats.Orders, d.seed, time.Since(start).Round(time.Millisecond), total, sum.Files, sum.Bytes>>20, d.generateOnly)
	for _, s := range append(append([]string(nil), demodata.Sources...), demodata.TableBaskets) {
		fmt.Fprintf(out, "  %-24s %10d rows\n", s, sum.Rows[s])
	}
	fmt.Fprintf(out, "Load them into a running `dualgate serve --catalog testdata/catalog` in delivery order with\n"+
		"  psql -h 127.0.0.1 -p 5433 -U ops dualgate -v ON_ERROR_STOP=1 -f %s\n"+
		"(each source's files COPYed as its connector, basket events as web_backend); %s is the legacy mart for a PostgreSQL.\n",
		script, filepath.Join(d.generateOnly, demodata.LegacyMartFile))
	return nil
}

// loadUser is who loads a generated file: the source's connector, or the
// basket table's writer.
func loadUser(source string) string {
	if source == demodata.TableBaskets {
		return basketWriterUser
	}
	return connectorUser[source]
}

// writeLoadScript writes dir/load.sql: a psql script that COPYs the
// generated files in the order they were written, each as the user that
// delivers it (psql \connect), with the column list the files' header
// names (COPY maps CSV fields by position, and raw tables have more
// columns: _seq, _ingested_at, _batch).
func writeLoadScript(dir string, files []demodata.WrittenFile, cols map[string][]string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("-- Generated by dualgate demo --generate-only: load the history in delivery order.\n")
	user := ""
	for _, f := range files {
		if u := loadUser(f.Source); u != user {
			fmt.Fprintf(&b, "\\connect - %s\n", u)
			user = u
		}
		schema := "raw"
		if f.Source == demodata.TableBaskets {
			schema = "serving"
		}
		path := strings.ReplaceAll(filepath.Join(abs, f.Path), "'", "''")
		fmt.Fprintf(&b, "\\copy %s.%s (%s) FROM '%s' (FORMAT csv, HEADER)\n", schema, f.Source, strings.Join(cols[f.Source], ", "), path)
	}
	script := filepath.Join(dir, "load.sql")
	if err := os.WriteFile(script, []byte(b.String()), 0o640); err != nil {
		return "", err
	}
	return script, nil
}

// publishLegacyMart replaces finance_mart.daily_recognized_sales in the
// PostgreSQL at dsn with rows (demodata.LegacyMartColumns), as the legacy
// job would, in one transaction, and logs the run in
// finance_mart.load_runs (run, when, the fulfillment cutoff, rows).
func publishLegacyMart(ctx context.Context, dsn string, rows [][]any, run int, at, cutoff time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS finance_mart;
		DROP TABLE IF EXISTS finance_mart.daily_recognized_sales;
		CREATE TABLE finance_mart.daily_recognized_sales (sales_date date NOT NULL, region text NOT NULL,
			net_sales_cents bigint NOT NULL, PRIMARY KEY (sales_date, region));
		CREATE TABLE IF NOT EXISTS finance_mart.load_runs (run integer NOT NULL, published_at timestamptz NOT NULL,
			fulfilled_before timestamptz NOT NULL, rows integer NOT NULL)`); err != nil {
		return 0, err
	}
	if run == 1 {
		if _, err := tx.Exec(ctx, `TRUNCATE finance_mart.load_runs`); err != nil {
			return 0, err
		}
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"finance_mart", "daily_recognized_sales"}, demodata.LegacyMartColumns, pgx.CopyFromRows(rows))
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO finance_mart.load_runs VALUES ($1, $2, $3, $4)`, run, at, cutoff, n); err != nil {
		return 0, err
	}
	return int(n), tx.Commit(ctx)
}
