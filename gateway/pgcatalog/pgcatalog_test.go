package pgcatalog

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dualgate/dualgate/gateway/pgtypes"
)

// sample is a snapshot with a composite key, a unique index, a foreign
// key, defaults and comments in authoritative and derived schemas.
func sample() *Snapshot {
	return &Snapshot{
		Database: "dualgate", User: "alice",
		Schemas: []Schema{{Name: "pg_catalog"}, {Name: "public"}, {Name: "canonical", Comment: "AUTHORITATIVE: entities"}, {Name: "serving"}},
		Relations: []Relation{
			{Schema: "canonical", Name: "orders", OID: 20001, Kind: 'r',
				Columns: []Column{
					{Name: "order_id", Type: pgtypes.Text, Typmod: -1, NotNull: true},
					{Name: "customer_id", Type: pgtypes.Int8, Typmod: -1},
					{Name: "total", Type: pgtypes.Numeric, Typmod: (12<<16 | 2) + 4, Comment: "in euros"},
					{Name: "status", Type: pgtypes.Varchar, Typmod: 24, Default: "'new'"},
				},
				Indexes: []Index{{Name: "orders_pkey", Columns: []int{1}, Primary: true, Unique: true}, {Name: "by_status", Columns: []int{4, 2}, Unique: true}},
				Foreign: []ForeignKey{{Name: "orders_customer_fk", Columns: []int{2}, RefSchema: "canonical", RefTable: "customers", RefColumns: []string{"id"}, OnDelete: "CASCADE"}},
			},
			{Schema: "canonical", Name: "customers", OID: 20002, Kind: 'r', Comment: "Customers of record",
				Columns: []Column{{Name: "id", Type: pgtypes.Int8, Typmod: -1, NotNull: true}},
				Indexes: []Index{{Name: "customers_pkey", Columns: []int{1}, Primary: true, Unique: true}}},
			{Schema: "serving", Name: "daily", OID: 20003, Kind: 'r',
				Columns: []Column{{Name: "day", Type: pgtypes.Date, Typmod: -1}, {Name: "n", Type: pgtypes.Int4, Typmod: -1}}},
			{Schema: "public", Name: "v", OID: 20004, Kind: 'v', ViewDef: "SELECT 1"},
		},
		Settings: []Setting{{Name: "search_path", Value: `"$user", public`}, {Name: "server_version_num", Value: "150000"}},
	}
}

// goType is the Go type a value of a catalog column must have.
func goType(oid uint32) string {
	switch oid {
	case pgtypes.OID, pgtypes.Int8:
		return "int64"
	case pgtypes.Int4:
		return "int32"
	case pgtypes.Int2:
		return "int16"
	case pgtypes.Float4:
		return "float32"
	case pgtypes.Bool:
		return "bool"
	case pgtypes.Timestamptz:
		return "time.Time"
	}
	return "string"
}

func TestTableRowsMatchColumns(t *testing.T) {
	s := sample()
	check := func(schema string, tables []Table) {
		seen := map[string]bool{}
		for _, tb := range tables {
			if seen[tb.Name] {
				t.Errorf("%s.%s defined twice", schema, tb.Name)
			}
			seen[tb.Name] = true
			for i, row := range tb.Rows(s) {
				if len(row) != len(tb.Columns) {
					t.Fatalf("%s.%s row %d: %d values for %d columns", schema, tb.Name, i, len(row), len(tb.Columns))
				}
				for j, v := range row {
					if v == nil {
						continue
					}
					if got, want := reflect.TypeOf(v).String(), goType(tb.Columns[j].Type); got != want {
						t.Errorf("%s.%s.%s: value %v is %s, want %s", schema, tb.Name, tb.Columns[j].Name, v, got, want)
					}
				}
			}
		}
	}
	check("pg_catalog", Tables())
	check("information_schema", InformationSchema())
}

func rowsOf(t *testing.T, tables []Table, name string, s *Snapshot) []map[string]any {
	t.Helper()
	for _, tb := range tables {
		if tb.Name == name {
			var out []map[string]any
			for _, r := range tb.Rows(s) {
				m := map[string]any{}
				for i, c := range tb.Columns {
					m[c.Name] = r[i]
				}
				out = append(out, m)
			}
			return out
		}
	}
	t.Fatalf("no table %s", name)
	return nil
}

