package catalog

import (
	"time"

	"github.com/shopspring/decimal"
)

// Context is one bounded context: one catalog file.
type Context struct {
	Name        string // `context:`
	Owner       string
	Description string
	File        string
	Pos         Pos

	Sources         []*Source
	Entities        []*Entity
	Projections     []*Projection
	ServingTables   []*ServingTable
	Reconciliations []*Reconciliation
	Policies        *Policies // nil when the file has no `policies:` section
	// Owners describes the teams named as owners; an owner with a webhook
	// is POSTed reconciliation exceptions as they open.
	Owners []*Owner
}

// Owner is a team that owns catalog objects.
type Owner struct {
	Name        string
	Description string
	Webhook     string // http(s) URL, "" = none
	Pos         Pos
}

// Column is one column of a source, entity or serving table (file order is kept).
// In YAML a column is either `name: type` or `name: {type: …, description: …,
// default: …}`.
type Column struct {
	Name        string
	Type        Type
	Description string
	// Default (entity columns only) is the constant, as Postgres input text,
	// that rows stored before the column was added read with (nil: NULL).
	// Mappings still produce every column (NULL AS c writes a NULL, as an
	// explicit NULL does in Postgres).
	Default *string
	Pos     Pos
}

// Source is a captured feed: the append-only relation raw.<name>.
type Source struct {
	Name        string
	Context     string
	Description string
	Owner       string // the context's owner unless overridden
	// Format is the documented delivery format ("rows", "csv" or "json"):
	// csv means files loaded with COPY … (FORMAT csv, HEADER). Informational.
	Format    string
	Columns   []*Column
	DedupeKey []string
	Pos       Pos
}

// Entity is an authoritative domain entity: canonical.<name>, history.<name>, diff.<name>.
type Entity struct {
	Name        string
	Context     string
	Description string
	Owner       string
	Key         []string
	Columns     []*Column
	// Indexes are secondary indexes of the canonical table (lookups and
	// correlated subqueries by these columns are index reads).
	Indexes     []*Index
	Transitions *Transitions // nil when the entity has no lifecycle
	Rules       []*Rule
	Mappings    []*Mapping // all versions, in file order
	Pos         Pos
}

// Index is a secondary index of an entity: `indexes: {by_order: [order_id]}`.
type Index struct {
	Name    string
	Columns []string
	Pos     Pos
}

// Transitions is an entity's lifecycle: which values of Column may follow which.
//
// Semantics (enforced by the canonical pipeline): a new row's state must be an
// initial state; an update that changes the state must go from a state to one
// of Allowed[state]; an update that keeps the state is always allowed.
type Transitions struct {
	Column      string
	Description string
	Allowed     map[string][]string
	// States lists every state in file order (sources of `allowed`, then targets, then initial).
	States []string
	// Initial lists the states a new row may start in: `initial:` when given,
	// otherwise the states that are never the target of a transition.
	Initial         []string
	InitialDeclared bool
	Pos             Pos
}

// Allows reports whether a row may move from state from to state to.
func (t *Transitions) Allows(from, to string) bool {
	if from == to {
		return true
	}
	for _, s := range t.Allowed[from] {
		if s == to {
			return true
		}
	}
	return false
}

// IsInitial reports whether a new row may start in state s.
func (t *Transitions) IsInitial(s string) bool { return contains(t.Initial, s) }

// Severity ranks rule violations and reconciliation exceptions.
type Severity string

// Severities, lowest first. Rules with severity error or critical quarantine
// the row; info and warning rules let it commit and only count the violation.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityError    Severity = "error"
	SeverityCritical Severity = "critical"
)

// Severities lists the valid severities, lowest first.
var Severities = []string{"info", "warning", "error", "critical"}

// Rule is a quality rule: a row-local SQL boolean expression over the entity's
// columns that every new row version must satisfy (NULL counts as satisfied,
// as in a Postgres CHECK constraint).
type Rule struct {
	Name        string
	Entity      string
	Check       string
	Description string
	Severity    Severity // default error
	Pos         Pos
	CheckPos    Pos

	checkLoc sqlLoc
}

