// Package sidecar wires `dualgate serve --role sidecar`: a thin, stateless
// gateway that runs next to a consumer service. It answers serving.*
// projections straight from the Redis store the primary's materializer
// writes (labeled derived, with the projection's watermark), answers
// dualgate.projections from its own view of Redis, and forwards every other
// statement to the primary over the Postgres protocol (gateway.Forwarder).
// It holds no canonical data and opens no store on disk.
//
// The projections' definitions (names, column types, keys, SLAs, SQL) come
// from the primary's catalog.projections and catalog.columns views, so
// sidecar and primary cannot drift: they are read at start and re-read
// while running (see defs.go); a --catalog given to the sidecar overrides
// them. The canonical head, for lag and dualgate.max_staleness, is polled
// from the primary (see head.go).
package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/cmd/internal/servingview"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/metrics"
	"github.com/dualgate/dualgate/projections"
	servingtables "github.com/dualgate/dualgate/projections/sqltables"
)

// The sidecar's own connection to the primary (definitions, head polling)
// is made as the --primary URL's user, or as ownUser when it names none;
// that user needs to read catalog.projections and catalog.columns.
const ownUser = "dualgate-sidecar"

var ownParams = map[string]string{"application_name": "dualgate-sidecar", "dualgate.label_notices": "off"}

// Options configure Open.
type Options struct {
	// Primary is the primary's connection string (postgres://host:port/db).
	Primary string
	// Redis is the serving store's URL, the one the primary was given.
	Redis string
	// Catalog, when set, gives the projections' definitions instead of the
	// primary's catalog views.
	Catalog *catalog.Catalog
	// PollInterval is how often the primary's head commit is polled
	// (default 100ms).
	PollInterval time.Duration
	// DefinitionsInterval is how often the projections' definitions are
	// re-read from the primary (default 30s); they are also re-read when
	// the polling connection reconnects and when a projection's generation
	// in Redis changes. Unused with Catalog.
	DefinitionsInterval time.Duration
	// Log receives the sidecar's events.
	Log zerolog.Logger
}

