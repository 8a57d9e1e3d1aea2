package demodata

import (
	"container/heap"
	"encoding/csv"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Source names of the demo catalog, in the order Day and Advance return
// their batches.
const (
	SrcOrders      = "oms_orders"
	SrcPayments    = "payment_events"
	SrcFraud       = "fraud_decisions"
	SrcShipments   = "warehouse_shipments"
	SrcReturns     = "returns"
	SrcSettlements = "marketplace_settlements"
	SrcCorrections = "erp_corrections"
)

// Sources lists the sources the generator feeds, in batch order.
var Sources = []string{SrcOrders, SrcPayments, SrcFraud, SrcShipments, SrcReturns, SrcSettlements, SrcCorrections}

// TableBaskets is the demo catalog's non-authoritative serving table of
// digital-channel basket events (serving.basket_events). Its batches
// (Config.Baskets) come after the sources' and have Serving set: the web
// and app backends write them to the serving table, they are no source.
const TableBaskets = "basket_events"

// BasketColumns are the columns of TableBaskets rows, in row order.
var BasketColumns = []string{"basket_id", "event_seq", "session_id", "customer_id", "event_type", "sku", "quantity",
	"unit_price_cents", "attempt", "order_id", "occurred_at"}

// targets names the batch targets by internal index: the sources, then
// the basket table.
var targets = append(append([]string(nil), Sources...), TableBaskets)

const (
	srcOrders = iota
	srcPayments
	srcFraud
	srcShipments
	srcReturns
	srcSettlements
	srcCorrections
	srcBaskets // serving.basket_events (Config.Baskets)
)

// Rates of the injected mess (see the package comment).
const (
	RateDuplicate       = 0.02  // per delivery: sent again 1 s-6 h later, same dedupe key
	RateLate            = 0.01  // per delivery: held back 1-30 h
	RateOutOfOrder      = 0.005 // per order: last two OMS status events swapped
	RateReversal        = 0.01  // per paid order: OMS re-sends ACCEPTED after PAID
	RateShipReversal    = 0.005 // per shipment: WMS re-sends "packed" after "shipped"
	RateFraudOverride   = 0.2   // per automatic decline: analyst override (quarantined)
	RateCSRCancel       = 0.005 // per paid order: customer service cancels and refunds
	RateRuleBreaker     = 0.004 // per order: negative total or unknown channel
	RateClockSkew       = 0.002 // per order: SUBMITTED stamped 2 s before placement (warning)
	RateEmailTypo       = 0.01  // per order: e-mail domain typo
	RateSettlementBreak = 0.005 // per settlement line: net != gross - fee
	RateDoubleBilled    = 0.01  // per settlement line: billed twice, voided by finance later
	RateFeeRebooking    = 0.02  // per settlement line: fee rebooked by finance later
	RateFileDuplicate   = 0.05  // per settlement file: delivered twice
	// Digital channel (Config.Baskets).
	RateAbandoned      = 0.6  // per order: another shopper's basket that never becomes an order
	RateCheckoutFailed = 0.08 // per web/app order: checkout fails once before it goes through (retried)
	RateCheckoutRetry  = 0.04 // per web/app order: the client retries a checkout that had already placed the order
)

// DefaultStart is the first simulated instant of New generators.
var DefaultStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// Config sets up a Generator.
type Config struct {
	Seed   int64
	Orders int // orders placed over the history days (>= 1)
	Days   int // history days (>= 1)
	// Start is the first instant of day 0 (truncated to microseconds);
	// zero means DefaultStart.
	Start time.Time
	// MaxBatchRows splits larger batches (0: 5000).
	MaxBatchRows int
	// Baskets adds the digital channel's basket events (TableBaskets
	// batches): basket mutations and checkout attempts of web and app
	// orders, and abandoned baskets. They come from streams of their own,
	// so the sources' rows are the same with or without them.
	Baskets bool
}

// Batch is rows of one source in the source's column order, as one
// delivery to the pipeline (Ingest(ctx, b.Source, b.Rows, by)); or, with
// Serving set, rows of the serving table TableBaskets (BasketColumns) as
// the digital channel's backends write them.
type Batch struct {
	Source string
	// Name is the marketplace file name of a settlement batch, else "".
	Name string
	Rows [][]any
	// Serving: Source names a serving table (TableBaskets), not a source.
	Serving bool
}

// Fix is a steward correction the generator knows to be right: set
// Columns to Values on the Entity row with Key (the entity's key values).
type Fix struct {
	Entity  string
	Key     []any
	Columns []string
	Values  []any
	Message string
}

// Stats counts what the generator delivered so far (see the package
// comment). Maps are keyed by source name.
type Stats struct {
	Orders        int // orders whose submission was delivered (rule breakers included)
	Batches       int
	Rows          map[string]int // rows delivered, duplicates included
	Duplicates    map[string]int // rows whose dedupe key was delivered before
	Quarantine    map[string]int // rows the pipeline must quarantine
	Warnings      int            // rows violating a warning rule (clock skew)
	Late          int            // deliveries held back
	OutOfOrder    int            // OMS status pairs delivered swapped
	Reversals     map[string]int // reversal rows (quarantined)
	Overrides     int            // fraud overrides of automatic declines (quarantined)
	RuleBreakers  map[string]int // rows breaking a domain rule (quarantined)
	Cancellations int            // customer-service cancellations of paid orders
	EmailTypos    int            // orders delivered with an e-mail typo
	LateFiles     int            // settlement files delivered a day late
	DoubleBilled  int            // settlement lines billed twice
	ERP           int            // ERP corrections delivered
	// Digital channel (Config.Baskets; rows are Rows[TableBaskets]).
	Baskets          int // baskets started
	AbandonedBaskets int // baskets started that never become an order
	CheckoutRetries  int // checkout_retry events
	OrderRetries     int // checkout_retry events of a checkout that had already placed its order (order_id set)
}

func newStats() Stats {
	return Stats{Rows: map[string]int{}, Duplicates: map[string]int{}, Quarantine: map[string]int{},
		Reversals: map[string]int{}, RuleBreakers: map[string]int{}}
}

func (s Stats) clone() Stats {
	c := s
	for _, m := range []*map[string]int{&c.Rows, &c.Duplicates, &c.Quarantine, &c.Reversals, &c.RuleBreakers} {
		n := make(map[string]int, len(*m))
		for k, v := range *m {
			n[k] = v
		}
		*m = n
	}
	return c
}

// Generator produces the demo sources' deliveries; see the package comment.
// It is not safe for concurrent use.
type Generator struct {
	cfg      Config
	start    int64 // µs
	cursor   int64 // µs: everything delivered before it has been returned
	enqueued int   // history days whose orders are on the heap
	nextIdx  int64 // next trickle order index
	nCust    int
	orders   orderHeap
	misc     miscHeap
	miscSeq  int64
	files    map[fileKey]*file
	mart     map[int64]map[martKey]int64 // fulfillment minute -> (sales date, region) -> cents
	doubled  map[int64]bool              // sales dates whose double-counted order is chosen
	stats    Stats
	fixes    []Fix
	// cache keeps the lifecycles of up to cacheOrders orders in flight;
	// the others are derived again when their next event falls due.
	cache map[int64][]*delivery
}

// cacheOrders bounds the lifecycles kept in memory between windows, and
// only lifecycles whose next event is due within cacheHorizon are kept:
// an order's events come in bursts (checkout to capture within the hour,
// the warehouse hours later, delivery and returns days later), so each
// burst costs one derivation, whatever the window.
const (
	cacheOrders  = 10_000
	cacheHorizon = hourUS
)

// New returns a generator of orders orders placed over days days from
// DefaultStart.
func New(seed int64, orders, days int) *Generator {
	return NewConfig(Config{Seed: seed, Orders: orders, Days: days})
}

// NewConfig returns a generator for cfg.
func NewConfig(cfg Config) *Generator {
	if cfg.Orders < 1 {
		cfg.Orders = 1
	}
	if cfg.Days < 1 {
		cfg.Days = 1
	}
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart
	}
	if cfg.MaxBatchRows <= 0 {
		cfg.MaxBatchRows = 5000
	}
	cfg.Start = cfg.Start.UTC().Truncate(time.Microsecond)
	g := &Generator{cfg: cfg, start: cfg.Start.UnixMicro(), nextIdx: int64(cfg.Orders),
		nCust: max(50, cfg.Orders/3), files: map[fileKey]*file{}, mart: map[int64]map[martKey]int64{},
		doubled: map[int64]bool{}, stats: newStats(), cache: map[int64][]*delivery{}}
	g.cursor = g.start
	return g
}

