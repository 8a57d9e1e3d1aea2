package sqltables

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/testdata"
)

const testCatalog = `
context: test_orders
owner: test-team
sources:
  oms_orders:
    description: Order events.
    columns: {event_id: text, order_id: text, status: text, total: "numeric(12,2)", qty: integer, occurred_at: timestamptz}
    dedupe_key: [event_id]
entities:
  orders:
    description: A commercial commitment accepted by the retailer.
    key: [order_id]
    columns: {order_id: text, status: text, total: "numeric(12,2)", qty: integer, accepted_at: timestamptz, meta: jsonb, vip: boolean}
  lines:
    description: Order lines.
    key: [order_id, line_no]
    columns: {order_id: text, line_no: bigint, sku: text}
  empty_entity:
    key: [id]
    columns: {id: bigint, note: text}
`

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// recWrites records Writes calls (a test double of our own interface).
type recWrites struct {
	mu    sync.Mutex
	raw   []string
	corrs []string
	fail  bool
}

func (w *recWrites) Raw(_ *sql.Context, source string, row []any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.raw = append(w.raw, fmt.Sprintf("%s %v", source, renderRow(row)))
	return nil
}

func (w *recWrites) Correction(_ *sql.Context, entity string, op canonical.Op, row []any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail {
		return errors.New("batch refused")
	}
	name := map[canonical.Op]string{canonical.OpUpsert: "upsert", canonical.OpDelete: "delete"}[op]
	w.corrs = append(w.corrs, fmt.Sprintf("%s %s %v", entity, name, renderRow(row)))
	return nil
}

// renderRow formats decimals with their scale (decimal.String drops it).
func renderRow(row []any) []any {
	out := make([]any, len(row))
	for i, v := range row {
		if d, ok := v.(decimal.Decimal); ok && d.Exponent() < 0 {
			v = d.StringFixed(-d.Exponent())
		}
		out[i] = v
	}
	return out
}

type fixture struct {
	store  *canonical.Store
	eng    *sqle.Engine
	ctx    *sql.Context
	writes *recWrites
	hashes map[uint64]string
	times  map[uint64]time.Time
}

// at renders commit id's time as the rows helper does.
func (f *fixture) at(id uint64) string { return f.times[id].Format("15:04:05") }

