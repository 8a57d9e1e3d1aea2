package catalog

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/shopspring/decimal"
)

// sqlLoc remembers where a piece of SQL came from, to translate SQL error
// offsets to file positions.
type sqlLoc struct {
	d    *fileDec
	n    ast.Node
	text string
}

func (l sqlLoc) pos(off int) Pos {
	if l.d == nil {
		return Pos{}
	}
	if off < 0 {
		return l.d.pos(l.n)
	}
	return l.d.valuePos(l.n, l.text, off)
}

var nameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// checkName reports names that cannot become Postgres identifiers unquoted.
func (d *fileDec) checkName(name string, p Pos, what string) bool {
	if name == "" {
		d.e.add(p, "give it a name", "%s name is empty", what)
		return false
	}
	if !nameRE.MatchString(name) || len(name) > 63 {
		fix := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9_]+`).ReplaceAllString(name, "_"))
		if fix == "" || (fix[0] >= '0' && fix[0] <= '9') {
			fix = "_" + fix
		}
		if len(fix) > 63 {
			fix = fix[:63]
		}
		d.e.add(p, fmt.Sprintf("names become Postgres identifiers: use lower-case letters, digits and _ (at most 63), e.g. %q", fix),
			"invalid %s name %q", what, name)
		return false
	}
	return true
}

// parseDuration accepts Go durations (300ms, 2s, 1m30s, 4h) plus days (1d, 2d12h).
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return days + d, nil
}

func (d *fileDec) duration(m map[string]kv, key, what string) (time.Duration, bool) {
	e, ok := m[key]
	if !ok {
		return 0, false
	}
	s, ok := d.scalar(e.val, what+"."+key)
	if !ok {
		if isNull(d.unwrapQuiet(e.val)) {
			d.e.add(e.kpos, "write a duration such as 2s, 5m or 1d", "%s: %s is empty", what, key)
		}
		return 0, false
	}
	v, err := parseDuration(s)
	if err != nil {
		d.e.add(d.pos(e.val), "write a duration such as 500ms, 2s, 5m, 4h or 1d", "%s: %s: %v", what, key, err)
		return 0, false
	}
	return v, true
}

var contextKeys = []string{"context", "owner", "description", "owners", "sources", "entities", "projections", "serving_tables", "reconciliations", "policies"}

// decodeContext builds a Context from a file's document body.
func (d *fileDec) decodeContext(body ast.Node) *Context {
	c := &Context{File: d.file, Pos: Pos{File: d.file, Line: 1, Col: 1}}
	m, ok := d.object(body, "the catalog file", contextKeys...)
	if !ok {
		return nil
	}
	if b := d.unwrapQuiet(body); b != nil {
		c.Pos = d.pos(b)
	}
	var p Pos
	c.Name, p = d.str(m, "context", "the catalog file", true, c.Pos)
	if _, has := m["context"]; has && c.Name != "" {
		d.checkName(c.Name, p, "context")
	}
	c.Owner, _ = d.str(m, "owner", "context", false, c.Pos)
	c.Description = d.desc(m, "context")
	if e, ok := m["sources"]; ok {
		ents, _ := d.entries(e.val, "sources", "write sources as name: {columns: …}")
		for _, s := range ents {
			if src := d.decodeSource(s, c); src != nil {
				c.Sources = append(c.Sources, src)
			}
		}
	}
	if e, ok := m["entities"]; ok {
		ents, _ := d.entries(e.val, "entities", "write entities as name: {key: …, columns: …}")
		for _, s := range ents {
			if ent := d.decodeEntity(s, c); ent != nil {
				c.Entities = append(c.Entities, ent)
			}
		}
	}
	if e, ok := m["projections"]; ok {
		ents, _ := d.entries(e.val, "projections", "write projections as name: {key: …, select: …}")
		for _, s := range ents {
			if pr := d.decodeProjection(s, c); pr != nil {
				c.Projections = append(c.Projections, pr)
			}
		}
	}
	if e, ok := m["serving_tables"]; ok {
		ents, _ := d.entries(e.val, "serving_tables", "write serving tables as name: {key: …, columns: …}")
		for _, s := range ents {
			if st := d.decodeServingTable(s, c); st != nil {
				c.ServingTables = append(c.ServingTables, st)
			}
		}
	}
	if e, ok := m["reconciliations"]; ok {
		ents, _ := d.entries(e.val, "reconciliations", "write reconciliations as name: {level: …, left: …, right: …}")
		for _, s := range ents {
			if r := d.decodeReconciliation(s, c); r != nil {
				c.Reconciliations = append(c.Reconciliations, r)
			}
		}
	}
	if e, ok := m["policies"]; ok {
		c.Policies = d.decodePolicies(e, c)
	}
	if e, ok := m["owners"]; ok {
		ents, _ := d.entries(e.val, "owners", "write owners as team-name: {webhook: https://…}")
		for _, s := range ents {
			if o := d.decodeOwner(s); o != nil {
				c.Owners = append(c.Owners, o)
			}
		}
	}
	return c
}

// decodeOwner reads one team of `owners:`.
func (d *fileDec) decodeOwner(e kv) *Owner {
	what := "owner " + e.key
	o := &Owner{Name: e.key, Pos: e.kpos}
	m, ok := d.object(e.val, what, "description", "webhook")
	if !ok {
		return nil
	}
	o.Description = d.desc(m, what)
	if hook, p := d.str(m, "webhook", what, false, e.kpos); hook != "" {
		u, err := url.Parse(hook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			d.e.add(p, "write the full URL, e.g. https://tickets.example.com/hooks/dualgate", "%s: webhook is not an http(s) URL", what)
		} else {
			o.Webhook = hook
		}
	}
	return o
}

// decodeColumns reads an ordered `columns:` mapping.
func (d *fileDec) decodeColumns(m map[string]kv, what string, parent Pos, required bool) []*Column {
	e, ok := m["columns"]
	if !ok {
		if required {
			d.e.add(parent, "add columns: {name: type, …}", "%s: missing required key \"columns\"", what)
		}
		return nil
	}
	ents, ok := d.entries(e.val, what+".columns", "write columns as {name: type, …} (a mapping keeps their order)")
	if !ok {
		return nil
	}
	if len(ents) == 0 && required {
		d.e.add(e.kpos, "declare at least one column", "%s has no columns", what)
	}
	var cols []*Column
	var defaults []pendingDefault
	defer func() { d.decodeDefaults(defaults, what) }()
	for _, ce := range ents {
		col := &Column{Name: ce.key, Pos: ce.kpos}
		if d.checkName(ce.key, ce.kpos, "column") && isReservedWord(ce.key) {
			d.e.add(ce.kpos, "rename it (e.g. "+ce.key+"_value) or it would need quoting in every query", "column name %q is a reserved word in Postgres", ce.key)
		}
		var typeText string
		var typeNode ast.Node = ce.val
		v := d.unwrap(ce.val)
		switch v.(type) {
		case *ast.MappingNode, *ast.MappingValueNode:
			cm, ok := d.object(v, what+"."+ce.key, "type", "description", "default")
			if !ok {
				continue
			}
			typeText, _ = d.str(cm, "type", what+" column "+ce.key, true, ce.kpos)
			if te, ok := cm["type"]; ok {
				typeNode = te.val
			}
			col.Description = d.desc(cm, what+" column "+ce.key)
			if de, ok := cm["default"]; ok {
				defaults = append(defaults, pendingDefault{col: col, node: de.val, pos: d.pos(de.val)})
			}
			if typeText == "" {
				cols = append(cols, col)
				continue
			}
		default:
			s, ok := d.scalar(v, what+" column "+ce.key)
			if !ok {
				if isNull(v) {
					d.e.add(ce.kpos, "write name: type, e.g. "+ce.key+": text", "column %q has no type", ce.key)
				}
				continue
			}
			typeText = s
		}
		t, err := ParseType(typeText)
		if err != nil {
			hint := "use a Postgres type: " + strings.Join(SupportedTypes, ", ")
			base := strings.ToLower(strings.TrimSpace(typeText))
			if i := strings.IndexByte(base, '('); i >= 0 {
				base = strings.TrimSpace(base[:i])
			}
			if _, known := typeAliases[base]; known {
				hint = "fix the type modifier, e.g. numeric(12,2), varchar(20), timestamptz(3)"
			} else if m := didYouMean(base, typeNames()); m != "" {
				hint = fmt.Sprintf("did you mean %q?", m)
			}
			if strings.Contains(err.Error(), "unbalanced parentheses") {
				hint = `quote types with a comma inside {…}: "numeric(12,2)"`
			}
			d.e.add(d.pos(typeNode), hint, "column %q: %v", ce.key, err)
		}
		col.Type = t
		cols = append(cols, col)
	}
	return cols
}

// pendingDefault is a column's `default:`, read once its type is known.
type pendingDefault struct {
	col  *Column
	node ast.Node
	pos  Pos
}

// decodeDefaults reads and checks column defaults: only entity columns
// have them, and a default is a constant of the column's type.
func (d *fileDec) decodeDefaults(defaults []pendingDefault, what string) {
	for _, pd := range defaults {
		if !strings.HasPrefix(what, "entity ") {
			d.e.add(pd.pos, "remove it: defaults are for entity columns (they fill rows stored before the column was added)", "%s column %q: default is not supported here", what, pd.col.Name)
			continue
		}
		if isNull(d.unwrap(pd.node)) {
			continue // default: null is the default default
		}
		text, ok := d.scalar(pd.node, what+" column "+pd.col.Name+" default")
		if !ok {
			continue
		}
		if pd.col.Type.Name == "" {
			continue // the type error is reported already
		}
		if err := CheckConstant(pd.col.Type, text); err != nil {
			d.e.add(pd.pos, "write a constant of type "+pd.col.Type.String()+" (expressions such as now() are not supported)",
				"%s column %q: default %q: %v", what, pd.col.Name, text, err)
			continue
		}
		pd.col.Default = &text
	}
}

func typeNames() []string {
	out := make([]string, 0, len(typeAliases))
	for k := range typeAliases {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

// keyList reads a list of column names (key, dedupe_key, match, …).
func (d *fileDec) keyList(m map[string]kv, key, what string, required bool, parent Pos) ([]string, []Pos) {
	e, ok := m[key]
	if !ok {
		if required {
			d.e.add(parent, "add "+key+": [column, …]", "%s: missing required key %q", what, key)
		}
		return nil, nil
	}
	items, _ := d.strList(e.val, what+"."+key)
	if len(items) == 0 && required {
		d.e.add(e.kpos, "list at least one column", "%s: %s is empty", what, key)
	}
	names := make([]string, 0, len(items))
	poss := make([]Pos, 0, len(items))
	seen := map[string]bool{}
	for _, it := range items {
		if seen[it.s] {
			d.e.add(it.p, "list each column once", "%s: %s names %q twice", what, key, it.s)
			continue
		}
		seen[it.s] = true
		names = append(names, it.s)
		poss = append(poss, it.p)
	}
	return names, poss
}

// checkColumnsExist reports names that are not columns.
func (d *fileDec) checkColumnsExist(names []string, poss []Pos, cols []*Column, what string) {
	if len(cols) == 0 {
		return // the missing columns are reported already
	}
	for i, n := range names {
		if findColumn(cols, n) == nil {
			d.e.add(poss[i], suggest(n, columnNames(cols), "columns"), "%s: %q is not a column", what, n)
		}
	}
}

// checkKeyTypes rejects key columns whose type has no equality.
func (d *fileDec) checkKeyTypes(names []string, poss []Pos, cols []*Column, what string) {
	for i, n := range names {
		if c := findColumn(cols, n); c != nil && c.Type.Name == "json" {
			d.e.add(poss[i], "use jsonb or text: json values cannot be compared for equality", "%s key: column %q has type json", what, n)
		}
	}
}

func findColumn(cols []*Column, name string) *Column {
	for _, c := range cols {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func columnNames(cols []*Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

func (d *fileDec) owner(m map[string]kv, what string, c *Context) string {
	s, _ := d.str(m, "owner", what, false, Pos{})
	if s == "" {
		return c.Owner
	}
	return s
}

var sourceKeys = []string{"description", "owner", "columns", "dedupe_key", "format"}

// raw system columns every raw.<source> (and batch) has.
var rawSystemColumns = []string{"_seq", "_ingested_at", "_batch"}

func (d *fileDec) decodeSource(e kv, c *Context) *Source {
	what := "source " + e.key
	s := &Source{Name: e.key, Context: c.Name, Pos: e.kpos}
	d.checkName(e.key, e.kpos, "source")
	m, ok := d.object(e.val, what, sourceKeys...)
	if !ok {
		return s
	}
	s.Description = d.desc(m, what)
	s.Owner = d.owner(m, what, c)
	s.Columns = d.decodeColumns(m, what, e.kpos, true)
	for _, col := range s.Columns {
		if contains(rawSystemColumns, col.Name) {
			d.e.add(col.Pos, "rename it: raw tables add _seq, _ingested_at and _batch themselves", "source column %q collides with a raw system column", col.Name)
		}
	}
	var poss []Pos
	s.DedupeKey, poss = d.keyList(m, "dedupe_key", what, false, e.kpos)
	d.checkColumnsExist(s.DedupeKey, poss, s.Columns, what+" dedupe_key")
	if f, p := d.str(m, "format", what, false, e.kpos); f != "" {
		if !contains([]string{"rows", "csv", "json"}, f) {
			d.e.add(p, suggest(f, []string{"rows", "csv", "json"}, "formats"), "%s: unknown format %q", what, f)
		}
		s.Format = f
	}
	if s.Format == "" {
		s.Format = "rows"
	}
	return s
}

var entityKeys = []string{"description", "owner", "key", "columns", "indexes", "transitions", "rules", "mappings"}

// historySystemColumns are added to history.<entity>.
var historySystemColumns = []string{"commit_id", "commit_hash", "committed_at", "committer", "source"}

func (d *fileDec) decodeEntity(e kv, c *Context) *Entity {
	what := "entity " + e.key
	en := &Entity{Name: e.key, Context: c.Name, Pos: e.kpos}
	d.checkName(e.key, e.kpos, "entity")
	m, ok := d.object(e.val, what, entityKeys...)
	if !ok {
		return en
	}
	en.Description = d.desc(m, what)
	en.Owner = d.owner(m, what, c)
	en.Columns = d.decodeColumns(m, what, e.kpos, true)
	for _, col := range en.Columns {
		switch {
		case contains(historySystemColumns, col.Name):
			d.e.add(col.Pos, "rename it: history."+e.key+" adds commit_id, commit_hash, committed_at, committer and source", "entity column %q collides with a history system column", col.Name)
		case col.Name == "commit" || col.Name == "committed_at" || col.Name == "type":
			d.e.add(col.Pos, "rename it: diff."+e.key+" has to_commit, to_committed_at and diff_type", "entity column %q collides with a diff system column", col.Name)
		case strings.HasPrefix(col.Name, "_"):
			d.e.add(col.Pos, "rename it without the leading underscore", "entity column %q: names starting with _ are reserved for system columns", col.Name)
		}
	}
	var poss []Pos
	en.Key, poss = d.keyList(m, "key", what, true, e.kpos)
	d.checkColumnsExist(en.Key, poss, en.Columns, what+" key")
	d.checkKeyTypes(en.Key, poss, en.Columns, what)
	if ie, ok := m["indexes"]; ok {
		ents, _ := d.entries(ie.val, what+".indexes", "write indexes as name: [column, …]")
		for _, ix := range ents {
			cols, cposs := d.keyList(map[string]kv{"columns": ix}, "columns", what+" index "+ix.key, true, ix.kpos)
			d.checkName(ix.key, ix.kpos, "index")
			d.checkColumnsExist(cols, cposs, en.Columns, what+" index "+ix.key)
			en.Indexes = append(en.Indexes, &Index{Name: ix.key, Columns: cols, Pos: ix.kpos})
		}
	}
	if te, ok := m["transitions"]; ok {
		en.Transitions = d.decodeTransitions(te, en)
	}
	if re, ok := m["rules"]; ok {
		nodes, _ := d.seq(re.val, what+".rules", "write rules as a list: [{name: …, check: …}]")
		seen := map[string]bool{}
		for _, n := range nodes {
			r := d.decodeRule(n, en)
			if r == nil {
				continue
			}
			if r.Name != "" && seen[r.Name] {
				d.e.add(r.Pos, "give each rule of an entity its own name", "%s: duplicate rule name %q", what, r.Name)
			}
			seen[r.Name] = true
			en.Rules = append(en.Rules, r)
		}
	}
	if me, ok := m["mappings"]; ok {
		nodes, _ := d.seq(me.val, what+".mappings", "write mappings as a list: [{source: …, version: 1, select: …}]")
		for _, n := range nodes {
			if mp := d.decodeMapping(n, en); mp != nil {
				en.Mappings = append(en.Mappings, mp)
			}
		}
	}
	return en
}

func (d *fileDec) decodeTransitions(e kv, en *Entity) *Transitions {
	what := "entity " + en.Name + " transitions"
	t := &Transitions{Allowed: map[string][]string{}, Pos: e.kpos}
	m, ok := d.object(e.val, what, "column", "allowed", "initial", "description")
	if !ok {
		return nil
	}
	var cp Pos
	t.Column, cp = d.str(m, "column", what, true, e.kpos)
	t.Description = d.desc(m, what)
	if t.Column != "" && len(en.Columns) > 0 && findColumn(en.Columns, t.Column) == nil {
		d.e.add(cp, suggest(t.Column, columnNames(en.Columns), "columns"), "%s: column %q is not a column of %s", what, t.Column, en.Name)
	}
	addState := func(s string) {
		if !contains(t.States, s) {
			t.States = append(t.States, s)
		}
	}
	targets := map[string]bool{}
	var targetPos []item
	if ae, ok := m["allowed"]; ok {
		ents, _ := d.entries(ae.val, what+".allowed", "write allowed as {state: [next_state, …], …}")
		if len(ents) == 0 {
			d.e.add(ae.kpos, "list at least one state and its successors", "%s: allowed is empty", what)
		}
		for _, se := range ents {
			addState(se.key)
			items, _ := d.strList(se.val, what+".allowed."+se.key)
			var tos []string
			for _, it := range items {
				if contains(tos, it.s) {
					d.e.add(it.p, "list each state once", "%s: %s -> %s listed twice", what, se.key, it.s)
					continue
				}
				tos = append(tos, it.s)
				targets[it.s] = true
				targetPos = append(targetPos, it)
			}
			t.Allowed[se.key] = tos
		}
		for _, it := range targetPos {
			addState(it.s)
		}
	} else {
		d.e.add(e.kpos, "add allowed: {state: [next_state, …]}", "%s: missing required key \"allowed\"", what)
	}
	if ie, ok := m["initial"]; ok {
		items, _ := d.strList(ie.val, what+".initial")
		t.InitialDeclared = true
		if len(items) == 0 {
			d.e.add(ie.kpos, "list the states a new row may start in", "%s: initial is empty", what)
		}
		for _, it := range items {
			addState(it.s) // an initial state with no successors is a final state (e.g. failed)
			if !contains(t.Initial, it.s) {
				t.Initial = append(t.Initial, it.s)
			}
		}
		// a state with successors that can never be entered is a dead declaration
		if ae, ok := m["allowed"]; ok {
			ents, _ := d.entries(ae.val, what+".allowed", "")
			for _, se := range ents {
				if !targets[se.key] && !contains(t.Initial, se.key) {
					d.e.add(se.kpos, "add it to initial or as the target of another state", "%s: state %q can never be entered", what, se.key)
				}
			}
		}
	} else {
		for _, s := range t.States {
			if _, isSource := t.Allowed[s]; isSource && !targets[s] {
				t.Initial = append(t.Initial, s)
			}
		}
		if len(t.Initial) == 0 && len(t.States) > 0 {
			d.e.add(e.kpos, "add initial: [state, …] to say where new rows start", "%s: every state is the target of another, so no state can start a lifecycle", what)
		}
	}
	return t
}

func (d *fileDec) severity(m map[string]kv, what string) Severity {
	s, p := d.str(m, "severity", what, false, Pos{})
	if s == "" {
		return SeverityError
	}
	if !contains(Severities, s) {
		d.e.add(p, suggest(s, Severities, "severities"), "%s: unknown severity %q", what, s)
		return SeverityError
	}
	return Severity(s)
}

func (d *fileDec) decodeRule(n ast.Node, en *Entity) *Rule {
	what := "entity " + en.Name + " rule"
	r := &Rule{Entity: en.Name, Pos: d.pos(n)}
	m, ok := d.object(n, what, "name", "check", "description", "severity")
	if !ok {
		return nil
	}
	var p Pos
	r.Name, p = d.str(m, "name", what, true, r.Pos)
	if r.Name != "" {
		d.checkName(r.Name, p, "rule")
		what += " " + r.Name
	}
	r.Check, r.CheckPos = d.str(m, "check", what, true, r.Pos)
	if ce, ok := m["check"]; ok {
		r.checkLoc = sqlLoc{d, ce.val, r.Check}
	}
	r.Description = d.desc(m, what)
	r.Severity = d.severity(m, what)
	return r
}

func (d *fileDec) decodeMapping(n ast.Node, en *Entity) *Mapping {
	what := "entity " + en.Name + " mapping"
	mp := &Mapping{Entity: en.Name, Pos: d.pos(n)}
	m, ok := d.object(n, what, "source", "version", "select", "description", "delete_when")
	if !ok {
		return nil
	}
	mp.Source, mp.sourcePos = d.str(m, "source", what, true, mp.Pos)
	if mp.Source != "" {
		what += " from " + mp.Source
	}
	if ve, ok := m["version"]; ok {
		mp.versionPos = d.pos(ve.val)
		if v, ok := d.intVal(ve.val, what+" version"); ok {
			if v < 1 {
				d.e.add(d.pos(ve.val), "versions start at 1", "%s: version must be positive", what)
			}
			mp.Version = v
		}
	} else {
		d.e.add(mp.Pos, "add version: 1 (bump it whenever select changes)", "%s: missing required key \"version\"", what)
	}
	mp.Select, mp.SelectPos = d.str(m, "select", what, true, mp.Pos)
	mp.Select = strings.TrimRight(mp.Select, " \t\r\n")
	if se, ok := m["select"]; ok {
		mp.selLoc = sqlLoc{d, se.val, mp.Select}
	}
	mp.DeleteWhen, mp.DeleteWhenPos = d.str(m, "delete_when", what, false, mp.Pos)
	mp.DeleteWhen = strings.TrimRight(mp.DeleteWhen, " \t\r\n")
	if de, ok := m["delete_when"]; ok {
		mp.delLoc = sqlLoc{d, de.val, mp.DeleteWhen}
		if mp.DeleteWhen == "" {
			d.e.add(de.kpos, "write a condition or remove delete_when", "%s: delete_when is empty", what)
		}
	}
	mp.Description = d.desc(m, what)
	return mp
}

var projectionKeys = []string{"description", "owner", "key", "freshness_sla", "select", "affected_by"}

func (d *fileDec) decodeProjection(e kv, c *Context) *Projection {
	what := "projection " + e.key
	p := &Projection{Name: e.key, Context: c.Name, Pos: e.kpos}
	d.checkName(e.key, e.kpos, "projection")
	m, ok := d.object(e.val, what, projectionKeys...)
	if !ok {
		return p
	}
	p.Description = d.desc(m, what)
	p.Owner = d.owner(m, what, c)
	p.Key, p.keyPos = d.keyList(m, "key", what, true, e.kpos)
	if v, ok := d.duration(m, "freshness_sla", what); ok {
		p.FreshnessSLA = v
	} else if _, has := m["freshness_sla"]; !has {
		d.e.add(e.kpos, "add freshness_sla: 2s (how far behind canonical it may be)", "%s: missing required key \"freshness_sla\"", what)
	}
	p.Select, p.SelectPos = d.str(m, "select", what, true, e.kpos)
	p.Select = strings.TrimRight(p.Select, " \t\r\n")
	if se, ok := m["select"]; ok {
		p.selLoc = sqlLoc{d, se.val, p.Select}
	}
	if ae, ok := m["affected_by"]; ok {
		ents, _ := d.entries(ae.val, what+".affected_by", "write affected_by as {entity: key_column or [columns] or \"*\"}")
		for _, ee := range ents {
			ab := &AffectedBy{Entity: ee.key, Pos: ee.kpos}
			switch d.unwrapQuiet(ee.val).(type) {
			case *ast.MappingNode, *ast.MappingValueNode:
				pairs, _ := d.entries(ee.val, what+".affected_by."+ee.key, "")
				if len(pairs) == 0 {
					d.e.add(ee.kpos, "write {projection_column: entity_column, …}", "%s: affected_by.%s is empty", what, ee.key)
				}
				for _, pe := range pairs {
					s, ok := d.scalar(pe.val, what+".affected_by."+ee.key+"."+pe.key)
					if !ok {
						if isNull(d.unwrapQuiet(pe.val)) {
							d.e.add(pe.kpos, "write projection_column: entity_column", "%s: affected_by.%s.%s is empty", what, ee.key, pe.key)
						}
						continue
					}
					ab.On = append(ab.On, pe.key)
					ab.onPos = append(ab.onPos, pe.kpos)
					ab.Columns = append(ab.Columns, s)
					ab.colPos = append(ab.colPos, d.pos(pe.val))
				}
			default:
				items, _ := d.strList(ee.val, what+".affected_by."+ee.key)
				if len(items) == 1 && items[0].s == "*" {
					ab.All = true
					break
				}
				if len(items) == 0 {
					d.e.add(ee.kpos, "name the entity columns that give the projection key, or \"*\"", "%s: affected_by.%s is empty", what, ee.key)
				}
				ab.listForm = true
				for _, it := range items {
					ab.Columns = append(ab.Columns, it.s)
					ab.colPos = append(ab.colPos, it.p)
				}
				ab.On = append([]string(nil), p.Key...)
			}
			p.AffectedBy = append(p.AffectedBy, ab)
		}
	} else {
		d.e.add(e.kpos, "add affected_by: {entity: key_column, …} so changes reach it", "%s: missing required key \"affected_by\"", what)
	}
	return p
}

var servingTableKeys = []string{"description", "owner", "key", "columns", "writers", "retention", "authoritative"}

func (d *fileDec) decodeServingTable(e kv, c *Context) *ServingTable {
	what := "serving table " + e.key
	st := &ServingTable{Name: e.key, Context: c.Name, Pos: e.kpos}
	d.checkName(e.key, e.kpos, "serving table")
	m, ok := d.object(e.val, what, servingTableKeys...)
	if !ok {
		return st
	}
	st.Description = d.desc(m, what)
	st.Owner = d.owner(m, what, c)
	st.Columns = d.decodeColumns(m, what, e.kpos, true)
	var poss []Pos
	st.Key, poss = d.keyList(m, "key", what, true, e.kpos)
	d.checkColumnsExist(st.Key, poss, st.Columns, what+" key")
	d.checkKeyTypes(st.Key, poss, st.Columns, what)
	if we, ok := m["writers"]; ok {
		items, _ := d.strList(we.val, what+".writers")
		for _, it := range items {
			st.Writers = append(st.Writers, it.s)
			st.writerPos = append(st.writerPos, it.p)
		}
	}
	if v, ok := d.duration(m, "retention", what); ok {
		st.Retention = v
	}
	if ae, ok := m["authoritative"]; ok {
		if b, ok := d.boolVal(ae.val, what+".authoritative"); ok && b {
			d.e.add(d.pos(ae.val), "remove it or write authoritative: false; authoritative data belongs in an entity", "%s: serving tables are never authoritative", what)
		}
	}
	return st
}

var reconciliationKeys = []string{"description", "owner", "level", "severity", "left", "right", "right_dsn", "match", "compare", "tolerance", "grace", "schedule", "sla", "repair"}

func (d *fileDec) decodeReconciliation(e kv, c *Context) *Reconciliation {
	what := "reconciliation " + e.key
	r := &Reconciliation{Name: e.key, Context: c.Name, Pos: e.kpos, Repair: "none"}
	d.checkName(e.key, e.kpos, "reconciliation")
	m, ok := d.object(e.val, what, reconciliationKeys...)
	if !ok {
		return r
	}
	r.Description = d.desc(m, what)
	r.Owner = d.owner(m, what, c)
	lv, lp := d.str(m, "level", what, true, e.kpos)
	if lv != "" {
		if !contains(Levels, lv) {
			d.e.add(lp, suggest(lv, Levels, "levels"), "%s: unknown level %q", what, lv)
		}
		r.Level = Level(lv)
	}
	r.Severity = d.severity(m, what)
	r.Left, r.LeftPos = d.str(m, "left", what, true, e.kpos)
	r.Left = strings.TrimRight(r.Left, " \t\r\n")
	if le, ok := m["left"]; ok {
		r.leftLoc = sqlLoc{d, le.val, r.Left}
	}
	// A semantic rule may have only a left side: a query whose rows each
	// violate a domain invariant.
	r.Right, r.RightPos = d.str(m, "right", what, r.Level != LevelSemantic, e.kpos)
	r.Right = strings.TrimRight(r.Right, " \t\r\n")
	if re, ok := m["right"]; ok {
		r.rightLoc = sqlLoc{d, re.val, r.Right}
	}
	if dsn, p := d.str(m, "right_dsn", what, false, e.kpos); dsn != "" {
		r.RightDSN = dsn
		if !envRefRE.MatchString(dsn) {
			u, err := url.Parse(dsn)
			if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
				d.e.add(p, "write postgres://user@host:5432/db or ${ENV_VAR}", "%s: right_dsn is not a postgres:// URL", what)
			} else if _, has := u.User.Password(); has {
				d.e.add(p, "keep secrets out of the catalog: use ${ENV_VAR} or a .pgpass file", "%s: right_dsn contains a password", what)
			}
		}
	}
	var poss []Pos
	r.Match, poss = d.keyList(m, "match", what, false, e.kpos)
	r.matchPos = poss
	r.Compare, r.comparePos = d.keyList(m, "compare", what, false, e.kpos)
	if te, ok := m["tolerance"]; ok {
		r.Tolerance = d.decodeTolerance(te, what)
	}
	r.Grace, _ = d.duration(m, "grace", what)
	r.Schedule, _ = d.duration(m, "schedule", what)
	var hasSLA bool
	r.SLA, hasSLA = d.duration(m, "sla", what)
	if r.Level == LevelTemporal && !hasSLA {
		if _, present := m["sla"]; !present {
			d.e.add(e.kpos, "add sla: 1d (the longest allowed delay between left and right)", "%s: temporal reconciliations need sla", what)
		}
	}
	if rp, p := d.str(m, "repair", what, false, e.kpos); rp != "" {
		if !contains(Repairs, rp) {
			d.e.add(p, suggest(rp, Repairs, "repairs"), "%s: unknown repair %q", what, rp)
		} else {
			r.Repair = rp
		}
	}
	return r
}

var envRefRE = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`)

