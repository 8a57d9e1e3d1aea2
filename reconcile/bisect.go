package reconcile

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/catalog"
)

// Key-range bisection against an external (right_dsn) side.
//
// A record or state rule whose right side is a legacy PostgreSQL is not
// read whole when it can be range-restricted. Both sides summarize a range
// of match keys as (count, sum of a 60-bit hash of each row's canonical
// text): the left side in Go over its rows, the external side with one SQL
// aggregate pushed to it, so only two numbers per range cross the network.
// A range whose summaries agree is matched as a whole; one that differs is
// split into bisectFanout ranges at key quantiles (of the left side's
// sorted keys, or, where the left side holds under a quarter of the
// external side's rows, of the external side's: ORDER BY … OFFSET), and a
// range with at most bisectLeafRows rows on each side, or none on one
// side, is fetched and compared key by key with the ordinary comparison
// (which also reports keys held twice). A large left side starts split
// at its quantiles. So the rows read from the legacy system are
// proportional to the differences, not to its size. Every range query runs
// in one REPEATABLE READ READ ONLY transaction: all of them see one
// snapshot of the legacy system.
//
// The hash must be computed identically on both sides. Each compared value
// (match columns first, then compare columns) is rendered as a tagged
// canonical text — NULL as N; numbers as n and their exact decimal with
// trailing fractional zeros trimmed (numeric 5.00 and bigint 5 both n5);
// text as s, its length in characters, a colon and the text; booleans as
// btrue/bfalse; dates as t2006-01-02; timestamps in UTC at microseconds as
// t2006-01-02T15:04:05.123Z (t and the date alone at midnight), exactly as
// the comparison's own canonical text does — joined with |, and hashed as
// the first 15 hex digits of its MD5. The SQL side builds that text with
// to_char, rtrim and length per column type (see valueSQL). Where the two
// renderings may still differ for values the comparison holds equal
// (floats PostgreSQL prints with an exponent, values within a tolerance,
// a text column compared with a number), the range is merely descended
// into and its rows compared by value: formatting never opens an
// exception, it only costs rows read. Two renderings are equal only for
// values the comparison holds equal, so an agreeing summary never hides a
// difference (up to a 2^-60 hash collision).
//
// Bisection falls back to reading the external side whole (the reason is
// in the run's coverage) when:
//   - the rule is not record or state level (count, balance and semantic
//     sides are aggregates; temporal rules are small);
//   - the right SQL is not one SELECT, or it has LIMIT/OFFSET, FETCH or a
//     locking clause (restricting it to a key range would change which
//     rows it returns, or lock them);
//   - the legacy database's encoding is not UTF8 (md5 there hashes other
//     bytes than Go does);
//   - a match column's external type is not an integer, numeric, text,
//     varchar, date, timestamp or timestamptz (key ranges must order the
//     same way on both sides: text keys are compared under COLLATE "C",
//     which is Go's byte order);
//   - a compared column's external type has no canonical SQL rendering here
//     (anything but those types, bool, float4, float8 and uuid: bpchar,
//     json, bytea, arrays, intervals, …);
//   - a left key value is not of the class its external column orders as
//     (e.g. a text key on the left against an integer key on the right, or
//     a timestamp on the left against a date key).
//
// The left side is read locally as usual (rows in memory); only the
// external side is read range by range. Integer, numeric and date/time
// keys are restricted with plain comparisons an index on them serves;
// text keys are compared under COLLATE "C", which an index of another
// collation cannot serve, so a single text key's ranges are summarized by
// one scan per level (width_bucket) instead of one per range. A key the
// left side holds more than once always has its range fetched, so
// duplicates are reported as they are by a whole read.
const (
	bisectFanout   = 16
	bisectLeafRows = 256
	// bisectMaxDepth stops splitting a range that will not shrink.
	bisectMaxDepth = 48
)

// errNotBisectable wraps the reason a rule's external side is read whole.
var errNotBisectable = errors.New("external side read whole")

func notBisectable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errNotBisectable, fmt.Sprintf(format, args...))
}

