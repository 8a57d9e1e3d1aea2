package gateway

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/planbuilder"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/dualgate/dualgate/gateway/dialect"
	"github.com/dualgate/dualgate/gateway/pgcatalog"
	"github.com/dualgate/dualgate/gateway/pgtypes"
)

// InstallPgCatalog registers the PostgreSQL catalogs on the engine: the
// pg_catalog schema (a system schema of the provider), information_schema
// (which replaces go-mysql-server's MySQL information_schema: the
// analyzer's Catalog answers that name from its InfoSchema field before it
// asks the provider, so a provider database of that name would never be
// reached) and the catalog functions (format_type, obj_description, ...).
// Every catalog row is computed from the live engine at each statement.
func (e *Engine) InstallPgCatalog() error {
	src := &catalogSource{eng: e, cache: map[uint32]cachedSnapshot{}}
	if _, loaded := catalogSources.LoadOrStore(e, src); loaded {
		return nil // installed already
	}
	pgc, err := e.catalogDB("pg_catalog", pgcatalog.Tables(), src)
	if err != nil {
		return err
	}
	e.provider.add(pgc, true)
	info, err := e.catalogDB("information_schema", pgcatalog.InformationSchema(), src)
	if err != nil {
		return err
	}
	e.gms.Analyzer.Catalog.InfoSchema = info
	ctx := sql.NewEmptyContext()
	for _, f := range pgcatalog.Functions(src) {
		if _, exists := e.gms.Analyzer.Catalog.Function(ctx, f.FunctionName()); !exists {
			e.gms.Analyzer.Catalog.RegisterFunction(ctx, f)
		}
	}
	return nil
}

// attachPgCatalog lets the catalogs read the server's sessions (settings,
// user) and set_config change them. NewServer calls it.
func (s *Server) attachPgCatalog() {
	if v, ok := catalogSources.Load(s.eng); ok {
		v.(*catalogSource).setServer(s)
	}
}

// catalogSources maps an *Engine to its *catalogSource.
var catalogSources sync.Map

// ColumnType is the Postgres type of a table column: its declared type
// (CREATE TABLE, DeclareTable, system tables), else the default for the
// engine type.
func (e *Engine) ColumnType(schema, table, column string, t sql.Type) uint32 {
	e.mu.RLock()
	oid, ok := e.declared[columnKey{schema, strings.ToLower(table), strings.ToLower(column)}]
	if !ok {
		oid, ok = e.declared[columnKey{strings.ToLower(schema), strings.ToLower(table), strings.ToLower(column)}]
	}
	e.mu.RUnlock()
	if ok {
		return oid
	}
	return pgtypes.FromEngine(t)
}

// declaredTypmod is the type modifier DeclareTable recorded for a column.
func (e *Engine) declaredTypmod(schema, table, column string) (int32, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	mod, ok := e.typmods[columnKey{strings.ToLower(schema), strings.ToLower(table), strings.ToLower(column)}]
	if !ok {
		mod, ok = e.typmods[columnKey{schema, strings.ToLower(table), strings.ToLower(column)}]
	}
	return mod, ok
}

// catalogEngineType is the engine type holding a catalog column: the
// wire types' own, text for the catalog-only types ("char", name,
// int2vector, oidvector, regproc, arrays, ...), which travel as text.
func catalogEngineType(oid uint32) sql.Type {
	if t, err := engineType(oid); err == nil {
		return t
	}
	return types.LongText
}

