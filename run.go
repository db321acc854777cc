package bridge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/cenkalti/backoff/v4"

	"github.com/fanoutbridge/bridge/consumer"
	"github.com/fanoutbridge/bridge/normalize"
	"github.com/fanoutbridge/bridge/producer"
	"github.com/fanoutbridge/bridge/queue"
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
	Produced  int64 // rows stored by the server in published batches, all tables
	Delivered int64 // rows acknowledged, all tables (by the destination furthest behind)
	Batches   int64 // its batches
	// DeliveredBy has the rows each destination served by the run
	// acknowledged, all tables. Like Delivered, it counts batches pending
	// from earlier runs and replayed dead letters too.
	DeliveredBy map[string]int64
	Elapsed     time.Duration
}

// TableInfo counts one table's rows and batches in a load.
type TableInfo struct {
	Items       int
	Batches     int
	DeadLetters int
}

// DeadLetter is a batch that went to the dead-letter stream.
type DeadLetter struct {
	Destination string
	Table       string
	BatchID     string
	Items       int
	Err         error
}

// DestinationInfo is what one destination took during a Run.
type DestinationInfo struct {
	// Delivered counts what the destination acknowledged, per table, in
	// its own batches (calls; load files in file mode).
	Delivered   map[string]TableInfo
	DeadLetters []DeadLetter
	// Err is why the destination did not take everything: a batch that
	// spent its attempts (*RetriesError), or NATS failing.
	Err error
}

// LoadInfo is what a Run did.
type LoadInfo struct {
	Pipeline string
	// Destination is the first destination (the one given to NewPipeline).
	Destination string
	LoadID      string
	// Produced counts what this run's input became, per table, in the
	// batches published.
	Produced map[string]TableInfo
	// Delivered counts what the first destination acknowledged during this
	// run, per table, including batches pending from earlier runs.
	Delivered map[string]TableInfo
	// Destinations has what every destination served by the run took.
	Destinations map[string]DestinationInfo
	// DeadLetters are the batches dead-lettered during the run, by every
	// destination.
	DeadLetters []DeadLetter
	// Unserved has the member destinations of the pipeline that this run
	// did not serve and that hold batches (this load's among them) after
	// it: how many batches each holds. They get them when they run (a run
	// with no input delivers only what is pending), or drop them when
	// removed (RemoveDestination).
	Unserved   map[string]uint64
	BadRecords []*producer.LineError
	// EmptyRows counts input items with no value but nulls: they make no row.
	EmptyRows int
	// AlreadyStored says the load carried on one whose input an earlier run
	// with the same resume key stored whole: nothing was published again.
	AlreadyStored bool
	Started       time.Time
	Elapsed       time.Duration
}

// Items returns the rows the first destination took during the run, all tables.
func (l *LoadInfo) Items() int {
	n := 0
	for _, t := range l.Delivered {
		n += t.Items
	}
	return n
}

// Batches returns the batches the first destination took during the run, all tables.
func (l *LoadInfo) Batches() int {
	n := 0
	for _, t := range l.Delivered {
		n += t.Batches
	}
	return n
}

