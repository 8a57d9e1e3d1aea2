package canonical

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/shopspring/decimal"
)

// sstPair is the same commits applied to a store on the batch path and to
// one on the sstable path.
type sstPair struct {
	t                 *testing.T
	r                 *rand.Rand
	dirs              [2]string
	clocks            [2]*fakeClock
	stores            [2]*Store // 0: batches, 1: sstables
	ingests           uint64    // commits the sstable store should have ingested
	ids               []int64   // t1 keys upserted so far (with repeats)
	quarSeq, commitNo int
}

func sstPairOptions(path int, clk *fakeClock) Options {
	o := Options{Clock: clk.now, CheckpointFraction: -1, CommitSSTableBytes: -1}
	if path == 1 {
		o.CommitSSTableBytes = 1
	}
	return o
}

func newSSTPair(t *testing.T, seed int64) *sstPair {
	p := &sstPair{t: t, r: rand.New(rand.NewSource(seed))}
	for i := range p.stores {
		p.dirs[i] = t.TempDir()
		p.clocks[i] = &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		p.open(i)
	}
	t.Cleanup(func() {
		for _, s := range p.stores {
			_ = s.Close()
		}
	})
	var create []SchemaChange
	for _, ts := range propSchemas() {
		create = append(create, SchemaChange{CreateTable: &ts})
	}
	p.commit(CommitRequest{Kind: KindSchema, Schema: create}, nil, 0)
	return p
}

func (p *sstPair) open(i int) {
	s, err := Open(context.Background(), p.dirs[i], sstPairOptions(i, p.clocks[i]))
	if err != nil {
		p.t.Fatal(err)
	}
	p.stores[i] = s
}

// reopen closes and opens both stores.
func (p *sstPair) reopen() {
	for i, s := range p.stores {
		if err := s.Close(); err != nil {
			p.t.Fatal(err)
		}
		p.open(i)
	}
}

// commit applies req with raws (source -> rows) and nquar quarantine
// records to both stores in one Txn each, and checks both agree.
func (p *sstPair) commit(req CommitRequest, raws map[string][][]any, nquar int) {
	p.t.Helper()
	ctx := context.Background()
	var res [2]CommitResult
	var seqs [2]string
	for i, s := range p.stores {
		txn, err := s.Begin(ctx)
		if err != nil {
			p.t.Fatal(err)
		}
		for _, src := range sortedSources(raws) {
			from, to, err := txn.AppendRaw(src, raws[src], fmt.Sprint("batch-", p.commitNo))
			if err != nil {
				p.t.Fatal(err)
			}
			seqs[i] += fmt.Sprint(src, from, "-", to, " ")
		}
		for q := 0; q < nquar; q++ {
			if _, _, err := txn.Quarantine(QuarantineRecord{Source: "src", RawSeq: uint64(p.quarSeq + q), Entity: "t1",
				Rule: fmt.Sprint("rule", q%3), Reason: "bad", Payload: `{"x":1}`}); err != nil {
				p.t.Fatal(err)
			}
		}
		if res[i], err = txn.Commit(ctx, req); err != nil {
			p.t.Fatalf("store %d commit %d: %v", i, p.commitNo, err)
		}
	}
	p.quarSeq += nquar
	p.commitNo++
	a, b := res[0], res[1]
	if a.Created != b.Created || a.Unchanged != b.Unchanged || a.Commit.Hash != b.Commit.Hash || a.Commit.ID != b.Commit.ID || seqs[0] != seqs[1] {
		p.t.Fatalf("commit %d differs: batch %+v %s, sstables %+v %s", p.commitNo, a, seqs[0], b, seqs[1])
	}
	if req.Kind != KindSchema && (b.Created || len(raws) > 0 || nquar > 0) {
		p.ingests++
	}
}

