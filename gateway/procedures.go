package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"
	"github.com/jackc/pgproto3/v2"

	"github.com/dualgate/dualgate/gateway/dialect"
	"github.com/dualgate/dualgate/gateway/pgcatalog"
	"github.com/dualgate/dualgate/gateway/pgerror"
	"github.com/dualgate/dualgate/gateway/pgtypes"
)

// Procedure is a CALL-able procedure (dualgate.verify, dualgate.replay,
// reconcile.run, ...). Its arguments arrive evaluated by the engine; it
// answers with a result set (possibly empty) and notices.
type Procedure struct {
	// Args names the parameters, for error messages and arity checks.
	Args []string
	// ArgTypes are the parameters' Postgres type OIDs, parallel to Args,
	// as pg_proc and psql's \df show them (missing ones are text).
	ArgTypes []uint32
	// Description is the procedure's comment (obj_description, \df+).
	Description string
	// Result are the columns of the rows a successful run returns (nil:
	// none). The extended protocol needs them before the procedure runs:
	// Describe reports them, as PostgreSQL reports a procedure's OUT
	// parameters, and Execute then sends the rows. A run returning other
	// columns is a bug and fails with XX000.
	Result []SystemColumn
	// Run does the work.
	Run func(ctx context.Context, call CallInfo, args []any) (ProcedureResult, error)
}

// CallInfo is who calls a procedure.
type CallInfo struct {
	User       string
	ClientAddr string // the caller's IP address
}

// ProcedureResult is what a CALL returns to the client.
type ProcedureResult struct {
	Columns []SystemColumn
	Rows    [][]any
	Notices []string
}

// call runs CALL schema.name(args): arguments are evaluated by the engine
// (so they may be any expression, and $n parameters of the extended
// protocol, bound in bindings), then the registered procedure runs.
//
// Result rows go out with the simple protocol; over the extended protocol
// a CALL reports only notices and completion, since its Describe said
// NoData.
func (s *session) call(st *dialect.Statement, bindings map[string]sqlparser.Expr, describe bool, formats []int16) error {
	key := strings.ToLower(st.Call.Schema + "." + st.Call.Name)
	proc, ok := s.c.srv.cfg.Procedures[key]
	if !ok {
		return pgerror.New(pgerror.UndefinedFunction, "procedure %s(%d arguments) does not exist", key, len(st.Call.Args)).
			WithHint("procedures: %s", strings.Join(s.c.srv.procedureNames(), ", "))
	}
	if len(st.Call.Args) != len(proc.Args) {
		return pgerror.New(pgerror.UndefinedFunction, "procedure %s takes %d arguments (%s), not %d", key, len(proc.Args), strings.Join(proc.Args, ", "), len(st.Call.Args))
	}
	ctx, release := s.c.statementContext(s.settings.statementTimeout())
	defer release()
	args, err := s.evalArgs(ctx, st.Call.Args, bindings)
	if err != nil {
		return err
	}
	res, err := proc.Run(ctx, CallInfo{User: s.c.user, ClientAddr: clientIP(s.c.nc.RemoteAddr())}, args)
	if err != nil {
		if _, ok := pgerror.As(err); ok {
			return err
		}
		return pgerror.Wrap(pgerror.InternalError, fmt.Errorf("%s: %w", key, err))
	}
	for _, n := range res.Notices {
		if err := s.c.notice(pgerror.SuccessfulCompletion, n); err != nil {
			return err
		}
	}
	if len(res.Columns) > 0 && !slices.Equal(res.Columns, proc.Result) {
		return pgerror.New(pgerror.InternalError, "procedure %s returned columns %v, but declares %v", key, res.Columns, proc.Result).
			WithHint("this is a dualgate bug")
	}
	if len(res.Columns) > 0 {
		// The simple protocol describes the rows here; the extended one
		// did at Describe (callFields), and gets the rows in the formats
		// its Bind asked for.
		oids := make([]uint32, len(res.Columns))
		for i, c := range res.Columns {
			oids[i] = c.OID
		}
		if describe {
			if err := s.c.send(&pgproto3.RowDescription{Fields: resultFields(res.Columns)}); err != nil {
				return err
			}
			formats = nil
		}
		for _, r := range res.Rows {
			if err := s.sendRow(r, oids, formats); err != nil {
				return err
			}
		}
	}
	return s.c.send(&pgproto3.CommandComplete{CommandTag: []byte("CALL")})
}

// callFields are the result fields of a CALL statement (nil: none, or no
// such procedure, which Execute reports).
func (s *session) callFields(st *dialect.Statement) []pgproto3.FieldDescription {
	if st.Call == nil {
		return nil
	}
	proc, ok := s.c.srv.cfg.Procedures[strings.ToLower(st.Call.Schema+"."+st.Call.Name)]
	if !ok || len(proc.Result) == 0 {
		return nil
	}
	return resultFields(proc.Result)
}

// resultFields are the RowDescription fields of a procedure's columns.
func resultFields(cols []SystemColumn) []pgproto3.FieldDescription {
	fields := make([]pgproto3.FieldDescription, len(cols))
	for i, c := range cols {
		fields[i] = textField(c.Name)
		fields[i].DataTypeOID = c.OID
	}
	return fields
}

// evalArgs evaluates CALL arguments with the engine.
func (s *session) evalArgs(ctx context.Context, exprs []string, bindings map[string]sqlparser.Expr) ([]any, error) {
	if len(exprs) == 0 {
		return nil, nil
	}
	q := "SELECT " + strings.Join(exprs, ", ")
	sctx := s.eng.context(ctx, q)
	_, iter, err := s.eng.run(sctx, q, bindings)
	if err != nil {
		return nil, err
	}
	defer iter.Close(sctx)
	row, err := iter.Next(sctx)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, engineError(err)
	}
	return append([]any(nil), row...), nil
}

func (s *Server) procedureNames() []string {
	var out []string
	for k := range s.cfg.Procedures {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// catalogProcedures describes the registered procedures for pg_proc.
func (s *Server) catalogProcedures() []pgcatalog.Procedure {
	out := make([]pgcatalog.Procedure, 0, len(s.cfg.Procedures))
	for _, key := range s.procedureNames() {
		proc := s.cfg.Procedures[key]
		schema, name, _ := strings.Cut(key, ".")
		types := make([]uint32, len(proc.Args))
		for i := range types {
			types[i] = pgtypes.Text
			if i < len(proc.ArgTypes) && proc.ArgTypes[i] != 0 {
				types[i] = proc.ArgTypes[i]
			}
		}
		out = append(out, pgcatalog.Procedure{Schema: schema, Name: name, ArgNames: proc.Args, ArgTypes: types, Comment: proc.Description})
	}
	return out
}
