package demodata

import (
	"fmt"
	"math/rand/v2"
	"sort"
)

// Basket event types (the event_type column of TableBaskets).
const (
	BasketItemAdded         = "item_added"
	BasketItemRemoved       = "item_removed"
	BasketQuantityChanged   = "quantity_changed"
	BasketCheckoutStarted   = "checkout_started"
	BasketCheckoutRetry     = "checkout_retry"
	BasketCheckoutFailed    = "checkout_failed"
	BasketCheckoutCompleted = "checkout_completed"
)

// cart collects one basket's events before they become deliveries.
type cart struct {
	id, session string
	customer    any // customer id, nil for a guest
	evs         []cartEv
}

type cartEv struct {
	typ               string
	at                int64
	sku               any
	qty, price        any
	checkout, orderAt bool // a checkout event; one at or after the order's placement
}

func (c *cart) item(typ string, at int64, sku string, qty, price int64) {
	c.evs = append(c.evs, cartEv{typ: typ, at: at, sku: sku, qty: qty, price: price})
}

func (c *cart) checkout(typ string, at int64) {
	c.evs = append(c.evs, cartEv{typ: typ, at: at, checkout: true})
}

// deliveries numbers the events in time order (event_seq from 1) and
// returns one delivery per event, written at the time it happened. The
// attempt of a checkout event counts the retries before it; orderID, when
// set, is on the checkout events at or after placed (the checkout that
// placed the order, and retries answered with it).
func (c *cart) deliveries(idx int64, orderID string, placed int64, abandoned bool) []*delivery {
	sort.SliceStable(c.evs, func(i, j int) bool { return c.evs[i].at < c.evs[j].at })
	out := make([]*delivery, len(c.evs))
	attempt := int64(1)
	for i, e := range c.evs {
		var att, ord any
		d := &delivery{at: e.at, src: srcBaskets, order: idx}
		if e.checkout {
			if e.typ == BasketCheckoutRetry {
				attempt++
				d.retry = true
			}
			att = attempt
			if orderID != "" && e.at >= placed {
				ord = orderID
				d.retryOrder = d.retry
			}
		}
		d.rows = [][]any{{c.id, int64(i + 1), c.session, c.customer, e.typ, e.sku, e.qty, e.price, att, ord, ts(e.at)}}
		out[i] = d
	}
	if len(out) > 0 {
		out[0].basket, out[0].abandoned = true, abandoned
	}
	return out
}

// spread gives n item events increasing times in [from, to).
func spread(r *rand.Rand, n int, from, to int64) []int64 {
	step := max((to-from)/int64(n+1), 2)
	at := make([]int64, n)
	for i := range at {
		at[i] = from + step*int64(i) + r.Int64N(step/2)
	}
	return at
}

