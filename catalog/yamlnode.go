package catalog

import (
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// fileDec turns the goccy/go-yaml AST of one file into catalog structs while
// keeping every node's position for error messages.
type fileDec struct {
	file       string
	src        string
	lineStarts []int
	e          *errs
}

func newFileDec(file string, src []byte, e *errs) *fileDec {
	d := &fileDec{file: file, src: string(src), e: e}
	d.lineStarts = append(d.lineStarts, 0)
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			d.lineStarts = append(d.lineStarts, i+1)
		}
	}
	return d
}

// unwrap strips anchors and tags; aliases are reported and dropped.
func (d *fileDec) unwrap(n ast.Node) ast.Node {
	for i := 0; i < 100 && n != nil; i++ {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.AliasNode:
			d.e.add(d.pos(v), "repeat the value instead of using an alias", "YAML aliases are not supported in catalogs")
			return nil
		default:
			return n
		}
	}
	return n
}

func (d *fileDec) pos(n ast.Node) Pos {
	if n == nil {
		return Pos{File: d.file}
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return Pos{File: d.file}
	}
	switch m := n.(type) {
	case *ast.MappingValueNode:
		if m.Key != nil {
			return d.pos(m.Key)
		}
	case *ast.MappingNode:
		if !m.IsFlowStyle && len(m.Values) > 0 && m.Values[0] != nil && m.Values[0].Key != nil {
			return d.pos(m.Values[0].Key)
		}
	}
	return Pos{File: d.file, Line: tk.Position.Line, Col: tk.Position.Column}
}

// offsetPos converts a byte offset in the file to a position.
func (d *fileDec) offsetPos(off int) Pos {
	if off < 0 {
		off = 0
	}
	if off > len(d.src) {
		off = len(d.src)
	}
	line := sort.Search(len(d.lineStarts), func(i int) bool { return d.lineStarts[i] > off }) - 1
	if line < 0 {
		line = 0
	}
	col := utf8.RuneCountInString(d.src[d.lineStarts[line]:off]) + 1
	return Pos{File: d.file, Line: line + 1, Col: col}
}

// lineColOffset converts a 1-based line and column to a byte offset.
func (d *fileDec) lineColOffset(line, col int) int {
	if line < 1 || line > len(d.lineStarts) {
		return -1
	}
	off := d.lineStarts[line-1]
	for c := 1; c < col && off < len(d.src) && d.src[off] != '\n'; c++ {
		_, sz := utf8.DecodeRuneInString(d.src[off:])
		off += sz
	}
	return off
}

// valuePos maps a byte offset inside a scalar's decoded value to its
// position in the file. YAML folding, indentation and quoting mean the value
// is not a substring of the file, so the non-space characters of the value
// are aligned with the source text in order.
func (d *fileDec) valuePos(n ast.Node, value string, off int) Pos {
	n = d.unwrapQuiet(n)
	if n == nil {
		return Pos{File: d.file}
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return Pos{File: d.file}
	}
	start := d.lineColOffset(tk.Position.Line, tk.Position.Column)
	if start < 0 {
		return d.pos(n)
	}
	switch {
	case n.Type() == ast.LiteralType:
		if nl := strings.IndexByte(d.src[start:], '\n'); nl >= 0 {
			start += nl + 1
		} else {
			return d.pos(n)
		}
	case tk.Type == token.DoubleQuoteType || tk.Type == token.SingleQuoteType:
		start++
	}
	p := start
	if off > len(value) {
		off = len(value)
	}
	for i, r := range value {
		if i >= off {
			break
		}
		if unicode.IsSpace(r) {
			continue
		}
		q := strings.IndexRune(d.src[p:], r)
		if q < 0 || q > 4096 {
			return d.pos(n)
		}
		p += q + utf8.RuneLen(r)
	}
	if off < len(value) {
		r, _ := utf8.DecodeRuneInString(value[off:])
		if !unicode.IsSpace(r) {
			if q := strings.IndexRune(d.src[p:], r); q >= 0 && q <= 4096 {
				p += q
			}
		} else {
			for p < len(d.src) && (d.src[p] == ' ' || d.src[p] == '\t') {
				p++
			}
		}
	}
	return d.offsetPos(p)
}

func (d *fileDec) unwrapQuiet(n ast.Node) ast.Node {
	for i := 0; i < 100 && n != nil; i++ {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
	return n
}

func isNull(n ast.Node) bool {
	if n == nil {
		return true
	}
	_, ok := n.(*ast.NullNode)
	return ok
}

func kindName(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode:
		return "empty"
	case nil:
		return "empty"
	default:
		return "a scalar"
	}
}

// kv is one entry of a YAML mapping.
type kv struct {
	key   string
	kpos  Pos
	knode ast.Node
	val   ast.Node
}

