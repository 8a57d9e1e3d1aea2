package projections_test

import (
	"testing"

	"github.com/dualgate/dualgate/projections"
)

// TestNotifyWakesOnlyForNewCommits: the commit hook calls Notify after
// every autocommit statement, reads included; only a Notify that finds a
// new canonical head wakes Follow (closes its signal), so point lookups do
// not keep the followers busy with store round trips.
func TestNotifyWakesOnlyForNewCommits(t *testing.T) {
	e := newEnv(t, projections.NewMemoryStore())
	m := e.materializer(nil, projections.Options{})
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	first := m.SignalForTest()
	m.Notify() // head 1 (the schema commit), never notified: wakes
	if !closed(first) {
		t.Fatal("the first Notify did not wake Follow")
	}
	sig := m.SignalForTest()
	for i := 0; i < 5; i++ {
		m.Notify() // no new commit: a read's commit hook
	}
	if closed(sig) || m.SignalForTest() != sig {
		t.Fatal("Notify without a new commit woke Follow")
	}
	e.commit(order("o1", "paid", 10, "EU", 0))
	m.Notify()
	if !closed(sig) {
		t.Fatal("Notify after a commit did not wake Follow")
	}
}