func sortedSources(m map[string][][]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// t1Row is a row of propSchemas' t1 (id, name, n, amt; index on n).
func (p *sstPair) t1Row(id int64) []any {
	var name any = fmt.Sprint("name-", p.r.Intn(5))
	if p.r.Intn(6) == 0 {
		name = nil
	}
	var amt any = decimal.New(int64(p.r.Intn(1000)), -2)
	if p.r.Intn(5) == 0 {
		amt = nil
	}
	return []any{id, name, int64(p.r.Intn(4)), amt}
}

// step makes one random commit of up to n changes: upserts (new keys,
// rewrites, identical rows), deletes (of present and absent keys, by key
// or full row), several changes to one key, both tables, raw rows of one
// or two sources and quarantine records.
func (p *sstPair) step(n int) {
	var changes []Change
	var upserts [][]any
	for i := 0; i < n; i++ {
		id := int64(p.r.Intn(3 * n))
		switch x := p.r.Intn(20); {
		case x < 3: // t2: composite key, index on (flag, f)
			a := []string{"x", "y", "z\x00", ""}[p.r.Intn(4)]
			b := int64(p.r.Intn(5))
			if p.r.Intn(4) == 0 {
				changes = append(changes, Change{Table: "t2", Op: OpDelete, Row: []any{a, b}})
			} else {
				changes = append(changes, Change{Table: "t2", Op: OpUpsert, Row: []any{a, b, float64(p.r.Intn(3)), time.UnixMicro(int64(p.r.Intn(9)) * 1_000_001).UTC(), p.r.Intn(2) == 0}})
			}
		case x < 6: // delete (present or not)
			if p.r.Intn(2) == 0 {
				changes = append(changes, Change{Table: "t1", Op: OpDelete, Row: []any{id}})
			} else {
				changes = append(changes, Change{Table: "t1", Op: OpDelete, Row: p.t1Row(id)})
			}
		case x < 8: // the same key twice in the commit: the last wins
			changes = append(changes, Change{Table: "t1", Op: OpUpsert, Row: p.t1Row(id)},
				Change{Table: "t1", Op: OpUpsert, Row: p.t1Row(id)})
		case x < 10 && len(p.ids) > 0: // an identical upsert (no-op) of a row upserted before
			got, ok, err := p.stores[0].Get(context.Background(), "t1", []any{p.ids[p.r.Intn(len(p.ids))]}, HEAD)
			if err != nil {
				p.t.Fatal(err)
			}
			if ok {
				changes = append(changes, Change{Table: "t1", Op: OpUpsert, Row: got})
			}
		case x < 13:
			upserts = append(upserts, p.t1Row(id))
		default:
			changes = append(changes, Change{Table: "t1", Op: OpUpsert, Row: p.t1Row(id)})
		}
		p.ids = append(p.ids, id)
	}
	req := CommitRequest{Kind: KindIngest, Committer: "diff", Source: "src", Message: fmt.Sprint("step ", p.commitNo), Changes: changes}
	if len(upserts) > 0 {
		req.Upserts = &Upserts{Table: "t1", Rows: upserts}
	}
	raws := map[string][][]any{}
	// "s" and "s2": one source name is a prefix of the other.
	for _, src := range []string{"s2", "s", "src"} {
		if p.r.Intn(2) == 0 {
			continue
		}
		rows := make([][]any, 1+p.r.Intn(n))
		for i := range rows {
			rows[i] = []any{int64(i), fmt.Sprint("raw ", p.commitNo, " ", i)}
		}
		raws[src] = rows
	}
	p.commit(req, raws, p.r.Intn(3))
}

// dump renders every read of store s that both paths must answer alike.
func dump(t *testing.T, s *Store) string {
	ctx := context.Background()
	var b strings.Builder
	head := s.Head().ID
	cs, err := s.Commits(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		fmt.Fprintf(&b, "commit %+v\n", c)
	}
	for _, ts := range s.Tables() {
		for c := uint64(1); c <= head; c++ {
			if ts.SinceCommit > c {
				continue
			}
			fmt.Fprintf(&b, "%s as of %d: %v\n", ts.Name, c, rowsOrPanic(s.Scan(ctx, ts.Name, ScanOptions{AsOf: c})))
			for _, ix := range ts.Indexes {
				fmt.Fprintf(&b, "%s.%s as of %d: %v\n", ts.Name, ix.Name, c, rowsOrPanic(s.ScanIndex(ctx, ts.Name, ix.Name, IndexScanOptions{AsOf: c})))
			}
			it, err := s.Diff(ctx, ts.Name, DiffOptions{FromCommit: c - 1, ToCommit: c})
			if err != nil {
				t.Fatal(err)
			}
			d, err := it.Collect()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "diff %s %d: %+v\n", ts.Name, c, d)
		}
		fmt.Fprintf(&b, "%s head: %v\n", ts.Name, rowsOrPanic(s.Scan(ctx, ts.Name, ScanOptions{})))
		it, err := s.History(ctx, ts.Name, HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h, err := it.Collect()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "history %s: %+v\n", ts.Name, h)
	}
	for c := uint64(1); c <= head; c++ {
		it, err := s.Changes(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := it.Collect()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "changes %d: %+v\n", c, ch)
	}
	for _, src := range []string{"s", "s2", "src"} {
		raws, err := s.ScanRaw(ctx, src, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "raw %s: %+v\n", src, raws)
	}
	q, err := s.Quarantined(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "quarantine: %+v\n", q)
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("verify %+v: %v", rep, err)
	}
	fmt.Fprintf(&b, "verify: %+v\n", rep)
	return b.String()
}

