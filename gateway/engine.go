package gateway

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
	"sync"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/expression/function/aggregation"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/vt/sqlparser"
	errorkinds "gopkg.in/src-d/go-errors.v1"

	"github.com/dualgate/dualgate/canonical/sqltables"
	"github.com/dualgate/dualgate/gateway/dialect"
	"github.com/dualgate/dualgate/gateway/pgerror"
	"github.com/dualgate/dualgate/gateway/pgfunc"
	"github.com/dualgate/dualgate/gateway/pgtypes"
	servingtables "github.com/dualgate/dualgate/projections/sqltables"
)

// Engine owns the go-mysql-server instance every session runs on and the
// Postgres types of engine columns that MySQL types cannot express.
type Engine struct {
	gms      *sqle.Engine
	provider *provider

	mu       sync.RWMutex
	declared map[columnKey]uint32 // (schema, table, column) -> Postgres type OID
	typmods  map[columnKey]int32  // declared type modifiers the engine type lacks (DeclareTable)
}

var acceptOffsets sync.Once

type columnKey struct{ schema, table, column string }

// NewEngine returns an engine with the in-memory `public` scratch schema.
// Its tables live only as long as the process: durable data belongs in the
// canonical store, which registers its own schemas.
func NewEngine() *Engine {
	acceptOffsets.Do(func() {
		// Postgres timestamptz text carries a UTC offset ("+00", "+05:30");
		// the engine's datetime parser converts parsed times to UTC, so
		// teaching it these layouts stores the right instant.
		types.TimestampDatetimeLayouts = append(types.TimestampDatetimeLayouts,
			"2006-01-02 15:04:05.999999999-07", "2006-01-02 15:04:05.999999999-07:00",
			"2006-01-02T15:04:05.999999999-07", "2006-01-02T15:04:05.999999999-07:00",
			"2006-01-02 15:04-07", "2006-01-02 15:04-07:00")
	})
	pro := newProvider(pgfunc.TableFunctions())
	pro.add(scratchDatabase("public"), false)
	gms := sqle.NewDefault(pro)
	// GROUP BY over a canonical entity runs in the store, not row at a
	// time in the engine (canonical/sqltables/aggregate.go).
	sqltables.RegisterAggregatePushdown(gms.Analyzer)
	pgfunc.Register(gms)
	e := &Engine{gms: gms, provider: pro, declared: map[columnKey]uint32{}, typmods: map[columnKey]int32{}}
	if err := e.InstallPgCatalog(); err != nil {
		// Only a programming error (a duplicate function) gets here.
		panic(fmt.Sprintf("install pg_catalog: %v", err))
	}
	return e
}

// Close releases the engine.
func (e *Engine) Close() error {
	catalogSources.Delete(e)
	return e.gms.Close()
}

// engineSession is one client's session on the engine.
type engineSession struct {
	eng  *Engine
	sess *memory.Session
	fast *sql.Context // fastContext's, reused lookup after lookup
	// fastRelease drops the lookup's ctx from fast when it is done.
	fastRelease func()
}

func (e *Engine) newSession(id uint32, user, addr string) (*engineSession, error) {
	base := sql.NewBaseSessionWithClientServer("dualgate", sql.Client{User: user, Address: addr, Capabilities: 0}, id)
	sess := memory.NewSession(base, e.provider)
	s := &engineSession{eng: e, sess: sess}
	sess.SetCurrentDatabase("public")
	for _, q := range pgfunc.SessionInit {
		if err := s.exec(context.Background(), q); err != nil {
			return nil, fmt.Errorf("engine session setup %q: %w", q, err)
		}
	}
	if err := s.setUserVar(pgfunc.BackendPIDVar, int64(id), types.Int64); err != nil {
		return nil, fmt.Errorf("engine session setup: %w", err)
	}
	return s, nil
}

