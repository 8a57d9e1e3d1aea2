// Package reconcile compares the two worlds dualgate keeps apart:
// canonical (the ledger) and serving (the fast lane), and canonical against
// the sources and legacy systems it replaces. It runs the catalog's
// reconciliation rules, tells lag from divergence, and keeps an exception
// queue that operators work through, all exposed as reconcile.* system
// views by the binary.
//
// # Paired points in time
//
// A rule's sides are SQL. A side that reads serving projections sees them
// at their watermark; the canonical side is then pinned to that commit
// (FOR SYSTEM_TIME AS OF, the projections' own PinAsOf), so a projection
// that is merely behind compares equal, and its lag is reported, not
// flagged. The watermark is read before and after the serving side is read;
// a run whose serving side moved underneath it is retried, and its
// differences are only "pending" if it never settles. Rules that read no
// projection pin canonical to the head commit read once at the start.
// External sides (right_dsn) are read with pgx at the time of the run, a
// bisected one within one REPEATABLE READ snapshot of the legacy database.
//
// # Lag versus divergence
//
// A difference first seen is pending: it becomes an exception only if it
// is still there when the rule runs again after its grace (the scheduler
// schedules that re-check). A run that could not compare (a projection
// still being built) is pending too, and is retried after a few seconds. A temporal rule's left events with no right
// event are pending until their SLA passes, then "late".
//
// # Exceptions
//
// Exceptions are de-duplicated by fingerprint (rule, kind, key): a
// recurring divergence updates last_seen. A run that matches a key at the
// same or a higher watermark resolves its open exception; a divergence that
// comes back reopens it. Status changes (open, acknowledged, resolved,
// accepted_variance, false_positive, reopened) are kept as history. The
// Ledger stores exceptions, their history and runs in their own Pebble
// database (never in canonical: reconciliation and repair never change
// canonical).
//
// # Scale
//
// A record rule whose right side reads a whole projection (every column,
// matched on its key) is compared by bucket: the left side's rows are
// hashed into the store's fixed buckets exactly as the store maintains its
// per-bucket counts and order-independent checksums incrementally, and
// only buckets whose count or checksum differ are read from the store and
// compared key by key. A left side that is a plain column list of an entity
// has the same per-bucket counts and checksums kept for it on the canonical
// side (summary.go): moved from the commit they were taken at to the
// paired commit by the entity's net changes in between (forwards or
// backwards), kept at the projections' watermarks as commits apply,
// persisted in the ledger, and rebuilt by streaming the entity after a
// schema commit, for a new rule or projection column list, or when the
// changes in between would cost more than a stream (bulk loads). So a run
// with no differences reads no rows on either side; one with differences
// streams the entity once at the paired commit, keeping only the rows of
// differing buckets (and checking the summary against the stream).
//
// A record or state rule whose right side is an external legacy database
// (right_dsn) is compared by key-range bisection: each range of match keys
// is summarized on both sides as a count and a sum of MD5-based hashes of
// the rows' canonical text, the external side's by an SQL aggregate run in
// the legacy database, so equal ranges cost two numbers; differing ranges
// are split at key quantiles and only small differing ranges are fetched
// and compared row by row. Rows are rendered identically on both sides
// (numeric scale, dates, timestamps, NULLs), so equal values in another
// format never make an exception. Rules whose right side cannot be
// restricted to a key range are read whole, and the run's coverage says
// why; see bisect.go for the conditions.
//
// Grace re-checks, the exception ledger and webhooks are described on
// Engine.Start, Ledger and Options.Webhooks. Differences held for their
// grace are kept in the ledger, so a restart does not restart the grace.
package reconcile
