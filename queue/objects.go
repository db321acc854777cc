package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A batch larger than the server's max payload is stored as an object named
// by its batch id; its message carries the name. Several destinations read
// the same object, so it is kept until its message has left the stream (every
// destination acknowledged it, or it was removed), never removed on the first
// ack. Object headers say what holds it:
const (
	// objHdrSeq is the stream sequence of the message that refers to the
	// object, set once the server has stored the message.
	objHdrSeq = "Bridge-Stream-Seq"
	// objHdrDead marks an object a dead letter refers to; only purging or
	// replaying that dead letter removes it.
	objHdrDead = "Bridge-Dead-Letter"
)

// putObject stores payload as the object name, with headers, retrying for a
// while if the server is away.
func (q *Queue) putObject(ctx context.Context, name string, payload []byte, h nats.Header) error {
	obj, err := q.objects(ctx)
	if err != nil {
		return err
	}
	put := func() (*jetstream.ObjectInfo, error) {
		return obj.Put(ctx, jetstream.ObjectMeta{Name: name, Headers: h}, bytes.NewReader(payload))
	}
	if _, err := backoff.RetryWithData(put, backoff.WithContext(backoff.NewExponentialBackOff(
		backoff.WithMaxElapsedTime(RepublishFor)), ctx)); err != nil {
		return fmt.Errorf("store batch %s in object store: %w", name, err)
	}
	return nil
}

// setObjectSeq records the stream sequence of the message that refers to an
// object, so SweepObjects can tell when the object is no longer needed. Best
// effort: an object without it is kept (it costs space, never data).
func (q *Queue) setObjectSeq(ctx context.Context, name string, seq uint64) {
	obj, err := q.objects(ctx)
	if err != nil {
		return
	}
	actx, cancel := apiCtx(ctx)
	defer cancel()
	h := nats.Header{}
	h.Set(objHdrSeq, strconv.FormatUint(seq, 10))
	_ = obj.UpdateMeta(actx, name, jetstream.ObjectMeta{Name: name, Headers: h})
}

// releaseObject deletes the object of the message at seq if the message has
// left the stream (its last destination acknowledged it). The server may
// remove the message a moment after the ack; SweepObjects catches those.
func (q *Queue) releaseObject(ctx context.Context, name string, seq uint64) {
	actx, cancel := apiCtx(ctx)
	defer cancel()
	if _, err := q.stream.GetMsg(actx, seq); !errors.Is(err, jetstream.ErrMsgNotFound) {
		return
	}
	if obj, err := q.objects(ctx); err == nil {
		_ = obj.Delete(actx, name)
	}
}

// SweepObjects deletes the objects of large batches whose messages have left
// the stream, and returns how many it deleted. Objects that dead letters
// refer to are kept.
func (q *Queue) SweepObjects(ctx context.Context) (int, error) {
	obj, err := q.js.ObjectStore(ctx, q.ObjectBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("object store %s: %w", q.ObjectBucket(), err)
	}
	list, err := obj.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list object store %s: %w", q.ObjectBucket(), err)
	}
	info, err := q.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", q.StreamName(), err)
	}
	n := 0
	for _, o := range list {
		if o.Headers.Get(objHdrDead) != "" {
			continue
		}
		seq, err := strconv.ParseUint(o.Headers.Get(objHdrSeq), 10, 64)
		if err != nil {
			continue // its message may not be stored yet
		}
		if seq >= info.State.FirstSeq && info.State.Msgs > 0 {
			if _, err := q.stream.GetMsg(ctx, seq); !errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
		}
		if err := obj.Delete(ctx, o.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return n, fmt.Errorf("delete object %s: %w", o.Name, err)
		}
		n++
	}
	return n, nil
}

// ObjectCount returns how many objects the pipeline's Object Store holds.
func (q *Queue) ObjectCount(ctx context.Context) (int, error) {
	obj, err := q.js.ObjectStore(ctx, q.ObjectBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("object store %s: %w", q.ObjectBucket(), err)
	}
	list, err := obj.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list object store %s: %w", q.ObjectBucket(), err)
	}
	return len(list), nil
}
