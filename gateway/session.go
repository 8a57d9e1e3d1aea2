package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/vt/sqlparser"
	"github.com/jackc/pgproto3/v2"
	"github.com/shopspring/decimal"

	"github.com/dualgate/dualgate/gateway/dialect"
	"github.com/dualgate/dualgate/gateway/pgerror"
	"github.com/dualgate/dualgate/gateway/pgfunc"
	"github.com/dualgate/dualgate/gateway/pgtypes"
)

// session is the state of one client: settings, transaction status,
// prepared statements and portals. It is owned by the connection goroutine.
type session struct {
	c        *conn
	eng      *engineSession
	settings *settings
	defaults map[string]string // values RESET returns to
	codec    pgtypes.Codec

	tx         byte              // 'I' idle, 'T' in a transaction, 'E' failed transaction
	txSettings map[string]string // settings at BEGIN, restored by ROLLBACK
	localUndo  map[string]string // values before SET LOCAL, restored at transaction end

	prepared map[string]*prepared
	portals  map[string]*portal
	// sparePortal is the unnamed portal the last Sync dropped, kept for
	// the next Bind to it: a driver's every extended-protocol statement
	// binds the unnamed portal and ends with Sync, and reusing its struct,
	// value and format slices saves three allocations a statement.
	sparePortal *portal
	skipToSync  bool

	rowBuf    []byte        // reused DataRow encoding buffer
	fastIdx   []int         // reused by the fast path: result column positions
	fastKey   []any         // reused by the fast path: the key looked up
	fastOut   []any         // reused by the fast path: the row sent
	lastLabel label         // label of the last result (dualgate.last_result), if labelSeq > 0
	labelSeq  uint64        // results labelled so far
	labelMsgs labelMessages // the last label's wire form (labels.go)
	obs       stmtObservation
	acl       *principal // who the session is, for access control and masks (access.go)
	aud       auditState // the audited statement's completion (audit.go)
	audRoles  struct {   // roleNames' cache (audit.go)
		of    *principal
		names string
		ok    bool
	}
	fwd *forwarding // sidecar role: the link to the primary (forward.go); nil otherwise
}

// prepared is a statement made by Parse.
type prepared struct {
	stmt      dialect.Statement
	params    []uint32 // parameter types, after inference
	described bool
	fields    []pgproto3.FieldDescription // result columns, nil if none

	// The audit fingerprint and masked text of stmt.Source (audit.go).
	normOK                    bool
	normSrc, normFP, normText string

	// fastOIDs are the type OIDs of fastFields (fastpath.go), the
	// result fields the fast path last answered with.
	fastFields []pgproto3.FieldDescription
	fastOIDs   []uint32
	// servingLabel is the fast path's last label (labels.go).
	servingLabel cachedServingLabel
	// rowDesc is the RowDescription last sent for a portal (describe).
	rowDesc rowDescription
}

// portal is a bound statement, possibly partly executed (PortalSuspended).
type portal struct {
	prep     *prepared
	bindings map[string]sqlparser.Expr
	values   []any   // the decoded parameters, for the fast path
	formats  []int16 // result format codes as sent in Bind

	cursor  *cursor // open result while suspended
	done    bool
	started time.Time // first Execute, for Metrics
}

// cursor is an open engine result being sent to the client.
type cursor struct {
	sctx    *sql.Context
	iter    sql.RowIter
	oids    []uint32
	mods    []int32 // rowMods: per-column encoding, nil if no column needs one
	formats []int16
	sent    int64
	release func()
	label   *label
	extra   []any // label column values appended to each row
}

