package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/rs/zerolog"
)

// sameRecord: every field identical, Relations nil or empty as given, At
// down to its representation (location included), DurationMS to the bit.
func sameRecord(a, b Record) bool {
	if math.Float64bits(a.DurationMS) != math.Float64bits(b.DurationMS) {
		return false
	}
	a.DurationMS, b.DurationMS = 0, 0
	return reflect.DeepEqual(a, b)
}

// storable makes a random record what the writer would store: valid
// UTF-8, at in UTC, chained from prev.
func storable(t testing.TB, r Record, seq uint64, prev [32]byte) (Record, [32]byte) {
	validUTF8(&r)
	r.Seq, r.At = seq, r.At.UTC()
	h, err := chain(prev, &r)
	if err != nil {
		t.Fatal(err)
	}
	return r, h
}

// randBatch is n random storable records from seq, chained from a random
// prev_hash; records that JSON cannot hold (time past year 9999, NaN)
// never reach a batch: the writer refuses them while hashing.
func randBatch(t testing.TB, rng *rand.Rand, seq uint64, n int) []Record {
	var prev [32]byte
	rng.Read(prev[:])
	var recs []Record
	for len(recs) < n {
		r := randRecord(rng)
		if rng.Intn(2) == 0 && len(recs) > 0 { // repeated fields, as in real batches
			p := recs[len(recs)-1]
			r.User, r.Statement, r.Relations, r.AsOf = p.User, p.Statement, p.Relations, p.AsOf+uint64(rng.Intn(3))
		}
		if math.IsNaN(r.DurationMS) || math.IsInf(r.DurationMS, 0) || r.At.Year() > 9999 {
			continue
		}
		r, prev = storable(t, r, seq+uint64(len(recs)), prev)
		recs = append(recs, r)
	}
	return recs
}

// TestBatchRoundTrip: random batches (every text escape, nil and empty
// relations, via set or not, any at from year 1 on, durations of every
// kind) decode to exactly the records encoded, and every record's hash
// recomputed from the decoded form is the one stored.
func TestBatchRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	var enc batchEncoder
	var buf []Record
	for i := 0; i < 2000; i++ {
		recs := randBatch(t, rng, rng.Uint64()>>1, 1+rng.Intn(20))
		v, err := enc.appendBatch([]byte("x"), recPointers(recs))
		if err != nil {
			t.Fatal(err)
		}
		if buf, err = decodeBatch(buf, v[1:]); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if len(buf) != len(recs) {
			t.Fatalf("batch %d: %d records back, want %d", i, len(buf), len(recs))
		}
		for j := range recs {
			if !sameRecord(buf[j], recs[j]) {
				t.Fatalf("batch %d record %d:\ngot  %#v\nwant %#v", i, j, buf[j], recs[j])
			}
			r := buf[j]
			if _, err := chain(mustHash(t, r.PrevHash), &r); err != nil || r.Hash != recs[j].Hash {
				t.Fatalf("batch %d record %d re-hashes to %s (%v), stored %s", i, j, r.Hash, err, recs[j].Hash)
			}
		}
	}
}

// TestBatchIsCompact: a batch of a pgbench-like session's records takes
// far less than their JSON (the point of the format).
func TestBatchIsCompact(t *testing.T) {
	var recs []Record
	var prev [32]byte
	for i := 0; i < 300; i++ {
		r := Record{At: time.Date(2026, 3, 1, 12, 0, 0, 33000*i, time.UTC), User: "bench", Role: "analyst",
			Application: "pgbench", ClientAddr: "127.0.0.1", Fingerprint: "9f2c41d07be35a18",
			Statement: "SELECT abalance FROM serving.pgbench_accounts WHERE aid = $1", Relations: []string{"serving.pgbench_accounts"},
			Authority: "derived", AsOf: 1042, Rows: 1, DurationMS: float64(40+i%90) / 1000, SQLState: "00000"}
		r, prev = storable(t, r, uint64(i+1), prev)
		recs = append(recs, r)
	}
	var enc batchEncoder
	v, err := enc.appendBatch(nil, recPointers(recs))
	if err != nil {
		t.Fatal(err)
	}
	var js int
	for i := range recs {
		b, _ := appendRecord(nil, &recs[i])
		js += len(b)
	}
	// Per record: 9 string indexes and a relation (11 bytes), at (4),
	// as_of and rows (2), duration (2), the hash (32).
	if per := len(v) / len(recs); per > 51 || js/len(recs) < 500 {
		t.Fatalf("%d bytes a record (JSON: %d)", per, js/len(recs))
	}
}

