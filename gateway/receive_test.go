package gateway

import (
	"reflect"
	"testing"

	"github.com/jackc/pgproto3/v2"
)

// pgprotoDecode is pgproto3's own decoding of msg's body, nil-safe against
// its panics (it slices by a negative declared parameter size).
func pgprotoDecode(msg pgproto3.FrontendMessage, body []byte) (err error, panicked bool) {
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	return msg.Decode(body), false
}

// checkDecoders decodes body as a Bind and an Execute both ways and fails
// when the reusing decoders disagree with pgproto3: same success, same
// fields. reuse carries the previous decodes, as frontendReader does.
func checkDecoders(t *testing.T, body []byte, reuseBind *pgproto3.Bind, reuseExec *pgproto3.Execute) {
	t.Helper()
	var want pgproto3.Bind
	werr, panicked := pgprotoDecode(&want, body)
	gerr := decodeBind(reuseBind, body)
	switch {
	case panicked:
		if gerr == nil {
			t.Fatalf("Bind %q: pgproto3 panics on it, decodeBind accepted it: %+v", body, *reuseBind)
		}
	case (werr == nil) != (gerr == nil):
		t.Fatalf("Bind %q: pgproto3 error %v, decodeBind error %v", body, werr, gerr)
	case werr == nil && !reflect.DeepEqual(want, *reuseBind):
		t.Fatalf("Bind %q:\n got %#v\nwant %#v", body, *reuseBind, want)
	}
	var wantE pgproto3.Execute
	werr, _ = pgprotoDecode(&wantE, body)
	gerr = decodeExecute(reuseExec, body)
	if werr == nil && (gerr != nil || wantE != *reuseExec) {
		t.Fatalf("Execute %q: got %+v (%v), want %+v", body, *reuseExec, gerr, wantE)
	}
	if werr != nil && gerr == nil {
		t.Fatalf("Execute %q: pgproto3 refuses it (%v), decodeExecute accepted it", body, werr)
	}
}

func encodeBody(t testing.TB, m pgproto3.FrontendMessage) []byte {
	b, err := m.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b[5:] // type byte and length
}

// TestReusingDecodersMatchPgproto3 decodes a sequence of messages into the
// same structs, as a session does, each shorter or longer than the last:
// nothing of an earlier message may show through.
func TestReusingDecodersMatchPgproto3(t *testing.T) {
	var b pgproto3.Bind
	var e pgproto3.Execute
	for _, m := range []pgproto3.FrontendMessage{
		&pgproto3.Bind{PreparedStatement: "P_0", ParameterFormatCodes: []int16{1}, Parameters: [][]byte{[]byte("42"), nil, {}}, ResultFormatCodes: []int16{0, 1}},
		&pgproto3.Bind{PreparedStatement: "P_0", Parameters: [][]byte{[]byte("7")}},
		&pgproto3.Bind{DestinationPortal: "cur", PreparedStatement: "other"},
		&pgproto3.Bind{PreparedStatement: "P_0", ParameterFormatCodes: []int16{0, 1, 0}, Parameters: [][]byte{nil, []byte("x"), []byte("yy")}, ResultFormatCodes: []int16{1}},
		&pgproto3.Execute{Portal: "cur", MaxRows: 5},
		&pgproto3.Execute{},
	} {
		body := encodeBody(t, m)
		checkDecoders(t, body, &b, &e)
	}
	// A repeated name keeps its string rather than making a new one.
	body := encodeBody(t, &pgproto3.Bind{PreparedStatement: "P_0", Parameters: [][]byte{[]byte("1")}})
	_ = decodeBind(&b, body)
	if n := testing.AllocsPerRun(100, func() { _ = decodeBind(&b, body) }); n != 0 {
		t.Errorf("decodeBind of a repeated statement allocates %v times, want 0", n)
	}
}

// FuzzDecodeBind checks the reusing Bind and Execute decoders against
// pgproto3's on arbitrary bodies, after decoding a valid message first.
func FuzzDecodeBind(f *testing.F) {
	f.Add(encodeBody(f, &pgproto3.Bind{PreparedStatement: "s", Parameters: [][]byte{[]byte("1"), nil}, ResultFormatCodes: []int16{1}}))
	f.Add(encodeBody(f, &pgproto3.Execute{Portal: "p", MaxRows: 9}))
	f.Add([]byte("\x00s\x00\x00\x00\x00\x01\xff\xff\xff\xfe"))
	f.Add([]byte("\x00\x00\x00\x02\x00\x01"))
	f.Add([]byte{})
	warm := encodeBody(f, &pgproto3.Bind{PreparedStatement: "warm", ParameterFormatCodes: []int16{1, 1}, Parameters: [][]byte{[]byte("a"), []byte("b")}, ResultFormatCodes: []int16{1, 0, 1}})
	f.Fuzz(func(t *testing.T, body []byte) {
		var b pgproto3.Bind
		var e pgproto3.Execute
		if err := decodeBind(&b, warm); err != nil {
			t.Fatal(err)
		}
		_ = decodeExecute(&e, []byte("warm\x00\x00\x00\x00\x01"))
		checkDecoders(t, body, &b, &e)
	})
}
