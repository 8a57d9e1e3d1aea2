// Package catalog is dualgate's declarative domain catalog: bounded contexts
// written in YAML (one context per file), loaded into typed structs,
// validated as a whole, and exposed as the catalog.* SQL views.
//
// It imports no other dualgate package; the gateway, canonical store,
// projections and reconciliation read the *Catalog it returns. A Catalog is
// immutable after Load and safe for concurrent use.
//
// # Loading and checking
//
//	c, err := catalog.Load("catalog/")              // files and/or directories (*.yaml, *.yml, sorted)
//	c, err := catalog.LoadFS(testdata.Catalog, "catalog") // embedded demo catalog
//	report, ok := catalog.Check(paths...)           // for `dualgate check --catalog …`: print report, exit 1 if !ok
//
// Every problem is reported at once as ValidationErrors, one per line, as
// file:line:col: message; fix. Positions inside SQL (syntax errors, unknown
// tables or columns) are translated to the file line and column, also in
// block scalars (select: |).
//
// # Format
//
// The keys of DESIGN.md, plus the extensions marked (ext). Names of
// contexts, sources, entities, projections, serving tables, reconciliations,
// rules, roles and columns are lower-case identifiers ([a-z_][a-z0-9_]*, at
// most 63) because they become Postgres names; column names may not be
// Postgres reserved words. Sources, entities and projections/serving tables
// share the raw, canonical and serving schemas, so their names are unique
// across all contexts. Mappings keep file order (column order is the table's).
//
//	context: commercial_order_lifecycle     # required
//	owner: order-domain-team                # default owner of everything below
//	description: …                          # every object may have one: it becomes the Postgres comment
//	sources:                                # raw.<name>, append-only; raw adds _seq, _ingested_at, _batch
//	  oms_orders:
//	    description: …
//	    owner: …                            # overrides the context's
//	    format: csv                         # (ext) rows | csv | json; informational (COPY … CSV files)
//	    columns: {event_id: text, total_cents: bigint, placed_at: {type: timestamptz, description: …}}
//	    dedupe_key: [event_id]
//	entities:                               # canonical.<name>, history.<name>, diff.<name>
//	  orders:
//	    key: [order_id]
//	    columns: {order_id: text, status: text, total_cents: bigint, channel: {type: text, default: web}}
//	                                        # (ext) default: a constant, entity columns only; rows stored
//	                                        # before the column was added read with it
//	    indexes: {by_status: [status]}   # (ext) secondary indexes of the canonical table
//	    transitions:
//	      column: status
//	      allowed: {accepted: [paid, cancelled], paid: [shipped]}
//	      initial: [accepted]               # (ext) optional; default: states that are no target
//	    rules:
//	      - {name: non_negative_total, check: "total_cents >= 0", severity: error, description: …}
//	    mappings:
//	      - source: oms_orders
//	        version: 2                      # the highest version per (entity, source) is current
//	        select: SELECT order_id, lower(status) AS status, total_cents FROM batch
//	        delete_when: status = 'deleted' # (ext) optional, over the output columns: deletes the key
//	projections:                            # serving.<name>, derived from canonical
//	  order_timeline:
//	    key: [order_id]
//	    freshness_sla: 2s
//	    select: SELECT o.order_id, o.status FROM canonical.orders o
//	    affected_by: {orders: order_id}     # see AffectedBy for the three forms
//	serving_tables:                         # (ext) non-authoritative tables in serving, written by clients
//	  basket_events:
//	    key: [basket_id, event_seq]
//	    columns: {basket_id: text, event_seq: bigint, event_type: text}
//	    writers: [ingestor]                 # roles that may write (a `write` grant)
//	    retention: 30d                      # optional
//	    authoritative: false                # optional, documentation only; true is an error
//	reconciliations:
//	  shipped_units:
//	    level: balance                      # record | count | balance | state | temporal | semantic
//	    owner: fulfillment-team
//	    severity: error                     # (ext) info | warning | error | critical
//	    left: SELECT …                      # schema-qualified relations of dualgate
//	    right: SELECT …
//	    right_dsn: ${LEGACY_DSN}            # (ext) right runs on an external Postgres (postgres://… or ${ENV})
//	    match: [day]                        # output columns pairing rows (required for record/state/temporal)
//	    compare: [units]                    # (ext) default: the other common columns
//	    tolerance: {absolute: "0.5", relative: "0.001"}   # exact decimals
//	    grace: 30s                          # younger differences are lag, not divergence
//	    schedule: 1m
//	    sla: 1d                             # (ext) temporal: the longest allowed delay
//	    repair: rebuild                     # rebuild | replay | none
//	policies:                               # (ext) issue 8; roles/users merge across contexts
//	  roles:
//	    analyst:
//	      grants:
//	        - {privilege: read, on: serving}                 # on: *, schema, schema.relation or schema.relation.column
//	        - {privilege: read, on: canonical.orders.status}
//	    sidecar:                            # privileges: read ingest correct write reconcile admin
//	      grants: [{privilege: relay_audit}] # audit relay_audit (the last two: on dualgate.audit, not in admin)
//	  masks:
//	    - {column: canonical.orders.customer_email, role: analyst, method: hash}   # role: one or a list
//	  row_filters:
//	    - {relation: serving.order_timeline, role: support, where: "region = 'EU'"}
//	  users: {alice: [analyst]}
//	  audit: {retention: 400d, legal_hold: false}   # at most one context sets it
//
// Durations are Go durations (500ms, 2s, 1m30s, 4h) or days (1d, 2d12h).
// Column types are the Postgres names listed in SupportedTypes (with the
// usual aliases: int, int4, int8, float8, bool, decimal, character varying,
// timestamp with time zone …); quote types with a comma inside flow maps
// ({amount: "numeric(12,2)"}).
//
// # What validation guarantees
//
//   - Mappings: one SELECT over the relation batch only (the ingest batch of
//     the source: its columns plus _seq, _ingested_at, _batch); no *; every
//     output named (AS); the outputs are exactly the entity's columns; column
//     references exist in the source. Rows apply in output order.
//   - Rules, delete_when and row filters: one boolean expression over the
//     row's columns; rules are row-local (no subqueries). NULL passes, as in a
//     Postgres CHECK.
//   - Projections: one SELECT reading canonical.<entity> only (CTEs allowed),
//     no *, named outputs including the key; affected_by names every entity
//     read and only those, with real columns. Output types are inferred where
//     certain (Projection.Columns).
//   - Reconciliations: both sides parse; internal sides read known,
//     schema-qualified relations; match/compare are outputs of both sides.
//   - Policies: privileges fit their targets (ingest on raw, correct on
//     canonical, write on serving tables, reconcile on reconcile[.rule], audit
//     on dualgate.audit, read anywhere but dualgate.audit); targets, masked
//     columns and roles exist.
//
// Privilege semantics for the gateway: a user's privileges are the union of
// their roles' grants; a grant on a schema covers its relations, on a
// relation its columns. A column masked for one of the user's roles is
// masked unless another of the user's roles reads it without a mask (the
// gateway owns the final rule). Masks on canonical.<entity> columns apply to
// history.<entity> and diff.<entity> (to_/from_ columns) as well.
package catalog
