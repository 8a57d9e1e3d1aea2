package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/dualgate/dualgate/gateway/pgerror"
)

// Audit relay: a sidecar answers serving reads from Redis itself, so the
// primary never sees them; it relays their records to the primary's trail
// with CALL dualgate.relay_audit('<batch>'), where the batch is the JSON
// below. The wire form is its own (not the trail's storage form) so either
// can change without the other; field names are short because a busy
// sidecar sends many.

// MaxRelayBatch is the most records one relay call may carry.
const MaxRelayBatch = 1000

// relayRecord is one AuditRecord on the relay wire.
type relayRecord struct {
	At          time.Time `json:"at"`
	User        string    `json:"user"`
	Role        string    `json:"role,omitempty"`
	Application string    `json:"app,omitempty"`
	ClientAddr  string    `json:"addr,omitempty"`
	Fingerprint string    `json:"fp,omitempty"`
	Statement   string    `json:"stmt"`
	Relations   []string  `json:"rels,omitempty"`
	Authority   string    `json:"auth,omitempty"`
	AsOf        uint64    `json:"as_of,omitempty"`
	Rows        int64     `json:"rows,omitempty"`
	DurationUS  int64     `json:"us,omitempty"`
	SQLState    string    `json:"state"`
}

// EncodeAuditBatch is the relay form of records (at most MaxRelayBatch).
func EncodeAuditBatch(records []AuditRecord) (string, error) {
	if len(records) > MaxRelayBatch {
		return "", fmt.Errorf("audit relay: %d records in one batch, at most %d", len(records), MaxRelayBatch)
	}
	out := make([]relayRecord, len(records))
	for i, r := range records {
		out[i] = relayRecord{At: r.At.UTC(), User: r.User, Role: r.Role, Application: r.ApplicationName, ClientAddr: r.ClientAddr,
			Fingerprint: r.Fingerprint, Statement: r.Statement, Relations: r.Relations, Authority: r.Authority, AsOf: r.AsOf,
			Rows: r.Rows, DurationUS: r.Duration.Microseconds(), SQLState: r.SQLState}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// DecodeAuditBatch reads a relay batch, refusing (22023, naming the
// record) what a sidecar's gateway would not have written: no time or
// user, a SQLSTATE that is not five characters, a negative duration or
// row count, an authority other than authoritative/derived, more than
// MaxRelayBatch records.
func DecodeAuditBatch(batch string) ([]AuditRecord, error) {
	var in []relayRecord
	dec := json.NewDecoder(strings.NewReader(batch))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, pgerror.New(pgerror.InvalidParameterValue, "audit relay batch is not a JSON array of records: %v", err)
	}
	if dec.More() {
		return nil, pgerror.New(pgerror.InvalidParameterValue, "audit relay batch: text after the JSON array")
	}
	if len(in) > MaxRelayBatch {
		return nil, pgerror.New(pgerror.InvalidParameterValue, "audit relay batch of %d records; send at most %d per call", len(in), MaxRelayBatch)
	}
	out := make([]AuditRecord, len(in))
	for i, r := range in {
		bad := ""
		switch {
		case r.At.IsZero():
			bad = "no time (at)"
		case r.User == "":
			bad = "no user"
		case len(r.SQLState) != 5:
			bad = fmt.Sprintf("a state %q that is not a SQLSTATE", r.SQLState)
		case r.DurationUS < 0 || r.Rows < 0:
			bad = "a negative duration or row count"
		case r.Authority != "" && r.Authority != "authoritative" && r.Authority != "derived":
			bad = fmt.Sprintf("an authority %q (not authoritative, derived or empty)", r.Authority)
		}
		if bad != "" {
			return nil, pgerror.New(pgerror.InvalidParameterValue, "audit relay batch: record %d has %s; nothing was appended", i+1, bad)
		}
		out[i] = AuditRecord{At: r.At, User: r.User, Role: r.Role, ApplicationName: r.Application, ClientAddr: r.ClientAddr,
			Fingerprint: r.Fingerprint, Statement: r.Statement, Relations: r.Relations, Authority: r.Authority, AsOf: r.AsOf,
			Rows: r.Rows, Duration: time.Duration(r.DurationUS) * time.Microsecond, SQLState: r.SQLState}
	}
	return out, nil
}
