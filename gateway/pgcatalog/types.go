package pgcatalog

import (
	"sort"
	"strings"

	"github.com/dualgate/dualgate/gateway/pgtypes"
)

// Catalog-only type OIDs: the types of pg_catalog columns that dualgate's
// value codec does not otherwise use. They travel as text.
const (
	Int2Vector uint32 = 22
	RegProc    uint32 = 24
	XID        uint32 = pgtypes.XID
	OIDVector  uint32 = 30
	PgNodeTree uint32 = 194
	ACLItem    uint32 = 1033
	ACLItemArr uint32 = 1034
	CharArray  uint32 = 1002
	NameArray  uint32 = 1003
	Int2Array  uint32 = pgtypes.Int2Array
	RegClass   uint32 = 2205
	RegType    uint32 = 2206
	Void       uint32 = 2278 // the result type of a procedure
)

// TypeInfo is one pg_type row's essentials.
type TypeInfo struct {
	OID       uint32
	Name      string // typname
	Format    string // format_type without modifier
	Len       int16
	ByVal     bool
	Category  byte // typcategory
	Preferred bool
	Elem      uint32 // element type of an array
	Array     uint32 // array type of this type
	Align     byte
	Storage   byte
	Collation uint32
}

// extraTypes are pg_type rows beyond pgtypes' wire types: catalog column
// types and PostgreSQL's array types of the scalar types dualgate has.
var extraTypes = []TypeInfo{
	{OID: Int2Vector, Name: "int2vector", Format: "int2vector", Len: -1, Category: 'A', Elem: pgtypes.Int2, Align: 'i', Storage: 'p'},
	{OID: RegProc, Name: "regproc", Format: "regproc", Len: 4, ByVal: true, Category: 'N', Align: 'i', Storage: 'p'},
	{OID: XID, Name: "xid", Format: "xid", Len: 4, ByVal: true, Category: 'U', Align: 'i', Storage: 'p'},
	{OID: OIDVector, Name: "oidvector", Format: "oidvector", Len: -1, Category: 'A', Elem: pgtypes.OID, Align: 'i', Storage: 'p'},
	{OID: PgNodeTree, Name: "pg_node_tree", Format: "pg_node_tree", Len: -1, Category: 'Z', Align: 'i', Storage: 'x', Collation: DefaultCollation},
	{OID: ACLItem, Name: "aclitem", Format: "aclitem", Len: 12, Category: 'U', Align: 'i', Storage: 'p', Array: ACLItemArr},
	{OID: ACLItemArr, Name: "_aclitem", Format: "aclitem[]", Len: -1, Category: 'A', Elem: ACLItem, Align: 'i', Storage: 'x'},
	{OID: CharArray, Name: "_char", Format: `"char"[]`, Len: -1, Category: 'A', Elem: pgtypes.Char, Align: 'i', Storage: 'x'},
	{OID: NameArray, Name: "_name", Format: "name[]", Len: -1, Category: 'A', Elem: pgtypes.NameOID, Align: 'i', Storage: 'x', Collation: CCollation},
	{OID: RegClass, Name: "regclass", Format: "regclass", Len: 4, ByVal: true, Category: 'N', Align: 'i', Storage: 'p'},
	{OID: RegType, Name: "regtype", Format: "regtype", Len: 4, ByVal: true, Category: 'N', Align: 'i', Storage: 'p'},
	{OID: Void, Name: "void", Format: "void", Len: 4, ByVal: true, Category: 'P', Align: 'i', Storage: 'p'},
	{OID: 1001, Name: "_bytea", Format: "bytea[]", Len: -1, Category: 'A', Elem: pgtypes.Bytea, Align: 'i', Storage: 'x'},
	{OID: 1014, Name: "_bpchar", Format: "character[]", Len: -1, Category: 'A', Elem: pgtypes.Bpchar, Align: 'i', Storage: 'x', Collation: DefaultCollation},
	{OID: 1182, Name: "_date", Format: "date[]", Len: -1, Category: 'A', Elem: pgtypes.Date, Align: 'i', Storage: 'x'},
	{OID: 1183, Name: "_time", Format: "time without time zone[]", Len: -1, Category: 'A', Elem: pgtypes.Time, Align: 'd', Storage: 'x'},
	{OID: 1115, Name: "_timestamp", Format: "timestamp without time zone[]", Len: -1, Category: 'A', Elem: pgtypes.Timestamp, Align: 'd', Storage: 'x'},
	{OID: 1185, Name: "_timestamptz", Format: "timestamp with time zone[]", Len: -1, Category: 'A', Elem: pgtypes.Timestamptz, Align: 'd', Storage: 'x'},
	{OID: 1187, Name: "_interval", Format: "interval[]", Len: -1, Category: 'A', Elem: pgtypes.Interval, Align: 'd', Storage: 'x'},
	{OID: 2951, Name: "_uuid", Format: "uuid[]", Len: -1, Category: 'A', Elem: pgtypes.UUID, Align: 'i', Storage: 'x'},
	{OID: 199, Name: "_json", Format: "json[]", Len: -1, Category: 'A', Elem: pgtypes.JSON, Align: 'i', Storage: 'x'},
	{OID: 3807, Name: "_jsonb", Format: "jsonb[]", Len: -1, Category: 'A', Elem: pgtypes.JSONB, Align: 'i', Storage: 'x'},
}