// Days is the number of history days.
func (g *Generator) Days() int { return g.cfg.Days }

// Config is the generator's configuration (defaults applied).
func (g *Generator) Config() Config { return g.cfg }

// Start is the first instant of day 0.
func (g *Generator) Start() time.Time { return g.cfg.Start }

// End is the end of the history (Start + Days*24h).
func (g *Generator) End() time.Time { return g.DayEnd(g.cfg.Days - 1) }

// DayEnd is the end of day d.
func (g *Generator) DayEnd(d int) time.Time { return ts(g.start + int64(d+1)*dayUS) }

// Now is the simulated clock: everything delivered before it was returned.
func (g *Generator) Now() time.Time { return ts(g.cursor) }

// Stats returns a copy of the counts of what was delivered so far.
func (g *Generator) Stats() Stats { return g.stats.clone() }

// Fixes returns the steward corrections known so far (e-mail typos of
// orders whose OMS events are all delivered; orders left a state behind by
// an out-of-order pair).
func (g *Generator) Fixes() []Fix { return append([]Fix(nil), g.fixes...) }

// Day returns the deliveries of day d (everything due before DayEnd(d)
// that was not returned yet): call it for d = 0, 1, ... in order.
func (g *Generator) Day(d int) []Batch { return g.Advance(g.DayEnd(d)) }

