package primary

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/gateway/pgtest"
	"github.com/dualgate/dualgate/reconcile"
)

// externalCatalog: one entity of accounts, reconciled against a legacy
// PostgreSQL mart by a record rule (integer key), a state rule (text key
// whose byte order differs from a linguistic one) and a record rule whose
// right side has a LIMIT (read whole).
const externalCatalog = `context: recon_external
owner: legacy-team
sources:
  account_events:
    columns: {id: bigint, code: text, owner: text, status: text, balance: numeric, score: double precision, opened_on: date, updated_at: timestamptz, note: text}
    dedupe_key: [id]
entities:
  accounts:
    key: [id]
    columns: {id: bigint, code: text, owner: text, status: text, balance: numeric, score: double precision, opened_on: date, updated_at: timestamptz, note: text}
    mappings:
      - {source: account_events, version: 1, select: "SELECT id, code, owner, status, balance, score, opened_on, updated_at, note FROM batch"}
reconciliations:
  legacy_accounts:
    level: record
    left: SELECT id, owner, balance, score, opened_on, updated_at, note FROM canonical.accounts
    right: SELECT id, owner, balance, score, opened_on, updated_at, note FROM legacy.accounts
    right_dsn: ${DUALGATE_TEST_EXTERNAL_DSN}
    match: [id]
  legacy_status:
    level: state
    left: SELECT code, status FROM canonical.accounts
    right: SELECT code, status FROM legacy.accounts -- the mart's status per account code
    right_dsn: ${DUALGATE_TEST_EXTERNAL_DSN}
    match: [code]
    compare: [status]
  legacy_first_accounts:
    level: record
    left: SELECT id, owner FROM canonical.accounts WHERE id < 50
    right: SELECT id, owner FROM legacy.accounts WHERE id < 50 ORDER BY id LIMIT 1000
    right_dsn: ${DUALGATE_TEST_EXTERNAL_DSN}
    match: [id]
`

// externalRow is account i as canonical holds it: balances with varying
// scale, some NULL notes, notes with separators and non-ASCII text,
// timestamps with and without fractional seconds.
func externalRow(i int) []any {
	prefix := []string{"a", "B", "é", "Z", "_"}[i%5]
	var note any = fmt.Sprintf("note|%d ü", i)
	switch {
	case i%97 == 0:
		note = nil
	case i%89 == 0:
		note = ""
	}
	bal := decimal.New(int64(i*7919%1_000_000)-500_000, -int32(i%3)) // scale 0, 1 or 2
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 37 * time.Second)
	if i%4 == 1 {
		at = at.Add(time.Duration(i%1000) * time.Microsecond * 120)
	}
	status := []string{"open", "paid", "shipped"}[i%3]
	return []any{int64(i), fmt.Sprintf("%s%06d", prefix, i), fmt.Sprintf("owner-%d", i%9973), status, bal,
		float64(i%1000) / 10, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%700), at, note}
}

