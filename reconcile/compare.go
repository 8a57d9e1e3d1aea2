package reconcile

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/catalog"
)

// Kind is what sort of difference an exception records.
type Kind string

// Exception kinds.
const (
	KindMissingLeft   Kind = "missing_left"  // on the right side only
	KindMissingRight  Kind = "missing_right" // on the left side only
	KindValueMismatch Kind = "value_mismatch"
	KindCountMismatch Kind = "count_mismatch"
	KindBalance       Kind = "balance_out_of_tolerance"
	KindStateMismatch Kind = "state_mismatch"
	KindLate          Kind = "late"
	KindInvariant     Kind = "invariant_violation"
	KindDuplicateKey  Kind = "duplicate_key" // one side holds the key more than once
)

// rows is one side's result: column names and normalized rows.
type rows struct {
	cols []string
	rows [][]any
}

func (r rows) index(name string) int {
	for i, c := range r.cols {
		if strings.EqualFold(c, name) {
			return i
		}
	}
	return -1
}

// Difference is one disagreement found by a comparison.
type Difference struct {
	Kind  Kind
	Key   string // JSON object of the match columns
	Left  string // JSON object of the compared columns on the left ("" if absent)
	Right string // same on the right
	Diff  string // left - right for numeric columns ("" if not numeric)

	keyVals []any // the match values (repair looks keys up by them)
}

// Comparison is the outcome of comparing two sides.
type Comparison struct {
	Unit     string // "keys", "groups" or "rows"
	Compared int    // keys/groups/rows looked at
	Matched  int
	// Pending counts temporal events still inside their SLA.
	Pending int
	Diffs   []Difference
	// Buckets and Descended report a bucketed comparison (0 otherwise).
	Buckets, Descended int
	// Method says how an external (right_dsn) side was read: "bisection"
	// (key-range bisection) or "whole" ("" for internal sides); Why is
	// why it was read whole.
	Method, Why string
	// Ranges is how many key ranges bisection summarized on the external
	// side and RangesFetched how many of them it fetched; ExternalRows is
	// how many rows were read from the external side (all of them for a
	// whole read).
	Ranges, RangesFetched, ExternalRows int
	// CanonicalRows is how many entity rows a bucketed comparison read
	// for its left side (0 when it came from a bucket summary already at
	// the pairing commit), and Summary how the summary got there.
	CanonicalRows int
	Summary       string
}

// plan is which columns of each side a rule compares.
type plan struct {
	rule               *catalog.Reconciliation
	match, compare     []string
	lMatch, rMatch     []int
	lCompare, rCompare []int
}

