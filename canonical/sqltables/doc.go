// Package sqltables exposes the canonical store (package canonical) to the
// SQL engine (go-mysql-server) as the Postgres schemas of DESIGN.md:
//
//   - canonical: canonical.<entity>, one table per catalog entity, at head or
//     AS OF any commit (CanonicalDatabase is a sql.VersionedDatabase; the AS
//     OF value is resolved with Store.ResolveRev). Primary-key and secondary
//     index lookups and ranges are store point reads and range scans.
//     INSERT/UPDATE/DELETE are steward corrections handed to Writes.
//   - history: history.<entity>, every version with commit_id, commit_hash,
//     committed_at, committer, source.
//   - diff: diff.<entity>, Dolt's dolt_diff_<table>: to_<col>, from_<col>,
//     to_commit, from_commit, to_committed_at, from_committed_at, diff_type.
//   - raw: raw.<source>, the append-only raw log with _seq, _ingested_at,
//     _batch; INSERT is ingest handed to Writes; UPDATE/DELETE are refused.
//   - dualgate: commits and quarantine (DualgateTables), read-only.
//
// Comments (sql.CommentedTable) carry the labels: canonical, history and
// diff tables start with "AUTHORITATIVE: ", raw and dualgate tables with
// "DERIVED (non-authoritative): ".
//
// Engine column types come from the catalog's Postgres types (EngineType);
// store value kinds from KindOf; EntitySchema is the store schema of an
// entity. Rows hold the engine's Go values: int16/int32/int64, float32/
// float64, decimal.Decimal, string, time.Time, types.JSONDocument, []byte,
// and int8 0/1 for booleans (the engine's boolean is TINYINT).
//
// Every index is exact: a lookup range is turned into store bounds (the
// longest prefix of equal columns plus the next column's cut) and every row
// read is re-checked against the range with the engine's own range filter,
// so the analyzer may drop the filters it pushed (PreciseMatch). Tables
// report an inexact row-count estimate (sql.StatisticsTable) so that the
// optimizer prefers index ranges over scans; index metadata reports TEXT key
// columns as VARCHAR, because the analyzer refuses range scans on unique
// TEXT indexes (it assumes MySQL's content hashing).
//
// Writes: canonical and raw editors buffer the rows of one statement and
// hand them to Writes only at StatementComplete; DiscardChanges drops them.
// INSERT into canonical of an existing key is a primary key violation (so
// ON DUPLICATE KEY UPDATE works). The engine wraps insert errors in
// sql.WrappedInsertError, which has no Unwrap: unwrap its Cause before
// errors.Is(err, ErrReadOnly) and friends.
//
// Aggregates: RegisterAggregatePushdown adds an analyzer rule that runs a
// GROUP BY (or an aggregate without GROUP BY) over one bare canonical table
// -- with its WHERE, alias, projection, index lookup and AS OF -- in the
// store: the needed columns are decoded into one reused row and hashed into
// groups in Go, with the engine's own result types (aggregate.go). Tables
// behind a wrapper (the gateway's masks and row filters) stay with the
// engine. DUALGATE_AGGREGATE_PUSHDOWN=off disables it.
//
// Session time travel: CanonicalDatabase.SetSessionAsOf lets the gateway's
// SET dualgate.as_of pin tables named without AS OF.
package sqltables