// Run loads data through the pipeline to its destinations and returns when
// every batch is acknowledged or dead-lettered by every destination, or a
// destination gave up on a batch that spent its attempts. Batches left
// pending by an earlier run are delivered first.
//
// data may be nil (only pending batches), a slice ([]any, []Row,
// []map[string]any, a slice of structs, which go by their JSON tags), an
// iter.Seq[any] or iter.Seq[Row], an io.Reader of JSON lines, or a single item.
//
// The error wraps *RetriesError when a batch spent MaxRetries attempts (it
// stays pending), ErrDeadLettered when batches were dead-lettered, and
// ErrBadInput when input records could not be read; the LoadInfo is filled in
// either way. One destination failing does not stop the others.
func (p *Pipeline) Run(ctx context.Context, data any, opts ...RunOption) (*LoadInfo, error) {
	rc, err := p.enter(opts)
	if err != nil {
		return nil, err
	}
	defer p.mu.Unlock()
	if p.dest == nil {
		return nil, invalid("pipeline %q has no destination to run (opened with Open or NewProducer): use NewPipeline to run, or Produce", p.name)
	}
	lr, data, err := p.beginLoad(ctx, rc, data)
	if err != nil {
		return nil, err
	}
	info := lr.info

	runners, stopMarks, err := p.startRunners(ctx)
	if err != nil {
		return nil, err
	}
	defer stopMarks()

	var read, produced atomic.Int64
	stopProgress := p.startProgress(rc, runners, &read, &produced, lr.info.Started)
	stopSaving := p.saveProgressEvery(ctx, runners)

	// Pending batches first: the new data goes on only after them, so order
	// within a table holds across runs.
	waitErr := p.waitDelivered(ctx, runners, true)

	// Publish the input even if the pending batches failed again: what Run
	// was given is queued, never lost.
	prod := &production{p: p, norm: lr.norm, info: info, read: &read, produced: &produced, skip: lr.skip, batchRows: lr.transit}
	prodErr := prod.run(ctx, data, rc)

	if prodErr == nil && waitErr == nil {
		waitErr = p.waitDelivered(ctx, runners, false)
	}
	stopErrs := p.stopRunners(ctx, runners, prodErr == nil && waitErr == nil)
	stopProgress()
	stopSaving()

	// Build the run's error: what failed first, then what else the user must know.
	errs := p.produceErrs(ctx, prodErr)
	errs = append(errs, p.collect(info, runners, nil)...)
	if waitErr != nil && ctx.Err() == nil {
		errs = append(errs, waitErr)
	}
	if len(info.DeadLetters) > 0 {
		errs = append(errs, deadLetteredError(p.name, info.DeadLetters))
	}
	errs = append(errs, p.finishProduction(info, lr, prod)...)
	if err := errors.Join(stopErrs...); err != nil && len(errs) == 0 {
		lr.log.Warn("stopping the destination workers", zap.Error(err))
	}
	runErr := errors.Join(errs...)
	info.Unserved = p.unservedMembers(ctx)
	p.sweepObjects(ctx, lr.log)

	// Keep what a restart needs, even when the run failed.
	runErr = errors.Join(runErr, p.saveRun(ctx, rc, lr, "completed", prodErr == nil, runErr))
	if runErr != nil {
		return info, fmt.Errorf("pipeline %q load %s: %w", p.name, info.LoadID, runErr)
	}
	lr.log.Info("load completed", zap.Int("items", info.Items()), zap.Int("batches", info.Batches()),
		zap.Duration("elapsed", info.Elapsed))
	return info, nil
}

// enter parses a Run, Produce or Serve's options and takes the pipeline's
// lock (one of them at a time); the caller unlocks p.mu when done.
func (p *Pipeline) enter(opts []RunOption) (runConfig, error) {
	rc, err := runOptions(p, opts)
	if err != nil {
		return rc, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return rc, ErrClosed
	}
	return rc, nil
}

func runOptions(p *Pipeline, opts []RunOption) (runConfig, error) {
	rc := runConfig{table: p.name}
	for _, o := range opts {
		if err := o(&rc); err != nil {
			return rc, err
		}
	}
	return rc, nil
}

// loadRun is one load being made: its history entry and what its producer
// started from.
type loadRun struct {
	info         *LoadInfo
	load         state.Load
	log          *zap.Logger
	norm         *normalize.Normalizer
	sc           state.Schema
	startVersion int
	skip         map[string]bool // batches an earlier run of this load stored
	transit      int             // rows per published batch
}