// Trickle places orders more orders evenly over [Now, to) (indexes after
// the history's) and returns everything delivered before to. It is what
// the live demo calls every tick with to = time.Now().
func (g *Generator) Trickle(to time.Time, orders int) []Batch {
	end := to.UTC().Truncate(time.Microsecond).UnixMicro()
	if end <= g.cursor {
		return nil
	}
	g.enqueueHistory(end)
	span := end - g.cursor
	for i := 0; i < orders; i++ {
		placed := g.cursor + span*int64(i)/int64(orders)
		heap.Push(&g.orders, orderEntry{at: placed, placed: placed, idx: g.nextIdx})
		g.nextIdx++
	}
	return g.Advance(to)
}

// Advance returns everything delivered in [Now, to) and moves the clock
// to to. History orders placed before to are included. Batches are cut per
// call, so the same Config advanced by the same instants gives the same
// batches (Day(d) advances to DayEnd(d)); ingest them in the order
// returned, since Stats' quarantine prediction relies on per-entity order.
func (g *Generator) Advance(to time.Time) []Batch {
	end := to.UTC().Truncate(time.Microsecond).UnixMicro()
	if end <= g.cursor {
		return nil
	}
	g.enqueueHistory(end)
	var out []*delivery
	for g.orders.Len() > 0 && g.orders[0].at < end {
		e := heap.Pop(&g.orders).(orderEntry)
		dl, cached := g.cache[e.idx]
		if !cached {
			// The first derivation books the order's side effects
			// (settlement lines, the legacy mart); later ones are pure.
			dl = g.lifecycle(e.idx, e.placed, !e.derived)
			e.derived = true
		}
		k := e.next
		for ; k < len(dl) && dl[k].at < end; k++ {
			out = append(out, dl[k])
		}
		switch {
		case k == len(dl):
			delete(g.cache, e.idx)
		case dl[k].at-end < cacheHorizon && (cached || len(g.cache) < cacheOrders):
			// Busy lifecycles (the next event soon) stay cached; the
			// others are derived again when their next event is due.
			g.cache[e.idx] = dl
		default:
			delete(g.cache, e.idx)
		}
		if k < len(dl) {
			e.at, e.next = dl[k].at, k
			heap.Push(&g.orders, e)
		}
	}
	for g.misc.Len() > 0 && g.misc[0].at < end {
		m := heap.Pop(&g.misc).(*miscEntry)
		out = append(out, g.runMisc(m)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.at != b.at {
			return a.at < b.at
		}
		if a.order != b.order {
			return a.order < b.order
		}
		return a.k < b.k
	})
	g.cursor = end
	return g.batches(out)
}

// enqueueHistory puts the orders of history days starting before end on
// the heap.
func (g *Generator) enqueueHistory(end int64) {
	for g.enqueued < g.cfg.Days && g.start+int64(g.enqueued)*dayUS < end {
		d := g.enqueued
		lo := int64(d) * int64(g.cfg.Orders) / int64(g.cfg.Days)
		hi := int64(d+1) * int64(g.cfg.Orders) / int64(g.cfg.Days)
		dayStart := g.start + int64(d)*dayUS
		for i := lo; i < hi; i++ {
			r := g.rng(i, saltPlace)
			var off int64
			for {
				off = r.Int64N(dayUS)
				if r.IntN(10) < hourWeight[ts(dayStart+off).Hour()] {
					break
				}
			}
			heap.Push(&g.orders, orderEntry{at: dayStart + off, placed: dayStart + off, idx: i})
		}
		g.enqueued++
	}
}

// batches groups deliveries (in delivery order) into batches per source and
// counts them in Stats.
func (g *Generator) batches(dl []*delivery) []Batch {
	per := make([][]*delivery, len(targets))
	for _, d := range dl {
		per[d.src] = append(per[d.src], d)
		g.count(d)
	}
	var out []Batch
	for s, list := range per {
		var cur *Batch
		for _, d := range list {
			// A marketplace file is a batch of its own; other deliveries
			// fill a batch up to MaxBatchRows.
			full := cur != nil && len(cur.Rows) > 0 && len(cur.Rows)+len(d.rows) > g.cfg.MaxBatchRows
			if cur == nil || full || d.file != "" || cur.Name != "" {
				out = append(out, Batch{Source: targets[s], Name: d.file, Serving: s == srcBaskets})
				cur = &out[len(out)-1]
			}
			cur.Rows = append(cur.Rows, d.rows...)
		}
	}
	g.stats.Batches += len(out)
	return out
}

