package primary

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
)

// copyCatalog has a source of every type COPY into raw takes directly,
// plus one (real) that keeps COPY on the engine path, and an entity fed
// by a projection mapping with a rule.
const copyCatalog = `context: copytypes
owner: t
sources:
  ev:
    columns: {id: bigint, i2: smallint, i4: integer, tx: text, vc: "varchar(5)", ch: "char(3)", b: boolean, f8: double precision,
              d: date, ts: timestamp, tz: timestamptz, num: "numeric(8,2)", r4: real}
    dedupe_key: [id]
entities:
  evs:
    key: [id]
    columns: {id: bigint, i2: smallint, i4: integer, tx: text, vc: "varchar(5)", ch: "char(3)", b: boolean, f8: double precision,
              d: date, ts: timestamp, tz: timestamptz, num: "numeric(8,2)"}
    rules: [{name: small, check: "i4 < 1000"}]
    mappings:
      - source: ev
        version: 1
        select: SELECT id, i2, i4, tx, vc, ch, b, f8, d, ts, tz, num FROM batch
`

const copyCols = "id, i2, i4, tx, vc, ch, b, f8, d, ts, tz, num"

// copyText is n text-format rows of copyCols: escapes, NULLs, CRLF line
// ends, values to round, zones to convert, a duplicate and a rule failure.
func copyText(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		id := i
		if i%97 == 0 {
			id = i - 1 // a duplicate of the row before
		}
		tx := fmt.Sprintf("line %d", i)
		switch i % 5 {
		case 1:
			tx = `tab\there\\back\nnl \x41\101`
		case 2:
			tx = `\N`
		case 3:
			tx = ""
		}
		i4 := fmt.Sprint(i % 1500) // >= 1000 fails the rule
		b.WriteString(fmt.Sprintf("%d\t%d\t%s\t%s\tv%d\tEU%d\t%s\t%g\t2026-0%d-1%d\t2026-03-04 05:06:07.%06d\t2026-03-04 05:06:07.5+0%d\t%d.%03d",
			id, i%300-150, i4, tx, i%1000, i%10, []string{"t", "false", "yes", `\N`}[i%4], float64(i)/8,
			i%9+1, i%10, i, i%9, i%100000, i%1000))
		if i%7 == 0 {
			b.WriteString("\r")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// copyState is what a COPY leaves: raw rows (without batch and ingest
// time), canonical rows and quarantine records.
type copyState struct {
	Raw, Rows, Quarantine []string
}

func renderValue(v any) string {
	switch x := v.(type) {
	case decimal.Decimal:
		return fmt.Sprintf("decimal:%se%d", x.Coefficient(), x.Exponent())
	case time.Time:
		return "time:" + x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%T:%v", v, v)
}

func stateOf(t *testing.T, s *canonical.Store) copyState {
	t.Helper()
	ctx := context.Background()
	var st copyState
	recs, err := s.ScanRaw(ctx, "ev", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		parts := []string{fmt.Sprint(r.Seq)}
		for _, v := range r.Row {
			parts = append(parts, renderValue(v))
		}
		st.Raw = append(st.Raw, strings.Join(parts, " | "))
	}
	it, err := s.Scan(ctx, "evs", canonical.ScanOptions{AsOf: canonical.HEAD})
	if err != nil {
		t.Fatal(err)
	}
	for it.Next() {
		var parts []string
		for _, v := range it.Row() {
			parts = append(parts, renderValue(v))
		}
		st.Rows = append(st.Rows, strings.Join(parts, " | "))
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	it.Close()
	qs, err := s.Quarantined(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		st.Quarantine = append(st.Quarantine, fmt.Sprintf("%d seq %d %s %s: %s %s", q.ID, q.RawSeq, q.Entity, q.Rule, q.Reason, q.Payload))
	}
	return st
}

// TestCopyRawMatchesInsert: COPY into raw.<source> taken directly
// (gateway.RawCopier) stores exactly what the engine's INSERT path
// stores (raw rows, canonical rows, quarantine, counts in the notice),
// for every type it takes, text and CSV, input split mid-line across
// CopyData messages, inside a transaction and with bad lines.
func TestCopyRawMatchesInsert(t *testing.T) {
	cat, err := catalog.LoadFiles(catalog.File{Name: "copy.yaml", Data: []byte(copyCatalog)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	text := copyText(12000) // > 1 MiB: many CopyData messages, lines split across them
	csv := "id,tx,b\n900001,\"a,\"\"quoted\"\"\nline\",t\n900002,,\n900003,\"\",f\n"
	var states [2]copyState
	var notices [2][]string
	for i, direct := range []bool{false, true} {
		side, addr, taken := countingCopyServer(t, cat, direct)
		var got []string
		cfg, err := pgconn.ParseConfig("postgres://steward@" + addr + "/dualgate?sslmode=disable")
		if err != nil {
			t.Fatal(err)
		}
		cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { got = append(got, n.Message) }
		c, err := pgconn.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		tag, err := c.CopyFrom(ctx, strings.NewReader(text), "COPY raw.ev ("+copyCols+") FROM STDIN")
		if err != nil || tag.RowsAffected() != 12000 {
			t.Fatalf("direct=%v: COPY text: %v %v", direct, tag, err)
		}
		if _, err := c.CopyFrom(ctx, strings.NewReader(csv), "COPY raw.ev (id, tx, b) FROM STDIN (FORMAT csv, HEADER true)"); err != nil {
			t.Fatalf("direct=%v: COPY csv: %v", direct, err)
		}
		if tag, err := c.CopyFrom(ctx, strings.NewReader("\\.\n"), "COPY raw.ev (id) FROM STDIN"); err != nil || tag.RowsAffected() != 0 {
			t.Fatalf("direct=%v: empty COPY: %v %v", direct, tag, err)
		}
		// In a transaction: buffered until COMMIT, dropped by ROLLBACK.
		for _, end := range []string{"ROLLBACK", "COMMIT"} {
			if _, err := c.Exec(ctx, "BEGIN").ReadAll(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CopyFrom(ctx, strings.NewReader("800001\t1\t2\t"+end+"\n\\.\n"), "COPY raw.ev (id, i2, i4, tx) FROM STDIN"); err != nil {
				t.Fatalf("direct=%v: COPY in %s: %v", direct, end, err)
			}
			if _, err := c.Exec(ctx, end).ReadAll(); err != nil {
				t.Fatal(err)
			}
		}
		// Bad lines: nothing of the COPY is stored, the line is named.
		for _, bad := range []string{"700001\t1\t2\tx\tv\tEU\tt\t1\t2026-01-01\t2026-01-01\t2026-01-01\t1\n700002\tnope\t2\tx\tv\tEU\tt\t1\t2026-01-01\t2026-01-01\t2026-01-01\t1\n",
			"700003\t1\t2\tx\ttoolong\tEU\tt\t1\t2026-01-01\t2026-01-01\t2026-01-01\t1\n",
			"700004\t1\t2\tx\tv\tEU\tt\t1\t2026-01-01\t2026-01-01\t2026-01-01\t123456789\n",
			"700005\t1\n"} {
			_, err := c.CopyFrom(ctx, strings.NewReader(bad), "COPY raw.ev ("+copyCols+") FROM STDIN")
			// (The engine path refuses a value too long for its column
			// only at commit, without the line; the direct path names it.)
			if err == nil || (direct && !strings.Contains(err.Error(), "line")) {
				t.Fatalf("direct=%v: bad COPY %q: %v", direct, bad, err)
			}
		}
		if direct {
			// A value the conversion after parsing refuses is reported
			// with its own line (the row's line is kept per row).
			in := "700011\t1\t2\tx\tv\tEU\tt\t1\t2026-01-01\t2026-01-01\t2026-01-01\t1\n" +
				"700012\t1\t2\tx\tv\tEU\tt\t1\t2026-01-01\t2026-01-01\t2026-01-01\t1\n" +
				"700013\t1\t2\tx\ttoolong\tEU\tt\t1\t2026-01-01\t2026-01-01\t2026-01-01\t1\n"
			if _, err := c.CopyFrom(ctx, strings.NewReader(in), "COPY raw.ev ("+copyCols+") FROM STDIN"); err == nil || !strings.Contains(err.Error(), "line 3:") {
				t.Fatalf("bad value on line 3: %v", err)
			}
		}
		// A column the direct path does not take: COPY through the engine.
		if _, err := c.CopyFrom(ctx, strings.NewReader("600001\t1.25\n"), "COPY raw.ev (id, r4) FROM STDIN"); err != nil {
			t.Fatalf("direct=%v: COPY real: %v", direct, err)
		}
		c.Close(ctx)
		// Direct: the good COPYs (text, csv, empty, two in transactions) and the
		// three bad ones found by conversion after parsing.
		if want := map[bool]int64{false: 0, true: 8}[direct]; taken.Load() != want {
			t.Errorf("direct=%v: %d COPYs taken directly, want %d", direct, taken.Load(), want)
		}
		states[i], notices[i] = stateOf(t, side.Store()), got
	}
	if len(states[0].Raw) != 12000+3+1+1 || len(states[0].Rows) == 0 || len(states[0].Quarantine) == 0 {
		t.Fatalf("engine path stored %d raw rows, %d canonical rows, %d quarantined", len(states[0].Raw), len(states[0].Rows), len(states[0].Quarantine))
	}
	for _, f := range []struct {
		name string
		a, b []string
	}{{"raw rows", states[0].Raw, states[1].Raw}, {"canonical rows", states[0].Rows, states[1].Rows},
		{"quarantine", states[0].Quarantine, states[1].Quarantine}, {"notices", notices[0], notices[1]}} {
		if !reflect.DeepEqual(f.a, f.b) {
			for j := 0; j < len(f.a) && j < len(f.b); j++ {
				if f.a[j] != f.b[j] {
					t.Errorf("%s differ first at %d:\nengine %s\ndirect %s", f.name, j, f.a[j], f.b[j])
					break
				}
			}
			t.Errorf("%s: engine %d, direct %d", f.name, len(f.a), len(f.b))
		}
	}
}

var _ gateway.TxHooks = engineHooks{}