func (d *fileDec) decodeTolerance(e kv, what string) *Tolerance {
	t := &Tolerance{Pos: e.kpos}
	m, ok := d.object(e.val, what+" tolerance", "absolute", "relative")
	if !ok {
		return nil
	}
	if len(m) == 0 {
		d.e.add(e.kpos, "give absolute: 0.01 and/or relative: 0.001", "%s: tolerance is empty", what)
	}
	for _, k := range []string{"absolute", "relative"} {
		te, ok := m[k]
		if !ok {
			continue
		}
		s, ok := d.scalar(te.val, what+" tolerance."+k)
		if !ok {
			if isNull(d.unwrapQuiet(te.val)) {
				d.e.add(te.kpos, "write a decimal such as 0.01", "%s: tolerance.%s is empty", what, k)
			}
			continue
		}
		v, err := decimal.NewFromString(strings.TrimSpace(s))
		if err != nil || strings.ContainsAny(s, "eE") && !strings.ContainsAny(s, "0123456789") {
			d.e.add(d.pos(te.val), "write an exact decimal such as 0.01 (quote it to keep it exact)", "%s: tolerance.%s %q is not a decimal", what, k, s)
			continue
		}
		if v.IsNegative() {
			d.e.add(d.pos(te.val), "tolerances are magnitudes: drop the minus sign", "%s: tolerance.%s is negative", what, k)
			continue
		}
		if k == "absolute" {
			t.Absolute = &v
		} else {
			if v.GreaterThan(decimal.NewFromInt(1)) {
				d.e.add(d.pos(te.val), "relative tolerance is a fraction: 0.01 means 1%", "%s: tolerance.relative %s is above 1", what, s)
			}
			t.Relative = &v
		}
	}
	return t
}
