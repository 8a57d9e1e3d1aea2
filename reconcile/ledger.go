package reconcile

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/rs/zerolog"
)

// Status is an exception's place in its lifecycle.
type Status string

// Exception statuses.
const (
	StatusOpen             Status = "open"
	StatusAcknowledged     Status = "acknowledged"
	StatusResolved         Status = "resolved"
	StatusAcceptedVariance Status = "accepted_variance"
	StatusFalsePositive    Status = "false_positive"
	StatusReopened         Status = "reopened"
)

// Active reports whether the exception still needs work.
func (s Status) Active() bool {
	return s == StatusOpen || s == StatusAcknowledged || s == StatusReopened
}

// Exception is one divergence in the exception queue.
type Exception struct {
	ID          uint64    `json:"id"`
	Rule        string    `json:"rule"`
	Level       string    `json:"level"`
	Key         string    `json:"key"`
	Kind        Kind      `json:"kind"`
	Left        string    `json:"left,omitempty"`
	Right       string    `json:"right,omitempty"`
	Difference  string    `json:"difference,omitempty"`
	Owner       string    `json:"owner"`
	Severity    string    `json:"severity"`
	Status      Status    `json:"status"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Commit      uint64    `json:"canonical_commit"`
	Watermark   *uint64   `json:"serving_watermark,omitempty"`
	Resolution  string    `json:"resolution,omitempty"`
	Note        string    `json:"note,omitempty"`
	Fingerprint string    `json:"fingerprint"`
	Seen        int64     `json:"seen"` // runs that found it
}

// StatusChange is one entry of an exception's history.
type StatusChange struct {
	Exception uint64    `json:"exception_id"`
	Seq       uint64    `json:"seq"`
	At        time.Time `json:"at"`
	From      Status    `json:"from,omitempty"`
	To        Status    `json:"to"`
	By        string    `json:"by"`
	Note      string    `json:"note,omitempty"`
}

// Run is one execution of a rule.
type Run struct {
	ID        uint64    `json:"id"`
	Rule      string    `json:"rule"`
	Trigger   string    `json:"trigger"` // schedule, recheck, call, repair
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	Outcome   string    `json:"outcome"` // clean, pending, divergent, error
	AsOf      uint64    `json:"canonical_commit"`
	Watermark *uint64   `json:"serving_watermark,omitempty"`
	Head      uint64    `json:"head_commit"`
	Unit      string    `json:"unit"`
	Compared  int64     `json:"compared"`
	Matched   int64     `json:"matched"`
	Pending   int64     `json:"pending"`
	Divergent int64     `json:"divergent"`
	Opened    int64     `json:"opened"`
	Resolved  int64     `json:"resolved"`
	Buckets   int64     `json:"buckets,omitempty"`
	Descended int64     `json:"descended,omitempty"`
	// Ranges, RangesFetched and ExternalRows report how an external
	// (right_dsn) side was read: key ranges summarized there by bisection,
	// ranges fetched, and rows read from it (all of them when read whole).
	Ranges        int64 `json:"ranges,omitempty"`
	RangesFetched int64 `json:"ranges_fetched,omitempty"`
	ExternalRows  int64 `json:"external_rows,omitempty"`
	// CanonicalRows is how many canonical rows a bucketed run read for its
	// left side: none when its bucket summary was at the pairing commit,
	// the changed rows when it was moved there, every row when streamed.
	CanonicalRows int64  `json:"canonical_rows,omitempty"`
	Coverage      string `json:"coverage"`
	Error         string `json:"error,omitempty"`
}

// Ledger keeps exceptions, their status history and runs durably in a
// Pebble database of its own, with the active set in memory. Writes are
// synced: an acknowledged CALL reconcile.ack survives a crash.
//
// Key layout: e/<id> exception JSON; h/<id>/<seq> status change JSON;
// r/<id> run JSON; p/<rule> NUL <fingerprint> the first-seen time (unix
// ns) of a difference held for its grace, so a restart does not restart
// the grace. IDs are big-endian so scans are in id order.
type Ledger struct {
	db *pebble.DB

	mu      sync.Mutex
	exc     map[uint64]*Exception
	byPrint map[string]uint64
	hist    []StatusChange
	runs    []Run                           // the most recent maxRuns, oldest first
	pending map[string]map[string]time.Time // rule -> fingerprint -> first seen
	nextExc uint64
	nextRun uint64
	nextSeq uint64
}

// maxRuns bounds the runs kept in memory (all stay on disk).
const maxRuns = 10000

// OpenLedger opens (creating) the ledger in dir.
func OpenLedger(ctx context.Context, dir string, log zerolog.Logger) (*Ledger, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLog{log}})
	if err != nil {
		return nil, fmt.Errorf("reconcile: open ledger at %s: %w", dir, err)
	}
	l := &Ledger{db: db, exc: map[uint64]*Exception{}, byPrint: map[string]uint64{}, nextExc: 1, nextRun: 1, nextSeq: 1,
		pending: map[string]map[string]time.Time{}}
	if err := l.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return l, nil
}

// pebbleLog sends Pebble's messages to zerolog (debug and error).
type pebbleLog struct{ l zerolog.Logger }

func (p pebbleLog) Infof(format string, args ...any)  { p.l.Debug().Msgf(format, args...) }
func (p pebbleLog) Errorf(format string, args ...any) { p.l.Error().Msgf(format, args...) }
func (p pebbleLog) Fatalf(format string, args ...any) {
	p.l.Error().Msgf(format, args...)
	panic(fmt.Sprintf(format, args...))
}

// Close closes the database.
func (l *Ledger) Close() error { return l.db.Close() }

func idKey(prefix byte, ids ...uint64) []byte {
	k := []byte{prefix, '/'}
	for _, id := range ids {
		k = binary.BigEndian.AppendUint64(k, id)
	}
	return k
}

func (l *Ledger) load() error {
	scan := func(prefix byte, fn func(v []byte) error) error {
		it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix, '/'}, UpperBound: []byte{prefix, '/' + 1}})
		if err != nil {
			return err
		}
		defer it.Close()
		for it.First(); it.Valid(); it.Next() {
			if err := fn(it.Value()); err != nil {
				return err
			}
		}
		return it.Error()
	}
	err := scan('e', func(v []byte) error {
		var e Exception
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("reconcile: ledger exception: %w", err)
		}
		l.exc[e.ID] = &e
		l.byPrint[e.Fingerprint] = e.ID
		l.nextExc = max(l.nextExc, e.ID+1)
		return nil
	})
	if err != nil {
		return err
	}
	if err := scan('h', func(v []byte) error {
		var h StatusChange
		if err := json.Unmarshal(v, &h); err != nil {
			return fmt.Errorf("reconcile: ledger history: %w", err)
		}
		l.hist = append(l.hist, h)
		l.nextSeq = max(l.nextSeq, h.Seq+1)
		return nil
	}); err != nil {
		return err
	}
	sort.Slice(l.hist, func(i, j int) bool { return l.hist[i].Seq < l.hist[j].Seq })
	pit, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte("p/"), UpperBound: []byte("p0")})
	if err != nil {
		return err
	}
	for pit.First(); pit.Valid(); pit.Next() {
		rule, fp, ok := strings.Cut(string(pit.Key()[2:]), "\x00")
		if !ok || len(pit.Value()) != 8 {
			continue
		}
		if l.pending[rule] == nil {
			l.pending[rule] = map[string]time.Time{}
		}
		l.pending[rule][fp] = time.Unix(0, int64(binary.BigEndian.Uint64(pit.Value()))).UTC()
	}
	if err := pit.Close(); err != nil {
		return err
	}
	return scan('r', func(v []byte) error {
		var r Run
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("reconcile: ledger run: %w", err)
		}
		l.runs = append(l.runs, r)
		if len(l.runs) > maxRuns {
			l.runs = l.runs[1:]
		}
		l.nextRun = max(l.nextRun, r.ID+1)
		return nil
	})
}

// change is one exception write: the new state and, when the status
// changed, the history entry.
type change struct {
	exc   Exception
	hist  *StatusChange
	event string // webhook event to send once written ("" none)
}

// pendingSet is a rule's new set of differences held for their grace.
type pendingSet struct {
	rule  string
	first map[string]time.Time
}

func pendingPrefix(rule string) []byte { return []byte("p/" + rule + "\x00") }

// Pending returns the differences each rule holds for its grace.
func (l *Ledger) Pending() map[string]map[string]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]map[string]time.Time, len(l.pending))
	for r, m := range l.pending {
		out[r] = make(map[string]time.Time, len(m))
		for f, t := range m {
			out[r][f] = t
		}
	}
	return out
}

// apply writes changes (and a run, if not nil, and a rule's pending set, if
// not nil) in one synced batch, then updates memory. New exceptions (ID 0)
// get their ID here.
func (l *Ledger) apply(changes []change, run *Run, pend *pendingSet) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.db.NewBatch()
	defer b.Close()
	if pend != nil {
		pre := pendingPrefix(pend.rule)
		end := append(append([]byte{}, pre[:len(pre)-1]...), 1)
		if err := b.DeleteRange(pre, end, nil); err != nil {
			return err
		}
		for f, t := range pend.first {
			if err := b.Set(append(append([]byte{}, pre...), f...), binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())), nil); err != nil {
				return err
			}
		}
	}
	nextExc, nextSeq := l.nextExc, l.nextSeq
	for i := range changes {
		c := &changes[i]
		if c.exc.ID == 0 {
			c.exc.ID = nextExc
			nextExc++
		}
		v, err := json.Marshal(c.exc)
		if err != nil {
			return err
		}
		if err := b.Set(idKey('e', c.exc.ID), v, nil); err != nil {
			return err
		}
		if c.hist != nil {
			c.hist.Exception, c.hist.Seq = c.exc.ID, nextSeq
			nextSeq++
			hv, err := json.Marshal(c.hist)
			if err != nil {
				return err
			}
			if err := b.Set(idKey('h', c.exc.ID, c.hist.Seq), hv, nil); err != nil {
				return err
			}
		}
	}
	if run != nil {
		run.ID = l.nextRun
		v, err := json.Marshal(run)
		if err != nil {
			return err
		}
		if err := b.Set(idKey('r', run.ID), v, nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("reconcile: ledger write: %w", err)
	}
	l.nextExc, l.nextSeq = nextExc, nextSeq
	for _, c := range changes {
		e := c.exc
		l.exc[e.ID] = &e
		l.byPrint[e.Fingerprint] = e.ID
		if c.hist != nil {
			l.hist = append(l.hist, *c.hist)
		}
	}
	if pend != nil {
		l.pending[pend.rule] = pend.first
	}
	if run != nil {
		l.nextRun++
		l.runs = append(l.runs, *run)
		if len(l.runs) > maxRuns {
			l.runs = l.runs[1:]
		}
	}
	return nil
}

// ErrNoException: no exception has the given id.
var ErrNoException = errors.New("reconcile: no such exception")

// get returns a copy of exception id.
func (l *Ledger) get(id uint64) (Exception, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.exc[id]
	if !ok {
		return Exception{}, false
	}
	return *e, true
}

// byFingerprint returns a copy of the exception with fingerprint f.
func (l *Ledger) byFingerprint(f string) (Exception, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id, ok := l.byPrint[f]
	if !ok {
		return Exception{}, false
	}
	return *l.exc[id], true
}

// Exceptions returns every exception (copies), by id.
func (l *Ledger) Exceptions() []Exception {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Exception, 0, len(l.exc))
	for _, e := range l.exc {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ruleExceptions returns the rule's exceptions (copies).
func (l *Ledger) ruleExceptions(rule string) []Exception {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Exception
	for _, e := range l.exc {
		if e.Rule == rule {
			out = append(out, *e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// History returns every status change, in order.
func (l *Ledger) History() []StatusChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]StatusChange(nil), l.hist...)
}

// Runs returns the most recent runs, oldest first.
func (l *Ledger) Runs() []Run {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Run(nil), l.runs...)
}

// lastRun returns the rule's most recent run.
func (l *Ledger) lastRun(rule string) (Run, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.runs) - 1; i >= 0; i-- {
		if l.runs[i].Rule == rule {
			return l.runs[i], true
		}
	}
	return Run{}, false
}
