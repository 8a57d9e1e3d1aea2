package gateway_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgproto3/v2"

	"github.com/dualgate/dualgate/gateway"
)

// rawClient speaks the protocol message by message, to check exactly what
// the server sends (drivers hide PortalSuspended, error recovery, ...).
type rawClient struct {
	nc net.Conn
	fe *pgproto3.Frontend
}

func dialRaw(t *testing.T, g *testGateway) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	r := &rawClient{nc: nc, fe: pgproto3.NewFrontend(pgproto3.NewChunkReader(nc), nc)}
	r.send(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "raw", "database": "dualgate"}})
	r.until(t, "Z")
	return r
}

func (r *rawClient) send(t *testing.T, msgs ...pgproto3.FrontendMessage) {
	t.Helper()
	for _, m := range msgs {
		if err := r.fe.Send(m); err != nil {
			t.Fatal(err)
		}
	}
}

// describe renders a backend message compactly: "D:a|b", "C:SELECT 2",
// "E:42601", "Z:I", or the message type name.
func describe(m pgproto3.BackendMessage) string {
	switch v := m.(type) {
	case *pgproto3.DataRow:
		vals := make([]string, len(v.Values))
		for i, b := range v.Values {
			if b == nil {
				vals[i] = "NULL"
			} else {
				vals[i] = string(b)
			}
		}
		return "D:" + strings.Join(vals, "|")
	case *pgproto3.CommandComplete:
		return "C:" + string(v.CommandTag)
	case *pgproto3.ErrorResponse:
		return "E:" + v.Code
	case *pgproto3.ReadyForQuery:
		return "Z:" + string(v.TxStatus)
	case *pgproto3.RowDescription:
		names := make([]string, len(v.Fields))
		for i, f := range v.Fields {
			names[i] = fmt.Sprintf("%s/%d", f.Name, f.DataTypeOID)
		}
		return "T:" + strings.Join(names, ",")
	case *pgproto3.ParameterDescription:
		return fmt.Sprintf("t:%v", v.ParameterOIDs)
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", m), "*pgproto3.")
}

// until collects described messages up to one starting with stop.
func (r *rawClient) until(t *testing.T, stop string) []string {
	t.Helper()
	var out []string
	for {
		m, err := r.fe.Receive()
		if err != nil {
			t.Fatalf("receive after %v: %v", out, err)
		}
		switch m.(type) {
		case *pgproto3.ParameterStatus, *pgproto3.NoticeResponse, *pgproto3.BackendKeyData, *pgproto3.AuthenticationOk:
			continue
		}
		d := describe(m)
		out = append(out, d)
		if strings.HasPrefix(d, stop) {
			return out
		}
	}
}

func TestPortalSuspendedWithRowLimit(t *testing.T) {
	g := startGateway(t, nil)
	c := g.connect(t)
	mustExec(t, c, `CREATE TABLE nums (n int PRIMARY KEY)`, `INSERT INTO nums VALUES (1),(2),(3),(4),(5)`)
	r := dialRaw(t, g)
	r.send(t,
		&pgproto3.Parse{Name: "q", Query: `SELECT n FROM nums WHERE n > $1 ORDER BY n`},
		&pgproto3.Describe{ObjectType: 'S', Name: "q"},
		&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "q", Parameters: [][]byte{[]byte("0")}},
		&pgproto3.Execute{Portal: "p", MaxRows: 2},
		&pgproto3.Execute{Portal: "p", MaxRows: 2},
		&pgproto3.Execute{Portal: "p", MaxRows: 2},
		&pgproto3.Sync{},
	)
	got := strings.Join(r.until(t, "Z"), ",")
	want := "ParseComplete,t:[23],T:n/23,BindComplete,D:1,D:2,PortalSuspended,D:3,D:4,PortalSuspended,D:5,C:SELECT 5,Z:I"
	if got != want {
		t.Fatalf("messages:\n%s\nwant\n%s", got, want)
	}
}

func TestExtendedErrorSkipsToSync(t *testing.T) {
	g := startGateway(t, nil)
	r := dialRaw(t, g)
	r.send(t,
		&pgproto3.Parse{Query: `SELECT * FROM no_such_table`},
		&pgproto3.Bind{},
		&pgproto3.Execute{},
		&pgproto3.Parse{Query: `SELECT 1`},
		&pgproto3.Sync{},
		&pgproto3.Parse{Query: `SELECT 2 AS two`},
		&pgproto3.Bind{},
		&pgproto3.Execute{},
		&pgproto3.Sync{},
	)
	first := strings.Join(r.until(t, "Z"), ",")
	if first != "E:42P01,Z:I" && first != "ParseComplete,E:42P01,Z:I" {
		t.Fatalf("first batch: %s", first)
	}
	second := strings.Join(r.until(t, "Z"), ",")
	if second != "ParseComplete,BindComplete,D:2,C:SELECT 1,Z:I" {
		t.Fatalf("second batch: %s", second)
	}
}

