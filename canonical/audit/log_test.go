package audit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/rs/zerolog"
)

func records(t *testing.T, l *Log) []Record {
	t.Helper()
	var out []Record
	if err := l.Scan(context.Background(), func(r Record) bool { out = append(out, r); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestChainSurvivesRestartAndCatchesTampering appends, reopens, appends
// more and verifies; then changes, re-chains, removes, moves, truncates
// and garbles batches behind the log's back: Verify names the first bad
// record every time, and the trail verifies again once the batch is put
// back.
func TestChainSurvivesRestartAndCatchesTampering(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	// Batches of known shape (the writer's depend on timing): 1-3, 4-7,
	// 8-9, chained as the writer chains them.
	prev := writeBatch(t, l.DB(), [32]byte{}, 1, testRecords(3, "alice"))
	prev = writeBatch(t, l.DB(), prev, 4, testRecords(4, "alice"))
	writeBatch(t, l.DB(), prev, 8, testRecords(2, "bob"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = Open(dir, Options{Logger: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Append(Record{At: time.Now(), User: "carol", Statement: "SELECT 1"})
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rs := records(t, l)
	if len(rs) != 10 || rs[9].Seq != 10 || rs[9].PrevHash != rs[8].Hash || rs[9].User != "carol" {
		t.Fatalf("chain across restart: %+v", rs)
	}
	if res, err := l.Verify(ctx); err != nil || !res.OK || res.Records != 10 {
		t.Fatalf("verify: %+v %v", res, err)
	}

	db := l.DB()
	orig := getValue(t, db, batchKey(4))
	broken := func(what string, want uint64) {
		t.Helper()
		res, err := l.Verify(ctx)
		if err != nil || res.OK || res.BrokenAt != want {
			t.Fatalf("%s: got %+v %v, want broken at %d", what, res, err, want)
		}
		// Put batch 4-7 back where it was: the trail verifies again.
		if err := db.Set(batchKey(4), orig, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		for _, k := range [][]byte{batchKey(5), batchKey(20)} {
			if err := db.Delete(k, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}
		if res, err := l.Verify(ctx); err != nil || !res.OK || res.Records != 10 {
			t.Fatalf("%s, restored: %+v %v", what, res, err)
		}
	}
	rewrite := func(key []byte, edit func([]Record) []Record) {
		t.Helper()
		recs, err := decodeBatch(nil, orig)
		if err != nil {
			t.Fatal(err)
		}
		recs = edit(recs)
		var enc batchEncoder
		v, err := enc.appendBatch(nil, recPointers(recs))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Set(key, v, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}

	rewrite(batchKey(4), func(rs []Record) []Record { rs[1].User = "mallory"; return rs })
	broken("a field of record 5 changed", 5)
	// Re-hash record 5 consistently: record 6 no longer follows it.
	rewrite(batchKey(4), func(rs []Record) []Record {
		rs[1].User = "mallory"
		if _, err := chain(mustHash(t, rs[0].Hash), &rs[1]); err != nil {
			t.Fatal(err)
		}
		return rs
	})
	broken("record 5 re-chained", 6)
	rewrite(batchKey(4), func(rs []Record) []Record { return rs[:3] })
	broken("record 7 cut from its batch", 7)
	rewrite(batchKey(4), func(rs []Record) []Record {
		for i := range rs {
			rs[i].Seq++
		}
		return rs
	})
	broken("batch renumbered in place", 4)
	if err := db.Delete(batchKey(4), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	broken("batch removed", 4)
	for _, to := range []uint64{5, 20} {
		if err := db.Delete(batchKey(4), pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if err := db.Set(batchKey(to), orig, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		broken(fmt.Sprintf("batch moved to key %d", to), 4)
	}
	for _, n := range []int{0, 1, len(orig) / 2, len(orig) - 1} {
		if err := db.Set(batchKey(4), orig[:n], pebble.Sync); err != nil {
			t.Fatal(err)
		}
		broken(fmt.Sprintf("batch truncated to %d bytes", n), 4)
	}
	// Every single garbled byte is caught within the batch, never a
	// panic; the last one is record 7's hash.
	for i := range orig {
		v := slices.Clone(orig)
		v[i] ^= 0x55
		if err := db.Set(batchKey(4), v, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		res, err := l.Verify(ctx)
		if err != nil || res.OK || res.BrokenAt < 4 || res.BrokenAt > 7 || i == len(orig)-1 && res.BrokenAt != 7 {
			t.Fatalf("byte %d of %d garbled: %+v %v", i, len(orig), res, err)
		}
	}
	broken("garbled", 7)
}

// testRecords are n records of user, a second apart, with the fields a
// statement fills in.
func testRecords(n int, user string) []Record {
	var rs []Record
	for i := 0; i < n; i++ {
		rs = append(rs, Record{At: time.Date(2026, 3, 1, 12, 0, i, 1000*i, time.UTC), User: user, Role: "analyst",
			Application: "psql", ClientAddr: "127.0.0.1", Fingerprint: "f00d", Statement: "SELECT $1",
			Relations: []string{"canonical.orders"}, Authority: "authoritative", AsOf: uint64(7 + i), Rows: int64(i),
			DurationMS: 0.25, SQLState: "00000"})
	}
	return rs
}

// writeBatch stores recs as one batch starting at seq, chained from prev
// as the writer chains, and returns the last record's hash.
func writeBatch(t *testing.T, db *pebble.DB, prev [32]byte, seq uint64, recs []Record) [32]byte {
	t.Helper()
	for i := range recs {
		recs[i].Seq = seq + uint64(i)
		recs[i].At = recs[i].At.UTC()
		var err error
		if prev, err = chain(prev, &recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	var enc batchEncoder
	v, err := enc.appendBatch(nil, recPointers(recs))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(batchKey(seq), v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	return prev
}

// writeJSON stores recs one JSON value each from seq, chained from prev,
// as builds before batches did, and returns the last record's hash.
func writeJSON(t *testing.T, db *pebble.DB, prev [32]byte, seq uint64, recs []Record) [32]byte {
	t.Helper()
	for i := range recs {
		recs[i].Seq = seq + uint64(i)
		var err error
		if prev, err = chainMarshal(prev, &recs[i]); err != nil {
			t.Fatal(err)
		}
		v, err := json.Marshal(&recs[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Set(recordKey(recs[i].Seq), v, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	return prev
}

func recPointers(recs []Record) []*Record {
	ps := make([]*Record, len(recs))
	for i := range recs {
		ps[i] = &recs[i]
	}
	return ps
}

func getValue(t *testing.T, db *pebble.DB, key []byte) []byte {
	t.Helper()
	v, closer, err := db.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	return slices.Clone(v)
}

func mustHash(t *testing.T, s string) [32]byte {
	t.Helper()
	var h [32]byte
	copy(h[:], mustHex(t, s))
	return h
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRetentionAndLegalHold purges old records, JSON ones of earlier
// builds and whole batches, none while one of a batch's records is
// younger than the retention (the chain still verifies from the anchor),
// and nothing under a legal hold.
func TestRetentionAndLegalHold(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	day := func(d int) Record { return Record{At: time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC), User: "u"} }
	dir := t.TempDir()
	l, err := Open(dir, Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	// JSON records 1-3 (days 1-3), batches 4-5 (days 4, 5), 6-7 (days 6,
	// 8) and 8 (day 9).
	prev := writeJSON(t, l.DB(), [32]byte{}, 1, []Record{day(1), day(2), day(3)})
	prev = writeBatch(t, l.DB(), prev, 4, []Record{day(4), day(5)})
	prev = writeBatch(t, l.DB(), prev, 6, []Record{day(6), day(8)})
	writeBatch(t, l.DB(), prev, 8, []Record{day(9)})
	l.Close()
	open := func(retention time.Duration, hold bool) *Log {
		t.Helper()
		l, err := Open(dir, Options{Logger: zerolog.Nop(), Now: func() time.Time { return now }, Retention: retention, LegalHold: hold})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	seqs := func(l *Log) (out []uint64) {
		for _, r := range records(t, l) {
			out = append(out, r.Seq)
		}
		return out
	}
	held := open(72*time.Hour, true)
	if got := seqs(held); len(got) != 8 {
		t.Fatalf("legal hold: records %v left, want 8", got)
	}
	held.Close()
	// Cutoff day 2 12:00: JSON records 1 and 2 go.
	l = open(7*24*time.Hour+12*time.Hour, false)
	if got := seqs(l); !slices.Equal(got, []uint64{3, 4, 5, 6, 7, 8}) {
		t.Fatalf("retention to day 2.5 kept %v", got)
	}
	if res, err := l.Verify(ctx); err != nil || !res.OK || res.Records != 6 {
		t.Fatalf("verify after purge: %+v %v", res, err)
	}
	l.Close()
	// Cutoff day 7: record 3 and batch 4-5 go; batch 6-7 stays whole
	// (record 7 is of day 8).
	l = open(72*time.Hour, false)
	defer l.Close()
	if got := seqs(l); !slices.Equal(got, []uint64{6, 7, 8}) {
		t.Fatalf("retention to day 7 kept %v, want 6-8", got)
	}
	l.Append(Record{At: now, User: "v"})
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := l.Verify(ctx); err != nil || !res.OK || res.Records != 4 {
		t.Fatalf("verify after purge: %+v %v", res, err)
	}
}

// TestInvalidUTF8Verifies appends records whose text is not valid UTF-8
// (as a client can send): they are stored with U+FFFD in place of the bad
// bytes and the chain verifies, before and after a restart.
func TestInvalidUTF8Verifies(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	rels := []string{"canonical.a\xffb"}
	l.Append(Record{At: time.Now(), User: "al\xc3", Statement: "SELECT '\xff\xfe'", Relations: rels, SQLState: "00000"})
	l.Append(Record{At: time.Now(), User: "bob", Statement: "SELECT 1"})
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rels[0] != "canonical.a\xffb" {
		t.Fatalf("the caller's relations were changed: %q", rels)
	}
	rs := records(t, l)
	if len(rs) != 2 || rs[0].Statement != "SELECT '\uFFFD'" || rs[0].User != "al\uFFFD" || rs[0].Relations[0] != "canonical.a\uFFFDb" {
		t.Fatalf("stored records: %+v", rs)
	}
	if res, err := l.Verify(ctx); err != nil || !res.OK || res.Records != 2 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = Open(dir, Options{Logger: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if res, err := l.Verify(ctx); err != nil || !res.OK {
		t.Fatalf("verify after restart: %+v %v", res, err)
	}
}