func newSession(c *conn, startup map[string]string) (*session, error) {
	es, err := c.srv.eng.newSession(c.id, c.user, c.nc.RemoteAddr().String())
	if err != nil {
		return nil, err
	}
	s := &session{c: c, eng: es, settings: newSettings(c.srv.cfg.Version), tx: 'I',
		prepared: map[string]*prepared{}, portals: map[string]*portal{}}
	s.settings.vals["session_authorization"] = c.user
	if f := c.srv.cfg.Forward; f != nil {
		s.fwd = newForwarding(f, c.user, startup)
	}
	s.acl = c.srv.cfg.Access.principal(c.user, c.srv.cfg.Trust)
	c.srv.eng.setMasks(c.id, s.acl, c.log)
	db := startup["database"]
	if db == "" {
		db = c.user
	}
	if err := es.setUserVar(pgfunc.DatabaseVar, db, types.LongText); err != nil {
		return nil, err
	}
	if c.srv.cfg.Trust {
		s.settings.vals["is_superuser"] = "on"
	}
	for k, v := range startup {
		switch k {
		case "user", "database", "replication":
			continue
		case "options":
			if err := s.applyOptions(v); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := s.settings.set(k, v); err != nil {
			return nil, err
		}
	}
	s.defaults = s.settings.clone()
	if err := s.settingChanged("timezone"); err != nil {
		return nil, err
	}
	if err := s.settingChanged("search_path"); err != nil {
		return nil, err
	}
	_ = s.settingChanged("extra_float_digits")
	return s, nil
}

// applyOptions applies the startup `options` parameter (-c name=value ...).
func (s *session) applyOptions(opts string) error {
	f := strings.Fields(opts)
	for i := 0; i < len(f); i++ {
		kv := f[i]
		if kv == "-c" && i+1 < len(f) {
			i++
			kv = f[i]
		} else if !strings.HasPrefix(kv, "--") {
			continue
		} else {
			kv = strings.TrimPrefix(kv, "--")
		}
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			return pgerror.New(pgerror.SyntaxError, "invalid startup option %q: use -c name=value", kv)
		}
		if _, err := s.settings.set(strings.ReplaceAll(name, "-", "_"), val); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) close() {
	for _, p := range s.portals {
		p.closeCursor()
	}
	s.discardWrites() // a transaction left open by a closed connection
	s.fwd.close()
	s.c.srv.eng.setMasks(s.c.id, nil, s.c.log)
	s.eng.close()
}

// settingChanged applies a setting's side effects after it changed.
func (s *session) settingChanged(key string) error {
	switch strings.ToLower(key) {
	case "timezone":
		loc, err := loadLocation(s.settings.get("timezone"))
		if err != nil {
			return pgerror.New(pgerror.InvalidParameterValue, "%v", err)
		}
		s.codec.TimeZone = loc
		if err := s.eng.setUserVar(pgfunc.TimeZoneVar, s.settings.get("timezone"), types.LongText); err != nil {
			return err
		}
	case "extra_float_digits":
		n, _ := strconv.Atoi(s.settings.get("extra_float_digits"))
		s.codec.ExtraFloatDigits = n
	case "search_path":
		s.eng.sess.SetCurrentDatabase(s.currentSchema())
	case "dualgate.as_of":
		// Canonical tables read this engine variable to serve every
		// statement of the session at that commit (empty: head).
		v := s.settings.get("dualgate.as_of")
		if v != "" {
			if clock := s.c.srv.cfg.Clock; clock != nil {
				if _, err := clock.Resolve(context.Background(), sqlLiteral(v)); err != nil {
					return pgerror.New(pgerror.InvalidParameterValue, "dualgate.as_of = %q: %v", v, err).
						WithHint("use a commit id, a commit hash or unique prefix, HEAD, HEAD~n, or a timestamp at or after the first commit")
				}
			}
		}
		return s.eng.setUserVar(AsOfVar, v, types.LongText)
	}
	return nil
}

// currentSchema is the first schema of search_path that exists.
func (s *session) currentSchema() string {
	for _, p := range strings.Split(s.settings.get("search_path"), ",") {
		p = strings.Trim(strings.TrimSpace(p), `"`)
		if p == "" || p == "$user" {
			continue
		}
		if s.eng.hasSchema(context.Background(), p) {
			return p
		}
	}
	return "public"
}

// simpleQuery runs a Query message: every statement in it, stopping at the
// first error, then ReadyForQuery.
func (s *session) simpleQuery(text string) error {
	if s.fwd != nil {
		return s.forwardQuery(text)
	}
	stmts, err := s.eng.parse(text)
	s.auditUnparsed(text, err) // audit.go: a no-op unless parsing failed
	if err == nil && len(stmts) == 0 {
		err = s.c.send(&pgproto3.EmptyQueryResponse{})
	}
	if err != nil {
		if err := s.fail(err, text); err != nil {
			return err
		}
		return s.ready()
	}
	for i := range stmts {
		p := &portal{prep: &prepared{stmt: stmts[i]}}
		if err := s.runPortal(p, 0, true); err != nil {
			p.closeCursor()
			if isWriteError(err) {
				return err
			}
			if err := s.fail(err, stmts[i].Source); err != nil {
				return err
			}
			break
		}
	}
	return s.ready()
}

// writeError marks failures to write to the client, which end the
// connection instead of becoming ErrorResponses.
type writeError struct{ err error }

func (w writeError) Error() string { return "write to client: " + w.err.Error() }
func (w writeError) Unwrap() error { return w.err }

func isWriteError(err error) bool {
	var we writeError
	return errors.As(err, &we)
}

// fail reports a statement error: logs it, sends ErrorResponse, and marks
// an open transaction failed.
func (s *session) fail(err error, query string) error {
	if errors.Is(err, errRelayed) { // the primary's ErrorResponse reached the client already
		return nil
	}
	pe := asPG(err)
	ev := s.c.log.Info()
	if pe.Code == pgerror.InternalError {
		ev = s.c.log.Error()
	}
	ev = ev.Str("sqlstate", pe.Code).Str("error", pe.Message)
	if s.c.log.GetLevel() <= -1 || s.c.log.Debug().Enabled() {
		ev = ev.Str("query", query)
	}
	ev.Msg("statement failed")
	if m := s.c.srv.cfg.Metrics; m != nil {
		s.statementDone(m, pe.Code)
	}
	if s.tx == 'T' {
		s.tx = 'E'
	}
	if s.tx == 'I' {
		s.discardWrites()
	}
	return s.c.sendError(pe)
}

func (s *session) ready() error {
	if err := s.c.send(&pgproto3.ReadyForQuery{TxStatus: s.tx}); err != nil {
		return err
	}
	return s.c.flush()
}

// extended finishes an extended-protocol message: on error, reply with
// ErrorResponse and skip everything until Sync.
func (s *session) extended(err error) error {
	if err == nil || isWriteError(err) {
		return err
	}
	s.skipToSync = true
	if err := s.fail(err, ""); err != nil {
		return err
	}
	// Flushed at once, as Postgres does: whoever waits for this message's
	// reply before sending Sync (a sidecar forwarding it) sees the error.
	return s.c.flush()
}

func (s *session) parse(m *pgproto3.Parse) error {
	if s.fwd != nil {
		if handled, err := s.forwardParse(m); handled {
			return err
		}
	}
	if m.Name != "" {
		if _, dup := s.prepared[m.Name]; dup {
			return pgerror.New("42P05", "prepared statement %q already exists", m.Name)
		}
	}
	stmts, err := s.eng.parse(m.Query)
	if err != nil {
		s.auditUnparsed(m.Query, err)
		return err
	}
	if len(stmts) > 1 {
		return pgerror.New(pgerror.SyntaxError, "cannot insert multiple commands into a prepared statement")
	}
	p := &prepared{}
	if len(stmts) == 1 {
		p.stmt = stmts[0]
	}
	n := len(p.stmt.Params)
	if len(m.ParameterOIDs) > n {
		n = len(m.ParameterOIDs)
	}
	p.params = make([]uint32, n)
	copy(p.params, p.stmt.Params)
	for i, oid := range m.ParameterOIDs {
		if oid != 0 {
			p.params[i] = oid
		}
	}
	p.stmt.Params = p.params
	s.prepared[m.Name] = p
	return s.c.send(&pgproto3.ParseComplete{})
}

// describeStatement infers parameter and result types once per statement.
func (s *session) describeStatement(p *prepared) error {
	if p.described {
		return nil
	}
	if s.tx == 'E' {
		return errAborted()
	}
	ctx, done := s.c.statementContext(s.settings.statementTimeout())
	defer done()
	sch, params, err := s.eng.describe(ctx, &p.stmt)
	if err != nil {
		return err
	}
	p.params = params
	p.fields = nil
	switch p.stmt.Kind {
	case dialect.KindQuery:
		if sch != nil {
			p.fields = s.resultFields(&p.stmt, sch)
		}
	case dialect.KindShow:
		p.fields = s.showFields(p.stmt.Show)
	case dialect.KindCall:
		p.fields = s.callFields(&p.stmt)
	}
	p.described = true
	return nil
}

func (s *session) bind(m *pgproto3.Bind) error {
	if s.fwd != nil {
		if handled, err := s.forwardBind(m); handled {
			return err
		}
	}
	p, ok := s.prepared[m.PreparedStatement]
	if !ok {
		return pgerror.New(pgerror.InvalidSQLStatementName, "prepared statement %q does not exist", m.PreparedStatement)
	}
	if m.DestinationPortal != "" {
		if _, dup := s.portals[m.DestinationPortal]; dup {
			return pgerror.New("42P03", "portal %q already exists", m.DestinationPortal)
		}
	}
	if len(m.Parameters) != len(p.params) {
		return pgerror.New(pgerror.ProtocolViolation, "bind message supplies %d parameters, but prepared statement %q requires %d", len(m.Parameters), m.PreparedStatement, len(p.params))
	}
	if len(m.ParameterFormatCodes) > 1 && len(m.ParameterFormatCodes) != len(m.Parameters) {
		return pgerror.New(pgerror.ProtocolViolation, "bind message has %d parameter formats but %d parameters", len(m.ParameterFormatCodes), len(m.Parameters))
	}
	if err := s.describeStatement(p); err != nil {
		return err
	}
	// The engine's bindings are built when the engine runs the portal
	// (portal.engineBindings): the fast path reads values only. Every
	// value is checked here, so a bad one still fails the Bind.
	//
	// A Bind replacing a portal (the unnamed one, every statement of a
	// driver's extended protocol) reuses its struct, values and format
	// codes: the session alone holds portals. As in PostgreSQL, the old
	// portal is gone from here on, even if this Bind fails.
	old := s.portals[m.DestinationPortal]
	reuse := old
	if reuse == nil && m.DestinationPortal == "" {
		reuse, s.sparePortal = s.sparePortal, nil // the one the last Sync dropped
	}
	var values []any
	if reuse != nil {
		reuse.closeCursor()
		values = reuse.values[:0]
		clear(reuse.values[:cap(reuse.values)]) // no stale boxed values kept alive
	}
	fail := func(err error) error {
		if old != nil {
			delete(s.portals, m.DestinationPortal)
		}
		return err
	}
	for i, raw := range m.Parameters {
		f := formatAt(m.ParameterFormatCodes, i)
		var v any
		if raw != nil {
			var err error
			v, err = s.codec.Decode(p.params[i], f, raw)
			if err != nil {
				pe := asPG(err)
				pe.Message = fmt.Sprintf("parameter $%d: %s", i+1, pe.Message)
				return fail(pe)
			}
		}
		if err := bindable(v); err != nil {
			return fail(pgerror.New(pgerror.InvalidParameterValue, "parameter $%d: %v", i+1, err))
		}
		values = append(values, v)
	}
	if len(values) == 0 {
		values = nil // engineBindings: no parameters
	}
	if reuse != nil {
		*reuse = portal{prep: p, values: values, formats: append(reuse.formats[:0], m.ResultFormatCodes...)}
		s.portals[m.DestinationPortal] = reuse
	} else {
		s.portals[m.DestinationPortal] = &portal{prep: p, values: values, formats: append([]int16(nil), m.ResultFormatCodes...)}
	}
	return s.c.send(&pgproto3.BindComplete{})
}

// formatAt applies the Bind format-code rule: none means text, one applies
// to all, otherwise one per value.
func formatAt(codes []int16, i int) int16 {
	switch len(codes) {
	case 0:
		return 0
	case 1:
		return codes[0]
	}
	if i < len(codes) {
		return codes[i]
	}
	return 0
}

// engineBindings are the portal's parameters as engine literals (v1, v2,
// ...), built on first use; nil without parameters. Bind checked every
// value with bindable, so building them cannot fail.
func (p *portal) engineBindings() (map[string]sqlparser.Expr, error) {
	if p.bindings != nil || len(p.values) == 0 {
		return p.bindings, nil
	}
	b := make(map[string]sqlparser.Expr, len(p.values))
	for i, v := range p.values {
		e, err := bindExpr(v)
		if err != nil {
			return nil, pgerror.New(pgerror.InvalidParameterValue, "parameter $%d: %v", i+1, err)
		}
		b["v"+strconv.Itoa(i+1)] = e
	}
	p.bindings = b
	return b, nil
}

// bindable reports the error bindExpr would return for v, without
// building the literal.
func bindable(v any) error {
	switch x := v.(type) {
	case nil, bool, int64, int32, int16, int, decimal.Decimal, string, []byte, time.Time, fmt.Stringer:
		return nil
	case float32:
		return floatBindable(float64(x))
	case float64:
		return floatBindable(x)
	}
	return fmt.Errorf("unsupported parameter value of type %T", v)
}

func floatBindable(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%v cannot be stored: the engine has no NaN or infinite floats", f)
	}
	return nil
}

