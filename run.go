package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge/consumer"
	"github.com/fanoutbridge/bridge/normalize"
	"github.com/fanoutbridge/bridge/producer"
	"github.com/fanoutbridge/bridge/state"
)

// RunOption configures one Run.
type RunOption func(*runConfig) error

type runConfig struct {
	resumeKey  string
	table      string
	tableFn    func(item any) string
	progress   func(Progress)
	progressIn time.Duration
}

// TableName sets the table the input's items go to (default: the pipeline's
// name). It goes through the naming convention like every name.
func TableName(name string) RunOption {
	return func(c *runConfig) error {
		c.table = name
		return nil
	}
}

// TableNameFunc routes each item to the table fn names (dlt's table_name
// callable), so one input can feed many tables. It wins over TableName.
func TableNameFunc(fn func(item any) string) RunOption {
	return func(c *runConfig) error {
		if fn == nil {
			return invalid("nil table name function")
		}
		c.tableFn = fn
		return nil
	}
}

// ResumeKey names the input of this Run, so a Run after a crash can carry on
// with the crashed load: if the last Run with the same key never finished
// (its process was killed), this Run takes over its load id and skips the
// batches the crashed Run had stored (a ledger in NATS records them, for up
// to 7 days). Given the same data and options, only the batches in flight at
// the crash come twice. The command line uses the input file's path, size
// and modification time.
func ResumeKey(key string) RunOption {
	return func(c *runConfig) error {
		if key == "" {
			return invalid("empty resume key")
		}
		c.resumeKey = key
		return nil
	}
}

// OnProgress calls fn every interval (default 1s) while Run works, from a
// goroutine Run owns, and once more at the end.
func OnProgress(fn func(Progress), interval time.Duration) RunOption {
	return func(c *runConfig) error {
		if fn == nil {
			return invalid("nil progress function")
		}
		if interval <= 0 {
			interval = time.Second
		}
		c.progress, c.progressIn = fn, interval
		return nil
	}
}

// Progress is where a Run stands.
type Progress struct {
	Read      int64 // items read from the input
	Produced  int64 // rows published in batches, all tables
	Delivered int64 // rows the destination acknowledged, all tables
	Batches   int64 // batches the destination acknowledged
	Elapsed   time.Duration
}

// TableInfo counts one table's rows and batches in a load.
type TableInfo struct {
	Items       int
	Batches     int
	DeadLetters int
}

// DeadLetter is a batch that went to the dead-letter stream.
type DeadLetter struct {
	Table   string
	BatchID string
	Items   int
	Err     error
}

// LoadInfo is what a Run did.
type LoadInfo struct {
	Pipeline    string
	Destination string
	LoadID      string
	// Produced counts what this run's input became, per table.
	Produced map[string]TableInfo
	// Delivered counts what the destination acknowledged during this run,
	// per table, including batches pending from earlier runs.
	Delivered   map[string]TableInfo
	DeadLetters []DeadLetter
	BadRecords  []*producer.LineError
	Started     time.Time
	Elapsed     time.Duration
}

// Items returns the rows delivered during the run, all tables.
func (l *LoadInfo) Items() int {
	n := 0
	for _, t := range l.Delivered {
		n += t.Items
	}
	return n
}

// Batches returns the batches delivered during the run, all tables.
func (l *LoadInfo) Batches() int {
	n := 0
	for _, t := range l.Delivered {
		n += t.Batches
	}
	return n
}