// keyspace is every key and value of s's Pebble database.
func keyspace(t *testing.T, s *Store) [][2][]byte {
	it, err := s.db.NewIter(&pebble.IterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var kvs [][2][]byte
	for ok := it.First(); ok; ok = it.Next() {
		kvs = append(kvs, [2][]byte{append([]byte(nil), it.Key()...), append([]byte(nil), it.Value()...)})
	}
	return kvs
}

// check compares both stores: every read, and every key and value.
func (p *sstPair) check(what string) {
	p.t.Helper()
	a, b := dump(p.t, p.stores[0]), dump(p.t, p.stores[1])
	if a != b {
		al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
		for i := range min(len(al), len(bl)) {
			if al[i] != bl[i] {
				p.t.Fatalf("%s: reads differ at line %d:\nbatch:    %s\nsstables: %s", what, i, al[i], bl[i])
			}
		}
		p.t.Fatalf("%s: reads differ (%d vs %d lines)", what, len(al), len(bl))
	}
	ka, kb := keyspace(p.t, p.stores[0]), keyspace(p.t, p.stores[1])
	for i := range min(len(ka), len(kb)) {
		if !bytes.Equal(ka[i][0], kb[i][0]) || !bytes.Equal(ka[i][1], kb[i][1]) {
			p.t.Fatalf("%s: entry %d: batch %q=%q, sstables %q=%q", what, i, ka[i][0], ka[i][1], kb[i][0], kb[i][1])
		}
	}
	if len(ka) != len(kb) {
		p.t.Fatalf("%s: %d keys on the batch path, %d on the sstable path", what, len(ka), len(kb))
	}
	if n := p.stores[0].db.Metrics().Ingest.Count; n != 0 {
		p.t.Fatalf("%s: the batch store ingested %d times", what, n)
	}
}

// TestSSTCommitsMatchBatch runs the same random commits (upserts, rewrites
// of one key within a commit, identical upserts, deletes of present and
// absent keys, two indexed tables, raw rows of several sources, quarantine
// records, raw-only commits, commits large enough to stage on two
// goroutines) through the batch path and the sstable path and compares
// every read (current, AS OF each commit, index scans, history, diffs,
// change feed, raw, quarantine, the commit log, Verify) and every stored
// key and value, across a reopen.
func TestSSTCommitsMatchBatch(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 2)))
	old := parallelStage
	parallelStage = 600
	defer func() { parallelStage = old }()
	for _, seed := range []int64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			p := newSSTPair(t, seed)
			steps := 24
			if testing.Short() {
				steps = 10
			}
			for i := 0; i < steps; i++ {
				n := 1 + p.r.Intn(12)
				if i%7 == 3 {
					n = 400 + p.r.Intn(400) // above parallelStage with the raw rows
				}
				p.step(n)
				if i%9 == 8 {
					// Raw rows and quarantine records only: no commit.
					p.commit(CommitRequest{Kind: KindIngest}, map[string][][]any{"src": {{int64(1), "only raw"}}}, 1)
				}
				if i == steps/2 {
					p.check("before reopen")
					p.reopen()
					p.ingests = 0
				}
			}
			p.check("end")
			// One Ingest per data commit of the sstable store (since the
			// reopen: Pebble's metrics count from Open).
			if n := p.stores[1].db.Metrics().Ingest.Count; n != p.ingests {
				t.Fatalf("the sstable store ingested %d times, want %d (one per commit since the reopen)", n, p.ingests)
			}
			t.Logf("%d commits, head %d; %d ingests expected on the sstable path", p.commitNo, p.stores[1].Head().ID, p.ingests)
		})
	}
}

// TestSSTCommitIngestsOnce: a data commit on the sstable path is exactly
// one Ingest (atomic), and a store opened over a crash's leftover commit
// sstables removes them.
func TestSSTCommitIngestsOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, err := Open(ctx, dir, sstPairOptions(1, clk))
	if err != nil {
		t.Fatal(err)
	}
	createOrders(t, s)
	before := s.db.Metrics().Ingest.Count
	txn, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := txn.AppendRaw("oms", [][]any{{"a"}, {"b"}}, "b1"); err != nil {
		t.Fatal(err)
	}
	if _, err := txn.Commit(ctx, CommitRequest{Kind: KindIngest, Changes: []Change{
		{Table: "orders", Op: OpUpsert, Row: order("a", "accepted", "1")},
		{Table: "orders", Op: OpUpsert, Row: order("b", "paid", "2")},
	}}); err != nil {
		t.Fatal(err)
	}
	if n := s.db.Metrics().Ingest.Count - before; n != 1 {
		t.Fatalf("%d ingests for one commit, want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, commitFilePrefix+"9-56"+ingestFileSuffix)
	if err := os.WriteFile(left, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, dir, sstPairOptions(1, clk))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("leftover %s not removed at open (%v)", left, err)
	}
	if got, ok, err := s.Get(ctx, "orders", []any{"b"}, HEAD); err != nil || !ok || got[1] != "paid" {
		t.Fatalf("after reopen: %v %v %v", got, ok, err)
	}
}

