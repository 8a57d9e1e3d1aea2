package sidecar

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"

	"github.com/dualgate/dualgate/gateway"
)

// auditRelay carries the audit records of the statements the sidecar
// answers itself (serving reads from Redis, dualgate.projections, refused
// statements) to the primary's dualgate.audit: forwarded statements are
// recorded by the primary, which runs them.
//
// Records queue in memory (bounded, so a long outage cannot exhaust it)
// and one goroutine sends them in batches of up to gateway.MaxRelayBatch
// with CALL dualgate.relay_audit over its own connection, as the
// --primary URL's user, which needs the relay_audit privilege. A batch is
// forgotten only once the primary has made it durable; while the primary is
// unreachable or refuses, the batch is retried with backoff and new records
// wait in the queue. When the queue is full the newest records are dropped
// and counted, and the next batch that goes through carries a record saying
// how many were lost and when, so the gap is visible in the trail itself.
type auditRelay struct {
	connect func(ctx context.Context) (*pgconn.PgConn, error)
	log     zerolog.Logger

	mu      sync.Mutex
	queue   []gateway.AuditRecord
	max     int
	dropped int64
	since   time.Time // first drop of the current gap
	wake    chan struct{}
}

// relayQueue is how many records wait at most while the primary is away.
const relayQueue = 100_000

func newAuditRelay(connect func(ctx context.Context) (*pgconn.PgConn, error), log zerolog.Logger) *auditRelay {
	return &auditRelay{connect: connect, log: log, max: relayQueue, wake: make(chan struct{}, 1)}
}

// Audit implements gateway.AuditSink: it queues r and never blocks.
func (a *auditRelay) Audit(r gateway.AuditRecord) {
	a.mu.Lock()
	if len(a.queue) >= a.max {
		if a.dropped == 0 {
			a.since = time.Now()
		}
		a.dropped++
		a.mu.Unlock()
		return
	}
	a.queue = append(a.queue, r)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// next takes the next batch (with the drop record first, if any).
func (a *auditRelay) next() []gateway.AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	var batch []gateway.AuditRecord
	if a.dropped > 0 {
		batch = append(batch, gateway.AuditRecord{At: a.since, User: ownUser, SQLState: "00000",
			Statement: fmt.Sprintf("-- dualgate sidecar: %d audit records dropped (relay queue of %d full while the primary was unreachable or refused them), the first at %s",
				a.dropped, a.max, a.since.UTC().Format(time.RFC3339Nano))})
		a.dropped = 0
	}
	n := min(len(a.queue), gateway.MaxRelayBatch-len(batch))
	batch = append(batch, a.queue[:n]...)
	a.queue = a.queue[n:]
	if len(a.queue) == 0 {
		a.queue = nil // let the backing array go after an outage
	}
	return batch
}

// requeue puts a batch that did not go through back in front.
func (a *auditRelay) requeue(batch []gateway.AuditRecord) {
	a.mu.Lock()
	a.queue = append(batch[:len(batch):len(batch)], a.queue...)
	a.mu.Unlock()
}

// pending reports how many records wait.
func (a *auditRelay) pending() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.queue)
}

// run sends batches until ctx ends, then tries once more (bounded) to send
// what is queued.
func (a *auditRelay) run(ctx context.Context) {
	var conn *pgconn.PgConn
	defer func() {
		if conn != nil {
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(cctx)
			cancel()
		}
	}()
	backoff := 100 * time.Millisecond
	failing := false
	for {
		if ctx.Err() != nil {
			a.drain(conn)
			return
		}
		batch := a.next()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
			case <-a.wake:
			}
			continue
		}
		var err error
		if conn == nil || conn.IsClosed() {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			conn, err = a.connect(cctx)
			cancel()
		}
		if err == nil {
			err = a.send(ctx, conn, batch)
		}
		if err == nil {
			if failing {
				a.log.Info().Int("pending", a.pending()).Msg("sidecar: audit relay to the primary works again")
				failing = false
			}
			backoff = 100 * time.Millisecond
			continue
		}
		a.requeue(batch)
		if !failing {
			a.log.Error().Err(err).Int("pending", a.pending()).Msg("sidecar: cannot relay audit records to the primary (needs relay_audit for the --primary user); queueing them and retrying")
			failing = true
		}
		if conn != nil {
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(cctx)
			cancel()
			conn = nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// send relays one batch; it returns once the primary made it durable.
func (a *auditRelay) send(ctx context.Context, conn *pgconn.PgConn, batch []gateway.AuditRecord) error {
	text, err := gateway.EncodeAuditBatch(batch)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = conn.ExecParams(cctx, "CALL dualgate.relay_audit($1)", [][]byte{[]byte(text)}, nil, nil, nil).Close()
	return err
}

// drain sends what is queued at shutdown, for at most two seconds.
func (a *auditRelay) drain(conn *pgconn.PgConn) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		batch := a.next()
		if len(batch) == 0 {
			return
		}
		var err error
		if conn == nil || conn.IsClosed() {
			if conn, err = a.connect(ctx); err != nil {
				break
			}
			defer conn.Close(context.Background())
		}
		if err = a.send(ctx, conn, batch); err != nil {
			a.requeue(batch)
			break
		}
	}
	if n := a.pending(); n > 0 {
		a.log.Error().Int("records", n).Msg("sidecar: audit records not relayed at shutdown (primary unreachable); they are lost")
	}
}
