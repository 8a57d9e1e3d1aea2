package primary

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/canonical/audit"
	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
	"github.com/dualgate/dualgate/gateway/pgerror"
	"github.com/dualgate/dualgate/gateway/pgtypes"
)

// governance is the primary's access control and audit trail: the
// catalog's policies enforced by the gateway (gateway.Access) and the
// durable dualgate.audit.
type governance struct {
	access *gateway.Access
	audit  *audit.Log
}

// withGovernance finishes Open: it builds the access policy (its mask key
// kept under dataDir/governance so hashed values stay joinable across
// restarts). On failure it closes the side and returns the error.
func (c *Side) withGovernance(ctx context.Context, dataDir string, cat *catalog.Catalog, log zerolog.Logger) (*Side, error) {
	g, err := openGovernance(ctx, dataDir, cat, log)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	c.gov = g
	return c, nil
}

func openGovernance(_ context.Context, dataDir string, cat *catalog.Catalog, log zerolog.Logger) (*governance, error) {
	dir := filepath.Join(dataDir, "governance")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("governance directory: %w", err)
	}
	key, err := maskKey(filepath.Join(dir, "mask.key"))
	if err != nil {
		return nil, err
	}
	opts := audit.Options{Logger: log}
	if ap := cat.Audit(); ap != nil {
		opts.Retention, opts.LegalHold = ap.Retention, ap.LegalHold
	}
	trail, err := audit.Open(filepath.Join(dataDir, "audit"), opts)
	if err != nil {
		return nil, err
	}
	return &governance{access: gateway.NewAccess(cat, key), audit: trail}, nil
}

// maskKey reads the key of the `hash` masking method, making it on first
// use (32 random bytes, readable by the owner only).
func maskKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) == 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("mask key: %w", err)
	}
	if err == nil {
		return nil, fmt.Errorf("mask key %s: %d bytes, want 32 (remove it to make a new one; hashed values then change)", path, len(b))
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("mask key: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("mask key: %w", err)
	}
	return b, nil
}

// configureGovernance points cfg at the access policy and the audit
// trail: the sink, the dualgate.audit relation and CALL
// dualgate.verify_audit().
func (c *Side) configureGovernance(cfg *gateway.Config) {
	if c.gov == nil {
		return
	}
	cfg.Access = c.gov.access
	cfg.Audit = auditSink{c.gov.audit}
	cfg.SystemTables = append(cfg.SystemTables, auditTable(c.gov.audit))
	if cfg.Procedures == nil {
		cfg.Procedures = map[string]gateway.Procedure{}
	}
	verified := []gateway.SystemColumn{{Name: "ok", OID: pgtypes.Bool}, {Name: "records", OID: pgtypes.Int8}, {Name: "head_hash", OID: pgtypes.Text}}
	cfg.Procedures["dualgate.verify_audit"] = gateway.Procedure{Result: verified, Run: func(ctx context.Context, _ gateway.CallInfo, _ []any) (gateway.ProcedureResult, error) {
		if err := c.gov.audit.Flush(ctx); err != nil {
			return gateway.ProcedureResult{}, err
		}
		r, err := c.gov.audit.Verify(ctx)
		if err != nil {
			return gateway.ProcedureResult{}, err
		}
		if !r.OK {
			return gateway.ProcedureResult{}, pgerror.New("XX001", "dualgate.audit failed verification at record %d: %s", r.BrokenAt, r.Problem).
				WithHint("the audit trail was changed outside dualgate; restore it from a backup")
		}
		return gateway.ProcedureResult{
			Columns: verified,
			Rows:    [][]any{{true, int64(r.Records), r.HeadHash}},
			Notices: []string{fmt.Sprintf("audit chain verified: %d records", r.Records)},
		}, nil
	}}
	cfg.Procedures["dualgate.relay_audit"] = gateway.Procedure{Args: []string{"records"}, ArgTypes: []uint32{pgtypes.Text},
		Description: "appends the records of statements a sidecar answered itself to dualgate.audit (needs relay_audit)",
		Result:      relayColumns, Run: func(ctx context.Context, call gateway.CallInfo, args []any) (gateway.ProcedureResult, error) {
			return relayAudit(ctx, c.gov.audit, call, args)
		}}
}