// bindExpr turns a decoded parameter into an engine literal.
func bindExpr(v any) (sqlparser.Expr, error) {
	switch x := v.(type) {
	case nil:
		return &sqlparser.NullVal{}, nil
	case bool:
		return sqlparser.BoolVal(x), nil
	case int64:
		return sqlparser.NewIntVal([]byte(strconv.FormatInt(x, 10))), nil
	case int32:
		return sqlparser.NewIntVal([]byte(strconv.FormatInt(int64(x), 10))), nil
	case int16:
		return sqlparser.NewIntVal([]byte(strconv.FormatInt(int64(x), 10))), nil
	case int:
		return sqlparser.NewIntVal([]byte(strconv.Itoa(x))), nil
	case float32:
		return floatExpr(float64(x))
	case float64:
		return floatExpr(x)
	case decimal.Decimal:
		return sqlparser.NewFloatVal([]byte(x.String())), nil
	case string:
		return sqlparser.NewStrVal([]byte(x)), nil
	case []byte:
		return sqlparser.NewHexVal([]byte(hex.EncodeToString(x))), nil
	case time.Time:
		return sqlparser.NewStrVal([]byte(x.UTC().Format("2006-01-02 15:04:05.999999"))), nil
	case fmt.Stringer:
		return sqlparser.NewStrVal([]byte(x.String())), nil
	}
	return nil, fmt.Errorf("unsupported parameter value of type %T", v)
}