// TestReconcileExternalBisection reconciles a 100k-row entity against a
// legacy PostgreSQL 15 mart holding the same rows in other types (numeric
// of a larger scale, timestamp without time zone, varchar), then seeds
// differences in both directions. Every seeded difference is found with
// its kind, nothing else is, and only a small fraction of the mart's rows
// is read: key ranges are summarized in the mart by SQL aggregates and
// fetched only where they differ.
func TestReconcileExternalBisection(t *testing.T) {
	if _, err := os.Stat(pgtest.BinDir + "/postgres"); err != nil {
		if os.Getenv("DUALGATE_CI") != "" {
			t.Fatalf("PostgreSQL 15 is required: %v", err)
		}
		t.Skipf("PostgreSQL 15 not installed: %v", err)
	}
	n := 100_000
	if testing.Short() || reconcileRace {
		n = 30_000
	}
	ctx := context.Background()
	pgs, err := pgtest.Start(ctx, pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pgs.Stop)
	t.Setenv("DUALGATE_TEST_EXTERNAL_DSN", pgs.DSN("postgres"))
	legacy, err := pgx.Connect(ctx, pgs.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { legacy.Close(ctx) })

	cat, err := catalog.LoadFiles(catalog.File{Name: "external.yaml", Data: []byte(externalCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	eng := gateway.NewEngine()
	t.Cleanup(func() { eng.Close() })
	side, err := Open(ctx, t.TempDir(), cat, eng, "", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { side.Close() })

	// Canonical lacks account 23333 and a block of 300 (more than a leaf
	// range) from 10000 on, which the mart has: missing_left in the middle
	// of the key space, the block found by splitting at the mart's key
	// quantiles.
	loadStart := time.Now()
	const onlyLegacy, block = 23_333, 10_000
	legacyOnly := func(i int) bool { return i == onlyLegacy || (i >= block && i < block+300) }
	var ch []canonical.Change
	for i := 0; i < n; i++ {
		if legacyOnly(i) {
			continue
		}
		ch = append(ch, canonical.Change{Table: "accounts", Op: canonical.OpUpsert, Row: externalRow(i)})
	}
	if _, err := side.Store().Commit(ctx, canonical.CommitRequest{Kind: canonical.KindIngest, Committer: "test", Changes: ch}); err != nil {
		t.Fatal(err)
	}

	// The mart: the same accounts in its own types. Its account codes sort
	// under a linguistic collation (B before _ before a in bytes, not
	// there): key ranges must still agree with canonical's byte order.
	coll := "C"
	for _, c := range []string{"und-x-icu", "en-x-icu", "en_US.utf8"} {
		var ok bool
		if err := legacy.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = $1)`, c).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if ok {
			coll = c
			break
		}
	}
	t.Logf("the mart's account codes are collated %q", coll)
	if _, err := legacy.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA legacy;
		CREATE TABLE legacy.accounts (id integer PRIMARY KEY, code varchar(20) COLLATE %q UNIQUE, owner text, status text,
			balance numeric(14,4), score double precision, opened_on date, updated_at timestamp, note text)`, coll)); err != nil {
		t.Fatal(err)
	}
	src := make([][]any, 0, n)
	for i := 0; i < n; i++ {
		r := externalRow(i)
		src = append(src, []any{int32(i), r[1], r[2], r[3], r[4].(decimal.Decimal).StringFixed(4), r[5], r[6], r[7], r[8]})
	}
	if _, err := legacy.CopyFrom(ctx, pgx.Identifier{"legacy", "accounts"},
		[]string{"id", "code", "owner", "status", "balance", "score", "opened_on", "updated_at", "note"}, pgx.CopyFromRows(src)); err != nil {
		t.Fatal(err)
	}
	if _, err := legacy.Exec(ctx, `ANALYZE legacy.accounts`); err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d accounts into canonical and the mart in %s", n, time.Since(loadStart).Round(time.Millisecond))
	re := side.Reconciler()
	run := func(rule string) reconcile.Run {
		t.Helper()
		t0 := time.Now()
		r, err := re.Run(ctx, rule, "call")
		if err != nil {
			t.Fatalf("run %s: %v", rule, err)
		}
		t.Logf("%s: %s, %s (in %s)", rule, r.Outcome, r.Coverage, time.Since(t0).Round(time.Millisecond))
		return r
	}

	// Baseline: the mart also holds the 301 accounts canonical lacks.
	// Equal values in other formats (numeric 5.0000 vs 5, timestamp vs
	// timestamptz, float8) match.
	want := map[finding]bool{}
	for i := 0; i < n; i++ {
		if legacyOnly(i) {
			want[finding{"legacy_accounts", reconcile.KindMissingLeft, keyN("id", i)}] = true
			want[finding{"legacy_status", reconcile.KindMissingLeft, key("code", externalRow(i)[1].(string))}] = true
		}
	}
	r1 := run("legacy_accounts")
	r2 := run("legacy_status")
	scoreExternal(t, re, "baseline", want)
	for _, r := range []reconcile.Run{r1, r2} {
		if r.Compared != int64(n) || r.Matched != int64(n-301) || !strings.Contains(r.Coverage, "key-range bisection") {
			t.Errorf("%s baseline: compared %d, matched %d (want %d, %d): %s", r.Rule, r.Compared, r.Matched, n, n-301, r.Coverage)
		}
		// The 301 accounts only the mart has must be read; the rest is
		// leaf ranges around them and key quantiles.
		if r.ExternalRows < 301 || r.ExternalRows > 301+1000 {
			t.Errorf("%s baseline read %d of the mart's %d rows", r.Rule, r.ExternalRows, n)
		}
	}

	// Seed: keys missing on either side, altered values, NULL against a
	// value both ways, an equal value written at another scale, a status
	// changed under a text key.
	nullNote := 97 * 200 // canonical note is NULL there
	seed := []string{
		`DELETE FROM legacy.accounts WHERE id IN (777, 25001, 0)`,
		fmt.Sprintf(`INSERT INTO legacy.accounts (id, code, owner, status, balance) VALUES (%d, 'zz-new', 'ghost', 'open', 1), (-5, 'aa-new', 'ghost', 'open', 2)`, n+5),
		`UPDATE legacy.accounts SET owner = 'someone else' WHERE id = 12345`,
		`UPDATE legacy.accounts SET balance = balance + 0.01 WHERE id = 27890`,
		`UPDATE legacy.accounts SET note = NULL WHERE id = 4242`,
		fmt.Sprintf(`UPDATE legacy.accounts SET note = 'x' WHERE id = %d`, nullNote),
		`UPDATE legacy.accounts SET updated_at = updated_at + interval '1 microsecond' WHERE id = 8081`,
		`UPDATE legacy.accounts SET balance = round(balance, 2)::numeric(14,4) WHERE id % 1000 = 7`, // same values, rewritten
		`UPDATE legacy.accounts SET status = 'cancelled' WHERE id IN (11, 22222, 24444)`,
	}
	for _, q := range seed {
		if _, err := legacy.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	code := func(i int) string { return externalRow(i)[1].(string) }
	for _, i := range []int{777, 25001, 0} {
		want[finding{"legacy_accounts", reconcile.KindMissingRight, keyN("id", i)}] = true
		want[finding{"legacy_status", reconcile.KindMissingRight, key("code", code(i))}] = true
	}
	for _, k := range []struct {
		id   int
		code string
	}{{n + 5, "zz-new"}, {-5, "aa-new"}} {
		want[finding{"legacy_accounts", reconcile.KindMissingLeft, keyN("id", k.id)}] = true
		want[finding{"legacy_status", reconcile.KindMissingLeft, key("code", k.code)}] = true
	}
	for _, i := range []int{12345, 27890, 4242, nullNote, 8081} {
		want[finding{"legacy_accounts", reconcile.KindValueMismatch, keyN("id", i)}] = true
	}
	for _, i := range []int{11, 22222, 24444} {
		want[finding{"legacy_status", reconcile.KindStateMismatch, key("code", code(i))}] = true
	}
	keys := map[string]int{"legacy_accounts": n + 2, "legacy_status": n + 2} // union of both sides' keys
	diverged := map[string]int{}
	for f := range want {
		diverged[f.rule]++
	}
	for _, rule := range []string{"legacy_accounts", "legacy_status"} {
		r := run(rule)
		if r.Outcome != "divergent" || r.Compared != int64(keys[rule]) || r.Matched != int64(keys[rule]-diverged[rule]) {
			t.Errorf("%s: outcome %s, compared %d, matched %d; want divergent, %d, %d", rule, r.Outcome, r.Compared, r.Matched,
				keys[rule], keys[rule]-diverged[rule])
		}
		// The algorithm's bound, not a timing: the 301 accounts only the
		// mart has are read, any other difference costs at most one leaf
		// range (256 rows), plus a few key quantiles.
		if limit := int64(301 + (diverged[rule]-301)*256 + 1000); r.ExternalRows > limit || r.ExternalRows > int64(n/10) {
			t.Errorf("%s read %d of the mart's %d rows for %d differences (limit %d)", rule, r.ExternalRows, n, diverged[rule], limit)
		}
		t.Logf("%s: %d of the mart's %d rows read, %d ranges summarized, %d fetched", rule, r.ExternalRows, n, r.Ranges, r.RangesFetched)
	}
	scoreExternal(t, re, "seeded", want)

	// A right side with LIMIT cannot be range-restricted: read whole, and
	// the run says so.
	r := run("legacy_first_accounts")
	if !strings.Contains(r.Coverage, "read whole") || !strings.Contains(r.Coverage, "LIMIT") || r.ExternalRows != 50 {
		t.Errorf("LIMIT rule: %+v", r)
	}
	if r.Outcome != "divergent" || r.Divergent != 2 { // account 0 and 11's owner is unchanged: 0 missing, -5 extra
		t.Errorf("LIMIT rule outcome %s, %d divergent; want 2 (accounts 0 and -5)", r.Outcome, r.Divergent)
	}
}

func keyN(col string, v int) string { return fmt.Sprintf(`{%q: %d}`, col, v) }

// scoreExternal fails on any missed or unexpected active exception.
func scoreExternal(t *testing.T, re *reconcile.Engine, phase string, want map[finding]bool) {
	t.Helper()
	got := map[finding]bool{}
	for _, e := range re.Exceptions() {
		if e.Status.Active() && e.Rule != "legacy_first_accounts" {
			got[finding{e.Rule, e.Kind, e.Key}] = true
		}
	}
	var fps, fns []string
	for f := range got {
		if !want[f] {
			fps = append(fps, fmt.Sprintf("%s %s %s", f.rule, f.kind, f.key))
		}
	}
	for f := range want {
		if !got[f] {
			fns = append(fns, fmt.Sprintf("%s %s %s", f.rule, f.kind, f.key))
		}
	}
	sort.Strings(fps)
	sort.Strings(fns)
	t.Logf("%s: seeded %d, found %d, false alarms %d, missed %d", phase, len(want), len(got), len(fps), len(fns))
	if len(fps) > 0 || len(fns) > 0 {
		t.Fatalf("%s: false alarms %v; missed %v", phase, fps, fns)
	}
}
