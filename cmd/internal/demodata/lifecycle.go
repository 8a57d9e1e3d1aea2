package demodata

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/shopspring/decimal"
)

// delivery is one source event as it reaches the pipeline: its rows and
// what it carries of the mess (counted in Stats when it is returned).
type delivery struct {
	at    int64
	src   int
	rows  [][]any
	order int64 // sort tiebreak: order index (misc: 1<<62 + seq)
	k     int   // index in the order's lifecycle
	file  string
	fix   *Fix

	dup, late, swapped, override, csr, placed, typo, lateFile bool
	quar, warn, reversal, breaker, doubled                    int
	basket, abandoned, retry, retryOrder                      bool // basket events (Stats)
}

type chain struct{ last int64 }

// latency is each source's normal delivery delay (µs, min and max).
var latency = [...][2]int64{
	srcOrders:    {200_000, 3 * secUS},
	srcPayments:  {100_000, 2 * secUS},
	srcFraud:     {50_000, secUS},
	srcShipments: {secUS, 60 * secUS},
	srcReturns:   {minUS, 30 * minUS},
}

type builder struct {
	r   *rand.Rand
	idx int64
	dl  []*delivery
	// payFailed are the times of the order's failed payments; gaveUp is
	// set when the last one made the OMS cancel the order (basket events
	// follow them).
	payFailed []int64
	gaveUp    bool
}

// add schedules a delivery of rows that occurred at occurred on chain c
// (one entity of one source: deliveries never overtake each other).
func (b *builder) add(c *chain, src int, occurred int64, rows [][]any) *delivery {
	at := occurred + between(b.r, latency[src][0], latency[src][1])
	d := &delivery{src: src, rows: rows, order: b.idx}
	if b.r.Float64() < RateLate {
		at += between(b.r, hourUS, 30*hourUS)
		d.late = true
	}
	if at <= c.last {
		at = c.last + 1
	}
	c.last, d.at = at, at
	b.dl = append(b.dl, d)
	return d
}

// orderTransitions mirrors commercial_orders' transitions in the catalog
// (a test checks they agree).
var orderTransitions = map[string][]string{
	"submitted": {"accepted", "rejected", "cancelled"},
	"accepted":  {"paid", "cancelled"},
	"paid":      {"fulfilled", "cancelled"},
	"fulfilled": {"closed"},
}

