package ingest_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/canonical/ingest"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/testdata"
)

// typesCatalog has a source of many column types and two entities fed by
// projection mappings: one copying every column as it is, one moving
// columns into other types (conversions that succeed, round, or fail),
// with literals, hidden columns and a rule.
const typesCatalog = `context: types
owner: t
sources:
  ev:
    columns: {id: text, i2: smallint, i4: integer, i8: bigint, num: numeric, num2: "numeric(8,2)", r4: real, f8: double precision,
              b: boolean, d: date, ts: timestamp, tz: timestamptz, j: json, jb: jsonb, by: bytea, tx: text, vc: "varchar(5)",
              ch: "char(3)", u: uuid}
    dedupe_key: [id]
entities:
  wide:
    key: [id]
    columns: {id: text, i2: smallint, i4: integer, i8: bigint, num: numeric, num2: "numeric(8,2)", r4: real, f8: double precision,
              b: boolean, d: date, ts: timestamp, tz: timestamptz, j: json, jb: jsonb, by: bytea, tx: text, vc: "varchar(5)",
              ch: "char(3)", u: uuid}
    mappings:
      - source: ev
        version: 1
        select: SELECT id, i2, i4, i8, num, num2, r4, f8, b, d, ts, tz, j, jb, by, tx, vc, ch, u FROM batch ORDER BY _seq
  cross:
    key: [k]
    columns: {k: text, a: bigint, b2: boolean, c: bigint, d2: "numeric(6,1)", e: smallint, f: double precision, g: json, h: "varchar(3)",
              s: bigint, lit: text, nul: text, i: integer, bt: boolean, dt: timestamptz}
    rules: [{name: small, check: "c < 1000"}]
    mappings:
      - source: ev
        version: 1
        select: SELECT x.id AS k, i4 AS a, b AS b2, i8 AS c, num AS d2, i8 AS e, r4 AS f, jb AS g, x.tx AS h, _seq AS s,
                       'x' AS lit, NULL AS nul, f8 AS i, b AS bt, d AS dt FROM batch AS x
`

var d0 = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

// typesRow is one ev row; variant picks values that convert, round or fail.
func typesRow(id string, variant int) []any {
	r := []any{id, int64(7), int32(-70000), int64(500), "12.345", "1234.567", 1.1, 2.0,
		true, d0, d0, d0, `{"b": 1, "a": [1, 2]}`, `{"b": 1, "a": [1.50, 2]}`, []byte{0, 1, 2}, "42", "abc", "EUR",
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}
	switch variant {
	case 1: // NULLs everywhere but the id
		for i := 1; i < len(r); i++ {
			r[i] = nil
		}
	case 2: // text that is no bigint; too long for varchar(3)
		r[15] = "abcd"
	case 3: // numeric(6,1) overflow; smallint overflow
		r[4], r[3] = "123456789.5", int64(40000)
	case 4: // a fraction into integer; false; another number
		r[7], r[8], r[15], r[1] = 2.5, false, "7", int64(-3)
	case 5: // a rule failure (c >= 1000)
		r[3] = int64(5000)
	case 6: // other values that convert
		r[4], r[6], r[7], r[15], r[13] = "-0.05", float64(3.25), -1.0, "-12", `[true, null, "s"]`
	}
	return r
}

