// Package demodata is the deterministic data generator of the retailer demo
// (issue 7): it produces rows for the sources of the demo catalog
// (testdata/catalog/commercial_order_lifecycle.yaml) as a multinational
// retailer's systems deliver them, mess included, plus the rows of the
// legacy finance mart the recognized-sales reconciliation compares against.
//
// # Determinism and streaming
//
// A Generator is a pure function of its Config: the same seed, size, days
// and start give byte-identical batches. Every order's whole lifecycle
// (OMS status events, fraud decisions, payments, shipments, a return) is
// derived from its own PCG stream seeded by (seed, order index), so an
// order in flight costs one small heap entry and is re-derived when its next
// event falls due: 10M orders never sit in memory; what does is one window
// of deliveries (Advance), the history day's heap entries (32 bytes an
// order), up to 10,000 lifecycles in a burst of events, and the
// marketplace files still being assembled. WriteFiles streams a history of
// any size to CSV files in 5-minute windows (`dualgate demo
// --generate-only`); a 1M-order week (21M rows) takes about 9 CPU minutes
// and under 500 MB of RSS (figures in the README).
//
// Time is simulated: Day(d) delivers everything whose delivery time falls
// in the d-th 24 hours after Start (orders are placed over Days days with a
// diurnal curve); Advance(to) delivers up to any instant; Trickle(to, n)
// places n more orders after the history (live demo). Batches come per
// source in delivery order (one per marketplace file), split at
// MaxBatchRows. Values have the Go types the ingest pipeline accepts for
// the source's column types: string (text, char), int64 (integer, bigint),
// time.Time (timestamptz, and date at midnight UTC), decimal.Decimal
// (numeric), nil for NULL.
//
// # Basket events
//
// With Config.Baskets the generator also writes the digital channel's
// basket events (serving.basket_events, a non-authoritative serving table
// the web and app backends write; Batch.Serving): every web and app
// order's basket filled in the minutes before it is placed (items added,
// quantities changed, items removed) and checked out, with checkout
// retries (a failed first attempt retried before the order exists; a
// client timeout retried after it did, answered with the order_id; a
// declined payment retried with another method), and at RateAbandoned
// another shopper's basket that is abandoned, sometimes after a failed
// and retried checkout. They come from per-order streams of their own, so
// the sources' rows are identical with or without them.
//
// # The mess, and its rates
//
// Rates are per delivery, per order or per file as stated on the Rate*
// constants. Stats counts what was actually delivered so far, so a test
// can check the pipeline's reports against it:
//
//   - duplicate deliveries / retries: a delivery is sent again 1 s to 6 h
//     later with the same dedupe key (Stats.Duplicates, per source; the
//     pipeline counts them as duplicates); a marketplace file is sometimes
//     delivered twice;
//   - late events: a delivery is held back 1 to 30 hours; later events of
//     the same entity from the same source queue behind it (sources keep
//     per-entity order), but sources drift against each other, so a
//     shipment can arrive before its order's PAID (Stats.Late);
//   - out-of-order events: the second-to-last OMS status event of an order
//     is held back until just after the last one; exactly one of the two
//     is then an illegal transition and is quarantined (Stats.OutOfOrder);
//     when it is the last one, the order is left a state behind and a
//     steward Fix is proposed;
//   - status reversals: the OMS re-sends ACCEPTED after PAID, the WMS
//     re-sends "packed" after "shipped"; quarantined (Stats.Reversals);
//   - manual overrides: a fraud analyst overrides an automatic decline
//     (quarantined: automatic decisions are final, Stats.Overrides), and
//     customer service cancels a paid order and refunds it (legal,
//     Stats.Cancellations); the demo adds steward corrections (Fixes);
//   - a settlement file a day late: the files for transaction date
//     Start+2d arrive a day after the others (Stats.LateFiles);
//   - rule breakers: orders with a negative total or an unknown channel,
//     settlement lines whose net is not gross minus fee (quarantined,
//     Stats.RuleBreakers), and SUBMITTED events stamped 2 s before the
//     placement (a warning rule, Stats.Warnings);
//   - spelling drift the v2 mapping normalizes (upper-case statuses from OMS
//     4.2, " Web"/"APP" channels, lower-case regions and currencies) and
//     e-mail typos (gmial.com) a steward fixes later;
//   - finance: marketplaces bill some orders twice (finance voids the extra
//     line in the ERP), rebook fees, and fix the broken lines.
//
// Stats.Quarantine is the exact number of raw rows per source the pipeline
// must quarantine for what was delivered (the generator mirrors the
// catalog's transitions, checked by a test).
//
// # Legacy finance mart
//
// LegacyMart returns finance_mart.daily_recognized_sales (sales_date,
// region, net_sales_cents) as its nightly job publishes it: orders that
// reached FULFILLED, by placement date and region, with a one-day delay
// (only fulfillments before the last midnight count; LegacyMartThrough
// takes any cutoff). Its known defects
// (see LegacyMart) are a missing day, a double-counted order and a
// rounding drift on APAC.
package demodata