// beginLoad starts a load: it takes over the unfinished load of the same
// resume key, if any (then data may come back nil: its input is all
// stored), reads the schema, and records the load as running.
func (p *Pipeline) beginLoad(ctx context.Context, rc runConfig, data any) (*loadRun, any, error) {
	start := time.Now()
	info := &LoadInfo{
		Pipeline: p.name, LoadID: newLoadID(start), Started: start,
		Produced: map[string]TableInfo{}, Delivered: map[string]TableInfo{}, Destinations: map[string]DestinationInfo{},
	}
	if p.dest != nil {
		info.Destination = p.dest.name
	}
	lr := &loadRun{info: info}
	queued := false // the load's input is all stored: publish nothing
	if rc.resumeKey != "" {
		prev, ok, err := p.st.Resumable(ctx, rc.resumeKey)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case ok && prev.Queued:
			queued, data = true, nil
			info.AlreadyStored = true
			p.log.Info("carrying on with a load whose input is all stored: delivering what is pending, publishing nothing again",
				zap.String("load_id", prev.LoadID), zap.String("resume_key", rc.resumeKey))
			info.LoadID = prev.LoadID
		case ok:
			if lr.skip, err = p.q.Stored(ctx, prev.LoadID); err != nil {
				return nil, nil, err
			}
			p.log.Info("carrying on with a load that never finished", zap.String("load_id", prev.LoadID),
				zap.String("resume_key", rc.resumeKey), zap.Int("batches_stored", len(lr.skip)))
			info.LoadID = prev.LoadID
		}
	}
	lr.log = p.log.With(zap.String("load_id", info.LoadID))

	var err error
	if lr.sc, err = p.st.Schema(ctx); err != nil {
		return nil, nil, err
	}
	lr.norm, err = normalize.New(normalize.Config{
		Naming:        p.prod.naming,
		MaxNesting:    p.prod.maxNesting,
		MaxColumns:    p.prod.maxColumns,
		SystemColumns: !p.prod.skipSystem,
		LoadID:        info.LoadID,
	}, lr.sc.Tables)
	if err != nil {
		return nil, nil, fmt.Errorf("pipeline %q: %w", p.name, err)
	}
	if lr.transit, err = p.transitRows(ctx); err != nil {
		return nil, nil, err
	}
	lr.startVersion = lr.norm.Version()
	dests := p.destNames()
	if dests == "" {
		// A producer: the load is for the pipeline's members.
		if members, err := p.st.Members(ctx); err == nil {
			names := make([]string, len(members))
			for i, m := range members {
				names[i] = m.Name
			}
			dests = strings.Join(names, ",")
		}
	}
	lr.load = state.Load{LoadID: info.LoadID, Destination: dests, Started: start.UTC(), Status: "running",
		ResumeKey: rc.resumeKey, Queued: queued}
	if err := p.st.SaveLoad(ctx, lr.load); err != nil {
		return nil, nil, err
	}
	if rc.resumeKey != "" {
		if err := p.st.SaveResume(ctx, lr.load); err != nil {
			return nil, nil, err
		}
	}
	return lr, data, nil
}

// startRunners starts a runner per destination this pipeline object serves.
// Calls run under a context that ctx's end does not cancel: stopRunners lets
// them finish within the shutdown timeout. stop ends what they watch.
func (p *Pipeline) startRunners(ctx context.Context) (runners []*consumer.Runner, stop func(), err error) {
	var marks []*queue.SetAsideMarks
	stop = func() {
		for _, m := range marks {
			m.Stop()
		}
	}
	runners = make([]*consumer.Runner, len(p.dests))
	for i, dr := range p.dests {
		// Batches set aside by hand (DeadLetterPending) are skipped.
		m, err := p.q.WatchSetAside(ctx, dr.dest.name)
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("pipeline %q: %w", p.name, err)
		}
		marks = append(marks, m)
		dr.marks = m
		if runners[i], err = p.newRunner(ctx, dr); err != nil {
			stop()
			return nil, nil, fmt.Errorf("pipeline %q: %w", p.name, err)
		}
	}
	for _, r := range runners {
		r.Start(p.callContext(ctx))
	}
	return runners, stop, nil
}

