package gateway

import (
	"os"
	"runtime"
)

// MinProcessors is the fewest Go processors (GOMAXPROCS) a server runs
// with unless told otherwise.
//
// Go runs at most GOMAXPROCS goroutines at once and lets a CPU-bound one
// (a Pebble flush or compaction, the audit writer, a GC worker) keep its
// processor for up to 10 ms before preempting it. On a 2-core machine
// that leaves the client connections one processor for those
// milliseconds, and their latency tail is made of such stretches. With
// more processors than cores, the threads are time-sliced by the OS
// scheduler instead, at a finer grain, and a connection's thread that
// wakes with a request runs promptly. It is not free: more threads wake
// and switch, so each statement costs more CPU. Measured on 2 cores
// (BENCHMARKS.md, eighth run), serving lookups: 2 processors p99 1.8–2.4
// ms, 32.8 µs of server CPU per lookup; 4: p99 1.4 ms, 36.6 µs; 8: p99
// 1.25 ms, 38.5 µs (and about 5% fewer lookups per second than with 2).
// Four is where the p99 bar (2 ms) is met with a margin at the least CPU.
// Machines with 4 or more CPUs are unaffected.
const MinProcessors = 4

// Processors is the GOMAXPROCS a server runs with: n when n > 0;
// otherwise the runtime's own choice when the GOMAXPROCS environment
// variable sets it, else that choice raised to MinProcessors.
func Processors(n int) int {
	if n > 0 {
		return n
	}
	cur := runtime.GOMAXPROCS(0)
	if os.Getenv("GOMAXPROCS") != "" {
		return cur
	}
	return max(cur, MinProcessors)
}

// SetProcessors sets GOMAXPROCS to Processors(n) and returns it.
func SetProcessors(n int) int {
	p := Processors(n)
	if p != runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(p)
	}
	return p
}