// Run loads data through the pipeline to its destination and returns when
// every batch is acknowledged, dead-lettered, or a batch has spent its
// attempts. Batches left pending by an earlier run are delivered first.
//
// data may be nil (only pending batches), a slice ([]any, []Row,
// []map[string]any, a slice of structs, which go by their JSON tags), an
// iter.Seq[any] or iter.Seq[Row], an io.Reader of JSON lines, or a single item.
//
// The error wraps *RetriesError when a batch spent MaxRetries attempts (it
// stays pending), ErrDeadLettered when batches were dead-lettered, and
// ErrBadInput when input records could not be read; the LoadInfo is filled in
// either way.
func (p *Pipeline) Run(ctx context.Context, data any, opts ...RunOption) (*LoadInfo, error) {
	rc := runConfig{table: p.name}
	for _, o := range opts {
		if err := o(&rc); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if p.dest == nil {
		return nil, invalid("pipeline %q was opened without a destination (bridge.Open): use NewPipeline to run", p.name)
	}
	start := time.Now()
	info := &LoadInfo{
		Pipeline: p.name, Destination: p.dest.name, LoadID: newLoadID(start), Started: start,
		Produced: map[string]TableInfo{}, Delivered: map[string]TableInfo{},
	}
	var skip map[string]bool // batches a crashed run of this load stored
	if rc.resumeKey != "" {
		id, err := p.st.Resumable(ctx, rc.resumeKey)
		if err != nil {
			return nil, err
		}
		if id != "" {
			if skip, err = p.q.Stored(ctx, id); err != nil {
				return nil, err
			}
			p.log.Info("carrying on with a load that never finished", zap.String("load_id", id),
				zap.String("resume_key", rc.resumeKey), zap.Int("batches_stored", len(skip)))
			info.LoadID = id
		}
	}
	log := p.log.With(zap.String("load_id", info.LoadID))

	sc, err := p.st.Schema(ctx)
	if err != nil {
		return nil, err
	}
	norm, err := normalize.New(normalize.Config{
		Naming:        p.dest.cfg.naming,
		MaxNesting:    p.dest.cfg.maxNesting,
		SystemColumns: !p.dest.cfg.skipSystem,
		LoadID:        info.LoadID,
	}, sc.Tables)
	if err != nil {
		return nil, fmt.Errorf("pipeline %q: %w", p.name, err)
	}
	startVersion := norm.Version()
	load := state.Load{LoadID: info.LoadID, Destination: p.dest.name, Started: start.UTC(), Status: "running", ResumeKey: rc.resumeKey}
	if err := p.st.SaveLoad(ctx, load); err != nil {
		return nil, err
	}
	if rc.resumeKey != "" {
		if err := p.st.SaveResume(ctx, load); err != nil {
			return nil, err
		}
	}

	runner := consumer.NewRunner(p.cons, handler{p}, p.consumerConfig())
	runner.Start(ctx)

	var read, produced atomic.Int64
	stopProgress := p.startProgress(rc, runner, &read, &produced, start)

	// Pending batches first: the new data goes on only after them, so order
	// within a table holds across runs.
	waitErr := p.waitPending(ctx, runner)

	// Publish the input even if the pending batches failed again: what Run
	// was given is queued, never lost.
	prod := &production{p: p, norm: norm, info: info, read: &read, produced: &produced, skip: skip}
	prodErr := prod.run(ctx, data, rc)

	if prodErr == nil && waitErr == nil {
		waitErr = p.waitDelivered(ctx, runner)
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	stopErr := runner.Stop(stopCtx, prodErr == nil && waitErr == nil && runner.Err() == nil)
	cancel()
	stopProgress()

	for table, s := range runner.Stats() {
		info.Delivered[table] = TableInfo{Items: s.Items, Batches: s.Batches, DeadLetters: s.DeadLetters}
	}
	for _, d := range runner.DeadLetters() {
		info.DeadLetters = append(info.DeadLetters, DeadLetter{Table: d.Table, BatchID: d.BatchID, Items: d.Rows, Err: d.Err})
	}
	info.BadRecords = prod.bad
	info.Elapsed = time.Since(start)

	// Build the run's error: what failed first, then what else the user must know.
	var errs []error
	switch {
	case ctx.Err() != nil:
		errs = append(errs, fmt.Errorf("interrupted (%w): what was not delivered stays pending; run again to carry on "+
			"(with the same input and resume key, the load continues where it stopped)", context.Cause(ctx)))
	case prodErr != nil:
		errs = append(errs, prodErr)
	}
	if err := runner.Err(); err != nil {
		errs = append(errs, err)
	} else if waitErr != nil && ctx.Err() == nil {
		errs = append(errs, waitErr)
	}
	if len(info.DeadLetters) > 0 {
		errs = append(errs, deadLetteredError(info.DeadLetters))
	}
	if len(prod.bad) > 0 {
		errs = append(errs, badInputError(prod.bad, prod.badCount))
	}
	if stopErr != nil && len(errs) == 0 {
		log.Warn("stopping the destination workers", zap.Error(stopErr))
	}
	runErr := errors.Join(errs...)

	// Keep what a restart needs, even when the run failed.
	runErr = errors.Join(runErr, p.saveRun(ctx, rc, load, info, norm, sc, startVersion, prodErr == nil, runErr))
	if runErr != nil {
		return info, fmt.Errorf("pipeline %q load %s: %w", p.name, info.LoadID, runErr)
	}
	log.Info("load completed", zap.Int("items", info.Items()), zap.Int("batches", info.Batches()),
		zap.Duration("elapsed", info.Elapsed))
	return info, nil
}

// saveRun keeps what a restart needs: the evolved schema, the load's history
// entry, the resume key's state and the destination's progress. Only a
// failure to save the schema is returned; the rest is logged.
func (p *Pipeline) saveRun(ctx context.Context, rc runConfig, load state.Load, info *LoadInfo, norm *normalize.Normalizer,
	sc state.Schema, startVersion int, inputQueued bool, runErr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	log := p.log.With(zap.String("load_id", info.LoadID))
	var err error
	if norm.Version() != startVersion {
		err = p.st.SaveSchema(ctx, state.Schema{Version: sc.Version + norm.Version() - startVersion, Tables: norm.Tables()})
	}
	load.Finished = time.Now().UTC()
	load.Status = "completed"
	if runErr != nil {
		load.Status, load.Error = "failed", runErr.Error()
	}
	load.Produced, load.Delivered = countsOf(info.Produced), countsOf(info.Delivered)
	if err := p.st.SaveLoad(ctx, load); err != nil {
		log.Warn("saving the load history", zap.Error(err))
	}
	if rc.resumeKey != "" && inputQueued {
		// The input is all queued: a later Run with this key is a new load.
		if err := p.st.SaveResume(ctx, load); err != nil {
			log.Warn("saving the resume key", zap.Error(err))
		} else if err := p.q.ForgetLoad(ctx, info.LoadID); err != nil {
			log.Warn("clearing the load's ledger", zap.Error(err))
		}
	}
	var dead int64
	for _, t := range info.Delivered {
		dead += int64(t.DeadLetters)
	}
	if err := p.st.AddProgress(ctx, p.dest.name, int64(info.Items()), int64(info.Batches()), dead); err != nil {
		log.Warn("saving destination progress", zap.Error(err))
	}
	return err
}

func countsOf(m map[string]TableInfo) map[string]state.TableCount {
	out := make(map[string]state.TableCount, len(m))
	for k, v := range m {
		out[k] = state.TableCount{Items: v.Items, Batches: v.Batches, DeadLetters: v.DeadLetters}
	}
	return out
}

func deadLetteredError(dead []DeadLetter) error {
	var b strings.Builder
	for i, d := range dead {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(dead)-3)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "table %q batch %s: %v", d.Table, d.BatchID, d.Err)
	}
	return fmt.Errorf("%w: %d batches (inspect with `bridge dlq list`, replay with `bridge dlq replay`): %s",
		ErrDeadLettered, len(dead), b.String())
}