// catalogDB builds a schema of catalog tables whose rows come from src.
func (e *Engine) catalogDB(name string, tables []pgcatalog.Table, src *catalogSource) (*systemDB, error) {
	db := &systemDB{name: name, tables: map[string]sql.Table{}}
	for _, t := range tables {
		t := t
		def := SystemTable{Name: t.Name, Description: pgcatalog.LabelComment(name, t.Name, t.RelKind()), View: t.RelKind() == 'v',
			Rows: func(ctx context.Context) ([][]any, error) {
				sctx, ok := ctx.(*sql.Context)
				if !ok {
					return nil, fmt.Errorf("%s.%s: no engine context", name, t.Name)
				}
				snap, err := src.Snapshot(sctx)
				if err != nil {
					return nil, err
				}
				return t.Rows(snap), nil
			}}
		st := &systemTable{db: name, def: def}
		ct := &dialect.CreateTable{Table: dialect.Relation{Schema: name, Name: t.Name}}
		for _, c := range t.Columns {
			def.Columns = append(def.Columns, SystemColumn{Name: c.Name, OID: c.Type})
			st.schema = append(st.schema, &sql.Column{Name: c.Name, Type: catalogEngineType(c.Type), Nullable: true, Source: t.Name, DatabaseSource: name})
			ct.Columns = append(ct.Columns, dialect.ColumnDef{Name: c.Name, OID: c.Type, Typmod: -1})
		}
		st.def = def
		db.tables[strings.ToLower(t.Name)] = st
		db.order = append(db.order, t.Name)
		e.declare(name, ct)
	}
	return db, nil
}

// catalogSource takes snapshots of the engine for the catalogs, one per
// statement and session (a statement may scan pg_class many times).
type catalogSource struct {
	eng *Engine

	mu    sync.Mutex
	srv   *Server
	cache map[uint32]cachedSnapshot // by engine session id
}

type cachedSnapshot struct {
	at   time.Time // the statement's query time
	snap *pgcatalog.Snapshot
}

func (c *catalogSource) setServer(s *Server) {
	c.mu.Lock()
	c.srv = s
	c.mu.Unlock()
}

func (c *catalogSource) server() *Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.srv
}

// schemaComments describe dualgate's schemas (DESIGN.md, SQL surface).
var schemaComments = map[string]string{
	"canonical":          "AUTHORITATIVE: entities of record, current or at any commit",
	"history":            "AUTHORITATIVE: every version of every entity",
	"diff":               "AUTHORITATIVE: changes between adjacent commits",
	"raw":                "DERIVED (non-authoritative): captured source facts, append-only",
	"serving":            "DERIVED (non-authoritative): serving read models",
	"reconcile":          "DERIVED (non-authoritative): reconciliation rules, runs and exceptions",
	"catalog":            "DERIVED (non-authoritative): the declarative domain catalog",
	"dualgate":           "DERIVED (non-authoritative): dualgate's commit log, sessions and audit",
	"public":             "DERIVED (non-authoritative): scratch tables of this process",
	"pg_catalog":         "system catalog",
	"information_schema": "SQL-standard catalog views",
}

// Snapshot implements pgcatalog.Source.
func (c *catalogSource) Snapshot(ctx *sql.Context) (*pgcatalog.Snapshot, error) {
	id := uint32(0)
	if ctx.Session != nil {
		id = ctx.Session.ID()
	}
	at := ctx.QueryTime()
	c.mu.Lock()
	if cs, ok := c.cache[id]; ok && cs.at.Equal(at) {
		c.mu.Unlock()
		return cs.snap, nil
	}
	c.mu.Unlock()
	snap, err := c.take(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.cache) > 1024 {
		c.cache = map[uint32]cachedSnapshot{}
	}
	c.cache[id] = cachedSnapshot{at: at, snap: snap}
	c.mu.Unlock()
	return snap, nil
}

