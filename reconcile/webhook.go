package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// hookEvent is the JSON body POSTed to an owner's webhook.
type hookEvent struct {
	Event     string    `json:"event"` // opened, reopened, escalated
	Exception Exception `json:"exception"`
}

// webhooks delivers events to owners' URLs from one goroutine, so a slow
// ticketing system never holds a run back. Events beyond the queue's
// capacity are dropped with a warning (the exception itself is durable in
// the ledger; the webhook is a notification).
type webhooks struct {
	urls   map[string]string
	log    zerolog.Logger
	client *http.Client
	queue  chan hookEvent
	stop   chan struct{}
	once   sync.Once
	done   chan struct{}
}

const hookQueue = 1024

func newWebhooks(urls map[string]string, log zerolog.Logger) *webhooks {
	w := &webhooks{urls: urls, log: log, client: &http.Client{Timeout: 10 * time.Second},
		queue: make(chan hookEvent, hookQueue), stop: make(chan struct{}), done: make(chan struct{})}
	if len(urls) == 0 {
		close(w.done)
		return w
	}
	go w.loop()
	return w
}

func (w *webhooks) send(ev hookEvent) {
	if _, ok := w.urls[ev.Exception.Owner]; !ok {
		return
	}
	select {
	case <-w.stop:
	case w.queue <- ev:
	default:
		w.log.Warn().Str("rule", ev.Exception.Rule).Uint64("exception", ev.Exception.ID).Msg("webhook queue full: event dropped")
	}
}

func (w *webhooks) loop() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		case ev := <-w.queue:
			if err := w.post(ev); err != nil {
				w.log.Warn().Err(err).Str("owner", ev.Exception.Owner).Str("rule", ev.Exception.Rule).
					Uint64("exception", ev.Exception.ID).Msg("webhook delivery failed")
			}
		}
	}
}

func (w *webhooks) post(ev hookEvent) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { // the request stops when the webhooks stop
		select {
		case <-w.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.urls[ev.Exception.Owner], bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// close stops delivery and waits for the sender to exit.
func (w *webhooks) close() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}
