package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestCallResultsInBothProtocols: a CALL's result row reaches the client
// the same over the simple protocol (psql) and the extended one (pgx's
// default, JDBC, ...), where Describe must report the columns before the
// procedure runs and Execute sends the row in the formats Bind asked for
// (pgx asks for binary int8 and bool).
func TestCallResultsInBothProtocols(t *testing.T) {
	addr := startPrimary(t, "")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, "postgres://auditor@"+addr+"/dualgate?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	type verified struct {
		ok       bool
		commits  int64
		versions int64
		head     string
	}
	var got [2]verified
	for i, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		v := &got[i]
		if err := conn.QueryRow(ctx, `CALL dualgate.verify()`, mode).Scan(&v.ok, &v.commits, &v.versions, &v.head); err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if !v.ok || len(v.head) != 64 {
			t.Fatalf("%v: %+v", mode, *v)
		}
	}
	if got[0] != got[1] {
		t.Fatalf("simple protocol %+v, extended %+v", got[0], got[1])
	}
	// The extended protocol's Describe names the columns.
	rows, err := conn.Query(ctx, `CALL dualgate.verify_audit()`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range rows.FieldDescriptions() {
		names = append(names, f.Name)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if rows.Err() != nil || n != 1 || len(names) != 3 || names[0] != "ok" || names[2] != "head_hash" {
		t.Fatalf("verify_audit over the extended protocol: %d rows, columns %v, %v", n, names, rows.Err())
	}
	// A procedure without a result (dualgate.rebuild) describes none and
	// still completes.
	if _, err := conn.Exec(ctx, `CALL dualgate.rebuild('order_timeline')`); err != nil {
		t.Fatal(err)
	}
}