// relayAudit is CALL dualgate.relay_audit(batch): a sidecar's records
// (gateway.DecodeAuditBatch), appended to the trail marked with who relayed
// them, and durable when the call returns (the sidecar then forgets them).
func relayAudit(ctx context.Context, trail *audit.Log, call gateway.CallInfo, args []any) (gateway.ProcedureResult, error) {
	batch, ok := args[0].(string)
	if !ok {
		return gateway.ProcedureResult{}, pgerror.New(pgerror.InvalidParameterValue, "dualgate.relay_audit takes the batch as text")
	}
	recs, err := gateway.DecodeAuditBatch(batch)
	if err != nil {
		return gateway.ProcedureResult{}, err
	}
	via := "relayed by " + call.User + " from " + call.ClientAddr
	for _, r := range recs {
		ar := auditRecord(r)
		ar.Via = via
		trail.Append(ar)
	}
	if err := trail.Flush(ctx); err != nil {
		return gateway.ProcedureResult{}, fmt.Errorf("audit relay: %w", err)
	}
	return gateway.ProcedureResult{Columns: relayColumns, Rows: [][]any{{int64(len(recs))}}}, nil
}

// relayColumns are dualgate.relay_audit's result: how many records it appended.
var relayColumns = []gateway.SystemColumn{{Name: "appended", OID: pgtypes.Int8}}

// closeGovernance writes the queued audit records and closes the trail.
func (c *Side) closeGovernance() {
	if c.gov != nil && c.gov.audit != nil {
		_ = c.gov.audit.Close()
	}
}

// AuditTrail is the audit log (nil before Open finished).
func (c *Side) AuditTrail() *audit.Log {
	if c.gov == nil {
		return nil
	}
	return c.gov.audit
}

// auditSink stores the gateway's audit records.
type auditSink struct{ log *audit.Log }

// Audit implements gateway.AuditSink.
func (a auditSink) Audit(r gateway.AuditRecord) { a.log.Append(auditRecord(r)) }

// auditRecord is the trail's form of a gateway record.
func auditRecord(r gateway.AuditRecord) audit.Record {
	return audit.Record{At: r.At, User: r.User, Role: r.Role, Application: r.ApplicationName, ClientAddr: r.ClientAddr,
		Fingerprint: r.Fingerprint, Statement: r.Statement, Relations: r.Relations, Authority: r.Authority, AsOf: r.AsOf,
		Rows: r.Rows, DurationMS: float64(r.Duration.Microseconds()) / 1000, SQLState: r.SQLState}
}

// auditTable is dualgate.audit: the whole trail, oldest first (readable
// only with the audit privilege, gateway/access.go). It flushes the
// writer first, so a session sees its own earlier statements.
func auditTable(l *audit.Log) gateway.SystemTable {
	return gateway.SystemTable{
		Name: "audit",
		Description: "DERIVED (non-authoritative): the audit trail, one record per statement that read or wrote, " +
			"append-only and hash-chained (CALL dualgate.verify_audit())",
		Columns: []gateway.SystemColumn{{Name: "seq", OID: pgtypes.Int8}, {Name: "at", OID: pgtypes.Timestamptz},
			{Name: "user_name", OID: pgtypes.Text}, {Name: "role", OID: pgtypes.Text}, {Name: "application_name", OID: pgtypes.Text},
			{Name: "client_addr", OID: pgtypes.Text}, {Name: "fingerprint", OID: pgtypes.Text}, {Name: "statement", OID: pgtypes.Text},
			{Name: "relations", OID: pgtypes.Text}, {Name: "authority", OID: pgtypes.Text}, {Name: "as_of", OID: pgtypes.Int8},
			{Name: "rows", OID: pgtypes.Int8}, {Name: "duration_ms", OID: pgtypes.Float8}, {Name: "sqlstate", OID: pgtypes.Text},
			{Name: "via", OID: pgtypes.Text}, {Name: "prev_hash", OID: pgtypes.Text}, {Name: "hash", OID: pgtypes.Text}},
		Rows: func(ctx context.Context) ([][]any, error) {
			if err := l.Flush(ctx); err != nil {
				return nil, err
			}
			var rows [][]any
			err := l.Scan(ctx, func(r audit.Record) bool {
				var authority any
				if r.Authority != "" {
					authority = r.Authority
				}
				var via any
				if r.Via != "" {
					via = r.Via
				}
				rows = append(rows, []any{int64(r.Seq), r.At, r.User, r.Role, r.Application, r.ClientAddr, r.Fingerprint, r.Statement,
					strings.Join(r.Relations, ", "), authority, int64(r.AsOf), r.Rows, r.DurationMS, r.SQLState, via, r.PrevHash, r.Hash})
				return true
			})
			return rows, err
		},
	}
}