// PostgreSQL type OIDs bisection understands.
const (
	oidBool        = 16
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidFloat4      = 700
	oidFloat8      = 701
	oidVarchar     = 1043
	oidDate        = 1082
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidNumeric     = 1700
	oidUUID        = 2950
)

// keyTypeName is the SQL type of an external key column bisection can
// order by, by OID ("" if it cannot).
func keyTypeName(oid uint32) string {
	switch oid {
	case oidInt2:
		return "int2"
	case oidInt4:
		return "int4"
	case oidInt8:
		return "int8"
	case oidNumeric:
		return "numeric"
	case oidText, oidVarchar:
		return "text"
	case oidDate:
		return "date"
	case oidTimestamp:
		return "timestamp"
	case oidTimestamptz:
		return "timestamptz"
	}
	return ""
}

// rangeRestrictable reports why q cannot be restricted to a key range by
// wrapping it (SELECT … FROM (q) AS _dg_r WHERE <range>), "" if it can.
func rangeRestrictable(q string) string {
	_, why := restrictable(q)
	return why
}

// restrictable returns q's one statement without its terminating
// semicolon, or why it cannot be restricted to a key range.
func restrictable(q string) (string, string) {
	tree, err := pg.Parse(q)
	if err != nil {
		return "", "the right side does not parse as PostgreSQL"
	}
	if len(tree.Stmts) != 1 {
		return "", "the right side is not one statement"
	}
	st := tree.Stmts[0]
	stmt := q[st.StmtLocation:]
	if st.StmtLen > 0 {
		stmt = q[st.StmtLocation : st.StmtLocation+st.StmtLen]
	}
	stmt = strings.TrimRight(strings.TrimSpace(stmt), ";")
	sel := st.Stmt.GetSelectStmt()
	switch {
	case sel == nil:
		return "", "the right side is not a SELECT"
	case sel.LimitCount != nil || sel.LimitOffset != nil:
		return "", "the right side has LIMIT, OFFSET or FETCH: a key range of it is not a range of its keys"
	case len(sel.LockingClause) > 0:
		return "", "the right side locks rows (FOR UPDATE/SHARE)"
	case sel.IntoClause != nil:
		return "", "the right side is SELECT INTO"
	}
	return stmt, ""
}

// valueSQL renders column c (an SQL expression of type oid) as the tagged
// canonical text valueText renders its Go value as; ok is false for types
// without one.
func valueSQL(c string, oid uint32) (string, bool) {
	ts := func(x string) string {
		return "CASE WHEN isfinite(" + x + ") AND " + x + " >= '0001-01-01'::timestamp THEN 't' || CASE WHEN " + x +
			" = date_trunc('day', " + x + ") THEN to_char(" + x + ", 'YYYY-MM-DD') ELSE to_char(" + x +
			", 'YYYY-MM-DD\"T\"HH24:MI:SS') || rtrim(rtrim(to_char(" + x + ", '.US'), '0'), '.') || 'Z' END ELSE '?' || " + x + "::text END"
	}
	var s string
	switch oid {
	case oidInt2, oidInt4, oidInt8:
		s = "'n' || " + c + "::text"
	case oidNumeric:
		s = "'n' || CASE WHEN " + c + "::text LIKE '%.%' THEN rtrim(rtrim(" + c + "::text, '0'), '.') ELSE " + c + "::text END"
	case oidFloat4:
		s = "'n' || " + c + "::float8::text"
	case oidFloat8:
		s = "'n' || " + c + "::text"
	case oidText, oidVarchar:
		s = "'s' || length(" + c + ")::text || ':' || " + c
	case oidUUID:
		s = "'s36:' || " + c + "::text"
	case oidBool:
		s = "'b' || " + c + "::text"
	case oidDate:
		s = "CASE WHEN isfinite(" + c + ") AND " + c + " >= '0001-01-01'::date THEN 't' || to_char(" + c +
			", 'YYYY-MM-DD') ELSE '?' || " + c + "::text END"
	case oidTimestamp:
		s = ts(c)
	case oidTimestamptz:
		s = ts("(" + c + " AT TIME ZONE 'UTC')")
	default:
		return "", false
	}
	return "coalesce(" + s + ", 'N')", true
}