func order(id, status, total string, qty int64, at time.Time) []any {
	return []any{id, status, decimal.RequireFromString(total), qty, at, `{"src":"oms"}`, false}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cat, err := catalog.LoadFiles(catalog.File{Name: "test.yaml", Data: []byte(testCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	clock := func() time.Time { n++; return t0.Add(time.Duration(n) * time.Minute) }
	ctx := context.Background()
	st, err := canonical.Open(ctx, t.TempDir(), canonical.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	orders := EntitySchema(cat.Entity("orders"))
	orders.Indexes = []canonical.Index{{Name: "by_status", Columns: []string{"status"}}}
	lines := EntitySchema(cat.Entity("lines"))
	commit := func(req canonical.CommitRequest) {
		t.Helper()
		if req.Kind == "" {
			req.Kind = canonical.KindIngest
		}
		if req.Committer == "" {
			req.Committer = "ingest"
		}
		if _, err := st.Commit(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	// 1: schema
	commit(canonical.CommitRequest{Kind: canonical.KindSchema, Committer: "admin", Message: "create",
		Schema: []canonical.SchemaChange{{CreateTable: &orders}, {CreateTable: &lines}}})
	// 2: three orders, two lines
	commit(canonical.CommitRequest{Source: "oms_orders", MappingVersion: 1, Changes: []canonical.Change{
		{Table: "orders", Op: canonical.OpUpsert, Row: order("o-1", "accepted", "10.00", 1, at)},
		{Table: "orders", Op: canonical.OpUpsert, Row: order("o-2", "accepted", "20.00", 2, at)},
		{Table: "orders", Op: canonical.OpUpsert, Row: order("o-3", "accepted", "30.00", 3, at)},
		{Table: "lines", Op: canonical.OpUpsert, Row: []any{"o-1", int64(1), "sku-a"}},
		{Table: "lines", Op: canonical.OpUpsert, Row: []any{"o-1", int64(2), "sku-b"}},
	}})
	// 3: o-2 paid, o-4 added
	commit(canonical.CommitRequest{Source: "oms_orders", MappingVersion: 1, Changes: []canonical.Change{
		{Table: "orders", Op: canonical.OpUpsert, Row: order("o-2", "paid", "20.00", 2, at)},
		{Table: "orders", Op: canonical.OpUpsert, Row: order("o-4", "accepted", "5.50", 4, at)},
	}})
	// 4: o-1 removed, o-3 cancelled (a correction)
	commit(canonical.CommitRequest{Kind: canonical.KindCorrection, Committer: "steward", Message: "fix", Changes: []canonical.Change{
		{Table: "orders", Op: canonical.OpDelete, Row: []any{"o-1"}},
		{Table: "orders", Op: canonical.OpUpsert, Row: order("o-3", "cancelled", "30.00", 3, at)},
	}})
	cs, err := st.Commits(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	hashes, times := map[uint64]string{}, map[uint64]time.Time{}
	for _, c := range cs {
		hashes[c.ID] = c.Hash.String()
		times[c.ID] = c.CommittedAt
	}
	w := &recWrites{}
	pro := memory.NewDBProvider(Databases(st, cat, w)...)
	eng := sqle.NewDefault(pro)
	sctx := sql.NewContext(ctx, sql.WithSession(memory.NewSession(sql.NewBaseSession(), pro)))
	return &fixture{store: st, eng: eng, ctx: sctx, writes: w, hashes: hashes, times: times}
}

func (f *fixture) query(t *testing.T, q string) ([]sql.Row, error) {
	t.Helper()
	_, it, _, err := f.eng.Query(f.ctx, q)
	if err != nil {
		return nil, err
	}
	var rows []sql.Row
	for {
		r, err := it.Next(f.ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			_ = it.Close(f.ctx)
			return nil, err
		}
		rows = append(rows, r)
	}
	return rows, it.Close(f.ctx)
}

// rows runs q and renders its rows as "a|b|c" strings.
func (f *fixture) rows(t *testing.T, q string) []string {
	t.Helper()
	rs, err := f.query(t, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var out []string
	for _, r := range rs {
		parts := make([]string, len(r))
		for i, v := range renderRow(r) {
			switch x := v.(type) {
			case time.Time:
				parts[i] = x.UTC().Format("15:04:05")
			case nil:
				parts[i] = "NULL"
			default:
				parts[i] = fmt.Sprint(x)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out
}

func (f *fixture) expect(t *testing.T, q string, want ...string) {
	t.Helper()
	got := f.rows(t, q)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got: %q\nwant: %q", q, got, want)
	}
}

func (f *fixture) plan(t *testing.T, q string) string {
	t.Helper()
	rs, err := f.query(t, "EXPLAIN PLAN "+q)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintln(&b, r...)
	}
	return b.String()
}

func TestCanonicalCurrentState(t *testing.T) {
	f := newFixture(t)
	f.expect(t, "SELECT order_id, status, total, qty, vip FROM canonical.orders ORDER BY order_id",
		"o-2|paid|20.00|2|0", "o-3|cancelled|30.00|3|0", "o-4|accepted|5.50|4|0")
	f.expect(t, "SELECT meta->>'$.src', accepted_at FROM canonical.orders WHERE order_id = 'o-4'", "oms|00:00:00")
	f.expect(t, "SELECT count(*) FROM canonical.lines", "2")
	f.expect(t, "SELECT count(*) FROM canonical.empty_entity", "0")
	// Declared types.
	sch, _, _, err := f.eng.Query(f.ctx, "SELECT * FROM canonical.orders")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, c := range sch {
		types = append(types, c.Name+" "+c.Type.String())
	}
	want := "order_id longtext|status longtext|total decimal(12,2)|qty int|accepted_at datetime(6)|meta json|vip tinyint(1)"
	if got := strings.Join(types, "|"); got != want {
		t.Errorf("schema:\n got %s\nwant %s", got, want)
	}
}

func TestCanonicalAsOf(t *testing.T) {
	f := newFixture(t)
	state2 := []string{"o-1|accepted", "o-2|accepted", "o-3|accepted"}
	state3 := []string{"o-1|accepted", "o-2|paid", "o-3|accepted", "o-4|accepted"}
	f.expect(t, "SELECT order_id, status FROM canonical.orders AS OF '2' ORDER BY order_id", state2...)
	f.expect(t, "SELECT order_id, status FROM canonical.orders AS OF 2 ORDER BY order_id", state2...)
	f.expect(t, "SELECT order_id, status FROM canonical.orders FOR SYSTEM_TIME AS OF '2' ORDER BY order_id", state2...)
	f.expect(t, "SELECT order_id, status FROM canonical.orders AS OF '"+f.hashes[2][:8]+"' ORDER BY order_id", state2...)
	f.expect(t, "SELECT order_id, status FROM canonical.orders AS OF 'HEAD~1' ORDER BY order_id", state3...)
	f.expect(t, "SELECT order_id, status FROM canonical.orders AS OF 'head' ORDER BY order_id", "o-2|paid", "o-3|cancelled", "o-4|accepted")
	// A time between commits 3 and 4 (string), and commit 2's exact time (TIMESTAMP).
	between := f.times[3].Add(f.times[4].Sub(f.times[3]) / 2).Format("2006-01-02 15:04:05.999999")
	f.expect(t, "SELECT order_id, status FROM canonical.orders AS OF '"+between+"' ORDER BY order_id", state3...)
	f.expect(t, "SELECT order_id, status FROM canonical.orders AS OF TIMESTAMP('"+f.times[2].Format("2006-01-02 15:04:05")+"') ORDER BY order_id", state2...)
	// Before the table existed: empty, same columns.
	f.expect(t, "SELECT count(*) FROM canonical.orders AS OF '1'", "0")
	// Index lookups AS OF.
	f.expect(t, "SELECT status FROM canonical.orders AS OF '2' WHERE order_id = 'o-2'", "accepted")
	f.expect(t, "SELECT order_id FROM canonical.orders AS OF '3' WHERE status = 'paid'", "o-2")
	// A join of two versions.
	f.expect(t, `SELECT n.order_id, o.status, n.status FROM canonical.orders AS OF '2' o
		JOIN canonical.orders n ON n.order_id = o.order_id WHERE o.status <> n.status ORDER BY 1`,
		"o-2|accepted|paid", "o-3|accepted|cancelled")

	for _, rev := range []string{"99", "HEAD~9", "ffffffff", "1999-01-01", "yesterday"} {
		_, err := f.query(t, "SELECT * FROM canonical.orders AS OF '"+rev+"'")
		if err == nil || !strings.Contains(err.Error(), "unknown revision") || !strings.Contains(err.Error(), rev) ||
			!strings.Contains(err.Error(), "HEAD~n") || !errors.Is(err, ErrUnknownRev) {
			t.Errorf("AS OF %s: err = %v", rev, err)
		}
	}
	if _, _, err := ResolveAsOf(f.ctx, f.store, "99"); !errors.Is(err, ErrUnknownRev) || !errors.Is(err, canonical.ErrNoSuchCommit) {
		t.Errorf("ResolveAsOf: %v", err)
	}
	if ci, _, err := ResolveAsOf(f.ctx, f.store, int64(3)); err != nil || ci.ID != 3 {
		t.Errorf("ResolveAsOf(int64 3) = %d, %v", ci.ID, err)
	}
}

func TestCanonicalIndexLookups(t *testing.T) {
	f := newFixture(t)
	if p := f.plan(t, "SELECT * FROM canonical.orders WHERE order_id = 'o-2'"); !strings.Contains(p, "IndexedTableAccess") {
		t.Errorf("point lookup is not indexed:\n%s", p)
	}
	gets, scans := storeCalls.get.Load(), storeCalls.scan.Load()
	f.expect(t, "SELECT order_id, status FROM canonical.orders WHERE order_id = 'o-2'", "o-2|paid")
	if storeCalls.get.Load() != gets+1 || storeCalls.scan.Load() != scans {
		t.Errorf("point lookup: %d gets, %d scans; want 1 get, 0 scans", storeCalls.get.Load()-gets, storeCalls.scan.Load()-scans)
	}
	f.expect(t, "SELECT order_id FROM canonical.orders WHERE order_id = 'o-9'")
	gets = storeCalls.get.Load()
	f.expect(t, "SELECT order_id FROM canonical.orders WHERE order_id IN ('o-4', 'o-2', 'o-1') ORDER BY order_id", "o-2", "o-4")
	if n := storeCalls.get.Load() - gets; n != 3 {
		t.Errorf("IN list: %d gets, want 3", n)
	}
	scans = storeCalls.scan.Load()
	f.expect(t, "SELECT order_id FROM canonical.orders WHERE order_id BETWEEN 'o-2' AND 'o-3' ORDER BY order_id", "o-2", "o-3")
	f.expect(t, "SELECT order_id FROM canonical.orders WHERE order_id > 'o-2' ORDER BY order_id", "o-3", "o-4")
	f.expect(t, "SELECT order_id FROM canonical.orders WHERE order_id < 'o-3' ORDER BY order_id", "o-2")
	f.expect(t, "SELECT order_id FROM canonical.orders WHERE order_id >= 'o-3' AND order_id < 'o-4'", "o-3")
	if n := storeCalls.scan.Load() - scans; n != 4 {
		t.Errorf("ranges: %d scans, want 4", n)
	}
	if p := f.plan(t, "SELECT * FROM canonical.orders WHERE order_id > 'o-2'"); !strings.Contains(p, "IndexedTableAccess") {
		t.Errorf("range is not indexed:\n%s", p)
	}
	// Secondary index.
	si := storeCalls.scanIndex.Load()
	f.expect(t, "SELECT order_id FROM canonical.orders WHERE status = 'accepted'", "o-4")
	if storeCalls.scanIndex.Load() != si+1 {
		t.Errorf("secondary index not used")
	}
	// Composite key: prefix and full key.
	f.expect(t, "SELECT sku FROM canonical.lines WHERE order_id = 'o-1' AND line_no = 2", "sku-b")
	f.expect(t, "SELECT sku FROM canonical.lines WHERE order_id = 'o-1' ORDER BY line_no", "sku-a", "sku-b")
	f.expect(t, "SELECT sku FROM canonical.lines WHERE order_id = 'o-1' AND line_no > 1", "sku-b")
	f.expect(t, "SELECT sku FROM canonical.lines WHERE line_no = 1", "sku-a")
	// Residual non-index filters still apply.
	f.expect(t, "SELECT order_id FROM canonical.orders WHERE order_id > 'o-1' AND qty > 2 ORDER BY 1", "o-3", "o-4")
	// Descending order through the index.
	f.expect(t, "SELECT order_id FROM canonical.orders WHERE order_id >= 'o-2' ORDER BY order_id DESC", "o-4", "o-3", "o-2")
}

func TestHistory(t *testing.T) {
	f := newFixture(t)
	q := "SELECT order_id, status, commit_id, committer, source FROM history.orders WHERE order_id = 'o-2' ORDER BY commit_id"
	f.expect(t, q, "o-2|accepted|2|ingest|oms_orders", "o-2|paid|3|ingest|oms_orders")
	if p := f.plan(t, q); !strings.Contains(p, "IndexedTableAccess") {
		t.Errorf("history key filter is not indexed:\n%s", p)
	}
	f.expect(t, "SELECT order_id, status FROM history.orders WHERE commit_id = 4", "o-3|cancelled")
	f.expect(t, "SELECT order_id, commit_id FROM history.orders WHERE commit_id >= 3 ORDER BY 2, 1", "o-2|3", "o-4|3", "o-3|4")
	f.expect(t, "SELECT count(*) FROM history.orders", "6")
	f.expect(t, "SELECT commit_hash = '"+f.hashes[3]+"', committed_at FROM history.orders WHERE order_id = 'o-4'", "true|"+f.at(3))
	f.expect(t, "SELECT count(*) FROM history.lines WHERE order_id = 'o-1' AND line_no = 1", "1")
	f.expect(t, "SELECT count(*) FROM history.empty_entity", "0")
}

func TestDiff(t *testing.T) {
	f := newFixture(t)
	f.expect(t, `SELECT to_order_id, from_order_id, to_status, from_status, to_commit, from_commit, diff_type
		FROM diff.orders WHERE to_commit = 4 ORDER BY coalesce(to_order_id, from_order_id)`,
		"NULL|o-1|NULL|accepted|4|3|removed", "o-3|o-3|cancelled|accepted|4|3|modified")
	f.expect(t, "SELECT to_commit, diff_type, to_committed_at, from_committed_at FROM diff.orders WHERE to_order_id = 'o-2' ORDER BY to_commit",
		"2|added|"+f.at(2)+"|"+f.at(1), "3|modified|"+f.at(3)+"|"+f.at(2))
	f.expect(t, "SELECT to_commit, diff_type FROM diff.orders WHERE from_order_id = 'o-1'", "4|removed")
	f.expect(t, "SELECT count(*) FROM diff.orders", "7")
	f.expect(t, "SELECT diff_type, count(*) FROM diff.orders WHERE to_commit BETWEEN 2 AND 3 GROUP BY 1 ORDER BY 1", "added|4", "modified|1")
	f.expect(t, "SELECT count(*) FROM diff.orders WHERE from_commit = 3", "2")
	f.expect(t, "SELECT count(*) FROM diff.orders WHERE to_commit > 4", "0")
	if p := f.plan(t, "SELECT * FROM diff.orders WHERE to_commit = 4"); !strings.Contains(p, "IndexedTableAccess") {
		t.Errorf("diff commit filter is not indexed:\n%s", p)
	}
	if p := f.plan(t, "SELECT * FROM diff.orders WHERE to_order_id = 'o-2'"); !strings.Contains(p, "IndexedTableAccess") {
		t.Errorf("diff key filter is not indexed:\n%s", p)
	}
}

func TestRaw(t *testing.T) {
	f := newFixture(t)
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	_, _, err := f.store.AppendRaw(f.ctx, "oms_orders", [][]any{
		{"e-1", "o-1", "ACCEPTED", decimal.RequireFromString("10.00"), int64(1), at},
		{"e-2", "o-2", "ACCEPTED", decimal.RequireFromString("20.00"), int64(2), at},
		{"e-3", "o-2", "PAID", decimal.RequireFromString("20.00"), int64(2), at},
	}, "batch-1")
	if err != nil {
		t.Fatal(err)
	}
	f.expect(t, "SELECT event_id, status, total, qty, _seq, _batch FROM raw.oms_orders",
		"e-1|ACCEPTED|10.00|1|1|batch-1", "e-2|ACCEPTED|20.00|2|2|batch-1", "e-3|PAID|20.00|2|3|batch-1")
	f.expect(t, "SELECT event_id FROM raw.oms_orders WHERE _seq >= 2", "e-2", "e-3")
	f.expect(t, "SELECT event_id FROM raw.oms_orders WHERE _seq = 1", "e-1")

	if _, err := f.query(t, "INSERT INTO raw.oms_orders (event_id, order_id, status, total, qty, occurred_at) VALUES ('e-4', 'o-4', 'NEW', 1.5, 7, '2026-02-02 00:00:00'), ('e-5', 'o-5', 'NEW', NULL, NULL, NULL)"); err != nil {
		t.Fatal(err)
	}
	want := []string{"oms_orders [e-4 o-4 NEW 1.50 7 2026-02-02 00:00:00 +0000 UTC]", "oms_orders [e-5 o-5 NEW <nil> <nil> <nil>]"}
	if strings.Join(f.writes.raw, "\n") != strings.Join(want, "\n") {
		t.Errorf("raw writes:\n got %q\nwant %q", f.writes.raw, want)
	}
	if _, err := f.query(t, "INSERT INTO raw.oms_orders (event_id, _seq) VALUES ('e-6', 9)"); err == nil || !strings.Contains(err.Error(), "_seq is assigned") {
		t.Errorf("insert _seq: %v", err)
	}
	for _, q := range []string{"UPDATE raw.oms_orders SET status = 'X'", "DELETE FROM raw.oms_orders WHERE _seq = 1",
		"DELETE FROM raw.oms_orders WHERE _seq = 99", "UPDATE raw.oms_orders SET status = 'X' WHERE event_id = 'none'"} {
		if _, err := f.query(t, q); !errors.Is(err, ErrAppendOnly) || !strings.Contains(err.Error(), "raw.oms_orders is append-only: captured facts are never changed; correct the canonical entity instead") {
			t.Errorf("%s: %v", q, err)
		}
	}
	if len(f.writes.raw) != 2 {
		t.Errorf("raw writes after refused statements: %q", f.writes.raw)
	}
}

func TestDualgateTables(t *testing.T) {
	f := newFixture(t)
	f.expect(t, "SELECT commit_id, kind, committer, source, mapping_version, message, rows_added, rows_modified, rows_removed, parent_hash IS NULL FROM dualgate.commits",
		"1|schema|admin||0|create|0|0|0|true",
		"2|ingest|ingest|oms_orders|1||5|0|0|false",
		"3|ingest|ingest|oms_orders|1||1|1|0|false",
		"4|correction|steward||0|fix|0|1|1|false")
	f.expect(t, "SELECT commit_hash = '"+f.hashes[3]+"', parent_hash = '"+f.hashes[2]+"', committed_at FROM dualgate.commits WHERE commit_id = 3", "true|true|"+f.at(3))
	f.expect(t, "SELECT commit_id FROM dualgate.commits WHERE commit_id > 2", "3", "4")

	txn, err := f.store.Begin(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := txn.Quarantine(canonical.QuarantineRecord{Source: "oms_orders", RawSeq: 7, Entity: "orders", Rule: "non_negative_total", Reason: "total < 0", Payload: `{"total": -1}`}); err != nil {
		t.Fatal(err)
	}
	if _, err := txn.Commit(f.ctx, canonical.CommitRequest{Kind: canonical.KindIngest}); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "SELECT id, source, raw_seq, entity, rule, reason, payload->>'$.total' FROM dualgate.quarantine",
		"1|oms_orders|7|orders|non_negative_total|total < 0|-1")
}

func TestComments(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ db, table, prefix string }{
		{"canonical", "orders", "AUTHORITATIVE: A commercial commitment"},
		{"history", "orders", "AUTHORITATIVE: "},
		{"diff", "orders", "AUTHORITATIVE: "},
		{"raw", "oms_orders", "DERIVED (non-authoritative): "},
		{"dualgate", "commits", "DERIVED (non-authoritative): "},
		{"dualgate", "quarantine", "DERIVED (non-authoritative): "},
	} {
		db, err := f.eng.Analyzer.Catalog.Database(f.ctx, c.db)
		if err != nil {
			t.Fatal(err)
		}
		tbl, ok, err := db.GetTableInsensitive(f.ctx, c.table)
		if err != nil || !ok {
			t.Fatalf("%s.%s: %v %v", c.db, c.table, ok, err)
		}
		ct, ok := tbl.(sql.CommentedTable)
		if !ok || !strings.HasPrefix(ct.Comment(), c.prefix) {
			t.Errorf("%s.%s comment %q", c.db, c.table, ct.Comment())
		}
	}
}

func TestCorrections(t *testing.T) {
	f := newFixture(t)
	exec := func(q string) error {
		_, err := f.query(t, q)
		return err
	}
	if err := exec(`INSERT INTO canonical.orders (order_id, status, total, qty, meta, vip) VALUES ('o-9', 'accepted', 9.99, 9, '{"a": 1}', true)`); err != nil {
		t.Fatal(err)
	}
	if err := exec("UPDATE canonical.orders SET status = 'shipped' WHERE order_id = 'o-2'"); err != nil {
		t.Fatal(err)
	}
	if err := exec("UPDATE canonical.orders SET order_id = 'o-40' WHERE order_id = 'o-4'"); err != nil {
		t.Fatal(err)
	}
	if err := exec("DELETE FROM canonical.orders WHERE order_id = 'o-3'"); err != nil {
		t.Fatal(err)
	}
	at := "2026-02-01 00:00:00 +0000 UTC"
	want := []string{
		`orders upsert [o-9 accepted 9.99 9 <nil> {"a":1} true]`,
		"orders upsert [o-2 shipped 20.00 2 " + at + ` {"src":"oms"} false]`,
		"orders delete [o-4 accepted 5.50 4 " + at + ` {"src":"oms"} false]`,
		"orders upsert [o-40 accepted 5.50 4 " + at + ` {"src":"oms"} false]`,
		"orders delete [o-3 cancelled 30.00 3 " + at + ` {"src":"oms"} false]`,
	}
	if got := strings.Join(f.writes.corrs, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("corrections:\n got %s\nwant %s", got, strings.Join(want, "\n"))
	}
	// Inserting an existing key is a primary key violation; ON DUPLICATE KEY
	// UPDATE turns it into an update.
	f.writes.corrs = nil
	if err := exec("INSERT INTO canonical.orders (order_id, status) VALUES ('o-2', 'x')"); !sql.ErrPrimaryKeyViolation.Is(insertCause(err)) && !sql.ErrPrimaryKeyViolation.Is(err) {
		t.Errorf("duplicate insert: %v", err)
	}
	if err := exec("INSERT INTO canonical.orders (order_id, status) VALUES ('o-11', 'x'), ('o-11', 'y')"); err == nil {
		t.Errorf("duplicate key within a statement succeeded")
	}
	if err := exec("INSERT INTO canonical.orders (order_id, status, qty) VALUES ('o-2', 'x', 1) ON DUPLICATE KEY UPDATE qty = 42"); err != nil {
		t.Errorf("upsert: %v", err)
	}
	if got := strings.Join(f.writes.corrs, "\n"); got != "orders upsert [o-2 paid 20.00 42 "+at+` {"src":"oms"} false]` {
		t.Errorf("upsert corrections: %s", got)
	}
	// A failing statement hands over nothing: the second row violates NOT NULL.
	f.writes.corrs = nil
	if err := exec("INSERT INTO canonical.orders (order_id, status) VALUES ('o-10', 'accepted'), (NULL, 'accepted')"); err == nil {
		t.Error("insert of a NULL key succeeded")
	}
	if len(f.writes.corrs) != 0 {
		t.Errorf("failed statement reached Writes: %q", f.writes.corrs)
	}
	// Writes refusing the batch fails the statement.
	f.writes.fail = true
	if err := exec("DELETE FROM canonical.orders WHERE order_id = 'o-2'"); err == nil || !strings.Contains(err.Error(), "batch refused") {
		t.Errorf("refused batch: %v", err)
	}
	f.writes.fail = false
	// History cannot be corrected.
	if err := exec("UPDATE canonical.orders AS OF '2' SET status = 'x'"); err == nil {
		t.Error("update AS OF succeeded")
	}
	if err := exec("DELETE FROM history.orders"); err == nil {
		t.Error("delete from history succeeded")
	}
	if len(f.writes.corrs) != 0 {
		t.Errorf("refused statements reached Writes: %q", f.writes.corrs)
	}
}

// TestDemoCatalog creates the store tables of every demo entity and reads
// every table of every schema (all catalog types map to engine types).
func TestDemoCatalog(t *testing.T) {
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := canonical.Open(ctx, t.TempDir(), canonical.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var changes []canonical.SchemaChange
	for _, en := range cat.Entities() {
		ts := EntitySchema(en)
		changes = append(changes, canonical.SchemaChange{CreateTable: &ts})
	}
	if _, err := st.Commit(ctx, canonical.CommitRequest{Kind: canonical.KindSchema, Committer: "admin", Schema: changes}); err != nil {
		t.Fatal(err)
	}
	pro := memory.NewDBProvider(Databases(st, cat, nil)...)
	eng := sqle.NewDefault(pro)
	sctx := sql.NewContext(ctx, sql.WithSession(memory.NewSession(sql.NewBaseSession(), pro)))
	f := &fixture{store: st, eng: eng, ctx: sctx}
	n := 0
	for _, en := range cat.Entities() {
		for _, q := range []string{"canonical.%s", "canonical.%s AS OF 'HEAD'", "history.%s", "diff.%s"} {
			f.expect(t, "SELECT count(*) FROM (SELECT * FROM "+fmt.Sprintf(q, en.Name)+") x", "0")
			n++
		}
		f.expect(t, "SELECT count(*) FROM canonical."+en.Name+" WHERE "+en.Key[0]+" IS NOT NULL", "0")
	}
	for _, src := range cat.Sources() {
		f.expect(t, "SELECT count(*) FROM raw."+src.Name, "0")
		n++
	}
	if n < 10 {
		t.Errorf("only %d tables read", n)
	}
	// Without Writes, raw refuses inserts.
	src := cat.Sources()[0]
	if _, err := f.query(t, "INSERT INTO raw."+src.Name+" ("+src.Columns[0].Name+") VALUES (NULL)"); !errors.Is(insertCause(err), ErrReadOnly) {
		t.Errorf("insert without Writes: %v", err)
	}
}

func TestPlansUseIndexes(t *testing.T) {
	f := newFixture(t)
	for _, q := range []string{
		"SELECT * FROM canonical.orders WHERE order_id IN ('o-1', 'o-2')",
		"SELECT * FROM canonical.orders WHERE order_id BETWEEN 'o-1' AND 'o-2'",
		"SELECT * FROM canonical.orders AS OF 'HEAD~1' WHERE order_id = 'o-1'",
		"SELECT * FROM canonical.orders WHERE status = 'paid'",
		"SELECT * FROM canonical.lines WHERE order_id = 'o-1'",
		"SELECT * FROM history.orders WHERE commit_id = 3",
		"SELECT * FROM history.lines WHERE order_id = 'o-1' AND line_no = 2",
		"SELECT * FROM diff.orders WHERE from_commit = 3",
		"SELECT * FROM diff.orders WHERE from_order_id = 'o-1'",
		"SELECT * FROM raw.oms_orders WHERE _seq > 10",
		"SELECT * FROM dualgate.commits WHERE commit_id = 2",
	} {
		if p := f.plan(t, q); !strings.Contains(p, "IndexedTableAccess") {
			t.Errorf("%s is not indexed:\n%s", q, p)
		}
	}
	// Projections reach the table.
	if p := f.plan(t, "SELECT status FROM canonical.orders WHERE qty > 1"); !strings.Contains(p, "columns: [status qty]") {
		t.Errorf("projection not pushed:\n%s", p)
	}
	f.expect(t, "SELECT status, count(*), sum(total) FROM canonical.orders GROUP BY status ORDER BY status",
		"accepted|1|5.50", "cancelled|1|30.00", "paid|1|20.00")
	f.expect(t, "SELECT qty FROM canonical.orders WHERE status = 'paid'", "2")
	// Precise indexes: the pushed filter is not evaluated again.
	if p := f.plan(t, "SELECT * FROM canonical.orders WHERE order_id = 'o-2'"); strings.Contains(p, "Filter") {
		t.Errorf("point lookup keeps a filter:\n%s", p)
	}
}

// insertCause unwraps the engine's sql.WrappedInsertError (it has no Unwrap
// method; the gateway must do the same to map our errors).
func insertCause(err error) error {
	var w sql.WrappedInsertError
	if errors.As(err, &w) {
		return w.Cause
	}
	return err
}

func TestSessionAsOfAndPostgresTypes(t *testing.T) {
	f := newFixture(t)
	db, err := f.eng.Analyzer.Catalog.Database(f.ctx, "canonical")
	if err != nil {
		t.Fatal(err)
	}
	rev := "HEAD~2"
	db.(*CanonicalDatabase).SetSessionAsOf(func(*sql.Context) string { return rev })
	f.expect(t, "SELECT order_id FROM canonical.orders ORDER BY 1", "o-1", "o-2", "o-3")
	f.expect(t, "SELECT order_id FROM canonical.orders AS OF 'HEAD' ORDER BY 1", "o-2", "o-3", "o-4")
	if _, err := f.query(t, "DELETE FROM canonical.orders WHERE order_id = 'o-1'"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("delete with session as_of: %v", err)
	}
	rev = ""
	f.expect(t, "SELECT order_id FROM canonical.orders ORDER BY 1", "o-2", "o-3", "o-4")

	want := map[string]string{
		"canonical.orders":    "text text numeric(12,2) integer timestamptz jsonb boolean",
		"history.lines":       "text bigint text bigint text timestamptz text text",
		"diff.lines":          "text bigint text text bigint text bigint bigint timestamptz timestamptz text",
		"raw.oms_orders":      "text text text numeric(12,2) integer timestamptz bigint timestamptz text",
		"dualgate.quarantine": "bigint text bigint text text text jsonb timestamptz",
	}
	for name, w := range want {
		parts := strings.SplitN(name, ".", 2)
		d, err := f.eng.Analyzer.Catalog.Database(f.ctx, parts[0])
		if err != nil {
			t.Fatal(err)
		}
		tbl, _, err := d.GetTableInsensitive(f.ctx, parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ty := range tbl.(PostgresTyped).PostgresTypes() {
			got = append(got, ty.String())
		}
		if strings.Join(got, " ") != w {
			t.Errorf("%s: %s, want %s", name, strings.Join(got, " "), w)
		}
	}
}
