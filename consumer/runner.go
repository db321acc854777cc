package consumer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge/queue"
	"github.com/fanoutbridge/bridge/sink"
)

// Handler turns a delivered batch into calls of the destination.
type Handler interface {
	// Prepare reads the batch once. An error marked Terminal means the batch
	// cannot be read: it is dead-lettered. Any other error is retried like a
	// failed call (see queue.Unreadable for which count as attempts).
	Prepare(ctx context.Context, d *queue.Delivery) (Batch, error)
}

// Batch is a prepared batch: the calls (parts) of the destination it makes.
// A destination whose batch size is smaller than the batch's makes several
// calls of one delivered batch; the batch is acknowledged when every part is
// delivered or dead-lettered.
type Batch interface {
	// Parts is how many calls the batch makes (at least 1).
	Parts() int
	// Call makes one attempt of part i. It may run on several goroutines
	// at once for different batches, never for one batch.
	Call(ctx context.Context, i int) error
	// Rows is the number of rows of part i.
	Rows(i int) int
	// DeadPart returns the rows of part i encoded for the dead-letter
	// stream; it is only asked when Parts() > 1.
	DeadPart(i int) (*queue.DeadPart, error)
	// Release frees what the batch holds; called once, when done with it.
	Release()
}

// RowBatch is a Batch whose parts can be cut down to some of their rows,
// for destinations that answer with sink.RowErrors: a retry sends only the
// rows that failed, and failed rows are dead-lettered on their own.
type RowBatch interface {
	Batch
	// Narrow keeps, for the next calls of part i, only its current rows
	// keep (indices into the rows of its last call; nil keeps none).
	Narrow(i int, keep []int)
	// Narrowed reports whether part i was cut down.
	Narrowed(i int) bool
	// DeadRows returns the rows rows (indices into part i's current rows)
	// encoded for the dead-letter stream.
	DeadRows(i int, rows []int) (*queue.DeadPart, error)
	// RowIndex maps index j of part i's current rows to its index in the
	// part as first called.
	RowIndex(i, j int) int
}

// Positions keeps, across runs and processes, which part of a delivered
// batch comes next when the batch was left part-way (a failed part stays
// pending with the parts after it; those before it are not sent again).
type Positions interface {
	Position(ctx context.Context, batchID string) (int, error)
	SetPosition(ctx context.Context, batchID string, part int) error
	ClearPosition(ctx context.Context, batchID string) error
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
	// MaxRetryAfter is how many waits a batch may ask for with
	// sink.RetryAfter without counting them as failed attempts: 100
	// (negative: none).
	// Beyond it, such an answer counts as a failed attempt (waiting as
	// asked).
	MaxRetryAfter int
	// FetchWait is how long one fetch waits for batches: 250ms. It bounds
	// how long Stop waits for the fetch in flight.
	FetchWait time.Duration
	// KeepAlive is how often held batches get in-progress signals: 10s
	// (set it below the consumer's AckWait).
	KeepAlive time.Duration
	// GapWait is how long, under TableSequential, a batch waits for one
	// before it in its table that was handed out but not received (it comes
	// back after the ack wait): set it above the ack wait plus FetchWait.
	// Default DefaultGapWait.
	GapWait time.Duration
	// Positions keeps where a batch left part-way stands; nil: a batch
	// left part-way starts again from its first part.
	Positions Positions
	// SetAside tells the batches set aside by hand (moved to the
	// dead-letter stream for this destination): the runner acknowledges
	// them without a call. nil: none.
	SetAside SetAside
	// Lease, when set, is a lock the runner must hold to take batches
	// (see Lease): TableSequential across processes. nil: none.
	Lease Lease
	// Order, under TableSequential, carries from one runner to the next
	// the batch each load and table expects next (see Order). nil: a new
	// runner learns it from the batches it receives.
	Order  Order
	Logger *zap.Logger
	// OnDeadLetter, if set, hears of each dead letter the runner sends,
	// with its reason (for metrics).
	OnDeadLetter func(rec DeadRecord, reason string)
}

