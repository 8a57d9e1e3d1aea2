package canonical

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// Column is one column of a table.
type Column struct {
	Name     string
	Kind     Kind
	Nullable bool
	// Default is the value rows written before the column existed read with
	// (ADD COLUMN). It must be of Kind (or nil if Nullable).
	Default any
}

// Index is a secondary index over one or more columns. Index entries are
// versioned like rows, so ScanIndex works AS OF any commit.
type Index struct {
	Name    string
	Columns []string
}

// TableSchema is the schema of a table (an entity) at some commit.
type TableSchema struct {
	// ID is the store's internal table number (assigned at CREATE).
	ID         uint32
	Name       string
	Columns    []Column
	PrimaryKey []string
	Indexes    []Index
	// SinceCommit is the commit that produced this schema version.
	SinceCommit uint64

	pkIdx  []int
	idxIdx [][]int
	kinds  []Kind
}

// ColumnIndex returns the position of the named column, or -1.
func (t *TableSchema) ColumnIndex(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// PKIndexes returns the positions of the primary key columns in a row.
func (t *TableSchema) PKIndexes() []int { return t.pkIdx }

// IndexColumns returns the positions of the columns of secondary index i.
func (t *TableSchema) IndexColumns(i int) []int { return t.idxIdx[i] }

// Kinds returns the column kinds in order.
func (t *TableSchema) Kinds() []Kind { return t.kinds }

// KeyOf extracts the primary key values from a row of this schema.
func (t *TableSchema) KeyOf(row []any) []any {
	k := make([]any, len(t.pkIdx))
	for i, j := range t.pkIdx {
		k[i] = row[j]
	}
	return k
}

func (t *TableSchema) pkKinds() []Kind {
	ks := make([]Kind, len(t.pkIdx))
	for i, j := range t.pkIdx {
		ks[i] = t.kinds[j]
	}
	return ks
}

func (t *TableSchema) clone() *TableSchema {
	c := *t
	c.Columns = append([]Column{}, t.Columns...)
	c.PrimaryKey = append([]string{}, t.PrimaryKey...)
	c.Indexes = append([]Index{}, t.Indexes...)
	return &c
}

// ErrSchema is wrapped by schema validation errors.
var ErrSchema = errors.New("canonical: schema error")

// prepare validates the schema and computes derived fields.
func (t *TableSchema) prepare() error {
	if t.Name == "" {
		return fmt.Errorf("%w: table name is empty", ErrSchema)
	}
	if len(t.Columns) == 0 {
		return fmt.Errorf("%w: table %s has no columns", ErrSchema, t.Name)
	}
	seen := map[string]bool{}
	t.kinds = make([]Kind, len(t.Columns))
	for i := range t.Columns {
		c := &t.Columns[i]
		if c.Name == "" || seen[c.Name] {
			return fmt.Errorf("%w: table %s: empty or duplicate column name %q", ErrSchema, t.Name, c.Name)
		}
		seen[c.Name] = true
		if _, ok := kindNames[c.Kind]; !ok {
			return fmt.Errorf("%w: table %s column %s: unknown kind %d", ErrSchema, t.Name, c.Name, c.Kind)
		}
		d, err := Normalize(c.Kind, c.Default)
		if err != nil {
			return fmt.Errorf("%w: table %s column %s default: %w", ErrSchema, t.Name, c.Name, err)
		}
		c.Default = d
		t.kinds[i] = c.Kind
	}
	if len(t.PrimaryKey) == 0 {
		return fmt.Errorf("%w: table %s has no primary key", ErrSchema, t.Name)
	}
	t.pkIdx = make([]int, len(t.PrimaryKey))
	for i, n := range t.PrimaryKey {
		j := t.ColumnIndex(n)
		if j < 0 {
			return fmt.Errorf("%w: table %s: primary key column %q is not a column", ErrSchema, t.Name, n)
		}
		t.pkIdx[i] = j
	}
	if len(t.Indexes) > 250 {
		return fmt.Errorf("%w: table %s: too many indexes", ErrSchema, t.Name)
	}
	t.idxIdx = make([][]int, len(t.Indexes))
	iseen := map[string]bool{}
	for i, ix := range t.Indexes {
		if ix.Name == "" || iseen[ix.Name] || len(ix.Columns) == 0 {
			return fmt.Errorf("%w: table %s: empty, duplicate or column-less index %q", ErrSchema, t.Name, ix.Name)
		}
		iseen[ix.Name] = true
		for _, n := range ix.Columns {
			j := t.ColumnIndex(n)
			if j < 0 {
				return fmt.Errorf("%w: table %s index %s: %q is not a column", ErrSchema, t.Name, ix.Name, n)
			}
			t.idxIdx[i] = append(t.idxIdx[i], j)
		}
	}
	return nil
}

// normalizeRow checks a row against the schema and returns its normalized copy.
func (t *TableSchema) normalizeRow(row []any) ([]any, error) {
	if len(row) != len(t.Columns) {
		return nil, fmt.Errorf("%w: table %s has %d columns, row has %d", ErrBadValue, t.Name, len(t.Columns), len(row))
	}
	out := make([]any, len(row))
	for i, v := range row {
		c := &t.Columns[i]
		n, err := Normalize(c.Kind, v)
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", t.Name, c.Name, err)
		}
		if n == nil && !c.Nullable {
			return nil, fmt.Errorf("%w: table %s column %s is not nullable", ErrBadValue, t.Name, c.Name)
		}
		out[i] = n
	}
	return out, nil
}

