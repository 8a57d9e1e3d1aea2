package dialect

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	pg "github.com/pganalyze/pg_query_go/v6"
	pgparser "github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/dualgate/dualgate/gateway/pgcatalog"
	"github.com/dualgate/dualgate/gateway/pgerror"
)

// Parse parses a string of one or more Postgres statements and translates
// each one. A string with no statement (only whitespace, comments or
// semicolons) yields a single KindEmpty statement. Errors are *pgerror.Error:
// 42601 for syntax errors (with a 1-based character Position) and 0A000 for
// constructs dualgate does not translate.
func Parse(sql string) ([]Statement, error) { return ParseWith(sql, Options{}) }

// Options give the translator what it may know of the database.
type Options struct {
	// TableColumns returns a table's column names in order (schema empty
	// for an unqualified name), or nil if unknown. It lets INSERT without
	// a column list give fewer values than the table has columns, as
	// Postgres allows.
	TableColumns func(schema, table string) []string
	// ColumnType returns a table column's declared Postgres type OID (0 if
	// unknown), for literals whose meaning depends on it.
	ColumnType func(schema, table, column string) uint32
}

// ParseWith is Parse with knowledge of the database.
func ParseWith(sql string, opts Options) (stmts []Statement, err error) {
	sql, revs := timeTravel(sql)
	tree, perr := pg.Parse(sql)
	if perr != nil {
		return nil, syntaxError(sql, perr)
	}
	if len(tree.Stmts) == 0 {
		return []Statement{{Kind: KindEmpty, StarIndex: -1}}, nil
	}
	for _, raw := range tree.Stmts {
		st, err := translateRaw(sql, raw, revs, opts)
		if err != nil {
			return nil, err
		}
		stmts = append(stmts, st)
	}
	return stmts, nil
}

func syntaxError(sql string, err error) *pgerror.Error {
	var pe *pgparser.Error
	if errors.As(err, &pe) {
		e := pgerror.New(pgerror.SyntaxError, "%s", pe.Message)
		if pe.Cursorpos > 0 {
			// Postgres already reports a 1-based character position.
			e = e.WithPosition(pe.Cursorpos)
		}
		return e
	}
	return pgerror.New(pgerror.SyntaxError, "%s", err.Error())
}

// charPos converts a 0-based byte offset into a 1-based character position,
// which is what Postgres reports.
func charPos(sql string, byteOff int) int {
	if byteOff < 0 {
		return 0
	}
	if byteOff > len(sql) {
		byteOff = len(sql)
	}
	return utf8.RuneCountInString(sql[:byteOff]) + 1
}

// bail carries a translation error out of the recursive printer.
type bail struct{ err *pgerror.Error }

func translateRaw(sql string, raw *pg.RawStmt, revs map[int32]string, opts Options) (st Statement, err error) {
	start := int(raw.StmtLocation)
	end := len(sql)
	if raw.StmtLen > 0 {
		end = start + int(raw.StmtLen)
	}
	if start < 0 || start > len(sql) || end > len(sql) || end < start {
		start, end = 0, len(sql)
	}
	p := &printer{sql: sql, asOf: revs, opts: opts}
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bail)
			if !ok {
				// A translator bug must not take the session down: report
				// it as an internal error (FuzzParse fails on XX000).
				st, err = Statement{}, pgerror.New(pgerror.InternalError, "internal error translating the statement: %v", r)
				return
			}
			st, err = Statement{}, b.err
		}
	}()
	st = Statement{StarIndex: -1, Source: strings.TrimSpace(sql[start:end])}
	p.statement(raw.Stmt, &st)
	if p.maxParam > 0 {
		st.Params = make([]uint32, p.maxParam)
		for n, oid := range p.params {
			st.Params[n-1] = oid
		}
	}
	st.Relations = p.rels
	return st, nil
}