// Sidecar is the local side of a sidecar: the Redis store, the serving
// schema over it, the forwarder to the primary and the polled head. It
// implements gateway.CommitClock and gateway.Freshness.
type Sidecar struct {
	fw    *gateway.Forwarder
	store *projections.RedisStore
	eng   *gateway.Engine
	defs  atomic.Pointer[defs] // the serving schema's definitions (defs.go)
	gens  generations          // the projections' generations last seen in Redis
	head  headTracker
	opts  Options
	log   zerolog.Logger

	// refresh asks the poll goroutine to re-read the definitions (a
	// generation changed); buffered, sends never block.
	refresh chan struct{}

	poll   *pgconn.PgConn // the polling connection, owned by the poll goroutine once Run starts
	relay  *auditRelay    // the local statements' audit records, to the primary (audit.go)
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// CheckOptions reports what Open refuses before it connects anywhere: a
// missing --primary or --redis, or a --primary that is not a connection
// string.
func CheckOptions(o Options) error {
	if o.Primary == "" {
		return errors.New("--role sidecar needs --primary postgres://… (the primary it forwards to)")
	}
	if o.Redis == "" {
		return errors.New("--role sidecar needs --redis URL (the serving store the primary writes)")
	}
	_, err := gateway.NewForwarder(o.Primary, nil)
	return err
}

// Open connects to Redis and the primary, reads the projections'
// definitions and registers the serving schema with eng.
func Open(ctx context.Context, eng *gateway.Engine, o Options) (*Sidecar, error) {
	if err := CheckOptions(o); err != nil {
		return nil, err
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.DefinitionsInterval <= 0 {
		o.DefinitionsInterval = 30 * time.Second
	}
	s := &Sidecar{opts: o, log: o.Log, eng: eng, refresh: make(chan struct{}, 1)}
	s.head.start = time.Now()
	fw, err := gateway.NewForwarder(o.Primary, s.local)
	if err != nil {
		return nil, err
	}
	s.fw = fw
	s.relay = newAuditRelay(func(ctx context.Context) (*pgconn.PgConn, error) { return fw.Connect(ctx, ownUser, "", ownParams) }, o.Log)
	store, err := projections.NewRedisStoreWith(ctx, o.Redis, projections.RedisOptions{Log: o.Log})
	if err != nil {
		return nil, fmt.Errorf("--redis: %w", err)
	}
	s.store = store
	// One connection reads the definitions and then polls the head.
	conn, err := fw.Connect(ctx, ownUser, "", ownParams)
	if err != nil {
		if o.Catalog == nil {
			_ = store.Close()
			return nil, fmt.Errorf("the sidecar reads the projections' definitions from the primary (or pass --catalog): %w", err)
		}
		s.log.Warn().Err(err).Str("primary", fw.Addr()).Msg("sidecar: primary unreachable at start; serving from Redis, forwarding will fail until it is back")
	} else {
		s.poll = conn
		s.pollOnce(ctx)
	}
	cat := o.Catalog
	if cat == nil {
		if cat, err = definitions(ctx, conn); err != nil {
			_ = conn.Close(ctx)
			_ = store.Close()
			return nil, fmt.Errorf("projection definitions from the primary at %s: %w", fw.Addr(), err)
		}
	}
	s.install(cat)
	return s, nil
}

// declare records a projection table's Postgres column types.
func declare(eng *gateway.Engine, t *servingtables.Table) {
	types := t.PostgresTypes()
	cols := make([]gateway.SystemColumn, len(types))
	for i, c := range t.Schema() {
		cols[i] = gateway.SystemColumn{Name: c.Name, OID: types[i].OID}
	}
	eng.DeclareTable(servingtables.SchemaServing, t.Name(), cols)
	for i, c := range cols {
		eng.DeclareTypmod(servingtables.SchemaServing, t.Name(), c.Name, types[i].Typmod())
	}
}

// local reports the relations the sidecar answers itself: projections
// (not the writable serving tables: their owners' pending writes and
// retention live on the primary) and its own dualgate.projections and
// dualgate.last_result.
func (s *Sidecar) local(schema, name string) bool {
	name = strings.ToLower(name)
	switch schema {
	case servingtables.SchemaServing:
		_, ok := s.current().projs[name]
		return ok
	case "dualgate":
		return name == "projections" || name == "last_result"
	}
	return false
}

// Configure points a gateway config at the sidecar: forwarder, clock,
// freshness, the audit relay and dualgate.projections.
func (s *Sidecar) Configure(cfg *gateway.Config) {
	cfg.Forward = s.fw
	cfg.Clock = s
	cfg.Freshness = s
	cfg.Audit = s.relay
	cfg.SystemTables = append(cfg.SystemTables, s.projectionsTable())
}

// Projections names the projections served locally.
func (s *Sidecar) Projections() []string { return append([]string(nil), s.current().order...) }

// Observe counts the Redis client's failed commands in reg (as the
// primary does; go-redis cannot remove a hook, so that count stays with
// the client until Close) and reports the store's near cache of point
// lookups to reg on scrape; the returned detach stops the latter (call it
// before Close). Call it once.
func (s *Sidecar) Observe(reg *metrics.Registry) (detach func()) {
	s.store.Client().AddHook(reg.RedisHook())
	reg.SetNearCache(func() metrics.NearCache { return metrics.NearCache(s.store.NearCacheStats()) })
	return func() { reg.SetNearCache(nil) }
}

// Primary is the primary's host:port.
func (s *Sidecar) Primary() string { return s.fw.Addr() }

// Run polls the primary's head and relays the audit records of local
// statements to it until ctx ends or Close is called.
func (s *Sidecar) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.pollLoop(ctx)
	}()
	go func() {
		defer s.wg.Done()
		s.relay.run(ctx)
	}()
}

// Close stops polling and closes the Redis client.
func (s *Sidecar) Close() error {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	if s.poll != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.poll.Close(ctx)
		cancel()
	}
	return s.store.Close()
}

// Head implements gateway.CommitClock: the primary's head as last polled.
func (s *Sidecar) Head() uint64 { return s.head.get() }

