package sqltables

import (
	"math"
	"strings"
	"sync"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/dualgate/dualgate/canonical"
)

// DualgateTables returns the read-only dualgate.* tables this package owns:
//
//	commits:    commit_id, commit_hash, parent_hash, committed_at, committer,
//	            source, kind, mapping_version, message, rows_added,
//	            rows_modified, rows_removed, raw_from_seq, raw_to_seq
//	quarantine: id, source, raw_seq, entity, rule, reason, payload (json),
//	            first_seen
//
// Filters on commits.commit_id are pushed down (a commit id range read).
// parent_hash is NULL for commit 1; raw_from_seq/raw_to_seq are NULL when the
// commit derives from no raw rows. The gateway merges them into its own
// dualgate schema (or uses NewDualgateDatabase).
func DualgateTables(store *canonical.Store) []sql.Table {
	return []sql.Table{commitsTable(store), quarantineTable(store)}
}

func commitsTable(store *canonical.Store) *baseTable {
	t := &baseTable{db: SchemaDualgate, name: "commits",
		comment: "DERIVED (non-authoritative): the canonical commit log (SHA-256 hash chain); one row per commit"}
	t.sch = commitColumns(
		[]string{"commit_id", "commit_hash", "parent_hash", "committed_at", "committer", "source", "kind",
			"mapping_version", "message", "rows_added", "rows_modified", "rows_removed", "raw_from_seq", "raw_to_seq"},
		[]sql.Type{tInt64, tText, tText, tTime, tText, tText, tText, tInt64, tText, tInt64, tInt64, tInt64, tInt64, tInt64},
		"commits", SchemaDualgate)
	t.sch[0].Nullable = false
	t.sch[0].PrimaryKey = true
	t.addIndex("PRIMARY", []string{"commit_id"}, true)
	t.rows = func(ctx *sql.Context, p *lookupPartition) (sql.RowIter, error) {
		from, to := uint64(1), uint64(0)
		if p.idx != nil {
			lo, hi, empty := uintRange(p.rng[0])
			head := store.Head().ID
			if empty || lo > head {
				return &sliceIter{}, nil
			}
			if lo > from {
				from = lo
			}
			if hi != math.MaxUint64 && hi < head {
				if hi == 0 {
					return &sliceIter{}, nil
				}
				to = hi
			}
		}
		cs, err := store.Commits(ctx, from, to)
		if err != nil {
			return nil, err
		}
		rows := make([]sql.Row, len(cs))
		for i, c := range cs {
			var parent, rawFrom, rawTo any
			if !c.ParentHash.IsZero() {
				parent = c.ParentHash.String()
			}
			if c.RawFromSeq != 0 || c.RawToSeq != 0 {
				rawFrom, rawTo = int64(c.RawFromSeq), int64(c.RawToSeq)
			}
			rows[i] = sql.Row{int64(c.ID), c.Hash.String(), parent, c.CommittedAt, c.Committer, c.Source,
				string(c.Kind), c.MappingVersion, c.Message, c.RowsAdded, c.RowsModified, c.RowsRemoved, rawFrom, rawTo}
		}
		return &sliceIter{rows: rows}, nil
	}
	return t
}

func quarantineTable(store *canonical.Store) *baseTable {
	t := &baseTable{db: SchemaDualgate, name: "quarantine",
		comment: "DERIVED (non-authoritative): source rows rejected by quality rules, transitions or types, with the reason"}
	t.sch = commitColumns(
		[]string{"id", "source", "raw_seq", "entity", "rule", "reason", "payload", "first_seen"},
		[]sql.Type{tInt64, tText, tInt64, tText, tText, tText, tJSON, tTime}, "quarantine", SchemaDualgate)
	t.sch[0].Nullable = false
	t.sch[0].PrimaryKey = true
	t.addIndex("PRIMARY", []string{"id"}, true)
	t.rows = func(ctx *sql.Context, p *lookupPartition) (sql.RowIter, error) {
		from := uint64(0)
		if p.idx != nil {
			lo, _, empty := uintRange(p.rng[0])
			if empty {
				return &sliceIter{}, nil
			}
			from = lo
		}
		qs, err := store.Quarantined(ctx, from, 0)
		if err != nil {
			return nil, err
		}
		rows := make([]sql.Row, len(qs))
		for i, q := range qs {
			payload, err := toEngine(tJSON, q.Payload)
			if err != nil || q.Payload == "" {
				payload = nil
			}
			rows[i] = sql.Row{int64(q.ID), q.Source, int64(q.RawSeq), q.Entity, q.Rule, q.Reason, payload, q.FirstSeen}
		}
		return &sliceIter{rows: rows}, nil
	}
	return t
}

// DualgateDatabase is a dualgate schema holding DualgateTables; the gateway
// may add its own tables with WithTables.
type DualgateDatabase struct {
	mu     sync.RWMutex
	tables map[string]sql.Table
	order  []string
}

// NewDualgateDatabase returns a dualgate database holding tables.
func NewDualgateDatabase(tables ...sql.Table) *DualgateDatabase {
	d := &DualgateDatabase{tables: map[string]sql.Table{}}
	d.WithTables(tables...)
	return d
}

// WithTables adds (or replaces, by case-insensitive name) tables and returns d.
func (d *DualgateDatabase) WithTables(tables ...sql.Table) *DualgateDatabase {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range tables {
		k := strings.ToLower(t.Name())
		if _, ok := d.tables[k]; !ok {
			d.order = append(d.order, t.Name())
		}
		d.tables[k] = t
	}
	return d
}

// Name implements sql.Database.
func (d *DualgateDatabase) Name() string { return SchemaDualgate }

// GetTableInsensitive implements sql.Database.
func (d *DualgateDatabase) GetTableInsensitive(_ *sql.Context, name string) (sql.Table, bool, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	t, ok := d.tables[strings.ToLower(name)]
	return t, ok, nil
}

// GetTableNames implements sql.Database.
func (d *DualgateDatabase) GetTableNames(*sql.Context) ([]string, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return append([]string(nil), d.order...), nil
}