// render prints a value with its type (decimals with their exponent).
func render(v any) string {
	switch x := v.(type) {
	case decimal.Decimal:
		return fmt.Sprintf("decimal:%se%d", x.Coefficient(), x.Exponent())
	case time.Time:
		return "time:" + x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// snapshot is everything an ingest run leaves behind that both mapping
// paths must agree on (batch ids and ingest times aside).
type snapshot struct {
	Reports    []string
	Rows       map[string][]string
	Quarantine []string
}

func runBoth(t *testing.T, cat *catalog.Catalog, steps func(p *ingest.Pipeline) []ingest.Report) {
	t.Helper()
	var snaps [2]snapshot
	for mode, compiled := range []bool{false, true} {
		ctx := context.Background()
		clock := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		s, err := canonical.Open(ctx, t.TempDir(), canonical.Options{Clock: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		p, err := ingest.New(s, cat, query, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		ingest.SetCompiled(p, compiled)
		if err := p.EnsureSchema(ctx); err != nil {
			t.Fatal(err)
		}
		var snap snapshot
		for _, rep := range steps(p) {
			snap.Reports = append(snap.Reports, fmt.Sprintf("%s ids=%v", rep.Notice(), rep.QuarantineIDs))
		}
		snap.Rows = map[string][]string{}
		for _, e := range cat.Entities() {
			it, err := s.Scan(ctx, e.Name, canonical.ScanOptions{AsOf: canonical.HEAD})
			if err != nil {
				t.Fatal(err)
			}
			for it.Next() {
				var parts []string
				for _, v := range it.Row() {
					parts = append(parts, render(v))
				}
				snap.Rows[e.Name] = append(snap.Rows[e.Name], strings.Join(parts, " | "))
			}
			if err := it.Err(); err != nil {
				t.Fatal(err)
			}
			it.Close()
		}
		qs, err := s.Quarantined(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			snap.Quarantine = append(snap.Quarantine, fmt.Sprintf("%d %s seq %d %s %s: %s %s", q.ID, q.Source, q.RawSeq, q.Entity, q.Rule, q.Reason, q.Payload))
		}
		snaps[mode] = snap
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(snaps[0], snaps[1]) {
		t.Errorf("engine and compiled mappings differ:\nreports %q\n     vs %q", snaps[0].Reports, snaps[1].Reports)
		for e, rows := range snaps[0].Rows {
			if !reflect.DeepEqual(rows, snaps[1].Rows[e]) {
				t.Errorf("%s rows:\nengine   %q\ncompiled %q", e, rows, snaps[1].Rows[e])
			}
		}
		if !reflect.DeepEqual(snaps[0].Quarantine, snaps[1].Quarantine) {
			t.Errorf("quarantine:\nengine   %q\ncompiled %q", snaps[0].Quarantine, snaps[1].Quarantine)
		}
	}
	if len(snaps[0].Reports) == 0 {
		t.Fatal("nothing ran")
	}
	t.Logf("%q", snaps[0].Reports)
}

// TestProjectionMatchesEngine: mappings evaluated without the engine
// produce the same canonical rows, quarantine records (rules, reasons,
// payloads) and counts as the engine, over many column types and
// conversions, updates of existing keys, duplicates and a replay.
func TestProjectionMatchesEngine(t *testing.T) {
	cat, err := catalog.LoadFiles(catalog.File{Name: "types.yaml", Data: []byte(typesCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	cols := []string{"id", "i2", "i4", "i8", "num", "num2", "r4", "f8", "b", "d", "ts", "tz", "j", "jb", "by", "tx", "vc", "ch", "u", "_seq", "_ingested_at", "_batch"}
	for _, m := range cat.MappingsFor("ev") {
		if !ingest.Compiled(m.Select, cols) {
			t.Fatalf("mapping to %s is not compiled: %s", m.Entity, m.Select)
		}
	}
	runBoth(t, cat, func(p *ingest.Pipeline) []ingest.Report {
		ctx := context.Background()
		var reps []ingest.Report
		do := func(rep ingest.Report, err error) {
			if err != nil {
				t.Fatal(err)
			}
			reps = append(reps, rep)
		}
		var rows [][]any
		for i := 0; i < 14; i++ {
			rows = append(rows, typesRow(fmt.Sprintf("k%d", i), i%7))
		}
		rows = append(rows, typesRow("k3", 0)) // a duplicate
		do(p.Ingest(ctx, "ev", rows, "t"))
		rows = nil
		for i := 0; i < 14; i++ { // new ids, some keys of cross rows collide with no one: all new
			rows = append(rows, typesRow(fmt.Sprintf("m%d", i), (i+3)%7))
		}
		rows = append(rows, typesRow("m0", 6), typesRow("k1", 0))
		do(p.Ingest(ctx, "ev", rows, "t"))
		do(p.Replay(ctx, "ev", 0, 0, "t"))
		return reps
	})
}

// TestProjectionMatchesEngineDemo is the same comparison over the demo
// catalog's sources whose mappings are projections.
func TestProjectionMatchesEngineDemo(t *testing.T) {
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	var sources []*catalog.Source
	for _, src := range cat.Sources() {
		cols := []string{}
		for _, c := range src.Columns {
			cols = append(cols, c.Name)
		}
		cols = append(cols, "_seq", "_ingested_at", "_batch")
		for _, m := range cat.MappingsFor(src.Name) {
			if ingest.Compiled(m.Select, cols) {
				sources = append(sources, src)
				break
			}
		}
	}
	if len(sources) < 3 {
		t.Fatalf("only %d demo sources have projection mappings", len(sources))
	}
	states := []string{"requested", "approve", "review", "authorized", "decline", "received", "bogus"}
	runBoth(t, cat, func(p *ingest.Pipeline) []ingest.Report {
		var reps []ingest.Report
		for _, src := range sources {
			for batch := 0; batch < 2; batch++ {
				var rows [][]any
				for i := 0; i < 40; i++ {
					n := batch*40 + i
					row := make([]any, len(src.Columns))
					for j, c := range src.Columns {
						switch {
						case c.Name == src.DedupeKey[0]:
							row[j] = fmt.Sprintf("ev%d", n%75) // a few duplicates
						case strings.HasSuffix(c.Name, "_id"):
							row[j] = fmt.Sprintf("%s%d", c.Name, n%13) // updates of earlier keys
						case c.Name == "status" || c.Name == "decision":
							row[j] = states[(n/3)%len(states)]
						case c.Type.Name == "text":
							row[j] = fmt.Sprintf("%s-%d", c.Name, n%5)
						case c.Type.Name == "char":
							row[j] = []string{"EUR", "usd", "GB"}[n%3]
						case c.Type.Name == "integer":
							row[j] = int64(n%4 - 1)
						case c.Type.Name == "bigint":
							row[j] = int64(n*100 - 500)
						case c.Type.Name == "numeric":
							row[j] = decimal.New(int64(n*1234-30000), -5)
						case c.Type.Name == "date", c.Type.Name == "timestamptz":
							row[j] = d0.Add(time.Duration(n-20) * 36 * time.Hour)
						}
						if n%11 == 0 && j == len(src.Columns)-1 {
							row[j] = nil
						}
					}
					rows = append(rows, row)
				}
				rep, err := p.Ingest(context.Background(), src.Name, rows, "t")
				if err != nil {
					t.Fatal(err)
				}
				reps = append(reps, rep)
			}
		}
		return reps
	})
}

// TestDedupeHashCollisions: with every dedupe key hashing alike, rows are
// still told apart by their keys (within a batch, against earlier
// batches, and after the index is rebuilt from raw), so the counts are
// those of the real hash.
func TestDedupeHashCollisions(t *testing.T) {
	cat, err := catalog.LoadFiles(catalog.File{Name: "bench.yaml", Data: []byte(benchKV)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var notices [2][]string
	for i, collide := range []bool{false, true} {
		dir := t.TempDir()
		open := func() (*canonical.Store, *ingest.Pipeline) {
			s, err := canonical.Open(ctx, dir, canonical.Options{})
			if err != nil {
				t.Fatal(err)
			}
			p, err := ingest.New(s, cat, query, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			if collide {
				ingest.SetDedupeHash(p, func([]byte) uint64 { return 42 })
			}
			if err := p.EnsureSchema(ctx); err != nil {
				t.Fatal(err)
			}
			return s, p
		}
		s, p := open()
		rows := func(ids ...int64) [][]any {
			var out [][]any
			for _, id := range ids {
				out = append(out, []any{id, fmt.Sprintf("v%d", id), id * 7})
			}
			return out
		}
		run := func(p *ingest.Pipeline, r [][]any) {
			rep, err := p.Ingest(ctx, "kv_src", r, "t")
			if err != nil {
				t.Fatal(err)
			}
			notices[i] = append(notices[i], rep.Notice())
		}
		run(p, rows(1, 2, 3, 2, 4, 1, 5))
		run(p, rows(5, 6, 1, 7, 6))
		run(p, append(rows(8), []any{int64(9), "nine", nil})) // a NULL in the key: never a duplicate
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, p = open() // the index is rebuilt from raw
		run(p, rows(3, 9, 10, 10))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(notices[0], notices[1]) {
		t.Fatalf("with colliding hashes:\n%q\nwithout:\n%q", notices[1], notices[0])
	}
	if !strings.Contains(notices[0][0], "2 duplicates") || !strings.Contains(notices[0][1], "3 duplicates") ||
		!strings.Contains(notices[0][3], "2 duplicates") {
		t.Fatalf("duplicates: %q", notices[0])
	}
}
