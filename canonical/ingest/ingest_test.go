package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/canonical/ingest"
	"github.com/dualgate/dualgate/canonical/sqltables"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/testdata"
)

// The Batcher is what the engine's tables write through.
var _ sqltables.Writes = (*ingest.Batcher)(nil)

// ...and what the gateway tells when a unit of work ends (adapted by the
// binary: gateway.SessionInfo carries user and commit message).
var _ interface {
	Commit(ctx context.Context, sessionID uint32, user, commitMessage string) ([]string, error)
	Rollback(sessionID uint32)
} = (*ingest.Batcher)(nil)

// txHooks is how the binary adapts a Batcher to gateway.TxHooks.
type txHooks struct{ b *ingest.Batcher }

func (h txHooks) Commit(ctx context.Context, id uint32, info gateway.SessionInfo) ([]string, error) {
	return h.b.Commit(ctx, id, info.User, info.CommitMessage)
}

func (h txHooks) Rollback(id uint32) { h.b.Rollback(id) }

var _ gateway.TxHooks = txHooks{}

var (
	engOnce sync.Once
	eng     *gateway.Engine
)

// query runs batch queries on a real gateway engine.
func query(ctx context.Context, q string, names []string, oids []uint32, rows [][]any) ([]string, [][]any, error) {
	engOnce.Do(func() { eng = gateway.NewEngine() })
	cols := make([]gateway.BatchColumn, len(names))
	for i := range names {
		cols[i] = gateway.BatchColumn{Name: names[i], OID: oids[i]}
	}
	return eng.QueryBatch(ctx, q, cols, rows)
}

const shopV1 = `
context: shop
owner: shop-team
sources:
  order_events:
    columns: {event_id: text, order_id: text, status: text, total_cents: bigint, qty: integer, occurred_at: timestamptz}
    dedupe_key: [event_id]
  note_events:
    columns: {note_id: text, body: text, action: text}
entities:
  orders:
    key: [order_id]
    columns: {order_id: text, status: text, total_cents: bigint, qty: smallint, updated_at: timestamptz}
    transitions: {column: status, allowed: {submitted: [accepted, cancelled], accepted: [paid, cancelled]}}
    rules:
      - {name: non_negative_total, check: "total_cents >= 0"}
      - {name: modest_total, check: "total_cents < 1000000", severity: warning}
    mappings:
      - source: order_events
        version: 1
        select: SELECT order_id, status, total_cents, qty, occurred_at AS updated_at FROM batch
%V2%
  notes:
    key: [note_id]
    columns: {note_id: text, body: text, kind: text}
    mappings:
      - source: note_events
        version: 1
        select: SELECT note_id, body, action AS kind FROM batch
        delete_when: kind = 'void'
`

const shopV2Mapping = `      - source: order_events
        version: 2
        select: SELECT order_id, lower(status) AS status, total_cents, qty, occurred_at AS updated_at FROM batch`

func shopCatalog(t *testing.T, v2 bool) *catalog.Catalog {
	t.Helper()
	y := strings.Replace(shopV1, "%V2%\n", "", 1)
	if v2 {
		y = strings.Replace(shopV1, "%V2%", shopV2Mapping, 1)
	}
	cat, err := catalog.LoadFiles(catalog.File{Name: "shop.yaml", Data: []byte(y)})
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	return cat
}