// Resolve implements gateway.CommitClock for commit ids only: time travel
// and dualgate.as_of run on the primary, which resolves revisions itself.
func (s *Sidecar) Resolve(_ context.Context, rev string) (uint64, error) {
	n, err := strconv.ParseUint(rev, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("revision %s is resolved by the primary", rev)
	}
	return n, nil
}

// Projection implements gateway.Freshness from the sidecar's own view of
// Redis (watermark) and the polled head.
func (s *Sidecar) Projection(ctx context.Context, name string) (gateway.ProjectionFreshness, bool) {
	p, ok := s.current().projs[strings.ToLower(name)]
	if !ok {
		return gateway.ProjectionFreshness{}, false
	}
	st := s.status(ctx, p)
	return gateway.ProjectionFreshness{
		Watermark: st.Watermark, LagCommits: st.LagCommits, Lag: st.Lag, SLA: st.SLA,
		Available: st.Generation != "", Select: p.Select,
	}, true
}

// The fast path labels projection lookups from the read itself.
var _ gateway.ReadFreshness = (*Sidecar)(nil)

// StampRead implements gateway.ReadFreshness: a projection read under the
// returned context records the generation and watermark it read at (the
// Redis Get script reads them with the row, in one round trip).
func (s *Sidecar) StampRead(ctx context.Context) context.Context {
	return projections.WithReadStamp(ctx, &projections.ReadStamp{})
}

// ProjectionRead implements gateway.ReadFreshness: serving.<name>'s
// freshness as of the data a read under ctx returned, against the polled
// head. ok is false when no read of that projection was recorded.
func (s *Sidecar) ProjectionRead(ctx context.Context, name string) (gateway.ProjectionFreshness, bool) {
	rs := projections.ReadStampFrom(ctx)
	if rs == nil || !rs.Set || !strings.EqualFold(rs.Proj, name) {
		return gateway.ProjectionFreshness{}, false
	}
	p, ok := s.current().projs[strings.ToLower(name)]
	if !ok {
		return gateway.ProjectionFreshness{}, false
	}
	st := s.statusAt(p, rs.Watermark, rs.Err)
	return gateway.ProjectionFreshness{
		Watermark: st.Watermark, LagCommits: st.LagCommits, Lag: st.Lag, SLA: st.SLA,
		Available: st.Generation != "", Select: p.Select,
	}, true
}

// status is a projection's row of dualgate.projections.
func (s *Sidecar) status(ctx context.Context, p *catalog.Projection) projections.Status {
	wm, err := s.store.Watermark(ctx, p.Name)
	return s.statusAt(p, wm, err)
}

// statusAt is status for a watermark already read (err: why it could not
// be).
func (s *Sidecar) statusAt(p *catalog.Projection, wm projections.Watermark, err error) projections.Status {
	st := projections.Status{Name: p.Name, Store: s.store.Kind(), SLA: p.FreshnessSLA}
	if err == nil {
		st.Generation, st.Watermark = wm.Generation, wm.Commit
		s.head.observe(wm.Commit, time.Now()) // a watermark is a commit the primary has
		if s.gens.changed(p.Name, wm.Generation) {
			s.requestRefresh() // rebuilt: perhaps from a changed definition
		}
	}
	st.Head = s.head.get()
	if st.Head > st.Watermark {
		st.LagCommits = st.Head - st.Watermark
		st.LagSince = s.head.since(st.Watermark)
		st.Lag = max(time.Since(st.LagSince), 0)
	}
	switch {
	case err != nil:
		st.State, st.Err = projections.StateError, err.Error()
	case st.LagCommits > 0 && st.Lag > p.FreshnessSLA:
		st.State = projections.StateLagging
	default:
		st.State = projections.StateOK
	}
	return st
}

// Statuses reports every projection as dualgate.projections does (the
// admin listener's readiness).
func (s *Sidecar) Statuses(ctx context.Context) []projections.Status {
	d := s.current()
	out := make([]projections.Status, 0, len(d.order))
	for _, name := range d.order {
		out = append(out, s.status(ctx, d.projs[strings.ToLower(name)]))
	}
	return out
}

