package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	// ErrChecksum is returned when a batch's payload does not match its checksum.
	ErrChecksum = errors.New("queue: batch checksum mismatch")
	// ErrGone is returned for a batch that has left the stream since it was
	// delivered: every destination acknowledged it (a server may hand out
	// such a batch again), or it was purged. There is nothing to deliver.
	ErrGone = errors.New("queue: batch no longer in the stream")
)

// Consumer is a durable pull consumer over all of a pipeline's tables: one
// per destination. Every process that opens the same durable shares its work.
type Consumer struct {
	q    *Queue
	cons jetstream.Consumer
	name string
	dest string
}

// ConsumerConfig tunes a durable consumer.
type ConsumerConfig struct {
	// Destination names the destination the consumer serves; the durable's
	// name is derived from it (DurableName).
	Destination string
	// AckWait is how long a delivered batch may stay unacknowledged before
	// the server hands it out again; workers extend it with in-progress
	// signals while they hold a batch. Default 30s.
	AckWait time.Duration
	// MaxAckPending bounds the unacknowledged batches across all workers.
	// Default 1000.
	MaxAckPending int
	// Backfill makes a new consumer start with every batch the stream still
	// holds; by default it starts with batches stored from now on. An
	// existing consumer keeps where it is.
	Backfill bool
}

// descPrefix starts the description of every destination's consumer; the rest
// is the destination's name.
const descPrefix = "bridge destination "

// Consumer opens the destination's durable consumer, creating it if it does
// not exist (an existing one keeps its position; its ack wait and max ack
// pending are updated). It never sets MaxDeliver: bridge counts attempts
// itself, and the server never drops a batch.
func (q *Queue) Consumer(ctx context.Context, cfg ConsumerConfig) (*Consumer, error) {
	if cfg.Destination == "" {
		return nil, errors.New("queue: consumer without a destination name")
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.MaxAckPending == 0 {
		cfg.MaxAckPending = 1000
	}
	name := DurableName(cfg.Destination)
	cc := jetstream.ConsumerConfig{
		Durable:       name,
		Description:   descPrefix + cfg.Destination,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: cfg.MaxAckPending,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		FilterSubject: q.subjectBase("tables") + ".>",
	}
	if cfg.Backfill {
		cc.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	actx, cancel := apiCtx(ctx)
	defer cancel()
	cons, err := q.stream.Consumer(actx, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		cons, err = q.stream.CreateConsumer(actx, cc)
	case err == nil:
		// Keep where it stands: the deliver policy cannot change.
		cur := cons.CachedInfo().Config
		if cur.AckWait != cc.AckWait || cur.MaxAckPending != cc.MaxAckPending {
			cur.AckWait, cur.MaxAckPending = cc.AckWait, cc.MaxAckPending
			cons, err = q.stream.UpdateConsumer(actx, cur)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", name, q.StreamName(), err)
	}
	return &Consumer{q: q, cons: cons, name: name, dest: cfg.Destination}, nil
}

// DurableName maps a destination name to its consumer's name.
func DurableName(dest string) string {
	t := Token(dest)
	if t[0] == '_' {
		t = "x" + t
	}
	return t
}

// Name returns the consumer's name.
func (c *Consumer) Name() string { return c.name }

// Destination returns the name of the destination the consumer serves.
func (c *Consumer) Destination() string { return c.dest }

// Progress is where a consumer stands.
type Progress struct {
	AckFloor    uint64 // stream sequence below which every batch is done
	Delivered   uint64 // highest stream sequence delivered
	Pending     uint64 // not yet delivered
	AckPending  int    // delivered, not yet acknowledged
	Redelivered int
	Waiting     int // pull requests the server holds (of every client)
}

// Done reports whether the consumer has taken every batch up to stream
// sequence target and nothing is left for it beyond the held batches its own
// worker keeps on purpose. It does not rely on the ack floor alone, which can
// stay behind after a crash or a purge.
func (p Progress) Done(target uint64, held int) bool {
	return p.Idle(held) && (p.Delivered >= target || p.AckFloor >= target)
}

// Idle reports whether the server has nothing left to deliver to the
// consumer beyond the held batches. Right after a publish, the server may
// not count the new batches as pending yet: see Done.
func (p Progress) Idle(held int) bool { return p.Pending == 0 && p.AckPending <= held }

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
		Delivered:   info.Delivered.Stream,
		Pending:     info.NumPending,
		AckPending:  info.NumAckPending,
		Redelivered: info.NumRedelivered,
		Waiting:     info.NumWaiting,
	}, nil
}

// Fetch asks for up to n batches, waiting at most wait for them, and calls fn
// with each as it arrives. When Fetch returns, no batch of this request is
// left in limbo: stopping the caller's loop between calls is safe.
//
// The server ends the request when it expires (wait). A batch it sent just
// before may reach a loaded client late, and some servers (2.9) end a request
// that got some batches without saying so; so Fetch listens a little past
// the expiry (fetchGrace), then returns, and hands every batch that still
// arrives for the request straight back (a nak: it is delivered again at
// once) instead of leaving it unseen until its ack wait. A ctx that ends
// does the same at once.
func (c *Consumer) Fetch(ctx context.Context, n int, wait time.Duration, fn func(*Delivery)) error {
	if ctx.Err() != nil {
		return nil
	}
	batch, err := c.cons.Fetch(n, jetstream.FetchMaxWait(wait))
	if err != nil {
		return fmt.Errorf("fetch from %s: %w", c.name, err)
	}
	msgs := batch.Messages()
	grace := time.NewTimer(wait + fetchGrace(wait))
	defer grace.Stop()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) &&
					!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					return fmt.Errorf("fetch from %s: %w", c.name, err)
				}
				return nil
			}
			fn(c.q.delivery(m))
		case <-grace.C:
			go handBack(msgs)
			return nil
		case <-ctx.Done():
			go handBack(msgs)
			return nil
		}
	}
}