// Lease is a lock on the server that one runner at a time holds, so that one
// process serves a destination whose order matters (TableSequential) while
// others stand by.
type Lease interface {
	// Acquire waits until the lease is held (calling waiting with the
	// holder when it learns who holds it) or ctx ends.
	Acquire(ctx context.Context, poll time.Duration, waiting func(holder string)) error
	// Lost is closed when the held lease is lost.
	Lost() <-chan struct{}
	// Release gives the lease up, so another process takes over at once.
	Release(ctx context.Context)
}

// ErrLeaseLost is wrapped by the error of a runner that lost its lease:
// another process may serve the destination now, so it stopped its calls.
var ErrLeaseLost = errors.New("lost the lease of the destination")

// Order keeps, between the runners of a TableSequential destination, the
// batch each load and table expects next. A runner that stops hands its
// unfinished batches back to the server; one handed to a pull request still
// open on the server is seen again only after the ack wait, and a new runner
// that received the batches after it first would deliver them ahead of it.
// So a runner notes, as it stops, the first batch it hands back of each load
// and table, and the next runner, before its first fetch, holds later
// batches of those tables for it (up to GapWait). Keys are load and table
// joined by a NUL byte; values are batch sequence numbers.
type Order interface {
	// TakeExpected returns what the last runner noted and forgets it, so
	// that a note outlives no more than one runner.
	TakeExpected(ctx context.Context) (map[string]int, error)
	// SetExpected replaces the note (an empty map clears it).
	SetExpected(ctx context.Context, next map[string]int) error
}

// SetAside knows the batches of a destination set aside by hand, by stream
// sequence (see queue.SetAside).
type SetAside interface {
	Has(seq uint64) bool
	// Done forgets seq once its batch is acknowledged.
	Done(ctx context.Context, seq uint64)
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
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = 100 // negative: none
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

	mu      sync.Mutex
	stats   map[string]*TableStats
	dead    []DeadRecord
	toNak   []*queue.Delivery
	stopped map[string]error // TableSequential: tables stopped at a batch that spent its attempts
	parked  int              // batches of stopped tables held back, in toNak

	leased    atomic.Bool  // the runner took its lease (Config.Lease)
	serving   atomic.Bool  // the runner began to fetch
	active    atomic.Int64 // unix nanoseconds of the last batch fetched or finished
	lastFetch atomic.Int64 // unix nanoseconds the last fetch request started
}

// NewRunner returns a Runner over cons calling h.
func NewRunner(cons *queue.Consumer, h Handler, cfg Config) *Runner {
	cfg.defaults()
	r := &Runner{
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
		stopped:   make(map[string]error),
	}
	r.active.Store(time.Now().UnixNano())
	if cfg.GapWait > 0 {
		r.sched.gapWait = cfg.GapWait
	}
	return r
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
		if r.cfg.Lease != nil && !r.acquire() {
			return
		}
		r.serving.Store(true)
		r.takeOrder()
		r.fetch()
	}()
}

// leasePoll is how often a runner waiting for its lease asks for it.
var leasePoll = time.Second