func TestPgClassAndIndexes(t *testing.T) {
	s := sample()
	classes := rowsOf(t, Tables(), "pg_class", s)
	byName := map[string]map[string]any{}
	for _, c := range classes {
		byName[c["relname"].(string)] = c
	}
	o := byName["orders"]
	if o["oid"] != int64(20001) || o["relkind"] != "r" || o["relnamespace"] != int64(NamespaceOID("canonical")) || o["relnatts"] != int16(4) || o["relhasindex"] != true {
		t.Errorf("pg_class orders = %v", o)
	}
	if byName["v"]["relkind"] != "v" || byName["orders_pkey"]["relkind"] != "i" || byName["by_status"]["relam"] != int64(BtreeAM) {
		t.Errorf("kinds: v=%v pkey=%v", byName["v"], byName["orders_pkey"])
	}
	idx := rowsOf(t, Tables(), "pg_index", s)
	var found bool
	for _, r := range idx {
		if r["indexrelid"] == byName["by_status"]["oid"] {
			found = true
			if r["indkey"] != "4 2" || r["indisunique"] != true || r["indisprimary"] != false || r["indrelid"] != int64(20001) {
				t.Errorf("pg_index by_status = %v", r)
			}
		}
	}
	if !found {
		t.Error("pg_index has no by_status")
	}
	rel := s.RelationByName("canonical", "orders")
	if got := IndexDef(rel, &rel.Indexes[1], 0); got != "CREATE UNIQUE INDEX by_status ON canonical.orders USING btree (status, customer_id)" {
		t.Errorf("IndexDef = %q", got)
	}
}

func TestConstraints(t *testing.T) {
	s := sample()
	cons := rowsOf(t, Tables(), "pg_constraint", s)
	types := map[string]string{}
	for _, c := range cons {
		types[c["conname"].(string)] = c["contype"].(string)
		if c["conname"] == "orders_customer_fk" {
			if c["conkey"] != "{2}" || c["confkey"] != "{1}" || c["confrelid"] != int64(20002) || c["confdeltype"] != "c" {
				t.Errorf("fk row = %v", c)
			}
			def, ok := ConstraintDef(s, uint32(c["oid"].(int64)))
			if !ok || def != "FOREIGN KEY (customer_id) REFERENCES canonical.customers(id) ON DELETE CASCADE" {
				t.Errorf("fk def = %q", def)
			}
		}
		if c["conname"] == "orders_pkey" {
			if def, _ := ConstraintDef(s, uint32(c["oid"].(int64))); def != "PRIMARY KEY (order_id)" {
				t.Errorf("pk def = %q", def)
			}
		}
	}
	want := map[string]string{"orders_pkey": "p", "by_status": "u", "orders_customer_fk": "f", "customers_pkey": "p"}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("constraints = %v, want %v", types, want)
	}
	kcu := rowsOf(t, InformationSchema(), "key_column_usage", s)
	var cols []string
	for _, r := range kcu {
		if r["constraint_name"] == "by_status" {
			cols = append(cols, r["column_name"].(string))
		}
	}
	if !reflect.DeepEqual(cols, []string{"status", "customer_id"}) {
		t.Errorf("key_column_usage by_status = %v", cols)
	}
	rc := rowsOf(t, InformationSchema(), "referential_constraints", s)
	if len(rc) != 1 || rc[0]["unique_constraint_name"] != "customers_pkey" || rc[0]["delete_rule"] != "CASCADE" || rc[0]["update_rule"] != "NO ACTION" {
		t.Errorf("referential_constraints = %v", rc)
	}
}

func TestDescriptionsCarryLabels(t *testing.T) {
	s := sample()
	for _, tc := range []struct {
		oid  uint32
		sub  int
		want string
	}{
		{20001, 0, "AUTHORITATIVE: canonical.orders (table of record in the canonical store)"},
		{20002, 0, "AUTHORITATIVE: Customers of record"},
		{20003, 0, "DERIVED (non-authoritative): serving.daily (table not in canonical, history or diff)"},
		{20001, 3, "in euros"},
	} {
		if got := s.Description(tc.oid, "pg_class", tc.sub); got != tc.want {
			t.Errorf("Description(%d, %d) = %v, want %q", tc.oid, tc.sub, got, tc.want)
		}
	}
	if got := s.Description(20001, "pg_class", 1); got != nil {
		t.Errorf("column without comment: %v", got)
	}
	if got := s.Description(NamespaceOID("canonical"), "pg_namespace", 0); got != "AUTHORITATIVE: entities" {
		t.Errorf("schema comment = %v", got)
	}
	descs := rowsOf(t, Tables(), "pg_description", s)
	n := 0
	for _, d := range descs {
		if d["objsubid"] == int32(0) && d["classoid"] == int64(PgClassOID) {
			n++
		}
	}
	if n != len(s.Relations) {
		t.Errorf("pg_description has %d relation comments, want one per relation (%d)", n, len(s.Relations))
	}
}

