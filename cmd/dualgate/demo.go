package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/dualgate/dualgate/canonical/ingest"
	"github.com/dualgate/dualgate/cmd/internal/demodata"
	"github.com/dualgate/dualgate/cmd/internal/primary"
)

// demoOptions are the data flags of `dualgate demo`.
type demoOptions struct {
	orders, days  int
	seed          int64
	trickleEvery  time.Duration
	trickleOrders int
	stewardFixes  int
	legacyDSN     string         // where to publish the legacy finance mart ("" none)
	out           io.Writer      // where the load summary is printed
	onLoaded      func(demoLoad) // tests: the load summary
}

func (d *demoOptions) register(fs *pflag.FlagSet) {
	fs.IntVar(&d.orders, "orders", 2000, "orders in the initial history")
	fs.IntVar(&d.days, "days", 7, "days of initial history (ending now)")
	fs.Int64Var(&d.seed, "seed", 1, "seed of the deterministic data generator")
	fs.DurationVar(&d.trickleEvery, "trickle-interval", 2*time.Second, "how often live events are ingested after the history (0 disables)")
	fs.IntVar(&d.trickleOrders, "trickle-orders", 2, "new orders placed per live tick")
	fs.IntVar(&d.stewardFixes, "steward-fixes", 3, "steward corrections applied after the history")
	fs.StringVar(&d.legacyDSN, "legacy-finance-dsn", "", "a PostgreSQL (postgres://…) to publish the legacy finance mart to, for the recognized_sales_vs_legacy_mart reconciliation (its table finance_mart.daily_recognized_sales is replaced)")
}

// demoLoad summarizes the initial load.
type demoLoad struct {
	Orders, Days, Batches, Rows       int
	Committed, Duplicates, Quarantine int
	Corrections                       int
	LegacyRows                        int // rows published to the legacy mart
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

// load is serveOptions.demo for `dualgate demo`: once the store is open it
// ingests d.days days of history ending now (d.orders orders), applies a
// few steward corrections, prints how long it took, and starts the live
// trickle. The returned stop ends the trickle and waits for it (runServe
// defers it, so it runs before the store closes).
func (d *demoOptions) load(ctx context.Context, side *primary.Side, log zerolog.Logger) (func(), error) {
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
	days := max(d.days, 1)
	g := demodata.NewConfig(demodata.Config{Seed: d.seed, Orders: max(d.orders, 1), Days: days,
		Start: start.UTC().Truncate(time.Second).Add(-time.Duration(days) * 24 * time.Hour)})
	sum := demoLoad{Orders: d.orders, Days: days}
	for day := 0; day < days; day++ {
		for _, b := range g.Day(day) {
			rep, err := p.Ingest(ctx, b.Source, b.Rows, connectorUser[b.Source])
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
	if d.legacyDSN != "" {
		n, err := publishLegacyMart(ctx, d.legacyDSN, g.LegacyMart(g.Now()))
		if err != nil {
			return nil, fmt.Errorf("--legacy-finance-dsn: %w", err)
		}
		// The demo catalog's rule reads its right side from this variable.
		if err := os.Setenv("DUALGATE_LEGACY_FINANCE_DSN", d.legacyDSN); err != nil {
			return nil, err
		}
		sum.LegacyRows = n
		fmt.Fprintf(d.out, "\nPublished the legacy finance mart (%d rows, with its known defects: a missing day, a double count, APAC rounding) to finance_mart.daily_recognized_sales.\n", n)
	}
	sum.Took = time.Since(start)
	fmt.Fprintf(d.out, "\nLoaded %d days of retailer history (%d orders): %d rows in %d batches, %d committed, %d duplicates, %d quarantined, %d steward corrections; took %s (head is commit %d).\n",
		sum.Days, sum.Orders, sum.Rows, sum.Batches, sum.Committed, sum.Duplicates, sum.Quarantine, sum.Corrections,
		sum.Took.Round(time.Millisecond), side.Head())
	if d.onLoaded != nil {
		d.onLoaded(sum)
	}
	if d.trickleEvery <= 0 {
		return func() {}, nil
	}
	fmt.Fprintf(d.out, "Live events arrive every %s (%d new orders per tick).\n", d.trickleEvery, d.trickleOrders)
	tctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		trickle(tctx, p, g, d.trickleEvery, d.trickleOrders, log)
	}()
	return func() { cancel(); wg.Wait() }, nil
}

// trickle ingests what the generator delivers in real time until ctx ends.
func trickle(ctx context.Context, p *ingest.Pipeline, g *demodata.Generator, every time.Duration, orders int, log zerolog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, b := range g.Trickle(now, orders) {
				if ctx.Err() != nil {
					return
				}
				if _, err := p.Ingest(ctx, b.Source, b.Rows, connectorUser[b.Source]); err != nil {
					log.Error().Err(err).Str("source", b.Source).Msg("demo live ingest failed")
				}
			}
		}
	}
}

// publishLegacyMart replaces finance_mart.daily_recognized_sales in the
// PostgreSQL at dsn with rows (demodata.LegacyMartColumns), as the legacy
// nightly job would, in one transaction.
func publishLegacyMart(ctx context.Context, dsn string, rows [][]any) (int, error) {
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
			net_sales_cents bigint NOT NULL, PRIMARY KEY (sales_date, region))`); err != nil {
		return 0, err
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"finance_mart", "daily_recognized_sales"}, demodata.LegacyMartColumns, pgx.CopyFromRows(rows))
	if err != nil {
		return 0, err
	}
	return int(n), tx.Commit(ctx)
}