func openStore(t *testing.T) *canonical.Store {
	t.Helper()
	s, err := canonical.Open(context.Background(), t.TempDir(), canonical.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newPipeline(t *testing.T, s *canonical.Store, cat *catalog.Catalog, q ingest.QueryFunc) *ingest.Pipeline {
	t.Helper()
	if q == nil {
		q = query
	}
	p, err := ingest.New(s, cat, q, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.EnsureSchema(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func ev(id, order, status string, total int64, qty int32, minute int) []any {
	return []any{id, order, status, total, qty, t0.Add(time.Duration(minute) * time.Minute)}
}

func checkSum(t *testing.T, r ingest.Report) {
	t.Helper()
	if r.Received != r.Committed+r.Unchanged+r.Duplicates+r.Quarantined {
		t.Fatalf("counts do not add up: %+v", r)
	}
}

func get(t *testing.T, s *canonical.Store, table string, key ...any) []any {
	t.Helper()
	row, ok, err := s.Get(context.Background(), table, key, canonical.HEAD)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return nil
	}
	return row
}

func rawCount(t *testing.T, s *canonical.Store, source string) int {
	t.Helper()
	recs, err := s.ScanRaw(context.Background(), source, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

func quarantined(t *testing.T, s *canonical.Store) []canonical.QuarantineRecord {
	t.Helper()
	q, err := s.Quarantined(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestEnsureSchema(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	p := newPipeline(t, s, shopCatalog(t, false), nil)
	h := s.Head()
	if h.ID != 1 || h.Kind != canonical.KindSchema {
		t.Fatalf("head after EnsureSchema: %+v", h)
	}
	ts, err := s.Schema("orders", canonical.HEAD)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ts.PrimaryKey, ","); got != "order_id" {
		t.Fatalf("pk %s", got)
	}
	want := map[string]canonical.Kind{"order_id": canonical.KindString, "total_cents": canonical.KindInt64,
		"qty": canonical.KindInt64, "updated_at": canonical.KindTime}
	for n, k := range want {
		if i := ts.ColumnIndex(n); i < 0 || ts.Columns[i].Kind != k {
			t.Fatalf("column %s: %+v", n, ts.Columns)
		}
	}
	// Idempotent.
	if err := p.EnsureSchema(ctx); err != nil || s.Head().ID != 1 {
		t.Fatalf("second EnsureSchema: %v, head %d", err, s.Head().ID)
	}
	// A new column is added in one schema commit.
	y := strings.Replace(strings.Replace(shopV1, "%V2%\n", "", 1), "qty: smallint, updated_at: timestamptz}",
		"qty: smallint, updated_at: timestamptz, note: text}", 1)
	y = strings.Replace(y, "occurred_at AS updated_at FROM batch", "occurred_at AS updated_at, NULL::text AS note FROM batch", 1)
	cat2, err := catalog.LoadFiles(catalog.File{Name: "shop.yaml", Data: []byte(y)})
	if err != nil {
		t.Fatal(err)
	}
	p2 := newPipeline(t, s, cat2, nil)
	if h := s.Head(); h.ID != 2 || h.Kind != canonical.KindSchema {
		t.Fatalf("head after add column: %+v", h)
	}
	if ts, _ := s.Schema("orders", canonical.HEAD); ts.ColumnIndex("note") != 5 {
		t.Fatalf("note column: %+v", ts.Columns)
	}
	if _, err := p2.Ingest(ctx, "order_events", [][]any{ev("e1", "o1", "submitted", 10, 1, 0)}, "t"); err != nil {
		t.Fatal(err)
	}
	// An index added to the catalog is added to the stored entity and
	// backfilled from its rows in one schema commit.
	withIndex := func(ix string) *catalog.Catalog {
		t.Helper()
		yi := strings.Replace(y, "    transitions: {column: status", "    indexes: {"+ix+"}\n    transitions: {column: status", 1)
		c, err := catalog.LoadFiles(catalog.File{Name: "shop.yaml", Data: []byte(yi)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	before := s.Head().ID
	newPipeline(t, s, withIndex("by_status: [status]"), nil)
	if h := s.Head(); h.ID != before+1 || h.Kind != canonical.KindSchema || !strings.Contains(h.Message, "add index orders.by_status") {
		t.Fatalf("head after add index: %+v", h)
	}
	it, err := s.ScanIndex(ctx, "orders", "by_status", canonical.IndexScanOptions{Lower: []any{"submitted"}, Upper: []any{"submitted"}, UpperInclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for it.Next() {
		keys = append(keys, it.Row()[0].(string))
	}
	_ = it.Close()
	if strings.Join(keys, ",") != "o1" {
		t.Fatalf("backfilled by_status: %v", keys)
	}
	for ix, want := range map[string]string{
		"by_status: [qty]": "index by_status changed from (status) to (qty)",
		"by_qty: [qty]":    "index by_status(status) was removed from the catalog",
	} {
		pi, err := ingest.New(s, withIndex(ix), query, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if err := pi.EnsureSchema(ctx); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("indexes {%s}: %v, want an error saying %q", ix, err, want)
		}
	}
	y = strings.Replace(y, "    transitions: {column: status", "    indexes: {by_status: [status]}\n    transitions: {column: status", 1)
	// An incompatible type change is refused, naming the column.
	y = strings.Replace(y, "total_cents: bigint, qty: smallint", "total_cents: text, qty: smallint", 1)
	y = strings.Replace(y, "status, total_cents, qty, occurred_at", "status, total_cents::text AS total_cents, qty, occurred_at", 1)
	y = strings.Replace(y, `{name: non_negative_total, check: "total_cents >= 0"}`, `{name: non_negative_total, check: "total_cents <> ''"}`, 1)
	y = strings.Replace(y, `{name: modest_total, check: "total_cents < 1000000", severity: warning}`, `{name: modest_total, check: "true", severity: warning}`, 1)
	cat3, err := catalog.LoadFiles(catalog.File{Name: "shop.yaml", Data: []byte(y)})
	if err != nil {
		t.Fatal(err)
	}
	p3, err := ingest.New(s, cat3, query, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	err = p3.EnsureSchema(ctx)
	if err == nil || !strings.Contains(err.Error(), "column total_cents changed type") {
		t.Fatalf("incompatible change: %v", err)
	}
}

func TestIngestDemoOrders(t *testing.T) {
	ctx := context.Background()
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	p := newPipeline(t, s, cat, nil)
	row := func(event, order string, line int32, status string, qty int32, minute int) []any {
		at := t0.Add(time.Duration(minute) * time.Minute)
		return []any{event, order, line, status, "c1", "Ann@Example.com", "+3312345678", " Web", "eu", "eur",
			"sku-" + string(rune('a'+line)), qty, int64(250), int64(1000), t0, at}
	}
	rows := [][]any{
		row("ev1", "o1", 1, "SUBMITTED", 2, 0),
		row("ev1", "o1", 2, "SUBMITTED", 2, 0),
		row("ev2", "o2", 1, "submitted", 2, 1),
		row("ev1", "o1", 2, "SUBMITTED", 2, 0), // duplicate (event_id, line_no)
		row("ev3", "o1", 1, "ACCEPTED", 2, 2),
		row("ev3", "o1", 2, "ACCEPTED", 0, 2), // positive_quantity fails: the raw row is quarantined
	}
	rep, err := p.Ingest(ctx, "oms_orders", rows, "oms_connector")
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, rep)
	if rep.Received != 6 || rep.Duplicates != 1 || rep.Quarantined != 1 || rep.Committed != 4 {
		t.Fatalf("report %+v", rep)
	}
	o1 := get(t, s, "commercial_orders", "o1")
	ts, _ := s.Schema("commercial_orders", canonical.HEAD)
	col := func(r []any, n string) any { return r[ts.ColumnIndex(n)] }
	if o1 == nil || col(o1, "status") != "accepted" || col(o1, "channel") != "web" || col(o1, "region") != "EU" ||
		col(o1, "currency") != "EUR" || col(o1, "customer_email") != "ann@example.com" || col(o1, "total_cents") != int64(1000) {
		t.Fatalf("o1 = %v", o1)
	}
	if get(t, s, "order_lines", "o1", int64(2)) == nil || get(t, s, "order_lines", "o2", int64(1)) == nil {
		t.Fatal("order lines missing")
	}
	if l := get(t, s, "order_lines", "o1", int64(2)); l[3] != int64(2) {
		t.Fatalf("o1 line 2 should keep the first quantity: %v", l)
	}
	ci, err := s.CommitByID(ctx, rep.CommitID)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Kind != canonical.KindIngest || ci.Committer != "oms_connector" || ci.Source != "oms_orders" ||
		ci.MappingVersion != 2 || ci.RawFromSeq != 1 || ci.RawToSeq != 6 {
		t.Fatalf("commit %+v", ci)
	}
	q := quarantined(t, s)
	if len(q) != 1 || q[0].RawSeq != 6 || q[0].Entity != "order_lines" || q[0].Rule != "positive_quantity" {
		t.Fatalf("quarantine %+v", q)
	}
	if rawCount(t, s, "oms_orders") != 6 {
		t.Fatal("raw must keep every delivery")
	}
	if !strings.Contains(rep.Notice(), "ingested 6 rows from oms_orders: 4 committed (commit 2), 0 unchanged, 1 duplicate, 1 quarantined") {
		t.Fatalf("notice %q", rep.Notice())
	}
}

func TestIngestQuarantineAndCounts(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	p := newPipeline(t, s, shopCatalog(t, false), nil)
	rep, err := p.Ingest(ctx, "order_events", [][]any{
		ev("e1", "o1", "submitted", 100, 1, 0),
		ev("e2", "o2", "submitted", -5, 1, 0),         // rule non_negative_total
		ev("e3", "o3", "accepted", 100, 1, 0),         // new key not initial
		ev("e1", "o1", "submitted", 100, 1, 0),        // duplicate in batch
		ev("e4", "o4", "submitted", 100, 40000, 0),    // qty overflows smallint
		nullKey(ev("e5", "", "submitted", 100, 1, 0)), // NULL key
		ev("e6", "o6", "submitted", 2000000, 1, 0),    // warning only
		ev("e7", "o1", "accepted", 100, 1, 1),         // legal transition within the batch
	}, "loader")
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, rep)
	if rep.Committed != 3 || rep.Duplicates != 1 || rep.Quarantined != 4 || rep.Warnings != 1 || rep.CommitID == 0 {
		t.Fatalf("report %+v", rep)
	}
	if r := get(t, s, "orders", "o1"); r == nil || r[1] != "accepted" {
		t.Fatalf("o1 = %v", r)
	}
	for _, k := range []string{"o2", "o3", "o4"} {
		if get(t, s, "orders", k) != nil {
			t.Fatalf("%s should be quarantined", k)
		}
	}
	q := quarantined(t, s)
	rules := map[uint64]string{}
	for _, r := range q {
		rules[r.RawSeq] = r.Rule
		if r.Source != "order_events" || r.Entity != "orders" || r.Reason == "" || !json.Valid([]byte(r.Payload)) {
			t.Fatalf("record %+v", r)
		}
	}
	want := map[uint64]string{2: "non_negative_total", 3: ingest.RuleTransition, 5: ingest.RuleType, 6: ingest.RuleKey}
	for seq, rule := range want {
		if rules[seq] != rule {
			t.Fatalf("seq %d quarantined for %q, want %q (all: %+v)", seq, rules[seq], rule, q)
		}
	}
	// A later batch: an illegal transition (accepted -> submitted) is quarantined,
	// the rest commits.
	rep, err = p.Ingest(ctx, "order_events", [][]any{
		ev("e8", "o1", "submitted", 100, 1, 2),
		ev("e9", "o6", "cancelled", 2000000, 1, 2),
		ev("e1", "o1", "submitted", 100, 1, 0), // duplicate of an earlier batch
	}, "loader")
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, rep)
	if rep.Committed != 1 || rep.Quarantined != 1 || rep.Duplicates != 1 {
		t.Fatalf("report %+v", rep)
	}
	q = quarantined(t, s)
	last := q[len(q)-1]
	if last.RawSeq != 9 || last.Rule != ingest.RuleTransition || !strings.Contains(last.Reason, `"accepted" -> "submitted"`) {
		t.Fatalf("transition record %+v", last)
	}
	if r := get(t, s, "orders", "o6"); r[1] != "cancelled" {
		t.Fatalf("o6 = %v", r)
	}
}

func nullKey(r []any) []any { r[1] = nil; return r }

func TestIdenticalRedelivery(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	p := newPipeline(t, s, shopCatalog(t, false), nil)
	batch := [][]any{ev("e1", "o1", "submitted", 100, 1, 0), ev("e2", "o2", "submitted", 100, 1, 0)}
	first, err := p.Ingest(ctx, "order_events", batch, "loader")
	if err != nil {
		t.Fatal(err)
	}
	head := s.Head().ID
	again, err := p.Ingest(ctx, "order_events", batch, "loader")
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, again)
	if again.Duplicates != 2 || again.CommitID != 0 || s.Head().ID != head {
		t.Fatalf("re-delivery: %+v (first %+v)", again, first)
	}
	// Same content under new event ids: captured, unchanged, no new version.
	same := [][]any{ev("e3", "o1", "submitted", 100, 1, 0), ev("e4", "o2", "submitted", 100, 1, 0)}
	rep, err := p.Ingest(ctx, "order_events", same, "loader")
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, rep)
	if rep.Unchanged != 2 || rep.CommitID != 0 || s.Head().ID != head {
		t.Fatalf("identical upserts: %+v", rep)
	}
	if !strings.Contains(rep.Notice(), "(no new commit)") {
		t.Fatalf("notice %q", rep.Notice())
	}
	if n := rawCount(t, s, "order_events"); n != 6 {
		t.Fatalf("raw rows %d, want 6", n)
	}
	// A fresh pipeline (restart) rebuilds the dedupe index from raw.
	p2 := newPipeline(t, s, shopCatalog(t, false), nil)
	rep, err = p2.Ingest(ctx, "order_events", batch, "loader")
	if err != nil || rep.Duplicates != 2 {
		t.Fatalf("after restart: %+v %v", rep, err)
	}
}

func TestDeleteWhen(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	p := newPipeline(t, s, shopCatalog(t, false), nil)
	rep, err := p.Ingest(ctx, "note_events", [][]any{{"n1", "hello", "add"}, {"n2", "bye", "add"}}, "loader")
	if err != nil || rep.Committed != 2 {
		t.Fatalf("%+v %v", rep, err)
	}
	rep, err = p.Ingest(ctx, "note_events", [][]any{{"n1", "", "void"}, {"n9", "", "void"}}, "loader")
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, rep)
	if rep.Committed != 1 || rep.Unchanged != 1 {
		t.Fatalf("%+v", rep)
	}
	if get(t, s, "notes", "n1") != nil || get(t, s, "notes", "n2") == nil {
		t.Fatal("n1 should be deleted, n2 kept")
	}
	ci, _ := s.CommitByID(ctx, rep.CommitID)
	if ci.RowsRemoved != 1 {
		t.Fatalf("commit %+v", ci)
	}
}

func TestCorrection(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	p := newPipeline(t, s, shopCatalog(t, false), nil)
	if _, err := p.Ingest(ctx, "order_events", [][]any{ev("e1", "o1", "submitted", 100, 1, 0)}, "loader"); err != nil {
		t.Fatal(err)
	}
	row := func(status string, total int64) []any { return []any{"o1", status, total, int64(1), t0} }
	up := func(r []any) []canonical.Change {
		return []canonical.Change{{Table: "orders", Op: canonical.OpUpsert, Row: r}}
	}
	head := s.Head().ID
	if _, err := p.Correct(ctx, "orders", up(row("submitted", 90)), "sam", ""); !errors.Is(err, ingest.ErrNoMessage) ||
		!strings.Contains(err.Error(), "SET dualgate.commit_message") {
		t.Fatalf("no message: %v", err)
	}
	_, err := p.Correct(ctx, "orders", up(row("submitted", -1)), "sam", "fix total")
	if !errors.Is(err, ingest.ErrRefused) || !strings.Contains(err.Error(), "non_negative_total") {
		t.Fatalf("rule: %v", err)
	}
	_, err = p.Correct(ctx, "orders", up(row("paid", 90)), "sam", "fix total")
	if !errors.Is(err, ingest.ErrRefused) || !strings.Contains(err.Error(), `"submitted" -> "paid"`) {
		t.Fatalf("transition: %v", err)
	}
	if s.Head().ID != head || len(quarantined(t, s)) != 0 {
		t.Fatal("a refused correction must write nothing")
	}
	rep, err := p.Correct(ctx, "orders", up(row("accepted", 90)), "sam", "OMS sent the wrong total")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Committed != 1 || rep.CommitID != head+1 {
		t.Fatalf("%+v", rep)
	}
	ci, _ := s.CommitByID(ctx, rep.CommitID)
	if ci.Kind != canonical.KindCorrection || ci.Committer != "sam" || ci.Message != "OMS sent the wrong total" || ci.RowsModified != 1 {
		t.Fatalf("commit %+v", ci)
	}
	if r := get(t, s, "orders", "o1"); r[2] != int64(90) || r[1] != "accepted" {
		t.Fatalf("o1 = %v", r)
	}
	// Deleting by key.
	rep, err = p.Correct(ctx, "orders", []canonical.Change{{Table: "orders", Op: canonical.OpDelete, Row: []any{"o1"}}}, "sam", "duplicate order")
	if err != nil || rep.Committed != 1 || get(t, s, "orders", "o1") != nil {
		t.Fatalf("delete: %+v %v", rep, err)
	}
}

func TestReplayAfterMappingBump(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	p1 := newPipeline(t, s, shopCatalog(t, false), nil)
	rep, err := p1.Ingest(ctx, "order_events", [][]any{
		ev("e1", "o1", "submitted", 100, 1, 0),
		ev("e2", "o2", "SUBMITTED", 100, 1, 0), // v1 keeps the case: not an initial state
		ev("e3", "o3", "Submitted", 100, 1, 0),
		ev("e4", "o4", "submitted", -1, 1, 0), // fails a rule under every version
	}, "loader")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Committed != 1 || rep.Quarantined != 3 || rep.MappingVersion != 1 {
		t.Fatalf("v1 ingest %+v", rep)
	}
	nq := len(quarantined(t, s))
	p2 := newPipeline(t, s, shopCatalog(t, true), nil)
	rep, err = p2.Replay(ctx, "order_events", 1, 0, "steward")
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, rep)
	if rep.Committed != 2 || rep.Unchanged != 1 || rep.Quarantined != 1 || rep.CommitID == 0 || rep.RawFrom != 1 || rep.RawTo != 4 {
		t.Fatalf("replay %+v", rep)
	}
	ci, _ := s.CommitByID(ctx, rep.CommitID)
	if ci.Kind != canonical.KindReplay || ci.MappingVersion != 2 || ci.RowsAdded != 2 || ci.RowsModified != 0 || ci.Committer != "steward" {
		t.Fatalf("replay commit %+v", ci)
	}
	if r := get(t, s, "orders", "o2"); r == nil || r[1] != "submitted" {
		t.Fatalf("o2 = %v", r)
	}
	if len(quarantined(t, s)) != nq {
		t.Fatal("a row failing again keeps its first quarantine record")
	}
	head := s.Head().ID
	rep, err = p2.Replay(ctx, "order_events", 1, 0, "steward")
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, rep)
	if rep.CommitID != 0 || s.Head().ID != head || rep.Committed != 0 || rep.Unchanged != 3 {
		t.Fatalf("second replay %+v", rep)
	}
	if !strings.HasPrefix(rep.Notice(), "replayed 4 rows from order_events (seq 1-4)") {
		t.Fatalf("notice %q", rep.Notice())
	}
	// Duplicates stay duplicates on replay.
	if _, err := p2.Ingest(ctx, "order_events", [][]any{ev("e1", "o1", "accepted", 100, 1, 5)}, "loader"); err != nil {
		t.Fatal(err)
	}
	rep, err = p2.Replay(ctx, "order_events", 0, 0, "steward")
	if err != nil || rep.Duplicates != 1 || rep.CommitID != 0 {
		t.Fatalf("replay with duplicate: %+v %v", rep, err)
	}
}

func TestAtomicityOnFailure(t *testing.T) {
	s := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	failing := func(qctx context.Context, q string, names []string, oids []uint32, rows [][]any) ([]string, [][]any, error) {
		n, out, err := query(context.Background(), q, names, oids, rows)
		cancel() // the client goes away while the batch is being checked
		return n, out, err
	}
	p := newPipeline(t, s, shopCatalog(t, false), failing)
	head := s.Head()
	_, err := p.Ingest(ctx, "order_events", [][]any{
		ev("e1", "o1", "submitted", 100, 1, 0),
		ev("e2", "o2", "submitted", -1, 1, 0),
	}, "loader")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if s.Head().ID != head.ID || rawCount(t, s, "order_events") != 0 || len(quarantined(t, s)) != 0 || get(t, s, "orders", "o1") != nil {
		t.Fatal("a failed ingest must leave raw, quarantine and canonical unchanged")
	}
	// The failed batch left no dedupe trace: delivering it again commits.
	p2 := newPipeline(t, s, shopCatalog(t, false), nil)
	rep, err := p2.Ingest(context.Background(), "order_events", [][]any{ev("e1", "o1", "submitted", 100, 1, 0)}, "loader")
	if err != nil || rep.Committed != 1 || rep.RawFrom != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
}

func TestBatcher(t *testing.T) {
	s := openStore(t)
	p := newPipeline(t, s, shopCatalog(t, false), nil)
	b := ingest.NewBatcher(p)
	sctx := func(id uint32) *sql.Context {
		return sql.NewContext(context.Background(), sql.WithSession(sql.NewBaseSessionWithClientServer("test", sql.Client{User: "u"}, id)))
	}
	s1, s2 := sctx(1), sctx(2)
	if err := b.Raw(s1, "order_events", ev("e1", "o1", "submitted", 100, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := b.Raw(s1, "order_events", ev("e2", "o2", "submitted", 100, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := b.Raw(s2, "order_events", ev("e3", "o3", "submitted", 100, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := b.Raw(s1, "nope", []any{1}); err == nil {
		t.Fatal("unknown source accepted")
	}
	b.Rollback(2)
	if n, _ := b.Pending(2); n != 0 {
		t.Fatal("rollback kept rows")
	}
	notices, err := b.Commit(context.Background(), 1, "oms_connector", "")
	if err != nil || len(notices) != 1 || !strings.HasPrefix(notices[0], "ingested 2 rows from order_events: 2 committed") {
		t.Fatalf("%v %v", notices, err)
	}
	if get(t, s, "orders", "o3") != nil || get(t, s, "orders", "o2") == nil {
		t.Fatal("wrong rows committed")
	}
	// Corrections need a message; the buffer is dropped either way.
	if err := b.Correction(s1, "orders", canonical.OpUpsert, []any{"o1", "accepted", int64(5), int64(1), t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(context.Background(), 1, "sam", ""); !errors.Is(err, ingest.ErrNoMessage) {
		t.Fatalf("no message: %v", err)
	}
	if err := b.Correction(s1, "orders", canonical.OpUpsert, []any{"o1", "accepted", int64(5), int64(1), t0}); err != nil {
		t.Fatal(err)
	}
	notices, err = b.Commit(context.Background(), 1, "sam", "price fix")
	if err != nil || len(notices) != 1 || !strings.HasPrefix(notices[0], "corrected orders: 1 change: 1 committed") {
		t.Fatalf("%v %v", notices, err)
	}
	if ci := s.Head(); ci.Kind != canonical.KindCorrection || ci.Committer != "sam" {
		t.Fatalf("head %+v", ci)
	}
}

// BenchmarkIngestDemo ingests batches of 1,000 oms_orders rows (two lines
// per order, two entities) through the demo catalog.
func BenchmarkIngestDemo(b *testing.B) {
	ctx := context.Background()
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		b.Fatal(err)
	}
	s, err := canonical.Open(ctx, b.TempDir(), canonical.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p, err := ingest.New(s, cat, query, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	if err := p.EnsureSchema(ctx); err != nil {
		b.Fatal(err)
	}
	const n = 1000
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rows := make([][]any, 0, n)
		for j := 0; j < n; j++ {
			order := fmt.Sprintf("o%d-%d", i, j/2)
			rows = append(rows, []any{fmt.Sprintf("ev%d-%d", i, j/2), order, int32(j%2 + 1), "submitted", "c1", "a@b.c", "+1",
				"web", "EU", "EUR", "sku", int32(1), int64(100), int64(200), t0, t0})
		}
		rep, err := p.Ingest(ctx, "oms_orders", rows, "bench")
		if err != nil || rep.Committed != n {
			b.Fatalf("%+v %v", rep, err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
}

// An aggregating mapping cannot trace output rows to raw rows: they are
// attributed to the whole batch, so a rejected row quarantines every raw row
// of the batch, and counts still add up.
func TestAggregatingMapping(t *testing.T) {
	ctx := context.Background()
	y := `
context: totals
owner: t
sources:
  sales:
    columns: {sale_id: text, store: text, cents: bigint}
    dedupe_key: [sale_id]
entities:
  store_totals:
    key: [store]
    columns: {store: text, cents: bigint}
    rules: [{name: small, check: "cents < 1000"}]
    mappings:
      - source: sales
        version: 1
        select: SELECT store, sum(cents) AS cents FROM batch GROUP BY store
`
	cat, err := catalog.LoadFiles(catalog.File{Name: "totals.yaml", Data: []byte(y)})
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	p := newPipeline(t, s, cat, nil)
	rep, err := p.Ingest(ctx, "sales", [][]any{{"s1", "a", int64(10)}, {"s2", "a", int64(20)}, {"s3", "b", int64(5)}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, rep)
	if rep.Committed != 3 {
		t.Fatalf("%+v", rep)
	}
	if r := get(t, s, "store_totals", "a"); r == nil || r[1].(int64) != 30 {
		t.Fatalf("a = %v", r)
	}
	rep, err = p.Ingest(ctx, "sales", [][]any{{"s4", "a", int64(10)}, {"s5", "c", int64(5000)}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, rep)
	if rep.Quarantined != 2 || rep.CommitID != 0 {
		t.Fatalf("%+v", rep)
	}
}

func TestBatcherConcurrentSessions(t *testing.T) {
	s := openStore(t)
	p := newPipeline(t, s, shopCatalog(t, false), nil)
	b := ingest.NewBatcher(p)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(id uint32) {
			defer wg.Done()
			sc := sql.NewContext(context.Background(), sql.WithSession(sql.NewBaseSessionWithClientServer("test", sql.Client{User: "u"}, id)))
			for j := 0; j < 5; j++ {
				key := fmt.Sprintf("s%d-%d", id, j)
				if err := b.Raw(sc, "order_events", ev("e"+key, "o"+key, "submitted", 1, 1, j)); err != nil {
					errs <- err
					return
				}
			}
			if _, err := b.Commit(context.Background(), id, "u", ""); err != nil {
				errs <- err
			}
		}(uint32(i + 1))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := rawCount(t, s, "order_events"); n != 40 {
		t.Fatalf("raw rows %d", n)
	}
	if h := s.Head(); h.ID != 9 {
		t.Fatalf("head %d, want 9 (schema + 8 ingests)", h.ID)
	}
}