// take reads every schema, relation, column, key and comment of the
// engine, and the session's settings.
func (c *catalogSource) take(ctx *sql.Context) (*pgcatalog.Snapshot, error) {
	e := c.eng
	snap := &pgcatalog.Snapshot{Database: "dualgate"}
	if ctx.Session != nil {
		snap.User = ctx.Session.Client().User
	}
	if srv := c.server(); srv != nil {
		snap.Procedures = srv.catalogProcedures()
		if sess := srv.sessionOf(ctx); sess != nil {
			snap.Superuser = sess.settings.get("is_superuser") == "on"
			for _, kv := range sess.settings.all() {
				snap.Settings = append(snap.Settings, pgcatalog.Setting{Name: kv[0], Value: kv[1], Desc: kv[2]})
			}
		}
	}
	if snap.Settings == nil {
		defaults := newSettings("")
		for _, kv := range defaults.all() {
			snap.Settings = append(snap.Settings, pgcatalog.Setting{Name: kv[0], Value: kv[1], Desc: kv[2]})
		}
	}
	dbs := e.provider.AllDatabases(ctx)
	info := e.gms.Analyzer.Catalog.InfoSchema
	if info != nil {
		dbs = append(dbs, info)
	}
	for _, db := range dbs {
		name := db.Name()
		if strings.HasPrefix(name, batchSchemaPrefix) {
			continue // a pipeline's private batch schema (QueryBatch), not the client's
		}
		snap.Schemas = append(snap.Schemas, pgcatalog.Schema{Name: name, Comment: schemaComments[strings.ToLower(name)]})
		_, system := db.(*systemDB)
		names, err := db.GetTableNames(ctx)
		if err != nil {
			return nil, fmt.Errorf("pg_catalog: tables of %s: %w", name, err)
		}
		for _, tn := range names {
			t, ok, err := db.GetTableInsensitive(ctx, tn)
			if err != nil {
				return nil, fmt.Errorf("pg_catalog: %s.%s: %w", name, tn, err)
			}
			if !ok {
				continue
			}
			rel, err := e.describeTable(ctx, name, t)
			if err != nil {
				return nil, err
			}
			rel.System = system
			snap.Relations = append(snap.Relations, rel)
		}
		if vdb, ok := db.(sql.ViewDatabase); ok {
			views, err := vdb.AllViews(ctx)
			if err != nil {
				return nil, fmt.Errorf("pg_catalog: views of %s: %w", name, err)
			}
			for _, v := range views {
				snap.Relations = append(snap.Relations, e.describeView(ctx, name, v))
			}
		}
	}
	return snap, nil
}