func TestOversizedMessageIsRefused(t *testing.T) {
	g := startGateway(t, nil)
	r := dialRaw(t, g)
	// A Query message declaring 1 GiB: the server must refuse it without
	// reading (or allocating) the body, then close this connection.
	hdr := []byte{'Q', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hdr[1:], 1<<30)
	if _, err := r.nc.Write(hdr); err != nil {
		t.Fatal(err)
	}
	got := r.until(t, "E")
	if got[len(got)-1] != "E:54000" {
		t.Fatalf("oversized message: %v, want E:54000", got)
	}
	if _, err := r.fe.Receive(); err == nil || (err != io.EOF && !strings.Contains(err.Error(), "EOF")) {
		t.Fatalf("connection not closed: %v", err)
	}
	// Other sessions are unaffected.
	c := g.connect(t)
	var one int
	if err := c.QueryRow(ctxT(t), `SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Fatalf("server unusable after hostile message: %v", err)
	}
}

func TestBadStartupPacket(t *testing.T) {
	g := startGateway(t, nil)
	for _, pkt := range [][]byte{
		{0, 0, 0, 8, 0, 9, 0, 0},          // unknown protocol version
		{0, 0, 0, 3},                      // length shorter than the header
		{0x7f, 0xff, 0xff, 0xff, 0, 3, 0}, // absurd length
	} {
		nc, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write(pkt); err != nil {
			t.Fatal(err)
		}
		buf, _ := io.ReadAll(nc)
		nc.Close()
		if len(buf) == 0 || buf[0] != 'E' || !strings.Contains(string(buf), "08P01") {
			t.Errorf("startup %x: got %q, want an 08P01 ErrorResponse then close", pkt, buf)
		}
	}
	c := g.connect(t)
	if _, err := c.Exec(ctxT(t), `SELECT 1`); err != nil {
		t.Fatalf("server unusable after bad startups: %v", err)
	}
}

func TestShutdownEndsIdleSessions(t *testing.T) {
	g := startGateway(t, nil)
	r := dialRaw(t, g)
	done := make(chan struct{})
	go func() { g.stop(); close(done) }()
	got := r.until(t, "E")
	if got[len(got)-1] != "E:57P01" {
		t.Fatalf("idle session at shutdown got %v, want E:57P01", got)
	}
	<-done
	if _, err := net.DialTimeout("tcp", g.addr, time.Second); err == nil {
		t.Fatal("server still accepting after shutdown")
	}
}

// TestPanicEndsOnlyThatSession: a panic while running a statement (here a
// procedure that panics) closes that connection with XX000 and a logged
// stack; the server keeps serving everyone else.
func TestPanicEndsOnlyThatSession(t *testing.T) {
	g := startGateway(t, func(c *gateway.Config) {
		c.Procedures = map[string]gateway.Procedure{"test.boom": {Run: func(context.Context, gateway.CallInfo, []any) (gateway.ProcedureResult, error) {
			panic("boom")
		}}}
	})
	other := g.connect(t)
	r := dialRaw(t, g)
	r.send(t, &pgproto3.Query{String: "CALL test.boom()"})
	got := r.until(t, "E")
	if got[len(got)-1] != "E:XX000" {
		t.Fatalf("panicking statement: %v, want E:XX000", got)
	}
	if _, err := r.fe.Receive(); err == nil {
		t.Fatal("connection still open after a panic")
	}
	var one int
	if err := other.QueryRow(ctxT(t), `SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Fatalf("other session after a panic: %v", err)
	}
}

// TestUnnamedPortalRebind runs one prepared statement on the unnamed
// portal with changing parameters (the server reuses the portal's struct
// and value slice), then a Bind that fails: as in PostgreSQL, the old
// unnamed portal is gone, so executing it is an error, not a run with
// the previous or half-replaced parameters.
func TestUnnamedPortalRebind(t *testing.T) {
	g := startGateway(t, nil)
	c := g.connect(t)
	mustExec(t, c, `CREATE TABLE kv (k int PRIMARY KEY, v text)`, `INSERT INTO kv VALUES (1,'one'),(2,'two'),(3,'three')`)
	r := dialRaw(t, g)
	r.send(t, &pgproto3.Parse{Name: "q", Query: `SELECT v FROM kv WHERE k = $1 OR k = $2 ORDER BY v`},
		&pgproto3.Parse{Name: "one", Query: `SELECT v FROM kv WHERE k = $1`},
		&pgproto3.Parse{Name: "none", Query: `SELECT count(*) FROM kv`}, &pgproto3.Sync{})
	r.until(t, "Z")
	for _, c := range []struct {
		stmt   string
		params [][]byte
		want   string
	}{
		{"q", [][]byte{[]byte("1"), []byte("2")}, "BindComplete,D:one,D:two,C:SELECT 2,Z:I"},
		{"one", [][]byte{[]byte("3")}, "BindComplete,D:three,C:SELECT 1,Z:I"},
		{"none", nil, "BindComplete,D:3,C:SELECT 1,Z:I"},
		{"q", [][]byte{[]byte("3"), nil}, "BindComplete,D:three,C:SELECT 1,Z:I"},
		{"q", [][]byte{nil, []byte("2")}, "BindComplete,D:two,C:SELECT 1,Z:I"},
		{"one", [][]byte{nil}, "BindComplete,C:SELECT 0,Z:I"},
	} {
		r.send(t, &pgproto3.Bind{PreparedStatement: c.stmt, Parameters: c.params}, &pgproto3.Execute{}, &pgproto3.Sync{})
		if got := strings.Join(r.until(t, "Z"), ","); got != c.want {
			t.Fatalf("params %q: %s, want %s", c.params, got, c.want)
		}
	}
	r.send(t, &pgproto3.Bind{PreparedStatement: "q", Parameters: [][]byte{[]byte("1"), []byte("not a number")}}, &pgproto3.Sync{})
	if got := strings.Join(r.until(t, "Z"), ","); got != "E:22P02,Z:I" {
		t.Fatalf("bad parameter: %s", got)
	}
	r.send(t, &pgproto3.Execute{}, &pgproto3.Sync{})
	if got := strings.Join(r.until(t, "Z"), ","); got != "E:34000,Z:I" {
		t.Fatalf("execute after the failed bind: %s, want the unnamed portal gone (34000)", got)
	}
}