// baskets derives the digital channel's basket events of order o: its
// checkout basket (web and app orders) and, at RateAbandoned, another
// shopper's basket abandoned after it. They come from a stream of their
// own (saltCart), so the sources' rows do not depend on Config.Baskets.
//
// An order's basket is filled in the minutes before the order is placed
// (items added, some quantities changed, an item added and removed again)
// and checked out: at RateCheckoutFailed the first checkout fails and is
// retried before the order is placed; at RateCheckoutRetry the client
// retries a checkout that had already placed the order (a timeout) and
// the backend answers with the existing order; a failed payment fails the
// checkout and the shopper retries with another method (unless the OMS
// gave up on the order). Those retries carry the order_id.
func (g *Generator) baskets(o *order, payFailed []int64, gaveUp bool) []*delivery {
	r := g.rng(o.idx, saltCart)
	var out []*delivery
	if o.channel == "web" || o.channel == "app" {
		c := &cart{id: fmt.Sprintf("BSK-%08d", o.idx+1), session: fmt.Sprintf("SES-%012x", r.Uint64()>>16), customer: o.cust.id}
		cs := o.placed - between(r, 2*secUS, 8*secUS)
		failFirst := r.Float64() < RateCheckoutFailed
		if failFirst {
			cs -= between(r, 20*secUS, 90*secUS)
		}
		g.fill(r, c, o.lines, o.currency, o.placed-between(r, 4*minUS, 40*minUS), cs)
		c.checkout(BasketCheckoutStarted, cs)
		if failFirst {
			c.checkout(BasketCheckoutFailed, cs+between(r, 2*secUS, 15*secUS))
			c.checkout(BasketCheckoutRetry, o.placed-between(r, secUS/2, secUS))
		}
		c.checkout(BasketCheckoutCompleted, o.placed)
		if r.Float64() < RateCheckoutRetry {
			c.checkout(BasketCheckoutRetry, o.placed+between(r, 3*secUS, 20*secUS))
		}
		for i, f := range payFailed {
			c.checkout(BasketCheckoutFailed, f+between(r, secUS, 3*secUS))
			if i < len(payFailed)-1 || !gaveUp {
				c.checkout(BasketCheckoutRetry, f+between(r, 20*secUS, 50*secUS))
			}
		}
		out = append(out, c.deliveries(o.idx, o.id, o.placed, false)...)
	}
	if r.Float64() < RateAbandoned {
		c := &cart{id: fmt.Sprintf("BSK-%08d-A", o.idx+1), session: fmt.Sprintf("SES-%012x", r.Uint64()>>16)}
		currency := o.currency
		if r.IntN(4) != 0 {
			cust := g.customer(r.IntN(g.nCust))
			c.customer, currency = cust.id, currencies[cust.region][0]
		}
		n := 1 + r.IntN(3)
		lines := make([]line, n)
		for i := range lines {
			s := r.IntN(240)
			lines[i] = line{no: int64(i + 1), sku: fmt.Sprintf("SKU-%05d", 10000+s), qty: between(r, 1, 2),
				price: int64(float64(skuPrice(s)) * fx[currency])}
		}
		start := o.placed + between(r, minUS, 3*hourUS)
		end := start + between(r, 2*minUS, 30*minUS)
		g.fill(r, c, lines, currency, start, end)
		if r.IntN(10) < 3 {
			c.checkout(BasketCheckoutStarted, end)
			if r.IntN(2) == 0 {
				// The card is declined, the shopper retries once and leaves.
				c.checkout(BasketCheckoutFailed, end+between(r, 2*secUS, 15*secUS))
				c.checkout(BasketCheckoutRetry, end+between(r, 30*secUS, 90*secUS))
				c.checkout(BasketCheckoutFailed, end+between(r, 100*secUS, 120*secUS))
			}
		}
		out = append(out, c.deliveries(o.idx, "", 0, true)...)
	}
	return out
}

// fill adds the item events of lines to c between from and to: each line
// added (some first with one unit, then changed to the line's quantity),
// and now and then another item added and removed again.
func (g *Generator) fill(r *rand.Rand, c *cart, lines []line, currency string, from, to int64) {
	type ev struct {
		typ        string
		sku        string
		qty, price int64
	}
	var evs []ev
	for _, l := range lines {
		if l.qty > 1 && r.IntN(4) == 0 {
			evs = append(evs, ev{BasketItemAdded, l.sku, 1, l.price}, ev{BasketQuantityChanged, l.sku, l.qty, l.price})
		} else {
			evs = append(evs, ev{BasketItemAdded, l.sku, l.qty, l.price})
		}
		if r.IntN(6) == 0 {
			s := r.IntN(240)
			sku, price := fmt.Sprintf("SKU-%05d", 10000+s), int64(float64(skuPrice(s))*fx[currency])
			evs = append(evs, ev{BasketItemAdded, sku, 1, price}, ev{BasketItemRemoved, sku, 1, price})
		}
	}
	for i, at := range spread(r, len(evs), from, to) {
		c.item(evs[i].typ, at, evs[i].sku, evs[i].qty, evs[i].price)
	}
}
