// Package canonical is dualgate's durable, versioned store for the canonical
// (authoritative) pipeline: raw capture, commits with a SHA-256 hash chain,
// multi-version tables readable AS OF any commit, Dolt-style history and diff,
// a per-commit change feed for projections, and quarantine records. It sits
// on Pebble (github.com/cockroachdb/pebble/v2) and knows neither the wire
// protocol nor the SQL engine; a go-mysql-server table is built on Get (point
// lookups), Scan (primary-key ranges in key order, either direction) and
// ScanIndex (secondary-index ranges), each AS OF any commit.
//
// # Keyspace layout
//
// Every Pebble key starts with a one-byte keyspace prefix. tid is a 4-byte
// big-endian table id, pk the order-preserving encoding of the primary key
// (see AppendKey: bytes.Compare on encodings is the SQL order, NULL first),
// c an 8-byte big-endian commit id and ^c its bitwise complement (so newer
// versions sort first).
//
//	M format                       store format version
//	C c                   -> commit record (metadata, hash, parent hash, touched table ids)
//	H hash                -> c     (hash and unique-prefix lookup)
//	S tid ^c              -> table schema as of commit c (schema history; newest first)
//	L tid pk              -> c, row          latest version of each LIVE row
//	V tid pk ^c           -> deleted?, prev commit, row    every version (deletes are tombstones)
//	D tid c pk            -> op (added/modified/removed), prev commit   change log
//	I tid idx vals pk     -> ()              current secondary index entries
//	J tid idx vals pk ^c  -> present?        versioned secondary index entries
//	K tid cp pk           -> row               checkpoint: live rows as of commit cp
//	N tid cp idx vals pk  -> ()                checkpoint: index entries as of commit cp
//	P tid ^cp             -> live row count    checkpoint marker (written last)
//	R source seq          -> ingested_at, batch, row       raw capture (per-source seq; a delivery's
//	                         other rows point back to its first for ingested_at and batch: raw.go)
//	Q id                  -> quarantine record
//	q source seq entity rule -> id           quarantine dedupe
//
// A commit writes, for each changed row only, one V entry, one D entry, the
// L entry (set or delete) and, for each index whose values changed, one I
// update and one J entry: history costs O(changed rows) on disk per commit;
// unchanged rows cost nothing. Row values are stored once per version (D
// holds no row data; old rows are found through the prev-commit pointer).
//
// # Read costs (n = rows returned, k = keys in range)
//
//   - current row of a key: one point read of L.
//   - row AS OF c: one seek to V|tid|pk|^c (lands on the newest version <= c).
//   - a key's full history: one range read of V|tid|pk (newest first).
//   - changes of a table between commits a and b: one range read of
//     D|tid|a+1 .. D|tid|b+1 plus two seeks per change (new and old version).
//   - change feed of commit c: for each table the commit lists, one range read
//     of D|tid|c plus two seeks per change.
//   - scan at HEAD: a range read of L, which holds live rows only.
//   - scan AS OF an older commit c, the cheapest by estimated cost of: a
//     range read of V that reads each key's newest version and, only if
//     that is newer than c, seeks to the version at c (one or two entries
//     per key that ever existed in the range, never a key's whole history,
//     but every version newer than c); or a range read of a base -- L, or
//     the checkpoint K nearest to c -- merged with the keys the change log
//     names between the base and c, one seek each. A checkpoint is written
//     in the background once the rows modified or removed in a table since
//     its last one reach its live rows (checkpoint.go): at most one more
//     row copy per modified row, none for rows only added, and a scan AS
//     OF a checkpointed commit reads what a head scan reads.
//   - index scan: I (HEAD) or J (AS OF, as above) plus one point read per
//     row: in L at HEAD; AS OF c, in L when the key's latest version is at
//     or before c (the walk looks there first while most rows are), else V.
//
// # Commits and consistency
//
// Commits serialize on a single writer lock held by a Txn (Begin .. Commit
// or Rollback). A commit is one Pebble batch applied with pebble.Sync, or,
// for a data commit of Options.CommitSSTableBytes or more (2 MiB by
// default), one sstable per keyspace applied by one Pebble Ingest, which is
// as atomic as a batch and durable when it returns (commitsst.go): its
// raw rows, quarantine records, schema records, versions, change log, latest
// rows, index entries and commit record become durable and visible together.
// commit_id is head+1 (gap-free: ids are assigned under the lock and a failed
// batch or Ingest leaves no trace). A commit whose changes are all no-ops (upserts
// identical to the current row, deletes of absent keys) and that has no
// schema change creates no commit (CommitResult.Created is false) but still
// writes its Txn's raw rows and quarantine records.
//
// The in-memory head is published after the batch (or Ingest) is applied, so HEAD readers
// never see a half-applied commit. Reads never take the writer lock: point
// reads rely on versioning (a version is visible at c iff its commit <= c,
// and versions are immutable); scans run on a Pebble snapshot whose newest
// commit is determined from the snapshot itself, so a scan reports (AsOf)
// exactly the commit it reflects.
//
// The hash chain: commit_hash = SHA-256 over the parent hash, a canonical
// encoding of the metadata (id, committed_at, committer, source, kind,
// mapping version, message, row counts, raw seq range) and of the content
// (schema records, then every change in table-id and key order: key,
// change-log value, version value). Verify recomputes it from storage.
//
// Schema evolution: a schema commit (kind schema) creates tables or appends
// columns with defaults. Stored rows keep the column count they were written
// with; reads pad them with the defaults of columns added later. Reads AS OF
// c use the schema as of c; history, diff use the current schema.
//
// Logging is zerolog with commit_id fields; pass a logger in Options.
package canonical