// valueText is the tagged canonical text of a normalized value (see
// valueSQL): values the comparison holds equal render alike, values it
// holds different never do.
func valueText(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 'N')
	case string:
		b = append(b, 's')
		b = strconv.AppendInt(b, int64(utf8.RuneCountInString(x)), 10)
		b = append(b, ':')
		return append(b, x...)
	case bool:
		b = append(b, 'b')
		return strconv.AppendBool(b, x)
	case time.Time:
		b = append(b, 't')
		return append(b, text(x)...)
	case int64:
		b = append(b, 'n')
		return strconv.AppendInt(b, x, 10)
	}
	if d, ok := numeric(v); ok {
		b = append(b, 'n')
		return append(b, d.String()...)
	}
	// No SQL rendering produces a leading '!': such a value always makes
	// its range descend and be compared by value.
	b = append(b, '!')
	return append(b, text(v)...)
}

// rowHash is the 60-bit hash of a row's canonical text: the first 15 hex
// digits of its MD5, as ('x' || substr(md5(t), 1, 15))::bit(60)::bigint.
func rowHash(t []byte) uint64 {
	s := md5.Sum(t)
	return binary.BigEndian.Uint64(s[:8]) >> 4
}

// sum128 is an exact sum of 60-bit hashes.
type sum128 struct{ hi, lo uint64 }

func (s *sum128) add(h uint64) {
	var c uint64
	s.lo, c = bits.Add64(s.lo, h, 0)
	s.hi += c
}

func (s sum128) big() *big.Int {
	b := new(big.Int).SetUint64(s.hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(s.lo))
}

// keyClass is how a key column orders: every value of it on both sides
// must be of its class.
type keyClass int

const (
	classInt keyClass = iota
	classNumeric
	classText
	classDate
	classTime
)

func classOf(typ string) keyClass {
	switch typ {
	case "int2", "int4", "int8":
		return classInt
	case "numeric":
		return classNumeric
	case "text":
		return classText
	case "date":
		return classDate
	}
	return classTime
}

// fits reports whether v (not nil) orders as class c.
func (c keyClass) fits(v any) bool {
	switch x := v.(type) {
	case int64:
		return c == classInt || c == classNumeric
	case decimal.Decimal:
		return c == classNumeric
	case string:
		return c == classText
	case time.Time:
		if c == classDate {
			x = x.UTC()
			return x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0
		}
		return c == classTime
	}
	return false
}

// compareKeyVal orders two values of one key class as PostgreSQL orders
// them (text under COLLATE "C": bytes).
func compareKeyVal(a, b any) int {
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	case string:
		return strings.Compare(x, b.(string))
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	da, _ := numeric(a)
	db, _ := numeric(b)
	return da.Cmp(db)
}

