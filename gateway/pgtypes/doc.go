// Package pgtypes puts values on the Postgres wire for dualgate: type OIDs
// and pg_type facts (Size, Name, FormatType), the default Postgres type of a
// go-mysql-server (GMS) column (FromEngine, TypmodFromEngine), and a Codec
// that encodes values from GMS rows in Postgres text (0) and binary (1)
// formats and decodes Bind parameters and COPY fields into Go values GMS
// accepts.
//
// # Checked against PostgreSQL 15
//
// The tests start a throwaway PostgreSQL 15 server and compare bytes:
// TestMatchesPostgres (every scalar and array type in both formats, plus
// Decode round trips and PostgreSQL reading our binary back),
// TestTimestamptzZones (eight session time zones, DST gaps and overlaps,
// local mean time, BC), TestFloatDigits (extra_float_digits 1, 0, 2, 3,
// -3, -15), TestDecodeTextAgreesWithPostgres and
// TestDecodeBinaryAgreesWithPostgres (odd and invalid input: accepted by
// both with the same result, or refused by both, with the same SQLSTATE
// except where listed), TestCatalogFacts (typname, typlen, format_type).
//
// # Known differences from PostgreSQL
//
//   - Infinite dates and timestamps encode from the strings "infinity" and
//     "-infinity", but Decode refuses them (22008): time.Time has no
//     infinity and GMS has nowhere to keep one.
//   - Arrays are one-dimensional; multidimensional literals and binary
//     arrays are refused with 0A000. A binary array's lower bound is
//     ignored (PostgreSQL would print "[0:1]={...}").
//   - Date/time input covers ISO 8601 and PostgreSQL's ISO output,
//     MM/DD/YYYY (DateStyle MDY), YYYYMMDD, AM/PM, numeric offsets, Z/UTC/GMT
//     and IANA zone names; not time zone abbreviations (PST, CET), month
//     names, Julian dates or the relative words now/today (refused, 22007).
//     Output is DateStyle ISO; IntervalStyle postgres only.
//   - Interval input covers postgres, postgres_verbose, SQL-standard
//     (Y-M, D H:M:S) and ISO 8601 (P...) forms; an out-of-range field is
//     reported as 22007 where PostgreSQL says 22015. Fractions accumulate
//     in float64 beyond whole microseconds, so extreme fractional inputs
//     may differ in the last microsecond.
//   - json (114) from a string is sent unchanged; from a GMS document (which
//     keeps no original text) it is printed as jsonb would print it.
//     jsonb text is normalized exactly as jsonb_out does (key order by
//     length then bytes, ", " and ": ", numbers as numeric) when the input
//     is text; GMS documents hold numbers as float64, so digits beyond a
//     float64 are already lost in GMS. Unpaired UTF-16 surrogate escapes
//     become U+FFFD instead of an error.
//   - numeric takes its display scale from the decimal.Decimal exponent,
//     and bpchar is padded only when EncodeMod is given the typmod (GMS
//     strips CHAR padding).
//   - The Go NaN payload is normalized to PostgreSQL's (0x7ff8000000000000
//     and 0x7fc00000) in binary float output.
package pgtypes