// TestWriterStoresRecordsExactly: what the writer chains comes back from
// Scan identical (at in UTC to the nanosecond from any zone, relations
// nil or empty, via set or not, -0 and tiny durations), before and after
// a reopen.
func TestWriterStoresRecordsExactly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(4))
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("x", -5*3600-1800)}
	var want []Record
	var prev [32]byte
	for i := 0; i < 300; i++ {
		r := randRecord(rng)
		r.At = time.Now().In(zones[i%3]).Add(time.Duration(rng.Int63n(1e12)))
		if i%50 == 0 {
			r.At = time.Time{}
		}
		if math.IsNaN(r.DurationMS) || math.IsInf(r.DurationMS, 0) {
			r.DurationMS = math.Copysign(0, -1)
		}
		validUTF8(&r)
		l.Append(r)
		var w Record
		w, prev = storable(t, r, uint64(i+1), prev)
		want = append(want, w)
		if i%100 == 99 {
			if err := l.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(when string) {
		t.Helper()
		got := records(t, l)
		if len(got) != len(want) {
			t.Fatalf("%s: %d records, want %d", when, len(got), len(want))
		}
		for i := range want {
			if !sameRecord(got[i], want[i]) {
				t.Fatalf("%s: record %d:\ngot  %#v\nwant %#v", when, i+1, got[i], want[i])
			}
		}
		if res, err := l.Verify(ctx); err != nil || !res.OK || res.Records != uint64(len(want)) {
			t.Fatalf("%s: verify %+v %v", when, res, err)
		}
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("written")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = Open(dir, Options{Logger: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	check("reopened")
}

// TestOldRecordsThenBatches: a trail of JSON records written by an earlier
// build, opened by this one, gets batches that continue its chain; Scan
// reads both in seq order, Verify checks across the boundary, and so
// after a reopen; a record changed on either side is caught.
func TestOldRecordsThenBatches(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	writeJSON(t, l.DB(), [32]byte{}, 1, testRecords(20, "olga"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ { // the second reopens a trail that already holds batches
		if l, err = Open(dir, Options{Logger: zerolog.Nop()}); err != nil {
			t.Fatal(err)
		}
		for _, r := range testRecords(10, "nina") {
			r.At = time.Now()
			l.Append(r)
		}
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if l, err = Open(dir, Options{Logger: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rs := records(t, l)
	if len(rs) != 40 {
		t.Fatalf("%d records, want 40", len(rs))
	}
	for i, r := range rs {
		if r.Seq != uint64(i+1) || i > 0 && r.PrevHash != rs[i-1].Hash || (r.User == "olga") != (i < 20) {
			t.Fatalf("record %d of %d: %+v (previous hash %s)", i+1, len(rs), r, rs[max(i-1, 0)].Hash)
		}
	}
	if res, err := l.Verify(ctx); err != nil || !res.OK || res.Records != 40 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	// Changing the last JSON record breaks the chain there; the first
	// batch's prev_hash still names the original.
	old := getValue(t, l.DB(), recordKey(20))
	r := rs[19]
	r.Rows = 99
	writeJSON(t, l.DB(), mustHash(t, rs[18].Hash), 20, []Record{r})
	if res, _ := l.Verify(ctx); res.OK || res.BrokenAt != 21 {
		t.Fatalf("re-chained JSON record 20 not caught at 21: %+v", res)
	}
	if err := l.DB().Set(recordKey(20), old, nil); err != nil {
		t.Fatal(err)
	}
	if res, err := l.Verify(ctx); err != nil || !res.OK {
		t.Fatalf("restored: %+v %v", res, err)
	}
}

// FuzzDecodeBatch: any value decodes or fails without panicking, and what
// decodes encodes again to the same records.
func FuzzDecodeBatch(f *testing.F) {
	rng := rand.New(rand.NewSource(5))
	var enc batchEncoder
	for i := 0; i < 8; i++ {
		v, err := enc.appendBatch(nil, recPointers(randBatch(f, rng, uint64(i*100), 1+i)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(v)
		f.Add(v[:len(v)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{batchVersion, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, v []byte) {
		recs, err := decodeBatch(nil, v)
		if err != nil {
			return
		}
		var enc batchEncoder
		again, err := enc.appendBatch(nil, recPointers(recs))
		if err != nil {
			t.Fatalf("decoded records do not encode: %v", err)
		}
		back, err := decodeBatch(nil, again)
		if err != nil || len(back) != len(recs) {
			t.Fatalf("re-encoded batch: %d records, %v", len(back), err)
		}
		for i := range recs {
			if !sameRecord(back[i], recs[i]) {
				t.Fatalf("record %d:\ngot  %#v\nwant %#v", i, back[i], recs[i])
			}
		}
	})
}

// formatOneLoadHead is how builds before batches started a trail: the
// anchor's hash as hex, then the newest JSON record. It returns their
// error, or the seq they would continue from.
func formatOneLoadHead(t *testing.T, db *pebble.DB) (uint64, error) {
	t.Helper()
	var a struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(getValue(t, db, anchorKey), &a); err != nil {
		return 0, err
	}
	if h, err := hex.DecodeString(a.Hash); a.Hash != "" && (err != nil || len(h) != 32) {
		return 0, fmt.Errorf("audit trail anchor: bad hash %q", a.Hash)
	}
	return a.Seq, nil
}

// TestOlderBuildsRefuseTrail: a format-1 trail with an anchor (an old
// build purged it) opens, verifies from that anchor and keeps its chain;
// once opened, a format-1 build refuses it with a message saying why,
// rather than continuing from seq 1 over batches it cannot see.
func TestOlderBuildsRefuseTrail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	anchorHash := sha256.Sum256([]byte("purged record 5"))
	v, _ := json.Marshal(map[string]any{"seq": 5, "hash": hex.EncodeToString(anchorHash[:])})
	if err := db.Set(anchorKey, v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, db, anchorHash, 6, testRecords(3, "olga"))
	if seq, err := formatOneLoadHead(t, db); err != nil || seq != 5 {
		t.Fatalf("format-1 trail as a format-1 build reads it: seq %d, %v", seq, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	l, err := Open(dir, Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	l.Append(testRecords(1, "nina")[0])
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := l.Verify(ctx); err != nil || !res.OK || res.Records != 4 {
		t.Fatalf("verify from the format-1 anchor: %+v %v", res, err)
	}
	if rs := records(t, l); len(rs) != 4 || rs[3].Seq != 9 || rs[3].PrevHash != rs[2].Hash {
		t.Fatalf("records after the format-1 ones: %+v", rs)
	}
	_, err = formatOneLoadHead(t, l.DB())
	if err == nil || !strings.Contains(err.Error(), "written by a newer dualgate") {
		t.Fatalf("a format-1 build opening the trail: %v, want a refusal naming the newer format", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// A new, empty trail is marked too, and reopening keeps its chain.
	empty := t.TempDir()
	l, err = Open(empty, Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := formatOneLoadHead(t, l.DB()); err == nil {
		t.Fatal("a format-1 build would accept a new trail")
	}
	_ = l.Close()
	if l, err = Open(dir, Options{Logger: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if res, err := l.Verify(ctx); err != nil || !res.OK || res.Records != 4 {
		t.Fatalf("verify after reopening: %+v %v", res, err)
	}
}
