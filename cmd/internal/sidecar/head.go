package sidecar

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// The canonical head, for lag and dualgate.max_staleness. The sidecar has
// no canonical store, so it asks the primary: every PollInterval it runs
// `SELECT 1` on one connection and reads the ParameterStatus
// dualgate.as_of the primary labels every result with (a result reading no
// relation names the head). That costs the primary one trivial statement
// per interval per sidecar and needs no new surface.
//
// Lag in time is measured from when the sidecar first saw a commit, not
// from the commit's own timestamp (which would take another query per new
// commit): it can read up to one poll interval short, and commits made
// before the sidecar started count from its start. While the primary is
// unreachable the last head is kept, so lag grows only with what Redis
// shows; dualgate.projections keeps answering.

// headTracker holds the polled head and when each new head was first seen.
type headTracker struct {
	mu    sync.Mutex
	head  uint64
	start time.Time
	seen  []sighting // increasing ids
}

type sighting struct {
	id uint64
	at time.Time
}

// maxSightings bounds the history kept for lag.
const maxSightings = 4096

func (h *headTracker) get() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.head
}

// observe records that commit id exists (seen at at).
func (h *headTracker) observe(id uint64, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if id <= h.head {
		return
	}
	if h.head == 0 && len(h.seen) == 0 {
		at = h.start // there before the sidecar came
	}
	h.head = id
	h.seen = append(h.seen, sighting{id, at})
	if len(h.seen) > maxSightings {
		h.seen = append(h.seen[:0], h.seen[len(h.seen)-maxSightings/2:]...)
	}
}

// since is when the first commit after wm was first seen.
func (h *headTracker) since(wm uint64) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.seen {
		if s.id > wm {
			return s.at
		}
	}
	return time.Now()
}

// pollOnce reads the primary's head on the polling connection; it reports
// whether the primary answered.
func (s *Sidecar) pollOnce(ctx context.Context) bool {
	if s.poll == nil || s.poll.IsClosed() {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := s.poll.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		return false
	}
	if id, err := strconv.ParseUint(s.poll.ParameterStatus("dualgate.as_of"), 10, 64); err == nil {
		s.head.observe(id, time.Now())
	}
	return true
}

// pollLoop polls the head every PollInterval, reconnecting (with backoff
// up to 5s) while the primary is unreachable, and re-reads the projection
// definitions after each reconnect, every DefinitionsInterval and when
// asked (defs.go).
func (s *Sidecar) pollLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	var down time.Time
	var retryAt time.Time
	backoff := s.opts.PollInterval
	stale := false // the definitions are due for a re-read
	lastDefs := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.refresh:
			stale = true
		}
		if s.pollOnce(ctx) {
			if !down.IsZero() {
				s.log.Info().Str("primary", s.fw.Addr()).Dur("down_for", time.Since(down)).Msg("sidecar: primary reachable again")
				down, backoff = time.Time{}, s.opts.PollInterval
			}
			if stale || time.Since(lastDefs) >= s.opts.DefinitionsInterval {
				if s.reload(ctx) {
					stale = false
				}
				lastDefs = time.Now()
			}
			continue
		}
		if down.IsZero() {
			down = time.Now()
			s.log.Warn().Str("primary", s.fw.Addr()).Msg("sidecar: primary unreachable; serving from Redis with the last known head")
		}
		if time.Now().Before(retryAt) {
			continue
		}
		if s.poll != nil {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			_ = s.poll.Close(cctx)
			cancel()
			s.poll = nil
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := s.fw.Connect(cctx, ownUser, "", ownParams)
		cancel()
		if err == nil {
			s.poll = conn
			stale = true // perhaps a restarted primary, perhaps with a changed catalog
			continue
		}
		backoff = min(backoff*2, 5*time.Second)
		retryAt = time.Now().Add(backoff)
	}
}