// describeTable turns an engine table into a catalog relation.
func (e *Engine) describeTable(ctx *sql.Context, schema string, t sql.Table) (pgcatalog.Relation, error) {
	rel := pgcatalog.Relation{Schema: schema, Name: t.Name(), OID: catalogRelationOID(schema, t.Name()), Kind: 'r'}
	sch := t.Schema()
	attnum := func(name string) int {
		if i := strings.LastIndex(name, "."); i >= 0 {
			name = name[i+1:]
		}
		name = strings.Trim(name, "`\"")
		for i, c := range sch {
			if strings.EqualFold(c.Name, name) {
				return i + 1
			}
		}
		return 0
	}
	for _, c := range sch {
		oid := e.ColumnType(schema, rel.Name, c.Name, c.Type)
		col := pgcatalog.Column{Name: c.Name, Type: oid, Typmod: -1, NotNull: !c.Nullable, Comment: c.Comment}
		if oid == pgtypes.FromEngine(c.Type) {
			col.Typmod = pgtypes.TypmodFromEngine(c.Type) // -1 for the engine's unconstrained numeric
		}
		if mod, ok := e.declaredTypmod(schema, rel.Name, c.Name); ok {
			col.Typmod = mod
		}
		switch {
		case c.AutoIncrement:
			col.Default = fmt.Sprintf("nextval('%s_%s_seq'::regclass)", rel.Name, c.Name)
		case c.Default != nil:
			col.Default = pgDefault(c.Default, oid)
		}
		rel.Columns = append(rel.Columns, col)
	}
	var pk []int
	if pkt, ok := t.(sql.PrimaryKeyTable); ok {
		for _, ord := range pkt.PrimaryKeySchema().PkOrdinals {
			pk = append(pk, ord+1)
		}
	} else {
		for i, c := range sch {
			if c.PrimaryKey {
				pk = append(pk, i+1)
			}
		}
	}
	if len(pk) > 0 {
		rel.Indexes = append(rel.Indexes, pgcatalog.Index{Name: rel.Name + "_pkey", Columns: pk, Primary: true, Unique: true})
		for _, n := range pk { // primary key columns are NOT NULL in Postgres
			if n >= 1 && n <= len(rel.Columns) {
				rel.Columns[n-1].NotNull = true
			}
		}
	}
	// The engine backs a foreign key with an index of the constraint's
	// name when none covers its columns; Postgres has no such index, so
	// the catalogs do not show it.
	fkIndex := map[string]bool{}
	if fkt, ok := t.(sql.ForeignKeyTable); ok {
		if fks, err := fkt.GetDeclaredForeignKeys(ctx); err == nil {
			for _, fk := range fks {
				fkIndex[strings.ToLower(fk.Name)] = true
			}
		}
	}
	if ia, ok := t.(sql.IndexAddressable); ok {
		idxs, err := ia.GetIndexes(ctx)
		if err != nil {
			return rel, fmt.Errorf("pg_catalog: indexes of %s.%s: %w", schema, rel.Name, err)
		}
		for _, ix := range idxs {
			if strings.EqualFold(ix.ID(), "primary") || fkIndex[strings.ToLower(ix.ID())] {
				continue
			}
			pix := pgcatalog.Index{Name: ix.ID(), Unique: ix.IsUnique()}
			for _, ex := range ix.Expressions() {
				if n := attnum(ex); n > 0 {
					pix.Columns = append(pix.Columns, n)
				}
			}
			if len(pix.Columns) > 0 {
				rel.Indexes = append(rel.Indexes, pix)
			}
		}
	}
	if fkt, ok := t.(sql.ForeignKeyTable); ok {
		fks, err := fkt.GetDeclaredForeignKeys(ctx)
		if err != nil {
			return rel, fmt.Errorf("pg_catalog: foreign keys of %s.%s: %w", schema, rel.Name, err)
		}
		for _, fk := range fks {
			pfk := pgcatalog.ForeignKey{Name: fk.Name, RefSchema: fk.ParentDatabase, RefTable: fk.ParentTable,
				RefColumns: fk.ParentColumns, OnUpdate: fkAction(fk.OnUpdate), OnDelete: fkAction(fk.OnDelete)}
			if pfk.RefSchema == "" {
				pfk.RefSchema = schema
			}
			for _, c := range fk.Columns {
				pfk.Columns = append(pfk.Columns, attnum(c))
			}
			rel.Foreign = append(rel.Foreign, pfk)
		}
	}
	if ct, ok := t.(sql.CommentedTable); ok {
		rel.Comment = ct.Comment()
	}
	if st, ok := t.(*systemTable); ok && st.def.View {
		// A computed relation (pg_catalog's and information_schema's own
		// views, catalog.*, reconcile.*): a view, as PostgreSQL has them.
		rel.Kind = 'v'
		rel.Indexes, rel.Foreign = nil, nil
		rel.ViewDef = "-- " + schema + "." + rel.Name + " is computed by dualgate from the live engine"
	}
	return rel, nil
}

// catalogRelationOID is RelationOID, except for the pg_catalog relations
// Postgres has, which keep Postgres's oids (pg_class is 1259).
func catalogRelationOID(schema, name string) uint32 {
	if oid, ok := pgcatalog.CatalogOID(schema, name); ok {
		return oid
	}
	return RelationOID(schema, name)
}

// fkAction spells a foreign key action as Postgres does.
func fkAction(a sql.ForeignKeyReferentialAction) string {
	switch a {
	case sql.ForeignKeyReferentialAction_Cascade:
		return "CASCADE"
	case sql.ForeignKeyReferentialAction_SetNull:
		return "SET NULL"
	case sql.ForeignKeyReferentialAction_SetDefault:
		return "SET DEFAULT"
	case sql.ForeignKeyReferentialAction_Restrict:
		return "RESTRICT"
	}
	return "NO ACTION"
}