// acquire waits for the runner's lease; it reports false when the runner
// stopped first. Once held, a lost lease stops the runner and cancels its
// calls at once: another process may take the batches now.
func (r *Runner) acquire() bool {
	ctx, cancel := context.WithCancel(r.fetchCtx)
	defer cancel()
	go func() {
		select {
		case <-r.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := r.cfg.Lease.Acquire(ctx, leasePoll, func(holder string) {
		if holder == "" {
			r.log.Warn("cannot reach NATS to take the lease of this TableSequential destination; retrying")
			return
		}
		r.log.Info("another process serves this TableSequential destination (one at a time keeps each table in order); standing by to take over",
			zap.String("holder", holder))
	})
	if err != nil {
		return false
	}
	r.leased.Store(true)
	r.log.Info("took the lease of this TableSequential destination: this process serves it now")
	lost := r.cfg.Lease.Lost()
	go func() {
		select {
		case <-lost:
			r.log.Error("lost the lease of this TableSequential destination (NATS unreachable too long, or the process was paused): " +
				"stopping its calls, another process may serve it now")
			r.fail(fmt.Errorf("destination %s: %w", r.cfg.Destination, ErrLeaseLost))
			r.cancelCall()
		case <-r.stopping:
		}
	}()
	return true
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
		r.lastFetch.Store(time.Now().UnixNano())
		err := r.cons.Fetch(r.fetchCtx, n, r.cfg.FetchWait, func(d *queue.Delivery) {
			got++
			r.active.Store(time.Now().UnixNano())
			if r.tableStopped(d.Table) {
				r.sched.unreserve(1)
				r.park(d)
				return
			}
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
		r.active.Store(time.Now().UnixNano())
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
		r.mu.Lock()
		held := slices.Clone(r.toNak)
		r.mu.Unlock()
		for _, d := range append(r.sched.held(), held...) {
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
	if r.cfg.SetAside != nil && r.cfg.SetAside.Has(d.StreamSeq) {
		// Set aside by hand: its copy is in the dead-letter stream.
		if err := d.Ack(r.answerCtx()); err != nil {
			r.nakLater(d)
			return
		}
		log.Info("batch set aside by hand (it is in the dead-letter stream): acknowledged without a call")
		r.cfg.SetAside.Done(r.answerCtx(), d.StreamSeq)
		return
	}
	if d.Target != "" && d.Target != r.cfg.Destination {
		// A dead letter replayed for another destination.
		if err := d.Ack(r.answerCtx()); err != nil {
			r.nakLater(d)
		}
		return
	}
	if r.tableStopped(d.Table) {
		r.park(d)
		return
	}
	b, err := r.prepare(d, log)
	if b == nil {
		if err != nil {
			r.giveUp(d, log, err)
			r.leave(d, 0, log)
		}
		return
	}
	defer b.Release()
	n := b.Parts()
	start := r.position(d, n, log)
	for part := start; part < n; part++ {
		plog := log
		if n > 1 {
			plog = log.With(zap.Int("part", part+1), zap.Int("parts", n))
		}
		if !r.deliverPart(d, b, part, plog) {
			r.leave(d, part, plog)
			return
		}
	}
	if err := d.Ack(r.answerCtx()); err != nil {
		// The batch will come back: at least once, never lost.
		log.Warn("batch delivered but its ack failed; it will be delivered again", zap.Error(err))
		return
	}
	if start > 0 && r.cfg.Positions != nil {
		_ = r.cfg.Positions.ClearPosition(context.WithoutCancel(r.callCtx), d.MsgID)
	}
}

// deliverPart delivers part of b: it reports true when the part is done
// (delivered, or dead-lettered in whole or in part) and false when it stays
// pending (the runner stops, or the part spent its attempts, or a dead letter
// could not be stored).
func (r *Runner) deliverPart(d *queue.Delivery, b Batch, part int, log *zap.Logger) bool {
	rb, _ := b.(RowBatch)
	delivered := 0 // rows delivered by calls that answered with row errors
	call := func(ctx context.Context) error {
		rows := b.Rows(part)
		err := b.Call(ctx, part)
		if err == nil {
			delivered += rows
			return nil
		}
		re, ok := sink.AsRowErrors(err)
		if !ok || rb == nil {
			return err
		}
		retry, err := r.rowErrors(d, rb, part, rows, re, Attempt(ctx), log)
		if err != nil {
			return err
		}
		delivered += rows - len(re)
		if len(retry) == 0 {
			return nil
		}
		return &rowRetry{RowErrors: retry}
	}
	attempts, err := r.attempts(call, log)
	var rr *rowRetry
	switch {
	case err == nil:
		r.count(d.Table, delivered, 1, 0, nil)
		return true
	case attempts > 0 && errors.As(err, &rr):
		// The other rows are delivered: the batch cannot stay pending
		// without sending them again, so its failing rows go to the
		// dead-letter stream.
		log.Error("rows of the batch failed every attempt; sending them to the dead-letter stream (the batch's other rows are delivered)",
			zap.Int("rows", len(rr.RowErrors)), zap.Int("attempts", attempts), zap.Error(err))
		if !r.deadRows(d, rb, part, b.Rows(part), sink.RowErrors(rr.RowErrors), "retries", attempts) {
			return false
		}
		r.count(d.Table, delivered, 1, 0, nil)
		return true
	case IsTerminal(err):
		log.Error("destination returned a terminal error; sending the batch to the dead-letter stream",
			zap.Int("attempt", attempts), zap.Error(err))
		var dp *queue.DeadPart
		switch {
		case rb != nil && rb.Narrowed(part):
			all := make([]int, b.Rows(part))
			for i := range all {
				all[i] = i
			}
			if dp, err = rb.DeadRows(part, all); err != nil {
				r.fail(fmt.Errorf("dead-letter rows of batch %s: %w", d.MsgID, err))
				return false
			}
		case b.Parts() > 1:
			var derr error
			if dp, derr = b.DeadPart(part); derr != nil {
				r.fail(fmt.Errorf("dead-letter part %d of batch %s: %w", part+1, d.MsgID, derr))
				return false
			}
		}
		if !r.deadLetter(d, "terminal", err, attempts, dp, b.Rows(part)) {
			return false
		}
		if delivered > 0 {
			r.count(d.Table, delivered, 0, 0, nil)
		}
		return true
	default:
		if attempts > 0 {
			r.giveUp(d, log, &RetriesError{Table: d.Table, BatchID: d.MsgID, Attempts: attempts, Err: err})
		}
		if delivered > 0 {
			log.Warn("the batch goes back to the queue after some of its rows were delivered; they will be sent again with it",
				zap.Int("delivered", delivered))
		}
		return false
	}
}

// rowErrors handles a call that failed some of its rows rows: terminal row
// errors go to the dead-letter stream at once and the part is narrowed to
// the rows to try again, whose errors it returns. An error means the answer
// cannot be used (it names a row the call did not have) or the dead letter
// was not stored.
func (r *Runner) rowErrors(d *queue.Delivery, rb RowBatch, part, rows int, re sink.RowErrors, attempt int, log *zap.Logger) (sink.RowErrors, error) {
	dead, retry := sink.RowErrors{}, sink.RowErrors{}
	for i, err := range re {
		if i < 0 || i >= rows {
			return nil, Terminal(fmt.Errorf("destination answered with an error for row %d of a call with %d rows: %w", i, rows, re))
		}
		if err == nil {
			err = errors.New("row failed (the destination gave no error)")
		}
		if IsTerminal(err) {
			dead[i] = err
		} else {
			retry[i] = err
		}
	}
	if len(dead) > 0 {
		log.Error("destination failed rows of the batch with terminal errors; sending those rows to the dead-letter stream",
			zap.Int("rows", len(dead)), zap.Int("of", rows), zap.Error(dead))
		if !r.deadRows(d, rb, part, rows, dead, "terminal", attempt) {
			return nil, errDeadRows
		}
	}
	if len(retry) == 0 {
		rb.Narrow(part, nil)
		return nil, nil
	}
	keep := slices.Sorted(maps.Keys(retry))
	out := make(sink.RowErrors, len(keep))
	for j, i := range keep {
		out[j] = retry[i]
	}
	rb.Narrow(part, keep)
	return out, nil
}

// errDeadRows stops a part whose failed rows could not be dead-lettered
// (the runner has failed).
var errDeadRows = errors.New("dead-lettering failed rows failed")

// deadRows dead-letters rows errs (indices into part's current rows) with
// their errors, as one smaller batch; it reports false if that failed.
func (r *Runner) deadRows(d *queue.Delivery, rb RowBatch, part, rows int, errs sink.RowErrors, reason string, attempts int) bool {
	idx := slices.Sorted(maps.Keys(errs))
	dp, err := rb.DeadRows(part, idx)
	if err != nil {
		r.fail(fmt.Errorf("dead-letter rows of batch %s: %w", d.MsgID, err))
		return false
	}
	var msg strings.Builder
	fmt.Fprintf(&msg, "%d of %d rows failed", len(idx), rows)
	for j, i := range idx {
		fmt.Fprintf(&msg, "; row %d (dead letter row %d): %v", rb.RowIndex(part, i), j, errs[i])
	}
	return r.deadLetter(d, reason, errors.New(msg.String()), attempts, dp, len(idx))
}

// rowRetry is a call whose failed rows are tried again: its error indices
// are into the part as narrowed.
type rowRetry struct{ sink.RowErrors }

func (e *rowRetry) Unwrap() error { return e.RowErrors }

// prepare reads the batch, retrying as for calls. It returns nil and no error
// when the runner is stopping or the batch was dead-lettered.
func (r *Runner) prepare(d *queue.Delivery, log *zap.Logger) (Batch, error) {
	var b Batch
	attempts, err := r.attempts(func(ctx context.Context) (err error) {
		b, err = r.h.Prepare(ctx, d)
		if errors.Is(err, queue.ErrGone) {
			return Terminal(err) // nothing to retry
		}
		if err != nil && !IsTerminal(err) && !queue.Unreadable(err) {
			// Not the batch's fault (NATS away): try again, uncounted.
			return &uncounted{err}
		}
		return err
	}, log)
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, queue.ErrGone):
		log.Debug("batch handed out again after it left the stream; nothing to deliver", zap.Error(err))
		_ = d.Ack(r.answerCtx())
		return nil, nil
	case attempts == 0:
		r.nakLater(d) // stopping
		return nil, nil
	case IsTerminal(err) || queue.Unreadable(err):
		log.Error("batch cannot be read; sending it to the dead-letter stream", zap.Int("attempts", attempts), zap.Error(err))
		if r.deadLetter(d, "unreadable", err, attempts, nil, d.Rows) {
			if aerr := d.Ack(r.answerCtx()); aerr != nil {
				log.Warn("ack of a dead-lettered batch failed; it will be delivered again", zap.Error(aerr))
			}
		} else {
			r.nakLater(d)
		}
		return nil, nil
	}
	return nil, &RetriesError{Table: d.Table, BatchID: d.MsgID, Attempts: attempts, Err: err}
}

// uncounted is an error retried without counting an attempt.
type uncounted struct{ err error }

func (e *uncounted) Error() string { return e.err.Error() }
func (e *uncounted) Unwrap() error { return e.err }

// attempts calls do until it succeeds, fails terminally, spends MaxRetries
// attempts or the runner stops; it returns the attempts made (0 when it
// stopped before deciding) and the last error.
func (r *Runner) attempts(do func(context.Context) error, log *zap.Logger) (int, error) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = r.cfg.RetryInitial
	bo.MaxInterval = r.cfg.RetryMax
	bo.MaxElapsedTime = 0
	bo.Reset()
	attempt, asked := 0, 0
	for {
		err := r.call(log, attempt+1, func(ctx context.Context) error { return do(withAttempt(ctx, attempt+1)) })
		var unc *uncounted
		after, asksWait := sink.RetryAfterDelay(err)
		retryAfter := asksWait && !IsTerminal(err) && asked < r.cfg.MaxRetryAfter
		if retryAfter {
			asked++
		}
		if !errors.As(err, &unc) && !retryAfter {
			attempt++
		}
		if err == nil || IsTerminal(err) {
			return max(attempt, 1), err
		}
		if r.isStopping() || r.callCtx.Err() != nil {
			return 0, err
		}
		if attempt >= r.cfg.MaxRetries {
			return attempt, err
		}
		wait := after
		switch {
		case retryAfter:
			log.Warn("destination asked to try again later; waiting as it asked (not counted as a failed attempt)",
				zap.Int("attempt", attempt+1), zap.Duration("in", wait), zap.Int("waits", asked), zap.Error(err))
		case asksWait:
			log.Warn("destination asked to try again later once more than MaxRetryAfter allows; waiting as it asked, counted as a failed attempt",
				zap.Int("attempt", attempt), zap.Duration("in", wait), zap.Error(err))
		default:
			wait = bo.NextBackOff()
			log.Warn("destination failed; retrying", zap.Int("attempt", attempt),
				zap.Duration("in", wait), zap.Error(err))
		}
		select {
		case <-time.After(wait):
		case <-r.stopping:
			return 0, err
		}
	}
}

// giveUp handles a batch that spent its attempts: under TableSequential its
// table stops (the batch and those after it stay pending, in order, for the
// next run) while other tables go on; otherwise the runner fails.
func (r *Runner) giveUp(d *queue.Delivery, log *zap.Logger, err error) {
	var re *RetriesError
	if !errors.As(err, &re) {
		return
	}
	if r.cfg.Strategy == TableSequential {
		log.Error("batch failed every attempt; its table stops here and stays pending for the next run, other tables go on",
			zap.Int("attempts", re.Attempts), zap.Error(re.Err))
		r.mu.Lock()
		if _, ok := r.stopped[d.Table]; !ok {
			r.stopped[d.Table] = err
		}
		r.mu.Unlock()
		for _, w := range r.sched.takeTable(d.Table) {
			r.park(w)
		}
		return
	}
	log.Error("batch failed every attempt; the run stops and the batch stays pending for the next run",
		zap.Int("attempts", re.Attempts), zap.Error(re.Err))
	r.fail(err)
}

// leave hands the batch back, noting which part comes next if some parts were
// delivered.
func (r *Runner) leave(d *queue.Delivery, part int, log *zap.Logger) {
	if part > 0 && r.cfg.Positions != nil {
		if err := r.cfg.Positions.SetPosition(context.WithoutCancel(r.callCtx), d.MsgID, part); err != nil {
			log.Warn("could not note which part of the batch comes next; its delivered parts will be sent again", zap.Error(err))
		}
	}
	if r.tableStopped(d.Table) {
		r.park(d)
		return
	}
	r.nakLater(d)
}

// position returns the part of d to start with.
func (r *Runner) position(d *queue.Delivery, parts int, log *zap.Logger) int {
	if parts < 2 || d.NumDelivered < 2 || r.cfg.Positions == nil {
		return 0
	}
	p, err := r.cfg.Positions.Position(r.callCtx, d.MsgID)
	if err != nil {
		log.Warn("could not read where the batch stopped; sending it whole", zap.Error(err))
		return 0
	}
	if p < 0 || p >= parts {
		return 0
	}
	return p
}

func (r *Runner) tableStopped(table string) bool {
	if r.cfg.Strategy != TableSequential {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.stopped[table]
	return ok
}

// park holds a batch of a stopped table until Stop hands it back in order.
func (r *Runner) park(d *queue.Delivery) {
	d.Shed()
	r.mu.Lock()
	r.toNak = append(r.toNak, d)
	r.parked++
	r.mu.Unlock()
}

// IdleFor returns how long the runner has held no batch to work on (0 while
// it has one).
func (r *Runner) IdleFor() time.Duration {
	if len(r.sched.held()) > 0 {
		return 0
	}
	return time.Since(time.Unix(0, r.active.Load()))
}

// Parked returns how many batches of stopped tables the runner holds back.
func (r *Runner) Parked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.parked
}

// StoppedTables returns the error that stopped each table (TableSequential).
func (r *Runner) StoppedTables() map[string]error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.stopped)
}

