package bridge

import (
	"context"
	"fmt"
	"time"

	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/consumer"
	"github.com/fanoutbridge/bridge/normalize"
	"github.com/fanoutbridge/bridge/sink"
)

// Func is a destination function: it receives the items of one batch of one
// table. It may be called on several goroutines at once (see
// LoaderParallelismStrategy) and must be safe for that. A nil return
// acknowledges the batch; an error is retried; Terminal(err) dead-letters it.
// items and table belong to the call: do not keep them after it returns.
type Func func(ctx context.Context, items []Row, table Table) error

// FileFunc is a file-mode destination function: it receives the local path of
// one load file of one table (typed JSON lines or Parquet, per
// LoaderFileFormat). The file is removed after the call returns.
type FileFunc func(ctx context.Context, path string, table Table) error

// Destination is a named function that receives every normalized batch of
// every table, with its options.
type Destination struct {
	name string
	fn   Func
	file FileFunc
	sink sink.Sink // set by NewSinkDestination and NewConfiguredSink
	cfg  destConfig
	conf []ConfigValue // resolved config of a configured destination, secrets redacted
	err  error
}

type destConfig struct {
	batchSize int
	// flushInterval and batchBytes cut the producer's batches early.
	flushInterval time.Duration
	batchBytes    int
	fileMaxItems  int
	format        batcher.Format
	naming        normalize.Convention
	maxNesting    int
	maxColumns    int
	maxRecord     int // bytes of the longest JSON line read
	skipSystem    bool
	maxParallel   int
	strategy      consumer.Strategy
	maxRetries    int
	maxRetryAfter int
	retryInitial  time.Duration
	retryMax      time.Duration
	backfill      bool
	reuseRows     bool
	// config is set while NewConfiguredDestination applies its options.
	config  *configInput
	onClose []func() error
}

func defaultDestConfig() destConfig {
	return destConfig{
		batchSize:    10,
		fileMaxItems: 10_000,
		format:       batcher.TypedJSONL,
		naming:       normalize.Direct,
		maxColumns:   DefaultMaxColumns,
		maxRecord:    DefaultMaxRecordSize,
		skipSystem:   true,
		maxParallel:  20,
		strategy:     consumer.Parallel,
		maxRetries:   5,
		retryInitial: 500 * time.Millisecond,
		retryMax:     10 * time.Second,
	}
}

// NewDestination returns a destination that calls fn with the items of every
// batch. Options and their defaults:
//
//	BatchSize(10)                          items per call; the last batch of a table in a load may be smaller
//	LoaderFileFormat(TypedJSONL)           TypedJSONL or Parquet: how batches travel
//	NamingConvention(Direct)               Direct or SnakeCase
//	MaxTableNesting(0)                     0: nested values stay json; n: flatten and make child tables to depth n
//	MaxColumns(10000)                      columns per table; a record that would add one more is skipped as bad input
//	MaxRecordSize(16 MiB)                  the longest JSON line read; a longer one is skipped as bad input
//	SkipDltColumnsAndTables(true)          hide _dlt_id, _dlt_load_id, _dlt_parent_id, _dlt_list_idx
//	MaxParallelLoadJobs(20)                calls at once
//	LoaderParallelismStrategy(Parallel)    Parallel, TableSequential or Sequential
//	MaxRetries(5)                          attempts of a failing batch before Run gives up on it
//	RetryBackoff(500ms, 10s)               first and longest wait between attempts (jittered, doubling)
//
// An invalid option is reported by NewPipeline, wrapping ErrInvalidOption.
func NewDestination(name string, fn Func, opts ...Option) *Destination {
	return newDestination(name, fn, nil, nil, opts)
}

// NewFileDestination returns a file-mode destination (dlt's batch size 0): fn
// is called once per load file with its local path. A load file holds up to
// FileMaxItems(10000) rows of one table. It takes the same options as
// NewDestination; BatchSize does not apply.
func NewFileDestination(name string, fn FileFunc, opts ...Option) *Destination {
	return newDestination(name, nil, fn, nil, opts)
}

// newDestination makes a destination with one of fn and file; config is
// non-nil for configured destinations, which take the config options.
func newDestination(name string, fn Func, file FileFunc, config *configInput, opts []Option) *Destination {
	d := &Destination{name: name, fn: fn, file: file, cfg: defaultDestConfig()}
	if fn == nil && file == nil {
		d.err = fmt.Errorf("%w: destination %q: nil function", ErrInvalidOption, name)
	}
	d.cfg.config = config
	d.apply(opts)
	d.cfg.config = nil
	return d
}

func (d *Destination) apply(opts []Option) {
	if d.name == "" && d.err == nil {
		d.err = fmt.Errorf("%w: destination name is empty", ErrInvalidOption)
	}
	for _, o := range opts {
		if err := o(&d.cfg); err != nil && d.err == nil {
			d.err = fmt.Errorf("destination %q: %w", d.name, err)
		}
	}
}

// Name returns the destination's name.
func (d *Destination) Name() string { return d.name }

// Format returns the destination's loader file format (LoaderFileFormat).
func (d *Destination) Format() FileFormat { return d.cfg.format }

// batchRows is how many rows the producer puts in one batch.
func (d *Destination) batchRows() int {
	if d.file != nil {
		return d.cfg.fileMaxItems
	}
	return d.cfg.batchSize
}

// Parallelism returns how many calls of the destination may run at once
// (MaxParallelLoadJobs; 1 under Sequential).
func (d *Destination) Parallelism() int {
	if d.cfg.strategy == Sequential {
		return 1
	}
	return d.cfg.maxParallel
}
