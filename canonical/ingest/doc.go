// Package ingest is dualgate's canonical pipeline: it turns delivered source
// rows into canonical commits. A Pipeline runs one catalog over one
// canonical.Store; a Batcher buffers what a session writes through the
// engine (sqltables.Writes) and commits it when the statement or
// transaction ends (the gateway.TxHooks method set).
//
// # Ingest
//
// Pipeline.Ingest(source, rows, by) is ONE store transaction (Begin ..
// Commit), hence one Pebble batch applied with sync (a large one: one
// atomic Ingest of sstables, canonical/commitsst.go):
//
//  1. every delivered row is appended to raw.<source> (duplicates too: raw
//     is the record of what arrived) with _seq, _ingested_at and _batch;
//  2. rows whose dedupe_key arrived before (earlier in the batch or in any
//     earlier raw row) are duplicates and go no further;
//  3. the current mapping of every entity the source feeds
//     (catalog.MappingsFor) runs over the other rows, exposed as relation
//     `batch`, through QueryFunc (the gateway engine);
//  4. every output row is checked: column types (Conform: Postgres
//     assignment rules; failures are rule "type"), primary key not NULL
//     (rule "key"), delete_when (true: the row deletes its key instead),
//     the entity's rules (severity error/critical reject, warning/info only
//     count in Report.Warnings; NULL passes, as in a CHECK constraint) and
//     transitions (rule "transition": a new key must start in an initial
//     state, a changed state must be allowed from the current one; the
//     current state is the row at head, then the batch's own earlier rows);
//  5. rejected rows become quarantine records (source, raw _seq, entity,
//     rule, reason, payload JSON) and everything else becomes one commit of
//     kind ingest (committer by, source, mapping_version = the highest
//     current mapping version of the source, raw seq range of the batch).
//
// On any error nothing at all is written (raw rows included): the client
// hears of success only after the batch is durable.
//
// Mapping and rule evaluation are bulk: one engine query per mapping, and
// one per (mapping, entity) for delete_when and all rules together
// (SELECT __dg_row, (delete_when), (rule1), ... FROM batch over the mapped
// rows), never one per row. A mapping that only picks batch columns
// (renamed or not) and string literals, optionally ORDER BY _seq, is
// evaluated without the engine (compiled.go), giving the values the engine
// would; its rows then take the same conversions and checks.
//
// The head rows of every touched key are read in one ordered pass
// (canonical.Txn.Current) that the store's commit reuses, and the batch is
// otherwise handled in slabs (values, mapped rows, encodings) so that a
// large COPY allocates per thousand rows rather than per row. Batcher.CopyRows
// takes the rows of a COPY into raw.<source> straight from the gateway's
// COPY parser (gateway.RawCopier), without engine INSERTs.
//
// # Attribution and accounting
//
// The unit of account is the raw row. Each mapping output row is traced to
// the raw row it came from: a row-wise mapping (one FROM item, batch; no
// GROUP BY, DISTINCT, aggregates, windows or set operations) is rewritten
// on its Postgres parse tree (pg_query, never text) to also return
// batch._seq. An aggregating mapping cannot be traced, so its output rows
// are attributed to every raw row of the batch (a rejected row then
// quarantines the whole batch, one record per raw row: conservative, but
// nothing is hidden).
//
// A raw row is a duplicate; otherwise quarantined if ANY of its mapped rows
// is rejected (its other mapped rows are then not committed either: a raw
// row is applied all or nothing; transitions are re-walked without it until
// no new rejection appears); otherwise committed if at least one of its
// mapped rows changed its key relative to the row before it (at head or
// earlier in the batch) AND the key's net effect in the commit is a change
// (so Committed > 0 implies a commit was made); otherwise unchanged
// (identical upserts, deletes of absent keys, rows no mapping selected, or
// changes the same batch undid). Hence always
//
//	Received = Committed + Unchanged + Duplicates + Quarantined
//
// and Report.Notice() says so to the client, e.g. "ingested 10 rows from
// oms_orders: 7 committed (commit 12), 1 unchanged, 1 duplicate, 1
// quarantined". An ingest in which nothing changes makes no commit
// (CommitID 0); its raw rows and quarantine records are still durable.
//
// # Dedupe
//
// Dedupe state is derived from raw.<source> itself, not stored separately:
// the first time a source is used the Pipeline scans its raw log once and
// keeps, per dedupe key, the first _seq that carried it (a 64-bit hash of
// the key mapped to the seq, confirmed on every hit by reading that raw
// row; colliding keys are kept exactly). The index is extended only after
// a successful commit, under the pipeline's lock, so it is always exactly
// "the keys of durable raw rows": as atomic and crash-safe as raw capture,
// and it costs no extra rows in commits. A row with a NULL in its dedupe
// key is never a duplicate. A source without dedupe_key has no duplicates.
//
// # Corrections and replay
//
// Pipeline.Correct applies a steward's changes to one entity with the same
// type, key, rule and transition checks; a failing correction is refused
// with an error naming the rule and key (ErrRefused), never quarantined. A
// commit message is required (ErrNoMessage); the commit has kind
// correction.
//
// Pipeline.Replay re-runs the current mapping versions over stored raw rows
// and commits only the difference (kind replay); rows that were
// duplicates stay duplicates, previously quarantined rows that now pass
// are committed, rows that fail again keep their first quarantine record
// (the store deduplicates on source, seq, entity, rule), and a second
// replay makes no commit. For transitions, a key that exists at head is not
// checked on its first replayed row (its predecessor is history), but its
// final replayed state must be reachable from its current one.
//
// # Schema
//
// Pipeline.EnsureSchema creates one store table per catalog entity (kinds
// from KindOf, primary key = entity key, key columns NOT NULL) and adds new
// catalog columns (NULL default) in one commit of kind schema; a removed
// column, a changed key or a column whose kind changes is refused.
//
// Logs are zerolog with commit_id and source fields.
package ingest