// newPlan resolves the rule's match and compare columns on both sides.
func newPlan(r *catalog.Reconciliation, left, right rows) (*plan, error) {
	p := &plan{rule: r, match: r.Match}
	for _, m := range r.Match {
		li, ri := left.index(m), right.index(m)
		if li < 0 {
			return nil, fmt.Errorf("match column %s is not in the left side's output (%s)", m, strings.Join(left.cols, ", "))
		}
		if ri < 0 && r.Right != "" {
			return nil, fmt.Errorf("match column %s is not in the right side's output (%s)", m, strings.Join(right.cols, ", "))
		}
		p.lMatch, p.rMatch = append(p.lMatch, li), append(p.rMatch, ri)
	}
	p.compare = r.Compare
	if len(p.compare) == 0 {
		for _, c := range left.cols {
			if !containsFold(r.Match, c) && right.index(c) >= 0 {
				p.compare = append(p.compare, c)
			}
		}
	}
	for _, c := range p.compare {
		li, ri := left.index(c), right.index(c)
		if li < 0 || ri < 0 {
			return nil, fmt.Errorf("compare column %s must be in both sides' output (left: %s; right: %s)", c,
				strings.Join(left.cols, ", "), strings.Join(right.cols, ", "))
		}
		p.lCompare, p.rCompare = append(p.lCompare, li), append(p.rCompare, ri)
	}
	if r.Level == catalog.LevelTemporal && len(p.compare) == 0 {
		return nil, fmt.Errorf("a temporal rule compares one event-time column; name it in compare")
	}
	return p, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func pick(row []any, idx []int) []any {
	out := make([]any, len(idx))
	for i, j := range idx {
		out[i] = row[j]
	}
	return out
}

// keyed is a side's rows by match key; dups counts repeated keys.
type keyed struct {
	byKey map[string][]any
	order []string
	dups  map[string]int
}

func (p *plan) keyRows(rs [][]any, idx []int, sum bool, cmp []int) keyed {
	k := keyed{byKey: make(map[string][]any, len(rs)), dups: map[string]int{}}
	for _, r := range rs {
		kt := keyText(pick(r, idx))
		prev, ok := k.byKey[kt]
		if !ok {
			k.byKey[kt] = r
			k.order = append(k.order, kt)
			continue
		}
		if sum { // count and balance: repeated groups add up
			merged := append([]any(nil), prev...)
			for _, j := range cmp {
				a, okA := numeric(prev[j])
				b, okB := numeric(r[j])
				if okA && okB {
					merged[j] = a.Add(b)
				}
			}
			k.byKey[kt] = merged
			continue
		}
		k.dups[kt]++
	}
	return k
}

// compare compares two sides under rule r at time now.
func compare(r *catalog.Reconciliation, left, right rows, now time.Time) (Comparison, error) {
	p, err := newPlan(r, left, right)
	if err != nil {
		return Comparison{}, err
	}
	if r.Level == catalog.LevelSemantic && r.Right == "" {
		return p.invariants(left), nil
	}
	grouped := r.Level == catalog.LevelCount || r.Level == catalog.LevelBalance || r.Level == catalog.LevelSemantic
	lk := p.keyRows(left.rows, p.lMatch, grouped, p.lCompare)
	rk := p.keyRows(right.rows, p.rMatch, grouped, p.rCompare)
	c := Comparison{Unit: "keys"}
	if grouped {
		c.Unit = "groups"
	}
	keys := append([]string(nil), lk.order...)
	for _, k := range rk.order {
		if _, ok := lk.byKey[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		lr, lok := lk.byKey[k]
		rr, rok := rk.byKey[k]
		var keyVals []any
		if lok {
			keyVals = pick(lr, p.lMatch)
		} else {
			keyVals = pick(rr, p.rMatch)
		}
		c.Compared++
		d, matched, pending := p.compareKey(lr, lok, rr, rok, now)
		switch {
		case lk.dups[k] > 0 || rk.dups[k] > 0:
			d = &Difference{Kind: KindDuplicateKey,
				Left:  fmt.Sprintf(`{"rows": %d}`, boolInt(lok)+lk.dups[k]),
				Right: fmt.Sprintf(`{"rows": %d}`, boolInt(rok)+rk.dups[k])}
		case pending:
			c.Pending++
			continue
		case matched:
			c.Matched++
			continue
		}
		d.Key, d.keyVals = jsonObject(p.match, keyVals), keyVals
		c.Diffs = append(c.Diffs, *d)
	}
	return c, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// compareKey compares one key's rows (either may be absent).
func (p *plan) compareKey(lr []any, lok bool, rr []any, rok bool, now time.Time) (d *Difference, matched, pending bool) {
	r := p.rule
	var lv, rv []any
	if lok {
		lv = pick(lr, p.lCompare)
	}
	if rok {
		rv = pick(rr, p.rCompare)
	}
	side := func(vals []any, ok bool) string {
		if !ok {
			return ""
		}
		return jsonObject(p.compare, vals)
	}
	switch r.Level {
	case catalog.LevelCount, catalog.LevelBalance, catalog.LevelSemantic:
		// A group missing on one side counts as zero there.
		zero := func(ok bool, vals []any) []any {
			if ok {
				return vals
			}
			out := make([]any, len(p.compare))
			for i := range out {
				out[i] = int64(0)
			}
			return out
		}
		a, b := zero(lok, lv), zero(rok, rv)
		ok, diff := p.numbersAgree(a, b)
		if ok {
			return nil, true, false
		}
		kind := map[catalog.Level]Kind{catalog.LevelCount: KindCountMismatch, catalog.LevelBalance: KindBalance,
			catalog.LevelSemantic: KindInvariant}[r.Level]
		return &Difference{Kind: kind, Left: side(lv, lok), Right: side(rv, rok), Diff: diff}, false, false
	case catalog.LevelTemporal:
		if !lok {
			return nil, true, false // a right event without a left one is not late
		}
		start, ok1 := lv[0].(time.Time)
		if !ok1 {
			return nil, true, false // no event yet on the left
		}
		if !rok || rv[0] == nil {
			if now.Sub(start) <= r.SLA {
				return nil, false, true
			}
			return &Difference{Kind: KindLate, Left: side(lv, lok), Right: side(rv, rok),
				Diff: now.Sub(start).Round(time.Second).String()}, false, false
		}
		end, ok2 := rv[0].(time.Time)
		if !ok2 || end.Sub(start) <= r.SLA {
			return nil, true, false
		}
		return &Difference{Kind: KindLate, Left: side(lv, lok), Right: side(rv, rok),
			Diff: end.Sub(start).Round(time.Second).String()}, false, false
	}
	// record and state
	if !lok {
		return &Difference{Kind: KindMissingLeft, Right: side(rv, rok)}, false, false
	}
	if !rok {
		return &Difference{Kind: KindMissingRight, Left: side(lv, lok)}, false, false
	}
	same := true
	for i := range lv {
		if !p.valuesAgree(lv[i], rv[i]) {
			same = false
		}
	}
	if same {
		return nil, true, false
	}
	kind := KindValueMismatch
	if r.Level == catalog.LevelState {
		kind = KindStateMismatch
	}
	_, diff := p.numbersAgree(lv, rv)
	return &Difference{Kind: kind, Left: side(lv, true), Right: side(rv, true), Diff: diff}, false, false
}

// valuesAgree compares one column: numbers within tolerance, anything else
// by equality.
func (p *plan) valuesAgree(a, b any) bool {
	da, okA := numeric(a)
	db, okB := numeric(b)
	if okA && okB {
		return within(da, db, p.rule.Tolerance)
	}
	return equal(a, b)
}

// numbersAgree compares the compared columns of a group; diff is left -
// right (one column: the number; several: a JSON object of the columns
// that differ).
func (p *plan) numbersAgree(a, b []any) (bool, string) {
	ok := true
	var names []string
	var diffs []any
	for i := range a {
		if !p.valuesAgree(a[i], b[i]) {
			ok = false
		}
		da, okA := numeric(a[i])
		db, okB := numeric(b[i])
		if okA && okB && !da.Equal(db) {
			names = append(names, p.compare[i])
			diffs = append(diffs, da.Sub(db))
		}
	}
	switch {
	case len(diffs) == 0:
		return ok, ""
	case len(a) == 1:
		return ok, diffs[0].(decimal.Decimal).String()
	}
	return ok, jsonObject(names, diffs)
}

// within reports |a-b| <= absolute or |a-b| <= relative*max(|a|,|b|);
// without a tolerance, a == b exactly.
func within(a, b decimal.Decimal, t *catalog.Tolerance) bool {
	if a.Equal(b) {
		return true
	}
	if t == nil {
		return false
	}
	d := a.Sub(b).Abs()
	if t.Absolute != nil && d.LessThanOrEqual(*t.Absolute) {
		return true
	}
	if t.Relative != nil {
		m := decimal.Max(a.Abs(), b.Abs())
		if d.LessThanOrEqual(t.Relative.Mul(m)) {
			return true
		}
	}
	return false
}

// invariants turns every row of a one-sided semantic rule into a violation.
func (p *plan) invariants(left rows) Comparison {
	c := Comparison{Unit: "rows", Compared: len(left.rows)}
	keyCols, keyIdx := p.match, p.lMatch
	if len(keyCols) == 0 {
		keyCols = left.cols
		keyIdx = make([]int, len(left.cols))
		for i := range keyIdx {
			keyIdx[i] = i
		}
	}
	for _, r := range left.rows {
		kv := pick(r, keyIdx)
		c.Diffs = append(c.Diffs, Difference{Kind: KindInvariant, Key: jsonObject(keyCols, kv),
			Left: jsonObject(left.cols, r), keyVals: kv})
	}
	sort.Slice(c.Diffs, func(i, j int) bool { return c.Diffs[i].Key < c.Diffs[j].Key })
	return c
}