// TestSSTStagerOrder: streamed keyspaces refuse a key out of order
// (errUnsorted, so the commit takes the batch path) and the sorted ones
// are written in key order, the last of equal keys winning, tombstones
// included.
func TestSSTStagerOrder(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{CheckpointFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.db.Set([]byte("I\x05"), []byte("old"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	st := s.newSSTStager(1)
	for _, k := range []string{"R\x01", "R\x02"} {
		if err := st.Set([]byte(k), []byte("v"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Set([]byte("R\x02"), []byte("v"), nil); err != errUnsorted {
		t.Fatalf("a repeated streamed key: %v, want errUnsorted", err)
	}
	if err := st.Set([]byte("R\x00"), []byte("v"), nil); err != errUnsorted {
		t.Fatalf("a streamed key out of order: %v, want errUnsorted", err)
	}
	st.abandon()

	st = s.newSSTStager(2)
	for _, kv := range [][2]string{{"I\x09", "a"}, {"I\x03", "b"}, {"I\x09", "c"}, {"J\x01", "d"}, {"I\x01", "e"}} {
		if err := st.Set([]byte(kv[0]), []byte(kv[1]), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Delete([]byte("I\x05"), nil); err != nil {
		t.Fatal(err)
	}
	if err := st.finish(); err != nil {
		t.Fatal(err)
	}
	if err := s.ingestFiles(ctx, st.all); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, kv := range keyspace(t, s) {
		if kv[0][0] == pIndex || kv[0][0] == pIndexVer {
			got = append(got, fmt.Sprintf("%q=%s", kv[0], kv[1]))
		}
	}
	// I\x05 (written before) deleted by the ingested tombstone.
	want := []string{`"I\x01"=e`, `"I\x03"=b`, `"I\t"=c`, `"J\x01"=d`}
	if !slices.Equal(got, want) {
		t.Fatalf("after ingest: %v, want %v", got, want)
	}
}

// TestSSTCommitReadersSeeWholeCommits: readers scanning while commits go
// through sstables see, at the commit each scan reports, exactly the rows
// of the commits up to it, in the table and in its index: never part of
// an Ingest. Each commit adds 500 rows (accepted), rewrites the previous
// commit's to paid and the one before's to shipped, so exactly one
// commit's rows are paid at any commit after the first.
func TestSSTCommitReadersSeeWholeCommits(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{CommitSSTableBytes: 1, CheckpointFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	createOrders(t, s)
	base := s.Head().ID
	const per, commits = 500, 20
	stop := make(chan struct{})
	errc := make(chan error, 1)
	scans := 0
	go func() {
		defer close(errc)
		for ; ; scans++ {
			select {
			case <-stop:
				return
			default:
			}
			it, err := s.Scan(ctx, "orders", ScanOptions{})
			if err != nil {
				errc <- err
				return
			}
			asOf := it.AsOf()
			rows := rowsOrPanic(it, nil)
			ix, err := s.ScanIndex(ctx, "orders", "by_status", IndexScanOptions{AsOf: asOf})
			if err != nil {
				errc <- err
				return
			}
			irows := rowsOrPanic(ix, nil)
			want, wantPaid, paid := int(asOf-base)*per, 0, 0
			if asOf > base+1 {
				wantPaid = per
			}
			for _, r := range irows {
				if r[1] == "paid" {
					paid++
				}
			}
			if len(rows) != want || len(irows) != want || paid != wantPaid {
				errc <- fmt.Errorf("at commit %d: %d rows, %d index entries (%d paid), want %d (%d paid)", asOf, len(rows), len(irows), paid, want, wantPaid)
				return
			}
		}
	}()
	key := func(c, i int) string { return fmt.Sprintf("o%03d-%04d", c, i) }
	for c := 0; c < commits; c++ {
		var ch []Change
		for i := 0; i < per; i++ {
			ch = append(ch, Change{Table: "orders", Op: OpUpsert, Row: order(key(c, i), "accepted", "1")})
			if c > 0 {
				ch = append(ch, Change{Table: "orders", Op: OpUpsert, Row: order(key(c-1, i), "paid", "2")})
			}
			if c > 1 {
				ch = append(ch, Change{Table: "orders", Op: OpUpsert, Row: order(key(c-2, i), "shipped", "2")})
			}
		}
		mustCommit(t, s, CommitRequest{Changes: ch})
	}
	close(stop)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if scans == 0 {
		t.Fatal("no scan ran")
	}
	t.Logf("%d scans during %d commits", scans, commits)
}
