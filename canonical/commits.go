package canonical

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

func (s *Store) cacheInfo(ci *CommitInfo) {
	s.infoMu.Lock()
	if len(s.infoCache) > 4096 {
		clear(s.infoCache)
	}
	s.infoCache[ci.ID] = ci
	s.infoMu.Unlock()
}

// CommitByID returns the metadata of commit id.
func (s *Store) CommitByID(ctx context.Context, id uint64) (CommitInfo, error) {
	ci, err := s.commitByID(ctx, id)
	if err != nil {
		return CommitInfo{}, err
	}
	return *ci, nil
}

func (s *Store) commitByID(ctx context.Context, id uint64) (*CommitInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.infoMu.RLock()
	ci, ok := s.infoCache[id]
	s.infoMu.RUnlock()
	if ok {
		return ci, nil
	}
	if id == 0 {
		return nil, fmt.Errorf("%w: 0", ErrNoSuchCommit)
	}
	v, err := s.get(commitKey(id))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("%w: %d", ErrNoSuchCommit, id)
	}
	ci, err = decodeCommit(v)
	if err != nil {
		return nil, fmt.Errorf("commit %d: %w", id, err)
	}
	s.fillNames(ci, s.cat.Load())
	s.cacheInfo(ci)
	return ci, nil
}

// Commits returns the commits with from <= id <= to (to 0: up to head), in
// id order.
func (s *Store) Commits(ctx context.Context, from, to uint64) ([]CommitInfo, error) {
	if to == 0 {
		to = s.head.Load().ID
	}
	if from == 0 {
		from = 1
	}
	if from > to {
		return nil, nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: commitKey(from), UpperBound: commitKey(to + 1)})
	if err != nil {
		return nil, fmt.Errorf("canonical: commits: %w", err)
	}
	defer it.Close()
	cat := s.cat.Load()
	var out []CommitInfo
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ci, err := decodeCommit(it.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, *s.fillNames(ci, cat))
	}
	return out, it.Error()
}

// ResolveRev resolves a revision to a commit:
//
//   - a decimal number is a commit id ("42"); if no such commit exists and it
//     has 4 or more digits, it is tried as a hash prefix;
//   - "HEAD" (any case) is the head, "HEAD~n" n commits before it ("HEAD^" = "HEAD~1");
//   - 64 hex digits are a full commit hash; 4 to 63 hex digits that are not all
//     decimal digits are a unique hash prefix (ErrAmbiguousRev if several
//     commits match);
//   - otherwise a timestamp (RFC 3339, "2006-01-02 15:04:05[.frac][zone]" or
//     "2006-01-02"; without a zone UTC) resolves to the latest commit at or
//     before it (an error if it precedes the first commit).
func (s *Store) ResolveRev(ctx context.Context, rev string) (CommitInfo, error) {
	rev = strings.TrimSpace(rev)
	head := s.head.Load()
	up := strings.ToUpper(rev)
	switch {
	case rev == "":
		return CommitInfo{}, fmt.Errorf("canonical: empty revision")
	case up == "HEAD" || strings.HasPrefix(up, "HEAD~") || strings.HasPrefix(up, "HEAD^"):
		n := uint64(0)
		rest := up[4:]
		for rest != "" {
			switch {
			case rest[0] == '^':
				n++
				rest = rest[1:]
			case rest[0] == '~':
				j := 1
				for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
					j++
				}
				k := uint64(1)
				if j > 1 {
					var err error
					if k, err = strconv.ParseUint(rest[1:j], 10, 64); err != nil {
						return CommitInfo{}, fmt.Errorf("canonical: bad revision %q: %w", rev, err)
					}
				}
				n += k
				rest = rest[j:]
			default:
				return CommitInfo{}, fmt.Errorf("canonical: bad revision %q", rev)
			}
		}
		if head.ID == 0 || n >= head.ID {
			return CommitInfo{}, fmt.Errorf("%w: %s (head is %d)", ErrNoSuchCommit, rev, head.ID)
		}
		return s.CommitByID(ctx, head.ID-n)
	case isDigits(rev):
		id, err := strconv.ParseUint(rev, 10, 64)
		if err == nil && id >= 1 && id <= head.ID {
			return s.CommitByID(ctx, id)
		}
		if len(rev) >= 4 && len(rev) <= 64 {
			// Not a commit id: perhaps a hash prefix made only of digits.
			if ci, herr := s.byHashPrefix(ctx, rev); herr == nil || errors.Is(herr, ErrAmbiguousRev) {
				return ci, herr
			}
		}
		return CommitInfo{}, fmt.Errorf("%w: %s", ErrNoSuchCommit, rev)
	case isHex(rev) && len(rev) >= 4 && len(rev) <= 64:
		return s.byHashPrefix(ctx, strings.ToLower(rev))
	}
	t, err := parseTimestamp(rev)
	if err != nil {
		return CommitInfo{}, fmt.Errorf("canonical: revision %q is not a commit id, hash, HEAD~n or timestamp", rev)
	}
	return s.CommitAt(ctx, t)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !(s[i] >= '0' && s[i] <= '9') && !(c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}