func badInputError(bad []*producer.LineError, count int) error {
	var b strings.Builder
	for i, e := range bad {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	if count > len(bad) {
		fmt.Fprintf(&b, "; and %d more", count-len(bad))
	}
	return fmt.Errorf("%w: %d records skipped, the rest loaded: %s", ErrBadInput, count, b.String())
}

// waitPending waits until the batches left by earlier runs are finished, if
// there are any.
func (p *Pipeline) waitPending(ctx context.Context, runner *consumer.Runner) error {
	prog, err := p.cons.Progress(ctx)
	if err != nil {
		return err
	}
	if prog.Pending == 0 && prog.AckPending == 0 {
		return nil
	}
	p.log.Info("delivering batches pending from earlier runs first",
		zap.Uint64("undelivered", prog.Pending), zap.Int("unacknowledged", prog.AckPending))
	return p.waitDelivered(ctx, runner)
}

// waitDelivered waits until the consumer has finished every batch in the
// stream, or the runner failed.
func (p *Pipeline) waitDelivered(ctx context.Context, runner *consumer.Runner) error {
	var target uint64
	err := backoff.Retry(func() (err error) {
		target, err = p.q.LastSeq(ctx)
		return err
	}, backoff.WithContext(backoff.NewExponentialBackOff(backoff.WithMaxElapsedTime(2*time.Minute)), ctx))
	if err != nil {
		return err
	}
	// Ask the server where the consumer stands a few times a second, not
	// once per finished batch: one API request per batch would cost more
	// than the wait.
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var failingSince time.Time
	for {
		prog, err := p.cons.Progress(ctx)
		switch {
		case err == nil:
			failingSince = time.Time{}
			if prog.AckFloor >= target {
				return nil
			}
		case failingSince.IsZero():
			failingSince = time.Now()
			p.log.Warn("NATS does not answer; waiting for it to come back", zap.Error(err))
		case time.Since(failingSince) > 2*time.Minute:
			return fmt.Errorf("NATS did not answer for 2 minutes; the batches not delivered stay pending: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-runner.Failed():
			return nil
		case <-tick.C:
		}
	}
}

func (p *Pipeline) startProgress(rc runConfig, runner *consumer.Runner, read, produced *atomic.Int64, start time.Time) func() {
	if rc.progress == nil {
		return func() {}
	}
	report := func() {
		pr := Progress{Read: read.Load(), Produced: produced.Load(), Elapsed: time.Since(start)}
		for _, s := range runner.Stats() {
			pr.Delivered += int64(s.Items)
			pr.Batches += int64(s.Batches)
		}
		rc.progress(pr)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(rc.progressIn)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				report()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		report()
	}
}

// newLoadID returns a load id like dlt's: seconds.microseconds since the epoch.
func newLoadID(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}
