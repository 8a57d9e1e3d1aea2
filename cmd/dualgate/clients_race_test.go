//go:build race

package main

// raceDetector is true in -race builds: TestClients skips there (every
// catalog query of the clients runs about ten times slower) and .ci/run
// runs it without -race.
const raceDetector = true
