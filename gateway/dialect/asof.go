package dialect

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Time travel per table is not Postgres grammar: DESIGN.md's SQL:2011
// `rel FOR SYSTEM_TIME AS OF <rev>` and Dolt's shorter `rel AS OF <rev>`.
// They are found with the Postgres scanner (tokens, never regexes), blanked
// out of the text so the rest parses as Postgres (blanking keeps every
// other byte position, so syntax error positions stay right), and printed
// back for the engine as its `rel AS OF <rev>` on the relation whose name
// starts where the clause's relation started. <rev> is a string literal
// (a commit hash or prefix, 'HEAD', 'HEAD~n', a timestamp) or an integer
// commit id; resolving it is the store's job.

// timeTravel returns sql with the time-travel clauses blanked and the rev
// of each, keyed by the byte offset where its relation name starts (which
// is the RangeVar's location). The rev is kept as engine literal text.
func timeTravel(sql string) (string, map[int32]string) {
	if !strings.Contains(strings.ToLower(sql), "of") {
		return sql, nil
	}
	res, err := pg.Scan(sql)
	if err != nil {
		return sql, nil // the parser reports the error
	}
	toks := res.Tokens
	var out []byte
	var revs map[int32]string
	for i := 0; i < len(toks); i++ {
		start := i
		if toks[i].Token == pg.Token_FOR {
			if i+3 >= len(toks) || !isWord(sql, toks[i+1], "system_time") || toks[i+2].Token != pg.Token_AS || toks[i+3].Token != pg.Token_OF {
				continue
			}
			i += 3
		} else if toks[i].Token == pg.Token_AS {
			if i+1 >= len(toks) || toks[i+1].Token != pg.Token_OF {
				continue
			}
			i++
		} else {
			continue
		}
		if i+1 >= len(toks) || start == 0 {
			continue
		}
		rev := toks[i+1]
		var lit string
		switch rev.Token {
		case pg.Token_SCONST:
			lit = strLit(unquote(sql[rev.Start:rev.End]))
		case pg.Token_ICONST:
			lit = sql[rev.Start:rev.End]
		default:
			continue
		}
		relStart := relationStart(toks, start-1)
		if relStart < 0 {
			continue
		}
		if out == nil {
			out = []byte(sql)
			revs = map[int32]string{}
		}
		for b := toks[start].Start; b < rev.End; b++ {
			if out[b] != '\n' {
				out[b] = ' '
			}
		}
		revs[toks[relStart].Start] = lit
		i++
	}
	if out == nil {
		return sql, nil
	}
	return string(out), revs
}

// relationStart walks back over a dotted name ending at token i and
// returns the index of its first token, or -1 if i does not end a name.
func relationStart(toks []*pg.ScanToken, i int) int {
	if !isName(toks[i]) {
		return -1
	}
	for i >= 2 && toks[i-1].Token == pg.Token_ASCII_46 && isName(toks[i-2]) {
		i -= 2
	}
	return i
}

func isName(t *pg.ScanToken) bool {
	return t.Token == pg.Token_IDENT || t.KeywordKind == pg.KeywordKind_UNRESERVED_KEYWORD || t.KeywordKind == pg.KeywordKind_COL_NAME_KEYWORD
}

func isWord(sql string, t *pg.ScanToken, word string) bool {
	return t.Token == pg.Token_IDENT && strings.EqualFold(sql[t.Start:t.End], word)
}

// unquote returns the value of a '...' literal (E” strings are not revs).
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		s = s[1 : len(s)-1]
	}
	return strings.ReplaceAll(s, "''", "'")
}