func (s *Store) byHashPrefix(ctx context.Context, p string) (CommitInfo, error) {
	lo := p
	if len(lo)%2 == 1 {
		lo += "0"
	}
	lb, err := hex.DecodeString(lo)
	if err != nil {
		return CommitInfo{}, fmt.Errorf("canonical: bad hash prefix %q: %w", p, err)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: append([]byte{pHash}, lb...), UpperBound: []byte{pHash + 1}})
	if err != nil {
		return CommitInfo{}, fmt.Errorf("canonical: resolve hash: %w", err)
	}
	defer it.Close()
	var ids []uint64
	for ok := it.First(); ok && len(ids) < 2; ok = it.Next() {
		h := hex.EncodeToString(it.Key()[1:])
		if !strings.HasPrefix(h, p) {
			break
		}
		ids = append(ids, binary.BigEndian.Uint64(it.Value()))
	}
	if err := it.Error(); err != nil {
		return CommitInfo{}, err
	}
	switch len(ids) {
	case 0:
		return CommitInfo{}, fmt.Errorf("%w: no commit hash starts with %s", ErrNoSuchCommit, p)
	case 1:
		return s.CommitByID(ctx, ids[0])
	}
	return CommitInfo{}, fmt.Errorf("%w: %s matches several commits", ErrAmbiguousRev, p)
}

var tsLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02",
}

func parseTimestamp(s string) (time.Time, error) {
	var first error
	for _, l := range tsLayouts {
		t, err := time.Parse(l, s)
		if err == nil {
			return t.UTC(), nil
		}
		if first == nil {
			first = err
		}
	}
	return time.Time{}, first
}

// CommitAt returns the latest commit with committed_at <= t (commit times are
// non-decreasing along the chain, so this is a binary search over ids).
func (s *Store) CommitAt(ctx context.Context, t time.Time) (CommitInfo, error) {
	head := s.head.Load().ID
	var ferr error
	i := sort.Search(int(head), func(i int) bool {
		ci, err := s.commitByID(ctx, uint64(i)+1)
		if err != nil {
			ferr = err
			return true
		}
		return ci.CommittedAt.After(t)
	})
	if ferr != nil {
		return CommitInfo{}, ferr
	}
	if i == 0 {
		return CommitInfo{}, fmt.Errorf("%w: no commit at or before %s", ErrNoSuchCommit, t.Format(time.RFC3339Nano))
	}
	return s.CommitByID(ctx, uint64(i))
}

// lookupHash returns the id of a full hash (0 if none).
func (s *Store) lookupHash(h Hash) (uint64, error) {
	v, err := s.get(append([]byte{pHash}, h[:]...))
	if err != nil || v == nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: hash index", errCorrupt)
	}
	return binary.BigEndian.Uint64(v), nil
}