// entries returns the entries of a mapping node in file order. A null node
// is an empty mapping. Anything else is reported.
func (d *fileDec) entries(n ast.Node, what, hint string) ([]kv, bool) {
	n = d.unwrap(n)
	if isNull(n) {
		return nil, true
	}
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	default:
		if hint == "" {
			hint = "write it as key: value pairs"
		}
		d.e.add(d.pos(n), hint, "%s must be a mapping, not %s", what, kindName(n))
		return nil, false
	}
	out := make([]kv, 0, len(values))
	seen := map[string]bool{}
	for _, mv := range values {
		if mv == nil || mv.Key == nil {
			continue
		}
		k := d.unwrap(mv.Key)
		key, ok := "", false
		switch kn := k.(type) {
		case *ast.StringNode:
			key, ok = kn.Value, true
		case *ast.MappingKeyNode:
			ok = false
		case ast.ScalarNode:
			if t := kn.GetToken(); t != nil {
				key, ok = t.Value, true
			}
		}
		if !ok {
			d.e.add(d.pos(mv.Key), "use a plain name as the key", "%s: keys must be plain scalars", what)
			continue
		}
		if seen[key] {
			d.e.add(d.pos(mv.Key), "remove one of them", "%s: duplicate key %q", what, key)
			continue
		}
		seen[key] = true
		out = append(out, kv{key: key, kpos: d.pos(mv.Key), knode: mv.Key, val: mv.Value})
	}
	return out, true
}

// object reads a mapping with a fixed set of keys and reports unknown ones.
func (d *fileDec) object(n ast.Node, what string, known ...string) (map[string]kv, bool) {
	ents, ok := d.entries(n, what, "")
	if !ok {
		return nil, false
	}
	m := make(map[string]kv, len(ents))
	for _, e := range ents {
		if !contains(known, e.key) {
			d.e.add(e.kpos, suggest(e.key, known, "keys"), "unknown key %q in %s", e.key, what)
			continue
		}
		m[e.key] = e
	}
	return m, true
}

// scalar returns the text of a scalar node (strings, numbers, booleans).
func (d *fileDec) scalar(n ast.Node, what string) (string, bool) {
	n = d.unwrap(n)
	switch v := n.(type) {
	case nil:
		return "", false
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value == nil {
			return "", true
		}
		return v.Value.Value, true
	case *ast.NullNode:
		return "", false
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
		d.e.add(d.pos(n), "write a single value", "%s must be a scalar, not %s", what, kindName(n))
		return "", false
	case ast.ScalarNode:
		if t := v.GetToken(); t != nil {
			return t.Value, true
		}
	}
	d.e.add(d.pos(n), "write a single value", "%s must be a scalar", what)
	return "", false
}

// str reads a required or optional string field.
func (d *fileDec) str(m map[string]kv, key, what string, required bool, parent Pos) (string, Pos) {
	e, ok := m[key]
	if !ok {
		if required {
			d.e.add(parent, "add "+key+": …", "%s: missing required key %q", what, key)
		}
		return "", parent
	}
	s, ok := d.scalar(e.val, what+"."+key)
	if !ok && isNull(d.unwrapQuiet(e.val)) && required {
		d.e.add(e.kpos, "give "+key+" a value", "%s: %q is empty", what, key)
	}
	p := d.pos(e.val)
	if isNull(e.val) {
		p = e.kpos
	}
	return s, p
}

// desc reads an optional description (trimmed).
func (d *fileDec) desc(m map[string]kv, what string) string {
	s, _ := d.str(m, "description", what, false, Pos{})
	return strings.TrimSpace(s)
}

// item is a string with its position.
type item struct {
	s string
	p Pos
}

// strList reads a list of scalars; a single scalar is a one-element list.
func (d *fileDec) strList(n ast.Node, what string) ([]item, bool) {
	n = d.unwrap(n)
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return nil, true
	case *ast.SequenceNode:
		out := make([]item, 0, len(v.Values))
		ok := true
		for _, el := range v.Values {
			s, good := d.scalar(el, what+" element")
			if !good {
				if isNull(d.unwrapQuiet(el)) {
					d.e.add(d.pos(el), "remove the empty element", "%s has an empty element", what)
				}
				ok = false
				continue
			}
			out = append(out, item{s, d.pos(el)})
		}
		return out, ok
	case *ast.MappingNode, *ast.MappingValueNode:
		d.e.add(d.pos(n), "write [a, b] or a single name", "%s must be a list, not a mapping", what)
		return nil, false
	default:
		s, ok := d.scalar(n, what)
		if !ok {
			return nil, false
		}
		return []item{{s, d.pos(n)}}, true
	}
}

// seq returns the elements of a list node.
func (d *fileDec) seq(n ast.Node, what, hint string) ([]ast.Node, bool) {
	n = d.unwrap(n)
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return nil, true
	case *ast.SequenceNode:
		return v.Values, true
	default:
		d.e.add(d.pos(n), hint, "%s must be a list, not %s", what, kindName(n))
		return nil, false
	}
}

func (d *fileDec) intVal(n ast.Node, what string) (int, bool) {
	n = d.unwrap(n)
	if v, ok := n.(*ast.IntegerNode); ok {
		if i, err := strconv.Atoi(strings.ReplaceAll(v.GetToken().Value, "_", "")); err == nil {
			return i, true
		}
	}
	if n == nil {
		return 0, false
	}
	d.e.add(d.pos(n), "write a whole number such as 1", "%s must be an integer", what)
	return 0, false
}

func (d *fileDec) boolVal(n ast.Node, what string) (bool, bool) {
	n = d.unwrap(n)
	if v, ok := n.(*ast.BoolNode); ok {
		return v.Value, true
	}
	if n == nil {
		return false, false
	}
	d.e.add(d.pos(n), "write true or false", "%s must be a boolean", what)
	return false, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