func compareKeys(a, b []any) int {
	for i := range a {
		if c := compareKeyVal(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// keyParam renders a key value as the text its external type parses.
func keyParam(v any, c keyClass) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case string:
		return x
	case time.Time:
		if c == classDate {
			return x.UTC().Format("2006-01-02")
		}
		return x.UTC().Format("2006-01-02 15:04:05.999999Z07:00")
	}
	d, _ := numeric(v)
	return d.String()
}

// localRow is one left row with its match key and hash.
type localRow struct {
	key []any
	row []any
	h   uint64
}

// keyRange is a range of match keys: [lo, hi), a nil bound unbounded, or
// the rows whose key has a NULL (nulls). rows are its left rows.
type keyRange struct {
	lo, hi []any
	nulls  bool
	rows   []localRow
	depth  int
	// filled by the summary: the external side's count and hash sum
	extCount int64
	extSum   *big.Int
}

// bisector compares one rule's left rows with its external side.
type bisector struct {
	r        *catalog.Reconciliation
	tx       pgx.Tx
	base     string   // the right side wrapped: SELECT … FROM (right) AS _dg_r
	keyCols  []string // quoted key expressions (text under COLLATE "C")
	keyOrder string   // ORDER BY list of the key
	keyCasts []string // per key: the parameter cast
	classes  []keyClass
	notNull  string // every key column is not NULL
	hashSQL  string
	left     rows
	plan     *plan
	extCols  []string
	now      time.Time
	cmp      Comparison
}

// compareBisect compares an external record or state rule by key-range
// bisection. An error wrapping errNotBisectable says why it cannot (the
// caller then reads the external side whole).
func (e *Engine) compareBisect(ctx context.Context, r *catalog.Reconciliation) (Comparison, pairing, error) {
	var p pairing
	right, why := restrictable(r.Right)
	if why != "" {
		return Comparison{}, p, notBisectable("%s", why)
	}
	dsn, err := r.ResolveRightDSN()
	if err != nil {
		return Comparison{}, p, fmt.Errorf("%w: %w", ErrNotConfigured, err)
	}
	// Probe the external side's columns and types first: a rule that
	// cannot be bisected is then read whole without reading its left side
	// twice. No transaction is open while the left side is read.
	pctx, cancel := context.WithTimeout(ctx, externalTimeout)
	defer cancel()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return Comparison{}, p, fmt.Errorf("%w: right_dsn: %w", ErrNotConfigured, err)
	}
	// Unnamed statements: every range query is planned for its own bounds
	// (a cached generic plan may scan the whole table for each range).
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	conn, err := pgx.ConnectConfig(pctx, cfg)
	if err != nil {
		return Comparison{}, p, fmt.Errorf("connect to right_dsn: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var enc string
	if err := conn.QueryRow(pctx, "SELECT current_setting('server_encoding')").Scan(&enc); err != nil {
		return Comparison{}, p, fmt.Errorf("right side: %w", err)
	}
	if enc != "UTF8" {
		return Comparison{}, p, notBisectable("the legacy database's encoding is %s, not UTF8", enc)
	}
	b := &bisector{r: r, now: e.clock()}
	// The newlines keep a trailing -- comment from eating the parenthesis.
	b.base = "FROM (\n" + right + "\n) AS _dg_r"
	res, err := conn.Query(pctx, "SELECT * "+b.base+" LIMIT 0")
	if err != nil {
		return Comparison{}, p, fmt.Errorf("right side: %w", err)
	}
	fds := res.FieldDescriptions()
	oids := make([]uint32, len(fds))
	for i, f := range fds {
		b.extCols = append(b.extCols, f.Name)
		oids[i] = f.DataTypeOID
	}
	res.Close()
	if err := res.Err(); err != nil {
		return Comparison{}, p, fmt.Errorf("right side: %w", err)
	}
	// Only the column names matter to the plan and the key checks.
	if b.plan, err = newPlan(r, rows{cols: r.LeftColumns}, rows{cols: b.extCols}); err == nil {
		err = b.prepare(oids)
	}
	if errors.Is(err, errNotBisectable) {
		return Comparison{}, p, err
	}

	left, _, p, err := e.readSides(ctx, r, false)
	if err != nil {
		return Comparison{}, p, err
	}
	p.external = true
	b.left = left
	if b.plan, err = newPlan(r, left, rows{cols: b.extCols}); err != nil {
		return Comparison{}, p, err
	}
	if err := b.prepare(oids); err != nil {
		return Comparison{}, p, err
	}
	all, nulls, err := b.localRows()
	if err != nil {
		return Comparison{}, p, err
	}
	ctx, cancel = context.WithTimeout(ctx, externalTimeout)
	defer cancel()
	// One snapshot of the legacy system for every range query.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return Comparison{}, p, fmt.Errorf("right side: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// Floats print exactly (shortest round-trip from PostgreSQL 12 on,
	// 17 digits before): two different floats never render alike.
	if _, err := tx.Exec(ctx, "SET LOCAL extra_float_digits = 3"); err != nil {
		return Comparison{}, p, fmt.Errorf("right side: %w", err)
	}
	b.tx = tx
	if err := b.run(ctx, all, nulls); err != nil {
		return Comparison{}, p, fmt.Errorf("right side: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Comparison{}, p, fmt.Errorf("right side: %w", err)
	}
	sort.Slice(b.cmp.Diffs, func(i, j int) bool { return b.cmp.Diffs[i].Key < b.cmp.Diffs[j].Key })
	return b.cmp, p, nil
}

// prepare builds the SQL of keys, ranges and the row hash from the
// external columns' types.
func (b *bisector) prepare(oids []uint32) error {
	p := b.plan
	b.classes, b.keyCols, b.keyCasts = nil, nil, nil
	var texts, notNull []string
	for i, j := range p.rMatch {
		col := pgx.Identifier{b.extCols[j]}.Sanitize()
		typ := keyTypeName(oids[j])
		if typ == "" {
			return notBisectable("match column %s has external type oid %d, which key ranges cannot order the same way on both sides", p.match[i], oids[j])
		}
		c := classOf(typ)
		b.classes = append(b.classes, c)
		expr, cast := "_dg_r."+col, "::text::"+typ
		if c == classText {
			expr, cast = "(_dg_r."+col+` COLLATE "C")`, `::text COLLATE "C"`
		}
		b.keyCols = append(b.keyCols, expr)
		b.keyCasts = append(b.keyCasts, cast)
		notNull = append(notNull, "_dg_r."+col+" IS NOT NULL")
		t, _ := valueSQL("_dg_r."+col, oids[j])
		texts = append(texts, t)
	}
	for i, j := range p.rCompare {
		t, ok := valueSQL("_dg_r."+pgx.Identifier{b.extCols[j]}.Sanitize(), oids[j])
		if !ok {
			return notBisectable("compared column %s has external type oid %d, which has no canonical SQL rendering here", p.compare[i], oids[j])
		}
		texts = append(texts, t)
	}
	b.keyOrder = strings.Join(b.keyCols, ", ")
	b.notNull = strings.Join(notNull, " AND ")
	b.hashSQL = "('x' || substr(md5(" + strings.Join(texts, " || '|' || ") + "), 1, 15))::bit(60)::bigint"
	return nil
}

// localRows hashes the left rows (in as many slices as there are
// processors) and sorts them by key; rows with a NULL in their key are
// returned apart.
func (b *bisector) localRows() (all, nulls []localRow, err error) {
	p := b.plan
	src := b.left.rows
	out := make([]localRow, len(src))
	parts := max(1, min(runtime.GOMAXPROCS(0), len(src)/10000))
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for w := 0; w < parts; w++ {
		lo, hi := w*len(src)/parts, (w+1)*len(src)/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := lo; i < hi; i++ {
				row := src[i]
				lr := localRow{key: pick(row, p.lMatch), row: row}
				buf = buf[:0]
				for k, v := range lr.key {
					if k > 0 {
						buf = append(buf, '|')
					}
					buf = valueText(buf, v)
					if v != nil && !b.classes[k].fits(v) {
						errs[w] = notBisectable("left key %s value %v (%T) does not order as the external key column does", p.match[k], v, v)
						return
					}
				}
				for _, j := range p.lCompare {
					buf = append(buf, '|')
					buf = valueText(buf, row[j])
				}
				lr.h = rowHash(buf)
				out[i] = lr
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	all = out[:0]
	for _, lr := range out {
		if slices.Contains(lr.key, nil) {
			nulls = append(nulls, lr)
		} else {
			all = append(all, lr)
		}
	}
	slices.SortFunc(all, func(a, b localRow) int { return compareKeys(a.key, b.key) })
	return all, nulls, nil
}

// where is the range's predicate and its parameters.
func (b *bisector) where(kr *keyRange) (string, []any) {
	if kr.nulls {
		return "WHERE NOT (" + b.notNull + ")", nil
	}
	conds := []string{b.notNull}
	var args []any
	bound := func(vals []any, op string) {
		var ps []string
		for i, v := range vals {
			args = append(args, keyParam(v, b.classes[i]))
			ps = append(ps, fmt.Sprintf("$%d%s", len(args), b.keyCasts[i]))
		}
		if len(ps) == 1 {
			// Plain, so PostgreSQL uses an index on the key.
			conds = append(conds, b.keyOrder+" "+op+" "+ps[0])
			return
		}
		conds = append(conds, "("+b.keyOrder+") "+op+" ("+strings.Join(ps, ", ")+")")
	}
	if kr.lo != nil {
		bound(kr.lo, ">=")
	}
	if kr.hi != nil {
		bound(kr.hi, "<")
	}
	return "WHERE " + strings.Join(conds, " AND "), args
}

// run bisects from the whole key space (and the NULL keys) down.
func (b *bisector) run(ctx context.Context, all, nulls []localRow) error {
	b.cmp.Unit = "keys"
	b.cmp.Method = "bisection"
	// A large left side is split at its key quantiles straight away: a
	// summary of the whole key space would cost the external side a full
	// scan that only a clean run can use.
	root := &keyRange{rows: all}
	frontier := []*keyRange{root}
	if len(all) >= bisectFanout*bisectLeafRows {
		if parts := b.splitAt(root, localBounds(root)); parts != nil {
			frontier = parts
		}
	}
	frontier = append(frontier, &keyRange{nulls: true, rows: nulls})
	var fetch []*keyRange
	for len(frontier) > 0 {
		if err := b.summarize(ctx, frontier); err != nil {
			return err
		}
		var next, byExt []*keyRange
		for _, kr := range frontier {
			lc := int64(len(kr.rows))
			var ls sum128
			for _, lr := range kr.rows {
				ls.add(lr.h)
			}
			if lc == kr.extCount && ls.big().Cmp(kr.extSum) == 0 && !b.hasDup(kr) {
				b.cmp.Compared += int(lc)
				b.cmp.Matched += int(lc)
				continue
			}
			// A range empty on one side is all missing there: fetch it
			// (rows of an empty external range cost one empty query).
			if kr.nulls || lc == 0 || kr.extCount == 0 || (lc <= bisectLeafRows && kr.extCount <= bisectLeafRows) ||
				kr.depth >= bisectMaxDepth {
				fetch = append(fetch, kr)
				continue
			}
			// The left side's keys split the range unless it holds far
			// fewer of them than the external side (then the external
			// side's key quantiles are read: ORDER BY … OFFSET).
			if lc*4 >= kr.extCount {
				parts := b.splitAt(kr, localBounds(kr))
				if parts == nil {
					fetch = append(fetch, kr)
				}
				next = append(next, parts...)
				continue
			}
			byExt = append(byExt, kr)
		}
		if len(byExt) > 0 {
			bounds, err := b.extBounds(ctx, byExt)
			if err != nil {
				return err
			}
			for i, kr := range byExt {
				parts := b.splitAt(kr, bounds[i])
				if parts == nil {
					fetch = append(fetch, kr)
				}
				next = append(next, parts...)
			}
		}
		frontier = next
	}
	return b.fetch(ctx, fetch)
}

// hasDup reports whether the left side holds a key of kr more than once.
func (b *bisector) hasDup(kr *keyRange) bool {
	if kr.nulls {
		// Every NULL key is the same key to the comparison: several are
		// duplicates, and only a fetch reports them.
		return len(kr.rows) > 1
	}
	for i := 1; i < len(kr.rows); i++ {
		if compareKeys(kr.rows[i-1].key, kr.rows[i].key) == 0 {
			return true
		}
	}
	return false
}

// localBounds are the left keys at kr's fanout quantiles.
func localBounds(kr *keyRange) [][]any {
	var out [][]any
	n := len(kr.rows)
	for k := 1; k < bisectFanout; k++ {
		out = append(out, kr.rows[k*n/bisectFanout].key)
	}
	return out
}

// splitAt splits kr at bounds (ascending; duplicates and bounds not
// strictly inside kr are dropped) into sub-ranges with their left rows; nil
// when no bound splits it.
func (b *bisector) splitAt(kr *keyRange, bounds [][]any) []*keyRange {
	var cuts [][]any
	for _, bd := range bounds {
		if kr.lo != nil && compareKeys(bd, kr.lo) <= 0 {
			continue
		}
		if kr.hi != nil && compareKeys(bd, kr.hi) >= 0 {
			continue
		}
		if len(cuts) > 0 && compareKeys(bd, cuts[len(cuts)-1]) <= 0 {
			continue
		}
		cuts = append(cuts, bd)
	}
	if len(cuts) == 0 {
		return nil
	}
	out := make([]*keyRange, 0, len(cuts)+1)
	lo, rs := kr.lo, kr.rows
	for _, c := range append(cuts, nil) {
		n := len(rs)
		if c != nil {
			n = sort.Search(len(rs), func(i int) bool { return compareKeys(rs[i].key, c) >= 0 })
		}
		out = append(out, &keyRange{lo: lo, hi: c, rows: rs[:n], depth: kr.depth + 1})
		lo, rs = c, rs[n:]
	}
	out[len(out)-1].hi = kr.hi
	return out
}

// summarize reads each range's count and hash sum from the external side,
// in one round trip.
func (b *bisector) summarize(ctx context.Context, krs []*keyRange) error {
	if len(b.classes) == 1 && b.classes[0] == classText {
		return b.summarizeByBucket(ctx, krs)
	}
	batch := &pgx.Batch{}
	for _, kr := range krs {
		where, args := b.where(kr)
		batch.Queue("SELECT count(*), coalesce(sum("+b.hashSQL+"), 0)::text "+b.base+" "+where, args...)
	}
	br := b.tx.SendBatch(ctx, batch)
	for _, kr := range krs {
		var sum string
		if err := br.QueryRow().Scan(&kr.extCount, &sum); err != nil {
			_ = br.Close()
			return fmt.Errorf("summarize a key range: %w", err)
		}
		s, ok := new(big.Int).SetString(sum, 10)
		if !ok {
			_ = br.Close()
			return fmt.Errorf("summarize a key range: hash sum %q is not an integer", sum)
		}
		kr.extSum = s
		b.cmp.Ranges++
	}
	return br.Close()
}

// summarizeByBucket summarizes the ranges of one text key with one scan of
// the external side: a key compared under COLLATE "C" cannot use an index
// of another collation, so a query per range would scan the whole table
// per range. width_bucket (under COLLATE "C") numbers each row's range
// among the ranges' bounds, and the rows are grouped by it; rows between
// the ranges (keys of ranges already matched) fall in buckets no range
// owns and are ignored.
func (b *bisector) summarizeByBucket(ctx context.Context, krs []*keyRange) error {
	var ranged []*keyRange
	batch := &pgx.Batch{}
	for _, kr := range krs {
		if kr.nulls {
			where, args := b.where(kr)
			batch.Queue("SELECT count(*), coalesce(sum("+b.hashSQL+"), 0)::text "+b.base+" "+where, args...)
			continue
		}
		kr.extCount, kr.extSum = 0, new(big.Int)
		ranged = append(ranged, kr)
	}
	sort.Slice(ranged, func(i, j int) bool {
		if ranged[i].lo == nil || ranged[j].lo == nil {
			return ranged[i].lo == nil && ranged[j].lo != nil
		}
		return compareKeys(ranged[i].lo, ranged[j].lo) < 0
	})
	// width_bucket(k, th) is the number of thresholds <= k.
	var th []string
	owner := map[int64]*keyRange{}
	for _, kr := range ranged {
		if kr.lo != nil && (len(th) == 0 || th[len(th)-1] != kr.lo[0].(string)) {
			th = append(th, kr.lo[0].(string))
		}
		owner[int64(len(th))] = kr
		if kr.hi != nil {
			th = append(th, kr.hi[0].(string))
		}
	}
	if len(ranged) > 0 {
		batch.Queue("SELECT width_bucket("+b.keyOrder+", $1::text[]), count(*), coalesce(sum("+b.hashSQL+"), 0)::text "+
			b.base+" WHERE "+b.notNull+" GROUP BY 1", th)
	}
	br := b.tx.SendBatch(ctx, batch)
	defer func() { _ = br.Close() }()
	for _, kr := range krs {
		if !kr.nulls {
			continue
		}
		var sum string
		if err := br.QueryRow().Scan(&kr.extCount, &sum); err != nil {
			return fmt.Errorf("summarize a key range: %w", err)
		}
		var ok bool
		if kr.extSum, ok = new(big.Int).SetString(sum, 10); !ok {
			return fmt.Errorf("summarize a key range: hash sum %q is not an integer", sum)
		}
		b.cmp.Ranges++
	}
	if len(ranged) == 0 {
		return br.Close()
	}
	rs, err := br.Query()
	if err != nil {
		return fmt.Errorf("summarize key ranges: %w", err)
	}
	for rs.Next() {
		var bucket, count int64
		var sum string
		if err := rs.Scan(&bucket, &count, &sum); err != nil {
			rs.Close()
			return fmt.Errorf("summarize key ranges: %w", err)
		}
		kr := owner[bucket]
		if kr == nil {
			continue
		}
		s, ok := new(big.Int).SetString(sum, 10)
		if !ok {
			rs.Close()
			return fmt.Errorf("summarize key ranges: hash sum %q is not an integer", sum)
		}
		kr.extCount, kr.extSum = count, s
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return fmt.Errorf("summarize key ranges: %w", err)
	}
	b.cmp.Ranges += len(ranged)
	return br.Close()
}

// extBounds reads the external keys at each range's fanout quantiles
// (ORDER BY the key, OFFSET), in one round trip.
func (b *bisector) extBounds(ctx context.Context, krs []*keyRange) ([][][]any, error) {
	batch := &pgx.Batch{}
	var offsets [][]int64
	for _, kr := range krs {
		where, args := b.where(kr)
		var offs []int64
		for k := int64(1); k < bisectFanout; k++ {
			off := k * kr.extCount / bisectFanout
			if len(offs) > 0 && off == offs[len(offs)-1] {
				continue
			}
			offs = append(offs, off)
			q := fmt.Sprintf("SELECT %s %s %s ORDER BY %s OFFSET %d LIMIT 1", b.keyOrder, b.base, where, b.keyOrder, off)
			batch.Queue(q, args...)
		}
		offsets = append(offsets, offs)
	}
	br := b.tx.SendBatch(ctx, batch)
	defer func() { _ = br.Close() }()
	out := make([][][]any, len(krs))
	for i := range krs {
		for range offsets[i] {
			rs, err := br.Query()
			if err != nil {
				return nil, fmt.Errorf("key quantiles: %w", err)
			}
			for rs.Next() {
				vals, err := rs.Values()
				if err != nil {
					rs.Close()
					return nil, fmt.Errorf("key quantiles: %w", err)
				}
				key := make([]any, len(vals))
				for j, v := range vals {
					if key[j], err = normalize(v); err != nil {
						rs.Close()
						return nil, err
					}
					if key[j] == nil || !b.classes[j].fits(key[j]) {
						rs.Close()
						return nil, fmt.Errorf("key quantiles: external key %v (%T) does not order as its column", key[j], key[j])
					}
				}
				out[i] = append(out[i], key)
				b.cmp.ExternalRows++
			}
			rs.Close()
			if err := rs.Err(); err != nil {
				return nil, fmt.Errorf("key quantiles: %w", err)
			}
		}
	}
	return out, nil
}

// fetch reads the rows of each differing leaf range from the external
// side and compares them with the left rows of the range, key by key.
func (b *bisector) fetch(ctx context.Context, krs []*keyRange) error {
	if len(krs) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	for _, kr := range krs {
		where, args := b.where(kr)
		batch.Queue("SELECT * "+b.base+" "+where, args...)
	}
	br := b.tx.SendBatch(ctx, batch)
	defer func() { _ = br.Close() }()
	for _, kr := range krs {
		rs, err := br.Query()
		if err != nil {
			return fmt.Errorf("fetch a key range: %w", err)
		}
		var ext [][]any
		for rs.Next() {
			vals, err := rs.Values()
			if err != nil {
				rs.Close()
				return fmt.Errorf("fetch a key range: %w", err)
			}
			ext = append(ext, vals)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return fmt.Errorf("fetch a key range: %w", err)
		}
		right, err := normalized(b.extCols, ext)
		if err != nil {
			return err
		}
		lrows := make([][]any, len(kr.rows))
		for i, lr := range kr.rows {
			lrows[i] = lr.row
		}
		c, err := compare(b.r, rows{cols: b.left.cols, rows: lrows}, right, b.now)
		if err != nil {
			return err
		}
		b.cmp.RangesFetched++
		b.cmp.ExternalRows += len(ext)
		b.cmp.Compared += c.Compared
		b.cmp.Matched += c.Matched
		b.cmp.Pending += c.Pending
		b.cmp.Diffs = append(b.cmp.Diffs, c.Diffs...)
	}
	return nil
}
