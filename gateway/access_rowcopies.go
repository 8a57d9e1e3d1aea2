package gateway

import (
	"sort"
	"strings"

	"github.com/dualgate/dualgate/catalog"
)

// Row filters follow copies, as masks do (access_copies.go). A session
// whose rows of canonical.<entity> are filtered sees, of the relations
// holding copies of those rows:
//
//   - raw.<source> (each source with a current mapping into the entity):
//     the raw rows the mapping would turn into visible entity rows — the
//     filter with every entity column replaced by the mapping's expression
//     for it, ANDed with the mapping's WHERE (catalog.FilterThroughMapping).
//   - serving.<projection> (each projection reading the entity): the rows
//     whose copy of the entity's columns passes the filter, when every
//     column the filter names is a plain output of the projection
//     (catalog.FilterThroughProjection).
//   - dualgate.quarantine: no rows of the sources feeding the entity (a
//     payload is not a typed row a condition can be evaluated on).
//   - reconcile.exceptions: no exceptions of rules reading the entity, its
//     history or diff, those sources or those projections, nor of rules
//     whose SQL cannot be analyzed.
//
// Where a rewrite is not exact the relation shows the session no rows
// (fail closed). Such derived filters AND with declared ones; unlike
// declared ones they do not stop the session from appending to raw (INSERT
// reveals nothing) and are not lifted by a role that reads the copy
// without a filter: that role does not read the entity's rows unfiltered.

// copyFilters derives p's filters on copies from its filters on
// canonical entities (p.filters, after lifting).
func (a *Access) copyFilters(p *principal) map[string]string {
	out := map[string]string{}
	add := func(rel, cond string) {
		if prev, ok := out[rel]; ok {
			cond = "(" + prev + ") AND (" + cond + ")"
		}
		out[rel] = cond
	}
	holders := map[string]bool{} // relations holding copies of filtered rows
	sources := map[string]bool{}
	for rel, where := range p.filters {
		schema, name, _ := strings.Cut(rel, ".")
		e := a.cat.Entity(name)
		if schema != "canonical" || e == nil {
			continue
		}
		holders[rel], holders["history."+name], holders["diff."+name] = true, true, true
		for _, m := range e.Mappings {
			if !m.Current {
				continue
			}
			cond, ok := catalog.FilterThroughMapping(m, where)
			if !ok {
				cond = "false"
			}
			add("raw."+strings.ToLower(m.Source), cond)
			holders["raw."+strings.ToLower(m.Source)] = true
			sources[strings.ToLower(m.Source)] = true
		}
		for _, pr := range a.cat.Projections() {
			if !containsFold(pr.Reads, name) {
				continue
			}
			cond, ok := catalog.FilterThroughProjection(pr, name, where)
			if !ok {
				cond = "false"
			}
			add("serving."+strings.ToLower(pr.Name), cond)
			holders["serving."+strings.ToLower(pr.Name)] = true
		}
	}
	if len(sources) > 0 {
		add("dualgate.quarantine", "source NOT IN ("+sqlList(sources)+")")
	}
	if len(holders) > 0 {
		rules := map[string]bool{}
		for rule, sides := range a.ruleReads {
			for _, s := range sides {
				if !s.ok {
					rules[rule] = true
				}
				for rel := range s.reads {
					if holders[strings.ToLower(rel)] {
						rules[rule] = true
					}
				}
			}
		}
		if len(rules) > 0 {
			add("reconcile.exceptions", "rule NOT IN ("+sqlList(rules)+")")
		}
	}
	return out
}

// rowFilters are the filters p's session applies: declared ones (lifted
// as access.go says) ANDed with those following copies.
func (p *principal) rowFilters() map[string]string {
	if p == nil {
		return nil
	}
	if len(p.copyFilters) == 0 {
		return p.filters
	}
	out := make(map[string]string, len(p.filters)+len(p.copyFilters))
	for rel, w := range p.filters {
		out[rel] = w
	}
	for rel, w := range p.copyFilters {
		if prev, ok := out[rel]; ok {
			w = "(" + prev + ") AND (" + w + ")"
		}
		out[rel] = w
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// sqlList prints set as a sorted list of SQL string literals.
func sqlList(set map[string]bool) string {
	items := make([]string, 0, len(set))
	for s := range set {
		items = append(items, "'"+strings.ReplaceAll(s, "'", "''")+"'")
	}
	sort.Strings(items)
	return strings.Join(items, ", ")
}