// fetchGrace is how long Fetch listens past a request's expiry.
func fetchGrace(wait time.Duration) time.Duration { return wait/4 + 50*time.Millisecond }

// handBack naks every batch still arriving for a request Fetch stopped
// listening to, until the request ends (at most its expiry plus a second).
func handBack(msgs <-chan jetstream.Msg) {
	for m := range msgs {
		_ = m.Nak()
	}
}

// Delivery is one batch handed to a consumer. It answers the server through
// the message's reply subject, so it can let go of the payload (Shed) while
// it waits its turn and fetch it again from the stream when needed.
type Delivery struct {
	q       *Queue
	reply   string
	subject string
	header  nats.Header
	data    []byte
	shed    bool

	BatchHeader
	MsgID        string // the batch id (a replayed dead letter keeps the one it had)
	Target       string // the only destination meant to take the batch ("" all): a replayed dead letter
	StreamSeq    uint64
	NumDelivered uint64
	Stored       time.Time // when the server stored the batch (its clock)
	object       string
}

func (q *Queue) delivery(m jetstream.Msg) *Delivery {
	h := m.Headers()
	d := &Delivery{
		q:           q,
		reply:       m.Reply(),
		subject:     m.Subject(),
		header:      h,
		data:        m.Data(),
		BatchHeader: batchHeaderOf(h),
		MsgID:       h.Get(jetstream.MsgIDHeader),
		Target:      h.Get(HdrTarget),
		object:      h.Get(HdrObject),
	}
	if id := h.Get(HdrBatchID); id != "" {
		d.MsgID = id
	}
	if md, err := m.Metadata(); err == nil {
		d.StreamSeq = md.Sequence.Stream
		d.NumDelivered = md.NumDelivered
		d.Stored = md.Timestamp
	}
	return d
}

// Waiting returns since when the batch waits for its destinations: when its
// oldest row was read, if the producer said so, else when it was stored.
func (d *Delivery) Waiting() time.Time {
	if !d.Read.IsZero() {
		return d.Read
	}
	return d.Stored
}

// Shed lets go of the payload held in memory; Payload fetches it again from
// the stream. For batches that wait long behind others of their table.
func (d *Delivery) Shed() {
	if d.object == "" && d.data != nil {
		d.data, d.shed = nil, true
	}
}

// Payload returns the batch's bytes, fetched from the Object Store if the
// batch was too large for a message (or from the stream if it was shed), and
// checked against its checksum.
func (d *Delivery) Payload(ctx context.Context) ([]byte, error) {
	data := d.data
	switch {
	case d.object != "":
		obj, err := d.q.objects(ctx)
		if err != nil {
			return nil, err
		}
		if data, err = obj.GetBytes(ctx, d.object); err != nil {
			if errors.Is(err, jetstream.ErrObjectNotFound) && d.gone(ctx) {
				return nil, fmt.Errorf("batch %s: %w", d.MsgID, ErrGone)
			}
			return nil, fmt.Errorf("batch %s from object store: %w", d.MsgID, err)
		}
	case d.shed:
		actx, cancel := apiCtx(ctx)
		m, err := d.q.stream.GetMsg(actx, d.StreamSeq)
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, fmt.Errorf("batch %s: %w", d.MsgID, ErrGone)
		}
		if err != nil {
			return nil, fmt.Errorf("batch %s from stream: %w", d.MsgID, err)
		}
		data = m.Data
	}
	if want := d.header.Get(HdrChecksum); want != "" && checksum(data) != want {
		return nil, fmt.Errorf("%w: batch %s", ErrChecksum, d.MsgID)
	}
	return data, nil
}

