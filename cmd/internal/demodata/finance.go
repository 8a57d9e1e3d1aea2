package demodata

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

type fileKey struct {
	mkt string
	day int64 // transaction date (µs at midnight UTC)
}

type stlLine struct {
	id, order, currency string
	gross, fee, net     int64
	capAt, idx          int64
	breaker, rebook     bool
	doubleOf            string // settlement id this line bills again
}

type file struct {
	key   fileKey
	name  string
	late  bool
	lines []stlLine
}

// lateFileDay is the transaction date whose settlement files arrive a day
// late: the third day of the history.
func (g *Generator) lateFileDay() int64 { return dateUS(g.start) + 2*dayUS }

// settle books a marketplace capture on the marketplace's daily file for
// the capture date (first generation only; the draws are always made so
// the order's stream stays the same).
func (g *Generator) settle(r *rand.Rand, o *order, capAt int64, first bool) {
	double := r.Float64() < RateDoubleBilled
	breaker := r.Float64() < RateSettlementBreak
	rebook := r.Float64() < RateFeeRebooking
	bps := between(r, 800, 1500)
	skew := between(r, 1, 99)
	if !first {
		return
	}
	key := fileKey{mkt: o.mkt, day: dateUS(capAt)}
	f := g.files[key]
	if f == nil {
		f = &file{key: key, name: fmt.Sprintf("settlement_%s_%s.csv", o.mkt, date(key.day).Format("20060102"))}
		at := key.day + dayUS + 6*hourUS + mktIndex[o.mkt]*7*minUS
		if key.day == g.lateFileDay() {
			at += dayUS
			f.late = true
		}
		g.files[key] = f
		g.pushMisc(&miscEntry{at: at, file: key})
	}
	fee := o.total * bps / 10000
	l := stlLine{id: "STL-" + o.id + "-1", order: o.id, currency: o.currency, gross: o.total, fee: fee, net: o.total - fee,
		capAt: capAt, idx: o.idx, breaker: breaker, rebook: rebook}
	if breaker {
		l.net += skew
	}
	f.lines = append(f.lines, l)
	if double {
		d := l
		d.id, d.breaker, d.rebook, d.doubleOf = "STL-"+o.id+"-2", false, false, l.id
		d.net = d.gross - d.fee
		f.lines = append(f.lines, d)
	}
}

// runMisc delivers a marketplace file (and schedules its duplicate
// delivery and finance's ERP corrections of it) or pre-built rows.
func (g *Generator) runMisc(m *miscEntry) []*delivery {
	base := &delivery{at: m.at, order: 1<<62 + m.seq, src: m.src, rows: m.rows, file: m.name, dup: m.dup}
	if m.rows != nil {
		return []*delivery{base}
	}
	f := g.files[m.file]
	delete(g.files, m.file)
	sort.Slice(f.lines, func(i, j int) bool {
		a, b := f.lines[i], f.lines[j]
		if a.capAt != b.capAt {
			return a.capAt < b.capAt
		}
		return a.id < b.id
	})
	payout := date(f.key.day + dayUS)
	txn := date(f.key.day)
	row := func(l stlLine) []any {
		return []any{l.id, f.key.mkt, l.order, txn, payout, l.currency, l.gross, l.fee, l.net, f.name}
	}
	base.src, base.file, base.lateFile = srcSettlements, f.name, f.late
	r := g.rngString(f.name, saltFile)
	var erp [][]any
	for _, l := range f.lines {
		base.rows = append(base.rows, row(l))
		corr := func(action, reason string, fee int64) {
			erp = append(erp, []any{fmt.Sprintf("ERP-%s-%s-%03d", txn.Format("20060102"), f.key.mkt, len(erp)+1), l.id, f.key.mkt,
				l.order, txn, payout, l.currency, l.gross, fee, l.gross - fee, action, reason, pick(r, finance), nil})
		}
		switch {
		case l.breaker:
			base.breaker++
			base.quar++
			corr("correct", "net recomputed: the marketplace file's net did not equal gross minus fee", l.fee)
		case l.doubleOf != "":
			base.doubled++
			corr("void", "duplicate billing of "+l.doubleOf, l.fee)
		case l.rebook:
			corr("correct", "fee rebooked per the marketplace's monthly invoice", l.fee+between(r, -l.fee/20, l.fee/20+1))
		}
	}
	if r.Float64() < RateFileDuplicate {
		g.pushMisc(&miscEntry{at: m.at + between(r, hourUS, 3*hourUS), src: srcSettlements, rows: base.rows, name: f.name, dup: true})
	}
	if len(erp) > 0 {
		at := dateUS(m.at) + between(r, 1, 3)*dayUS + between(r, 13*hourUS, 17*hourUS)
		for _, e := range erp {
			e[len(e)-1] = ts(at - between(r, minUS, hourUS))
		}
		g.pushMisc(&miscEntry{at: at, src: srcCorrections, rows: erp})
	}
	return []*delivery{base}
}

