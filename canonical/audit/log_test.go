package audit

import (
	"context"
	"encoding/hex"
	"encoding/json"
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
// more, verifies, then changes, removes and re-chains records behind the
// log's back: Verify names the first bad record every time.
func TestChainSurvivesRestartAndCatchesTampering(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		l.Append(Record{At: time.Now(), User: "alice", Statement: "SELECT $1", Rows: int64(i), SQLState: "00000"})
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = Open(dir, Options{Logger: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Append(Record{At: time.Now(), User: "bob", Statement: "SELECT 1"})
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rs := records(t, l)
	if len(rs) != 6 || rs[5].Seq != 6 || rs[5].PrevHash != rs[4].Hash {
		t.Fatalf("chain across restart: %+v", rs)
	}
	if res, err := l.Verify(ctx); err != nil || !res.OK || res.Records != 6 {
		t.Fatalf("verify: %+v %v", res, err)
	}

	// Change a field of record 3.
	r := rs[2]
	r.User = "mallory"
	v, _ := json.Marshal(r)
	if err := l.DB().Set(recordKey(3), v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if res, _ := l.Verify(ctx); res.OK || res.BrokenAt != 3 {
		t.Fatalf("changed record not caught: %+v", res)
	}
	// Re-hash it consistently: the next record no longer follows it.
	prev := [32]byte{}
	copy(prev[:], mustHex(t, rs[1].Hash))
	if _, err := chain(prev, &r); err != nil {
		t.Fatal(err)
	}
	v, _ = json.Marshal(r)
	_ = l.DB().Set(recordKey(3), v, pebble.Sync)
	if res, _ := l.Verify(ctx); res.OK || res.BrokenAt != 4 {
		t.Fatalf("re-chained record not caught: %+v", res)
	}
	// Remove a record.
	v, _ = json.Marshal(rs[2])
	_ = l.DB().Set(recordKey(3), v, pebble.Sync)
	_ = l.DB().Delete(recordKey(4), pebble.Sync)
	if res, _ := l.Verify(ctx); res.OK || res.BrokenAt != 4 {
		t.Fatalf("removed record not caught: %+v", res)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRetentionAndLegalHold purges old records (the chain still verifies
// from the anchor) unless a legal hold is on.
func TestRetentionAndLegalHold(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	l, err := Open(dir, Options{Logger: zerolog.Nop(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for d := 1; d <= 9; d++ {
		l.Append(Record{At: time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC), User: "u"})
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	l.Close()
	held, err := Open(dir, Options{Logger: zerolog.Nop(), Now: func() time.Time { return now }, Retention: 72 * time.Hour, LegalHold: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(records(t, held)); n != 9 {
		t.Fatalf("legal hold: %d records left, want 9", n)
	}
	held.Close()
	l, err = Open(dir, Options{Logger: zerolog.Nop(), Now: func() time.Time { return now }, Retention: 72 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rs := records(t, l)
	if len(rs) != 3 || rs[0].Seq != 7 {
		t.Fatalf("retention kept %d records from %d, want 3 from 7", len(rs), rs[0].Seq)
	}
	l.Append(Record{At: now, User: "v"})
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := l.Verify(ctx); err != nil || !res.OK || res.Records != 4 {
		t.Fatalf("verify after purge: %+v %v", res, err)
	}
}

// TestStoredFormIsMarshal: the record as stored is exactly json.Marshal of
// the chained record (what Verify recomputes from).
func TestStoredFormIsMarshal(t *testing.T) {
	r := Record{At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), User: `a"b`, Statement: "SELECT ?", Relations: []string{"x.y"}, DurationMS: 0.125}
	_, stored, err := chainBody([32]byte{1}, "", &r, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(r)
	if string(stored) != string(want) {
		t.Fatalf("stored %s\nwant   %s", stored, want)
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
