package sqltables

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

var ioEOF = io.EOF

// Schema (engine database) names.
const (
	SchemaCanonical = "canonical"
	SchemaHistory   = "history"
	SchemaDiff      = "diff"
	SchemaRaw       = "raw"
	SchemaDualgate  = "dualgate"
)

// ErrUnknownRev is wrapped by the error of a table read AS OF a revision the
// store cannot resolve (unknown id, hash or prefix, ambiguous prefix,
// timestamp before the first commit, HEAD~n past the first commit, or a value
// that is no revision at all). The store's own error (canonical.ErrNoSuchCommit,
// canonical.ErrAmbiguousRev) is wrapped too, so errors.Is works for either.
var ErrUnknownRev = errors.New("unknown revision")

// ErrReadOnly is wrapped by errors of writes the tables refuse: UPDATE or
// DELETE on raw.<source>, writes to a canonical table read AS OF a commit,
// writes to history, diff and dualgate tables (these do not implement the
// write interfaces at all, so the engine refuses them itself).
var ErrReadOnly = errors.New("read-only relation")

// env is what every table needs.
type env struct {
	store  *canonical.Store
	cat    *catalog.Catalog
	writes Writes
}

// Databases returns the engine databases canonical, history, diff, raw and
// dualgate over store, named like the Postgres schemas of DESIGN.md. Tables
// are looked up on every call (they reflect the store's and catalog's tables
// at that moment). writes receives INSERT/UPDATE/DELETE rows of canonical
// and INSERTs of raw; with writes nil those tables are read-only.
//
// The dualgate database holds only commits and quarantine; the gateway owns
// the other dualgate.* tables and can either merge DualgateTables into its
// own dualgate schema or use this database's WithTables.
func Databases(store *canonical.Store, cat *catalog.Catalog, writes Writes) []sql.Database {
	e := &env{store: store, cat: cat, writes: writes}
	return []sql.Database{
		&CanonicalDatabase{e: e},
		&tablesDB{name: SchemaHistory, names: e.entityNames, get: e.historyTable},
		&tablesDB{name: SchemaDiff, names: e.entityNames, get: e.diffTable},
		&tablesDB{name: SchemaRaw, names: e.sourceNames, get: e.rawTable},
		NewDualgateDatabase(DualgateTables(store)...),
	}
}

func (e *env) entityNames() []string {
	var out []string
	for _, en := range e.cat.Entities() {
		out = append(out, en.Name)
	}
	return out
}

func (e *env) sourceNames() []string {
	var out []string
	for _, s := range e.cat.Sources() {
		out = append(out, s.Name)
	}
	return out
}

func (e *env) entity(name string) *catalog.Entity {
	if en := e.cat.Entity(name); en != nil {
		return en
	}
	for _, en := range e.cat.Entities() {
		if strings.EqualFold(en.Name, name) {
			return en
		}
	}
	return nil
}