// scalarAttrs are pg_type details of pgtypes' scalar types: category,
// preferred, by-value, alignment, storage.
var scalarAttrs = map[uint32]struct {
	cat       byte
	preferred bool
	byVal     bool
	align     byte
	storage   byte
}{
	pgtypes.Bool:        {'B', true, true, 'c', 'p'},
	pgtypes.Bytea:       {'U', false, false, 'i', 'x'},
	pgtypes.Char:        {'Z', false, true, 'c', 'p'},
	pgtypes.NameOID:     {'S', false, false, 'c', 'p'},
	pgtypes.Int8:        {'N', false, true, 'd', 'p'},
	pgtypes.Int2:        {'N', false, true, 's', 'p'},
	pgtypes.Int4:        {'N', false, true, 'i', 'p'},
	pgtypes.Text:        {'S', true, false, 'i', 'x'},
	pgtypes.OID:         {'N', true, true, 'i', 'p'},
	pgtypes.JSON:        {'U', false, false, 'i', 'x'},
	pgtypes.Float4:      {'N', false, true, 'i', 'p'},
	pgtypes.Float8:      {'N', true, true, 'd', 'p'},
	pgtypes.Unknown:     {'X', false, false, 'c', 'p'},
	pgtypes.Bpchar:      {'S', false, false, 'i', 'x'},
	pgtypes.Varchar:     {'S', false, false, 'i', 'x'},
	pgtypes.Date:        {'D', false, true, 'i', 'p'},
	pgtypes.Time:        {'D', false, true, 'd', 'p'},
	pgtypes.Timestamp:   {'D', false, true, 'd', 'p'},
	pgtypes.Timestamptz: {'D', true, true, 'd', 'p'},
	pgtypes.Interval:    {'T', true, false, 'd', 'p'},
	pgtypes.Numeric:     {'N', false, false, 'i', 'm'},
	pgtypes.UUID:        {'U', false, false, 'c', 'p'},
	pgtypes.JSONB:       {'U', false, false, 'i', 'x'},
}

// allTypes is every pg_type row, by oid.
var allTypes = func() []TypeInfo {
	byOID := map[uint32]TypeInfo{}
	for oid := uint32(1); oid < 5000; oid++ {
		if !pgtypes.Known(oid) {
			continue
		}
		t := TypeInfo{OID: oid, Name: pgtypes.Name(oid), Format: pgtypes.FormatType(oid, -1), Len: pgtypes.Size(oid),
			Elem: pgtypes.ElemOID(oid), Array: pgtypes.ArrayOID(oid), Storage: 'x', Align: 'i'}
		if oid == pgtypes.Bpchar {
			t.Format = "character"
		}
		if t.Elem != 0 {
			t.Category = 'A'
			if a, ok := scalarAttrs[t.Elem]; ok && a.align == 'd' {
				t.Align = 'd'
			}
		} else if a, ok := scalarAttrs[oid]; ok {
			t.Category, t.Preferred, t.ByVal, t.Align, t.Storage = a.cat, a.preferred, a.byVal, a.align, a.storage
		} else {
			t.Category = 'U'
		}
		byOID[oid] = t
	}
	for _, t := range extraTypes {
		byOID[t.OID] = t
		if t.Elem != 0 && t.Category == 'A' && t.OID != Int2Vector && t.OID != OIDVector {
			if e, ok := byOID[t.Elem]; ok && e.Array == 0 {
				e.Array = t.OID
				byOID[t.Elem] = e
			}
		}
	}
	for oid, t := range byOID {
		switch oid {
		case pgtypes.Text, pgtypes.Varchar, pgtypes.Bpchar:
			t.Collation = DefaultCollation
		case pgtypes.NameOID:
			t.Collation = CCollation
		case pgtypes.TextArray, pgtypes.VarcharArray:
			t.Collation = DefaultCollation
		}
		byOID[oid] = t
	}
	out := make([]TypeInfo, 0, len(byOID))
	for _, t := range byOID {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OID < out[j].OID })
	return out
}()

// Types returns every type pg_type lists, by oid.
func Types() []TypeInfo { return append([]TypeInfo(nil), allTypes...) }

// LookupType returns the pg_type row of oid.
func LookupType(oid uint32) (TypeInfo, bool) {
	i := sort.Search(len(allTypes), func(i int) bool { return allTypes[i].OID >= oid })
	if i < len(allTypes) && allTypes[i].OID == oid {
		return allTypes[i], true
	}
	return TypeInfo{}, false
}

// FormatType is PostgreSQL's format_type(oid, typmod): pgtypes' spelling
// for wire types, the type name for catalog types, "???" for unknown oids.
func FormatType(oid uint32, typmod int32) string {
	if pgtypes.Known(oid) {
		return pgtypes.FormatType(oid, typmod)
	}
	if t, ok := LookupType(oid); ok {
		return t.Format
	}
	return "???"
}

// regtypeIn resolves a type name as regtype's input does: a SQL name
// (integer, "character varying") or a catalog name (int4), optionally
// qualified with pg_catalog.
func regtypeIn(name string) (uint32, bool) {
	name = strings.TrimPrefix(strings.TrimSpace(name), "pg_catalog.")
	if oid, ok := pgtypes.ByName(name); ok {
		return oid, true
	}
	for _, t := range allTypes {
		if t.Name == name || t.Format == name {
			return t.OID, true
		}
	}
	return 0, false
}
