package sidecar

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dualgate/dualgate/catalog"
	servingtables "github.com/dualgate/dualgate/projections/sqltables"
)

// Following the primary's catalog. A primary restarted with a changed
// catalog may add projections, change one (rebuilt into a new generation
// in Redis) or remove one. Without --catalog the sidecar re-reads the
// definitions on the polling connection (two small queries on the catalog
// views, in the poll goroutine, so the connection keeps one owner):
//
//   - when that connection is re-established (a restarted primary is the
//     usual reason a catalog changes),
//   - every Options.DefinitionsInterval (30s), for catalog changes it did
//     not see the primary restart for,
//   - when a projection's generation in Redis changes (a rebuild, perhaps
//     from a changed SELECT), seen by any status or stamped read.
//
// When the definitions differ from the served ones, a new serving schema
// is built and swapped in whole: its column types are declared to the
// engine, then it replaces the engine's serving database (one map write
// under the engine's lock), then the sidecar's own view (which relations
// are local, freshness, dualgate.projections) is swapped atomically.
// Statements already planned keep the tables they resolved; the next one
// sees the new schema. A removed projection is no longer local, so reads
// of it are forwarded and the primary reports the relation unknown; a
// new one is served once its table is in Redis (until then, as any
// projection not materialized, per dualgate.stale_policy). Between the
// two swaps a statement may see the engine's new schema with the old
// local set: a new projection is then forwarded once, a removed one
// fails as unknown, both correct answers.

// defs is one generation of the serving schema's definitions.
type defs struct {
	projs       map[string]*catalog.Projection // lower-case name ->
	order       []string
	fingerprint string
}

// newDefs indexes cat's projections.
func newDefs(cat *catalog.Catalog) *defs {
	d := &defs{projs: map[string]*catalog.Projection{}, fingerprint: fingerprint(cat)}
	for _, p := range cat.Projections() {
		d.projs[strings.ToLower(p.Name)] = p
		d.order = append(d.order, p.Name)
	}
	return d
}

// fingerprint is what the serving schema depends on in cat's projections,
// as one comparable string.
func fingerprint(cat *catalog.Catalog) string {
	var b strings.Builder
	for _, p := range cat.Projections() {
		fmt.Fprintf(&b, "%q %q %d %q %q [", p.Name, strings.Join(p.Key, ","), p.FreshnessSLA, p.Description, p.Select)
		for _, c := range p.Columns {
			fmt.Fprintf(&b, "%q %q,", c.Name, c.Type.String())
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// current is the served definitions (empty before Open installs them).
func (s *Sidecar) current() *defs {
	if d := s.defs.Load(); d != nil {
		return d
	}
	return &defs{projs: map[string]*catalog.Projection{}}
}

// install builds the serving schema for cat and swaps it in (see above).
func (s *Sidecar) install(cat *catalog.Catalog) {
	d := newDefs(cat)
	db := servingtables.NewDatabase(s.store, cat)
	for _, t := range db.Tables() {
		declare(s.eng, t)
	}
	s.eng.AddDatabase(db) // replaces the previous serving database
	old := s.defs.Swap(d)
	if old == nil {
		return
	}
	var added, removed, changed []string
	for _, n := range d.order {
		p, ok := old.projs[strings.ToLower(n)]
		switch {
		case !ok:
			added = append(added, n)
		case fingerprint1(p) != fingerprint1(d.projs[strings.ToLower(n)]):
			changed = append(changed, n)
		}
	}
	for _, n := range old.order {
		if _, ok := d.projs[strings.ToLower(n)]; !ok {
			removed = append(removed, n)
		}
	}
	s.log.Info().Strs("added", added).Strs("changed", changed).Strs("removed", removed).
		Strs("projections", d.order).Msg("sidecar: projection definitions changed; serving schema replaced")
}

// fingerprint1 is one projection's part of fingerprint.
func fingerprint1(p *catalog.Projection) string {
	cols := make([]string, len(p.Columns))
	for i, c := range p.Columns {
		cols[i] = c.Name + " " + c.Type.String()
	}
	return fmt.Sprintf("%q %d %q %q %q", p.Key, p.FreshnessSLA, p.Description, p.Select, cols)
}

// reload re-reads the definitions from the primary on the polling
// connection and installs them when they changed. It runs in the poll
// goroutine only. A failure keeps the served schema (and is retried at
// the next occasion); it reports whether the definitions were read.
func (s *Sidecar) reload(ctx context.Context) bool {
	if s.opts.Catalog != nil {
		return true // the file's definitions, never the primary's
	}
	if s.poll == nil || s.poll.IsClosed() {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cat, err := definitions(ctx, s.poll)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn().Err(err).Str("primary", s.fw.Addr()).Msg("sidecar: re-reading projection definitions failed; serving the previous ones")
		}
		return false
	}
	if fingerprint(cat) != s.current().fingerprint {
		s.install(cat)
	}
	return true
}

// requestRefresh asks the poll goroutine to re-read the definitions soon.
func (s *Sidecar) requestRefresh() {
	if s.refresh == nil {
		return
	}
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

// generations remembers each projection's generation last seen in Redis.
type generations struct {
	mu   sync.Mutex
	last map[string]string
}

// changed records gen for projection name and reports whether a different
// generation had been seen before (the first sighting is no change).
func (g *generations) changed(name, gen string) bool {
	if gen == "" {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last == nil {
		g.last = map[string]string{}
	}
	prev, ok := g.last[name]
	g.last[name] = gen
	return ok && prev != gen
}