func (e *env) source(name string) *catalog.Source {
	if s := e.cat.Source(name); s != nil {
		return s
	}
	for _, s := range e.cat.Sources() {
		if strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

// storeTable returns the store schema of an entity at asOf (HEAD: current),
// or nil when the store has no such table (yet, or at asOf).
func (e *env) storeTable(name string, asOf uint64) *canonical.TableSchema {
	ts, err := e.store.Schema(name, asOf)
	if err != nil {
		return nil
	}
	return ts
}

// tablesDB is a read-only database whose tables are built on lookup.
type tablesDB struct {
	name  string
	names func() []string
	get   func(ctx *sql.Context, name string) (sql.Table, bool, error)
}

func (d *tablesDB) Name() string { return d.name }

func (d *tablesDB) GetTableInsensitive(ctx *sql.Context, name string) (sql.Table, bool, error) {
	return d.get(ctx, name)
}

func (d *tablesDB) GetTableNames(*sql.Context) ([]string, error) { return d.names(), nil }

// CanonicalDatabase is the canonical schema: one table per catalog entity,
// current or AS OF any commit (sql.VersionedDatabase).
//
// An entity whose store table does not exist yet (nothing ingested, or AS OF
// a commit before its table was created) is still listed and reads as an
// empty table with the catalog's columns, so queries written against the
// catalog never fail with "no such table" before the first ingest.
type CanonicalDatabase struct {
	e *env
	// sessionAsOf, if set, returns the session's default revision ("" for
	// head): SET dualgate.as_of.
	sessionAsOf func(ctx *sql.Context) string
}

// SetSessionAsOf installs f, which returns the session's default revision
// (the gateway's SET dualgate.as_of; "" = head). Tables named without AS OF
// are then read at that revision (and refuse writes, like any AS OF table);
// an explicit AS OF still wins. Call it before serving queries.
func (d *CanonicalDatabase) SetSessionAsOf(f func(ctx *sql.Context) string) { d.sessionAsOf = f }

var _ sql.VersionedDatabase = (*CanonicalDatabase)(nil)

// Name implements sql.Database.
func (d *CanonicalDatabase) Name() string { return SchemaCanonical }

// GetTableInsensitive implements sql.Database: the table at head.
func (d *CanonicalDatabase) GetTableInsensitive(ctx *sql.Context, name string) (sql.Table, bool, error) {
	en := d.e.entity(name)
	if en == nil {
		return nil, false, nil
	}
	if d.sessionAsOf != nil {
		if rev := d.sessionAsOf(ctx); rev != "" {
			ci, rev, err := ResolveAsOf(ctx, d.e.store, rev)
			if err != nil {
				return nil, false, err
			}
			return newCanonicalTable(d.e, en, ci.ID, rev), true, nil
		}
	}
	return newCanonicalTable(d.e, en, canonical.HEAD, ""), true, nil
}

// GetTableNames implements sql.Database.
func (d *CanonicalDatabase) GetTableNames(*sql.Context) ([]string, error) {
	return d.e.entityNames(), nil
}

// GetTableInsensitiveAsOf implements sql.VersionedDatabase. asOf is what the
// engine evaluates the AS OF expression to: a string revision (commit id,
// hash or unique prefix, HEAD, HEAD~n, timestamp), a time.Time (latest
// commit at or before it) or an integer commit id.
func (d *CanonicalDatabase) GetTableInsensitiveAsOf(ctx *sql.Context, name string, asOf interface{}) (sql.Table, bool, error) {
	en := d.e.entity(name)
	if en == nil {
		return nil, false, nil
	}
	ci, rev, err := ResolveAsOf(ctx, d.e.store, asOf)
	if err != nil {
		return nil, false, err
	}
	return newCanonicalTable(d.e, en, ci.ID, rev), true, nil
}

// GetTableNamesAsOf implements sql.VersionedDatabase: every entity (tables
// without rows at that commit read as empty).
func (d *CanonicalDatabase) GetTableNamesAsOf(ctx *sql.Context, asOf interface{}) ([]string, error) {
	if _, _, err := ResolveAsOf(ctx, d.e.store, asOf); err != nil {
		return nil, err
	}
	return d.e.entityNames(), nil
}

// ResolveAsOf resolves an AS OF value (string revision, time.Time or integer
// commit id) to a commit with store.ResolveRev. It also returns the revision
// as text. Failures wrap ErrUnknownRev and the store's error and name the
// revision and the accepted forms.
func ResolveAsOf(ctx context.Context, store *canonical.Store, asOf interface{}) (canonical.CommitInfo, string, error) {
	var rev string
	switch v := asOf.(type) {
	case string:
		rev = v
	case []byte:
		rev = string(v)
	case time.Time:
		rev = v.UTC().Format(time.RFC3339Nano)
		ci, err := store.CommitAt(ctx, v)
		if err != nil {
			return ci, rev, revError(rev, err)
		}
		return ci, rev, nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		rev = fmt.Sprint(v)
	default:
		return canonical.CommitInfo{}, fmt.Sprint(asOf), fmt.Errorf("%w %v (%T): AS OF takes a commit id, a commit hash or unique prefix, 'HEAD', 'HEAD~n' or a timestamp", ErrUnknownRev, asOf, asOf)
	}
	ci, err := store.ResolveRev(ctx, rev)
	if err != nil {
		return ci, rev, revError(rev, err)
	}
	return ci, rev, nil
}

func revError(rev string, err error) error {
	return fmt.Errorf("%w %q: %w (AS OF takes a commit id, a commit hash or unique prefix, 'HEAD', 'HEAD~n' or a timestamp)", ErrUnknownRev, rev, err)
}
