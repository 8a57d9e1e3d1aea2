package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestProtocolFloorAnswersLookups runs libpq's pattern (pgconn: SSLRequest,
// startup, Parse, then Bind/Describe/Execute/Sync per lookup) against the
// floor: each lookup answers the row its parameter names, so pgbench's
// transactions against it are complete round trips, not errors.
func TestProtocolFloorAnswersLookups(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serveFloorOn(ln) }()
	defer func() {
		ln.Close()
		<-done
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, fmt.Sprintf("postgres://bench@%s/floor?sslmode=prefer", ln.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if v := c.ParameterStatus("server_version"); v == "" {
		t.Fatal("no server_version")
	}
	sd, err := c.Prepare(ctx, "p", "SELECT id, val, n FROM kv WHERE id = $1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.ParamOIDs) != 1 || len(sd.Fields) != 3 || sd.Fields[1].Name != "val" {
		t.Fatalf("described %d params, fields %+v", len(sd.ParamOIDs), sd.Fields)
	}
	for _, id := range []string{"1", "95914", "100000"} {
		rr := c.ExecPrepared(ctx, "p", [][]byte{[]byte(id)}, nil, nil).Read()
		if rr.Err != nil {
			t.Fatal(rr.Err)
		}
		if len(rr.Rows) != 1 || string(rr.Rows[0][0]) != id || string(rr.Rows[0][1]) != "value-"+id || string(rr.Rows[0][2]) != id {
			t.Fatalf("lookup %s answered %q", id, rr.Rows)
		}
		if rr.CommandTag.String() != "SELECT 1" {
			t.Fatalf("command tag %q", rr.CommandTag)
		}
	}
	// The unnamed statement, as pgbench's first transaction on a
	// connection prepares with a Sync between.
	rr := c.ExecParams(ctx, "SELECT id, val, n FROM kv WHERE id = $1", [][]byte{[]byte("7")}, nil, nil, nil).Read()
	if rr.Err != nil || len(rr.Rows) != 1 || string(rr.Rows[0][1]) != "value-7" {
		t.Fatalf("unnamed statement: %v %q", rr.Err, rr.Rows)
	}
}

func TestMaxPlaceholder(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want int
	}{
		{"\x00SELECT 1\x00\x00\x00", 0},
		{"s1\x00SELECT $1, $12, $3\x00\x00\x00", 12},
		// A '$' in the parameter types after the query is not a
		// placeholder.
		{"\x00SELECT $2\x00\x00\x01\x00\x00\x00$", 2},
	} {
		if got := maxPlaceholder([]byte(tc.msg)); got != tc.want {
			t.Errorf("maxPlaceholder(%q) = %d, want %d", tc.msg, got, tc.want)
		}
	}
}

// FuzzFloorConn feeds arbitrary bytes to the floor's connection loop: it
// must end with an error or at EOF, never panic or loop.
func FuzzFloorConn(f *testing.F) {
	startup := func() []byte {
		b := []byte{0, 0, 0, 0, 0, 3, 0, 0}
		b = append(b, "user\x00bench\x00\x00"...)
		b[3] = byte(len(b))
		return b
	}()
	msg := func(t byte, body string) []byte {
		return append([]byte{t, 0, 0, 0, byte(len(body) + 4)}, body...)
	}
	f.Add(startup)
	f.Add(append(append([]byte{}, startup...), msg('B', "\x00\x00\x00\x00\x00\x01\x00\x00\x00\x0242\x00\x00")...))
	f.Add(append(append([]byte{}, startup...), msg('B', "\x00\x00\x00\x05")...))
	f.Add(append(append([]byte{}, startup...), msg('P', "\x00SELECT $1\x00\x00\x00")...))
	f.Add(append(append([]byte{}, startup...), msg('E', "\x00\x00\x00\x00\x00")...))
	f.Add([]byte{0, 0, 0, 8, 4, 210, 22, 47})
	f.Fuzz(func(t *testing.T, in []byte) {
		_ = floorConn(bytes.NewReader(in), io.Discard)
	})
}
