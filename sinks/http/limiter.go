package httpsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanoutbridge/bridge/sink"
)

// The adaptive rate limit (AIMD), shared by every worker process of a
// destination through sink.Env.Shared.
//
// One key, "rate", holds the shared state as JSON:
//
//	rate   the rate (requests/s) set by the last cut, at time since
//	since  when rate was set: the current rate is rate + increase*(now-since), up to the max rate
//	cut    when the rate was last halved
//	next   the first free request slot (unix ns): the slots before it are taken
//
// Requests are paced, not bursty: the slots of the shared budget are spaced
// 1/rate apart, like a token bucket without a burst (the GCRA, a virtual
// scheduling of requests). A process that needs slots reserves a run of
// them at the end of the shared schedule with one compare-and-set (Update
// at the revision it read; on sink.ErrRevisionMismatch it reads again and
// retries), then hands them to its own requests, each waiting for its slot.
// It reserves as many slots as it has requests waiting, up to a tenth of a
// second's worth, so the NATS round trips stay well below one per request,
// and at most a tenth of a second of budget is ever held by a process that
// no longer needs it (such slots simply go unused: the limit errs low).
// Slots held past their time stay good, so a process idle in the middle of
// its slots may send the rest at once on waking: a burst of at most a tenth
// of a second's worth of requests.
//
// A 429 or 503 halves the rate (not below the min rate), at most once per
// second however many requests saw one, and the process that saw it drops
// the slots it holds; every process picks up the new rate with its next
// reservation. Without a 429 or 503 the rate grows by the increase per
// second up to the max rate; the growth is computed from since, so no
// process has to write anything while all goes well, and state left from an
// earlier run recovers on its own. A Retry-After is the batch's own wait
// (the runner waits exactly that long before trying it again); the other
// batches slow down with the rate and wait for their own answers. (A
// shared pause for everyone was tried: as every request in the pause's
// wake got a 429 of its own, each one pushed the pause further, and the
// waits no longer followed the header.)
//
// Times are wall-clock times of the worker machines: keep their clocks in
// sync (NTP) when workers run on several machines.

const (
	// reserveSpan is the most budget a process reserves at a time.
	reserveSpan = 100 * time.Millisecond
	// cutEvery is how often the rate may be halved: the requests in flight
	// when the rate drops see 429s too, and must not halve it again.
	cutEvery = time.Second
	// rateKey is the shared state's key.
	rateKey = "rate"
	// casAttempts bounds the compare-and-set retries of one reservation.
	casAttempts = 100
)

// rateConfig is the configured AIMD limit.
type rateConfig struct {
	start, max, min, increase float64 // requests/s; increase per second
}

// rateState is the shared state (see above).
type rateState struct {
	Rate  float64 `json:"rate"`
	Since int64   `json:"since"`
	Cut   int64   `json:"cut"`
	Next  int64   `json:"next"`
}

// current is the rate at now.
func (s *rateState) current(c rateConfig, now int64) float64 {
	if s.Since == 0 {
		return c.start
	}
	r := s.Rate + c.increase*float64(now-s.Since)/float64(time.Second)
	return min(max(r, c.min), c.max)
}

// limiter hands out request slots of the shared budget.
type limiter struct {
	kv  sink.KV
	cfg rateConfig

	waiting atomic.Int64  // requests waiting for a slot in this process
	refill  chan struct{} // held by the one goroutine reserving

	mu   sync.Mutex
	next int64 // the next slot this process holds (unix ns)
	left int   // slots held from next on
	gap  int64 // between slots
	// last is the state and revision as this process last saw them: the
	// first try of an update, saving a Get while nobody else writes. Once
	// an update at it fails (other processes write too), updates read
	// first, until a read finds the key where this process left it.
	last    rateState
	lastRev uint64
	known   bool
	trusted bool
}

func newLimiter(kv sink.KV, cfg rateConfig) *limiter {
	return &limiter{kv: kv, cfg: cfg, refill: make(chan struct{}, 1), trusted: true}
}