// projectionsTable is the sidecar's dualgate.projections (the primary's
// columns): what this sidecar sees in Redis against the polled head.
func (s *Sidecar) projectionsTable() gateway.SystemTable {
	return servingview.Table("DERIVED (non-authoritative): each serving projection's store, generation, watermark and lag behind canonical, as this sidecar sees them",
		s.Statuses)
}

// definitions reads the projections from the primary's catalog views and
// rebuilds them as a catalog the serving schema can be made from. The
// catalog has, per projection, a stand-in entity with the projection's
// columns and types (so the projection's column types come out exactly as
// the primary's) and the projection selecting them; only the projection
// part is used. Column types the primary could not infer stay unknown.
func definitions(ctx context.Context, conn *pgconn.PgConn) (*catalog.Catalog, error) {
	prs, err := conn.Exec(ctx, `SELECT name, key, freshness_sla_ms, description, select_sql FROM catalog.projections WHERE kind = 'projection' ORDER BY name`).ReadAll()
	if err != nil {
		return nil, err
	}
	crs, err := conn.Exec(ctx, `SELECT relation, name, type FROM catalog.columns WHERE schema = 'serving' AND kind = 'projection' ORDER BY relation, position`).ReadAll()
	if err != nil {
		return nil, err
	}
	type column struct{ name, typ string }
	cols := map[string][]column{}
	for _, r := range crs[0].Rows {
		cols[string(r[0])] = append(cols[string(r[0])], column{string(r[1]), string(r[2])})
	}
	type yproj struct {
		Key          []string            `json:"key"`
		FreshnessSLA string              `json:"freshness_sla"`
		Description  string              `json:"description,omitempty"`
		Select       string              `json:"select"`
		AffectedBy   map[string][]string `json:"affected_by"`
	}
	type yentity struct {
		Key     []string          `json:"key"`
		Columns map[string]string `json:"columns"`
	}
	doc := struct {
		Context     string             `json:"context"`
		Entities    map[string]yentity `json:"entities"`
		Projections map[string]yproj   `json:"projections"`
	}{Context: "sidecar", Entities: map[string]yentity{}, Projections: map[string]yproj{}}
	untyped := map[string]map[string]bool{}
	selects := map[string]string{}
	for _, r := range prs[0].Rows {
		name := string(r[0])
		var key []string
		for _, k := range strings.Split(string(r[1]), ",") {
			key = append(key, strings.TrimSpace(k))
		}
		ms, err := strconv.ParseInt(string(r[2]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("catalog.projections %s: freshness_sla_ms %q", name, r[2])
		}
		e := yentity{Key: key, Columns: map[string]string{}}
		quoted := make([]string, 0, len(cols[name]))
		for _, c := range cols[name] {
			typ := c.typ
			if typ == "" {
				typ = "text"
				if untyped[name] == nil {
					untyped[name] = map[string]bool{}
				}
				untyped[name][c.name] = true
			}
			e.Columns[c.name] = typ
			quoted = append(quoted, `"`+strings.ReplaceAll(c.name, `"`, `""`)+`"`)
		}
		if len(quoted) == 0 {
			return nil, fmt.Errorf("catalog.columns has no columns for projection %s", name)
		}
		doc.Entities[name] = e
		doc.Projections[name] = yproj{
			Key: key, FreshnessSLA: strconv.FormatInt(ms, 10) + "ms", Description: string(r[3]),
			Select:     "SELECT " + strings.Join(quoted, ", ") + ` FROM canonical."` + name + `"`,
			AffectedBy: map[string][]string{name: key},
		}
		selects[name] = string(r[4])
	}
	// JSON is YAML: the catalog loader reads it as one context file.
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	cat, err := catalog.LoadFiles(catalog.File{Name: "sidecar (from the primary's catalog views)", Data: data})
	if err != nil {
		return nil, err
	}
	for _, p := range cat.Projections() {
		p.Select = selects[p.Name] // the real SQL, for stale_policy = canonical labels
		for _, c := range p.Columns {
			if untyped[p.Name][c.Name] {
				c.Type = catalog.Type{}
			}
		}
	}
	return cat, nil
}