// describeView turns an engine view into a catalog relation; its columns
// are those of its planned query, when it plans.
func (e *Engine) describeView(ctx *sql.Context, schema string, v sql.ViewDefinition) pgcatalog.Relation {
	rel := pgcatalog.Relation{Schema: schema, Name: v.Name, OID: RelationOID(schema, v.Name), Kind: 'v', ViewDef: v.TextDefinition}
	// Bind (plan without running) the view's query for its columns, so
	// they keep the declared types of the tables they come from; else a
	// SELECT * over the view.
	bind := func(q string) sql.Schema {
		stmt, _, err := e.gms.Parser.ParseOneWithOptions(ctx, q, sql.LoadSqlMode(ctx).ParserOptions())
		if err != nil {
			return nil
		}
		node, _, err := planbuilder.New(ctx, e.gms.Analyzer.Catalog, e.gms.EventScheduler, e.gms.Parser).BindOnly(stmt, q, nil)
		if err != nil {
			return nil
		}
		return node.Schema()
	}
	sch := bind(v.TextDefinition)
	if sch == nil {
		sch = bind("SELECT * FROM " + quoteEngineIdent(schema) + "." + quoteEngineIdent(v.Name))
	}
	for _, c := range sch {
		oid := e.columnOID(c)
		col := pgcatalog.Column{Name: c.Name, Type: oid, Typmod: -1}
		if oid == pgtypes.FromEngine(c.Type) {
			col.Typmod = pgtypes.TypmodFromEngine(c.Type)
		}
		rel.Columns = append(rel.Columns, col)
	}
	return rel
}

// quoteEngineIdent quotes an identifier for engine SQL (ANSI_QUOTES).
func quoteEngineIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// SetSetting implements pgcatalog.Source: set_config runs as SET (or SET
// LOCAL) in the statement's session.
func (c *catalogSource) SetSetting(ctx *sql.Context, name, value string, local bool) (string, error) {
	srv := c.server()
	if srv == nil {
		return "", fmt.Errorf("set_config: no session")
	}
	sess := srv.sessionOf(ctx)
	if sess == nil {
		return "", fmt.Errorf("set_config: no session")
	}
	if err := sess.set(&dialect.Set{Name: strings.ToLower(name), Value: []string{value}, Local: local}); err != nil {
		return "", err
	}
	c.mu.Lock()
	delete(c.cache, ctx.Session.ID())
	c.mu.Unlock()
	return sess.settings.get(name), nil
}

// pgDefault renders a column default as pg_get_expr(adbin) shows it for a
// column of Postgres type oid: a literal default as Postgres's parser
// leaves it (non-negative numbers and booleans bare, everything else a
// quoted constant cast to the column's type: 'web'::text,
// '2024-01-01'::date, 'new'::character varying, '-1'::integer); other
// defaults as the engine prints them.
func pgDefault(d *sql.ColumnDefaultValue, oid uint32) string {
	lit, ok := d.Expr.(*expression.Literal)
	if !d.IsLiteral() || !ok {
		return d.String()
	}
	v := lit.Value()
	if v == nil {
		return "" // DEFAULT NULL: Postgres stores no default
	}
	b, err := pgtypes.NewCodec().Encode(nil, oid, pgtypes.TextFormat, v)
	if err != nil {
		return d.String()
	}
	s := string(b)
	switch oid {
	case pgtypes.Bool:
		if s == "t" {
			return "true"
		}
		return "false"
	case pgtypes.Int2, pgtypes.Int4, pgtypes.Int8, pgtypes.Numeric, pgtypes.Float4, pgtypes.Float8:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && n <= math.MaxInt32 {
			return s // an integer constant
		}
		if oid != pgtypes.Int2 && oid != pgtypes.Int4 && oid != pgtypes.Int8 && !strings.HasPrefix(s, "-") && !strings.ContainsAny(s, "aAeEnN") {
			return s // a numeric constant
		}
	}
	typ := pgtypes.FormatType(oid, -1)
	switch oid {
	case pgtypes.Bpchar:
		typ = "bpchar"
	case pgtypes.Varchar:
		typ = "character varying"
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'::" + typ
}
