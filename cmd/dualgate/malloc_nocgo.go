//go:build !cgo

package main

// setMallocArenas: without cgo there is no C heap to bound.
func setMallocArenas(int) bool { return false }
