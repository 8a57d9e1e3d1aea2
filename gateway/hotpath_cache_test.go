package gateway

import (
	"math"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgproto3/v2"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/gateway/dialect"
)

// TestParsedSettingsFollowEveryChange: the parsed statement_timeout and
// dualgate.max_staleness are never stale, however the raw value changes
// (set, reset to defaults, restored maps written straight into vals).
func TestParsedSettingsFollowEveryChange(t *testing.T) {
	s := newSettings("test")
	if d := s.statementTimeout(); d != 0 {
		t.Fatalf("default statement_timeout = %v", d)
	}
	defaults := s.clone()
	steps := []struct {
		apply func()
		want  time.Duration
	}{
		{func() { _, _ = s.set("statement_timeout", "250ms") }, 250 * time.Millisecond},
		{func() { _, _ = s.set("STATEMENT_TIMEOUT", "2s") }, 2 * time.Second},
		{func() { s.vals["statement_timeout"] = "3min" }, 3 * time.Minute}, // restoreSettings' path
		{func() { _, _ = s.reset("statement_timeout", defaults) }, 0},
		{func() { s.vals["statement_timeout"] = "7" }, 7 * time.Millisecond},
		{func() { s.vals["statement_timeout"] = "7" }, 7 * time.Millisecond},
		{func() { delete(s.vals, "statement_timeout") }, 0},
	}
	for i, st := range steps {
		st.apply()
		for k := 0; k < 2; k++ { // the second read is served from the cache
			if got := s.statementTimeout(); got != st.want {
				t.Fatalf("step %d read %d: statement_timeout %q = %v, want %v", i, k, s.vals["statement_timeout"], got, st.want)
			}
		}
	}
	for _, v := range []string{"0", "100ms", "1s", "0", "5min", "5min", "bogus"} {
		s.vals["dualgate.max_staleness"] = v
		want, _ := parseDuration(v)
		if got := s.maxStaleness(); got != want {
			t.Fatalf("max_staleness %q = %v, want %v", v, got, want)
		}
	}
}

// TestFieldOIDsFollowFields: the fast path's cached OIDs change when the
// statement's fields do.
func TestFieldOIDsFollowFields(t *testing.T) {
	p := &prepared{}
	a := []pgproto3.FieldDescription{{DataTypeOID: 20}, {DataTypeOID: 25}}
	if got := p.fieldOIDs(a); len(got) != 2 || got[0] != 20 || got[1] != 25 {
		t.Fatalf("oids %v", got)
	}
	b := []pgproto3.FieldDescription{{DataTypeOID: 23}, {DataTypeOID: 1043}}
	if got := p.fieldOIDs(b); len(got) != 2 || got[0] != 23 || got[1] != 1043 {
		t.Fatalf("oids after new fields %v, want [23 1043]", got)
	}
	c := append(b[:1:1], pgproto3.FieldDescription{DataTypeOID: 16}, pgproto3.FieldDescription{DataTypeOID: 20})
	if got := p.fieldOIDs(c); len(got) != 3 || got[0] != 23 || got[1] != 16 || got[2] != 20 {
		t.Fatalf("oids after longer fields %v", got)
	}
	if got := p.fieldOIDs(c[:1]); len(got) != 1 || got[0] != 23 {
		t.Fatalf("oids after shorter fields %v", got)
	}
	if got := p.fieldOIDs(nil); got != nil {
		t.Fatalf("oids of no fields %v", got)
	}
}

