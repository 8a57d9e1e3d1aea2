package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/projections/redistest"
	"github.com/dualgate/dualgate/testdata"
)

// startStoppable is serveForTest with a stop function, so a test can take
// the server down while others keep running.
func startStoppable(t *testing.T, o *serveOptions, cat *catalog.Catalog) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	go func() {
		done <- runServe(ctx, o, cat, log, func(a net.Addr) { addrc <- a.String() })
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve (%s): %v", o.role, err)
			}
		})
	}
	select {
	case a := <-addrc:
		t.Cleanup(stop)
		return a, stop
	case err := <-done:
		cancel()
		t.Fatalf("serve (%s): %v", o.role, err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("serve (%s) did not start", o.role)
	}
	return "", nil
}

// sidecarConn connects to addr with an application_name the primary's
// dualgate.sessions can be searched for, keeping every NOTICE.
func sidecarConn(t *testing.T, addr, app string) (*pgconn.PgConn, *[]string) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn(addr, "loader") + "&application_name=" + app)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	notices := &[]string{}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		*notices = append(*notices, n.Message)
		mu.Unlock()
	}
	conn, err := pgconn.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, notices
}

func label(c *pgconn.PgConn) string {
	return c.ParameterStatus("dualgate.authority") + "@" + c.ParameterStatus("dualgate.as_of")
}

