package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// scanHeaders calls fn with the sequence, subject and headers of every
// message of stream on subjects matching filter, from sequence from on,
// oldest first, until fn returns false or the messages stored when the scan
// began are all seen. It reads headers only (an ordered consumer), so it is
// cheap on large batches.
func (q *Queue) scanHeaders(ctx context.Context, stream, filter string, from uint64, fn func(seq uint64, subject string, h nats.Header) bool) error {
	actx, cancel := apiCtx(ctx)
	s, err := q.js.Stream(actx, stream)
	if err == nil {
		var info *jetstream.StreamInfo
		if info, err = s.Info(actx); err == nil && (info.State.Msgs == 0 || info.State.LastSeq < max(from, 1)) {
			cancel()
			return nil
		}
	}
	cancel()
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	// A plain ephemeral consumer, headers only and without acks: an ordered
	// consumer would be recreated on every fetch. FilterSubject (not
	// FilterSubjects) works on nats-server 2.9.
	cfg := jetstream.ConsumerConfig{FilterSubject: filter, HeadersOnly: true, AckPolicy: jetstream.AckNonePolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy, InactiveThreshold: 30 * time.Second, MemoryStorage: true}
	if from > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	actx, cancel = apiCtx(ctx)
	cons, err := s.CreateConsumer(actx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("scan %s: %w", stream, err)
	}
	defer func() {
		dctx, cancel := apiCtx(context.WithoutCancel(ctx))
		_ = s.DeleteConsumer(dctx, cons.CachedInfo().Name)
		cancel()
	}()
	for {
		batch, err := cons.FetchNoWait(256)
		if err != nil {
			return fmt.Errorf("scan %s: %w", stream, err)
		}
		n, last := 0, false
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			if !fn(md.Sequence.Stream, m.Subject(), m.Headers()) {
				// Drain the rest of this fetch before leaving.
				for range batch.Messages() {
				}
				return nil
			}
			last = md.NumPending == 0
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("scan %s: %w", stream, err)
		}
		if n == 0 || last {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// DeadCounts returns how many dead letters the dead-letter stream holds now,
// per destination ("" for dead letters that name none).
func (q *Queue) DeadCounts(ctx context.Context) (map[string]uint64, error) {
	out := map[string]uint64{}
	err := q.scanHeaders(ctx, q.DLQStreamName(), q.subjectBase("dlq")+".>", 0, func(_ uint64, _ string, h nats.Header) bool {
		out[h.Get(HdrDLQDestination)]++
		return true
	})
	return out, err
}

// Held is what the stream holds for one destination.
type Held struct {
	Batches uint64 // not yet acknowledged by it
	Rows    uint64 // their rows
}

// Held counts the batches (and their rows) the stream holds for dest: those
// above its consumer's ack floor that are not yet acknowledged. JetStream
// tells how many there are but not which; batches above the ack floor that
// were acknowledged out of order (Parallel) count in Rows, so Rows is an upper
// bound while a run works. It returns ErrNotFound if dest has no consumer.
func (q *Queue) Held(ctx context.Context, dest string) (Held, error) {
	ci, err := q.consumerInfo(ctx, dest)
	if err != nil {
		return Held{}, err
	}
	h := Held{Batches: ci.NumPending + uint64(ci.NumAckPending)}
	if h.Batches == 0 {
		return h, nil
	}
	err = q.scanHeaders(ctx, q.StreamName(), q.subjectBase("tables")+".>", ci.AckFloor.Stream+1, func(_ uint64, _ string, hd nats.Header) bool {
		if t := hd.Get(HdrTarget); t == "" || t == dest {
			h.Rows += uint64(batchHeaderOf(hd).Rows)
		}
		return true
	})
	return h, err
}

// consumerInfo returns dest's consumer's info, or an error wrapping
// ErrNotFound if it has none.
func (q *Queue) consumerInfo(ctx context.Context, dest string) (*jetstream.ConsumerInfo, error) {
	actx, cancel := apiCtx(ctx)
	defer cancel()
	c, err := q.stream.Consumer(actx, DurableName(dest))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("%w: destination %q has no consumer on %s", ErrNotFound, dest, q.StreamName())
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", DurableName(dest), err)
	}
	info, err := c.Info(actx)
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", DurableName(dest), err)
	}
	return info, nil
}