// TestAuditDerivedValuesCached: the per-session audit values equal what
// they are computed from, and follow a change of their source.
func TestAuditDerivedValuesCached(t *testing.T) {
	srv := &Server{}
	c := &conn{srv: srv, nc: fakeAddrConn{addr: &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 5555}}}
	if got := c.clientAddr(); got != "10.1.2.3" {
		t.Fatalf("clientAddr %q", got)
	}
	if got := c.clientAddr(); got != "10.1.2.3" {
		t.Fatalf("clientAddr (cached) %q", got)
	}
	s := &session{c: c, acl: &principal{user: "u", roles: []string{"a", "b"}}}
	if got := s.roleNames(); got != "a,b" {
		t.Fatalf("roleNames %q", got)
	}
	s.acl = &principal{user: "v", roles: []string{"c"}}
	if got := s.roleNames(); got != "c" {
		t.Fatalf("roleNames after a new principal %q, want c", got)
	}
	s.acl = &principal{user: "w", all: true}
	if got := s.roleNames(); got != "" {
		t.Fatalf("roleNames of an unrestricted principal %q", got)
	}
	p := &prepared{stmt: dialect.Statement{Source: "SELECT v FROM t WHERE id = 42"}}
	fp, text := s.normalized(p)
	wfp, wtext := srv.normalize(p.stmt.Source)
	if fp != wfp || text != wtext || text != "SELECT v FROM t WHERE id = ?" {
		t.Fatalf("normalized %q %q, want %q %q", fp, text, wfp, wtext)
	}
	p.stmt.Source = "SELECT w FROM t WHERE id = 'x'"
	fp, text = s.normalized(p)
	wfp, wtext = srv.normalize(p.stmt.Source)
	if fp != wfp || text != wtext || text != "SELECT w FROM t WHERE id = ?" {
		t.Fatalf("normalized after a new source %q %q, want %q %q", fp, text, wfp, wtext)
	}
}

type fakeAddrConn struct {
	net.Conn
	addr net.Addr
}

func (f fakeAddrConn) RemoteAddr() net.Addr { return f.addr }

// TestBindableMatchesBindExpr: Bind refuses exactly the values the engine
// bindings (built later, on the engine path only) could not take.
func TestBindableMatchesBindExpr(t *testing.T) {
	vals := []any{nil, true, int64(-3), int32(4), int16(5), 6, float32(1.5), float64(2.5),
		math.NaN(), math.Inf(1), math.Inf(-1), float32(math.Inf(1)), decimal.RequireFromString("1.25"),
		"s", []byte{1, 2}, time.Unix(0, 0), net.ParseIP("10.0.0.1"), int8(1), uint64(9), struct{}{}, []int{1}}
	for _, v := range vals {
		_, werr := bindExpr(v)
		gerr := bindable(v)
		if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
			t.Fatalf("%T %v: bindExpr error %v, bindable error %v", v, v, werr, gerr)
		}
	}
	p := &portal{values: []any{int64(7), "x"}}
	b, err := p.engineBindings()
	if err != nil || len(b) != 2 || b["v1"] == nil || b["v2"] == nil {
		t.Fatalf("bindings %v %v", b, err)
	}
	if b2, _ := p.engineBindings(); len(b2) != 2 {
		t.Fatal("bindings not kept")
	}
	if b, err := (&portal{}).engineBindings(); b != nil || err != nil {
		t.Fatalf("bindings without parameters %v %v", b, err)
	}
}

// TestLookupContextReuse: the fast path's statement context is cancelable
// while a lookup runs (CancelRequest, shutdown), is made anew after a
// cancel fired, is reused otherwise, and a statement_timeout gets a
// context of its own that its release cancels.
func TestLookupContextReuse(t *testing.T) {
	c := &conn{}
	ctx1, release := c.lookupContext(0)
	c.cancelStatement() // a CancelRequest while the lookup runs
	if ctx1.Err() == nil {
		t.Fatal("a cancel while the lookup ran did not reach its context")
	}
	release()

	ctx2, release := c.lookupContext(0)
	if ctx2.Err() != nil || ctx2 == ctx1 {
		t.Fatal("the lookup after a canceled one got the canceled context")
	}
	release()
	c.cancelStatement() // a late cancel, after the lookup ended
	if ctx2.Err() != nil {
		t.Fatal("a cancel after the lookup ended canceled the kept context")
	}

	ctx3, release := c.lookupContext(0)
	if ctx3 != ctx2 {
		t.Fatal("the context was not reused")
	}
	release()

	ctx4, release := c.lookupContext(time.Hour)
	if _, ok := ctx4.Deadline(); !ok || ctx4 == ctx3 {
		t.Fatal("statement_timeout did not give the lookup a context with a deadline")
	}
	release()
	if ctx4.Err() == nil {
		t.Fatal("releasing a timed lookup did not cancel its context")
	}
	if ctx3.Err() != nil {
		t.Fatal("the timed lookup canceled the kept context")
	}
}
