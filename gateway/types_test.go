package gateway_test

import (
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// TestTypeRoundTrip writes one value of every supported column type
// through bind parameters and reads it back in binary (extended protocol)
// and text (simple protocol), with NULLs in a second row.
// TestArrayRoundTrip does the same for arrays, which are values only (no
// array columns); TestLibPQRoundTrip repeats both with lib/pq.
func TestTypeRoundTrip(t *testing.T) {
	g := startGateway(t, nil)
	c := g.connect(t)
	mustExec(t, c, `CREATE TABLE everything (
		id int4 PRIMARY KEY, b bool, i2 int2, i8 int8, f4 float4, f8 float8, n numeric(12,3),
		s text, vc varchar(10), by bytea, d date, ts timestamp, tz timestamptz,
		iv interval, u uuid, j json, jb jsonb, tm time, bc char(5), o oid)`)
	ts := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	num := pgtype.Numeric{Int: big.NewInt(-1234567), Exp: -3, Valid: true}
	iv := pgtype.Interval{Months: 14, Days: 3, Microseconds: 4*3600e6 + 5*60e6 + 6789000, Valid: true}
	u := pgtype.UUID{Bytes: [16]byte{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11}, Valid: true}
	tm := pgtype.Time{Microseconds: 13*3600e6 + 14*60e6 + 15e6 + 250000, Valid: true}
	in := []any{int32(1), true, int16(-7), int64(1) << 40, float32(1.5), 0.1, num,
		"héllo", "short", []byte{0, 1, 254, 255}, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), ts, ts,
		iv, u, map[string]any{"a": 1.0}, map[string]any{"k": []any{"x", true}}, tm, "ab", uint32(4242)}
	if _, err := c.Exec(ctxT(t), `INSERT INTO everything VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)`, in...); err != nil {
		t.Fatalf("insert with binary parameters: %v", err)
	}
	if _, err := c.Exec(ctxT(t), `INSERT INTO everything (id) VALUES (2)`); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		rows, err := c.Query(ctxT(t), `SELECT * FROM everything ORDER BY id`, mode)
		if err != nil {
			t.Fatalf("mode %v: %v", mode, err)
		}
		all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
		if err != nil {
			t.Fatalf("mode %v: %v", mode, err)
		}
		if len(all) != 2 {
			t.Fatalf("mode %v: %d rows", mode, len(all))
		}
		got := all[0]
		want := []any{int32(1), true, int16(-7), int64(1) << 40, float32(1.5), 0.1, num,
			"héllo", "short", []byte{0, 1, 254, 255}, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), ts, ts.Local(),
			iv, [16]byte(u.Bytes), map[string]any{"a": 1.0}, map[string]any{"k": []any{"x", true}},
			tm, "ab   ", uint32(4242)} // char(5) reads back blank-padded
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("mode %v column %d: got %#v, want %#v", mode, i+1, got[i], want[i])
			}
		}
		for i, v := range all[1][1:] {
			if v != nil {
				t.Errorf("mode %v: NULL column %d read back as %#v", mode, i+2, v)
			}
		}
	}
}

// TestArrayRoundTrip reads arrays of scalars in binary (extended
// protocol) and text (simple protocol): text[] results of
// string_to_array, parse_ident and array_agg, with NULL elements, elements
// that need quoting, an empty array and a NULL array. Arrays are results
// only: the dialect refuses array casts and ARRAY[...] (0A000), so no array
// parameter can be bound, and array_agg of any type answers text[]
// (gateway/dialect/NOTES.md).
func TestArrayRoundTrip(t *testing.T) {
	g := startGateway(t, nil)
	c := g.connect(t)
	mustExec(t, c, `CREATE TABLE words (id int4 PRIMARY KEY, w text)`,
		`INSERT INTO words VALUES (1, 'b'), (2, NULL), (3, 'say "hi"')`)
	s := func(v string) *string { return &v }
	want := [][]*string{
		{s("plain"), s(`quo"te\`), nil, s(""), s("x y"), s("{z}"), s("NULL")},
		{s("Mixed Case"), s("tbl")},
		{},
		nil,
		{s("b"), nil, s(`say "hi"`)},
	}
	q := `SELECT string_to_array($1, ',', 'N'), parse_ident('"Mixed Case".Tbl'), string_to_array('', ','),
		string_to_array(NULL, ','), (SELECT array_agg(w ORDER BY id) FROM words)`
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		got := make([][]*string, len(want))
		dst := make([]any, len(want))
		for i := range got {
			dst[i] = &got[i]
		}
		rows, err := c.Query(ctxT(t), q, mode, `plain,quo"te\,N,,x y,{z},NULL`)
		if err != nil {
			t.Fatalf("mode %v: %v", mode, err)
		}
		for i, f := range rows.FieldDescriptions() {
			if f.DataTypeOID != 1009 {
				t.Errorf("mode %v column %d: type %d, want text[] (1009)", mode, i+1, f.DataTypeOID)
			}
		}
		if !rows.Next() {
			t.Fatalf("mode %v: no row: %v", mode, rows.Err())
		}
		if err := rows.Scan(dst...); err != nil {
			t.Fatalf("mode %v: %v", mode, err)
		}
		rows.Close()
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("mode %v column %d: got %s, want %s", mode, i+1, deref(got[i]), deref(want[i]))
			}
		}
	}
}

// deref prints a slice of pointers by value, for failure messages.
func deref(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return fmt.Sprintf("%#v", v)
	}
	parts := make([]string, rv.Len())
	for i := range parts {
		e := rv.Index(i)
		if e.Kind() == reflect.Pointer {
			if e.IsNil() {
				parts[i] = "NULL"
				continue
			}
			e = e.Elem()
		}
		parts[i] = fmt.Sprintf("%#v", e.Interface())
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
