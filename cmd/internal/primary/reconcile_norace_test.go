//go:build !race

package primary

// reconcileRace is true in -race builds (see reconcile_race_test.go).
const reconcileRace = false
