package catalog

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a catalog file: 1-based line and column (in characters).
// Every catalog object records where it was declared so that later stages
// (pipelines, reconciliation, the gateway) can point back at the YAML.
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats the position as file:line:col (or just file when the line is unknown).
func (p Pos) String() string {
	if p.Line <= 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one catalog problem: where it is, what is wrong and how to fix it.
type Error struct {
	Pos  Pos
	Msg  string
	Hint string
}

// Error formats the problem as "file:line:col: message; hint".
func (e *Error) Error() string {
	s := e.Pos.String() + ": " + e.Msg
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

// ValidationErrors is every problem found in a catalog, in file/line/column
// order. Load returns it (as error) whenever the catalog is not usable.
type ValidationErrors []*Error

// Error prints one problem per line.
func (v ValidationErrors) Error() string {
	lines := make([]string, len(v))
	for i, e := range v {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (v ValidationErrors) sorted() ValidationErrors {
	sort.SliceStable(v, func(i, j int) bool {
		a, b := v[i].Pos, v[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	// drop exact duplicates (the same problem found along two paths)
	out := v[:0]
	for i, e := range v {
		if i > 0 && e.Error() == v[i-1].Error() {
			continue
		}
		out = append(out, e)
	}
	return out
}

// errs collects problems.
type errs struct{ list ValidationErrors }

func (e *errs) add(p Pos, hint, format string, args ...any) {
	e.list = append(e.list, &Error{Pos: p, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// didYouMean suggests the closest candidate to s, or "" when none is close.
func didYouMean(s string, candidates []string) string {
	if len(s) >= 3 {
		var pre []string
		for _, c := range candidates {
			if c != s && (strings.HasPrefix(c, s) || strings.HasPrefix(s, c) && len(c) >= 3) {
				pre = append(pre, c)
			}
		}
		if len(pre) == 1 {
			return pre[0]
		}
	}
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := levenshtein(strings.ToLower(s), strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) > 8 {
		limit = 3
	}
	if bestD <= limit && bestD < len([]rune(s)) {
		return best
	}
	return ""
}

// suggest builds a fix hint: "did you mean X?" when a candidate is close,
// otherwise the list of valid choices (shortened when long).
func suggest(s string, candidates []string, what string) string {
	if m := didYouMean(s, candidates); m != "" {
		return fmt.Sprintf("did you mean %q?", m)
	}
	if len(candidates) == 0 {
		return fmt.Sprintf("no %s declared", what)
	}
	if len(candidates) > 12 {
		return fmt.Sprintf("valid %s: %s, …", what, strings.Join(candidates[:12], ", "))
	}
	return fmt.Sprintf("valid %s: %s", what, strings.Join(candidates, ", "))
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		if a == b {
			return 0
		}
		return 1 << 20
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