// Mapping turns a batch of raw rows of Source into rows of an entity: Select
// is a Postgres SELECT over the relation `batch` (the source's columns plus
// _seq, _ingested_at, _batch) whose output columns are exactly the entity's.
type Mapping struct {
	Entity      string
	Source      string
	Version     int
	Select      string
	Description string
	// DeleteWhen is an optional SQL boolean expression over the mapping's
	// output columns: output rows for which it is true delete the entity row
	// with that key instead of upserting it.
	DeleteWhen string
	// Current is true for the highest version per (entity, source): the one ingest runs.
	Current       bool
	Pos           Pos
	SelectPos     Pos
	DeleteWhenPos Pos

	selLoc     sqlLoc
	delLoc     sqlLoc
	sourcePos  Pos
	versionPos Pos
}

// Projection is a serving read model: serving.<name>, derived from canonical.
type Projection struct {
	Name         string
	Context      string
	Description  string
	Owner        string
	Key          []string
	FreshnessSLA time.Duration
	Select       string
	AffectedBy   []*AffectedBy // file order
	// Reads lists the entities the SELECT reads.
	Reads []string
	// Columns are the SELECT's output columns. Type is inferred when certain
	// (entity columns, casts, count/sum/min/max, literals); otherwise
	// Type.Name is "" and the engine's result type applies.
	Columns   []*Column
	Pos       Pos
	SelectPos Pos

	selLoc sqlLoc
	keyPos []Pos
}

// AffectedBy says which projection rows a change to Entity affects: for a
// changed entity row (old and new version), the projection rows whose output
// columns On equal the row's values of Columns (pairwise, cast to the
// projection column's type) are recomputed.
//
// YAML forms: `entity: col` or `entity: [c1, c2]` pairs the columns with the
// projection key in order (On = key); `entity: {proj_col: entity_col, …}`
// pairs them by name with any output columns; `entity: "*"` (All) means any
// change recomputes the whole projection.
type AffectedBy struct {
	Entity  string
	Columns []string
	On      []string
	All     bool
	Pos     Pos

	colPos   []Pos
	onPos    []Pos
	listForm bool
}

// ServingTable is a non-authoritative table in the serving schema written
// directly by permitted clients (not derived from canonical), e.g. digital
// channel basket events. It is always labeled derived.
type ServingTable struct {
	Name        string
	Context     string
	Description string
	Owner       string
	Key         []string
	Columns     []*Column
	// Writers are roles that may INSERT/UPDATE/DELETE it (shorthand for a
	// `write` grant on serving.<name>).
	Writers   []string
	Retention time.Duration // 0 = keep forever
	Pos       Pos

	writerPos []Pos
}

// Level is a reconciliation level.
type Level string

// Reconciliation levels.
const (
	LevelRecord   Level = "record"   // row by row on match keys: missing, extra, different
	LevelCount    Level = "count"    // row counts per match group
	LevelBalance  Level = "balance"  // numeric totals per match group, within tolerance
	LevelState    Level = "state"    // state/status columns per key agree
	LevelTemporal Level = "temporal" // the right side follows the left within SLA
	LevelSemantic Level = "semantic" // a business identity between two computations
)

// Levels lists the valid reconciliation levels.
var Levels = []string{"record", "count", "balance", "state", "temporal", "semantic"}

// Repairs lists the valid repair actions.
var Repairs = []string{"rebuild", "replay", "none"}

// Tolerance bounds acceptable numeric differences: a difference is accepted
// when |l-r| <= Absolute or |l-r| <= Relative*max(|l|,|r|). Nil = not set.
type Tolerance struct {
	Absolute *decimal.Decimal
	Relative *decimal.Decimal
	Pos      Pos
}

