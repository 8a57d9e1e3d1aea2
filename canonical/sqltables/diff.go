package sqltables

import (
	"math"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/dualgate/dualgate/canonical"
)

// diffTable builds diff.<entity>: Dolt's dolt_diff_<table> semantics, one row
// per changed key per commit, each commit compared with its parent:
//
//	to_<col>..., from_<col>..., to_commit, from_commit, to_committed_at,
//	from_committed_at, diff_type
//
// to_<col> hold the row after the commit (NULL when removed), from_<col> the
// row before it (NULL when added); to_commit is the commit, from_commit its
// parent (to_commit - 1; 0 and from_committed_at NULL for the first commit);
// diff_type is added, modified or removed. Rows use the current schema.
//
// Indexes: "to_key" / "from_key" on the to_/from_ key columns (all equal:
// store.Diff with that key, reading only its versions) and "to_commit" /
// "from_commit" (a commit range: store.Diff over those commits' change log).
func (e *env) diffTable(ctx *sql.Context, name string) (sql.Table, bool, error) {
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
	toSch, _ := entityColumns(en, cols, key, "to_", SchemaDiff)
	fromSch, _ := entityColumns(en, cols, key, "from_", SchemaDiff)
	n := len(cols)
	sch := append(append(sql.Schema{}, toSch...), fromSch...)
	sch = append(sch, commitColumns(
		[]string{"to_commit", "from_commit", "to_committed_at", "from_committed_at", "diff_type"},
		[]sql.Type{tInt64, tInt64, tTime, tTime, tText}, en.Name, SchemaDiff)...)
	t := &baseTable{catCol: en.Column, db: SchemaDiff, name: en.Name, sch: sch,
		comment: "AUTHORITATIVE: changes to canonical." + en.Name + " between adjacent commits (added, modified, removed)" + descSuffix(en)}
	var toKey, fromKey []string
	for _, k := range key {
		toKey = append(toKey, "to_"+k)
		fromKey = append(fromKey, "from_"+k)
	}
	t.addIndex("to_key", toKey, false)
	t.addIndex("from_key", fromKey, false)
	t.addIndex("to_commit", []string{"to_commit"}, false)
	t.addIndex("from_commit", []string{"from_commit"}, false)
	t.rows = func(ctx *sql.Context, p *lookupPartition) (sql.RowIter, error) {
		if ts == nil {
			return &sliceIter{}, nil
		}
		head := e.store.Head().ID
		var opts canonical.DiffOptions
		if p.idx != nil {
			switch p.idx.id {
			case "to_key", "from_key":
				if k := keyPoint(p.rng); k != nil {
					cols := make([]int, len(p.idx.cols))
					for i, c := range p.idx.cols {
						cols[i] = c % n
					}
					if sk, err := storeValues(ts, cols, k); err == nil {
						opts.Key = sk
					}
				}
			case "to_commit", "from_commit":
				lo, hi, empty := uintRange(p.rng[0])
				if p.idx.id == "from_commit" {
					// from_commit = to_commit - 1
					if hi != math.MaxUint64 {
						hi++
					}
					lo++
				}
				if lo == 0 {
					lo = 1
				}
				if empty || lo > head || lo > hi {
					return &sliceIter{}, nil
				}
				opts.FromCommit = lo - 1
				if hi < head {
					opts.ToCommit = hi
				}
			}
		}
		it, err := e.store.Diff(ctx, en.Name, opts)
		if err != nil {
			return nil, err
		}
		return &diffIter{it: it, sch: sch, n: n}, nil
	}
	return t, true, nil
}

type diffIter struct {
	it  *canonical.Iter[canonical.DiffEntry]
	sch sql.Schema
	n   int
}

func (d *diffIter) Next(*sql.Context) (sql.Row, error) {
	if !d.it.Next() {
		if err := d.it.Err(); err != nil {
			return nil, err
		}
		return nil, ioEOF
	}
	en := d.it.Item()
	row := make(sql.Row, len(d.sch))
	for i := 0; i < d.n; i++ {
		if i < len(en.To) {
			v, err := toEngine(d.sch[i].Type, en.To[i])
			if err != nil {
				return nil, err
			}
			row[i] = v
		}
		if i < len(en.From) {
			v, err := toEngine(d.sch[d.n+i].Type, en.From[i])
			if err != nil {
				return nil, err
			}
			row[d.n+i] = v
		}
	}
	c := row[2*d.n:]
	c[0] = int64(en.ToCommit.ID)
	c[1] = int64(en.FromCommit.ID)
	c[2] = en.ToCommit.CommittedAt
	if en.FromCommit.ID != 0 {
		c[3] = en.FromCommit.CommittedAt
	}
	c[4] = en.Type
	return row, nil
}

func (d *diffIter) Close(*sql.Context) error { return d.it.Close() }