// fieldTypes are a RowDescription's names, types and formats (table OIDs
// are the server's own numbering).
func fieldTypes(fds []pgconn.FieldDescription) []string {
	out := make([]string, len(fds))
	for i, f := range fds {
		out[i] = fmt.Sprintf("%s:%d:%d:%d", f.Name, f.DataTypeOID, f.TypeModifier, f.Format)
	}
	return out
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// TestSidecar runs a primary with a real redis-server and a sidecar next
// to it, and checks over pgx (and psql) what the sidecar answers itself,
// what it forwards, and how it fails when the primary is gone.
func TestSidecar(t *testing.T) {
	ctx := context.Background()
	redisURL, stopRedis := redistest.Start(t)
	outer := t
	cat, err := catalog.LoadFS(testdata.Catalog, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	primaryAddr, stopPrimary := startStoppable(t, &serveOptions{listen: "127.0.0.1:0", data: t.TempDir(), trust: true, redis: redisURL,
		shutdownGrace: 2 * time.Second, maxMessage: 1 << 20}, cat)
	prim, _ := sidecarConn(t, primaryAddr, "test-direct")
	for i := 1; i <= 8; i++ {
		q := fmt.Sprintf(`INSERT INTO raw.oms_orders VALUES ('e%d','o-%d',1,'SUBMITTED','c%d','x%d@example.com','+1','web','eu','eur','sku-%d',%d,100,%d,'2024-05-01 10:00:00+00','2024-05-01 10:00:00+00')`,
			i, i, i, i, i, i%4+1, 100*i)
		if _, err := prim.Exec(ctx, q).ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	head := waitServing(t, prim)

	start := time.Now()
	adminAddr := make(chan net.Addr, 1)
	sidecarAddr, stopSidecar := startStoppable(t, &serveOptions{role: "sidecar", listen: "127.0.0.1:0", trust: true, redis: redisURL,
		primary: "postgres://" + primaryAddr + "/dualgate?sslmode=disable", shutdownGrace: 2 * time.Second, maxMessage: 1 << 20,
		admin: "127.0.0.1:0", onAdmin: func(a net.Addr) { adminAddr <- a }}, nil)
	admin := (<-adminAddr).String()
	sc, notices := sidecarConn(t, sidecarAddr, "test-sidecar")
	point := `SELECT order_id, status, total_cents, placed_at FROM serving.order_timeline WHERE order_id = 'o-3'`
	if _, err := sc.Exec(ctx, point).ReadAll(); err != nil {
		t.Fatal(err)
	}
	t.Logf("sidecar: first serving answer %v after start (DESIGN bar: ready in <= 1 s)", time.Since(start))

	backends := func() int {
		t.Helper()
		res, err := prim.Exec(ctx, `SELECT count(*) FROM dualgate.sessions WHERE application_name = 'test-sidecar'`).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return int(res[0].Rows[0][0][0] - '0')
	}

	t.Run("serving answered locally", func(t *testing.T) {
		res, err := sc.Exec(ctx, point).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want, err := prim.Exec(ctx, point).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res[0].Rows, want[0].Rows) || len(res[0].Rows) != 1 {
			t.Fatalf("sidecar rows %q, primary rows %q", res[0].Rows, want[0].Rows)
		}
		if !reflect.DeepEqual(fieldTypes(res[0].FieldDescriptions), fieldTypes(want[0].FieldDescriptions)) {
			t.Fatalf("row descriptions differ:\nsidecar %v\nprimary %v", fieldTypes(res[0].FieldDescriptions), fieldTypes(want[0].FieldDescriptions))
		}
		if got, want := label(sc), fmt.Sprintf("derived@%d", head); got != want {
			t.Fatalf("label %s, want %s", got, want)
		}
		if n := len(*notices); n == 0 || !strings.HasPrefix((*notices)[n-1], "derived: serving.order_timeline at commit") {
			t.Fatalf("notices %q, want a derived label", *notices)
		}
		// Extended protocol, parameters both ways, text and binary results.
		for _, format := range []int16{0, 1} {
			q := `SELECT order_id, total_cents FROM serving.order_timeline WHERE order_id = $1`
			a := sc.ExecParams(ctx, q, [][]byte{[]byte("o-5")}, nil, nil, []int16{format}).Read()
			b := prim.ExecParams(ctx, q, [][]byte{[]byte("o-5")}, nil, nil, []int16{format}).Read()
			if a.Err != nil || b.Err != nil || !reflect.DeepEqual(a.Rows, b.Rows) || len(a.Rows) != 1 {
				t.Fatalf("format %d: sidecar %q %v, primary %q %v", format, a.Rows, a.Err, b.Rows, b.Err)
			}
		}
		sd, err := sc.Prepare(ctx, "lookup", `SELECT status FROM serving.order_timeline WHERE order_id = $1`, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := sc.ExecPrepared(ctx, sd.Name, [][]byte{[]byte("o-7")}, nil, nil).Read()
		if r.Err != nil || len(r.Rows) != 1 || string(r.Rows[0][0]) != "submitted" {
			t.Fatalf("prepared lookup: %q %v", r.Rows, r.Err)
		}
		res, err = sc.Exec(ctx, `SELECT name, watermark_commit, state FROM dualgate.projections WHERE name = 'order_timeline'`).ReadAll()
		if err != nil || len(res[0].Rows) != 1 || string(res[0].Rows[0][1]) != fmt.Sprint(head) || string(res[0].Rows[0][2]) != "ok" {
			t.Fatalf("dualgate.projections on the sidecar: %v %v", res, err)
		}
		if n := backends(); n != 0 {
			t.Fatalf("the sidecar opened %d backend connections for local reads", n)
		}
		// The point lookups took the fast path (the sidecar's /metrics),
		// and /readyz sees the projections fresh in Redis.
		resp, err := http.Get("http://" + admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`(?m)^dualgate_fastpath_hits_total (\d+)`).FindSubmatch(body)
		if m == nil || string(m[1]) == "0" {
			t.Fatalf("sidecar fast path hits: %q", m)
		}
		resp, err = http.Get("http://" + admin + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("sidecar /readyz: %d\n%s", resp.StatusCode, body)
		}
	})

	t.Run("point lookups from the near cache", func(t *testing.T) {
		// Repeated lookups are answered in the sidecar's process (Redis
		// near cache, counted on its /metrics), with the same rows and label.
		want, err := prim.Exec(ctx, point).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		hits := regexp.MustCompile(`(?m)^dualgate_redis_near_cache_hits_total (\d+)`)
		deadline := time.Now().Add(15 * time.Second)
		for {
			res, err := sc.Exec(ctx, point).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res[0].Rows, want[0].Rows) || label(sc) != fmt.Sprintf("derived@%d", head) {
				t.Fatalf("sidecar rows %q labeled %s, primary rows %q at %d", res[0].Rows, label(sc), want[0].Rows, head)
			}
			resp, err := http.Get("http://" + admin + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if m := hits.FindSubmatch(body); m != nil && string(m[1]) != "0" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no near cache hit on the sidecar")
			}
		}
	})

	t.Run("local reads audited on the primary", func(t *testing.T) {
		// The reads above were answered from Redis; their records reach the
		// primary's trail through the relay, marked with who relayed them.
		q := `SELECT user_name, application_name, statement, relations, authority, sqlstate, via FROM dualgate.audit
			WHERE via IS NOT NULL AND application_name = 'test-sidecar' AND statement LIKE '%serving.order_timeline%' ORDER BY seq`
		deadline := time.Now().Add(20 * time.Second)
		for {
			res, err := prim.Exec(ctx, q).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if rows := res[0].Rows; len(rows) >= 3 {
				r := rows[0]
				if string(r[0]) != "loader" || string(r[3]) != "serving.order_timeline" || string(r[4]) != "derived" || string(r[5]) != "00000" ||
					!strings.HasPrefix(string(r[6]), "relayed by dualgate-sidecar from 127.0.0.1") || strings.Contains(string(r[2]), "o-3") {
					t.Fatalf("relayed record %q", r)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("local reads not in the primary's trail: %q", res[0].Rows)
			}
			time.Sleep(50 * time.Millisecond)
		}
		res, err := prim.Exec(ctx, `CALL dualgate.verify_audit()`).ReadAll()
		if err != nil || string(res[0].Rows[0][0]) != "t" {
			t.Fatalf("verify_audit after relayed records: %v %v", res, err)
		}
	})

	t.Run("forwarded", func(t *testing.T) {
		q := `SELECT order_id, status, total_cents FROM canonical.commercial_orders ORDER BY order_id`
		res, err := sc.Exec(ctx, q).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		gotLabel := label(sc)
		want, err := prim.Exec(ctx, q).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res[0].Rows, want[0].Rows) || len(res[0].Rows) != 8 || res[0].CommandTag.String() != want[0].CommandTag.String() {
			t.Fatalf("sidecar %q %s, primary %q %s", res[0].Rows, res[0].CommandTag, want[0].Rows, want[0].CommandTag)
		}
		if gotLabel != label(prim) || !strings.HasPrefix(gotLabel, "authoritative@") {
			t.Fatalf("label via sidecar %s, primary %s", gotLabel, label(prim))
		}
		if n := backends(); n != 1 {
			t.Fatalf("%d backend connections for the sidecar session, want 1", n)
		}
		// Extended protocol with parameters, text and binary results.
		for _, format := range []int16{0, 1} {
			q := `SELECT order_id, status, total_cents FROM canonical.commercial_orders WHERE total_cents >= $1 ORDER BY order_id`
			a := sc.ExecParams(ctx, q, [][]byte{[]byte("500")}, nil, nil, []int16{format}).Read()
			b := prim.ExecParams(ctx, q, [][]byte{[]byte("500")}, nil, nil, []int16{format}).Read()
			if a.Err != nil || b.Err != nil || !reflect.DeepEqual(a.Rows, b.Rows) || len(a.Rows) != 4 ||
				!reflect.DeepEqual(fieldTypes(a.FieldDescriptions), fieldTypes(b.FieldDescriptions)) {
				t.Fatalf("format %d: sidecar %q %v, primary %q %v", format, a.Rows, a.Err, b.Rows, b.Err)
			}
		}
		sd, err := sc.Prepare(ctx, "canon", `SELECT status FROM canonical.commercial_orders WHERE order_id = $1`, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(sd.Fields) != 1 || len(sd.ParamOIDs) != 1 {
			t.Fatalf("described %+v", sd)
		}
		r := sc.ExecPrepared(ctx, "canon", [][]byte{[]byte("o-2")}, nil, []int16{1}).Read()
		if r.Err != nil || len(r.Rows) != 1 || string(r.Rows[0][0]) != "submitted" {
			t.Fatalf("prepared canonical lookup: %q %v", r.Rows, r.Err)
		}
		// Local and forwarded statements in one simple query.
		mixed, err := sc.Exec(ctx, `SELECT status FROM serving.order_timeline WHERE order_id = 'o-1'; SELECT count(*) FROM canonical.commercial_orders`).ReadAll()
		if err != nil || len(mixed) != 2 || string(mixed[1].Rows[0][0]) != "8" {
			t.Fatalf("mixed query: %v %v", mixed, err)
		}
		if !strings.HasPrefix(label(sc), "authoritative@") {
			t.Fatalf("label after the forwarded part %s", label(sc))
		}
		res, err = sc.Exec(ctx, `SELECT authority FROM dualgate.last_result`).ReadAll()
		if err != nil || string(res[0].Rows[0][0]) != "authoritative" {
			t.Fatalf("dualgate.last_result after a forwarded result: %v %v", res, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		bad := `SELECT nope FROM canonical.commercial_orders`
		_, errS := sc.Exec(ctx, bad).ReadAll()
		_, errP := prim.Exec(ctx, bad).ReadAll()
		if pgCode(errS) == "" || pgCode(errS) != pgCode(errP) || errS.Error() != errP.Error() {
			t.Fatalf("sidecar error %v, primary error %v", errS, errP)
		}
		r := sc.ExecParams(ctx, `SELECT status FROM canonical.commercial_orders WHERE nope = $1`, [][]byte{[]byte("x")}, nil, nil, nil).Read()
		if pgCode(r.Err) != "42703" {
			t.Fatalf("extended error %v, want 42703", r.Err)
		}
		if _, err := sc.Exec(ctx, `INSERT INTO serving.order_timeline (order_id) VALUES ('x')`).ReadAll(); pgCode(err) == "" {
			t.Fatalf("write to a projection through the sidecar: %v, want the primary's refusal", err)
		}
		if _, err := sc.Exec(ctx, point).ReadAll(); err != nil {
			t.Fatalf("session after errors: %v", err)
		}
	})

	t.Run("transaction", func(t *testing.T) {
		steps := []struct {
			sql string
			tx  byte
		}{
			{`BEGIN`, 'T'},
			{`INSERT INTO raw.oms_orders VALUES ('e100','o-100',1,'SUBMITTED','c100','y@example.com','+1','web','eu','eur','sku-1',1,100,4200,'2024-05-02 10:00:00+00','2024-05-02 10:00:00+00')`, 'T'},
			{`SELECT count(*) FROM serving.order_timeline`, 'T'},
			{`COMMIT`, 'I'},
		}
		for _, st := range steps {
			if _, err := sc.Exec(ctx, st.sql).ReadAll(); err != nil {
				t.Fatalf("%s: %v", st.sql, err)
			}
			if sc.TxStatus() != st.tx {
				t.Fatalf("after %s: transaction status %c, want %c", st.sql, sc.TxStatus(), st.tx)
			}
		}
		res, err := prim.Exec(ctx, `SELECT total_cents FROM canonical.commercial_orders WHERE order_id = 'o-100'`).ReadAll()
		if err != nil || len(res[0].Rows) != 1 || string(res[0].Rows[0][0]) != "4200" {
			t.Fatalf("the sidecar's committed insert on the primary: %v %v", res, err)
		}
		// A failed transaction, then ROLLBACK.
		if _, err := sc.Exec(ctx, `BEGIN`).ReadAll(); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Exec(ctx, `SELECT nope FROM canonical.commercial_orders`).ReadAll(); err == nil || sc.TxStatus() != 'E' {
			t.Fatalf("error in a transaction: %v, status %c", err, sc.TxStatus())
		}
		if _, err := sc.Exec(ctx, `ROLLBACK`).ReadAll(); err != nil || sc.TxStatus() != 'I' {
			t.Fatalf("ROLLBACK: %v, status %c", err, sc.TxStatus())
		}
		waitServing(t, prim)
		if _, err := sc.Exec(ctx, `SET dualgate.label_notices = off`).ReadAll(); err != nil {
			t.Fatal(err)
		}
		n := len(*notices)
		if _, err := sc.Exec(ctx, `SELECT status FROM canonical.commercial_orders WHERE order_id = 'o-100'`).ReadAll(); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Exec(ctx, `SELECT status FROM serving.order_timeline WHERE order_id = 'o-100'`).ReadAll(); err != nil {
			t.Fatal(err)
		}
		if len(*notices) != n {
			t.Fatalf("label notices after SET dualgate.label_notices = off (local and mirrored): %q", (*notices)[n:])
		}
	})

	t.Run("cancel", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			_, err := sc.Exec(ctx, `SELECT pg_sleep(5) FROM canonical.commercial_orders LIMIT 1`).ReadAll()
			done <- err
		}()
		time.Sleep(300 * time.Millisecond)
		if err := sc.CancelRequest(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if pgCode(err) != "57014" {
				t.Fatalf("canceled forwarded statement: %v, want 57014", err)
			}
		case <-time.After(4 * time.Second):
			t.Fatal("the cancel request did not reach the forwarded statement")
		}
	})

	t.Run("psql", func(t *testing.T) {
		psql := needClient(t, "psql", "apt-get install postgresql-client-15", func() (string, error) { return exec.LookPath("psql") })
		host, port, _ := net.SplitHostPort(sidecarAddr)
		cmd := exec.Command(psql, "-X", "-h", host, "-p", port, "-U", "loader", "-d", "dualgate",
			"-c", `SELECT order_id, status FROM serving.order_timeline WHERE order_id = 'o-1'`,
			"-c", `SELECT count(*) AS orders FROM canonical.commercial_orders`)
		cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10", "PAGER=", "PSQLRC=/dev/null")
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			t.Fatalf("psql: %v\n%s", err, buf.String())
		}
		out := buf.String()
		for _, want := range []string{"o-1", "submitted", "NOTICE:  derived: serving.order_timeline", "NOTICE:  authoritative: canonical.commercial_orders", " 9\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("psql output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("copy", func(t *testing.T) {
		data := "e200\to-200\t1\tSUBMITTED\tc200\tz@example.com\t+1\tweb\teu\teur\tsku-2\t2\t100\t200\t2024-05-03 10:00:00+00\t2024-05-03 10:00:00+00\n"
		tag, err := sc.CopyFrom(ctx, strings.NewReader(data), `COPY raw.oms_orders (event_id, order_id, line_no, status, customer_id, customer_email, customer_phone, channel, region, currency, sku, quantity, unit_price_cents, order_total_cents, placed_at, occurred_at) FROM STDIN`)
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("COPY FROM STDIN through the sidecar: %v %v", tag, err)
		}
		var out bytes.Buffer
		if _, err := sc.CopyTo(ctx, &out, `COPY (SELECT order_id FROM canonical.commercial_orders WHERE order_id = 'o-200') TO STDOUT`); err != nil || out.String() != "o-200\n" {
			t.Fatalf("COPY TO STDOUT through the sidecar: %q %v", out.String(), err)
		}
		waitServing(t, prim)
	})

	t.Run("redis down", func(t *testing.T) {
		stopRedis()
		_, err := sc.Exec(ctx, point).ReadAll()
		if pgCode(err) != "55000" {
			t.Fatalf("serving read with Redis down: %v, want 55000", err)
		}
		// The failed Redis commands are counted on the sidecar's /metrics.
		resp, err := http.Get("http://" + admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := regexp.MustCompile(`(?m)^dualgate_redis_errors_total\{[^}]*\} ([1-9]\d*)`).FindSubmatch(body); m == nil {
			t.Fatalf("sidecar /metrics counts no Redis error with Redis down:\n%s", body)
		}
		res, err := sc.Exec(ctx, `SET dualgate.stale_policy = canonical; `+point).ReadAll()
		if err != nil || len(res) != 2 || len(res[1].Rows) != 1 || string(res[1].Rows[0][0]) != "o-3" {
			t.Fatalf("serving read with Redis down and stale_policy = canonical: %v %v", res, err)
		}
		if _, err := sc.Exec(ctx, `RESET dualgate.stale_policy`).ReadAll(); err != nil {
			t.Fatal(err)
		}
		// Redis back, empty, on the same port: the primary rebuilds the
		// projections by itself and the sidecar reads them again.
		u := strings.TrimSuffix(strings.TrimPrefix(redisURL, "redis://"), "/0")
		_, port, _ := net.SplitHostPort(u)
		dir := outer.TempDir()
		cmd := exec.Command(redistest.Bin(), "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		outer.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) // lives on for "primary down"
		if !redistest.Wait(u, 5*time.Second) {
			t.Fatal("redis-server did not restart")
		}
		waitServing(t, prim)
		deadline := time.Now().Add(10 * time.Second)
		for {
			res, err := sc.Exec(ctx, point).ReadAll()
			if err == nil && len(res[0].Rows) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("serving through the sidecar after Redis came back: %v %v", res, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("primary down", func(t *testing.T) {
		stopPrimary()
		fresh, _ := sidecarConn(t, sidecarAddr, "test-fresh")
		res, err := fresh.Exec(ctx, point).ReadAll()
		if err != nil || len(res[0].Rows) != 1 || !strings.HasPrefix(label(fresh), "derived@") {
			t.Fatalf("serving with the primary down: %v %v", res, err)
		}
		_, err = fresh.Exec(ctx, `SELECT count(*) FROM canonical.commercial_orders`).ReadAll()
		if pgCode(err) != "08001" || !strings.Contains(err.Error(), primaryAddr) {
			t.Fatalf("canonical with the primary down (new backend): %v, want 08001 naming %s", err, primaryAddr)
		}
		_, err = sc.Exec(ctx, `SELECT count(*) FROM canonical.commercial_orders`).ReadAll()
		if code := pgCode(err); code != "08006" && code != "08001" {
			t.Fatalf("canonical with the primary down (open backend): %v, want 08006", err)
		}
		if _, err := sc.Exec(ctx, point).ReadAll(); err != nil {
			t.Fatalf("serving on the session that lost its backend: %v", err)
		}
		stopSidecar()
	})
}

// waitServing waits until order_timeline has caught up with canonical's
// head and returns the head.
func waitServing(t *testing.T, prim *pgconn.PgConn) uint64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		res, err := prim.Exec(context.Background(), `SELECT watermark_commit, head_commit FROM dualgate.projections WHERE name = 'order_timeline'`).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if r := res[0].Rows; len(r) == 1 && string(r[0][0]) == string(r[0][1]) && string(r[0][0]) != "0" {
			var n uint64
			fmt.Sscan(string(r[0][0]), &n)
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("order_timeline did not catch up")
	return 0
}

// TestSidecarNeedsCatalogForUsers: a sidecar whose clients sign in as
// catalog users must have the catalog, whose masks and grants it enforces
// on the reads it answers itself; it refuses to start without it.
func TestSidecarNeedsCatalogForUsers(t *testing.T) {
	o := &serveOptions{role: "sidecar", users: "users.txt", primary: "postgres://127.0.0.1:1/dualgate", redis: "redis://127.0.0.1:1/0",
		listen: "127.0.0.1:0", admin: ""}
	err := runServe(context.Background(), o, nil, zerolog.Nop(), nil)
	if err == nil || !strings.Contains(err.Error(), "needs --catalog") {
		t.Fatalf("sidecar with --users and no --catalog: %v", err)
	}
}
