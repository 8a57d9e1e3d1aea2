package dialect

import (
	"strconv"
	"strings"
	"unicode/utf8"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// keyText is the engine type for text-like columns that are part of a
// PRIMARY KEY or UNIQUE constraint: the engine refuses TEXT in keys
// without a prefix length, so such columns become VARCHAR(255). Longer
// values are rejected by the engine (strict mode), never truncated.
const keyText = "VARCHAR(255)"

// columnType maps a declared Postgres column type to the engine's type.
// Choices: text -> LONGTEXT (Postgres text is unbounded; TEXT would cap at
// 64 KiB), plain numeric -> DECIMAL(65,30) (the widest the engine has),
// timestamptz -> DATETIME(6) holding UTC, interval -> LONGTEXT (the
// gateway keeps the Postgres text form), uuid -> CHAR(36),
// json/jsonb -> JSON, bytea -> LONGBLOB.
func (p *printer) columnType(tn *pg.TypeName, inKey bool, loc int32) (sqlType string, serial bool) {
	t := typeNameOf(tn)
	if t.array {
		p.unsupported(loc, "array column type %s", t.display())
	}
	name := t.name
	if t.canon == "" {
		p.unsupported(loc, "column type %s", t.display())
	}
	mod := func(i int) string { return strconv.FormatInt(t.mods[i], 10) }
	switch name {
	case "serial", "serial4":
		return "INT", true
	case "bigserial", "serial8":
		return "BIGINT", true
	case "smallserial", "serial2":
		return "SMALLINT", true
	}
	switch t.canon {
	case "int2":
		return "SMALLINT", false
	case "int4":
		return "INT", false
	case "int8":
		return "BIGINT", false
	case "bool":
		return "BOOLEAN", false
	case "text", "name", "interval":
		if inKey {
			return keyText, false
		}
		return "LONGTEXT", false
	case "varchar":
		if len(t.mods) > 0 {
			return "VARCHAR(" + mod(0) + ")", false
		}
		if inKey {
			return keyText, false
		}
		return "LONGTEXT", false
	case "bpchar":
		if len(t.mods) > 0 {
			return "CHAR(" + mod(0) + ")", false
		}
		return "CHAR(1)", false
	case "numeric":
		switch len(t.mods) {
		case 0:
			return "DECIMAL(65,30)", false
		case 1:
			return "DECIMAL(" + mod(0) + ",0)", false
		default:
			return "DECIMAL(" + mod(0) + "," + mod(1) + ")", false
		}
	case "float4":
		return "FLOAT", false
	case "float8":
		return "DOUBLE", false
	case "date":
		return "DATE", false
	case "time":
		return "TIME(" + precision(t) + ")", false
	case "timestamp", "timestamptz":
		return "DATETIME(" + precision(t) + ")", false
	case "uuid":
		return "CHAR(36)", false
	case "json", "jsonb":
		if inKey {
			p.unsupported(loc, "json column in a key")
		}
		return "JSON", false
	case "bytea":
		if inKey {
			p.unsupported(loc, "bytea column in a key")
		}
		return "LONGBLOB", false
	case "oid":
		return "INT UNSIGNED", false
	}
	p.unsupported(loc, "column type %s", t.display())
	return "", false
}

func fkAction(a string) string {
	switch a {
	case "r":
		return "RESTRICT"
	case "c":
		return "CASCADE"
	case "n":
		return "SET NULL"
	case "d":
		return "SET DEFAULT"
	}
	return "NO ACTION"
}

func (p *printer) foreignKey(c *pg.Constraint, fkCols []string) string {
	if c.Pktable == nil {
		p.unsupported(c.Location, "REFERENCES without a table")
	}
	if len(c.PkAttrs) == 0 {
		p.unsupported(c.Location, "REFERENCES without a column list")
	}
	if c.FkMatchtype == "f" {
		p.unsupported(c.Location, "MATCH FULL")
	}
	s := ""
	switch {
	case c.Conname != "":
		s = "CONSTRAINT " + ident(c.Conname) + " "
	case p.fkTable != "":
		// Postgres's name for an unnamed foreign key (the engine's would
		// be <table>_ibfk_<n>), as drivers and psql show it.
		s = "CONSTRAINT " + ident(truncIdent(p.fkTable+"_"+strings.Join(fkCols, "_")+"_fkey")) + " "
	}
	s += "FOREIGN KEY (" + identList(fkCols) + ") REFERENCES " + p.relName(c.Pktable) + " (" + identList(p.names(c.PkAttrs)) + ")"
	if c.FkDelAction != "" && c.FkDelAction != "a" {
		s += " ON DELETE " + fkAction(c.FkDelAction)
	}
	if c.FkUpdAction != "" && c.FkUpdAction != "a" {
		s += " ON UPDATE " + fkAction(c.FkUpdAction)
	}
	return s
}

func (p *printer) createTable(s *pg.CreateStmt, st *Statement) string {
	if len(s.InhRelations) > 0 || s.Partspec != nil || s.Partbound != nil || s.OfTypename != nil {
		p.unsupported(s.Relation.Location, "INHERITS / PARTITION / OF in CREATE TABLE")
	}
	if s.Oncommit != pg.OnCommitAction_ONCOMMIT_NOOP && s.Oncommit != pg.OnCommitAction_ON_COMMIT_ACTION_UNDEFINED {
		p.unsupported(-1, "ON COMMIT")
	}
	table := p.relName(s.Relation)
	p.fkTable = s.Relation.Relname
	defer func() { p.fkTable = "" }()
	ct := &CreateTable{Table: Relation{Schema: s.Relation.Schemaname, Name: s.Relation.Relname}}
	st.Create = ct

	// First pass: which columns are in keys (they need a bounded type).
	keyCols := map[string]bool{}
	var pk []string
	for _, e := range s.TableElts {
		if cd := e.GetColumnDef(); cd != nil {
			for _, cn := range cd.Constraints {
				c := cn.GetConstraint()
				if c != nil && (c.Contype == pg.ConstrType_CONSTR_PRIMARY || c.Contype == pg.ConstrType_CONSTR_UNIQUE) {
					keyCols[cd.Colname] = true
				}
			}
		} else if c := e.GetConstraint(); c != nil && (c.Contype == pg.ConstrType_CONSTR_PRIMARY || c.Contype == pg.ConstrType_CONSTR_UNIQUE) {
			for _, k := range p.names(c.Keys) {
				keyCols[k] = true
			}
			if c.Contype == pg.ConstrType_CONSTR_PRIMARY {
				pk = p.names(c.Keys)
			}
		}
	}
	var defs, tail []string
	for _, e := range s.TableElts {
		switch el := e.Node.(type) {
		case *pg.Node_ColumnDef:
			cd := el.ColumnDef
			if cd.TypeName == nil {
				p.unsupported(cd.Location, "column without a type")
			}
			typ, serial := p.columnType(cd.TypeName, keyCols[cd.Colname], cd.Location)
			t := typeNameOf(cd.TypeName)
			ct.Columns = append(ct.Columns, ColumnDef{Name: cd.Colname, OID: t.oid, Typmod: t.typmod()})
			def := ident(cd.Colname) + " " + typ
			isPK, notNull, autoInc := false, cd.IsNotNull || serial, serial
			var extra []string
			if cd.CollClause != nil {
				p.unsupported(cd.Location, "COLLATE in a column definition")
			}
			for _, cn := range cd.Constraints {
				c := cn.GetConstraint()
				if c == nil {
					p.unsupported(cd.Location, "column constraint %s", nodeName(cn))
				}
				switch c.Contype {
				case pg.ConstrType_CONSTR_NOTNULL:
					notNull = true
				case pg.ConstrType_CONSTR_NULL:
				case pg.ConstrType_CONSTR_PRIMARY:
					isPK, notNull = true, true
				case pg.ConstrType_CONSTR_UNIQUE:
					extra = append(extra, "UNIQUE")
				case pg.ConstrType_CONSTR_DEFAULT:
					extra = append(extra, "DEFAULT "+p.defaultExpr(c.RawExpr))
				case pg.ConstrType_CONSTR_CHECK:
					chk := "CHECK (" + p.expr(c.RawExpr) + ")"
					if c.Conname != "" {
						chk = "CONSTRAINT " + ident(c.Conname) + " " + chk
					}
					tail = append(tail, chk)
				case pg.ConstrType_CONSTR_FOREIGN:
					// MySQL ignores inline REFERENCES; make it a table constraint.
					tail = append(tail, p.foreignKey(c, []string{cd.Colname}))
				case pg.ConstrType_CONSTR_IDENTITY:
					autoInc, notNull = true, true
				case pg.ConstrType_CONSTR_GENERATED:
					extra = append(extra, "GENERATED ALWAYS AS ("+p.expr(c.RawExpr)+") STORED")
				case pg.ConstrType_CONSTR_ATTR_NOT_DEFERRABLE, pg.ConstrType_CONSTR_ATTR_IMMEDIATE:
				default:
					p.unsupported(c.Location, "column constraint %s", strings.TrimPrefix(c.Contype.String(), "CONSTR_"))
				}
			}
			if notNull {
				def += " NOT NULL"
			}
			if autoInc {
				def += " AUTO_INCREMENT"
				if !isPK && !keyCols[cd.Colname] && !contains(pk, cd.Colname) {
					// The engine requires an AUTO_INCREMENT column to be a key.
					extra = append(extra, "UNIQUE")
				}
			}
			if isPK {
				def += " PRIMARY KEY"
			}
			if len(extra) > 0 {
				def += " " + strings.Join(extra, " ")
			}
			defs = append(defs, def)
		case *pg.Node_Constraint:
			tail = append(tail, p.tableConstraint(el.Constraint))
		default:
			p.unsupported(-1, "CREATE TABLE element %s", nodeName(e))
		}
	}
	ine := ""
	if s.IfNotExists {
		ine = "IF NOT EXISTS "
	}
	return "CREATE TABLE " + ine + table + " (" + strings.Join(append(defs, tail...), ", ") + ")"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// defaultExpr prints a column default: literals as they are, any other
// expression in parentheses (MySQL's expression-default syntax).
func (p *printer) defaultExpr(n *pg.Node) string {
	e := p.expr(n)
	if c := n.GetAConst(); c != nil {
		return e
	}
	if u := n.GetAExpr(); u != nil && u.Lexpr == nil {
		if c := u.Rexpr.GetAConst(); c != nil {
			return e // negative literal
		}
	}
	return "(" + e + ")"
}

func (p *printer) tableConstraint(c *pg.Constraint) string {
	name := ""
	if c.Conname != "" {
		name = "CONSTRAINT " + ident(c.Conname) + " "
	}
	switch c.Contype {
	case pg.ConstrType_CONSTR_PRIMARY:
		if len(c.Including) > 0 {
			p.unsupported(c.Location, "INCLUDE")
		}
		if c.Indexname != "" {
			p.unsupported(c.Location, "PRIMARY KEY USING INDEX")
		}
		return "PRIMARY KEY (" + identList(p.names(c.Keys)) + ")"
	case pg.ConstrType_CONSTR_UNIQUE:
		if len(c.Including) > 0 || c.Indexname != "" {
			p.unsupported(c.Location, "UNIQUE with INCLUDE or USING INDEX")
		}
		return name + "UNIQUE (" + identList(p.names(c.Keys)) + ")"
	case pg.ConstrType_CONSTR_CHECK:
		return name + "CHECK (" + p.expr(c.RawExpr) + ")"
	case pg.ConstrType_CONSTR_FOREIGN:
		return p.foreignKey(c, p.names(c.FkAttrs))
	}
	p.unsupported(c.Location, "table constraint %s", strings.TrimPrefix(c.Contype.String(), "CONSTR_"))
	return ""
}

func (p *printer) createTableAs(s *pg.CreateTableAsStmt, st *Statement) {
	if s.Objtype != pg.ObjectType_OBJECT_TABLE || s.Into == nil || s.Into.Rel == nil {
		p.unsupported(-1, "CREATE MATERIALIZED VIEW / CREATE TABLE AS variant")
	}
	sel := s.Query.GetSelectStmt()
	if sel == nil || len(s.Into.ColNames) > 0 || s.Into.SkipData {
		p.unsupported(-1, "this form of CREATE TABLE AS")
	}
	st.Kind, st.Tag = KindExec, "SELECT"
	ine := ""
	if s.IfNotExists {
		ine = "IF NOT EXISTS "
	}
	st.Engine = "CREATE TABLE " + ine + p.relName(s.Into.Rel) + " AS " + p.selectStmt(sel, nil)
}

func (p *printer) createIndex(s *pg.IndexStmt) string {
	if s.WhereClause != nil {
		p.unsupported(-1, "partial indexes")
	}
	if len(s.IndexIncludingParams) > 0 {
		p.unsupported(-1, "INCLUDE")
	}
	if s.AccessMethod != "" && s.AccessMethod != "btree" {
		p.unsupported(-1, "index method %s", s.AccessMethod)
	}
	table := p.relName(s.Relation)
	var cols, names []string
	for _, n := range s.IndexParams {
		ie := n.GetIndexElem()
		if ie == nil || ie.Expr != nil || ie.Name == "" {
			p.unsupported(-1, "expression indexes")
		}
		if len(ie.Opclass) > 0 || len(ie.Collation) > 0 {
			p.unsupported(-1, "index operator classes and collations")
		}
		c := ident(ie.Name)
		if ie.Ordering == pg.SortByDir_SORTBY_DESC {
			c += " DESC"
		}
		cols = append(cols, c)
		names = append(names, ie.Name)
	}
	name := s.Idxname
	if name == "" {
		// Postgres's default name: table_col1_col2_idx / _key for unique.
		suffix := "_idx"
		if s.Unique {
			suffix = "_key"
		}
		name = s.Relation.Relname + "_" + strings.Join(names, "_") + suffix
	}
	u := ""
	if s.Unique {
		u = "UNIQUE "
	}
	return "CREATE " + u + "INDEX " + ident(name) + " ON " + table + " (" + strings.Join(cols, ", ") + ")"
}

func (p *printer) rangeVarOfNames(list []*pg.Node) Relation {
	names := p.names(list)
	switch len(names) {
	case 1:
		return Relation{Name: names[0]}
	case 2:
		return Relation{Schema: names[0], Name: names[1]}
	}
	p.unsupported(-1, "name %s", strings.Join(names, "."))
	return Relation{}
}

func relText(r Relation) string {
	if r.Schema != "" {
		return ident(r.Schema) + "." + ident(r.Name)
	}
	return ident(r.Name)
}

func (p *printer) drop(s *pg.DropStmt, st *Statement) {
	if s.Behavior == pg.DropBehavior_DROP_CASCADE {
		p.unsupported(-1, "DROP ... CASCADE")
	}
	ie := ""
	if s.MissingOk {
		ie = "IF EXISTS "
	}
	st.Kind = KindExec
	switch s.RemoveType {
	case pg.ObjectType_OBJECT_TABLE, pg.ObjectType_OBJECT_VIEW:
		kw := "TABLE"
		st.Tag = "DROP TABLE"
		if s.RemoveType == pg.ObjectType_OBJECT_VIEW {
			kw, st.Tag = "VIEW", "DROP VIEW"
		}
		var parts []string
		for _, o := range s.Objects {
			l := o.GetList()
			if l == nil {
				p.unsupported(-1, "DROP object %s", nodeName(o))
			}
			r := p.rangeVarOfNames(l.Items)
			p.addRel(r)
			if s.RemoveType == pg.ObjectType_OBJECT_TABLE {
				st.Drop = append(st.Drop, r)
			}
			parts = append(parts, relText(r))
		}
		st.Engine = "DROP " + kw + " " + ie + strings.Join(parts, ", ")
	case pg.ObjectType_OBJECT_SCHEMA:
		st.Tag = "DROP SCHEMA"
		if len(s.Objects) != 1 {
			p.unsupported(-1, "DROP SCHEMA of several schemas")
		}
		name, ok := strVal(s.Objects[0])
		if !ok {
			p.unsupported(-1, "DROP SCHEMA name")
		}
		st.Engine = "DROP DATABASE " + ie + ident(name)
	default:
		p.unsupported(-1, "DROP %s", strings.TrimPrefix(s.RemoveType.String(), "OBJECT_"))
	}
}

func (p *printer) createView(s *pg.ViewStmt) string {
	if s.WithCheckOption != pg.ViewCheckOption_NO_CHECK_OPTION && s.WithCheckOption != pg.ViewCheckOption_VIEW_CHECK_OPTION_UNDEFINED {
		p.unsupported(-1, "WITH CHECK OPTION")
	}
	if s.View.Relpersistence == "t" {
		p.unsupported(-1, "temporary views")
	}
	sel := s.Query.GetSelectStmt()
	if sel == nil {
		p.unsupported(-1, "view query %s", nodeName(s.Query))
	}
	q := "CREATE "
	if s.Replace {
		q += "OR REPLACE "
	}
	q += "VIEW " + p.relName(s.View)
	if len(s.Aliases) > 0 {
		q += " (" + identList(p.names(s.Aliases)) + ")"
	}
	return q + " AS " + p.selectStmt(sel, nil)
}

func (p *printer) truncate(s *pg.TruncateStmt) string {
	if s.Behavior == pg.DropBehavior_DROP_CASCADE {
		p.unsupported(-1, "TRUNCATE ... CASCADE")
	}
	if len(s.Relations) != 1 {
		p.unsupported(-1, "TRUNCATE of several tables")
	}
	rv := s.Relations[0].GetRangeVar()
	// RESTART IDENTITY: the engine's TRUNCATE resets AUTO_INCREMENT anyway;
	// CONTINUE IDENTITY is therefore not honoured.
	if !s.RestartSeqs {
		_ = rv
	}
	return "TRUNCATE TABLE " + p.relName(rv)
}

func (p *printer) alterTable(s *pg.AlterTableStmt, st *Statement) string {
	if s.Objtype != pg.ObjectType_OBJECT_TABLE {
		p.unsupported(-1, "ALTER %s", strings.TrimPrefix(s.Objtype.String(), "OBJECT_"))
	}
	if s.MissingOk {
		p.unsupported(-1, "ALTER TABLE IF EXISTS")
	}
	table := p.relName(s.Relation)
	var cmds []string
	for _, n := range s.Cmds {
		c := n.GetAlterTableCmd()
		if c == nil {
			p.unsupported(-1, "ALTER TABLE command %s", nodeName(n))
		}
		switch c.Subtype {
		case pg.AlterTableType_AT_AddColumn:
			cd := c.Def.GetColumnDef()
			if cd == nil {
				p.unsupported(-1, "ADD COLUMN without a column definition")
			}
			if c.MissingOk {
				p.unsupported(cd.Location, "ADD COLUMN IF NOT EXISTS")
			}
			// Print through CREATE TABLE's column printer.
			tmp := &Statement{}
			ctext := p.createTable(&pg.CreateStmt{Relation: s.Relation, TableElts: []*pg.Node{c.Def}}, tmp)
			inner := ctext[strings.Index(ctext, "(")+1 : len(ctext)-1]
			if strings.Contains(inner, "FOREIGN KEY") || strings.Contains(inner, "CHECK (") {
				p.unsupported(cd.Location, "constraints in ALTER TABLE ADD COLUMN")
			}
			if st.AddColumns == nil {
				st.AddColumns = &CreateTable{Table: tmp.Create.Table}
			}
			st.AddColumns.Columns = append(st.AddColumns.Columns, tmp.Create.Columns...)
			cmds = append(cmds, "ADD COLUMN "+inner)
		case pg.AlterTableType_AT_DropColumn:
			if c.Behavior == pg.DropBehavior_DROP_CASCADE {
				p.unsupported(-1, "DROP COLUMN ... CASCADE")
			}
			if c.MissingOk {
				p.unsupported(-1, "DROP COLUMN IF EXISTS")
			}
			cmds = append(cmds, "DROP COLUMN "+ident(c.Name))
		case pg.AlterTableType_AT_ColumnDefault:
			if c.Def == nil {
				cmds = append(cmds, "ALTER COLUMN "+ident(c.Name)+" DROP DEFAULT")
			} else {
				cmds = append(cmds, "ALTER COLUMN "+ident(c.Name)+" SET DEFAULT "+p.defaultExpr(c.Def))
			}
		case pg.AlterTableType_AT_AddConstraint:
			con := c.Def.GetConstraint()
			if con == nil {
				p.unsupported(-1, "ADD CONSTRAINT %s", nodeName(c.Def))
			}
			cmds = append(cmds, "ADD "+p.tableConstraint(con))
		default:
			p.unsupported(-1, "ALTER TABLE %s", strings.TrimPrefix(c.Subtype.String(), "AT_"))
		}
	}
	return "ALTER TABLE " + table + " " + strings.Join(cmds, ", ")
}

func (p *printer) rename(s *pg.RenameStmt) string {
	switch s.RenameType {
	case pg.ObjectType_OBJECT_TABLE:
		t := p.relName(s.Relation)
		nr := Relation{Schema: s.Relation.Schemaname, Name: s.Newname}
		return "RENAME TABLE " + t + " TO " + relText(nr)
	case pg.ObjectType_OBJECT_COLUMN:
		return "ALTER TABLE " + p.relName(s.Relation) + " RENAME COLUMN " + ident(s.Subname) + " TO " + ident(s.Newname)
	}
	p.unsupported(-1, "ALTER ... RENAME of %s", strings.TrimPrefix(s.RenameType.String(), "OBJECT_"))
	return ""
}

// truncIdent shortens a generated name to Postgres's 63-byte identifier
// limit (NAMEDATALEN - 1), as Postgres does for generated constraint names.
func truncIdent(s string) string {
	if len(s) <= 63 {
		return s
	}
	s = s[:63]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
