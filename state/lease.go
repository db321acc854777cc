package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fanoutbridge/bridge/queue"
)

// LeaseTTL is how long the server keeps a lease after its holder's last
// renewal: a holder that died is replaced after it.
const LeaseTTL = 15 * time.Second

// ErrLeaseLost is wrapped by the error of a lease whose holder could not
// renew it in time (NATS unreachable, the process paused) or found it taken.
var ErrLeaseLost = errors.New("lease lost")

// leaseBucket is q's bucket of leases: entries expire LeaseTTL after their
// last write, on the server's clock.
func leaseBucket(q *queue.Queue) string { return q.LeaseBucket() }

// LeaseStream is the stream that holds q's lease bucket (for Drop).
func LeaseStream(q *queue.Queue) string { return "KV_" + leaseBucket(q) }

// Lease is a named lock on the pipeline's NATS that one holder at a time
// has: a key of the lease bucket, created by the holder and renewed by it
// with compare-and-set every third of LeaseTTL. It is how processes agree
// on which of them serves a TableSequential destination.
type Lease struct {
	kv     jetstream.KeyValue
	key    string
	holder string
	ttl    time.Duration

	mu      sync.Mutex
	rev     uint64
	renewed time.Time // when the last successful write was sent
	lost    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// OpenLease returns the lease name of q's pipeline for holder (a name that
// says which process holds it, for status and logs). It creates the lease
// bucket if needed.
func OpenLease(ctx context.Context, q *queue.Queue, name, holder string) (*Lease, error) {
	js := q.JetStream()
	actx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	kv, err := js.KeyValue(actx, leaseBucket(q))
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		kv, err = js.CreateKeyValue(actx, jetstream.KeyValueConfig{
			Bucket:      leaseBucket(q),
			Description: "bridge pipeline " + q.Pipeline() + ": which process serves a TableSequential destination",
			History:     1,
			TTL:         LeaseTTL,
			Storage:     jetstream.FileStorage,
			Replicas:    q.Replicas(),
		})
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			err = q.ExplainReplicas(LeaseStream(q), 0, err)
		}
	case err == nil:
		err = q.EnsureReplicas(ctx, LeaseStream(q))
	}
	if err != nil {
		return nil, fmt.Errorf("lease bucket: %w", err)
	}
	return &Lease{kv: kv, key: queue.Token(name), holder: holder, ttl: LeaseTTL}, nil
}

// Holder returns who holds the lease now ("" for nobody).
func (l *Lease) Holder(ctx context.Context) (string, error) {
	e, err := l.kv.Get(ctx, l.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(e.Value()), nil
}

// Acquire waits until it holds the lease, polling every poll, or until ctx
// ends. While held, the lease is renewed in the background until Release;
// Lost is closed if it is lost.
func (l *Lease) Acquire(ctx context.Context, poll time.Duration, waiting func(holder string)) error {
	told := "\x00" // the holder last reported; "" for NATS away
	for {
		sent := time.Now()
		actx, cancel := context.WithTimeout(ctx, apiTimeout)
		rev, err := l.kv.Create(actx, l.key, []byte(l.holder))
		cancel()
		if err == nil {
			l.mu.Lock()
			l.rev, l.renewed = rev, sent
			l.lost, l.stop, l.done = make(chan struct{}), make(chan struct{}), make(chan struct{})
			lost, stop, done := l.lost, l.stop, l.done
			l.mu.Unlock()
			go l.renew(lost, stop, done)
			return nil
		}
		if !isConflict(err) && ctx.Err() == nil && waiting != nil && told != "" {
			told = ""
			waiting("") // NATS away: keep trying
		}
		if isConflict(err) && waiting != nil {
			if h, herr := l.Holder(ctx); herr == nil && h != told {
				told = h
				waiting(h)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// Lost is closed when the held lease is lost: a renewal found it taken, or
// none succeeded for two thirds of LeaseTTL (so the holder stops before the
// server lets another take it).
func (l *Lease) Lost() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

func (l *Lease) renew(lost, stop, done chan struct{}) {
	defer close(done)
	every := l.ttl / 3
	fence := l.ttl - every
	t := time.NewTicker(every / 5)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		l.mu.Lock()
		rev, renewed := l.rev, l.renewed
		l.mu.Unlock()
		if time.Since(renewed) > fence {
			close(lost)
			return
		}
		if time.Since(last) < every {
			continue
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		nrev, err := l.kv.Update(ctx, l.key, []byte(l.holder), rev)
		cancel()
		switch {
		case err == nil:
			last = sent
			l.mu.Lock()
			l.rev, l.renewed = nrev, sent
			l.mu.Unlock()
		case isConflict(err):
			close(lost)
			return
		default:
			last = sent // try again at the next renewal; the fence decides
		}
	}
}

// Release stops renewing and deletes the lease if it is still this
// holder's, so another process takes over at once.
func (l *Lease) Release(ctx context.Context) {
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.stop = nil
	l.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
	l.mu.Lock()
	rev, lost := l.rev, l.lost
	l.mu.Unlock()
	select {
	case <-lost:
		return
	default:
	}
	actx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	_ = l.kv.Delete(actx, l.key, jetstream.LastRevision(rev))
}

// LeaseHolder returns who holds the lease name of q's pipeline ("" for
// nobody, or when there is no lease bucket), without creating anything.
func LeaseHolder(ctx context.Context, q *queue.Queue, name string) (string, error) {
	actx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	kv, err := q.JetStream().KeyValue(actx, leaseBucket(q))
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lease bucket: %w", err)
	}
	e, err := kv.Get(actx, queue.Token(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lease %s: %w", name, err)
	}
	return string(e.Value()), nil
}
