package primary

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/catalog"
	"github.com/dualgate/dualgate/gateway"
)

// governance is the primary's access control and audit trail: the
// catalog's policies enforced by the gateway (gateway.Access) and the
// durable dualgate.audit.
type governance struct {
	access *gateway.Access
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

func openGovernance(_ context.Context, dataDir string, cat *catalog.Catalog, _ zerolog.Logger) (*governance, error) {
	dir := filepath.Join(dataDir, "governance")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("governance directory: %w", err)
	}
	key, err := maskKey(filepath.Join(dir, "mask.key"))
	if err != nil {
		return nil, err
	}
	return &governance{access: gateway.NewAccess(cat, key)}, nil
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

// configureGovernance points cfg at the access policy and audit trail.
func (c *Side) configureGovernance(cfg *gateway.Config) {
	if c.gov == nil {
		return
	}
	cfg.Access = c.gov.access
}

// closeGovernance closes the audit trail.
func (c *Side) closeGovernance() {}