func orderAllows(from, to string) bool {
	if from == "" {
		return to == "submitted"
	}
	if from == to {
		return true
	}
	for _, s := range orderTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

type line struct {
	no         int64
	sku        string
	qty, price int64
}

type order struct {
	idx                                   int64
	id                                    string
	placed                                int64
	cust                                  customer
	channel, chanRaw, region, regionRaw   string
	currency, currRaw, email, method, mkt string
	lines                                 []line
	total                                 int64
	upper, typo                           bool
}

type customer struct{ id, email, phone, region string }

var (
	firstNames = []string{"anna", "ben", "chloe", "david", "emma", "felix", "hana", "ivan", "julia", "kenji", "lena", "marco", "nora", "omar", "priya", "quinn", "rosa", "sven", "tomoko", "uma", "victor", "wei", "yara", "zoe"}
	lastNames  = []string{"schmidt", "martin", "rossi", "garcia", "smith", "johnson", "tanaka", "suzuki", "kim", "nguyen", "brown", "muller", "dubois", "jansen", "larsen", "wilson", "chen", "patel", "silva", "novak"}
	domains    = []string{"gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "web.de", "orange.fr"}
	typos      = map[string]string{"gmail.com": "gmial.com", "outlook.com": "outlok.com", "yahoo.com": "yaho.com", "icloud.com": "icloud.co", "proton.me": "proton.m", "web.de": "web.d", "orange.fr": "orange.rf"}
	currencies = map[string][]string{"EU": {"EUR", "EUR", "EUR", "EUR", "GBP", "SEK"}, "NA": {"USD", "USD", "USD", "USD", "CAD"}, "APAC": {"JPY", "JPY", "AUD", "AUD", "SGD"}}
	// fx converts catalog prices (USD cents) to minor units of a currency.
	fx           = map[string]float64{"EUR": 0.92, "GBP": 0.79, "SEK": 10.5, "USD": 1, "CAD": 1.36, "JPY": 1.5, "AUD": 1.52, "SGD": 1.34}
	warehouses   = map[string][]string{"EU": {"DE-LEJ1", "NL-AMS2", "PL-WRO1"}, "NA": {"US-ONT8", "US-EWR4", "CA-YYZ2"}, "APAC": {"JP-TYO3", "AU-SYD1", "SG-SIN1"}}
	carriers     = map[string][]string{"EU": {"DHL", "DPD", "UPS"}, "NA": {"UPS", "FedEx", "USPS"}, "APAC": {"Yamato", "AusPost", "DHL"}}
	marketplaces = map[string][]string{"EU": {"amazon_eu", "zalando"}, "NA": {"amazon_us", "walmart"}, "APAC": {"rakuten", "amazon_jp"}}
	mktIndex     = map[string]int64{"amazon_eu": 0, "zalando": 1, "amazon_us": 2, "walmart": 3, "rakuten": 4, "amazon_jp": 5}
	chanRaw      = map[string][]string{"web": {"web", "web", "Web", " web"}, "app": {"app", "app", "APP"}, "store": {"store", "STORE"}, "marketplace": {"marketplace", "Marketplace"}}
	returnReason = []string{"too_small", "too_large", "damaged", "not_as_described", "changed_mind", "late_delivery"}
	finance      = []string{"fin.anders", "fin.baptiste", "fin.chen"}
)

func (g *Generator) customer(c int) customer {
	r := g.rng(int64(c), saltCust)
	region := "EU"
	switch u := r.IntN(100); {
	case u >= 80:
		region = "APAC"
	case u >= 45:
		region = "NA"
	}
	first, last := pick(r, firstNames), pick(r, lastNames)
	email := fmt.Sprintf("%s.%s%d@%s", first, last, c%1000, pick(r, domains))
	var phone string
	switch region {
	case "EU":
		phone = fmt.Sprintf("+49 151 %08d", r.IntN(1e8))
	case "NA":
		phone = fmt.Sprintf("+1 %03d 555 %04d", 200+r.IntN(700), r.IntN(1e4))
	default:
		phone = fmt.Sprintf("+81 90 %04d %04d", r.IntN(1e4), r.IntN(1e4))
	}
	return customer{id: fmt.Sprintf("CUST-%07d", c+1), email: email, phone: phone, region: region}
}

func skuPrice(n int) int64 { return 900 + int64((n*7919)%240)*100 }

func (g *Generator) newOrder(r *rand.Rand, idx, placed int64) *order {
	o := &order{idx: idx, id: fmt.Sprintf("ORD-%08d", idx+1), placed: placed}
	o.cust = g.customer(r.IntN(g.nCust))
	o.region = o.cust.region
	o.regionRaw = o.region
	if r.IntN(50) == 0 {
		o.regionRaw = strings.ToLower(o.region)
	}
	switch u := r.IntN(100); {
	case u < 45:
		o.channel = "web"
	case u < 75:
		o.channel = "app"
	case u < 85:
		o.channel = "store"
	default:
		o.channel = "marketplace"
	}
	o.chanRaw = pick(r, chanRaw[o.channel])
	o.currency = pick(r, currencies[o.region])
	o.currRaw = o.currency
	if r.IntN(200) == 0 {
		o.currRaw = strings.ToLower(o.currency)
	}
	o.email = o.cust.email
	o.typo = r.Float64() < RateEmailTypo
	if o.typo {
		at := strings.LastIndexByte(o.email, '@')
		o.email = o.email[:at+1] + typos[o.email[at+1:]]
	}
	if r.IntN(20) == 0 {
		o.email = strings.ToUpper(o.email[:1]) + o.email[1:]
	}
	o.upper = r.IntN(10) < 6
	o.method = pick(r, []string{"card", "card", "card", "paypal", "apple_pay", "klarna"})
	switch o.channel {
	case "store":
		o.method = "card_present"
	case "marketplace":
		o.method = "marketplace"
		o.mkt = pick(r, marketplaces[o.region])
	}
	n := 1
	switch u := r.IntN(100); {
	case u >= 95:
		n = 4
	case u >= 80:
		n = 3
	case u >= 50:
		n = 2
	}
	for i := 0; i < n; i++ {
		s := r.IntN(240)
		price := int64(float64(skuPrice(s)) * fx[o.currency])
		l := line{no: int64(i + 1), sku: fmt.Sprintf("SKU-%05d", 10000+s), qty: between(r, 1, 3), price: price}
		o.lines = append(o.lines, l)
		o.total += l.qty * l.price
	}
	return o
}

func (o *order) status(s string) string {
	if o.upper {
		return strings.ToUpper(s)
	}
	return s
}

func (o *order) omsRows(evID, status string, occurred int64, lines []line, total int64, channel string) [][]any {
	rows := make([][]any, len(lines))
	for i, l := range lines {
		rows[i] = []any{evID, o.id, l.no, o.status(status), o.cust.id, o.email, o.cust.phone, channel, o.regionRaw,
			o.currRaw, l.sku, l.qty, l.price, total, ts(o.placed), ts(occurred)}
	}
	return rows
}

type omsEv struct {
	status   string
	at       int64
	reversal bool
	csr      bool
}

// lifecycle derives order idx's deliveries, sorted by delivery time. first
// is true the first time (side effects: settlement lines, the legacy mart).
func (g *Generator) lifecycle(idx, placed int64, first bool) []*delivery {
	r := g.rng(idx, saltLife)
	b := &builder{r: r, idx: idx}
	o := g.newOrder(r, idx, placed)
	if r.Float64() < RateRuleBreaker {
		// A test order keyed in by hand: one line, a negative total or an
		// unknown channel. It never goes further than quarantine.
		total, ch := o.total, "callcenter"
		if r.IntN(2) == 0 {
			total, ch = -o.lines[0].qty*o.lines[0].price, o.chanRaw
		} else {
			total = o.lines[0].qty * o.lines[0].price
		}
		d := b.add(&chain{}, srcOrders, placed, o.omsRows(fmt.Sprintf("oms-%09d-00", idx+1), "submitted", placed, o.lines[:1], total, ch))
		d.quar, d.breaker, d.placed = 1, 1, true
		return b.finish()
	}
	skew := r.Float64() < RateClockSkew
	evs := []omsEv{{status: "submitted", at: placed}}
	if skew {
		evs[0].at = placed - 2*secUS
	}
	fulfilledAt := int64(-1)
	pc := &chain{}
	pspN := 0
	psp := func(c *chain, id, typ string, at, auth, capd, ref int64, capAt int64) {
		pspN++
		var ca any
		if capAt > 0 {
			ca = ts(capAt)
		}
		b.add(c, srcPayments, at, [][]any{{fmt.Sprintf("psp-%09d-%02d", idx+1, pspN), id, o.id, typ, o.method, o.currency,
			auth, capd, ref, ca, ts(at)}})
	}
	if o.channel == "store" {
		pay, capAt := fmt.Sprintf("PAY-%08d-1", idx+1), placed+8*secUS
		psp(pc, pay, "authorized", placed+5*secUS, o.total, 0, 0, 0)
		psp(pc, pay, "captured", capAt, o.total, o.total, 0, capAt)
		fulfilledAt = placed + 60*secUS
		evs = append(evs, omsEv{status: "accepted", at: placed + 10*secUS}, omsEv{status: "paid", at: placed + 12*secUS},
			omsEv{status: "fulfilled", at: fulfilledAt}, omsEv{status: "closed", at: placed + 120*secUS})
	} else {
		g.flow(b, o, &evs, pc, psp, &fulfilledAt, first)
	}
	// The OMS chain.
	oc := &chain{}
	ds := make([]*delivery, len(evs))
	for n, e := range evs {
		ds[n] = b.add(oc, srcOrders, e.at, o.omsRows(fmt.Sprintf("oms-%09d-%02d", idx+1, n+1), e.status, e.at, o.lines, o.total, o.chanRaw))
		if e.reversal {
			ds[n].quar, ds[n].reversal = 1, 1
		}
		ds[n].csr = e.csr
	}
	ds[0].placed, ds[0].typo = true, o.typo
	if skew {
		ds[0].warn = 1
	}
	reversed := false
	for _, e := range evs {
		reversed = reversed || e.reversal
	}
	if r.Float64() < RateOutOfOrder && !reversed && len(evs) >= 2 {
		a, z := len(evs)-2, len(evs)-1
		prev := ""
		if a > 0 {
			prev = evs[a-1].status
		}
		A, Z := ds[a], ds[z]
		// A is held back until just after Z (its successor) arrived.
		A.at = Z.at + between(r, secUS, 10*minUS)
		Z.swapped = true
		if orderAllows(prev, evs[z].status) {
			A.quar = 1
		} else {
			Z.quar = 1
			A.fix = &Fix{Entity: "commercial_orders", Key: []any{o.id}, Columns: []string{"status", "status_changed_at"},
				Values: []any{evs[z].status, ts(evs[z].at)},
				Message: fmt.Sprintf("OMS sent %s before %s (quarantined as an illegal transition); set to %s as the OMS confirms",
					strings.ToUpper(evs[z].status), strings.ToUpper(evs[a].status), evs[z].status)}
		}
	}
	if o.typo {
		last := ds[0]
		for _, d := range ds {
			if d.at > last.at {
				last = d
			}
		}
		if last.fix == nil {
			last.fix = &Fix{Entity: "commercial_orders", Key: []any{o.id}, Columns: []string{"customer_email"},
				Values: []any{strings.ToLower(o.cust.email)}, Message: "customer e-mail typo corrected after the customer called support"}
		}
	}
	if first && fulfilledAt >= 0 {
		g.recognize(o, fulfilledAt)
	}
	if g.cfg.Baskets {
		return b.finish(g.baskets(o, b.payFailed, b.gaveUp)...)
	}
	return b.finish()
}

// flow is the lifecycle of a web, app or marketplace order after
// submission: fraud screening, payment, acceptance, capture, shipments,
// a return.
func (g *Generator) flow(b *builder, o *order, evs *[]omsEv, pc *chain, psp func(*chain, string, string, int64, int64, int64, int64, int64), fulfilledAt *int64, first bool) {
	r, idx := b.r, o.idx
	fc := &chain{}
	fraudN := 0
	fraud := func(at int64, decision string, score int64, model, reasons string) *delivery {
		fraudN++
		return b.add(fc, srcFraud, at, [][]any{{fmt.Sprintf("FRD-%08d-%d", idx+1, fraudN), o.id, decision,
			decimal.New(score, -4), model, reasons, ts(at)}})
	}
	autoAt := o.placed + between(r, 2*secUS, 30*secUS)
	decision, score, reasons := "approve", between(r, 100, 4000), "none"
	switch u := r.Float64(); {
	case u >= 0.98:
		decision, score, reasons = "decline", between(r, 8500, 9900), pick(r, []string{"velocity", "card_bin_mismatch", "proxy_ip"})
	case u >= 0.93:
		decision, score, reasons = "review", between(r, 5000, 8400), pick(r, []string{"new_device", "address_mismatch", "high_value"})
	}
	fraud(autoAt, decision, score, "risk-v7.3", reasons)
	clearAt, approved := autoAt, decision == "approve"
	if decision == "review" {
		clearAt = autoAt + between(r, 2*hourUS, 30*hourUS)
		approved = r.IntN(10) < 8
		d := "decline"
		if approved {
			d = "approve"
		}
		fraud(clearAt, d, score, "manual-review", reasons)
	}
	if decision == "decline" && r.Float64() < RateFraudOverride {
		d := fraud(autoAt+between(r, hourUS, 8*hourUS), "approve", score, "manual-override", reasons+";analyst_override")
		d.quar, d.override = 1, true
	}
	payAt := o.placed + between(r, 3*secUS, 20*secUS)
	pay := fmt.Sprintf("PAY-%08d-1", idx+1)
	if r.Float64() < 0.03 {
		psp(&chain{}, pay, "failed", payAt, 0, 0, 0, 0)
		b.payFailed = append(b.payFailed, payAt)
		pay = fmt.Sprintf("PAY-%08d-2", idx+1)
		payAt += between(r, minUS, 5*minUS)
		if r.IntN(5) == 0 {
			psp(pc, pay, "failed", payAt, 0, 0, 0, 0)
			b.payFailed, b.gaveUp = append(b.payFailed, payAt), true
			*evs = append(*evs, omsEv{status: "cancelled", at: payAt + 10*minUS})
			return
		}
	}
	psp(pc, pay, "authorized", payAt, o.total, 0, 0, 0)
	if !approved {
		rej := clearAt + between(r, 30*secUS, 2*minUS)
		*evs = append(*evs, omsEv{status: "rejected", at: rej})
		psp(pc, pay, "voided", rej+between(r, minUS, 10*minUS), o.total, 0, 0, 0)
		return
	}
	acc := max(clearAt, payAt) + between(r, 30*secUS, 5*minUS)
	*evs = append(*evs, omsEv{status: "accepted", at: acc})
	if r.IntN(50) == 0 {
		c := acc + between(r, 10*minUS, 6*hourUS)
		*evs = append(*evs, omsEv{status: "cancelled", at: c})
		psp(pc, pay, "voided", c+between(r, minUS, 10*minUS), o.total, 0, 0, 0)
		return
	}
	capAt := acc + between(r, minUS, 60*minUS)
	psp(pc, pay, "captured", capAt, o.total, o.total, 0, capAt)
	if o.channel == "marketplace" {
		g.settle(r, o, capAt, first)
	}
	paid := capAt + between(r, 5*secUS, 60*secUS)
	*evs = append(*evs, omsEv{status: "paid", at: paid})
	reversal := r.Float64() < RateReversal
	if r.Float64() < RateCSRCancel {
		c := paid + between(r, hourUS, 12*hourUS)
		*evs = append(*evs, omsEv{status: "cancelled", at: c, csr: true})
		psp(pc, pay, "refunded", c+between(r, minUS, 30*minUS), o.total, o.total, o.total, capAt)
		return
	}
	if reversal {
		*evs = append(*evs, omsEv{status: "accepted", at: paid + between(r, minUS, 30*minUS), reversal: true})
	}
	groups := [][]line{o.lines}
	if len(o.lines) >= 2 && r.IntN(10) == 0 {
		groups = [][]line{o.lines[:1], o.lines[1:]}
	}
	var lastShipped, lastDelivered int64
	delivered := true
	for si, grp := range groups {
		sid := fmt.Sprintf("SHP-%08d-%d", idx+1, si+1)
		wh, carrier := pick(r, warehouses[o.region]), pick(r, carriers[o.region])
		// Older WMS installations (sites numbered 1) send upper-case statuses.
		upper := wh[len(wh)-1] == '1'
		sc := &chain{}
		evN := 0
		wms := func(status string, at int64, shippedAt int64) *delivery {
			evN++
			rows := make([][]any, len(grp))
			for i, l := range grp {
				var sa any
				if shippedAt > 0 {
					sa = ts(shippedAt)
				}
				st := status
				if upper {
					st = strings.ToUpper(st)
				}
				rows[i] = []any{fmt.Sprintf("WMS-%08d-%d-%d-%d", idx+1, si+1, evN, l.no), sid, l.no, o.id, l.sku, l.qty, wh, carrier, st, sa, ts(at)}
			}
			return b.add(sc, srcShipments, at, rows)
		}
		picked := paid + between(r, 2*hourUS, 20*hourUS)
		packed := picked + between(r, 30*minUS, 3*hourUS)
		shipped := packed + between(r, hourUS, 6*hourUS)
		wms("picked", picked, 0)
		wms("packed", packed, 0)
		wms("shipped", shipped, shipped)
		lastShipped = max(lastShipped, shipped)
		if r.Float64() < RateShipReversal {
			d := wms("packed", shipped+between(r, 10*minUS, 60*minUS), 0)
			d.quar, d.reversal = len(d.rows), len(d.rows)
		}
		if r.IntN(300) == 0 {
			wms("lost", shipped+between(r, 3*dayUS, 5*dayUS), shipped)
			delivered = false
		} else {
			dl := shipped + between(r, dayUS, 4*dayUS)
			wms("delivered", dl, shipped)
			lastDelivered = max(lastDelivered, dl)
		}
	}
	ful := lastShipped + between(r, 5*minUS, 30*minUS)
	*fulfilledAt = ful
	*evs = append(*evs, omsEv{status: "fulfilled", at: ful})
	if !delivered {
		return
	}
	*evs = append(*evs, omsEv{status: "closed", at: lastDelivered + 2*dayUS + between(r, 0, 6*hourUS)})
	if r.IntN(100) >= 8 {
		return
	}
	l := o.lines[r.IntN(len(o.lines))]
	qty := between(r, 1, l.qty)
	rma := fmt.Sprintf("RMA-%08d", idx+1)
	reason := pick(r, returnReason)
	// Requested within four days of delivery and refunded within about
	// five days of the request, so a week of history (the demo's) holds
	// refunds, and returns_reduce_net_sales has refunds to book.
	req := lastDelivered + between(r, 6*hourUS, 4*dayUS)
	rc := &chain{}
	retN := 0
	ret := func(status string, at, refund int64) {
		retN++
		b.add(rc, srcReturns, at, [][]any{{fmt.Sprintf("RET-%08d-%d", idx+1, retN), rma, o.id, l.no, l.sku, qty, o.region,
			reason, status, refund, ts(req), ts(at)}})
	}
	ret("requested", req, 0)
	t := req + between(r, 2*hourUS, 24*hourUS)
	if r.IntN(10) == 0 {
		ret("rejected", t, 0)
		return
	}
	ret("authorized", t, 0)
	if r.IntN(20) == 0 {
		ret("cancelled", t+7*dayUS, 0)
		return
	}
	t += between(r, dayUS, 3*dayUS)
	ret("received", t, 0)
	t += between(r, hourUS, 48*hourUS)
	refund := qty * l.price
	ret("refunded", t, refund)
	psp(pc, pay, "refunded", t+between(r, minUS, 30*minUS), o.total, o.total, refund, capAt)
}

// finish adds the duplicate deliveries (of the sources' deliveries) and
// extra (basket events, never duplicated), and sorts the lifecycle.
func (b *builder) finish(extra ...*delivery) []*delivery {
	n := len(b.dl)
	for i := 0; i < n; i++ {
		if b.r.Float64() < RateDuplicate {
			d := b.dl[i]
			b.dl = append(b.dl, &delivery{at: d.at + between(b.r, secUS, 6*hourUS), src: d.src, rows: d.rows, order: d.order, dup: true})
		}
	}
	b.dl = append(b.dl, extra...)
	sort.SliceStable(b.dl, func(i, j int) bool { return b.dl[i].at < b.dl[j].at })
	for i, d := range b.dl {
		d.k = i
	}
	return b.dl
}
