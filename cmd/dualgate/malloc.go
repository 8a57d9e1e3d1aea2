package main

import "os"

// mallocArenas is how many malloc arenas the C heap may use.
//
// Pebble allocates its block cache and memtables with C malloc (cgo), and
// glibc gives threads that allocate at the same time arenas of their own,
// up to 8 per core, each keeping memory freed into it. A server running
// more Go processors than cores (gateway.MinProcessors) has more threads
// allocating, so more arenas and more RSS for the same caches: the memory
// bar (1M rows x 10 versions) peaked at 286–300 MiB in two of three runs
// without a cap, 227–247 MiB with two arenas (BENCHMARKS.md, eighth run).
const mallocArenas = 2

// capMallocArenas applies mallocArenas unless MALLOC_ARENA_MAX is set in
// the environment (glibc's own knob, which then wins). It reports whether
// the cap was applied.
func capMallocArenas() bool {
	if os.Getenv("MALLOC_ARENA_MAX") != "" {
		return false
	}
	return setMallocArenas(mallocArenas)
}
