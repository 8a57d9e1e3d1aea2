package gateway_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dualgate/dualgate/gateway/pgtest"
	"github.com/dualgate/dualgate/gateway/sqlscript"
)

var (
	peerOnce sync.Once
	peer     *pgtest.Server
	peerErr  error
)

// postgresPeer starts (once per test binary) the PostgreSQL 15 that
// differential scripts are checked against.
func postgresPeer(t *testing.T) *pgtest.Server {
	peerOnce.Do(func() { peer, peerErr = pgtest.Start(context.Background(), pgtest.Options{}) })
	if peerErr != nil {
		t.Fatalf("PostgreSQL 15 peer for differential scripts: %v", peerErr)
	}
	return peer
}

func TestMain(m *testing.M) {
	code := m.Run()
	if peer != nil {
		peer.Stop()
	}
	os.Exit(code)
}

func TestSQLScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "sql", "*.slt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/sql: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".slt"), func(t *testing.T) {
			steps, differential := sqlscript.Parse(t, path)
			g := startGateway(t, nil)
			conn, err := pgconn.Connect(ctxT(t), g.dsn("script"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			sqlscript.Run(t, path, "dualgate", conn, steps, true)
			if !differential {
				return
			}
			srv := postgresPeer(t)
			db := "s_" + strings.ReplaceAll(strings.TrimSuffix(filepath.Base(path), ".slt"), "-", "_")
			admin, err := pgconn.Connect(ctxT(t), srv.DSN("postgres"))
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close(context.Background())
			for _, q := range []string{"DROP DATABASE IF EXISTS " + db, "CREATE DATABASE " + db} {
				if _, err := admin.Exec(ctxT(t), q).ReadAll(); err != nil {
					t.Fatal(err)
				}
			}
			pg, err := pgconn.Connect(ctxT(t), srv.DSN(db))
			if err != nil {
				t.Fatal(err)
			}
			defer pg.Close(context.Background())
			sqlscript.Run(t, path, "postgresql", pg, steps, false)
		})
	}
}
