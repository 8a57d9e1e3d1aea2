package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/dualgate/dualgate/canonical/sqltables"
)

// TestAccessAggregatesOverMasks: GROUP BY and aggregates over canonical
// entities run in the store (canonical/sqltables/aggregate.go) for sessions
// without masks, and still over the masked values for sessions with masks
// (README: "aggregates run over the masked value"): the pushdown must not
// reach around the masking wrapper.
func TestAccessAggregatesOverMasks(t *testing.T) {
	sqltables.TrackPushedAggregates()
	addr := startPrimary(t, "")
	ingestor := accessConnect(t, addr, "oms_connector")
	mustAllow(t, ingestor, "oms_connector", `INSERT INTO raw.oms_orders VALUES ('e1','o-1',1,'SUBMITTED','c1','ann@example.com','+3311','web','eu','eur',
  'sku-1',2,500,1000,now() - interval '1 day',now() - interval '1 day'),
  ('e2','o-2',1,'SUBMITTED','c2','bob@example.com','+4477','web','eu','eur','sku-1',1,500,500,now() - interval '2 days',now() - interval '2 days')`)
	const (
		grouped = `SELECT customer_email, count(*) FROM canonical.commercial_orders GROUP BY customer_email ORDER BY 1`
		aggs    = `SELECT min(customer_email), max(customer_email), count(customer_phone), count(*) FROM canonical.commercial_orders`
	)
	steward := accessConnect(t, addr, "sam")
	if got := mustAllow(t, steward, "sam", grouped); len(got) != 2 || got[0][0] != "ann@example.com" || got[1][0] != "bob@example.com" || got[0][1] != "1" {
		t.Fatalf("steward, clear values: %v", got)
	}
	if got := mustAllow(t, steward, "sam", aggs); strings.Join(got[0], ",") != "ann@example.com,bob@example.com,2,2" {
		t.Fatalf("steward aggregates: %v", got)
	}
	if n := sqltables.PushedAggregates(steward.PID()); n != 2 {
		t.Fatalf("the steward's 2 aggregates: %d ran in the store", n)
	}

	analyst := accessConnect(t, addr, "alice")
	got := mustAllow(t, analyst, "alice", grouped)
	if len(got) != 2 || !hashRE.MatchString(got[0][0]) || !hashRE.MatchString(got[1][0]) {
		t.Fatalf("analyst groups by the hash: %v", got)
	}
	got = mustAllow(t, analyst, "alice", aggs)
	if len(got) != 1 || !hashRE.MatchString(got[0][0]) || !hashRE.MatchString(got[0][1]) || got[0][2] != "0" || got[0][3] != "2" {
		t.Fatalf("analyst aggregates over masked values (email hashed, phone NULL): %v", got)
	}
	support := accessConnect(t, addr, "sasha")
	if got := mustAllow(t, support, "sasha", aggs); len(got) != 1 || got[0][0] != "***" || got[0][1] != "***" {
		t.Fatalf("support aggregates over redacted values: %v", got)
	}
	if n := sqltables.PushedAggregates(analyst.PID()) + sqltables.PushedAggregates(support.PID()); n != 0 {
		t.Fatalf("%d aggregates over masked relations were pushed past the mask", n)
	}
	for _, c := range []struct {
		user string
		rows [][]string
	}{{"alice", mustAllow(t, analyst, "alice", grouped)}, {"sasha", mustAllow(t, support, "sasha", grouped)}} {
		for _, r := range c.rows {
			for _, v := range r {
				if strings.Contains(v, "@example.com") {
					t.Fatalf("%s: a masked value left the server through GROUP BY: %v", c.user, c.rows)
				}
			}
		}
	}
}

// TestAggregatePushdownOverTheWire runs GROUP BY queries through the
// gateway (Postgres translation, pg_mod, the engine's result types as the
// wire reports them) with the pushdown off and on, and requires the same
// column types and text values.
func TestAggregatePushdownOverTheWire(t *testing.T) {
	sqltables.TrackPushedAggregates()
	addr := startPrimary(t, "")
	ingestor := accessConnect(t, addr, "oms_connector")
	mustAllow(t, ingestor, "oms_connector", `INSERT INTO raw.oms_orders VALUES ('e1','o-1',1,'SUBMITTED','c1','ann@example.com','+3311','web','eu','eur',
  'sku-1',2,500,1000,now() - interval '1 day',now() - interval '1 day'),
  ('e2','o-2',1,'SUBMITTED','c2','bob@example.com','+4477','web','eu','eur','sku-1',1,500,500,now() - interval '2 days',now() - interval '2 days'),
  ('e3','o-3',1,'SUBMITTED','c2','bob@example.com','+4477','app','us','usd','sku-2',3,700,2101,now() - interval '3 days',now() - interval '3 days')`)
	steward := accessConnect(t, addr, "sam")
	for _, q := range []string{
		`SELECT total_cents % 2 AS g, count(*), sum(total_cents), avg(total_cents), min(placed_at), max(customer_id) FROM canonical.commercial_orders GROUP BY 1 ORDER BY 1`,
		`SELECT region, channel, count(*), sum(total_cents) FROM canonical.commercial_orders WHERE total_cents > 600 GROUP BY region, channel ORDER BY 1, 2`,
		`SELECT count(*), sum(total_cents), avg(total_cents) FROM canonical.commercial_orders WHERE total_cents > 1000000`,
		`SELECT count(DISTINCT customer_id), string_agg(order_id, ',' ORDER BY order_id) FROM canonical.commercial_orders`,
	} {
		run := func(on bool) string {
			was := sqltables.SetAggregatePushdown(on)
			defer sqltables.SetAggregatePushdown(was)
			before := sqltables.PushedAggregates(steward.PID())
			res, err := steward.Exec(context.Background(), q).ReadAll()
			if err != nil {
				t.Fatalf("%s (pushdown %v): %v", q, on, err)
			}
			if pushed := sqltables.PushedAggregates(steward.PID()) > before; pushed != on {
				t.Fatalf("%s: pushdown %v but pushed %v", q, on, pushed)
			}
			var b strings.Builder
			for _, r := range res {
				for _, f := range r.FieldDescriptions {
					fmt.Fprintf(&b, "%s:%d ", f.Name, f.DataTypeOID)
				}
				for _, row := range r.Rows {
					b.WriteString("\n")
					for _, v := range row {
						if v == nil {
							b.WriteString("NULL ")
							continue
						}
						fmt.Fprintf(&b, "%q ", v)
					}
				}
			}
			return b.String()
		}
		off, on := run(false), run(true)
		if off != on {
			t.Errorf("%s:\n pushdown on:  %s\n pushdown off: %s", q, on, off)
		}
		if !strings.Contains(off, "\n") {
			t.Errorf("%s: no rows", q)
		}
	}
}
