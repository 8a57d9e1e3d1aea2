package gateway

import (
	"reflect"
	"testing"
	"time"
)

// FuzzDecodeAuditBatch: a relay batch is outside input (any relay_audit
// caller's text). Decoding never panics, and what it accepts survives a
// round trip through EncodeAuditBatch unchanged.
func FuzzDecodeAuditBatch(f *testing.F) {
	good, err := EncodeAuditBatch([]AuditRecord{{At: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), User: "alice", Role: "analyst",
		Statement: "SELECT ?", Relations: []string{"serving.t"}, Authority: "derived", AsOf: 3, Rows: 1, Duration: time.Millisecond, SQLState: "00000"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(`[]`)
	f.Add(`[{"at":"2026-01-02T03:04:05Z","user":"u","stmt":"","state":"42501","us":-1}]`)
	f.Add(`[{"at":"2026-01-02T03:04:05Z","user":"u","stmt":"","state":"00000"}] []`)
	f.Add(`{"at":1}`)
	f.Fuzz(func(t *testing.T, batch string) {
		recs, err := DecodeAuditBatch(batch)
		if err != nil {
			return
		}
		again, err := EncodeAuditBatch(recs)
		if err != nil {
			t.Fatalf("accepted %q but cannot encode it: %v", batch, err)
		}
		back, err := DecodeAuditBatch(again)
		if err != nil || !reflect.DeepEqual(normalizeRecords(back), normalizeRecords(recs)) {
			t.Fatalf("round trip of %q: %v\n%+v\n%+v", batch, err, back, recs)
		}
	})
}

// normalizeRecords makes decoded records comparable: times by instant,
// empty and nil relation lists alike.
func normalizeRecords(recs []AuditRecord) []AuditRecord {
	out := make([]AuditRecord, len(recs))
	for i, r := range recs {
		r.At = r.At.UTC()
		if len(r.Relations) == 0 {
			r.Relations = nil
		}
		out[i] = r
	}
	return out
}
