package catalog

import (
	"fmt"
	"strings"
	"testing"
)

// SQL positions are translated to file positions whatever the YAML scalar style.
func TestSQLPositionsInScalarStyles(t *testing.T) {
	styles := map[string]string{
		"plain":         "    select: SELECT o.order_id, o.status FROM canonical.nope o\n",
		"plain folded":  "    select: SELECT o.order_id,\n      o.status\n      FROM canonical.nope o\n",
		"double quoted": "    select: \"SELECT o.order_id,\\t o.status FROM canonical.nope o\"\n",
		"single quoted": "    select: 'SELECT o.order_id, o.status, ''x'' AS x FROM canonical.nope o'\n",
		"literal":       "    select: |\n      SELECT o.order_id,\n             o.status\n      FROM canonical.nope o\n",
		"literal strip": "    select: |-\n        SELECT o.order_id, o.status\n        FROM canonical.nope o\n",
		"folded":        "    select: >\n      SELECT o.order_id, o.status\n      FROM\n      canonical.nope o\n",
	}
	for name, sel := range styles {
		t.Run(name, func(t *testing.T) {
			src := strings.Replace(base, "    select: SELECT o.order_id, o.status FROM canonical.orders o\n", sel, 1)
			if src == base {
				t.Fatal("edit failed")
			}
			_, errs := loadString(t, src)
			var found *Error
			for _, e := range errs {
				if strings.Contains(e.Msg, "reads unknown entity canonical.nope") {
					found = e
				}
			}
			if found == nil {
				t.Fatalf("no unknown-entity error in:\n%v", errs)
			}
			want := markerPos(t, src, "canonical.nope", 1)
			if got := fmt.Sprintf("%d:%d", found.Pos.Line, found.Pos.Col); got != want {
				t.Errorf("at %s, want %s", got, want)
			}
		})
	}
}