func TestTypes(t *testing.T) {
	for _, tc := range []struct {
		oid    uint32
		typmod int32
		want   string
	}{
		{pgtypes.Int4, -1, "integer"}, {pgtypes.Varchar, 24, "character varying(20)"}, {pgtypes.Numeric, (12<<16 | 2) + 4, "numeric(12,2)"},
		{pgtypes.TextArray, -1, "text[]"}, {pgtypes.Timestamptz, -1, "timestamp with time zone"}, {OIDVector, -1, "oidvector"},
		{pgtypes.Char, -1, `"char"`}, {ACLItemArr, -1, "aclitem[]"}, {99999, -1, "???"},
	} {
		if got := FormatType(tc.oid, tc.typmod); got != tc.want {
			t.Errorf("FormatType(%d, %d) = %q, want %q", tc.oid, tc.typmod, got, tc.want)
		}
	}
	// every wire type and every catalog column type has a pg_type row,
	// and array links go both ways
	for oid := uint32(1); oid < 5000; oid++ {
		if pgtypes.Known(oid) {
			if _, ok := LookupType(oid); !ok {
				t.Errorf("pg_type lacks wire type %d", oid)
			}
		}
	}
	for _, tb := range append(Tables(), InformationSchema()...) {
		for _, c := range tb.Columns {
			if _, ok := LookupType(c.Type); !ok {
				t.Errorf("%s.%s: type %d not in pg_type", tb.Name, c.Name, c.Type)
			}
		}
	}
	for _, ty := range Types() {
		if ty.Array != 0 {
			a, ok := LookupType(ty.Array)
			if !ok || a.Elem != ty.OID {
				t.Errorf("type %s: array %d does not point back (%v)", ty.Name, ty.Array, a)
			}
		}
	}
	i4, _ := LookupType(pgtypes.Int4)
	if i4.Name != "int4" || i4.Array != pgtypes.Int4Array || i4.Len != 4 || !i4.ByVal || i4.Category != 'N' {
		t.Errorf("int4 = %+v", i4)
	}
}

func TestVisibilityAndRegclass(t *testing.T) {
	s := sample()
	if !s.Visible("public", "v") || s.Visible("canonical", "orders") || !s.Visible("pg_catalog", "pg_class") {
		t.Error("visibility follows search_path (pg_catalog, $user, public)")
	}
	if got := s.ResolveRelation("canonical.orders"); got != 20001 {
		t.Errorf("ResolveRelation(canonical.orders) = %d", got)
	}
	if got := s.ResolveRelation(`"v"`); got != 20004 {
		t.Errorf(`ResolveRelation("v") = %d`, got)
	}
	if got := s.ResolveRelation("orders"); got != 0 {
		t.Errorf("orders is not on the search path, got %d", got)
	}
	if got := s.RegclassOut(20001); got != "canonical.orders" {
		t.Errorf("RegclassOut = %q", got)
	}
	if got := s.RegclassOut(20004); got != "v" {
		t.Errorf("RegclassOut = %q", got)
	}
}

func TestQuoteIdentAndArrays(t *testing.T) {
	for in, want := range map[string]string{"orders": "orders", "Orders": `"Orders"`, "select": `"select"`, "a b": `"a b"`, `x"y`: `"x""y"`, "_x1": "_x1", "1x": `"1x"`} {
		if got := QuoteIdent(in); got != want {
			t.Errorf("QuoteIdent(%q) = %q, want %q", in, got, want)
		}
	}
	elems, ok := ParseArray(`{a,"b c",NULL,"NULL", d }`)
	if !ok || len(elems) != 5 || *elems[0] != "a" || *elems[1] != "b c" || elems[2] != nil || *elems[3] != "NULL" || *elems[4] != "d" {
		t.Errorf("ParseArray = %v %v", elems, ok)
	}
	if e, ok := ParseArray("{}"); !ok || len(e) != 0 {
		t.Error("empty array")
	}
	if e, ok := ParseArray("1 3"); !ok || len(e) != 2 || *e[1] != "3" {
		t.Error("int2vector text")
	}
	if !IsCatalogRelation("PG_CLASS") || IsCatalogRelation("orders") {
		t.Error("IsCatalogRelation")
	}
	if _, ok := ParseArray("nope"); ok {
		t.Error("accepted a non-array")
	}
	if got := SizePretty(123456789); got != "118 MB" {
		t.Errorf("SizePretty = %q", got)
	}
}

func TestInformationSchemaColumns(t *testing.T) {
	s := sample()
	var got []string
	for _, r := range rowsOf(t, InformationSchema(), "columns", s) {
		if r["table_name"] == "orders" {
			got = append(got, strings.Join([]string{r["column_name"].(string), r["data_type"].(string), r["is_nullable"].(string), r["udt_name"].(string)}, ":"))
			if r["column_name"] == "total" && (r["numeric_precision"] != int32(12) || r["numeric_scale"] != int32(2)) {
				t.Errorf("numeric facets = %v", r)
			}
			if r["column_name"] == "status" && (r["character_maximum_length"] != int32(20) || r["column_default"] != "'new'") {
				t.Errorf("varchar facets = %v", r)
			}
		}
	}
	want := []string{"order_id:text:NO:text", "customer_id:bigint:YES:int8", "total:numeric:YES:numeric", "status:character varying:YES:varchar"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("columns = %v, want %v", got, want)
	}
}
