package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge/consumer"
)

// The two halves of Run, for running them apart: producers that publish
// loads (Produce) and workers that deliver them (Serve), in as many
// processes and on as many machines as the NATS server reaches.

// NewProducer opens the pipeline name to publish loads with Produce, with no
// destination of its own: the pipeline's member destinations (see
// Destinations) receive what it publishes, served by workers (Serve). It
// creates the pipeline if needed, like NewPipeline. The producer's settings
// (naming, nesting, column limit, format in transit) are the defaults unless
// WithProducerOptions sets them; every producer of a pipeline should use the
// same.
func NewProducer(name string, opts ...PipelineOption) (*Pipeline, error) {
	if len(opts) > 0 {
		var cfg pipelineConfig
		for _, o := range opts {
			_ = o(&cfg)
		}
		if len(cfg.extra) > 0 {
			return nil, invalid("WithDestinations: a producer serves no destination; give them to the workers (NewPipeline and Serve)")
		}
	}
	return openPipeline(name, nil, true, opts)
}

// Produce normalizes data and publishes it as one load for every member
// destination of the pipeline, and returns once the server has stored every
// batch; it delivers nothing (workers do: Serve, or Run). LoadInfo.Produced
// says what was stored; Unserved, how many batches each destination holds.
// The load is recorded as "published" in the history.
//
// data and the run options are those of Run (OnProgress reports Read and
// Produced). With ResumeKey, a Produce after a crash carries on with the
// crashed load and publishes nothing twice; once a Produce has published its
// input, the same key starts a new load.
//
// The error wraps ErrBadInput when input records could not be read (the
// others are published) and queue errors when the server could not store a
// batch (what was stored stays; run the same again to carry on).
func (p *Pipeline) Produce(ctx context.Context, data any, opts ...RunOption) (*LoadInfo, error) {
	rc, err := p.enter(opts)
	if err != nil {
		return nil, err
	}
	defer p.mu.Unlock()
	if p.dest == nil && !p.producer {
		return nil, invalid("pipeline %q was opened with Open: use NewProducer or NewPipeline to produce", p.name)
	}
	lr, data, err := p.beginLoad(ctx, rc, data)
	if err != nil {
		return nil, err
	}
	info := lr.info
	var read, produced atomic.Int64
	stopProgress := p.startProgress(rc, nil, &read, &produced, info.Started)
	prod := &production{p: p, norm: lr.norm, info: info, read: &read, produced: &produced, skip: lr.skip, batchRows: lr.transit}
	prodErr := prod.run(ctx, data, rc)
	stopProgress()

	errs := p.produceErrs(ctx, prodErr)
	if ctx.Err() != nil {
		errs = []error{fmt.Errorf("interrupted (%w): the batches stored so far stay; produce the same input with the same "+
			"resume key to carry on where it stopped", context.Cause(ctx))}
	}
	errs = append(errs, p.finishProduction(info, lr, prod)...)
	info.Unserved = p.unservedMembers(ctx)
	runErr := errors.Join(errs...)
	runErr = errors.Join(runErr, p.saveRun(ctx, rc, lr, StatusPublished, prodErr == nil, runErr))
	if runErr != nil {
		return info, fmt.Errorf("pipeline %q load %s: %w", p.name, info.LoadID, runErr)
	}
	var items int
	for _, t := range info.Produced {
		items += t.Items
	}
	lr.log.Info("load published", zap.Int("items", items), zap.Duration("elapsed", info.Elapsed))
	return info, nil
}

// StatusPublished is the status, in the load history, of a load Produce
// stored: its batches are with the destinations' workers.
const StatusPublished = "published"

// serveCheck is how often Serve looks for a runner that failed or a table
// that stopped (TableSequential).
const serveCheck = 500 * time.Millisecond

// Serve delivers the pipeline's batches to its destinations (the one given
// to NewPipeline and WithDestinations) as they arrive, from every load and
// table, until ctx ends; it has no notion of a load being done. Any number
// of processes may serve one destination: they share its batches (see
// the README on scaling out for what TableSequential promises then).
//
// When ctx ends, Serve stops taking batches, lets the calls in flight finish
// within the shutdown timeout (WithShutdownTimeout, 30 s), hands every other
// batch back to the server, and returns nil. It returns earlier, with an
// error wrapping *RetriesError, when a batch spent its attempts (it stays
// pending): fix the destination, or set the batch aside (DeadLetterPending),
// and serve again. OnProgress reports what was delivered; the other run
// options do not apply. DestinationInfo of each destination is in the
// returned ServeInfo.
func (p *Pipeline) Serve(ctx context.Context, opts ...RunOption) (*ServeInfo, error) {
	rc, err := p.enter(opts)
	if err != nil {
		return nil, err
	}
	defer p.mu.Unlock()
	if p.dest == nil {
		return nil, invalid("pipeline %q has no destination to serve: use NewPipeline", p.name)
	}
	start := time.Now()
	runners, stopMarks, err := p.startRunners(ctx)
	if err != nil {
		return nil, err
	}
	defer stopMarks()
	var none atomic.Int64
	stopProgress := p.startProgress(rc, runners, &none, &none, start)
	// Until ctx ends, a runner fails, or a table stops (TableSequential).
	// A runner that lost its lease (TableSequential) stands by again.
	retired := make([][]*consumer.Runner, len(runners))
	p.resetProgress()
	tick := time.NewTicker(serveCheck)
	lastSave := time.Now()
	for ctx.Err() == nil && !stopped(runners) {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		p.replaceLost(ctx, runners, retired)
		if time.Since(lastSave) >= p.progressEvery() {
			p.saveLatencies(ctx)
			p.addProgress(ctx, p.runnerTotals(runners, retired))
			lastSave = time.Now()
		}
	}
	tick.Stop()
	if ctx.Err() != nil {
		p.log.Info("stopping: no new batches; calls in flight get until the shutdown timeout",
			zap.Duration("shutdown_timeout", p.cfg.shutdown))
	}
	stopErrs := p.stopRunners(ctx, runners, false)
	stopProgress()

	info := &ServeInfo{Pipeline: p.name, Started: start, Destinations: map[string]DestinationInfo{}}
	li := &LoadInfo{Destinations: info.Destinations}
	errs := p.collect(li, runners, retired)
	info.DeadLetters = li.DeadLetters
	info.Elapsed = time.Since(start)
	p.sweepObjects(ctx, p.log)
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	p.saveProgress(saveCtx, li)
	cancel()
	if err := errors.Join(stopErrs...); err != nil {
		errs = append(errs, fmt.Errorf("stopping: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return info, fmt.Errorf("pipeline %q: %w", p.name, err)
	}
	return info, nil
}

// ServeInfo is what Serve did.
type ServeInfo struct {
	Pipeline     string
	Destinations map[string]DestinationInfo
	DeadLetters  []DeadLetter
	Started      time.Time
	Elapsed      time.Duration
}

// Items returns the rows every destination took, all tables.
func (s *ServeInfo) Items() int {
	n := 0
	for _, d := range s.Destinations {
		for _, t := range d.Delivered {
			n += t.Items
		}
	}
	return n
}

// stopped reports whether a runner failed or stopped a table (a lost lease
// does not count: the runner is replaced).
func stopped(runners []*consumer.Runner) bool {
	for _, r := range runners {
		if err := r.Err(); err != nil && !errors.Is(err, consumer.ErrLeaseLost) || len(r.StoppedTables()) > 0 {
			return true
		}
	}
	return false
}