type martKey struct {
	day    int64
	region string
}

// recognize books a fulfilled order in the legacy mart's sources (by the
// minute it was fulfilled, for the mart's delay).
func (g *Generator) recognize(o *order, fulfilledAt int64) {
	fm := fulfilledAt - fulfilledAt%minUS
	m := g.mart[fm]
	if m == nil {
		m = map[martKey]int64{}
		g.mart[fm] = m
	}
	k := martKey{day: dateUS(o.placed), region: o.region}
	amount := o.total
	if o.region == "APAC" {
		// Defect 3, rounding drift: the legacy mart books APAC orders
		// rounded to ten minor units (a legacy currency conversion).
		amount = (amount + 5) / 10 * 10
	}
	m[k] += amount
	if k.day == g.doubledDay() && !g.doubled[k.day] {
		// Defect 2, double count: the first fulfilled order placed on the
		// history's second date is counted twice.
		g.doubled[k.day] = true
		m[k] += amount
	}
}

// doubledDay is the sales date of defect 2 (the history's second date)
// and missingDay the date of defect 1 (its third date).
func (g *Generator) doubledDay() int64 { return dateUS(g.start) + dayUS }
func (g *Generator) missingDay() int64 { return dateUS(g.start) + 2*dayUS }

// LegacyMartColumns are the columns of LegacyMart rows
// (finance_mart.daily_recognized_sales).
var LegacyMartColumns = []string{"sales_date", "region", "net_sales_cents"}

// LegacyMart returns the rows of finance_mart.daily_recognized_sales as
// the legacy nightly job last published them before asOf (clamped to
// Now): per placement date and region, the totals of orders that reached
// FULFILLED before the last midnight (its one-day delay), sorted by date
// and region. Values: sales_date time.Time (midnight UTC), region string,
// net_sales_cents int64. Its known defects:
//
//  1. missing day: the load of the history's third date (Start + 2 days)
//     failed, so that date has no rows;
//  2. double count: the first fulfilled order placed on the history's
//     second date (Start + 1 day) is counted twice;
//  3. rounding drift: APAC orders are booked rounded to ten minor units.
//
// (Dates are UTC dates; Start + n days means the n-th date after Start's.)
func (g *Generator) LegacyMart(asOf time.Time) [][]any {
	at := min(asOf.UTC().UnixMicro(), g.cursor)
	return g.legacyMart(dateUS(at))
}

// LegacyMartThrough returns the mart as a run of the legacy job publishes
// it when its cutoff is not the last midnight but cutoff (clamped to Now,
// taken to the minute): orders fulfilled before it, with the same
// defects. The live demo runs the "nightly" job every few ticks with the
// previous run's time as cutoff, a day compressed to a few seconds.
func (g *Generator) LegacyMartThrough(cutoff time.Time) [][]any {
	at := min(cutoff.UTC().UnixMicro(), g.cursor)
	return g.legacyMart(at - at%minUS)
}

// legacyMart sums the orders fulfilled before cutoff (µs, a minute
// boundary).
func (g *Generator) legacyMart(cutoff int64) [][]any {
	missing := g.missingDay()
	sum := map[martKey]int64{}
	for fm, m := range g.mart {
		if fm >= cutoff {
			continue
		}
		for k, v := range m {
			if k.day != missing {
				sum[k] += v
			}
		}
	}
	keys := make([]martKey, 0, len(sum))
	for k := range sum {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].day != keys[j].day {
			return keys[i].day < keys[j].day
		}
		return keys[i].region < keys[j].region
	})
	rows := make([][]any, len(keys))
	for i, k := range keys {
		rows[i] = []any{ts(k.day), k.region, sum[k]}
	}
	return rows
}
