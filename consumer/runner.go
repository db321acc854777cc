package consumer

import (
	"context"
	"errors"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge/queue"
)

// Handler turns a delivered batch into a call of the destination.
type Handler interface {
	// Prepare decodes the batch once. The returned do is called once per
	// attempt, possibly on several goroutines for different batches at once;
	// release (may be nil) is called when the batch is finished with. A
	// Terminal error from Prepare means the batch cannot be read: it is
	// dead-lettered; any other error hands the batch back for redelivery.
	Prepare(ctx context.Context, d *queue.Delivery) (do func(context.Context) error, release func(), err error)
}

// Config tunes a Runner. Zero values take the defaults shown.
type Config struct {
	Destination string   // name, for logs and dead letters
	Strategy    Strategy // Parallel
	MaxParallel int      // 20: calls at once (Sequential: 1)
	MaxRetries  int      // 5: attempts of a failing batch before the run gives up on it
	// RetryInitial and RetryMax bound the jittered exponential backoff
	// between attempts: 500ms and 10s.
	RetryInitial time.Duration
	RetryMax     time.Duration
	// FetchWait is how long one fetch waits for batches: 250ms. It bounds
	// how long Stop waits for the fetch in flight.
	FetchWait time.Duration
	// KeepAlive is how often held batches get in-progress signals: 10s
	// (set it below the consumer's AckWait).
	KeepAlive time.Duration
	Logger    *zap.Logger
}

func (c *Config) defaults() {
	if c.MaxParallel <= 0 {
		c.MaxParallel = 20
	}
	if c.Strategy == Sequential {
		c.MaxParallel = 1
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = 5
	}
	if c.RetryInitial <= 0 {
		c.RetryInitial = 500 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 10 * time.Second
	}
	if c.FetchWait <= 0 {
		c.FetchWait = 250 * time.Millisecond
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// TableStats counts what a Runner did for one table.
type TableStats struct {
	Items       int
	Batches     int
	DeadLetters int
}

// DeadRecord is a batch the Runner dead-lettered.
type DeadRecord struct {
	Table   string
	BatchID string
	Rows    int
	Err     error
}

// Runner fetches and delivers batches until stopped.
type Runner struct {
	cons  *queue.Consumer
	h     Handler
	cfg   Config
	log   *zap.Logger
	sched *scheduler

	stopping  chan struct{}
	stopOnce  sync.Once
	fetchDone chan struct{}
	kaStop    chan struct{}
	kaDone    chan struct{}
	failed    chan struct{}
	failOnce  sync.Once
	failErr   error

	callCtx     context.Context
	cancelCall  context.CancelFunc
	fetchCtx    context.Context
	cancelFetch context.CancelFunc
	wg          sync.WaitGroup

	mu    sync.Mutex
	stats map[string]*TableStats
	dead  []DeadRecord
	toNak []*queue.Delivery
}

// NewRunner returns a Runner over cons calling h.
func NewRunner(cons *queue.Consumer, h Handler, cfg Config) *Runner {
	cfg.defaults()
	return &Runner{
		cons:      cons,
		h:         h,
		cfg:       cfg,
		log:       cfg.Logger.With(zap.String("destination", cfg.Destination)),
		sched:     newScheduler(cfg.Strategy, 2*cfg.MaxParallel+16),
		stopping:  make(chan struct{}),
		fetchDone: make(chan struct{}),
		kaStop:    make(chan struct{}),
		kaDone:    make(chan struct{}),
		failed:    make(chan struct{}),
		stats:     make(map[string]*TableStats),
	}
}

// Start starts the fetch loop, the workers and the keep-alive. Values of ctx
// reach the destination's calls; its cancellation stops them hard.
func (r *Runner) Start(ctx context.Context) {
	r.callCtx, r.cancelCall = context.WithCancel(ctx)
	r.fetchCtx, r.cancelFetch = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(r.kaDone)
		r.keepAlive()
	}()
	for range r.cfg.MaxParallel {
		r.wg.Go(r.work)
	}
	go func() {
		defer close(r.fetchDone)
		r.fetch()
	}()
}

// Failed is closed when a batch has spent its attempts: the run has failed.
func (r *Runner) Failed() <-chan struct{} { return r.failed }

// Err returns the error that failed the run, if any.
func (r *Runner) Err() error {
	select {
	case <-r.failed:
		return r.failErr
	default:
		return nil
	}
}

func (r *Runner) fail(err error) {
	r.failOnce.Do(func() {
		r.failErr = err
		close(r.failed)
	})
	r.beginStop()
}

func (r *Runner) beginStop() {
	r.stopOnce.Do(func() { close(r.stopping) })
}

func (r *Runner) isStopping() bool {
	select {
	case <-r.stopping:
		return true
	default:
		return false
	}
}

func (r *Runner) fetch() {
	for !r.isStopping() {
		n := r.sched.reserve()
		if n == 0 {
			return
		}
		got := 0
		err := r.cons.Fetch(r.fetchCtx, n, r.cfg.FetchWait, func(d *queue.Delivery) {
			got++
			if !r.sched.push(d) {
				r.nakLater(d)
			}
		})
		r.sched.unreserve(n - got)
		if err != nil && !r.isStopping() {
			r.log.Warn("fetching batches failed; retrying in 1s", zap.Error(err))
			select {
			case <-r.stopping:
			case <-time.After(time.Second):
			}
		}
	}
}

func (r *Runner) work() {
	for {
		d, ok := r.sched.next()
		if !ok {
			return
		}
		r.handle(d)
		r.sched.done(d)
	}
}

func (r *Runner) keepAlive() {
	t := time.NewTicker(r.cfg.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-r.kaStop:
			return
		case <-t.C:
		}
		for _, d := range r.sched.held() {
			_ = d.InProgress()
		}
	}
}