// Wait returns when the request may go, or ctx ends.
func (l *limiter) Wait(ctx context.Context) error {
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	for {
		if at, ok := l.take(); ok {
			return sleepUntil(ctx, at)
		}
		select {
		case l.refill <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if at, ok := l.take(); ok { // another goroutine refilled meanwhile
			<-l.refill
			return sleepUntil(ctx, at)
		}
		err := l.reserve(ctx)
		<-l.refill
		if err != nil {
			return err
		}
	}
}

// take takes the next slot this process holds.
func (l *limiter) take() (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.left == 0 {
		return 0, false
	}
	at := l.next
	l.next += l.gap
	l.left--
	return at, true
}

// reserve reserves slots at the end of the shared schedule for the
// requests waiting.
func (l *limiter) reserve(ctx context.Context) error {
	var begin, gap int64
	var n int
	err := l.update(ctx, func(s *rateState, now int64) bool {
		r := s.current(l.cfg, now)
		gap = int64(float64(time.Second) / r)
		n = int(min(2*l.waiting.Load(), int64(r*reserveSpan.Seconds())))
		n = max(n, 1)
		begin = max(now, s.Next)
		s.Next = begin + int64(n)*gap
		return true
	})
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.next, l.left, l.gap = begin, n, gap
	l.mu.Unlock()
	return nil
}

// Throttled records a 429 or 503: the rate halves (at most once per
// cutEvery). It returns the rate before and after, equal when this call
// did not cut.
func (l *limiter) Throttled(ctx context.Context) (from, to float64, err error) {
	l.mu.Lock()
	l.left = 0 // the slots held were paced at the old rate
	l.mu.Unlock()
	err = l.update(ctx, func(s *rateState, now int64) bool {
		from = s.current(l.cfg, now)
		to = from
		if now-s.Cut < int64(cutEvery) {
			return false
		}
		to = max(from/2, l.cfg.min)
		s.Rate, s.Since, s.Cut = to, now, now
		return true
	})
	return from, to, err
}

// Rate returns the shared rate now.
func (l *limiter) Rate(ctx context.Context) (float64, error) {
	var r float64
	err := l.update(ctx, func(s *rateState, now int64) bool {
		r = s.current(l.cfg, now)
		return false
	})
	return r, err
}

// update applies change to the shared state with compare-and-set,
// retrying on a conflict; change returns false to write nothing.
func (l *limiter) update(ctx context.Context, change func(s *rateState, now int64) bool) error {
	l.mu.Lock()
	st, rev, known := l.last, l.lastRev, l.known && l.trusted
	l.mu.Unlock()
	for range casAttempts {
		if !known {
			var err error
			if st, rev, err = l.read(ctx); err != nil {
				return err
			}
			l.mu.Lock()
			l.trusted = l.known && rev == l.lastRev
			l.mu.Unlock()
		}
		if !change(&st, time.Now().UnixNano()) {
			l.remember(st, rev, true)
			return nil
		}
		value, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("rate limit state: %w", err)
		}
		var newRev uint64
		if rev == 0 {
			newRev, err = l.kv.Create(ctx, rateKey, value)
		} else {
			newRev, err = l.kv.Update(ctx, rateKey, value, rev)
		}
		switch {
		case err == nil:
			l.remember(st, newRev, true)
			return nil
		case errors.Is(err, sink.ErrRevisionMismatch):
			known = false
			l.mu.Lock()
			l.trusted = false
			l.mu.Unlock()
		default:
			l.remember(rateState{}, 0, false)
			return fmt.Errorf("rate limit state: %w", err)
		}
	}
	return fmt.Errorf("rate limit state: %d conflicting updates in a row: %w", casAttempts, sink.ErrRevisionMismatch)
}

func (l *limiter) remember(st rateState, rev uint64, known bool) {
	l.mu.Lock()
	l.last, l.lastRev, l.known = st, rev, known
	l.mu.Unlock()
}

// read reads the shared state; revision 0 when there is none yet.
func (l *limiter) read(ctx context.Context) (rateState, uint64, error) {
	value, rev, err := l.kv.Get(ctx, rateKey)
	if errors.Is(err, sink.ErrNotFound) {
		return rateState{}, 0, nil
	}
	if err != nil {
		return rateState{}, 0, fmt.Errorf("rate limit state: %w", err)
	}
	var st rateState
	if err := json.Unmarshal(value, &st); err != nil {
		// Not ours to keep: start over (the next write replaces it).
		return rateState{}, rev, nil
	}
	return st, rev, nil
}

func sleepUntil(ctx context.Context, at int64) error {
	d := time.Until(time.Unix(0, at))
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// localKV is the store of a sink with no shared one: the limit is then
// this process's own.
type localKV struct {
	mu    sync.Mutex
	value []byte
	rev   uint64
}

func (k *localKV) Get(_ context.Context, key string) ([]byte, uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.rev == 0 {
		return nil, 0, sink.ErrNotFound
	}
	return k.value, k.rev, nil
}

func (k *localKV) Create(_ context.Context, key string, value []byte) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.rev != 0 {
		return 0, sink.ErrRevisionMismatch
	}
	k.value, k.rev = value, 1
	return k.rev, nil
}

func (k *localKV) Update(_ context.Context, key string, value []byte, revision uint64) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.rev == 0 || k.rev != revision {
		return 0, sink.ErrRevisionMismatch
	}
	k.value = value
	k.rev++
	return k.rev, nil
}