// Reconciliation compares two queries at paired points in time.
type Reconciliation struct {
	Name        string
	Context     string
	Level       Level
	Owner       string
	Severity    Severity // default error
	Description string
	Left        string
	Right       string
	// RightDSN, when set, runs Right on an external Postgres (a legacy system)
	// instead of dualgate. It is a postgres:// URL or ${ENV_VAR}; see ResolveRightDSN.
	RightDSN  string
	Match     []string
	Compare   []string // empty = every non-match column common to both sides
	Tolerance *Tolerance
	Grace     time.Duration // differences younger than this are lag, not divergence
	Schedule  time.Duration // 0 = only on CALL reconcile.run
	SLA       time.Duration // temporal: the longest allowed delay
	Repair    string        // rebuild | replay | none (default none)
	// LeftRelations/RightRelations are the schema-qualified relations each side reads.
	LeftRelations  []string
	RightRelations []string
	// LeftColumns/RightColumns are the output column names of each side.
	LeftColumns  []string
	RightColumns []string
	Pos          Pos
	LeftPos      Pos
	RightPos     Pos

	leftLoc    sqlLoc
	rightLoc   sqlLoc
	matchPos   []Pos
	comparePos []Pos
}

// Privilege is what a grant allows.
type Privilege string

// Privileges.
const (
	PrivRead      Privilege = "read"      // SELECT (any schema but dualgate.audit)
	PrivIngest    Privilege = "ingest"    // INSERT/COPY into raw.<source>
	PrivCorrect   Privilege = "correct"   // DML on canonical.<entity> (steward corrections)
	PrivWrite     Privilege = "write"     // DML on a serving table
	PrivReconcile Privilege = "reconcile" // CALL reconcile.run/ack/resolve
	PrivAdmin     Privilege = "admin"     // everything, including dualgate.replay/rebuild/verify
	PrivAudit     Privilege = "audit"     // read dualgate.audit
	// PrivRelayAudit lets a sidecar's service user append the records of the
	// statements the sidecar answered itself to dualgate.audit (CALL
	// dualgate.relay_audit). Like audit, admin does not include it.
	PrivRelayAudit Privilege = "relay_audit"
)

// Privileges lists the valid privileges.
var Privileges = []string{"read", "ingest", "correct", "write", "reconcile", "admin", "audit", "relay_audit"}

// MaskMethods lists the valid masking methods.
var MaskMethods = []string{"hash", "redact", "last4", "null"}

// Policies is a context's `policies:` section. Roles and users declared in
// several contexts are the same role/user: their grants and role lists are merged.
type Policies struct {
	Roles      []*Role
	Masks      []*Mask
	RowFilters []*RowFilter
	Users      []*User
	Audit      *AuditPolicy // nil when not set
	Pos        Pos
}

// Role is a named set of grants.
type Role struct {
	Name        string
	Context     string
	Description string
	Grants      []*Grant
	Pos         Pos
}

// Grant gives a privilege on a target: "*", a schema, schema.relation or
// some columns of a relation (On as written; Schema/Relation split out).
// A read grant may name columns: `columns: [a, b]` next to on:
// schema.relation, or the one-column shorthand on: schema.relation.column;
// Columns then holds them (lower-case, in file order) and the grant reads
// only those columns. Columns is empty for a grant on the whole relation.
type Grant struct {
	Privilege Privilege
	On        string
	Schema    string
	Relation  string
	Columns   []string
	Pos       Pos

	onPos   Pos
	colPoss []Pos
}

// Mask hides a column from sessions of the listed roles.
type Mask struct {
	Column                       string // schema.relation.column as written
	Schema, Relation, ColumnName string
	Roles                        []string
	Method                       string // hash | redact | last4 | null
	Pos                          Pos

	rolePos   []Pos
	columnPos Pos
}

// RowFilter restricts the rows of Relation that sessions of Roles see.
type RowFilter struct {
	Relation        string // schema.relation
	Schema, RelName string
	Roles           []string
	Where           string
	Pos             Pos
	WherePos        Pos

	whereLoc sqlLoc
	relPos   Pos
	rolePos  []Pos
}

// User assigns roles to a login name (passwords live in the users file).
type User struct {
	Name  string
	Roles []string
	Pos   Pos

	rolePos []Pos
}

// AuditPolicy is how long dualgate.audit keeps rows and whether purges are held.
type AuditPolicy struct {
	Retention time.Duration // 0 = forever
	LegalHold bool
	Pos       Pos
}
