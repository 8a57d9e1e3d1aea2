package dialect

import (
	"testing"

	"github.com/dualgate/dualgate/gateway/pgerror"
)

// FuzzParse checks that no input panics and that every error is a
// *pgerror.Error.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`SELECT 1`, `select a, b from s.t where x ilike $1 order by 2 desc nulls last limit 3`,
		`insert into t (a) values (1) on conflict (a) do update set a = excluded.a`,
		`COPY t FROM STDIN WITH (FORMAT csv, HEADER)`, `SET search_path = a, b; SHOW ALL`,
		`with recursive r(n) as (select 1 union all select n+1 from r) select * from r`,
		`select distinct on (a) a from t order by a, b`, `create table t (id serial primary key, x numeric(5,2))`,
		`select 'a''b\c', e'\x41', b'101', x'ff'`, ``, `;;`, `select`, `select $0, $999999`, `select - -1, -x`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		_, err := Parse(sql)
		if err != nil {
			pe, ok := err.(*pgerror.Error)
			if !ok {
				t.Fatalf("%q: error %T %v", sql, err, err)
			}
			if pe.Code == pgerror.InternalError {
				t.Fatalf("%q: %v", sql, pe)
			}
		}
	})
}
