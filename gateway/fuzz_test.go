package gateway

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgproto3/v2"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/gateway/dialect"
)

// FuzzCopyParser feeds arbitrary COPY input through both formats: the
// parser must never panic and must always make progress.
func FuzzCopyParser(f *testing.F) {
	f.Add([]byte("1\tann\t\\N\n2\tbob\tx\\ty\n\\.\n"), false)
	f.Add([]byte("id,name\n1,\"a,b\"\n2,\"multi\nline\"\n3,\n"), true)
	f.Add([]byte("\"unterminated\n"), true)
	f.Add([]byte("\\x41\\101\\\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, csv bool) {
		cp := &dialect.Copy{Format: "text"}
		if csv {
			cp.Format, cp.Header = "csv", true
		}
		p := newCopyParser(cp, data)
		for i := 0; i <= len(data)+1; i++ {
			before := p.pos
			_, _, err := p.next()
			if err != nil {
				return
			}
			if p.pos == before {
				t.Fatalf("parser made no progress at %d", before)
			}
		}
		t.Fatalf("parser returned more rows than input bytes")
	})
}

var (
	fuzzOnce sync.Once
	fuzzSrv  *Server
)

// FuzzMessages sends a valid startup followed by arbitrary bytes as the
// message stream of one connection: the server must answer or close, never
// panic or hang, whatever the bytes claim.
func FuzzMessages(f *testing.F) {
	msg := func(m pgproto3.FrontendMessage) []byte {
		b, _ := m.Encode(nil)
		return b
	}
	f.Add(msg(&pgproto3.Query{String: "SELECT 1"}))
	f.Add(append(msg(&pgproto3.Parse{Query: "SELECT $1::int"}), msg(&pgproto3.Sync{})...))
	f.Add(append(append(msg(&pgproto3.Bind{Parameters: [][]byte{{1, 2}}}), msg(&pgproto3.Execute{MaxRows: 1})...), msg(&pgproto3.Sync{})...))
	f.Add([]byte{'Q', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{'P', 0, 0, 0, 4, 'S', 0, 0, 0, 4})
	f.Add([]byte{'d', 0, 0, 0, 5, 'x'})
	fuzzOnce.Do(func() {
		var err error
		fuzzSrv, err = NewServer(Config{Listen: "127.0.0.1:0", Trust: true, MaxMessageSize: 1 << 16, Log: zerolog.Nop()}, NewEngine())
		if err != nil {
			panic(err)
		}
	})
	f.Fuzz(func(t *testing.T, stream []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			fuzzSrv.handle(server)
		}()
		// The stream may end mid-message, so the server may rightly wait for
		// more: read what it says for a moment, then hang up; it must then
		// finish promptly.
		_ = client.SetDeadline(time.Now().Add(500 * time.Millisecond))
		startup, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "fuzz"}}).Encode(nil)
		go func() {
			_, _ = client.Write(startup)
			_, _ = client.Write(stream)
			_, _ = client.Write([]byte{'X', 0, 0, 0, 4})
		}()
		var out bytes.Buffer
		_, _ = io.Copy(&out, client)
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("connection goroutine did not end after hang-up; input %x", stream)
		}
		if out.Len() < 5 || out.Bytes()[0] != 'R' || binary.BigEndian.Uint32(out.Bytes()[5:9]) != 0 {
			t.Fatalf("no AuthenticationOk in %x", out.Bytes())
		}
	})
}
