package gateway_test

import (
	"database/sql"
	"reflect"
	"testing"
	"time"

	"github.com/lib/pq"
)

// TestLibPQRoundTrip is TestTypeRoundTrip and TestArrayRoundTrip through
// lib/pq, which sends parameters and reads results in text format: one
// value of every supported column type, a row of NULLs, and arrays
// (pq.Array) with NULL elements, an empty array and a NULL array.
func TestLibPQRoundTrip(t *testing.T) {
	g := startGateway(t, nil)
	db, err := sql.Open("postgres", g.dsn("tester"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := ctxT(t)
	if _, err := db.ExecContext(ctx, `CREATE TABLE everything (
		id int4 PRIMARY KEY, b bool, i2 int2, i8 int8, f4 float4, f8 float8, n numeric(12,3),
		s text, vc varchar(10), by bytea, d date, ts timestamp, tz timestamptz,
		iv interval, u uuid, j json, jb jsonb, tm time, bc char(5), o oid)`); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	day := time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	if _, err := db.ExecContext(ctx, `INSERT INTO everything VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)`,
		1, true, -7, int64(1)<<40, 1.5, 0.1, "-1234.567", "héllo", "short", []byte{0, 1, 254, 255}, day, ts, ts,
		"1 year 2 mons 3 days 04:05:06.789", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `{"a": 1}`, `{"k": ["x", true]}`,
		"13:14:15.25", "ab", 4242); err != nil {
		t.Fatalf("insert: %v", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO everything (id) VALUES ($1)`, 2); err != nil {
		t.Fatal(err)
	}

	var (
		id, i2, i8, o              int64
		b                          bool
		f4, f8                     float64
		n, s, vc, iv, u, j, jb, bc string
		by                         []byte
		d, tsv, tz, tm             time.Time
	)
	row := db.QueryRowContext(ctx, `SELECT * FROM everything WHERE id = $1`, 1)
	if err := row.Scan(&id, &b, &i2, &i8, &f4, &f8, &n, &s, &vc, &by, &d, &tsv, &tz, &iv, &u, &j, &jb, &tm, &bc, &o); err != nil {
		t.Fatalf("select: %v", err)
	}
	got := []any{id, b, i2, i8, f4, f8, n, s, vc, by, d.Format("2006-01-02"), tsv.Format("2006-01-02 15:04:05.999999"),
		tz.UTC(), iv, u, j, jb, tm.Format("15:04:05.999999"), bc, o}
	want := []any{int64(1), true, int64(-7), int64(1) << 40, 1.5, 0.1, "-1234.567", "héllo", "short", []byte{0, 1, 254, 255},
		"2024-02-29", "2024-02-29 13:14:15.123456", ts, "1 year 2 mons 3 days 04:05:06.789", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		`{"a": 1}`, `{"k": ["x", true]}`, "13:14:15.25", "ab   ", int64(4242)}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("column %d: got %#v, want %#v", i+1, got[i], want[i])
		}
	}

	// The row of NULLs: every column but id scans as NULL.
	rows, err := db.QueryContext(ctx, `SELECT * FROM everything WHERE id = 2`)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if !rows.Next() {
		t.Fatalf("no NULL row: %v", rows.Err())
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for i, v := range vals[1:] {
		if v != nil {
			t.Errorf("NULL column %s read back as %#v", cols[i+1], v)
		}
	}

	// Arrays (text[] results; see TestArrayRoundTrip), read with pq.Array
	// from lib/pq's text format: NULL elements, quoting, empty and NULL.
	if _, err := db.ExecContext(ctx, `CREATE TABLE words (id int4 PRIMARY KEY, w text)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO words VALUES ($1, $2), ($3, $4), ($5, $6)`, 1, "b", 2, nil, 3, `say "hi"`); err != nil {
		t.Fatal(err)
	}
	var split, ident, empty, null, agg []sql.NullString
	err = db.QueryRowContext(ctx, `SELECT string_to_array($1, ',', 'N'), parse_ident('"Mixed Case".Tbl'), string_to_array('', ','),
		string_to_array(NULL, ','), (SELECT array_agg(w ORDER BY id) FROM words)`, `plain,quo"te\,N,,x y,{z},NULL`).
		Scan(pq.Array(&split), pq.Array(&ident), pq.Array(&empty), pq.Array(&null), pq.Array(&agg))
	if err != nil {
		t.Fatalf("arrays: %v", err)
	}
	v := func(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
	for _, c := range []struct {
		name      string
		got, want []sql.NullString
	}{
		{"string_to_array", split, []sql.NullString{v("plain"), v(`quo"te\`), {}, v(""), v("x y"), v("{z}"), v("NULL")}},
		{"parse_ident", ident, []sql.NullString{v("Mixed Case"), v("tbl")}},
		{"empty", empty, []sql.NullString{}},
		{"NULL", null, nil},
		{"array_agg", agg, []sql.NullString{v("b"), {}, v(`say "hi"`)}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}
}
