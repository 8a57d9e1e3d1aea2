package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgproto3/v2"
	"github.com/jackc/pgx/v5"
	_ "github.com/lib/pq"

	"github.com/dualgate/dualgate/gateway"
)

func usersFile(t *testing.T, pairs ...string) *gateway.Users {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("# test users\n")
	for i := 0; i < len(pairs); i += 2 {
		v, err := gateway.MakeVerifier(pairs[i+1])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%s:%s\n", pairs[i], v)
	}
	u, err := gateway.ParseUsers(strings.NewReader(sb.String()), "users")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestSCRAMAuthentication(t *testing.T) {
	users := usersFile(t, "alice", "s3cret w0rd", "bob", "other")
	g := startGateway(t, func(c *gateway.Config) { c.Trust = false; c.Users = users })
	host, port, _ := net.SplitHostPort(g.addr)
	dsn := func(user, pw string) string {
		return fmt.Sprintf("postgres://%s:%s@%s:%s/dualgate?sslmode=disable", user, strings.ReplaceAll(pw, " ", "%20"), host, port)
	}
	c, err := pgx.Connect(ctxT(t), dsn("alice", "s3cret w0rd"))
	if err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	var who string
	if err := c.QueryRow(ctxT(t), `SELECT current_user`).Scan(&who); err != nil || who != "alice" {
		t.Errorf("current_user = %q (%v), want alice", who, err)
	}
	c.Close(ctxT(t))

	for _, tc := range []struct{ user, pw string }{{"alice", "wrong"}, {"bob", "s3cret w0rd"}, {"mallory", "anything"}} {
		_, err := pgx.Connect(ctxT(t), dsn(tc.user, tc.pw))
		if pgCode(err) != "28P01" {
			t.Errorf("%s/%s: %v, want 28P01", tc.user, tc.pw, err)
		}
	}

	// lib/pq speaks SCRAM too.
	db, err := sql.Open("postgres", dsn("bob", "other"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT $1::int + 1`, 41).Scan(&n); err != nil || n != 42 {
		t.Fatalf("lib/pq: %d %v", n, err)
	}
}

func TestTrustRefusedOffLoopback(t *testing.T) {
	_, err := gateway.NewServer(gateway.Config{Listen: "0.0.0.0:5433", Trust: true}, nil)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("trust on 0.0.0.0: %v, want a refusal naming loopback", err)
	}
	_, err = gateway.NewServer(gateway.Config{Listen: "127.0.0.1:5433"}, nil)
	if err == nil || !strings.Contains(err.Error(), "--users") {
		t.Fatalf("no users and no trust: %v, want a refusal naming --users", err)
	}
}

func TestTLSRequired(t *testing.T) {
	users := usersFile(t, "alice", "pw")
	g := startGateway(t, func(c *gateway.Config) { c.Trust = false; c.Users = users; c.TLS = selfSignedTLS(t) })
	host, port, _ := net.SplitHostPort(g.addr)
	c, err := pgx.Connect(ctxT(t), fmt.Sprintf("postgres://alice:pw@%s:%s/dualgate?sslmode=require", host, port))
	if err != nil {
		t.Fatalf("sslmode=require: %v", err)
	}
	defer c.Close(ctxT(t))
	if _, ok := c.PgConn().Conn().(*tls.Conn); !ok {
		t.Fatalf("connection is %T, want *tls.Conn", c.PgConn().Conn())
	}
	var one int
	if err := c.QueryRow(ctxT(t), `SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Fatal(err)
	}

	// Without a certificate configured, SSLRequest is answered 'N' and
	// sslmode=require fails.
	g2 := startGateway(t, nil)
	h2, p2, _ := net.SplitHostPort(g2.addr)
	if _, err := pgx.Connect(ctxT(t), fmt.Sprintf("postgres://x@%s:%s/dualgate?sslmode=require", h2, p2)); err == nil {
		t.Fatal("sslmode=require succeeded against a server without TLS")
	}
}

func TestCleartextOnlyOverTLS(t *testing.T) {
	users := usersFile(t, "carol", "pw")
	g := startGateway(t, func(c *gateway.Config) {
		c.Trust, c.Users, c.TLS, c.AllowCleartext = false, users, selfSignedTLS(t), true
	})
	host, port, _ := net.SplitHostPort(g.addr)
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://carol:pw@%s:%s/dualgate?sslmode=require", host, port))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgx.ConnectConfig(ctxT(t), cfg)
	if err != nil {
		t.Fatalf("cleartext over TLS: %v", err)
	}
	c.Close(ctxT(t))
	// Without TLS the same server insists on SCRAM, which also works.
	c, err = pgx.Connect(ctxT(t), fmt.Sprintf("postgres://carol:pw@%s:%s/dualgate?sslmode=disable", host, port))
	if err != nil {
		t.Fatalf("SCRAM without TLS: %v", err)
	}
	c.Close(ctxT(t))
}

// TestAuthMethodsOffered checks, message by message, which authentication
// request the server sends: SCRAM on plain connections, cleartext only on
// TLS connections of a server that allows it, and 'N' to GSSENCRequest.
func TestAuthMethodsOffered(t *testing.T) {
	users := usersFile(t, "dave", "pw")
	g := startGateway(t, func(c *gateway.Config) {
		c.Trust, c.Users, c.TLS, c.AllowCleartext = false, users, selfSignedTLS(t), true
	})
	authRequest := func(useTLS bool) pgproto3.BackendMessage {
		nc, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		var conn net.Conn = nc
		if useTLS {
			req, _ := (&pgproto3.SSLRequest{}).Encode(nil)
			if _, err := nc.Write(req); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1)
			if _, err := io.ReadFull(nc, b); err != nil || b[0] != 'S' {
				t.Fatalf("SSLRequest answered %q (%v), want S", b, err)
			}
			tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			conn = tc
		}
		fe := pgproto3.NewFrontend(pgproto3.NewChunkReader(conn), conn)
		if err := fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "dave"}}); err != nil {
			t.Fatal(err)
		}
		m, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m, ok := authRequest(false).(*pgproto3.AuthenticationSASL); !ok || len(m.AuthMechanisms) != 1 || m.AuthMechanisms[0] != "SCRAM-SHA-256" {
		t.Errorf("plain connection: got %#v, want AuthenticationSASL SCRAM-SHA-256", m)
	}
	if m, ok := authRequest(true).(*pgproto3.AuthenticationCleartextPassword); !ok {
		t.Errorf("TLS connection with cleartext allowed: got %#v, want AuthenticationCleartextPassword", m)
	}

	nc, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := (&pgproto3.GSSEncRequest{}).Encode(nil)
	if _, err := nc.Write(req); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(nc, b); err != nil || b[0] != 'N' {
		t.Fatalf("GSSENCRequest answered %q (%v), want N", b, err)
	}
}