// setUserVar sets an engine user variable (@name) of the session.
func (s *engineSession) setUserVar(name string, v any, t sql.Type) error {
	return s.sess.SetUserVariable(s.context(context.Background(), ""), name, v, t)
}

func (s *engineSession) close() { s.eng.gms.CloseSession(s.sess.ID()) }

func (s *engineSession) context(ctx context.Context, query string) *sql.Context {
	return sql.NewContext(ctx, sql.WithSession(s.sess), sql.WithQuery(query))
}

// fastContext is the engine context of one fast-path lookup (fastpath.go)
// under ctx, until release. The lookup uses it for the session (masks,
// row filters, user variables), its query time and as ctx, never for
// engine execution, so one context is kept per session and pointed at
// each lookup's ctx rather than made (with its memory manager) per lookup.
// Only the session's goroutine uses it, one lookup at a time.
func (s *engineSession) fastContext(ctx context.Context) (sctx *sql.Context, release func()) {
	if s.fast == nil {
		s.fast = s.context(context.Background(), "")
		s.fastRelease = func() { s.fast.Context = context.Background() }
	}
	s.fast.Context = ctx
	// The statement's time, as a new context's (a row filter may read it).
	s.fast.SetQueryTime(sql.Now())
	return s.fast, s.fastRelease
}

// hasSchema says whether a Postgres schema (engine database) exists.
func (s *engineSession) hasSchema(ctx context.Context, name string) bool {
	return s.eng.provider.HasDatabase(s.context(ctx, ""), name)
}

// run executes engine SQL with bind variables and returns its schema and
// row iterator. The caller closes the iterator.
func (s *engineSession) run(ctx *sql.Context, query string, bindings map[string]sqlparser.Expr) (sql.Schema, sql.RowIter, error) {
	sch, iter, _, err := s.eng.gms.QueryWithBindings(ctx, query, nil, bindings, nil)
	if err != nil {
		return nil, nil, engineError(err)
	}
	return sch, iter, nil
}

// exec runs a statement whose rows are not wanted (transaction control).
func (s *engineSession) exec(ctx context.Context, query string) error {
	sctx := s.context(ctx, query)
	_, iter, err := s.run(sctx, query, nil)
	if err != nil {
		return err
	}
	return drain(sctx, iter)
}

func drain(ctx *sql.Context, iter sql.RowIter) error {
	for {
		if _, err := iter.Next(ctx); err != nil {
			_ = iter.Close(ctx)
			if errors.Is(err, io.EOF) {
				return nil
			}
			return engineError(err)
		}
	}
}

// describe binds a statement without running it, for Describe messages: it
// returns the result schema (nil for statements without rows) and the
// Postgres type of each parameter, inferring what the client left open from
// the column or expression each parameter is compared with or assigned to.
func (s *engineSession) describe(ctx context.Context, st *dialect.Statement) (sql.Schema, []uint32, error) {
	params := make([]uint32, len(st.Params))
	copy(params, st.Params)
	if st.Kind != dialect.KindQuery && st.Kind != dialect.KindExec {
		return nil, fillUnknown(params), nil
	}
	sctx := s.context(ctx, st.Engine)
	node, err := s.eng.gms.PrepareQuery(sctx, st.Engine)
	if err != nil {
		return nil, nil, engineError(err)
	}
	s.inferParams(node, params)
	var sch sql.Schema
	if st.Kind == dialect.KindQuery {
		sch = node.Schema()
		if types.IsOkResultSchema(sch) {
			sch = nil
		}
	}
	return sch, fillUnknown(params), nil
}

// fillUnknown gives parameters nothing constrains the type text, which is
// what clients then send and what the engine converts from.
func fillUnknown(params []uint32) []uint32 {
	for i, p := range params {
		if p == 0 {
			params[i] = pgtypes.Text
		}
	}
	return params
}

func bindIndex(name string) int {
	var n int
	if _, err := fmt.Sscanf(name, "v%d", &n); err != nil || n < 1 {
		return -1
	}
	return n - 1
}

