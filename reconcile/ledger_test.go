package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestLedgerSurvivesReopen: exceptions, their history, runs and the
// differences held for their grace are all there after a reopen.
func TestLedgerSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := OpenLedger(ctx, dir, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	first := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	ex := Exception{Rule: "r", Kind: KindMissingRight, Key: `{"id": "a"}`, Status: StatusOpen, Fingerprint: "f1", FirstSeen: first}
	run := &Run{Rule: "r", Outcome: "divergent"}
	err = l.apply([]change{{exc: ex, hist: &StatusChange{At: first, To: StatusOpen, By: "reconcile"}}}, run,
		&pendingSet{rule: "r", first: map[string]time.Time{"f2": first, "f3": first.Add(time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	// A later settle replaces the rule's pending set.
	if err := l.apply(nil, nil, &pendingSet{rule: "r", first: map[string]time.Time{"f3": first.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = OpenLedger(ctx, dir, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got, ok := l.byFingerprint("f1"); !ok || got.ID != 1 || got.Status != StatusOpen {
		t.Errorf("exception after reopen: %+v %v", got, ok)
	}
	if h := l.History(); len(h) != 1 || h[0].Exception != 1 || h[0].To != StatusOpen {
		t.Errorf("history after reopen: %+v", h)
	}
	if r, ok := l.lastRun("r"); !ok || r.ID != 1 || r.Outcome != "divergent" {
		t.Errorf("run after reopen: %+v %v", r, ok)
	}
	p := l.Pending()["r"]
	if len(p) != 1 || !p["f3"].Equal(first.Add(time.Minute)) {
		t.Errorf("pending after reopen: %v", p)
	}
	// New ids continue after the stored ones.
	if err := l.apply([]change{{exc: Exception{Rule: "r", Fingerprint: "f9", Status: StatusOpen}}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.byFingerprint("f9"); got.ID != 2 {
		t.Errorf("next exception id %d, want 2", got.ID)
	}
}
