package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrChecksum is returned when a batch's payload does not match its checksum.
var ErrChecksum = errors.New("queue: batch checksum mismatch")

// Consumer is a durable pull consumer over all of a pipeline's tables. Every
// process that opens the same durable shares its work.
type Consumer struct {
	q    *Queue
	cons jetstream.Consumer
	name string
}

// ConsumerConfig tunes a durable consumer.
type ConsumerConfig struct {
	// Durable names the consumer; one per destination.
	Durable string
	// AckWait is how long a delivered batch may stay unacknowledged before
	// the server hands it out again; workers extend it with in-progress
	// signals while they hold a batch. Default 30s.
	AckWait time.Duration
	// MaxAckPending bounds the unacknowledged batches across all workers.
	// Default 1000.
	MaxAckPending int
}

// Consumer creates or updates a durable consumer. It never sets MaxDeliver:
// bridge counts attempts itself, and the server never drops a batch.
func (q *Queue) Consumer(ctx context.Context, cfg ConsumerConfig) (*Consumer, error) {
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.MaxAckPending == 0 {
		cfg.MaxAckPending = 1000
	}
	name := durableName(cfg.Durable)
	cons, err := q.js.CreateOrUpdateConsumer(ctx, q.StreamName(), jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "bridge destination " + cfg.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: cfg.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: q.subjectBase("tables") + ".>",
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", name, q.StreamName(), err)
	}
	return &Consumer{q: q, cons: cons, name: name}, nil
}

// durableName maps a destination name to a consumer name.
func durableName(dest string) string {
	t := Token(dest)
	if t[0] == '_' {
		t = "x" + t
	}
	return t
}

// Name returns the consumer's name.
func (c *Consumer) Name() string { return c.name }

// Progress is where a consumer stands.
type Progress struct {
	AckFloor    uint64 // stream sequence below which every batch is done
	Pending     uint64 // not yet delivered
	AckPending  int    // delivered, not yet acknowledged
	Redelivered int
}

// Progress asks the server where the consumer stands.
func (c *Consumer) Progress(ctx context.Context) (Progress, error) {
	ctx, cancel := apiCtx(ctx)
	defer cancel()
	info, err := c.cons.Info(ctx)
	if err != nil {
		return Progress{}, fmt.Errorf("consumer info %s: %w", c.name, err)
	}
	return Progress{
		AckFloor:    info.AckFloor.Stream,
		Pending:     info.NumPending,
		AckPending:  info.NumAckPending,
		Redelivered: info.NumRedelivered,
	}, nil
}

// Fetch asks for up to n batches, waiting at most wait for them, and calls fn
// with each as it arrives. When Fetch returns, no batch of this request is
// still on its way: stopping the caller's loop between calls leaves nothing
// in limbo.
//
// Cancelling ctx ends the wait early, abandoning the request: only do that
// when no batch is expected, or one may sit unseen until its ack wait ends.
func (c *Consumer) Fetch(ctx context.Context, n int, wait time.Duration, fn func(*Delivery)) error {
	ctx, cancel := context.WithTimeout(ctx, wait+wait/8)
	defer cancel()
	batch, err := c.cons.Fetch(n, jetstream.FetchContext(ctx))
	if err != nil {
		return fmt.Errorf("fetch from %s: %w", c.name, err)
	}
	for m := range batch.Messages() {
		d, _ := c.q.delivery(m)
		fn(d)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("fetch from %s: %w", c.name, err)
	}
	return nil
}

// Delivery is one batch handed to a consumer.
type Delivery struct {
	q   *Queue
	msg jetstream.Msg

	BatchHeader
	MsgID        string
	StreamSeq    uint64
	NumDelivered uint64
	object       string
}

func (q *Queue) delivery(m jetstream.Msg) (*Delivery, error) {
	h := m.Headers()
	d := &Delivery{
		q:           q,
		msg:         m,
		BatchHeader: batchHeaderOf(h),
		MsgID:       h.Get(jetstream.MsgIDHeader),
		object:      h.Get(HdrObject),
	}
	if md, err := m.Metadata(); err == nil {
		d.StreamSeq = md.Sequence.Stream
		d.NumDelivered = md.NumDelivered
	}
	return d, nil
}

// Payload returns the batch's bytes, fetched from the Object Store if the
// batch was too large for a message, and checked against its checksum.
func (d *Delivery) Payload(ctx context.Context) ([]byte, error) {
	data := d.msg.Data()
	if d.object != "" {
		obj, err := d.q.objects(ctx)
		if err != nil {
			return nil, err
		}
		data, err = obj.GetBytes(ctx, d.object)
		if err != nil {
			return nil, fmt.Errorf("batch %s from object store: %w", d.MsgID, err)
		}
	}
	if want := d.msg.Headers().Get(HdrChecksum); want != "" && checksum(data) != want {
		return nil, fmt.Errorf("%w: batch %s", ErrChecksum, d.MsgID)
	}
	return data, nil
}

// Ack acknowledges the batch and waits for the server to confirm, then
// deletes its Object Store copy if it had one.
func (d *Delivery) Ack(ctx context.Context) error {
	actx, cancel := apiCtx(ctx)
	defer cancel()
	if err := d.msg.DoubleAck(actx); err != nil {
		return fmt.Errorf("ack batch %s: %w", d.MsgID, err)
	}
	if d.object != "" {
		if obj, err := d.q.objects(ctx); err == nil {
			_ = obj.Delete(ctx, d.object) // best effort: an orphan costs space, not data
		}
	}
	return nil
}

// Nak hands the batch back for redelivery after delay (0: at once).
func (d *Delivery) Nak(delay time.Duration) error {
	if delay > 0 {
		return d.msg.NakWithDelay(delay)
	}
	return d.msg.Nak()
}

// InProgress resets the server's ack timer for this batch.
func (d *Delivery) InProgress() error { return d.msg.InProgress() }
