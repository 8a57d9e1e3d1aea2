package dialect

import (
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

func (p *printer) transaction(t *pg.TransactionStmt, st *Statement) {
	switch t.Kind {
	case pg.TransactionStmtKind_TRANS_STMT_BEGIN:
		st.Kind, st.Tag = KindBegin, "BEGIN"
	case pg.TransactionStmtKind_TRANS_STMT_START:
		st.Kind, st.Tag = KindBegin, "START TRANSACTION"
	case pg.TransactionStmtKind_TRANS_STMT_COMMIT:
		if t.Chain {
			p.unsupported(t.Location, "COMMIT AND CHAIN")
		}
		st.Kind, st.Tag = KindCommit, "COMMIT"
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		if t.Chain {
			p.unsupported(t.Location, "ROLLBACK AND CHAIN")
		}
		st.Kind, st.Tag = KindRollback, "ROLLBACK"
	case pg.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		st.Kind, st.Tag, st.Savepoint = KindSavepoint, "SAVEPOINT", t.SavepointName
	case pg.TransactionStmtKind_TRANS_STMT_RELEASE:
		st.Kind, st.Tag, st.Savepoint = KindRelease, "RELEASE", t.SavepointName
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		st.Kind, st.Tag, st.Savepoint = KindRollbackTo, "ROLLBACK", t.SavepointName
	default:
		p.unsupported(t.Location, "two-phase commit")
	}
}

// settingValue renders one SET argument as text, like Postgres's
// flatten_set_variable_args does for the common cases.
func (p *printer) settingValue(n *pg.Node) string {
	switch v := n.Node.(type) {
	case *pg.Node_AConst:
		switch c := v.AConst.Val.(type) {
		case *pg.A_Const_Sval:
			return c.Sval.Sval
		case *pg.A_Const_Ival:
			return strconv.Itoa(int(c.Ival.Ival))
		case *pg.A_Const_Fval:
			return c.Fval.Fval
		case *pg.A_Const_Boolval:
			if c.Boolval.Boolval {
				return "on"
			}
			return "off"
		}
	case *pg.Node_TypeCast:
		// SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE and the like.
		if c := v.TypeCast.Arg.GetAConst(); c != nil && c.GetSval() != nil {
			return c.GetSval().Sval
		}
	}
	p.unsupported(-1, "SET value %s", nodeName(n))
	return ""
}

func (p *printer) set(s *pg.VariableSetStmt, st *Statement) {
	name := strings.ToLower(s.Name)
	switch name {
	case "timezone":
	case "transaction", "session characteristics":
		// SET TRANSACTION ISOLATION LEVEL ... / SET SESSION CHARACTERISTICS
		// AS TRANSACTION ...: accepted and ignored.
		st.Kind, st.Tag = KindNoop, "SET"
		return
	}
	set := &Set{Name: name, Local: s.IsLocal}
	st.Set = set
	switch s.Kind {
	case pg.VariableSetKind_VAR_SET_VALUE:
		st.Kind, st.Tag = KindSet, "SET"
		for _, a := range s.Args {
			set.Value = append(set.Value, p.settingValue(a))
		}
	case pg.VariableSetKind_VAR_SET_DEFAULT:
		st.Kind, st.Tag = KindSet, "SET"
		set.Reset = true
	case pg.VariableSetKind_VAR_RESET:
		st.Kind, st.Tag = KindReset, "RESET"
		set.Reset = true
	case pg.VariableSetKind_VAR_RESET_ALL:
		st.Kind, st.Tag = KindReset, "RESET"
		set.Reset, set.All = true, true
	case pg.VariableSetKind_VAR_SET_MULTI:
		st.Kind, st.Tag, st.Set = KindNoop, "SET", nil
	default:
		p.unsupported(-1, "SET ... FROM CURRENT")
	}
}

// showName normalises SHOW's argument the way Postgres names settings.
func showName(name string) string {
	n := strings.ToLower(name)
	switch n {
	case "time zone":
		return "timezone"
	case "transaction isolation level":
		return "transaction_isolation"
	case "session authorization":
		return "session_authorization"
	}
	return n
}

func (p *printer) copy(c *pg.CopyStmt, st *Statement) {
	st.Tag = "COPY"
	if c.IsProgram || c.Filename != "" {
		p.unsupported(-1, "COPY to or from a file or program (the server's files are not reachable); use STDIN/STDOUT (psql \\copy)")
	}
	if c.WhereClause != nil {
		p.unsupported(-1, "COPY FROM ... WHERE")
	}
	cp := &Copy{Format: "text"}
	st.Copy = cp
	quoteSet, escapeSet, delimSet, nullSet := false, false, false, false
	for _, o := range c.Options {
		d := o.GetDefElem()
		if d == nil {
			p.unsupported(-1, "COPY option %s", nodeName(o))
		}
		name := strings.ToLower(d.Defname)
		switch name {
		case "format":
			f := strings.ToLower(p.defString(d))
			switch f {
			case "text", "csv":
				cp.Format = f
			default:
				p.unsupported(d.Location, "COPY format %s", f)
			}
		case "header":
			v := strings.ToLower(p.defString(d))
			switch v {
			case "", "true", "on", "1", "yes":
				cp.Header = true
			case "false", "off", "0", "no":
				cp.Header = false
			default:
				p.unsupported(d.Location, "COPY HEADER %s", v)
			}
		case "delimiter":
			cp.Delimiter, delimSet = p.defString(d), true
		case "null":
			cp.Null, nullSet = p.defString(d), true
		case "quote":
			cp.Quote, quoteSet = p.defString(d), true
		case "escape":
			cp.Escape, escapeSet = p.defString(d), true
		case "force_quote":
			if d.Arg != nil && d.Arg.GetAStar() != nil {
				cp.ForceQuote = []string{"*"}
			} else if l := d.Arg.GetList(); l != nil {
				cp.ForceQuote = p.names(l.Items)
			} else {
				p.unsupported(d.Location, "FORCE_QUOTE value")
			}
		case "encoding":
			enc := strings.ToLower(strings.ReplaceAll(p.defString(d), "-", ""))
			if enc != "utf8" {
				p.unsupported(d.Location, "COPY ENCODING %s", enc)
			}
		case "freeze":
		default:
			p.unsupported(d.Location, "COPY option %s", strings.ToUpper(name))
		}
	}
	if !delimSet {
		cp.Delimiter = "\t"
		if cp.Format == "csv" {
			cp.Delimiter = ","
		}
	}
	if !nullSet {
		cp.Null = `\N`
		if cp.Format == "csv" {
			cp.Null = ""
		}
	}
	if cp.Format == "csv" {
		if !quoteSet {
			cp.Quote = `"`
		}
		if !escapeSet {
			cp.Escape = cp.Quote
		}
	} else if quoteSet || escapeSet || len(cp.ForceQuote) > 0 {
		p.unsupported(-1, "QUOTE/ESCAPE/FORCE_QUOTE outside CSV format")
	}
	if len([]rune(cp.Delimiter)) != 1 {
		p.unsupported(-1, "COPY delimiter %q (must be one character)", cp.Delimiter)
	}
	if c.Query != nil {
		if c.IsFrom {
			p.unsupported(-1, "COPY (query) FROM")
		}
		sel := c.Query.GetSelectStmt()
		if sel == nil {
			p.unsupported(-1, "COPY (%s) TO", nodeName(c.Query))
		}
		st.Kind = KindCopyTo
		cp.Query = p.selectStmt(sel, st)
		st.Engine = cp.Query
		return
	}
	cp.Table = Relation{Schema: c.Relation.Schemaname, Name: c.Relation.Relname}
	table := p.relName(c.Relation)
	for _, a := range c.Attlist {
		s, ok := strVal(a)
		if !ok {
			p.unsupported(-1, "COPY column %s", nodeName(a))
		}
		cp.Columns = append(cp.Columns, s)
	}
	if c.IsFrom {
		st.Kind = KindCopyFrom
		return
	}
	st.Kind = KindCopyTo
	cols := "*"
	if len(cp.Columns) > 0 {
		cols = identList(cp.Columns)
	}
	// For COPY table TO, Engine is the query producing the rows.
	st.Engine = "SELECT " + cols + " FROM " + table
	cp.Query = st.Engine
}

// defString reads a DefElem argument as text ("" when absent).
func (p *printer) defString(d *pg.DefElem) string {
	if d.Arg == nil {
		return ""
	}
	switch a := d.Arg.Node.(type) {
	case *pg.Node_String_:
		return a.String_.Sval
	case *pg.Node_Integer:
		return strconv.Itoa(int(a.Integer.Ival))
	case *pg.Node_Boolean:
		if a.Boolean.Boolval {
			return "true"
		}
		return "false"
	case *pg.Node_AConst:
		return p.settingValue(d.Arg)
	}
	p.unsupported(d.Location, "option value %s", nodeName(d.Arg))
	return ""
}

func (p *printer) call(c *pg.CallStmt, st *Statement) {
	f := c.Funccall
	st.Kind, st.Tag = KindCall, "CALL"
	names := p.names(f.Funcname)
	call := &Call{}
	switch len(names) {
	case 1:
		call.Name = names[0]
	case 2:
		call.Schema, call.Name = names[0], names[1]
	default:
		p.unsupported(f.Location, "procedure name %s", strings.Join(names, "."))
	}
	for _, a := range f.Args {
		if a.GetNamedArgExpr() != nil {
			p.unsupported(f.Location, "named procedure arguments")
		}
		call.Args = append(call.Args, p.expr(a))
	}
	st.Call = call
}
