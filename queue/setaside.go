package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Setting a pending batch aside by hand.
//
// A batch is pending for a destination while its stream sequence is above
// the destination's consumer's ack floor and the consumer has not
// acknowledged it. To take it away from that destination alone, SetAside
// copies it to the dead-letter stream (reason "manual") and notes a mark,
// setaside.<consumer>.<stream sequence>, in the pipeline's state bucket. The
// destination's runner watches its marks: when the server hands it a marked
// batch it acknowledges it without a call and removes the mark. Acknowledging
// it at once from here is not possible: JetStream (2.9 and later) only takes
// an ack through the reply subject of a delivery, and an ack for a sequence
// the consumer has not delivered yet is ignored, so a batch waiting behind
// others could not be acknowledged out of band. The mark works whether the
// batch was delivered before or not, and whether or not a run is serving the
// destination (a call already under way when the mark is written may still
// complete). The other destinations are not touched. Replaying the dead
// letter publishes it again for this destination alone (Bridge-Target), so it
// is delivered once.

// ReasonManual is the dead-letter reason of a batch set aside by hand.
const ReasonManual = "manual"

// ErrNoBatch is wrapped by SetAside's error when the destination has no
// pending batch with that id.
var ErrNoBatch = errors.New("no such pending batch")

const setAsidePrefix = "setaside."

func setAsideKey(dest string, seq uint64) string {
	return setAsidePrefix + DurableName(dest) + "." + strconv.FormatUint(seq, 10)
}

func (q *Queue) stateKV(ctx context.Context) (jetstream.KeyValue, error) {
	actx, cancel := apiCtx(ctx)
	defer cancel()
	kv, err := q.js.KeyValue(actx, q.StateBucket())
	if err != nil {
		return nil, fmt.Errorf("state bucket %s: %w", q.StateBucket(), err)
	}
	return kv, nil
}

// SetAside moves the pending batch batchID of dest to the dead-letter stream
// with reason ReasonManual and the error text reason, and marks it so that
// dest is not handed it again (see above). It returns an error wrapping
// ErrNotFound if dest is not a destination of the pipeline, and ErrNoBatch if
// dest has no pending batch with that id.
func (q *Queue) SetAside(ctx context.Context, dest, batchID, reason string) error {
	ci, err := q.consumerInfo(ctx, dest)
	if err != nil {
		return err
	}
	kv, err := q.stateKV(ctx)
	if err != nil {
		return err
	}
	var seq uint64
	err = q.scanHeaders(ctx, q.StreamName(), q.subjectBase("tables")+".>", ci.AckFloor.Stream+1, func(s uint64, _ string, h nats.Header) bool {
		if t := h.Get(HdrTarget); t != "" && t != dest {
			return true // a dead letter replayed for another destination
		}
		id := h.Get(HdrBatchID)
		if id == "" {
			id = h.Get(jetstream.MsgIDHeader)
		}
		if id != batchID {
			return true
		}
		seq = s
		return false
	})
	if err != nil {
		return err
	}
	if seq == 0 {
		return fmt.Errorf("%w %q for destination %q", ErrNoBatch, batchID, dest)
	}
	key := setAsideKey(dest, seq)
	if e, err := kv.Get(ctx, key); err == nil && e != nil {
		return fmt.Errorf("batch %q of destination %q is set aside already: it is in the dead-letter stream", batchID, dest)
	}
	actx, cancel := apiCtx(ctx)
	m, err := q.stream.GetMsg(actx, seq)
	cancel()
	if err != nil {
		return fmt.Errorf("batch %q: %w", batchID, err)
	}
	d := &Delivery{
		q: q, subject: m.Subject, header: m.Header, data: m.Data, BatchHeader: batchHeaderOf(m.Header),
		MsgID: batchID, Target: m.Header.Get(HdrTarget), StreamSeq: seq, object: m.Header.Get(HdrObject),
	}
	if reason == "" {
		reason = "set aside by hand"
	}
	// The copy first: a mark without a dead letter would lose the batch.
	if err := d.DeadLetter(ctx, DeadInfo{Destination: dest, Reason: ReasonManual, Err: errors.New(reason)}); err != nil {
		return err
	}
	actx, cancel = apiCtx(ctx)
	defer cancel()
	if _, err := kv.Put(actx, key, []byte(batchID)); err != nil {
		return fmt.Errorf("batch %q is in the dead-letter stream but still pending for %q (purge that dead letter, or try again): %w",
			batchID, dest, err)
	}
	return nil
}

// SetAsideMarks are the marks of one destination's batches set aside by
// hand, kept up to date by a watch while a run serves the destination.
type SetAsideMarks struct {
	kv   jetstream.KeyValue
	dest string
	w    jetstream.KeyWatcher
	stop chan struct{}
	wg   sync.WaitGroup

	mu   sync.Mutex
	seqs map[uint64]bool
}

// WatchSetAside returns dest's marks once the current ones are read; Stop it
// when done.
func (q *Queue) WatchSetAside(ctx context.Context, dest string) (*SetAsideMarks, error) {
	kv, err := q.stateKV(ctx)
	if err != nil {
		return nil, err
	}
	prefix := setAsidePrefix + DurableName(dest) + "."
	w, err := kv.Watch(context.WithoutCancel(ctx), prefix+"*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", prefix, err)
	}
	m := &SetAsideMarks{kv: kv, dest: dest, w: w, stop: make(chan struct{}), seqs: map[uint64]bool{}}
	initial := make(chan struct{})
	m.wg.Go(func() {
		for {
			var e jetstream.KeyValueEntry
			var ok bool
			select {
			case <-m.stop:
				return
			case e, ok = <-w.Updates():
			}
			if !ok {
				return
			}
			if e == nil {
				close(initial)
				continue
			}
			seq, err := strconv.ParseUint(strings.TrimPrefix(e.Key(), prefix), 10, 64)
			if err != nil {
				continue
			}
			m.mu.Lock()
			m.seqs[seq] = e.Operation() == jetstream.KeyValuePut
			m.mu.Unlock()
		}
	})
	select {
	case <-initial:
		return m, nil
	case <-ctx.Done():
		m.Stop()
		return nil, ctx.Err()
	case <-time.After(apiTimeout):
		m.Stop()
		return nil, fmt.Errorf("watch %s: no answer in %v", prefix, apiTimeout)
	}
}

// Has reports whether the batch at stream sequence seq is set aside.
func (m *SetAsideMarks) Has(seq uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seqs[seq]
}

// Done removes the mark of seq once its batch is acknowledged.
func (m *SetAsideMarks) Done(ctx context.Context, seq uint64) {
	m.mu.Lock()
	delete(m.seqs, seq)
	m.mu.Unlock()
	actx, cancel := apiCtx(ctx)
	defer cancel()
	_ = m.kv.Delete(actx, setAsideKey(m.dest, seq))
}

// Stop ends the watch and waits for it.
func (m *SetAsideMarks) Stop() {
	close(m.stop)
	_ = m.w.Stop()
	m.wg.Wait()
}
