package dialect

import (
	"strings"
	"testing"
)

func TestSubstitute(t *testing.T) {
	defs := map[string]string{"serving.p": "SELECT o.id, o.status FROM canonical.orders o WHERE o.status <> 'x'"}
	for _, tc := range []struct{ in, schema, want, err string }{
		{in: "SELECT id FROM serving.p WHERE id = $1", schema: "public",
			want: "SELECT id FROM (SELECT o.id, o.status FROM canonical.orders o WHERE o.status <> 'x') p WHERE id = $1"},
		{in: "SELECT t.status FROM serving.p AS t JOIN canonical.orders c USING (id)", schema: "public",
			want: "SELECT t.status FROM (SELECT o.id, o.status FROM canonical.orders o WHERE o.status <> 'x') t JOIN canonical.orders c USING (id)"},
		{in: "SELECT serving.p.id FROM serving.p", schema: "public",
			want: "SELECT p.id FROM (SELECT o.id, o.status FROM canonical.orders o WHERE o.status <> 'x') p"},
		// unqualified: only in the serving schema, never a CTE's name
		{in: "SELECT count(*) FROM p", schema: "serving",
			want: "SELECT count(*) FROM (SELECT o.id, o.status FROM canonical.orders o WHERE o.status <> 'x') p"},
		{in: "WITH p AS (SELECT 1 AS id) SELECT id FROM p", schema: "serving", err: "none of the relations"},
		{in: "SELECT id FROM p", schema: "public", err: "none of the relations"},
		// subqueries and the string 'serving.p' are left alone but for the relation
		{in: "SELECT 'serving.p' AS s, (SELECT max(id) FROM serving.p) m", schema: "public",
			want: "SELECT 'serving.p' AS s, (SELECT max(id) FROM (SELECT o.id, o.status FROM canonical.orders o WHERE o.status <> 'x') p) AS m"},
		// the target of a write is never replaced
		{in: "INSERT INTO serving.q SELECT * FROM serving.p", schema: "public",
			want: "INSERT INTO serving.q SELECT * FROM (SELECT o.id, o.status FROM canonical.orders o WHERE o.status <> 'x') p"},
		{in: "SELECT * FROM serving.p AS OF 3", schema: "public", err: "time travel"},
	} {
		got, err := Substitute(tc.in, tc.schema, defs)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, tc.want)
		}
		if _, err := Parse(got); err != nil {
			t.Errorf("%s: substituted text does not translate: %v", got, err)
		}
	}
}