// normalizeKey checks primary key values (or a prefix of them).
func (t *TableSchema) normalizeKey(key []any) ([]any, error) {
	if len(key) > len(t.pkIdx) {
		return nil, fmt.Errorf("%w: table %s key has %d columns, got %d values", ErrBadValue, t.Name, len(t.pkIdx), len(key))
	}
	out := make([]any, len(key))
	for i, v := range key {
		c := &t.Columns[t.pkIdx[i]]
		n, err := Normalize(c.Kind, v)
		if err != nil {
			return nil, fmt.Errorf("table %s key column %s: %w", t.Name, c.Name, err)
		}
		out[i] = n
	}
	return out, nil
}

// pad extends a stored row (written under an older schema) with the defaults
// of columns added since.
func (t *TableSchema) pad(row []any) []any {
	if len(row) >= len(t.Columns) {
		return row[:len(t.Columns)]
	}
	for i := len(row); i < len(t.Columns); i++ {
		row = append(row, t.Columns[i].Default)
	}
	return row
}

// Stored schema form (JSON, with defaults in the row value encoding).
type columnJSON struct {
	Name     string `json:"name"`
	Kind     Kind   `json:"kind"`
	Nullable bool   `json:"nullable,omitempty"`
	Default  []byte `json:"default,omitempty"`
}

type schemaJSON struct {
	ID          uint32       `json:"id"`
	Name        string       `json:"name"`
	Columns     []columnJSON `json:"columns"`
	PrimaryKey  []string     `json:"primary_key"`
	Indexes     []Index      `json:"indexes,omitempty"`
	SinceCommit uint64       `json:"since_commit"`
}

func (t *TableSchema) marshal() ([]byte, error) {
	s := schemaJSON{ID: t.ID, Name: t.Name, PrimaryKey: t.PrimaryKey, Indexes: t.Indexes, SinceCommit: t.SinceCommit}
	for _, c := range t.Columns {
		var d []byte
		if c.Default != nil {
			var err error
			if d, err = appendValue(nil, c.Kind, c.Default); err != nil {
				return nil, err
			}
		}
		s.Columns = append(s.Columns, columnJSON{Name: c.Name, Kind: c.Kind, Nullable: c.Nullable, Default: d})
	}
	return json.Marshal(s)
}