// inferParams walks a bound plan: a bind variable compared with a typed
// expression takes that type; one inserted into a column takes the column's.
func (s *engineSession) inferParams(node sql.Node, params []uint32) {
	set := func(bv *expression.BindVar, t sql.Type, src sql.Expression) {
		i := bindIndex(bv.Name)
		if i < 0 || i >= len(params) || params[i] != 0 || t == nil {
			return
		}
		if gf, ok := src.(*expression.GetField); ok {
			if oid := s.eng.declaredType(gf.Table(), gf.Name()); oid != 0 {
				params[i] = oid
				return
			}
		}
		params[i] = pgtypes.FromEngine(t)
	}
	transform.InspectExpressions(node, func(e sql.Expression) bool {
		ch := e.Children()
		if len(ch) != 2 {
			return true
		}
		if bv, ok := ch[0].(*expression.BindVar); ok {
			if _, other := ch[1].(*expression.BindVar); !other {
				set(bv, ch[1].Type(), ch[1])
			}
		}
		if bv, ok := ch[1].(*expression.BindVar); ok {
			if _, other := ch[0].(*expression.BindVar); !other {
				set(bv, ch[0].Type(), ch[0])
			}
		}
		return true
	})
	transform.Inspect(node, func(n sql.Node) bool {
		ins, ok := n.(*plan.InsertInto)
		if !ok {
			return true
		}
		vals, ok := ins.Source.(*plan.Values)
		if !ok {
			return true
		}
		dest := ins.Destination.Schema()
		cols := ins.ColumnNames
		for _, tuple := range vals.ExpressionTuples {
			for j, ex := range tuple {
				bv, ok := ex.(*expression.BindVar)
				if !ok {
					continue
				}
				name := ""
				if j < len(cols) {
					name = cols[j]
				} else if j < len(dest) {
					name = dest[j].Name
				}
				for _, c := range dest {
					if strings.EqualFold(c.Name, name) {
						set(bv, c.Type, expression.NewGetFieldWithTable(0, 0, c.Type, c.DatabaseSource, c.Source, c.Name, c.Nullable))
					}
				}
			}
		}
		return true
	})
}

// declare records the Postgres types of a created table.
func (e *Engine) declare(schema string, ct *dialect.CreateTable) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ct.Table.Schema != "" {
		schema = ct.Table.Schema
	}
	for _, c := range ct.Columns {
		k := columnKey{schema, strings.ToLower(ct.Table.Name), strings.ToLower(c.Name)}
		e.declared[k] = c.OID
		if c.Typmod > 0 {
			e.typmods[k] = c.Typmod
		} else {
			delete(e.typmods, k)
		}
	}
}

// forget drops the recorded types of dropped tables.
func (e *Engine) forget(schema string, rels []dialect.Relation) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range rels {
		s := schema
		if r.Schema != "" {
			s = r.Schema
		}
		for k := range e.declared {
			if k.schema == s && k.table == strings.ToLower(r.Name) {
				delete(e.declared, k)
				delete(e.typmods, k)
			}
		}
	}
}

// declaredType returns the declared Postgres type of a table column found in
// any schema, 0 if none was recorded.
func (e *Engine) declaredType(table, column string) uint32 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	table, column = strings.ToLower(table), strings.ToLower(column)
	for k, oid := range e.declared {
		if k.table == table && k.column == column {
			return oid
		}
	}
	return 0
}

// columnOID is the Postgres type of a result column.
func (e *Engine) columnOID(c *sql.Column) uint32 {
	if c.Source != "" {
		e.mu.RLock()
		oid, ok := e.declared[columnKey{strings.ToLower(c.DatabaseSource), strings.ToLower(c.Source), strings.ToLower(c.Name)}]
		e.mu.RUnlock()
		if ok {
			return oid
		}
	}
	// Postgres has no one-byte integer and types integer literals as int4;
	// the engine types small literals (and VALUES columns) as tinyint or
	// smallint. Declared smallint columns were answered above.
	if c.Type == types.Int8 || c.Type == types.Int16 {
		return pgtypes.Int4
	}
	return pgtypes.FromEngine(c.Type)
}

