package catalog

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Catalog is every bounded context loaded together, validated as a whole
// (sources, entities and projections share the raw, canonical and serving
// schemas, so their names are unique across contexts).
type Catalog struct {
	// Contexts in load order (files sorted by name within a directory).
	Contexts []*Context

	contexts        map[string]*Context
	sources         map[string]*Source
	entities        map[string]*Entity
	projections     map[string]*Projection
	servingTables   map[string]*ServingTable
	reconciliations map[string]*Reconciliation
	roles           map[string][]*Role
	roleOrder       []string
	users           map[string]*User
	userOrder       []string
	audit           *AuditPolicy
}

// File is one catalog file given by content (see LoadFiles).
type File struct {
	Name string
	Data []byte
}

// MaxFileSize bounds a catalog file; larger files are refused.
const MaxFileSize = 8 << 20

// Load reads catalog files: each path is a YAML file or a directory whose
// *.yaml and *.yml files (not recursive) are read in name order. One file is
// one bounded context. On any problem it returns ValidationErrors listing all
// of them, each as file:line:col: message; fix.
func Load(paths ...string) (*Catalog, error) {
	return load(osReader{}, paths)
}

// LoadFS is Load over an fs.FS (e.g. an embed.FS holding the demo catalog);
// paths are fs.FS paths (slash-separated, unrooted; "." is the root).
func LoadFS(fsys fs.FS, paths ...string) (*Catalog, error) {
	return load(fsReader{fsys}, paths)
}

// LoadFiles validates catalog files given by content (tests, fuzzing, API).
func LoadFiles(files ...File) (*Catalog, error) {
	e := &errs{}
	var ctxs []*Context
	for _, f := range files {
		if c := parseFile(f.Name, f.Data, e); c != nil {
			ctxs = append(ctxs, c)
		}
	}
	return build(ctxs, e)
}

type reader interface {
	stat(p string) (fs.FileInfo, error)
	readDir(p string) ([]fs.DirEntry, error)
	readFile(p string) ([]byte, error)
	join(dir, name string) string
}

type osReader struct{}

func (osReader) stat(p string) (fs.FileInfo, error)      { return os.Stat(p) }
func (osReader) readDir(p string) ([]fs.DirEntry, error) { return os.ReadDir(p) }
func (osReader) readFile(p string) ([]byte, error)       { return os.ReadFile(p) }
func (osReader) join(dir, name string) string            { return filepath.Join(dir, name) }

type fsReader struct{ fsys fs.FS }

func (r fsReader) stat(p string) (fs.FileInfo, error)      { return fs.Stat(r.fsys, p) }
func (r fsReader) readDir(p string) ([]fs.DirEntry, error) { return fs.ReadDir(r.fsys, p) }
func (r fsReader) readFile(p string) ([]byte, error)       { return fs.ReadFile(r.fsys, p) }
func (r fsReader) join(dir, name string) string            { return path.Join(dir, name) }

func isCatalogFile(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

func load(r reader, paths []string) (*Catalog, error) {
	e := &errs{}
	if len(paths) == 0 {
		e.add(Pos{File: "(catalog)"}, "pass --catalog FILE|DIR", "no catalog path given")
		return nil, e.list
	}
	var files []string
	seen := map[string]bool{}
	for _, p := range paths {
		fi, err := r.stat(p)
		if err != nil {
			e.add(Pos{File: p}, "check the --catalog path", "cannot read catalog: %v", unwrapPathErr(err))
			continue
		}
		if !fi.IsDir() {
			if !seen[p] {
				seen[p] = true
				files = append(files, p)
			}
			continue
		}
		ents, err := r.readDir(p)
		if err != nil {
			e.add(Pos{File: p}, "check the --catalog path", "cannot read catalog directory: %v", unwrapPathErr(err))
			continue
		}
		var names []string
		for _, de := range ents {
			if !de.IsDir() && isCatalogFile(de.Name()) {
				names = append(names, de.Name())
			}
		}
		sort.Strings(names)
		if len(names) == 0 {
			e.add(Pos{File: p}, "put one <context>.yaml file per bounded context in it", "catalog directory has no .yaml or .yml files")
		}
		for _, n := range names {
			fp := r.join(p, n)
			if !seen[fp] {
				seen[fp] = true
				files = append(files, fp)
			}
		}
	}
	var ctxs []*Context
	for _, f := range files {
		data, err := r.readFile(f)
		if err != nil {
			e.add(Pos{File: f}, "check the file's permissions", "cannot read catalog file: %v", unwrapPathErr(err))
			continue
		}
		if c := parseFile(f, data, e); c != nil {
			ctxs = append(ctxs, c)
		}
	}
	return build(ctxs, e)
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// parseFile parses one file into a Context, reporting problems into e.
func parseFile(name string, data []byte, e *errs) (ctx *Context) {
	if len(data) > MaxFileSize {
		e.add(Pos{File: name}, "split it into one file per bounded context", "catalog file is larger than %d bytes", MaxFileSize)
		return nil
	}
	f, err := parseYAML(data)
	if err != nil {
		e.list = append(e.list, yamlError(name, err))
		return nil
	}
	var docs []*ast.DocumentNode
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		e.add(Pos{File: name, Line: 1, Col: 1}, "start the file with context: <name>", "catalog file is empty")
		return nil
	}
	d := newFileDec(name, data, e)
	if len(docs) > 1 {
		e.add(d.pos(docs[1].Body), "put each bounded context in its own file", "catalog file has more than one YAML document")
	}
	defer func() {
		// The decoder walks an AST produced by a third-party parser; a
		// malformed tree must not take the process down.
		if r := recover(); r != nil {
			e.add(Pos{File: name}, "please report this catalog as a bug", "internal error while reading catalog: %v", r)
			ctx = nil
		}
	}()
	return d.decodeContext(docs[0].Body)
}

func parseYAML(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("YAML parser failure: %v", r)
		}
	}()
	return parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
}

func yamlError(name string, err error) *Error {
	p := Pos{File: name}
	msg := err.Error()
	if te, ok := err.(interface {
		GetMessage() string
		GetToken() *token.Token
	}); ok {
		msg = te.GetMessage()
		if tk := te.GetToken(); tk != nil && tk.Position != nil {
			p.Line, p.Col = tk.Position.Line, tk.Position.Column
		}
	}
	return &Error{Pos: p, Msg: "YAML syntax error: " + msg, Hint: "fix the YAML (indentation, quoting, colons)"}
}