// printer prints engine SQL for one statement and collects what it learns
// on the way (parameters, relations).
type printer struct {
	sql      string
	asOf     map[int32]string // time travel per relation location (see asof.go)
	setRel   *pg.RangeVar     // the UPDATE target while its SET list prints
	scope    [][]scopeRel     // relations in FROM of the queries being printed (innermost last)
	opts     Options
	params   map[int]uint32
	maxParam int
	rels     []Relation
	relSeen  map[Relation]bool
	ctes     map[string]*pg.CommonTableExpr // WITH items seen so far, by name
	typing   int                            // depth of typeOf through derived tables and CTEs
	outNames []string                       // output names of the select being printed (GROUP BY / ORDER BY may use them)
	excluded bool                           // inside ON CONFLICT DO UPDATE: EXCLUDED.x -> VALUES(x)
	nAlias   int
	windows  map[string]*pg.WindowDef // WINDOW clause of the query being printed
	srf      map[*pg.FuncCall]srfCall // set-returning calls of select lists (srf.go)
	records  map[string]bool          // output names holding _pg_expandarray records
	fkTable  string                   // the table a CREATE TABLE is creating (foreign key names)
	regOut   map[*pg.TypeCast]bool    // reg* casts whose value is output as text (catalogCast)
}

func (p *printer) fail(loc int32, e *pgerror.Error) {
	if loc >= 0 && int(loc) <= len(p.sql) && e.Position == 0 {
		e = e.WithPosition(charPos(p.sql, int(loc)))
	}
	panic(bail{e})
}

// unsupported aborts translation with 0A000 naming the construct.
func (p *printer) unsupported(loc int32, format string, args ...any) {
	p.fail(loc, pgerror.Unsupported(fmt.Sprintf(format, args...)))
}

func (p *printer) addRel(r Relation) {
	if r.Schema == "" && p.ctes[r.Name] != nil {
		return
	}
	if p.relSeen == nil {
		p.relSeen = map[Relation]bool{}
	}
	if !p.relSeen[r] {
		p.relSeen[r] = true
		p.rels = append(p.rels, r)
	}
}

func (p *printer) param(n int, oid uint32) {
	if p.params == nil {
		p.params = map[int]uint32{}
	}
	if n > p.maxParam {
		p.maxParam = n
	}
	if old := p.params[n]; old == 0 || oid != 0 {
		if oid != 0 || old == 0 {
			p.params[n] = oid
		}
	}
}

func (p *printer) statement(n *pg.Node, st *Statement) {
	switch s := n.Node.(type) {
	case *pg.Node_SelectStmt:
		st.Kind, st.Tag = KindQuery, "SELECT"
		if s.SelectStmt.IntoClause != nil {
			p.unsupported(-1, "SELECT INTO")
		}
		st.Engine = p.selectTop(s.SelectStmt, st)
	case *pg.Node_InsertStmt:
		st.Kind, st.Tag = KindExec, "INSERT"
		st.Engine = p.insert(s.InsertStmt)
	case *pg.Node_UpdateStmt:
		st.Kind, st.Tag = KindExec, "UPDATE"
		st.Engine = p.update(s.UpdateStmt)
	case *pg.Node_DeleteStmt:
		st.Kind, st.Tag = KindExec, "DELETE"
		st.Engine = p.delete(s.DeleteStmt)
	case *pg.Node_CreateStmt:
		st.Kind, st.Tag = KindExec, "CREATE TABLE"
		st.Engine = p.createTable(s.CreateStmt, st)
	case *pg.Node_CreateTableAsStmt:
		p.createTableAs(s.CreateTableAsStmt, st)
	case *pg.Node_IndexStmt:
		st.Kind, st.Tag = KindExec, "CREATE INDEX"
		st.Engine = p.createIndex(s.IndexStmt)
	case *pg.Node_DropStmt:
		p.drop(s.DropStmt, st)
	case *pg.Node_ViewStmt:
		st.Kind, st.Tag = KindExec, "CREATE VIEW"
		st.Engine = p.createView(s.ViewStmt)
	case *pg.Node_CreateSchemaStmt:
		st.Kind, st.Tag = KindExec, "CREATE SCHEMA"
		cs := s.CreateSchemaStmt
		if len(cs.SchemaElts) > 0 || cs.Schemaname == "" {
			p.unsupported(-1, "CREATE SCHEMA with elements or AUTHORIZATION")
		}
		st.Engine = "CREATE DATABASE "
		if cs.IfNotExists {
			st.Engine += "IF NOT EXISTS "
		}
		st.Engine += ident(cs.Schemaname)
	case *pg.Node_TruncateStmt:
		st.Kind, st.Tag = KindExec, "TRUNCATE TABLE"
		st.Engine = p.truncate(s.TruncateStmt)
	case *pg.Node_AlterTableStmt:
		st.Kind, st.Tag = KindExec, "ALTER TABLE"
		st.Engine = p.alterTable(s.AlterTableStmt, st)
	case *pg.Node_RenameStmt:
		st.Kind, st.Tag = KindExec, "ALTER TABLE"
		st.Engine = p.rename(s.RenameStmt)
	case *pg.Node_TransactionStmt:
		p.transaction(s.TransactionStmt, st)
	case *pg.Node_VariableSetStmt:
		p.set(s.VariableSetStmt, st)
	case *pg.Node_VariableShowStmt:
		st.Kind, st.Tag = KindShow, "SHOW"
		st.Show = showName(s.VariableShowStmt.Name)
	case *pg.Node_CopyStmt:
		p.copy(s.CopyStmt, st)
	case *pg.Node_CallStmt:
		p.call(s.CallStmt, st)
	case *pg.Node_DiscardStmt:
		st.Kind = KindDiscard
		switch s.DiscardStmt.Target {
		case pg.DiscardMode_DISCARD_ALL:
			st.Tag = "DISCARD ALL"
		case pg.DiscardMode_DISCARD_PLANS:
			st.Tag = "DISCARD PLANS"
		case pg.DiscardMode_DISCARD_SEQUENCES:
			st.Tag = "DISCARD SEQUENCES"
		default:
			st.Tag = "DISCARD TEMP"
		}
	case *pg.Node_DeallocateStmt:
		st.Kind, st.Tag = KindDeallocate, "DEALLOCATE"
		if s.DeallocateStmt.Isall || s.DeallocateStmt.Name == "" {
			st.Tag = "DEALLOCATE ALL"
		}
	case *pg.Node_ListenStmt:
		st.Kind, st.Tag = KindNoop, "LISTEN"
	case *pg.Node_UnlistenStmt:
		st.Kind, st.Tag = KindNoop, "UNLISTEN"
	case *pg.Node_NotifyStmt:
		st.Kind, st.Tag = KindNoop, "NOTIFY"
	case *pg.Node_ExplainStmt:
		p.unsupported(-1, "EXPLAIN")
	default:
		p.unsupported(-1, "statement %s", nodeName(n))
	}
}

