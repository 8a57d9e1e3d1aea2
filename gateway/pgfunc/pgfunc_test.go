package pgfunc

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestToCharNumber(t *testing.T) {
	cases := []struct {
		v, f, want string
	}{
		{"1234.5", "FM9999.00", "1234.50"},
		{"1234.5", "9999.99", " 1234.50"},
		{"-12.345", "999.99", " -12.35"},
		{"0.5", "9.99", "  .50"},
		{"0.5", "0.99", " 0.50"},
		{"12345", "999", "####"},
		{"1234567", "9,999,999", " 1,234,567"},
		{"42", "FM999", "42"},
	}
	for _, c := range cases {
		got := toCharNumber(decimal.RequireFromString(c.v), c.f)
		if got != c.want {
			t.Errorf("to_char(%s, %q) = %q, want %q", c.v, c.f, got, c.want)
		}
	}
}

func TestToCharTime(t *testing.T) {
	ts := time.Date(2024, 3, 9, 7, 5, 4, 123456000, time.UTC)
	cases := []struct{ f, want string }{
		{"YYYY-MM-DD HH24:MI:SS", "2024-03-09 07:05:04"},
		{"HH12:MI AM", "07:05 AM"},
		{"Mon DD, YYYY", "Mar 09, 2024"},
		{"FMMonth FMDD", "March 9"},
		{"Month|", "March    |"},
		{"DAY dy", "SATURDAY  sat"},
		{"MS US", "123 123456"},
		{`"Q"Q DDD IW`, "Q1 069 10"},
	}
	for _, c := range cases {
		if got := toCharTime(ts, c.f); got != c.want {
			t.Errorf("to_char(ts, %q) = %q, want %q", c.f, got, c.want)
		}
	}
}
