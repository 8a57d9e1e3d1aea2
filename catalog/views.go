package catalog

import (
	"fmt"
	"strings"
	"time"
)

// ViewColumn is a column of a catalog view; PGType is a Postgres type name
// (text, int8 or bool).
type ViewColumn struct {
	Name   string
	PGType string
}

// View is the content of one catalog.* relation. Row values are string,
// int64, bool or nil (SQL NULL), in column order.
type View struct {
	Name        string // relation name inside the catalog schema, e.g. "entities"
	Description string
	Columns     []ViewColumn
	Rows        [][]any
}

type viewDef struct {
	name, desc string
	cols       []ViewColumn
}

func vc(spec string) []ViewColumn {
	var out []ViewColumn
	for _, f := range strings.Split(spec, ",") {
		parts := strings.Fields(f)
		out = append(out, ViewColumn{Name: parts[0], PGType: parts[1]})
	}
	return out
}

// viewDefs fixes the schema of the catalog.* views.
var viewDefs = []viewDef{
	{"contexts", "Bounded contexts of the catalog, one per file.",
		vc("name text, owner text, description text, file text, sources int8, entities int8, projections int8, serving_tables int8, reconciliations int8")},
	{"entities", "Authoritative entities (canonical.<name>, history.<name>, diff.<name>).",
		vc("context text, name text, relation text, description text, owner text, key text, columns int8, transition_column text, initial_states text, rules int8, current_mapping_versions text")},
	{"columns", "Columns of every catalog relation (raw sources, canonical entities, serving projections and tables), in order.",
		vc("context text, schema text, relation text, kind text, name text, position int8, type text, is_key bool, description text, default_value text")},
	{"sources", "Captured sources (raw.<name>, append-only).",
		vc("context text, name text, relation text, description text, owner text, dedupe_key text, format text, columns int8")},
	{"mappings", "Versioned mappings from sources to entities (SQL over the ingest batch).",
		vc("context text, entity text, source text, version int8, is_current bool, select_sql text, delete_when text, description text")},
	{"projections", "Serving relations: projections derived from canonical and non-authoritative serving tables.",
		vc("context text, name text, relation text, kind text, authoritative bool, description text, owner text, key text, freshness_sla text, freshness_sla_ms int8, reads text, select_sql text")},
	{"rules", "Quality rules (checks) and lifecycle transitions enforced on entities.",
		vc("context text, entity text, name text, kind text, check_sql text, severity text, description text")},
	{"lineage", "Lineage edges: source -> entity (mapping version) and entity -> projection (affected_by), and relations read by reconciliations.",
		vc("from_kind text, from_name text, to_kind text, to_name text, via text, mapping_version int8, context text")},
}