// call runs one attempt, turning a panic into a transient error; log
// names the batch and the attempt.
func (r *Runner) call(log *zap.Logger, attempt int, do func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			pe := &PanicError{Value: v, Stack: debug.Stack()}
			log.Error("destination panicked; treating it as a transient error", zap.Int("attempt", attempt),
				zap.Any("panic", v), zap.ByteString("stack", pe.Stack))
			err = pe
		}
	}()
	return do(r.callCtx)
}

// deadLetter sends the batch, or its part dp, to the dead-letter stream; it
// reports false (and fails the runner) if that failed.
func (r *Runner) deadLetter(d *queue.Delivery, reason string, cause error, attempts int, dp *queue.DeadPart, rows int) bool {
	err := d.DeadLetter(r.answerCtx(), queue.DeadInfo{
		Destination: r.cfg.Destination, Reason: reason, Err: cause, Attempts: attempts, Part: dp,
	})
	if err != nil {
		r.log.Error("dead-lettering failed; the batch stays pending", zap.String("table", d.Table), zap.String("batch", d.MsgID),
			zap.Int("attempts", attempts), zap.Error(err))
		r.fail(err)
		return false
	}
	id := d.MsgID
	if dp != nil {
		id = dp.BatchID
	}
	rec := DeadRecord{Table: d.Table, BatchID: id, Rows: rows, Err: cause}
	r.count(d.Table, 0, 0, 1, &rec)
	if r.cfg.OnDeadLetter != nil {
		r.cfg.OnDeadLetter(rec, reason)
	}
	return true
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

// AbandonAfter is how long Stop waits for calls whose context it cancelled.
var AbandonAfter = 10 * time.Second

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
		select {
		case <-done:
		case <-time.After(AbandonAfter):
			// A destination that ignores its context: leave its calls
			// running rather than hang; their batches come back after the
			// ack wait.
			err = fmt.Errorf("destination %s: calls did not return %v after their context was cancelled; "+
				"they are abandoned and their batches will be delivered again (make the function return when ctx is done): %w",
				r.cfg.Destination, AbandonAfter, err)
			r.log.Error("destination calls ignore their cancelled context; abandoning them", zap.Duration("waited", AbandonAfter))
		}
	}
	r.cancelCall()
	close(r.kaStop)
	<-r.kaDone
	r.mu.Lock()
	naks := r.toNak
	r.toNak, r.parked = nil, 0
	r.mu.Unlock()
	if len(naks) > 0 {
		// A fetch abandoned early still waits on the server until it
		// expires; a batch handed back before then could be sent to it and
		// sit unseen until its ack wait ends.
		expiry := time.Unix(0, r.lastFetch.Load()).Add(r.cfg.FetchWait + r.cfg.FetchWait/4)
		select {
		case <-time.After(time.Until(expiry)):
		case <-ctx.Done():
		}
		// On a loaded machine the request may have reached the server
		// later than it was sent: wait, a little longer, until the server
		// holds no pull request (other workers' count too, hence the bound).
		bound := time.Now().Add(r.cfg.FetchWait + time.Second)
		for ctx.Err() == nil && time.Now().Before(bound) {
			pr, err := r.cons.Progress(ctx)
			if err != nil || pr.Waiting == 0 {
				break
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
	r.noteOrder(ctx, naks)
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
	if r.leased.Load() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		r.cfg.Lease.Release(rctx)
		cancel()
	}
	return err
}

// orderTimeout bounds each read and write of Config.Order.
const orderTimeout = 5 * time.Second

// takeOrder seeds the scheduler with what the runner before this one noted
// (see Order).
func (r *Runner) takeOrder() {
	if r.cfg.Strategy != TableSequential || r.cfg.Order == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.fetchCtx, orderTimeout)
	defer cancel()
	next, err := r.cfg.Order.TakeExpected(ctx)
	if err != nil {
		r.log.Warn("could not read which batch each table expects next; a batch handed back by the last worker "+
			"may be delivered after later ones of its table", zap.Error(err))
		return
	}
	r.sched.expectAtLeast(next)
}

// noteOrder notes, for the next runner, the first batch of each load and
// table among those handed back (see Order). A runner that never served
// (it stood by for the lease) leaves the note alone.
func (r *Runner) noteOrder(ctx context.Context, naks []*queue.Delivery) {
	if r.cfg.Strategy != TableSequential || r.cfg.Order == nil || !r.serving.Load() {
		return
	}
	next := make(map[string]int)
	for _, d := range naks {
		if d.Seq == 0 || d.Target != "" {
			continue
		}
		if k := seqKey(d); next[k] == 0 || d.Seq < next[k] {
			next[k] = d.Seq
		}
	}
	if len(next) == 0 {
		return // nothing to note; takeOrder deleted the last note
	}
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), orderTimeout)
	defer cancel()
	if err := r.cfg.Order.SetExpected(octx, next); err != nil {
		r.log.Warn("could not note which batch each table expects next; the next worker may deliver a batch "+
			"handed back now after later ones of its table", zap.Error(err))
	}
}

// answerCtx is the context of answers to the server (acks, dead letters):
// they go out even while the runner stops, since a batch the destination took
// must be acknowledged, not sent again.
func (r *Runner) answerCtx() context.Context { return context.WithoutCancel(r.callCtx) }
