package gateway

import (
	"runtime"
	"testing"
)

func TestProcessors(t *testing.T) {
	cur := runtime.GOMAXPROCS(0)
	if got := Processors(3); got != 3 {
		t.Errorf("Processors(3) = %d, want 3 (an explicit count wins)", got)
	}
	t.Setenv("GOMAXPROCS", "")
	if got, want := Processors(0), max(cur, MinProcessors); got != want {
		t.Errorf("Processors(0) = %d, want %d (the runtime's %d raised to at least %d)", got, want, cur, MinProcessors)
	}
	t.Setenv("GOMAXPROCS", "1")
	if got := Processors(0); got != cur {
		t.Errorf("Processors(0) with GOMAXPROCS set = %d, want the runtime's %d", got, cur)
	}
	if got := Processors(5); got != 5 {
		t.Errorf("Processors(5) with GOMAXPROCS set = %d, want 5", got)
	}
}