// ViewNames lists the catalog.* relations in a fixed order.
func ViewNames() []string {
	out := make([]string, len(viewDefs))
	for i, d := range viewDefs {
		out[i] = d.name
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func joinOrNil(s []string) any {
	if len(s) == 0 {
		return nil
	}
	return strings.Join(s, ", ")
}

// formatDuration prints a duration the way catalogs write it (1d, 2s, 1m30s, 500ms).
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Views returns the rows of every catalog.* view, in ViewNames order.
func (c *Catalog) Views() []View {
	views := make([]View, len(viewDefs))
	for i, d := range viewDefs {
		views[i] = View{Name: d.name, Description: d.desc, Columns: d.cols}
	}
	add := func(i int, row ...any) { views[i].Rows = append(views[i].Rows, row) }
	const (
		vContexts = iota
		vEntities
		vColumns
		vSources
		vMappings
		vProjections
		vRules
		vLineage
	)
	addCols := func(ctx, schema, rel, kind string, cols []*Column, key []string) {
		for i, col := range cols {
			var def any
			if col.Default != nil {
				def = *col.Default
			}
			add(vColumns, ctx, schema, rel, kind, col.Name, int64(i+1), nullable(col.Type.String()), contains(key, col.Name), nullable(col.Description), def)
		}
	}
	for _, ctx := range c.Contexts {
		add(vContexts, ctx.Name, nullable(ctx.Owner), nullable(ctx.Description), ctx.File, int64(len(ctx.Sources)),
			int64(len(ctx.Entities)), int64(len(ctx.Projections)), int64(len(ctx.ServingTables)), int64(len(ctx.Reconciliations)))
		for _, s := range ctx.Sources {
			add(vSources, ctx.Name, s.Name, "raw."+s.Name, nullable(s.Description), nullable(s.Owner), joinOrNil(s.DedupeKey), s.Format, int64(len(s.Columns)))
			addCols(ctx.Name, "raw", s.Name, "source", s.Columns, s.DedupeKey)
		}
		for _, en := range ctx.Entities {
			var tcol, initial any
			if en.Transitions != nil {
				tcol, initial = nullable(en.Transitions.Column), joinOrNil(en.Transitions.Initial)
			}
			var cur []string
			for _, m := range en.Mappings {
				if m.Current {
					cur = append(cur, fmt.Sprintf("%s v%d", m.Source, m.Version))
				}
			}
			add(vEntities, ctx.Name, en.Name, "canonical."+en.Name, nullable(en.Description), nullable(en.Owner), joinOrNil(en.Key),
				int64(len(en.Columns)), tcol, initial, int64(len(en.Rules)), joinOrNil(cur))
			addCols(ctx.Name, "canonical", en.Name, "entity", en.Columns, en.Key)
			for _, m := range en.Mappings {
				add(vMappings, ctx.Name, en.Name, m.Source, int64(m.Version), m.Current, m.Select, nullable(m.DeleteWhen), nullable(m.Description))
				add(vLineage, "source", m.Source, "entity", en.Name, "mapping", int64(m.Version), ctx.Name)
			}
			for _, r := range en.Rules {
				add(vRules, ctx.Name, en.Name, r.Name, "check", r.Check, string(r.Severity), nullable(r.Description))
			}
			if t := en.Transitions; t != nil {
				for _, from := range t.States {
					tos, ok := t.Allowed[from]
					if !ok {
						continue
					}
					next := strings.Join(tos, ", ")
					if next == "" {
						next = "(final)"
					}
					add(vRules, ctx.Name, en.Name, t.Column+"_from_"+from, "transition", fmt.Sprintf("%s: %s -> %s", t.Column, from, next), string(SeverityError), nullable(t.Description))
				}
			}
		}
		for _, p := range ctx.Projections {
			add(vProjections, ctx.Name, p.Name, "serving."+p.Name, "projection", false, nullable(p.Description), nullable(p.Owner),
				joinOrNil(p.Key), formatDuration(p.FreshnessSLA), p.FreshnessSLA.Milliseconds(), joinOrNil(p.Reads), p.Select)
			addCols(ctx.Name, "serving", p.Name, "projection", p.Columns, p.Key)
			for _, ab := range p.AffectedBy {
				via := "affected_by *"
				if !ab.All {
					pairs := make([]string, len(ab.Columns))
					for i := range ab.Columns {
						pairs[i] = ab.Columns[i]
						if i < len(ab.On) && ab.On[i] != ab.Columns[i] {
							pairs[i] = ab.Columns[i] + " -> " + ab.On[i]
						}
					}
					via = "affected_by " + strings.Join(pairs, ", ")
				}
				add(vLineage, "entity", ab.Entity, "projection", p.Name, via, nil, ctx.Name)
			}
		}
		for _, st := range ctx.ServingTables {
			add(vProjections, ctx.Name, st.Name, "serving."+st.Name, "serving_table", false, nullable(st.Description), nullable(st.Owner),
				joinOrNil(st.Key), nil, nil, nil, nil)
			addCols(ctx.Name, "serving", st.Name, "serving_table", st.Columns, st.Key)
		}
		for _, r := range ctx.Reconciliations {
			for _, side := range []struct {
				via  string
				rels []string
			}{{"left", r.LeftRelations}, {"right", r.RightRelations}} {
				for _, rel := range side.rels {
					kind, name := relationKind(rel)
					if side.via == "right" && r.RightDSN != "" {
						kind, name = "external", rel
					}
					add(vLineage, kind, name, "reconciliation", r.Name, side.via, nil, ctx.Name)
				}
			}
		}
	}
	return views
}

// relationKind classifies a schema-qualified relation for lineage.
func relationKind(rel string) (kind, name string) {
	schema, name, ok := strings.Cut(rel, ".")
	if !ok {
		return "relation", rel
	}
	switch schema {
	case "raw":
		return "source", name
	case "canonical":
		return "entity", name
	case "history":
		return "history", name
	case "diff":
		return "diff", name
	case "serving":
		return "projection", name
	}
	return "relation", rel
}
