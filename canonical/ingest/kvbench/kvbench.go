// Package kvbench holds the catalog of the ingest bar: one raw source
// mapped 1:1 onto one entity (the shape DESIGN.md's ingest bar names). The
// ingest benchmarks of canonical/ingest and cmd/internal/primary and the
// dgbench harness load this one text, so they measure the same pipeline.
package kvbench

// Catalog is the bench context: raw.kv_src (id, val, n) deduplicated on
// (id, n), mapped column for column onto canonical.kv keyed by id. It has
// no rules, transitions or indexes, so a key-ordered load takes the fused
// ingest path.
const Catalog = `context: bench
owner: bench
sources:
  kv_src:
    columns: {id: bigint, val: text, n: bigint}
    dedupe_key: [id, n]
entities:
  kv:
    key: [id]
    columns: {id: bigint, val: text, n: bigint}
    mappings:
      - source: kv_src
        version: 1
        select: SELECT id, val, n FROM batch
`

// ServingProjection is a projections: section to append to Catalog: a
// plain copy of canonical.kv keyed by id (dgbench's serving bars).
const ServingProjection = `projections:
  kv_view:
    key: [id]
    freshness_sla: 1s
    select: SELECT id, val, n FROM canonical.kv
    affected_by: {kv: id}
`
