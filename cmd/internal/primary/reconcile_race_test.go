//go:build race

package primary

// reconcileRace is true in -race builds: TestReconcileExternalBisection
// then reconciles 30k accounts instead of 100k (the left side's hashing
// runs several times slower under the race detector).
const reconcileRace = true
