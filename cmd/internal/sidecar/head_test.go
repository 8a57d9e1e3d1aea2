package sidecar

import (
	"testing"
	"time"
)

// TestHeadTracker checks the lag arithmetic: commits there before the
// sidecar started count from its start, later ones from when they were
// first seen, and a head never goes back.
func TestHeadTracker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := headTracker{start: t0}
	h.observe(10, t0.Add(5*time.Second))
	if got := h.since(3); !got.Equal(t0) {
		t.Fatalf("since(3) = %v, want the start %v", got, t0)
	}
	h.observe(12, t0.Add(7*time.Second))
	h.observe(11, t0.Add(8*time.Second)) // older than the head: ignored
	if h.get() != 12 {
		t.Fatalf("head %d, want 12", h.get())
	}
	if got := h.since(10); !got.Equal(t0.Add(7 * time.Second)) {
		t.Fatalf("since(10) = %v, want when 12 was seen", got)
	}
	for i := uint64(13); i < 13+maxSightings+10; i++ {
		h.observe(i, t0.Add(time.Duration(i)*time.Second))
	}
	if len(h.seen) > maxSightings {
		t.Fatalf("%d sightings kept, bound %d", len(h.seen), maxSightings)
	}
	if got, want := h.since(h.get()-1), t0.Add(time.Duration(h.get())*time.Second); !got.Equal(want) {
		t.Fatalf("since(head-1) = %v, want %v", got, want)
	}
}