// engineErrorCodes maps go-mysql-server error kinds to SQLSTATEs.
var engineErrorCodes = []struct {
	kind *errorkinds.Kind
	code string
}{
	{sql.ErrTableNotFound, pgerror.UndefinedTable},
	{sql.ErrDatabaseNotFound, pgerror.InvalidSchemaName},
	{sql.ErrDatabaseSchemaNotFound, pgerror.InvalidSchemaName},
	{sql.ErrColumnNotFound, pgerror.UndefinedColumn},
	{sql.ErrTableColumnNotFound, pgerror.UndefinedColumn},
	{sql.ErrAmbiguousColumnName, pgerror.AmbiguousColumn},
	{sql.ErrFunctionNotFound, pgerror.UndefinedFunction},
	{sql.ErrPrimaryKeyViolation, pgerror.UniqueViolation},
	{sql.ErrUniqueKeyViolation, pgerror.UniqueViolation},
	{sql.ErrDuplicateEntry, pgerror.UniqueViolation},
	{sql.ErrInsertIntoNonNullableProvidedNull, pgerror.NotNullViolation},
	{sql.ErrCheckConstraintViolated, pgerror.CheckViolation},
	{sql.ErrForeignKeyChildViolation, pgerror.ForeignKeyViolation},
	{sql.ErrForeignKeyParentViolation, pgerror.ForeignKeyViolation},
	{sql.ErrTableAlreadyExists, pgerror.DuplicateTable},
	{sql.ErrDatabaseExists, pgerror.DuplicateObject},
	{sql.ErrExistingView, pgerror.DuplicateTable},
	{sql.ErrViewDoesNotExist, pgerror.UndefinedTable},
	{sql.ErrColumnExists, pgerror.DuplicateColumn},
	{sql.ErrSyntaxError, pgerror.SyntaxError},
	{sql.ErrUnsupportedFeature, pgerror.FeatureNotSupported},
	{sql.ErrUnsupportedSyntax, pgerror.FeatureNotSupported},
	{sql.ErrInvalidValue, pgerror.InvalidTextRepresentation},
	{sql.ErrInvalidValueType, pgerror.InvalidTextRepresentation},
	{sql.ErrValueOutOfRange, pgerror.NumericValueOutOfRange},
	{types.ErrLengthBeyondLimit, pgerror.StringDataRightTruncation},
	{sql.ErrNonAggregatedColumnWithoutGroupBy, pgerror.GroupingError},
	{sql.ErrInvalidArgumentNumber, pgerror.UndefinedFunction},
	{sql.ErrInvalidType, pgerror.DatatypeMismatch},
}

