//go:build !race

package main

// raceDetector is true in -race builds (see clients_race_test.go).
const raceDetector = false
