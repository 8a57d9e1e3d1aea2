package ingest

// SetCompiled turns the evaluation of projection mappings without the
// engine on (the default) or off, so tests can compare both paths. Call it
// before the pipeline's first Ingest or Replay.
func SetCompiled(p *Pipeline, on bool) { p.noCompile = !on }

// Compiled reports whether a mapping SELECT over the named batch columns
// is evaluated without the engine.
func Compiled(sel string, cols []string) bool { return compileProjection(sel, cols) != nil }

// SetDedupeHash replaces the hash of the dedupe indexes the pipeline
// builds from now on (tests force collisions with a constant).
func SetDedupeHash(p *Pipeline, fn func([]byte) uint64) { p.dedupeHash = fn }

// SetFused turns the fused path (fused.go) on (the default) or off, so
// tests can compare it with the general path.
func SetFused(p *Pipeline, on bool) { p.noFuse = !on }

// FusedBatches is the number of batches the fused path committed.
func FusedBatches(p *Pipeline) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fusedRuns
}

// SetBatchIDs replaces the pipeline's batch ids (which name the time and
// a process-wide counter) with fn's.
func SetBatchIDs(p *Pipeline, fn func() string) { p.batchIDs = fn }