func (g *Generator) count(d *delivery) {
	src := targets[d.src]
	g.stats.Rows[src] += len(d.rows)
	if d.src == srcBaskets {
		if d.basket {
			g.stats.Baskets++
		}
		if d.abandoned {
			g.stats.AbandonedBaskets++
		}
		if d.retry {
			g.stats.CheckoutRetries++
		}
		if d.retryOrder {
			g.stats.OrderRetries++
		}
		return
	}
	if d.dup {
		g.stats.Duplicates[src] += len(d.rows)
		return
	}
	if d.quar > 0 {
		g.stats.Quarantine[src] += d.quar
	}
	g.stats.Warnings += d.warn
	if d.late {
		g.stats.Late++
	}
	if d.swapped {
		g.stats.OutOfOrder++
	}
	if d.reversal > 0 {
		g.stats.Reversals[src] += d.reversal
	}
	if d.breaker > 0 {
		g.stats.RuleBreakers[src] += d.breaker
	}
	if d.override {
		g.stats.Overrides++
	}
	if d.csr {
		g.stats.Cancellations++
	}
	if d.placed {
		g.stats.Orders++
	}
	if d.typo {
		g.stats.EmailTypos++
	}
	if d.lateFile {
		g.stats.LateFiles++
	}
	g.stats.DoubleBilled += d.doubled
	if d.src == srcCorrections {
		g.stats.ERP += len(d.rows)
	}
	if d.fix != nil {
		g.fixes = append(g.fixes, *d.fix)
	}
}

// CSV renders b as CSV with a header line (the columns are given, e.g. the
// catalog source's), the way marketplace files arrive for COPY ... (FORMAT
// csv, HEADER): timestamps RFC 3339, dates YYYY-MM-DD, NULL as empty.
func (b Batch) CSV(columns []string) string {
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	_ = w.Write(columns)
	rec := make([]string, len(columns))
	for _, r := range b.Rows {
		for i := range rec {
			rec[i] = ""
			if i < len(r) {
				rec[i] = csvValue(r[i])
			}
		}
		_ = w.Write(rec)
	}
	w.Flush()
	return sb.String()
}

func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format("2006-01-02")
		}
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// ---- time and randomness ----

const (
	secUS  = int64(time.Second / time.Microsecond)
	minUS  = 60 * secUS
	hourUS = 60 * minUS
	dayUS  = 24 * hourUS
)

// hourWeight is the diurnal curve of order placement (UTC hour, out of 10).
var hourWeight = [24]int{3, 2, 2, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 8, 8, 8, 9, 10, 10, 10, 9, 7, 5, 4}

func ts(us int64) time.Time { return time.UnixMicro(us).UTC() }

func date(us int64) time.Time {
	t := ts(us)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func dateUS(us int64) int64 { return date(us).UnixMicro() }

const (
	saltPlace = 0x5bd1e995
	saltLife  = 0x27d4eb2f
	saltCust  = 0x165667b1
	saltFile  = 0x61c88647
	saltCart  = 0x7feb352d
)

func (g *Generator) rng(idx int64, salt uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(g.cfg.Seed)^salt*0x9E3779B97F4A7C15, uint64(idx)*0xBF58476D1CE4E5B9+salt))
}

func (g *Generator) rngString(s string, salt uint64) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return g.rng(int64(h.Sum64()>>1), salt)
}

func between(r *rand.Rand, lo, hi int64) int64 { return lo + r.Int64N(hi-lo+1) }

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// ---- heaps ----

type orderEntry struct {
	at, placed, idx int64
	next            int
	derived         bool // the lifecycle was derived once (side effects booked)
}

type orderHeap []orderEntry

func (h orderHeap) Len() int { return len(h) }
func (h orderHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].idx < h[j].idx
}
func (h orderHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *orderHeap) Push(x any)   { *h = append(*h, x.(orderEntry)) }
func (h *orderHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type miscEntry struct {
	at, seq int64
	file    fileKey // a marketplace file to deliver
	dup     bool    // a second delivery of file
	rows    [][]any // pre-built rows (ERP corrections, file duplicates)
	src     int
	name    string
}

type miscHeap []*miscEntry

func (h miscHeap) Len() int { return len(h) }
func (h miscHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h miscHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *miscHeap) Push(x any)   { *h = append(*h, x.(*miscEntry)) }
func (h *miscHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (g *Generator) pushMisc(m *miscEntry) {
	g.miscSeq++
	m.seq = g.miscSeq
	heap.Push(&g.misc, m)
}
