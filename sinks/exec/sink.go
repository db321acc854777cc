package exec

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/sink"
)

// Config configures a Sink. Zero values take the defaults shown.
type Config struct {
	// Argv is the program and its arguments (see ParseCommand). Required.
	Argv []string
	// Dir is the program's working directory: bridge's own if empty.
	Dir string
	// Env is the program's whole environment, as in os/exec: nil means
	// bridge's own environment.
	Env []string
	// Timeout bounds one batch, from the first byte written to the answer:
	// 5 minutes. A program that takes longer is killed.
	Timeout time.Duration
	// Workers is how many copies of the program may run, each holding one
	// batch at a time: 1.
	Workers int
	// CloseTimeout is how long Close waits for batches in flight, and then
	// for the programs to exit once their stdin is closed: 5 seconds.
	CloseTimeout time.Duration
	// MaxCrashes, when above 0, makes a batch poison once the program has
	// crashed (exited, timed out or broken the protocol) on it that many
	// times in this process: the batch is then dead-lettered (a Terminal
	// error) instead of tried again. 0: a crash is always transient.
	MaxCrashes int
	// Logger receives the programs' stderr, one entry per line: no-op.
	Logger *zap.Logger
}

// Validate checks the config without looking for the program.
func (c Config) Validate() error {
	switch {
	case len(c.Argv) == 0 || c.Argv[0] == "":
		return fmt.Errorf("%w: no program given", ErrInvalidConfig)
	case c.Timeout < 0:
		return fmt.Errorf("%w: negative timeout %v", ErrInvalidConfig, c.Timeout)
	case c.Workers < 0:
		return fmt.Errorf("%w: negative workers %d", ErrInvalidConfig, c.Workers)
	case c.CloseTimeout < 0:
		return fmt.Errorf("%w: negative close timeout %v", ErrInvalidConfig, c.CloseTimeout)
	}
	return nil
}

func (c *Config) defaults() {
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// Sink hands batches to a pool of running copies of a program. It is safe
// for concurrent use.
type Sink struct {
	cfg  Config
	log  *zap.Logger
	idle chan *slot // slots not holding a batch; Workers of them in all

	closing   chan struct{}   // closed when Close begins
	ctx       context.Context // canceled when Close gives up on batches in flight
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error

	procs sync.WaitGroup // the goroutines of every process
	bufs  sync.Pool      // *[]byte for encoded batches

	crashMu sync.Mutex
	crashes map[string]int // batch id: crashes of the program on it
}

// slot is one worker: at most one running program, started lazily.
type slot struct {
	log *zap.Logger
	p   *proc
}

// New returns a Sink for cfg. It checks that the program exists but starts
// nothing: each worker starts its program at its first batch. Options, with
// their defaults, are the fields of Config. Errors wrap ErrInvalidConfig.
func New(cfg Config) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	cfg.Argv = slices.Clone(cfg.Argv)
	if err := findProgram(cfg.Argv[0], cfg.Dir); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	log := cfg.Logger.With(zap.String("program", filepath.Base(cfg.Argv[0])))
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sink{
		cfg:     cfg,
		log:     log,
		idle:    make(chan *slot, cfg.Workers),
		closing: make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
	}
	for i := range cfg.Workers {
		s.idle <- &slot{log: log.With(zap.Int("worker", i))}
	}
	return s, nil
}

// findProgram checks that name can be run from dir, as os/exec will look it
// up: a name with a slash is a path (relative to dir), any other is looked
// up in PATH.
func findProgram(name, dir string) error {
	if !strings.ContainsRune(name, '/') && !strings.ContainsRune(name, filepath.Separator) {
		_, err := osexec.LookPath(name)
		return err
	}
	path := name
	if !filepath.IsAbs(path) && dir != "" {
		path = filepath.Join(dir, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return &fs.PathError{Op: "exec", Path: path, Err: errors.New("is a directory")}
	}
	return nil
}

// Write hands one batch of table to a program and returns its verdict. It
// waits for an idle worker (starting its program if none runs) or for ctx.
//
// The error is nil when the program answered ok; a *ProgramError when it
// answered an error, marked sink.Terminal if it said so; a *ProcessError
// when the program failed (it is then killed and started again for the
// next batch); the context's error when ctx ended first (the program holding
// the batch is killed); ErrClosed after Close. A batch that cannot be
// encoded (a NaN, a Go type the schema does not know) fails terminally.
// Every error but the terminal ones is transient.
func (s *Sink) Write(ctx context.Context, table *schema.Table, batchID string, rows []schema.Row) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if table == nil {
		return sink.Terminal(fmt.Errorf("exec: batch %s: no table", batchID))
	}
	bp := s.buffer()
	defer s.recycle(bp)
	payload, err := appendBatch((*bp)[:0], table, batchID, rows)
	*bp = payload
	if err != nil {
		return sink.Terminal(fmt.Errorf("exec: batch %s of table %q cannot be sent: %w", batchID, table.Name, err))
	}
	sl, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer func() { s.idle <- sl }()
	if err := s.send(ctx, sl, batchID, payload); err != nil {
		err = fmt.Errorf("exec: batch %s: %w", batchID, err)
		var pe *ProgramError
		if errors.As(err, &pe) && pe.Terminal {
			return sink.Terminal(err)
		}
		var proc *ProcessError
		if errors.As(err, &proc) && ctx.Err() == nil && s.crashed(batchID) {
			return sink.Terminal(fmt.Errorf("poison batch: the program crashed on it %d times: %w", s.cfg.MaxCrashes, err))
		}
		return err
	}
	s.forgetCrashes(batchID)
	return nil
}