// nodeName names a node type for error messages ("SelectStmt").
func nodeName(n *pg.Node) string {
	if n == nil || n.Node == nil {
		return "empty node"
	}
	name := fmt.Sprintf("%T", n.Node)
	name = strings.TrimPrefix(name, "*pg_query.Node_")
	return name
}

// ident prints a double-quoted identifier (ANSI_QUOTES).
func ident(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// strLit prints a MySQL string literal holding exactly s: quotes are
// doubled and, because MySQL treats backslash as an escape character
// while Postgres (standard_conforming_strings) does not, backslashes too.
func strLit(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func (p *printer) relName(rv *pg.RangeVar) string {
	if rv.Catalogname != "" {
		p.unsupported(rv.Location, "database-qualified name %s.%s.%s", rv.Catalogname, rv.Schemaname, rv.Relname)
	}
	if rv.Relpersistence == "t" {
		p.unsupported(rv.Location, "temporary tables")
	}
	schema := rv.Schemaname
	if schema == "" && p.ctes[rv.Relname] == nil && pgcatalog.IsCatalogRelation(rv.Relname) {
		// Postgres searches pg_catalog before the search_path.
		schema = "pg_catalog"
	}
	r := Relation{Schema: schema, Name: rv.Relname, AsOf: p.asOf[rv.Location]}
	if rv.Alias != nil {
		r.Alias = rv.Alias.Aliasname
	}
	p.addRel(r)
	name := ident(rv.Relname)
	if schema != "" {
		name = ident(schema) + "." + name
	}
	if r.AsOf != "" {
		name += " AS OF " + r.AsOf
	}
	return name
}

func strVal(n *pg.Node) (string, bool) {
	if n == nil {
		return "", false
	}
	if s := n.GetString_(); s != nil {
		return s.Sval, true
	}
	return "", false
}

func (p *printer) names(list []*pg.Node) []string {
	out := make([]string, 0, len(list))
	for _, n := range list {
		s, ok := strVal(n)
		if !ok {
			p.unsupported(-1, "%s in a name list", nodeName(n))
		}
		out = append(out, s)
	}
	return out
}

func identList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = ident(n)
	}
	return strings.Join(q, ", ")
}