// engineError gives an engine error a SQLSTATE; errors that already carry
// one pass through.
func engineError(err error) error {
	if err == nil {
		return nil
	}
	if pe, ok := pgerror.As(err); ok {
		return pe
	}
	// The engine wraps insert errors without Unwrap.
	var wie sql.WrappedInsertError
	if errors.As(err, &wie) && wie.Cause != nil {
		return engineError(wie.Cause)
	}
	if errors.Is(err, context.Canceled) {
		return pgerror.New(pgerror.QueryCanceled, "canceling statement due to user request")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return pgerror.New(pgerror.QueryCanceled, "canceling statement due to statement timeout")
	}
	if errors.Is(err, pgfunc.ErrDivisionByZero) {
		return pgerror.New(pgerror.DivisionByZero, "division by zero")
	}
	if errors.Is(err, pgfunc.ErrOutOfRange) {
		return pgerror.New(pgerror.NumericValueOutOfRange, "%s", err.Error())
	}
	if errors.Is(err, pgfunc.ErrInvalidDatetime) {
		return pgerror.Wrap(pgerror.InvalidDatetimeFormat, err)
	}
	if errors.Is(err, sqltables.ErrReadOnly) || errors.Is(err, sqltables.ErrAppendOnly) {
		return pgerror.Wrap(pgerror.InsufficientPrivilege, err).WithHint("captured facts and history are never changed; correct the canonical entity instead")
	}
	if errors.Is(err, servingtables.ErrReadOnly) {
		return pgerror.Wrap("42809", err).WithHint("projections follow canonical; change the canonical entities (or write raw sources) and the projection follows")
	}
	if errors.Is(err, servingtables.ErrUnavailable) {
		return pgerror.Wrap("55000", err)
	}
	if errors.Is(err, sqltables.ErrUnknownRev) {
		return pgerror.Wrap(pgerror.InvalidParameterValue, err)
	}
	var uke sql.UniqueKeyError
	if errors.As(err, &uke) {
		return pgerror.Wrap(pgerror.UniqueViolation, err)
	}
	switch {
	case sql.ErrTableNotFound.Is(err):
		return pgMessage(pgerror.UndefinedTable, err, "table not found: ", "relation %q does not exist")
	case sql.ErrColumnNotFound.Is(err):
		return pgMessage(pgerror.UndefinedColumn, err, "column \"", "column %q does not exist")
	}
	for _, m := range engineErrorCodes {
		if m.kind.Is(err) {
			return pgerror.Wrap(m.code, err)
		}
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "duplicate primary key"), strings.Contains(msg, "duplicate unique key"), strings.Contains(msg, "Duplicate entry"):
		return pgerror.Wrap(pgerror.UniqueViolation, err)
	case strings.Contains(msg, "is non-nullable but attempted to set a value of null"):
		return pgerror.Wrap(pgerror.NotNullViolation, err)
	case strings.Contains(msg, "syntax error"):
		return pgerror.Wrap(pgerror.SyntaxError, err)
	case strings.Contains(msg, "division by 0"), strings.Contains(msg, "Division by 0"):
		return pgerror.New(pgerror.DivisionByZero, "division by zero")
	}
	return pgerror.Wrap(pgerror.InternalError, err)
}

// pgMessage words an engine error as PostgreSQL does, taking the object
// name from the engine's message after prefix.
func pgMessage(code string, err error, prefix, format string) *pgerror.Error {
	msg := err.Error()
	i := strings.Index(msg, prefix)
	if i < 0 {
		return pgerror.Wrap(code, err)
	}
	name := msg[i+len(prefix):]
	if j := strings.IndexAny(name, "\" "); j >= 0 {
		name = name[:j]
	}
	pe := pgerror.New(code, format, name)
	return pe
}

// RelationOID is the stable object id dualgate reports for a relation, in
// RowDescription and (later) pg_catalog: FNV-1a of "schema.name" folded
// above PostgreSQL's reserved range, so it is the same in every session
// and across restarts.
func RelationOID(schema, name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(schema)))
	h.Write([]byte{'.'})
	h.Write([]byte(strings.ToLower(name)))
	return 16384 + h.Sum32()%(1<<31-16384)
}

// columnOrigin returns the table OID and 1-based column number of a result
// column that comes straight from a table, or zeros.
func (e *Engine) columnOrigin(s *engineSession, c *sql.Column) (uint32, uint16) {
	if c.Source == "" || c.DatabaseSource == "" {
		return 0, 0
	}
	ctx := s.context(context.Background(), "")
	db, err := e.provider.Database(ctx, c.DatabaseSource)
	if err != nil {
		return 0, 0
	}
	t, ok, err := db.GetTableInsensitive(ctx, c.Source)
	if err != nil || !ok {
		return 0, 0
	}
	for i, col := range t.Schema() {
		if strings.EqualFold(col.Name, c.Name) {
			return catalogRelationOID(c.DatabaseSource, t.Name()), uint16(i + 1)
		}
	}
	return 0, 0
}

