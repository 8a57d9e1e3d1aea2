//go:build cgo

package main

/*
#include <malloc.h>

// dg_cap_malloc_arenas limits glibc's malloc arenas to n (where the C
// library has that knob) and reports whether it did.
static int dg_cap_malloc_arenas(int n) {
#ifdef M_ARENA_MAX
	return mallopt(M_ARENA_MAX, n);
#else
	return 0;
#endif
}
*/
import "C"

// setMallocArenas applies C.mallopt(M_ARENA_MAX, n).
func setMallocArenas(n int) bool { return C.dg_cap_malloc_arenas(C.int(n)) == 1 }
