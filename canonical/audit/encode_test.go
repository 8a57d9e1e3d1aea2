package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"
)

// randString mixes ASCII (HTML-sensitive and control characters
// included), multi-byte UTF-8, U+2028/U+2029 and invalid bytes.
func randString(rng *rand.Rand) string {
	pieces := []string{"a", "Z", " ", `"`, `\`, "<", ">", "&", "'", "\x00", "\x01", "\b", "\f", "\n", "\r", "\t", "\x1f", "\x7f",
		"é", "ß", "日本", "🙂", "\u2028", "\u2029", "\ufffd", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "?", "SELECT", "/"}
	n := rng.Intn(12)
	var b strings.Builder
	for i := 0; i < n; i++ {
		if rng.Intn(4) == 0 {
			b.WriteByte(byte(rng.Intn(256)))
			continue
		}
		b.WriteString(pieces[rng.Intn(len(pieces))])
	}
	return b.String()
}

func randRecord(rng *rand.Rand) Record {
	r := Record{
		Seq:         rng.Uint64() >> uint(rng.Intn(64)),
		At:          time.Unix(rng.Int63n(1<<35)-1<<33, rng.Int63n(1e9)).UTC(),
		User:        randString(rng),
		Role:        randString(rng),
		Application: randString(rng),
		ClientAddr:  randString(rng),
		Fingerprint: randString(rng),
		Statement:   randString(rng),
		Authority:   randString(rng),
		AsOf:        rng.Uint64() >> uint(rng.Intn(64)),
		Rows:        rng.Int63() - 1<<62,
		SQLState:    randString(rng),
		PrevHash:    randString(rng),
		Hash:        randString(rng),
	}
	if rng.Intn(3) > 0 {
		r.Via = randString(rng)
	}
	switch rng.Intn(3) {
	case 0: // nil: null
	case 1:
		r.Relations = []string{}
	default:
		for i := rng.Intn(4); i >= 0; i-- {
			r.Relations = append(r.Relations, randString(rng))
		}
	}
	switch rng.Intn(6) {
	case 0:
		r.DurationMS = 0
	case 1:
		r.DurationMS = rng.Float64() * 1e-7
	case 2:
		r.DurationMS = rng.Float64() * 1e25
	case 3:
		r.DurationMS = math.Float64frombits(rng.Uint64())
	case 4:
		r.DurationMS = -rng.Float64() * 1000
	default:
		r.DurationMS = float64(rng.Int63n(1e9)) / 1e6
	}
	switch rng.Intn(8) {
	case 0:
		r.At = time.Time{}
	case 1:
		r.At = r.At.In(time.FixedZone("x", 3600)) // json.Marshal keeps the offset: the fallback
	case 2:
		r.At = time.Date(10000+rng.Intn(5), 1, 1, 0, 0, 0, 0, time.UTC) // json.Marshal refuses it
	case 3:
		r.At = r.At.Truncate(time.Second)
	}
	return r
}

// TestAppendRecordIsMarshal: the hand encoder produces json.Marshal's
// bytes (and its errors) for random records, so trails written before it
// verify after it and vice versa.
func TestAppendRecordIsMarshal(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 50000; i++ {
		r := randRecord(rng)
		want, werr := json.Marshal(&r)
		got, gerr := appendRecord([]byte("prefix"), &r)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("record %d: json.Marshal error %v, appendRecord error %v", i, werr, gerr)
		}
		if werr != nil {
			continue
		}
		if string(got[:6]) != "prefix" || string(got[6:]) != string(want) {
			t.Fatalf("record %d differs:\ngot  %q\nwant %q", i, got[6:], want)
		}
	}
}

// TestVerifyAcrossEncoders: a trail whose older records were stored by
// json.Marshal (before the hand encoder) and newer ones by the writer
// verifies, and tampering with an old record is still caught. Strings are
// valid UTF-8 here: invalid bytes are stored as U+FFFD, so such a record
// never re-encodes to what was hashed, with either encoder.
func TestVerifyAcrossEncoders(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(2))
	// Old records: chained and stored exactly as the json.Marshal-based
	// writer did.
	var prev [32]byte
	b := l.DB().NewBatch()
	for seq := uint64(1); seq <= 50; seq++ {
		r := randRecord(rng)
		r.At, r.DurationMS, r.Via = time.Date(2026, 1, 1, 0, 0, int(seq), 0, time.UTC), float64(seq)/7, ""
		r.Seq = seq
		validUTF8(&r)
		h, err := chainMarshal(prev, &r)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := json.Marshal(&r)
		if err := b.Set(recordKey(seq), v, nil); err != nil {
			t.Fatal(err)
		}
		prev = h
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 50; i++ {
		r := randRecord(rng)
		r.At = time.Now()
		r.DurationMS = rng.Float64()
		validUTF8(&r)
		l.Append(r)
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := l.Verify(context.Background())
	if err != nil || !res.OK || res.Records != 100 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	var r Record
	v, closer, err := l.DB().Get(recordKey(7))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(v, &r); err != nil {
		t.Fatal(err)
	}
	closer.Close()
	r.Statement += "x"
	v, _ = json.Marshal(&r)
	if err := l.DB().Set(recordKey(7), v, nil); err != nil {
		t.Fatal(err)
	}
	if res, err := l.Verify(context.Background()); err != nil || res.OK || res.BrokenAt != 7 {
		t.Fatalf("tampered record 7 not caught: %+v %v", res, err)
	}
}

// chainMarshal is the json.Marshal-based chain the trail used before the
// hand encoder.
func chainMarshal(prev [32]byte, r *Record) ([32]byte, error) {
	var p Record = *r
	p.PrevHash, p.Hash = hexString(prev[:]), ""
	body, err := json.Marshal(&p)
	if err != nil {
		return [32]byte{}, err
	}
	h := sha256Sum(append(append([]byte(nil), prev[:]...), body...))
	r.PrevHash, r.Hash = p.PrevHash, hexString(h[:])
	return h, nil
}

func hexString(b []byte) string { return hex.EncodeToString(b) }

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

func validUTF8(r *Record) {
	for _, p := range []*string{&r.User, &r.Role, &r.Application, &r.ClientAddr, &r.Fingerprint, &r.Statement, &r.Authority, &r.SQLState, &r.Via} {
		*p = strings.ToValidUTF8(*p, "\uFFFD")
	}
	for i := range r.Relations {
		r.Relations[i] = strings.ToValidUTF8(r.Relations[i], "\uFFFD")
	}
}