// aggregateTypes gives, per output column, the type PostgreSQL gives a SUM
// or AVG there (0 elsewhere). The engine reports both as double whatever
// they add up (and keeps exact decimals in the values), while Postgres says
// sum(int4) is int8, sum(int8|numeric) and avg(integer|numeric) are numeric.
// Only called for results with double columns.
func (s *engineSession) aggregateTypes(ctx *sql.Context, query string) []uint32 {
	node, err := s.eng.gms.PrepareQuery(ctx, query)
	if err != nil {
		return nil
	}
	// The planner projects aggregates by name from the GROUP BY node
	// (Alias -> GetField "sum(p.price)"), so find the aggregates first.
	aggs := map[string]uint32{}
	transform.InspectExpressions(node, func(e sql.Expression) bool {
		var child sql.Type
		avg := false
		switch agg := e.(type) {
		case *aggregation.Sum:
			child = agg.Child.Type()
		case *aggregation.Avg:
			child, avg = agg.Child.Type(), true
		default:
			return true
		}
		if oid := aggregateOID(child, avg); oid != 0 {
			aggs[strings.ToLower(e.String())] = oid
		}
		return true
	})
	if len(aggs) == 0 {
		return nil
	}
	// Output columns are the projections of the topmost Project, in order.
	var proj *plan.Project
	transform.Inspect(node, func(n sql.Node) bool {
		if p, ok := n.(*plan.Project); ok && proj == nil {
			proj = p
		}
		return proj == nil
	})
	if proj == nil {
		return nil
	}
	out := make([]uint32, len(proj.Projections))
	for i, e := range proj.Projections {
		if al, ok := e.(*expression.Alias); ok {
			e = al.Child
		}
		key := strings.ToLower(e.String())
		if gf, ok := e.(*expression.GetField); ok {
			key = strings.ToLower(gf.Name())
		}
		out[i] = aggs[key]
	}
	return out
}

func aggregateOID(child sql.Type, avg bool) uint32 {
	switch {
	case types.IsFloat(child):
		return pgtypes.Float8
	case types.IsDecimal(child):
		return pgtypes.Numeric
	case types.IsInteger(child) && !avg && child != types.Int64 && child != types.Uint64 && child != types.Uint32:
		return pgtypes.Int8
	case types.IsInteger(child):
		return pgtypes.Numeric
	}
	return 0
}

// tableColumns names a table's columns in order, resolving an unqualified
// name in the session's current schema; nil if there is no such table.
func (s *engineSession) tableColumns(schema, table string) []string {
	ctx := s.context(context.Background(), "")
	if schema == "" {
		schema = ctx.GetCurrentDatabase()
	}
	db, err := s.eng.provider.Database(ctx, schema)
	if err != nil {
		return nil
	}
	t, ok, err := db.GetTableInsensitive(ctx, table)
	if err != nil || !ok {
		return nil
	}
	names := make([]string, len(t.Schema()))
	for i, c := range t.Schema() {
		names[i] = c.Name
	}
	return names
}

// columnType is a table column's declared Postgres type (0 if unknown).
func (s *engineSession) columnType(schema, table, column string) uint32 {
	if schema == "" {
		schema = s.sess.GetCurrentDatabase()
	}
	s.eng.mu.RLock()
	defer s.eng.mu.RUnlock()
	return s.eng.declared[columnKey{strings.ToLower(schema), strings.ToLower(table), strings.ToLower(column)}]
}

// parse translates a client's SQL with what the session's engine knows.
func (s *engineSession) parse(sql string) ([]dialect.Statement, error) {
	return dialect.ParseWith(sql, dialect.Options{TableColumns: s.tableColumns, ColumnType: s.columnType})
}
