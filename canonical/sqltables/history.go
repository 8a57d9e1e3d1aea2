package sqltables

import (
	"math"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/dualgate/dualgate/canonical"
	"github.com/dualgate/dualgate/catalog"
)

// History and diff commit columns.
var historyCommitCols = []string{"commit_id", "commit_hash", "committed_at", "committer", "source"}

func commitColumns(names []string, types []sql.Type, src, db string) sql.Schema {
	var sch sql.Schema
	for i, n := range names {
		sch = append(sch, &sql.Column{Name: n, Type: types[i], Nullable: true, Source: src, DatabaseSource: db})
	}
	return sch
}

// historyTable builds history.<entity>: one row per version of each row,
// i.e. per (key, commit that wrote it), with the entity's columns (current
// schema; older versions read added columns as their defaults) followed by
// commit_id, commit_hash, committed_at, committer, source.
//
// Semantics follow Dolt's dolt_history_<table> restricted to the commits
// where the row changed: a row lists the version a commit wrote. Deletions
// are not versions (a deleted row exists at no commit after it), so they
// have no row here; diff.<entity> shows them as diff_type 'removed'.
//
// Indexes: "key" on the key columns (all key columns equal: store.History
// with that key, one range read) and "commit" on commit_id (a commit range:
// store.History over the change log of those commits). Other filters scan
// the table's versions.
func (e *env) historyTable(ctx *sql.Context, name string) (sql.Table, bool, error) {
	en := e.entity(name)
	if en == nil {
		return nil, false, nil
	}
	ts := e.storeTable(en.Name, canonical.HEAD)
	var cols []canonical.Column
	var key []string
	if ts != nil {
		cols, key = ts.Columns, ts.PrimaryKey
	} else {
		es := EntitySchema(en)
		cols, key = es.Columns, es.PrimaryKey
	}
	sch, _ := entityColumns(en, cols, key, "", SchemaHistory)
	for _, c := range sch {
		c.PrimaryKey = false
	}
	sch = append(sch, commitColumns(historyCommitCols, []sql.Type{tInt64, tText, tTime, tText, tText}, en.Name, SchemaHistory)...)
	nEnt := len(cols)
	t := &baseTable{catCol: en.Column, db: SchemaHistory, name: en.Name, sch: sch,
		comment: "AUTHORITATIVE: every version of canonical." + en.Name + " with the commit that wrote it" + descSuffix(en)}
	t.addIndex("key", key, false)
	t.addIndex("commit", []string{"commit_id"}, false)
	t.rows = func(ctx *sql.Context, p *lookupPartition) (sql.RowIter, error) {
		if ts == nil {
			return &sliceIter{}, nil
		}
		var opts canonical.HistoryOptions
		if p.idx != nil {
			switch p.idx.id {
			case "key":
				if k := keyPoint(p.rng); k != nil {
					sk, err := storeValues(ts, p.idx.cols, k)
					if err == nil {
						opts.Key = sk
					}
				}
			case "commit":
				lo, hi, empty := uintRange(p.rng[0])
				if empty {
					return &sliceIter{}, nil
				}
				opts.FromCommit = lo
				if hi != math.MaxUint64 {
					opts.ToCommit = hi
				}
			}
		}
		it, err := e.store.History(ctx, en.Name, opts)
		if err != nil {
			return nil, err
		}
		return &historyIter{it: it, sch: sch, nEnt: nEnt}, nil
	}
	return t, true, nil
}

func descSuffix(en *catalog.Entity) string {
	if en.Description == "" {
		return "."
	}
	return ". " + en.Description
}

// storeValues converts engine values of ts's columns cols to store values.
func storeValues(ts *canonical.TableSchema, cols []int, vals []any) ([]any, error) {
	out := make([]any, len(vals))
	for i, v := range vals {
		s, err := toStore(ts.Columns[cols[i]].Kind, v)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

type historyIter struct {
	it   *canonical.Iter[canonical.HistoryEntry]
	sch  sql.Schema
	nEnt int
}

func (h *historyIter) Next(*sql.Context) (sql.Row, error) {
	for h.it.Next() {
		en := h.it.Item()
		if en.Deleted {
			continue
		}
		row := make(sql.Row, len(h.sch))
		for i := 0; i < h.nEnt && i < len(en.Row); i++ {
			v, err := toEngine(h.sch[i].Type, en.Row[i])
			if err != nil {
				return nil, err
			}
			row[i] = v
		}
		fillCommit(row[h.nEnt:], en.Commit)
		return row, nil
	}
	if err := h.it.Err(); err != nil {
		return nil, err
	}
	return nil, ioEOF
}

func (h *historyIter) Close(*sql.Context) error { return h.it.Close() }

// fillCommit writes commit_id, commit_hash, committed_at, committer, source.
func fillCommit(dst sql.Row, ci canonical.CommitInfo) {
	dst[0] = int64(ci.ID)
	dst[1] = ci.Hash.String()
	dst[2] = ci.CommittedAt
	dst[3] = ci.Committer
	dst[4] = ci.Source
}