func (r *Runner) nakLater(d *queue.Delivery) {
	r.mu.Lock()
	r.toNak = append(r.toNak, d)
	r.mu.Unlock()
}

func (r *Runner) handle(d *queue.Delivery) {
	log := r.log.With(zap.String("table", d.Table), zap.String("batch", d.MsgID))
	do, release, err := r.h.Prepare(r.callCtx, d)
	if err != nil {
		if IsTerminal(err) {
			log.Error("batch cannot be read; sending it to the dead-letter stream", zap.Error(err))
			r.deadLetter(d, "undecodable", err, 0)
			return
		}
		log.Warn("batch could not be fetched; it will be delivered again", zap.Error(err))
		_ = d.Nak(time.Second)
		return
	}
	if release != nil {
		defer release()
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = r.cfg.RetryInitial
	bo.MaxInterval = r.cfg.RetryMax
	bo.MaxElapsedTime = 0
	bo.Reset()
	for attempt := 1; ; attempt++ {
		err := r.call(do)
		if err == nil {
			if err := d.Ack(r.callCtx); err != nil {
				// The batch will come back: at least once, never lost.
				log.Warn("batch delivered but its ack failed; it will be delivered again", zap.Error(err))
				return
			}
			r.count(d.Table, d.Rows, 1, 0, nil)
			return
		}
		if IsTerminal(err) {
			log.Error("destination returned a terminal error; sending the batch to the dead-letter stream",
				zap.Int("attempt", attempt), zap.Error(err))
			r.deadLetter(d, "terminal", err, attempt)
			return
		}
		if r.isStopping() || r.callCtx.Err() != nil {
			r.nakLater(d)
			return
		}
		if attempt >= r.cfg.MaxRetries {
			log.Error("batch failed every attempt; the run stops and the batch stays pending for the next run",
				zap.Int("attempts", attempt), zap.Error(err))
			r.fail(&RetriesError{Table: d.Table, BatchID: d.MsgID, Attempts: attempt, Err: err})
			r.nakLater(d)
			return
		}
		wait := bo.NextBackOff()
		log.Warn("destination failed; retrying", zap.Int("attempt", attempt),
			zap.Duration("in", wait), zap.Error(err))
		select {
		case <-time.After(wait):
		case <-r.stopping:
			r.nakLater(d)
			return
		}
	}
}

// call runs one attempt, turning a panic into a transient error.
func (r *Runner) call(do func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			pe := &PanicError{Value: v, Stack: debug.Stack()}
			r.log.Error("destination panicked; treating it as a transient error",
				zap.Any("panic", v), zap.ByteString("stack", pe.Stack))
			err = pe
		}
	}()
	return do(r.callCtx)
}

func (r *Runner) deadLetter(d *queue.Delivery, reason string, cause error, attempts int) {
	err := d.DeadLetter(r.callCtx, queue.DeadInfo{
		Destination: r.cfg.Destination, Reason: reason, Err: cause, Attempts: attempts,
	})
	if err != nil {
		r.log.Error("dead-lettering failed; the batch stays pending", zap.Error(err))
		r.fail(err)
		r.nakLater(d)
		return
	}
	r.count(d.Table, 0, 0, 1, &DeadRecord{Table: d.Table, BatchID: d.MsgID, Rows: d.Rows, Err: cause})
}

func (r *Runner) count(table string, items, batches, dead int, rec *DeadRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats[table]
	if s == nil {
		s = &TableStats{}
		r.stats[table] = s
	}
	s.Items += items
	s.Batches += batches
	s.DeadLetters += dead
	if rec != nil {
		r.dead = append(r.dead, *rec)
	}
}

// Stats returns what the Runner did so far, per table.
func (r *Runner) Stats() map[string]TableStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]TableStats, len(r.stats))
	for k, v := range r.stats {
		out[k] = *v
	}
	return out
}

// DeadLetters returns the batches the Runner dead-lettered.
func (r *Runner) DeadLetters() []DeadRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.dead)
}

// Stop stops fetching, lets calls in progress finish (until ctx is done, then
// cancels them), and hands every batch not acknowledged back to the server in
// stream order, so the next run starts with them. idle says no batch is
// waiting (all are finished): Stop then abandons the fetch in flight instead
// of letting it run out.
func (r *Runner) Stop(ctx context.Context, idle bool) error {
	r.beginStop()
	if idle {
		r.cancelFetch()
	}
	<-r.fetchDone
	r.cancelFetch()
	for _, d := range r.sched.close() {
		r.nakLater(d)
	}
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		r.cancelCall()
		<-done
	}
	r.cancelCall()
	close(r.kaStop)
	<-r.kaDone
	r.mu.Lock()
	naks := r.toNak
	r.toNak = nil
	r.mu.Unlock()
	slices.SortFunc(naks, func(a, b *queue.Delivery) int {
		switch {
		case a.StreamSeq < b.StreamSeq:
			return -1
		case a.StreamSeq > b.StreamSeq:
			return 1
		}
		return 0
	})
	for _, d := range naks {
		if nerr := d.Nak(0); nerr != nil {
			err = errors.Join(err, nerr)
		}
	}
	return err
}