// gone reports whether the batch's message has left the stream.
func (d *Delivery) gone(ctx context.Context) bool {
	actx, cancel := apiCtx(ctx)
	defer cancel()
	_, err := d.q.stream.GetMsg(actx, d.StreamSeq)
	return errors.Is(err, jetstream.ErrMsgNotFound)
}

// Ack acknowledges the batch and waits for the server to confirm. A batch in
// the Object Store keeps its object until no destination needs it (see
// SweepObjects).
func (d *Delivery) Ack(ctx context.Context) error {
	actx, cancel := apiCtx(ctx)
	defer cancel()
	if _, err := d.q.nc.RequestWithContext(actx, d.reply, []byte("+ACK")); err != nil {
		return fmt.Errorf("ack batch %s: %w", d.MsgID, err)
	}
	if d.object != "" {
		d.q.releaseObject(ctx, d.object, d.StreamSeq)
	}
	return nil
}

// Nak hands the batch back for redelivery after delay (0: at once).
func (d *Delivery) Nak(delay time.Duration) error {
	body := "-NAK"
	if delay > 0 {
		body = fmt.Sprintf(`-NAK {"delay": %d}`, delay.Nanoseconds())
	}
	return d.q.nc.Publish(d.reply, []byte(body))
}

// InProgress resets the server's ack timer for this batch.
func (d *Delivery) InProgress() error { return d.q.nc.Publish(d.reply, []byte("+WPI")) }

// Destinations lists the destinations that have a consumer on the stream.
func (q *Queue) Destinations(ctx context.Context) ([]ConsumerState, error) {
	st, err := q.consumers(ctx)
	return st, err
}

// RemoveConsumer deletes a destination's consumer, so the stream holds
// nothing back for it any more: under the default interest retention, the
// batches every remaining destination has acknowledged are removed, and so
// are their Object Store copies. It reports false if there was no such
// consumer.
func (q *Queue) RemoveConsumer(ctx context.Context, dest string) (bool, error) {
	name := DurableName(dest)
	actx, cancel := apiCtx(ctx)
	defer cancel()
	if err := q.stream.DeleteConsumer(actx, name); err != nil {
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("delete consumer %s: %w", name, err)
	}
	if err := q.trimUninterested(ctx); err != nil {
		return true, err
	}
	_, err := q.SweepObjects(ctx)
	return true, err
}

// trimUninterested removes, under interest retention, the batches below the
// lowest ack floor of the remaining consumers (all of them when none is
// left): the removed consumer was the last to want them. A server may
// already have done so itself.
func (q *Queue) trimUninterested(ctx context.Context) error {
	info, err := q.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", q.StreamName(), err)
	}
	if info.Config.Retention != jetstream.InterestPolicy || info.State.Msgs == 0 {
		return nil
	}
	floor := info.State.LastSeq
	names := q.stream.ListConsumers(ctx)
	for ci := range names.Info() {
		floor = min(floor, ci.AckFloor.Stream)
	}
	if err := names.Err(); err != nil {
		return fmt.Errorf("list consumers of %s: %w", q.StreamName(), err)
	}
	if floor < info.State.FirstSeq {
		return nil
	}
	if err := q.stream.Purge(ctx, jetstream.WithPurgeSequence(floor+1)); err != nil {
		return fmt.Errorf("purge %s below %d: %w", q.StreamName(), floor+1, err)
	}
	return nil
}

// destinationOf returns the destination a consumer serves, from its
// description; "" for a consumer that is not a destination's.
func destinationOf(desc string) string {
	d, ok := strings.CutPrefix(desc, descPrefix)
	if !ok {
		return ""
	}
	return d
}

// Unreadable reports whether err says a batch's stored payload is damaged or
// gone (a checksum mismatch, a missing object or message), as opposed to
// NATS being away: such a batch is dead-lettered once its attempts are spent.
func Unreadable(err error) bool {
	return errors.Is(err, ErrChecksum) || errors.Is(err, jetstream.ErrObjectNotFound) ||
		errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrNoObjectsFound)
}
