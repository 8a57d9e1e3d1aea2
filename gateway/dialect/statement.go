// Package dialect turns Postgres SQL text into statements the gateway can
// run: it parses with the real PostgreSQL grammar (pg_query_go, i.e.
// libpg_query) and, for statements the engine executes, prints an equivalent
// go-mysql-server (MySQL dialect, ANSI_QUOTES|PIPES_AS_CONCAT) query from the
// Postgres syntax tree. Statements the session handles itself (transactions,
// SET/SHOW, COPY) are classified and described instead. Anything that cannot
// be translated faithfully fails with SQLSTATE 0A000 naming the construct.
package dialect

// Kind says who runs a statement and how its result looks.
type Kind int

// Statement kinds.
const (
	KindEmpty      Kind = iota // empty query (only comments or whitespace)
	KindQuery                  // engine statement returning rows (SELECT, VALUES, ... RETURNING)
	KindExec                   // engine statement without rows (INSERT/UPDATE/DELETE/DDL)
	KindBegin                  // BEGIN / START TRANSACTION
	KindCommit                 // COMMIT / END
	KindRollback               // ROLLBACK / ABORT
	KindSavepoint              // SAVEPOINT name
	KindRelease                // RELEASE [SAVEPOINT] name
	KindRollbackTo             // ROLLBACK TO [SAVEPOINT] name
	KindSet                    // SET / SET LOCAL / SET SESSION
	KindReset                  // RESET name / RESET ALL
	KindShow                   // SHOW name / SHOW ALL
	KindCopyFrom               // COPY table FROM STDIN
	KindCopyTo                 // COPY table|(query) TO STDOUT
	KindCall                   // CALL schema.proc(args)
	KindDiscard                // DISCARD ALL and friends (session reset)
	KindDeallocate             // DEALLOCATE [PREPARE] name | ALL
	KindNoop                   // accepted and ignored with a tag (e.g. LISTEN, SET TRANSACTION ISOLATION LEVEL ...)
)

// Statement is one parsed Postgres statement.
type Statement struct {
	Kind Kind
	// Tag is the CommandComplete verb: "SELECT", "INSERT", "UPDATE", "DELETE",
	// "CREATE TABLE", "BEGIN", "SET", ... The gateway appends row counts.
	Tag string
	// Source is this statement's own Postgres text (from the client's string).
	Source string
	// Engine is the go-mysql-server query text for KindQuery/KindExec (and
	// for the query of COPY (query) TO STDOUT). Parameters $n are printed as
	// named bind variables :v<n> (e.g. $2 -> :v2).
	Engine string
	// Params holds a Postgres type OID per parameter ($1 is Params[0]);
	// 0 when the statement itself does not say (an explicit cast does).
	// len(Params) is the highest $n used.
	Params []uint32
	// ResultTypes holds the Postgres type OID of each SELECT target-list
	// entry when the translator knows it better than the engine's type
	// (booleans, explicit casts, text arrays...); 0 means "ask the engine".
	// Aligned with the target list; StarIndex is the index of a `*` entry
	// in it (-1 if none). With more than one star ResultTypes is nil.
	ResultTypes []uint32
	StarIndex   int
	// StarTypes, when the `*` at StarIndex covers one derived table or CTE
	// whose columns are known, holds a type OID per column it expands to,
	// as ResultTypes does (0: ask the engine); nil otherwise.
	StarTypes []uint32
	// ResultColumns, aligned like ResultTypes, names the column an aliased
	// plain column reference reads (`data_type AS "type"`: data_type), so
	// the gateway can find its declared type; "" elsewhere.
	ResultColumns []string

	Set       *Set         // KindSet / KindReset
	Show      string       // KindShow: lower-case setting name, "all" for SHOW ALL
	Copy      *Copy        // KindCopyFrom / KindCopyTo
	Savepoint string       // KindSavepoint / KindRelease / KindRollbackTo
	Call      *Call        // KindCall
	Create    *CreateTable // CREATE TABLE (also KindExec): declared Postgres types
	Drop      []Relation   // DROP TABLE: the dropped relations
	// AddColumns records the declared Postgres types of the columns an
	// ALTER TABLE ... ADD COLUMN adds (nil otherwise).
	AddColumns *CreateTable
	// Lookup, when set, says the query has the point-lookup shape the
	// gateway can answer without planning (see Lookup).
	Lookup *Lookup
	// Relations lists every relation the statement reads or writes, as
	// written (schema may be empty when unqualified), each once; the
	// target of an INSERT, UPDATE or DELETE comes first.
	Relations []Relation
}

// Relation names a table or view.
type Relation struct {
	Schema string
	Name   string
	// AsOf is the engine literal of a per-table time-travel clause
	// (`FOR SYSTEM_TIME AS OF 'rev'` or `AS OF 'rev'`), empty if none.
	AsOf string
	// Alias is the name the query gives the relation (FROM t AS a), if any.
	Alias string
}

// Set describes SET and RESET.
type Set struct {
	Name  string   // lower-case; for SET TIME ZONE it is "timezone"
	Value []string // the values as text (SET x = a, b); empty for DEFAULT
	Local bool     // SET LOCAL
	Reset bool     // RESET name or SET name TO DEFAULT
	All   bool     // RESET ALL
}

// Copy describes COPY ... FROM STDIN / TO STDOUT.
type Copy struct {
	Table      Relation // zero when Query is set
	Columns    []string // column list, empty for all
	Query      string   // COPY (query) TO: the engine text of the query
	Format     string   // "text" or "csv" ("binary" is refused with 0A000)
	Header     bool
	Delimiter  string   // default "\t" for text, "," for csv
	Null       string   // default `\N` for text, "" for csv
	Quote      string   // csv only, default `"`
	Escape     string   // csv only, default = Quote
	ForceQuote []string // csv FORCE_QUOTE columns (or ["*"])
}

// Call describes CALL schema.proc(args).
type Call struct {
	Schema string
	Name   string
	Args   []string // each argument as the engine expression text
}

// CreateTable records the Postgres column types of a CREATE TABLE, which the
// engine's MySQL types cannot always tell apart (boolean vs smallint, uuid
// vs text, jsonb vs json, timestamptz vs timestamp, interval).
type CreateTable struct {
	Table   Relation
	Columns []ColumnDef
}

// ColumnDef is one column of a CREATE TABLE.
type ColumnDef struct {
	Name   string
	OID    uint32 // Postgres type OID of the declared type
	Typmod int32  // -1 if none
}