// callContext is the context of the calls of a run or serve under ctx.
func (p *Pipeline) callContext(ctx context.Context) context.Context {
	if p.cfg.shutdown > 0 {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// newRunner makes the runner of dr's destination (not started). A
// TableSequential destination's runner takes batches only while it holds
// the destination's lease, so one process at a time serves it.
func (p *Pipeline) newRunner(ctx context.Context, dr *destRun) (*consumer.Runner, error) {
	cfg := p.consumerConfig(dr.dest)
	cfg.SetAside = dr.marks
	if dr.dest.cfg.strategy == TableSequential {
		l, err := state.OpenLease(ctx, p.q, "dest."+dr.dest.name, p.holder)
		if err != nil {
			return nil, fmt.Errorf("destination %q: %w", dr.dest.name, err)
		}
		cfg.Lease = l
	} else if holder, err := state.LeaseHolder(ctx, p.q, "dest."+dr.dest.name); err == nil && holder != "" {
		// Taking batches beside it would break its order.
		return nil, invalid("destination %q is served table-sequential by another worker (%s): start this one with "+
			"--strategy table-sequential (Go: LoaderParallelismStrategy(TableSequential)) to stand by for it, or stop "+
			"that worker first to change the strategy (the lease of a worker killed without a stop lapses within 15 s)", dr.dest.name, holder)
	}
	return consumer.NewRunner(dr.cons, handler{p: p, d: dr.dest}, cfg), nil
}

// replaceLost replaces the runners that lost their lease with new ones that
// wait for it again, keeping the old ones in retired for the counts.
func (p *Pipeline) replaceLost(ctx context.Context, runners []*consumer.Runner, retired [][]*consumer.Runner) {
	for i, r := range runners {
		if !errors.Is(r.Err(), consumer.ErrLeaseLost) {
			continue
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_ = r.Stop(sctx, false)
		cancel()
		nr, err := p.newRunner(ctx, p.dests[i])
		if err != nil {
			p.log.Warn("cannot stand by for the destination again yet; retrying", zap.String("destination", p.dests[i].dest.name), zap.Error(err))
			continue
		}
		retired[i] = append(retired[i], r)
		runners[i] = nr
		nr.Start(p.callContext(ctx))
	}
}

// stopRunners stops taking batches, lets the calls in flight finish within
// the shutdown timeout (then cancels them) and hands the rest back. idle
// says every batch is done.
func (p *Pipeline) stopRunners(ctx context.Context, runners []*consumer.Runner, idle bool) []error {
	wait := p.cfg.shutdown
	if ctx.Err() == nil || wait <= 0 {
		wait = 30 * time.Second // nothing asked to stop: the calls are finishing anyway
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
	defer cancel()
	errs := make([]error, len(runners))
	var wg sync.WaitGroup
	for i, r := range runners {
		wg.Go(func() { errs[i] = r.Stop(stopCtx, idle && r.Err() == nil) })
	}
	wg.Wait()
	return errs
}

// produceErrs says why publishing failed, with what to do.
func (p *Pipeline) produceErrs(ctx context.Context, prodErr error) []error {
	switch {
	case ctx.Err() != nil:
		return []error{fmt.Errorf("interrupted (%w): what was not delivered stays pending; run again to carry on "+
			"(with the same input and resume key, the load continues where it stopped)", context.Cause(ctx))}
	case errors.Is(prodErr, queue.ErrStoreFull):
		where := "on the NATS server's disk, or raise its JetStream storage limit"
		if p.emb != nil {
			where = "on the disk of " + filepath.Join(p.cfg.dataDir, "jetstream")
		}
		return []error{fmt.Errorf("%w; free space %s, then run the same command again: the load carries on where it stopped", prodErr, where)}
	case prodErr != nil:
		return []error{prodErr}
	}
	return nil
}

// collect puts what each destination's runner did into info and returns
// their errors.
func (p *Pipeline) collect(info *LoadInfo, runners []*consumer.Runner, retired [][]*consumer.Runner) []error {
	var errs []error
	for i, r := range runners {
		di := p.destinationInfo(p.dests[i].dest, r)
		if retired != nil {
			for _, old := range retired[i] {
				oi := p.destinationInfo(p.dests[i].dest, old)
				for t, c := range oi.Delivered {
					n := di.Delivered[t]
					n.Items, n.Batches, n.DeadLetters = n.Items+c.Items, n.Batches+c.Batches, n.DeadLetters+c.DeadLetters
					di.Delivered[t] = n
				}
				di.DeadLetters = append(oi.DeadLetters, di.DeadLetters...)
			}
		}
		info.Destinations[p.dests[i].dest.name] = di
		info.DeadLetters = append(info.DeadLetters, di.DeadLetters...)
		if i == 0 {
			info.Delivered = di.Delivered
		}
		if di.Err != nil {
			errs = append(errs, p.destErr(p.dests[i].dest, di.Err))
		}
	}
	return errs
}

// finishProduction puts what the producer did into info and returns the
// error of bad input records.
func (p *Pipeline) finishProduction(info *LoadInfo, lr *loadRun, prod *production) []error {
	info.BadRecords = prod.bad
	info.EmptyRows = lr.norm.EmptyRows()
	info.Elapsed = time.Since(info.Started)
	if len(prod.bad) > 0 {
		return []error{badInputError(prod.bad, prod.badCount)}
	}
	return nil
}

// sweepObjects removes the large batches no destination needs any more.
func (p *Pipeline) sweepObjects(ctx context.Context, log *zap.Logger) {
	if !p.nc.IsConnected() {
		return
	}
	sweepCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := p.q.SweepObjects(sweepCtx); err != nil {
		log.Warn("removing large batches no destination needs", zap.Error(err))
	}
}

// destinationInfo collects what a destination's runner did.
func (p *Pipeline) destinationInfo(d *Destination, r *consumer.Runner) DestinationInfo {
	di := DestinationInfo{Delivered: map[string]TableInfo{}}
	for table, s := range r.Stats() {
		di.Delivered[table] = TableInfo{Items: s.Items, Batches: s.Batches, DeadLetters: s.DeadLetters}
	}
	for _, dl := range r.DeadLetters() {
		di.DeadLetters = append(di.DeadLetters, DeadLetter{Destination: d.name, Table: dl.Table, BatchID: dl.BatchID, Items: dl.Rows, Err: dl.Err})
	}
	var errs []error
	if err := r.Err(); err != nil {
		errs = append(errs, err)
	}
	stopped := r.StoppedTables()
	for _, t := range slices.Sorted(maps.Keys(stopped)) {
		errs = append(errs, stopped[t])
	}
	di.Err = errors.Join(errs...)
	return di
}

// destErr names the destination in its error when the run serves several.
func (p *Pipeline) destErr(d *Destination, err error) error {
	if len(p.dests) == 1 {
		return err
	}
	return fmt.Errorf("destination %q: %w", d.name, err)
}

func (p *Pipeline) destNames() string {
	names := make([]string, len(p.dests))
	for i, dr := range p.dests {
		names[i] = dr.dest.name
	}
	return strings.Join(names, ",")
}

// maxTransitRows bounds the rows of one published batch.
const maxTransitRows = 50_000

// transitRows is how many rows the producer puts in one published batch: the
// least common multiple of every member destination's batch size, so each
// destination cuts it into calls of exactly its own size. Past
// maxTransitRows, the largest batch size; a destination whose size does not
// divide it then gets a shorter call at the end of each published batch.
func (p *Pipeline) transitRows(ctx context.Context) (int, error) {
	sizes := map[int]bool{}
	for _, dr := range p.dests {
		sizes[dr.dest.batchRows()] = true
	}
	members, err := p.st.Members(ctx)
	if err != nil {
		return 0, err
	}
	for _, m := range members {
		if m.BatchRows > 0 {
			sizes[m.BatchRows] = true
		}
	}
	l, largest := 1, 1
	for n := range sizes {
		largest = max(largest, n)
		if l > 0 {
			l = l / gcd(l, n) * n
			if l > maxTransitRows {
				l = 0
			}
		}
	}
	if l == 0 {
		p.log.Warn("the destinations' batch sizes have no common multiple up to the limit; "+
			"a destination whose batch size does not divide the largest gets a shorter call at the end of each published batch",
			zap.Int("published_batch_rows", largest), zap.Int("limit", maxTransitRows))
		return largest, nil
	}
	return l, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// unservedMembers returns the member destinations this pipeline object does
// not serve that hold batches, with how many each holds. Asked once the
// run's load is published, so the counts include it.
func (p *Pipeline) unservedMembers(ctx context.Context) map[string]uint64 {
	if !p.nc.IsConnected() {
		return nil
	}
	dests, err := p.q.Destinations(ctx)
	if err != nil {
		return nil
	}
	served := map[string]bool{}
	for _, dr := range p.dests {
		served[dr.dest.name] = true
	}
	var out map[string]uint64
	for _, c := range dests {
		if n := c.Pending + uint64(c.InFlight); !served[c.Destination] && n > 0 {
			if out == nil {
				out = map[string]uint64{}
			}
			out[c.Destination] = n
			p.log.Info("another destination of this pipeline, not served by this run, holds batches until it runs or is removed",
				zap.String("other_destination", c.Destination), zap.Uint64("batches", n))
		}
	}
	return out
}

// StatusPendingOnly is the status, in the load history, of a run that had no
// input: it only delivered what was pending (it made no load).
const StatusPendingOnly = "pending-only"

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// saveSchemaHook lets tests fail the schema save.
var saveSchemaHook = func(err error) error { return err }

// saveRun keeps what a restart needs: the evolved schema, the load's history
// entry, the resume key's state and the destination's progress. Only a
// failure to save the schema is returned; the rest is logged.
func (p *Pipeline) saveRun(ctx context.Context, rc runConfig, lr *loadRun, done string, inputQueued bool, runErr error) error {
	info, load, norm, sc, startVersion := lr.info, lr.load, lr.norm, lr.sc, lr.startVersion
	wait := 10 * time.Second
	if !p.nc.IsConnected() {
		wait = 2 * time.Second // NATS is away: try briefly, the run fails anyway
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
	defer cancel()
	log := p.log.With(zap.String("load_id", info.LoadID))
	var err error
	if norm.Version() != startVersion {
		err = saveSchemaHook(p.st.SaveSchema(ctx, state.Schema{Version: sc.Version + norm.Version() - startVersion, Tables: norm.Tables()}))
		if err != nil {
			err = fmt.Errorf("saving the schema (the batches carry their own, so delivery is right; "+
				"run the same command again to save it): %w", err)
		}
	}
	load.Finished = time.Now().UTC()
	load.Status = done
	if runErr = errors.Join(runErr, err); runErr != nil {
		load.Status, load.Error = "failed", runErr.Error()
	}
	resumed := load.Queued // carried on with a load whose input was all stored
	load.Queued = load.Queued || inputQueued
	load.Produced, load.Delivered = countsOf(info.Produced), countsOf(info.Delivered)
	resume := load
	if load.Status == done && !resumed && len(info.Produced) == 0 && info.EmptyRows == 0 {
		// No input (nil, an empty reader): the run only delivered what
		// was pending. The history says so; no load was made.
		load.Status = StatusPendingOnly
	}
	if err := p.st.SaveLoad(ctx, load); err != nil {
		log.Warn("saving the load history", zap.Error(err))
	} else if _, err := p.st.PruneLoads(ctx, p.cfg.keepLoads); err != nil {
		log.Warn("pruning the load history", zap.Error(err))
	}
	load = resume
	if rc.resumeKey != "" {
		// Until the load is completed, a Run with this key carries it on:
		// from the ledger while its input was not all stored, else by
		// delivering what is pending. Once completed, it is a new load.
		if err := p.st.SaveResume(ctx, load); err != nil {
			log.Warn("saving the resume key", zap.Error(err))
		} else if load.Queued {
			if err := p.q.ForgetLoad(ctx, info.LoadID); err != nil {
				log.Warn("clearing the load's ledger", zap.Error(err))
			}
		}
	}
	p.saveProgress(ctx, info)
	return err
}

// saveProgress adds what each destination delivered to its stored progress
// (what periodic saves of this run did not add yet).
func (p *Pipeline) saveProgress(ctx context.Context, info *LoadInfo) {
	p.saveLatencies(ctx)
	totals := map[string]deliveredTotals{}
	for name, di := range info.Destinations {
		var t deliveredTotals
		for _, c := range di.Delivered {
			t.add(c.Items, c.Batches, c.DeadLetters)
		}
		totals[name] = t
	}
	p.addProgress(ctx, totals)
}

// deliveredTotals is what a destination delivered in this run or serve.
type deliveredTotals struct{ items, batches, dead int64 }

func (t *deliveredTotals) add(items, batches, dead int) {
	t.items, t.batches, t.dead = t.items+int64(items), t.batches+int64(batches), t.dead+int64(dead)
}

// addProgress adds to each destination's stored progress what totals (of
// this run or serve so far) hold beyond what was added already, so that
// status counts a long serve's deliveries while it runs.
func (p *Pipeline) addProgress(ctx context.Context, totals map[string]deliveredTotals) {
	p.progMu.Lock()
	defer p.progMu.Unlock()
	if p.progSaved == nil {
		p.progSaved = map[string]deliveredTotals{}
	}
	for name, t := range totals {
		was := p.progSaved[name]
		d := deliveredTotals{t.items - was.items, t.batches - was.batches, t.dead - was.dead}
		if d == (deliveredTotals{}) {
			continue
		}
		if err := p.st.AddProgress(ctx, name, d.items, d.batches, d.dead); err != nil {
			p.log.Warn("saving destination progress", zap.String("destination", name), zap.Error(err))
			continue
		}
		p.progSaved[name] = t
	}
}

// runnerTotals is what runners (one per destination, with the retired ones
// that lost a lease) delivered so far.
func (p *Pipeline) runnerTotals(runners []*consumer.Runner, retired [][]*consumer.Runner) map[string]deliveredTotals {
	out := map[string]deliveredTotals{}
	for i, r := range runners {
		all := []*consumer.Runner{r}
		if retired != nil {
			all = append(all, retired[i]...)
		}
		var t deliveredTotals
		for _, r := range all {
			for _, s := range r.Stats() {
				t.add(s.Items, s.Batches, s.DeadLetters)
			}
		}
		out[p.dests[i].dest.name] = t
	}
	return out
}

// progressSave is how often a run or serve adds to the stored progress and
// latency while it delivers, for status.
const progressSave = 10 * time.Second

func (p *Pipeline) progressEvery() time.Duration {
	if p.cfg.progressEvery > 0 {
		return p.cfg.progressEvery
	}
	return progressSave
}
func countsOf(m map[string]TableInfo) map[string]state.TableCount {
	out := make(map[string]state.TableCount, len(m))
	for k, v := range m {
		out[k] = state.TableCount{Items: v.Items, Batches: v.Batches, DeadLetters: v.DeadLetters}
	}
	return out
}

// deadLetteredError lists the first dead letters of a run and says how to
// see and replay them, on the command line and in Go: the text reaches both.
func deadLetteredError(pipeline string, dead []DeadLetter) error {
	var b strings.Builder
	for i, d := range dead {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(dead)-3)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "destination %q table %q batch %s: %v", d.Destination, d.Table, d.BatchID, d.Err)
	}
	return fmt.Errorf("%w: %d %s: %s; list them with `bridge dlq list --pipeline %s` (Go: Pipeline.DeadLetters), replay them once the cause is fixed with `bridge dlq replay --pipeline %s` (Go: Pipeline.ReplayDeadLetters)",
		ErrDeadLettered, len(dead), plural(len(dead), "batch", "batches"), b.String(), pipeline, pipeline)
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

// idleAfterStop is how long a runner whose tables stopped (TableSequential)
// must have had nothing to do before the batches still undelivered are taken
// as held back behind them.
const idleAfterStop = 3 * time.Second

// waitDelivered waits until every destination has finished every batch the
// stream holds for it, or has failed. It asks the server for each consumer's
// pending and unacknowledged counts (not the ack floor, which can stay behind
// after a crash or a purge). pendingOnly says the wait is for batches of
// earlier runs, before new data is published.
func (p *Pipeline) waitDelivered(ctx context.Context, runners []*consumer.Runner, pendingOnly bool) error {
	var target uint64
	err := backoff.Retry(func() (err error) {
		target, err = p.q.LastSeq(ctx)
		return err
	}, backoff.WithContext(backoff.NewExponentialBackOff(backoff.WithMaxElapsedTime(p.outage())), ctx))
	if err != nil {
		return fmt.Errorf("NATS does not answer (%w); the batches not delivered stay pending: check that the server is up, then run again", err)
	}
	done := make([]bool, len(runners))
	idleSince := make([]time.Time, len(runners))
	announced := !pendingOnly
	// Ask the server a few times a second, not once per finished batch:
	// one API request per batch would cost more than the wait.
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var failingSince time.Time
	for {
		left := 0
		for i, r := range runners {
			if done[i] {
				continue
			}
			if r.Err() != nil {
				done[i] = true
				continue
			}
			prog, err := p.dests[i].cons.Progress(ctx)
			switch {
			case err == nil:
				failingSince = time.Time{}
				parked := r.Parked()
				if !prog.Idle(parked) {
					idleSince[i] = time.Time{}
				} else if idleSince[i].IsZero() {
					idleSince[i] = time.Now()
				}
				switch {
				case prog.Done(target, parked),
					// Batches removed before this destination took them
					// (a purge, retention) leave it short of target.
					!idleSince[i].IsZero() && time.Since(idleSince[i]) > idleAfterStop,
					parked > 0 && prog.AckPending <= parked && r.IdleFor() > idleAfterStop:
					done[i] = true
					continue
				}
				if !announced {
					announced = true
					p.log.Info("delivering batches pending from earlier runs first",
						zap.String("destination", p.dests[i].dest.name),
						zap.Uint64("undelivered", prog.Pending), zap.Int("unacknowledged", prog.AckPending))
				}
			case ctx.Err() != nil:
				return ctx.Err()
			case failingSince.IsZero():
				failingSince = time.Now()
				p.log.Warn("NATS does not answer; waiting for it to come back", zap.Error(err))
			case time.Since(failingSince) > p.outage():
				return fmt.Errorf("NATS did not answer for %v (%w); the batches not delivered stay pending: "+
					"check that the server is up, then run the same command again", p.outage(), err)
			}
			left++
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (p *Pipeline) startProgress(rc runConfig, runners []*consumer.Runner, read, produced *atomic.Int64, start time.Time) func() {
	if rc.progress == nil {
		return func() {}
	}
	report := func() {
		pr := Progress{Read: read.Load(), Produced: produced.Load(), Elapsed: time.Since(start),
			DeliveredBy: make(map[string]int64, len(runners))}
		for i, r := range runners {
			var items, batches int64
			for _, s := range r.Stats() {
				items += int64(s.Items)
				batches += int64(s.Batches)
			}
			pr.DeliveredBy[p.dests[i].dest.name] = items
			if i == 0 || items < pr.Delivered {
				pr.Delivered, pr.Batches = items, batches
			}
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

// resetProgress starts a run's or serve's count of what it added to the
// stored progress.
func (p *Pipeline) resetProgress() {
	p.progMu.Lock()
	p.progSaved = nil
	p.progMu.Unlock()
}

// saveProgressEvery adds, every progressSave until stop is called, what the
// runners delivered to the stored progress (Run: the runners do not change).
func (p *Pipeline) saveProgressEvery(ctx context.Context, runners []*consumer.Runner) (stop func()) {
	p.resetProgress()
	return every(ctx, p.progressEvery(), func() bool {
		p.savePeriodic(ctx, p.runnerTotals(runners, nil))
		return true
	})
}

// savePeriodic adds totals to the stored progress and saves the latency
// summaries, for status while a run or serve goes on. With NATS away it
// skips, and it never holds the run up for long: the end of the run saves
// what is left.
func (p *Pipeline) savePeriodic(ctx context.Context, totals map[string]deliveredTotals) {
	if !p.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p.saveLatencies(ctx)
	p.addProgress(ctx, totals)
}