func unmarshalSchema(b []byte) (*TableSchema, error) {
	var s schemaJSON
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("canonical: decode schema: %w", err)
	}
	t := &TableSchema{ID: s.ID, Name: s.Name, PrimaryKey: s.PrimaryKey, Indexes: s.Indexes, SinceCommit: s.SinceCommit}
	for _, c := range s.Columns {
		col := Column{Name: c.Name, Kind: c.Kind, Nullable: c.Nullable}
		if len(c.Default) > 0 {
			// Reuse the row decoder on a one-value row.
			r, err := decodeRow(append([]byte{1}, c.Default...))
			if err != nil {
				return nil, fmt.Errorf("canonical: decode default of %s.%s: %w", s.Name, c.Name, err)
			}
			col.Default = r[0]
		}
		t.Columns = append(t.Columns, col)
	}
	if err := t.prepare(); err != nil {
		return nil, err
	}
	return t, nil
}

// SchemaChange is one schema operation in a commit of kind schema. Exactly
// one field is set.
type SchemaChange struct {
	// CreateTable creates a new table (ID and SinceCommit are assigned).
	CreateTable *TableSchema
	// AddColumn appends a column to Table; existing rows read with its Default.
	AddColumn *AddColumn
	// AddIndex appends a secondary index to Table and backfills it from the
	// table's current rows in the same commit.
	AddIndex *AddIndex
}

// AddIndex appends Index to Table. The index serves reads at its commit
// and later ones; schemas of earlier commits do not list it, so reads AS OF
// them never consult entries the backfill could not have written (the
// versions before the commit are not indexed).
type AddIndex struct {
	Table string
	Index Index
}

// AddColumn appends Column to Table.
type AddColumn struct {
	Table  string
	Column Column
}

// catalogState is an immutable snapshot of all table schemas with their
// history. Replaced wholesale (copy on write) by schema commits.
type catalogState struct {
	byName  map[string]uint32
	history map[uint32][]*TableSchema // ascending SinceCommit
	nextID  uint32
}

func newCatalogState() *catalogState {
	return &catalogState{byName: map[string]uint32{}, history: map[uint32][]*TableSchema{}, nextID: 1}
}

func (c *catalogState) clone() *catalogState {
	n := &catalogState{byName: map[string]uint32{}, history: map[uint32][]*TableSchema{}, nextID: c.nextID}
	for k, v := range c.byName {
		n.byName[k] = v
	}
	for k, v := range c.history {
		n.history[k] = append([]*TableSchema{}, v...)
	}
	return n
}

// head returns the current schema of a table.
func (c *catalogState) head(name string) (*TableSchema, bool) {
	id, ok := c.byName[name]
	if !ok {
		return nil, false
	}
	h := c.history[id]
	return h[len(h)-1], true
}

// at returns the schema of a table as of commit asOf (false if it did not
// exist yet).
func (c *catalogState) at(name string, asOf uint64) (*TableSchema, bool) {
	id, ok := c.byName[name]
	if !ok {
		return nil, false
	}
	return c.atID(id, asOf)
}

func (c *catalogState) atID(id uint32, asOf uint64) (*TableSchema, bool) {
	h := c.history[id]
	i := sort.Search(len(h), func(i int) bool { return h[i].SinceCommit > asOf })
	if i == 0 {
		return nil, false
	}
	return h[i-1], true
}

// replaceHead makes ts the table's newest schema version: a new version
// at commit id, or a replacement of one made earlier in the same commit.
func (c *catalogState) replaceHead(ts *TableSchema, id uint64) {
	h := c.history[ts.ID]
	if h[len(h)-1].SinceCommit == id {
		h[len(h)-1] = ts
	} else {
		h = append(h, ts)
	}
	c.history[ts.ID] = h
}

func (c *catalogState) byID(id uint32) *TableSchema {
	h := c.history[id]
	if len(h) == 0 {
		return nil
	}
	return h[len(h)-1]
}