func floatExpr(f float64) (sqlparser.Expr, error) {
	if err := floatBindable(f); err != nil {
		return nil, err
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	return sqlparser.NewFloatVal([]byte(s)), nil
}

func (s *session) describe(m *pgproto3.Describe) error {
	if s.fwd != nil {
		if handled, err := s.forwardDescribe(m); handled {
			return err
		}
	}
	switch m.ObjectType {
	case 'S':
		p, ok := s.prepared[m.Name]
		if !ok {
			return pgerror.New(pgerror.InvalidSQLStatementName, "prepared statement %q does not exist", m.Name)
		}
		if err := s.describeStatement(p); err != nil {
			return err
		}
		if err := s.c.send(&pgproto3.ParameterDescription{ParameterOIDs: p.params}); err != nil {
			return err
		}
		return s.sendFields(p.fields, nil)
	case 'P':
		pt, ok := s.portals[m.Name]
		if !ok {
			return pgerror.New(pgerror.InvalidCursorName, "portal %q does not exist", m.Name)
		}
		if err := s.describeStatement(pt.prep); err != nil {
			return err
		}
		return s.sendPortalFields(pt.prep, pt.formats)
	}
	return pgerror.New(pgerror.ProtocolViolation, "invalid Describe object type %q", m.ObjectType)
}

// sendPortalFields is sendFields of a prepared statement's result
// columns: the RowDescription is kept on p for the formats it was last
// sent with (a client describing each execution's portal, as libpq does,
// gets the same bytes every time).
func (s *session) sendPortalFields(p *prepared, formats []int16) error {
	fields := p.fields
	if fields == nil {
		return s.c.send(&pgproto3.NoData{})
	}
	rd := &p.rowDesc
	if !rd.ok || len(rd.fields) != len(fields) || &rd.fields[0] != &fields[0] || !slices.Equal(rd.formats, formats) {
		out := make([]pgproto3.FieldDescription, len(fields))
		copy(out, fields)
		for i := range out {
			out[i].Format = formatAt(formats, i)
		}
		b, err := (&pgproto3.RowDescription{Fields: out}).Encode(rd.msg[:0])
		if err != nil {
			return fmt.Errorf("encode RowDescription: %w", err)
		}
		*rd = rowDescription{ok: true, fields: fields, formats: append(rd.formats[:0], formats...), msg: b}
	}
	if _, err := s.c.bw.Write(rd.msg); err != nil {
		return writeError{err}
	}
	return nil
}

// rowDescription is a prepared statement's RowDescription as last sent:
// for fields (compared by identity) with formats.
type rowDescription struct {
	ok      bool
	fields  []pgproto3.FieldDescription
	formats []int16
	msg     []byte
}

// sendFields sends RowDescription with the given result formats, or NoData.
func (s *session) sendFields(fields []pgproto3.FieldDescription, formats []int16) error {
	if fields == nil {
		return s.c.send(&pgproto3.NoData{})
	}
	out := make([]pgproto3.FieldDescription, len(fields))
	copy(out, fields)
	for i := range out {
		out[i].Format = formatAt(formats, i)
	}
	return s.c.send(&pgproto3.RowDescription{Fields: out})
}

func (s *session) execute(m *pgproto3.Execute) error {
	if s.fwd != nil {
		if handled, err := s.forwardExecute(m); handled {
			return err
		}
	}
	p, ok := s.portals[m.Portal]
	if !ok {
		return pgerror.New(pgerror.InvalidCursorName, "portal %q does not exist", m.Portal)
	}
	if p.done {
		return s.c.send(&pgproto3.CommandComplete{CommandTag: []byte(p.prep.stmt.Tag)})
	}
	err := s.runPortal(p, int64(m.MaxRows), false)
	if err != nil {
		p.closeCursor()
		p.done = true
	}
	return err
}

func (s *session) closeObject(m *pgproto3.Close) error {
	if s.fwd != nil {
		if handled, err := s.forwardClose(m); handled {
			return err
		}
	}
	switch m.ObjectType {
	case 'S':
		delete(s.prepared, m.Name)
	case 'P':
		if p := s.portals[m.Name]; p != nil {
			p.closeCursor()
			delete(s.portals, m.Name)
		}
	default:
		return pgerror.New(pgerror.ProtocolViolation, "invalid Close object type %q", m.ObjectType)
	}
	return s.c.send(&pgproto3.CloseComplete{})
}

// sync ends an extended-protocol batch: outside an explicit transaction
// the implicit one ends and portals are dropped, as in Postgres.
func (s *session) sync() error {
	if s.fwd != nil {
		if err := s.forwardSync(); err != nil {
			return err
		}
	}
	if s.tx == 'I' {
		for name, p := range s.portals {
			p.closeCursor()
			delete(s.portals, name)
			if name == "" {
				s.sparePortal = p // nothing else holds it; the next Bind reuses it
			}
		}
	}
	return s.ready()
}

func (p *portal) closeCursor() {
	if p.cursor != nil {
		_ = p.cursor.iter.Close(p.cursor.sctx)
		p.cursor.release()
		p.cursor = nil
	}
}

func errAborted() error {
	return pgerror.New(pgerror.InFailedSQLTransaction, "current transaction is aborted, commands ignored until end of transaction block").
		WithHint("ROLLBACK (or ROLLBACK TO SAVEPOINT) to continue")
}

// runPortal executes (or continues) a portal. With describe, the row
// description is sent first (simple protocol). maxRows > 0 suspends the
// portal after that many rows.
func (s *session) runPortal(p *portal, maxRows int64, describe bool) (err error) {
	st := &p.prep.stmt
	if a := s.c.srv.cfg.Audit; a != nil {
		defer s.auditPortal(a, p, s.auditStart(p), &err)
	}
	if m := s.c.srv.cfg.Metrics; m != nil {
		s.observeExecution(p)
		defer func() {
			if err == nil && p.done {
				s.statementDone(m, "")
			} // failures are reported by fail
		}()
	}
	if p.cursor != nil {
		return s.sendRows(p, maxRows)
	}
	if s.tx == 'E' {
		switch st.Kind {
		case dialect.KindRollback, dialect.KindCommit, dialect.KindRollbackTo:
		default:
			return errAborted()
		}
	}
	if err := s.authorize(st); err != nil {
		return err
	}
	switch st.Kind {
	case dialect.KindEmpty:
		p.done = true
		return s.c.send(&pgproto3.EmptyQueryResponse{})
	case dialect.KindQuery, dialect.KindExec:
		return s.runEngine(p, maxRows, describe)
	case dialect.KindCopyFrom:
		p.done = true
		return s.copyFrom(st)
	case dialect.KindCopyTo:
		p.done = true
		return s.copyTo(st)
	case dialect.KindShow:
		p.done = true
		return s.show(st.Show, describe, p.formats)
	case dialect.KindCall:
		p.done = true
		b, err := p.engineBindings()
		if err != nil {
			return err
		}
		return s.call(st, b, describe, p.formats)
	}
	p.done = true
	tag, err := s.runSessionStatement(st)
	if err != nil {
		return err
	}
	return s.c.send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
}

// runSessionStatement runs statements the session handles itself and
// returns the command tag.
func (s *session) runSessionStatement(st *dialect.Statement) (string, error) {
	ctx := context.Background()
	switch st.Kind {
	case dialect.KindBegin:
		if s.tx != 'I' {
			return st.Tag, s.c.send(&pgproto3.NoticeResponse{Severity: "WARNING", SeverityUnlocalized: "WARNING", Code: pgerror.ActiveSQLTransaction, Message: "there is already a transaction in progress"})
		}
		if err := s.eng.exec(ctx, "START TRANSACTION"); err != nil {
			return "", err
		}
		s.tx = 'T'
		s.txSettings = s.settings.clone()
		return st.Tag, nil
	case dialect.KindCommit, dialect.KindRollback:
		if s.tx == 'I' {
			return st.Tag, s.c.send(&pgproto3.NoticeResponse{Severity: "WARNING", SeverityUnlocalized: "WARNING", Code: pgerror.NoActiveSQLTransaction, Message: "there is no transaction in progress"})
		}
		tag := st.Tag
		rollback := st.Kind == dialect.KindRollback || s.tx == 'E'
		if rollback {
			tag = "ROLLBACK"
			s.discardWrites()
			if err := s.eng.exec(ctx, "ROLLBACK"); err != nil {
				return "", err
			}
			if err := s.restoreSettings(s.txSettings); err != nil {
				return "", err
			}
		} else {
			if h := s.c.srv.cfg.Hooks; h != nil {
				if err := s.commitWrites(h); err != nil {
					s.discardWrites()
					_ = s.eng.exec(ctx, "ROLLBACK")
					s.tx, s.txSettings, s.localUndo = 'I', nil, nil
					return "", err
				}
			}
			if err := s.eng.exec(ctx, "COMMIT"); err != nil {
				s.tx = 'I'
				return "", err
			}
		}
		if err := s.restoreSettings(s.localUndo); err != nil {
			return "", err
		}
		s.tx, s.txSettings, s.localUndo = 'I', nil, nil
		return tag, nil
	case dialect.KindSavepoint, dialect.KindRelease, dialect.KindRollbackTo:
		if s.tx == 'I' {
			return "", pgerror.New(pgerror.NoActiveSQLTransaction, "%s can only be used in transaction blocks", st.Tag)
		}
		verb := map[dialect.Kind]string{dialect.KindSavepoint: "SAVEPOINT ", dialect.KindRelease: "RELEASE SAVEPOINT ", dialect.KindRollbackTo: "ROLLBACK TO SAVEPOINT "}[st.Kind]
		if err := s.eng.exec(ctx, verb+quoteIdent(st.Savepoint)); err != nil {
			pe := asPG(err)
			if strings.Contains(strings.ToLower(pe.Message), "savepoint") {
				return "", pgerror.New(pgerror.InvalidSavepointSpec, "savepoint %q does not exist", st.Savepoint)
			}
			return "", err
		}
		if st.Kind == dialect.KindRollbackTo {
			s.tx = 'T'
		}
		return st.Tag, nil
	case dialect.KindSet, dialect.KindReset:
		return st.Tag, s.set(st.Set)
	case dialect.KindDiscard:
		for name, p := range s.portals {
			p.closeCursor()
			delete(s.portals, name)
		}
		s.prepared = map[string]*prepared{}
		return st.Tag, s.restoreSettings(s.defaults)
	case dialect.KindDeallocate:
		name := st.Savepoint
		if name == "" || strings.EqualFold(name, "all") {
			s.prepared = map[string]*prepared{}
		} else if _, ok := s.prepared[name]; !ok {
			return "", pgerror.New(pgerror.InvalidSQLStatementName, "prepared statement %q does not exist", name)
		} else {
			delete(s.prepared, name)
		}
		return st.Tag, nil
	case dialect.KindNoop:
		return st.Tag, nil
	}
	return "", pgerror.Unsupported(fmt.Sprintf("statement kind %d", st.Kind))
}

// set runs SET and RESET.
func (s *session) set(set *dialect.Set) error {
	if set.All {
		return s.restoreSettings(s.defaults)
	}
	if set.Local && s.tx == 'I' {
		return s.c.send(&pgproto3.NoticeResponse{Severity: "WARNING", SeverityUnlocalized: "WARNING", Code: pgerror.NoActiveSQLTransaction, Message: "SET LOCAL can only be used in transaction blocks"})
	}
	key := strings.ToLower(set.Name)
	old, had := s.settings.vals[key]
	var def *settingDef
	var err error
	if set.Reset {
		def, err = s.settings.reset(set.Name, s.defaults)
	} else {
		def, err = s.settings.set(set.Name, strings.Join(set.Value, ", "))
	}
	if err != nil {
		return err
	}
	if err := s.settingChanged(key); err != nil {
		if had {
			s.settings.vals[key] = old
		} else {
			delete(s.settings.vals, key)
		}
		return err
	}
	if set.Local && had {
		if s.localUndo == nil {
			s.localUndo = map[string]string{}
		}
		if _, seen := s.localUndo[key]; !seen {
			s.localUndo[key] = old
		}
	}
	if def.report {
		return s.c.send(&pgproto3.ParameterStatus{Name: def.name, Value: s.settings.vals[key]})
	}
	return nil
}

// restoreSettings puts back saved values, reporting those clients track.
func (s *session) restoreSettings(saved map[string]string) error {
	for k, v := range saved {
		if s.settings.vals[k] == v {
			continue
		}
		s.settings.vals[k] = v
		if err := s.settingChanged(k); err != nil {
			return err
		}
		if d, ok := settingDefs[k]; ok && d.report {
			if err := s.c.send(&pgproto3.ParameterStatus{Name: d.name, Value: v}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *session) showFields(name string) []pgproto3.FieldDescription {
	if name == "all" {
		return []pgproto3.FieldDescription{textField("name"), textField("setting"), textField("description")}
	}
	col, _, err := s.settings.show(name)
	if err != nil {
		col = name
	}
	return []pgproto3.FieldDescription{textField(col)}
}

func textField(name string) pgproto3.FieldDescription {
	return pgproto3.FieldDescription{Name: []byte(name), DataTypeOID: pgtypes.Text, DataTypeSize: -1, TypeModifier: -1}
}

// show answers SHOW name / SHOW ALL.
func (s *session) show(name string, describe bool, formats []int16) error {
	var rows [][]any
	if name == "all" {
		for _, r := range s.settings.all() {
			rows = append(rows, []any{r[0], r[1], r[2]})
		}
	} else {
		_, v, err := s.settings.show(name)
		if err != nil {
			return err
		}
		rows = [][]any{{v}}
	}
	if describe {
		if err := s.sendFields(s.showFields(name), nil); err != nil {
			return err
		}
	}
	oids := make([]uint32, len(rows[0]))
	for i := range oids {
		oids[i] = pgtypes.Text
	}
	for _, r := range rows {
		if err := s.sendRow(r, oids, formats); err != nil {
			return err
		}
	}
	return s.c.send(&pgproto3.CommandComplete{CommandTag: []byte("SHOW")})
}

// runEngine runs an engine statement of a portal and sends its results.
func (s *session) runEngine(p *portal, maxRows int64, describe bool) error {
	st := &p.prep.stmt
	if st.Lookup != nil && s.settings.get("dualgate.fast_path") == "on" {
		if handled, err := s.fastLookup(p, describe); handled {
			return err
		}
	}
	ctx, release := s.c.statementContext(s.settings.statementTimeout())
	l := s.labelFor(ctx, st)
	if err := projectionWrite(st, &l); err != nil {
		release()
		return err
	}
	if err := s.checkStaleness(&l); err != nil {
		if s.fwd != nil && isStaleFallback(err) { // a sidecar has no canonical: the primary computes it
			release()
			return s.forwardStale(p, describe)
		}
		if st, l, err = s.fromCanonical(ctx, st, err); err != nil { // stale_policy = canonical
			release()
			return err
		}
	}
	bindings, err := p.engineBindings()
	if err != nil {
		release()
		return err
	}
	sctx := s.eng.context(ctx, st.Engine)
	sch, iter, err := s.eng.run(sctx, st.Engine, bindings)
	if err != nil {
		err = contextError(sctx, err)
		release()
		return err
	}
	if types.IsOkResultSchema(sch) {
		row, err := iter.Next(sctx)
		_ = iter.Close(sctx)
		if err != nil && !errors.Is(err, io.EOF) {
			err = contextError(sctx, err)
			release()
			return err
		}
		release()
		var n uint64
		if row != nil {
			n = types.GetOkResult(row).RowsAffected
		}
		s.afterDDL(st)
		p.done = true
		return s.complete(commandTag(st.Tag, n), &l)
	}
	labelCols := s.settings.get("dualgate.label_columns") == "on"
	var fields []pgproto3.FieldDescription
	if p.prep.described && p.prep.fields != nil && len(p.prep.fields) == len(sch)+labelColumnCount(labelCols) {
		fields = p.prep.fields
	} else {
		fields = s.resultFields(st, sch)
	}
	oids := make([]uint32, len(fields))
	for i, f := range fields {
		oids[i] = f.DataTypeOID
	}
	mods := rowMods(fields, sch)
	if describe {
		if err := s.sendFields(fields, p.formats); err != nil {
			_ = iter.Close(sctx)
			release()
			return err
		}
	}
	p.cursor = &cursor{sctx: sctx, iter: iter, oids: oids, mods: mods, formats: p.formats, release: release, label: &l}
	if labelCols {
		p.cursor.extra = []any{l.Authority, int64(l.AsOf)}
	}
	return s.sendRows(p, maxRows)
}

// afterDDL records declared column types of created tables.
func (s *session) afterDDL(st *dialect.Statement) {
	schema := s.currentSchema()
	if st.Create != nil {
		s.eng.eng.declare(schema, st.Create)
	}
	if len(st.Drop) > 0 {
		s.eng.eng.forget(schema, st.Drop)
	}
}

// sendRows streams rows of the portal's open cursor, suspending after
// maxRows (if > 0).
func (s *session) sendRows(p *portal, maxRows int64) error {
	cur := p.cursor
	var n int64
	for maxRows <= 0 || n < maxRows {
		row, err := cur.iter.Next(cur.sctx)
		if errors.Is(err, io.EOF) {
			tag := commandTag(p.prep.stmt.Tag, uint64(cur.sent))
			l := cur.label
			p.closeCursor()
			p.done = true
			return s.complete(tag, l)
		}
		if err != nil {
			return contextError(cur.sctx, err)
		}
		if len(cur.extra) > 0 {
			row = append(row[:len(row):len(row)], cur.extra...)
		}
		if err := s.sendRowMod(row, cur.oids, cur.mods, cur.formats); err != nil {
			return err
		}
		n++
		cur.sent++
	}
	return s.c.send(&pgproto3.PortalSuspended{})
}

// sendRow encodes one DataRow straight into the write buffer.
func (s *session) sendRow(row []any, oids []uint32, formats []int16) error {
	return s.sendRowMod(row, oids, nil, formats)
}

// plainNumeric marks in rowMods a numeric column of one of the engine's
// stand-ins for an unconstrained numeric (pgtypes.UnconstrainedNumeric).
const plainNumeric int32 = -2

// rowMods returns how sendRowMod encodes each column of a result, or nil
// when every column is encoded as is: a char(n) column's type modifier
// (values go out blank-padded to n characters, as PostgreSQL stores them;
// the engine's CHAR drops trailing blanks), plainNumeric for a plain
// numeric column (values go out without the trailing fraction zeros of
// the stand-in's scale: 1.5, not 1.500000000000000000000000000000), -1
// for the others. sch is the engine schema behind fields (nil: unknown).
func rowMods(fields []pgproto3.FieldDescription, sch sql.Schema) []int32 {
	var mods []int32
	for i, f := range fields {
		m := int32(-1)
		switch {
		case f.DataTypeOID == pgtypes.Bpchar && f.TypeModifier > 4:
			m = f.TypeModifier
		case f.DataTypeOID == pgtypes.Numeric && f.TypeModifier < 0 && i < len(sch) && pgtypes.UnconstrainedNumeric(sch[i].Type):
			m = plainNumeric
		}
		if m == -1 {
			continue
		}
		if mods == nil {
			mods = make([]int32, len(fields))
			for j := range mods {
				mods[j] = -1
			}
		}
		mods[i] = m
	}
	return mods
}

// trimDecimal drops a decimal's trailing fraction zeros.
func trimDecimal(v any) any {
	if d, ok := v.(decimal.Decimal); ok && d.Exponent() < 0 {
		if t, err := decimal.NewFromString(d.String()); err == nil { // String trims them
			return t
		}
	}
	return v
}

// sendRowMod is sendRow with rowMods's per-column encoding (nil: none).
func (s *session) sendRowMod(row []any, oids []uint32, mods []int32, formats []int16) error {
	b := append(s.rowBuf[:0], 'D', 0, 0, 0, 0, byte(len(row)>>8), byte(len(row)))
	for i, v := range row {
		if v == nil {
			b = append(b, 0xff, 0xff, 0xff, 0xff)
			continue
		}
		at := len(b)
		b = append(b, 0, 0, 0, 0)
		var err error
		if mods != nil && mods[i] >= 0 {
			b, err = s.codec.EncodeMod(b, oids[i], mods[i], formatAt(formats, i), v)
		} else if mods != nil && mods[i] == plainNumeric {
			b, err = s.codec.Encode(b, oids[i], formatAt(formats, i), trimDecimal(v))
		} else {
			b, err = s.codec.Encode(b, oids[i], formatAt(formats, i), v)
		}
		if err != nil {
			return pgerror.Wrap(pgerror.DataException, fmt.Errorf("column %d: %w", i+1, err))
		}
		n := len(b) - at - 4
		b[at], b[at+1], b[at+2], b[at+3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	}
	n := len(b) - 1
	b[1], b[2], b[3], b[4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	s.rowBuf = b
	if _, err := s.c.bw.Write(b); err != nil {
		return writeError{err}
	}
	return nil
}

// fields builds the RowDescription of an engine result: Postgres types
// from the translator's hints, declared table types, then engine types.
func (s *session) fields(st *dialect.Statement, sch sql.Schema, formats []int16) []pgproto3.FieldDescription {
	out := make([]pgproto3.FieldDescription, len(sch))
	hints := alignHints(st, len(sch))
	sources := alignSources(st, len(sch))
	var aggs []uint32
	for _, c := range sch {
		if c.Type == types.Float64 && st.Engine != "" {
			aggs = s.eng.aggregateTypes(s.eng.context(context.Background(), st.Engine), st.Engine)
			break
		}
	}
	// The engine names a column's source by the query's alias (FROM
	// pg_attribute a); the declared types are by relation name.
	var aliases map[string]dialect.Relation
	for _, r := range st.Relations {
		if r.Alias != "" {
			if aliases == nil {
				aliases = map[string]dialect.Relation{}
			}
			aliases[strings.ToLower(r.Alias)] = r
		}
	}
	for i, c := range sch {
		if r, ok := aliases[strings.ToLower(c.Source)]; ok && c.Source != "" {
			cc := *c
			cc.Source = r.Name
			if r.Schema != "" {
				cc.DatabaseSource = r.Schema
			} else if cc.DatabaseSource == "" {
				cc.DatabaseSource = s.currentSchema()
			}
			c = &cc
		}
		typed := c
		if sources != nil && sources[i] != "" {
			// An aliased column: its declared type is by its own name, and
			// the engine may not name its source (then it is the
			// statement's only relation, if it has one).
			cc := *c
			cc.Name = sources[i]
			if cc.Source == "" && len(st.Relations) == 1 {
				r := st.Relations[0]
				cc.Source, cc.DatabaseSource = r.Name, r.Schema
				if cc.DatabaseSource == "" {
					cc.DatabaseSource = s.currentSchema()
				}
			}
			typed = &cc
		}
		oid := s.eng.eng.columnOID(typed)
		typmod := int32(-1)
		if hints != nil && hints[i] != 0 {
			oid = hints[i]
		} else if len(aggs) == len(sch) && aggs[i] != 0 && c.Type == types.Float64 {
			oid = aggs[i]
		} else {
			typmod = pgtypes.TypmodFromEngine(c.Type)
		}
		tableOID, attnum := s.eng.eng.columnOrigin(s.eng, c)
		out[i] = pgproto3.FieldDescription{
			Name:                 []byte(c.Name),
			TableOID:             tableOID,
			TableAttributeNumber: attnum,
			DataTypeOID:          oid,
			DataTypeSize:         pgtypes.Size(oid),
			TypeModifier:         typmod,
			Format:               formatAt(formats, i),
		}
	}
	return out
}

// resultFields is the RowDescription of a query result, with the label
// columns _authority and _as_of appended when dualgate.label_columns is on.
func (s *session) resultFields(st *dialect.Statement, sch sql.Schema) []pgproto3.FieldDescription {
	fields := s.fields(st, sch, nil)
	if s.settings.get("dualgate.label_columns") == "on" {
		fields = append(fields, textField("_authority"),
			pgproto3.FieldDescription{Name: []byte("_as_of"), DataTypeOID: pgtypes.Int8, DataTypeSize: 8, TypeModifier: -1})
	}
	return fields
}

func labelColumnCount(on bool) int {
	if on {
		return 2
	}
	return 0
}

// complete ends a statement: in autocommit, writes it buffered become
// durable (and their notices are sent) before the client hears of
// success; then the result's label and CommandComplete.
func (s *session) complete(tag string, l *label) error {
	s.aud = auditState{tag: tag}
	if l != nil {
		s.aud.label, s.aud.labeled = *l, true
	}
	if h := s.c.srv.cfg.Hooks; h != nil && s.tx == 'I' {
		if err := s.commitWrites(h); err != nil {
			return err
		}
	}
	if l != nil {
		if err := s.sendLabel(*l); err != nil {
			return err
		}
	}
	return s.c.commandComplete(tag)
}

// commitWrites makes the session's buffered writes durable and relays the
// pipeline's notices.
func (s *session) commitWrites(h TxHooks) error {
	notices, err := h.Commit(context.Background(), s.c.id, SessionInfo{User: s.c.user, CommitMessage: s.settings.get("dualgate.commit_message")})
	if err != nil {
		return err
	}
	for _, n := range notices {
		if err := s.c.notice(pgerror.SuccessfulCompletion, n); err != nil {
			return err
		}
	}
	return nil
}

// discardWrites drops writes buffered by a failed statement or transaction.
func (s *session) discardWrites() {
	if h := s.c.srv.cfg.Hooks; h != nil {
		h.Rollback(s.c.id)
	}
}

// alignHints maps the translator's per-target-list result types onto n
// result columns, expanding around a single `*`.
func alignHints(st *dialect.Statement, n int) []uint32 {
	out := alignTargets(st.ResultTypes, st.StarIndex, n)
	if out == nil || st.StarIndex < 0 || st.StarTypes == nil {
		return out
	}
	// The star's own columns, when the translator typed them.
	if n-(len(st.ResultTypes)-1) == len(st.StarTypes) {
		for j, t := range st.StarTypes {
			if t != 0 {
				out[st.StarIndex+j] = t
			}
		}
	}
	return out
}

// alignSources maps the translator's aliased-column names onto n result
// columns like alignHints.
func alignSources(st *dialect.Statement, n int) []string {
	return alignTargets(st.ResultColumns, st.StarIndex, n)
}

// alignTargets maps per-target-list facts onto n result columns,
// expanding around the `*` at star (-1: none).
func alignTargets[T any](rt []T, star, n int) []T {
	if rt == nil {
		return nil
	}
	out := make([]T, n)
	if star < 0 {
		if len(rt) != n {
			return nil
		}
		copy(out, rt)
		return out
	}
	for i := 0; i < star && i < n; i++ {
		out[i] = rt[i]
	}
	after := rt[star+1:]
	for j := range after {
		k := n - len(after) + j
		if k >= 0 && k < n {
			out[k] = after[j]
		}
	}
	return out
}

// commandTag appends the row count Postgres reports for a command.
func commandTag(tag string, n uint64) string {
	switch tag {
	case "INSERT":
		return "INSERT 0 " + strconv.FormatUint(n, 10)
	case "SELECT", "UPDATE", "DELETE", "COPY", "MERGE", "FETCH", "MOVE":
		return tag + " " + strconv.FormatUint(n, 10)
	}
	return tag
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// contextError reports why a statement's context ended, when it did: the
// engine returns context.Canceled for both a cancel and a timeout.
func contextError(ctx context.Context, err error) error {
	switch ctx.Err() {
	case context.DeadlineExceeded:
		return pgerror.New(pgerror.QueryCanceled, "canceling statement due to statement timeout")
	case context.Canceled:
		return pgerror.New(pgerror.QueryCanceled, "canceling statement due to user request")
	}
	return engineError(err)
}