// crashed counts a crash of the program on the batch and reports whether
// the batch is now poison.
func (s *Sink) crashed(batchID string) bool {
	if s.cfg.MaxCrashes <= 0 {
		return false
	}
	s.crashMu.Lock()
	defer s.crashMu.Unlock()
	if s.crashes == nil {
		s.crashes = map[string]int{}
	}
	s.crashes[batchID]++
	if s.crashes[batchID] >= s.cfg.MaxCrashes {
		delete(s.crashes, batchID)
		return true
	}
	return false
}

func (s *Sink) forgetCrashes(batchID string) {
	if s.cfg.MaxCrashes <= 0 {
		return
	}
	s.crashMu.Lock()
	delete(s.crashes, batchID)
	s.crashMu.Unlock()
}

// acquire takes an idle slot.
func (s *Sink) acquire(ctx context.Context) (*slot, error) {
	select {
	case <-s.closing:
		return nil, ErrClosed
	default:
	}
	select {
	case sl := <-s.idle:
		select {
		case <-s.closing: // Close began while we waited
			s.idle <- sl
			return nil, ErrClosed
		default:
			return sl, nil
		}
	case <-s.closing:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// send runs one attempt on sl, replacing its program first if it died while
// idle.
func (s *Sink) send(ctx context.Context, sl *slot, id string, payload []byte) error {
	if sl.p != nil {
		if err := sl.p.idleCheck(); err != nil {
			// A program killed on purpose (its batch was abandoned) is
			// replaced quietly.
			var pe *ProcessError
			if err := sl.p.fail(err); errors.As(err, &pe) {
				sl.log.Warn("destination program failed between batches; starting a new one", zap.Error(err))
			}
			sl.p = nil
		}
	}
	if sl.p == nil {
		p, err := start(&s.cfg, sl.log, &s.procs)
		if err != nil {
			return err
		}
		sl.p = p
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	down, err := sl.p.exchange(ctx, s.ctx, id, payload, s.cfg.Timeout)
	if down {
		sl.p = nil
	}
	return err
}

func (s *Sink) buffer() *[]byte {
	if bp, ok := s.bufs.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

func (s *Sink) recycle(bp *[]byte) {
	if cap(*bp) <= 4<<20 { // do not pin a one-off huge batch
		s.bufs.Put(bp)
	}
}

// Close stops the sink. New Writes fail with ErrClosed. It waits up to
// CloseTimeout for batches in flight, then aborts them (killing their
// programs); it then closes every program's stdin, gives them CloseTimeout
// to exit and kills those still running. When it returns, every program is
// reaped and every goroutine of the sink has ended. The error reports
// programs that had to be killed or exited with an error.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Sink) close() error {
	close(s.closing)
	slots := make([]*slot, 0, s.cfg.Workers)
	timer := time.NewTimer(s.cfg.CloseTimeout)
	defer timer.Stop()
	for len(slots) < s.cfg.Workers {
		select {
		case sl := <-s.idle:
			slots = append(slots, sl)
		case <-timer.C:
			s.cancel() // abort what is still in flight
		}
	}
	s.cancel()

	deadline := time.Now().Add(s.cfg.CloseTimeout)
	errs := make([]error, len(slots))
	var wg sync.WaitGroup
	for i, sl := range slots {
		if sl.p == nil {
			continue
		}
		wg.Go(func() {
			if err := sl.p.stop(deadline); err != nil {
				errs[i] = fmt.Errorf("exec: close: %w", err)
			}
			sl.p = nil
		})
	}
	wg.Wait()
	s.procs.Wait()
	return errors.Join(errs...)
}
