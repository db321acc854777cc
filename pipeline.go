package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge/consumer"
	"github.com/fanoutbridge/bridge/observe"
	"github.com/fanoutbridge/bridge/queue"
	"github.com/fanoutbridge/bridge/state"
)

// PipelineOption configures a Pipeline.
type PipelineOption func(*pipelineConfig) error

type pipelineConfig struct {
	natsURL   string
	natsOpts  []nats.Option
	dataDir   string
	logger    *zap.Logger
	prefix    string
	fetchWait time.Duration
	ackWait   time.Duration
	extra     []*Destination
	retention time.Duration
	outage    time.Duration
	shutdown  time.Duration
	producer  []Option
	keepLoads int
	rowCache  int
	replicas  int // 0: an existing pipeline keeps its own, a new one gets 1
	// progressEvery is how often a run or serve saves its progress (tests).
	progressEvery time.Duration
	observers     []observe.Observer
}

// DefaultLoadHistory is how many loads the history keeps (see
// WithLoadHistory).
const DefaultLoadHistory = 1000

// WithLoadHistory sets how many loads the pipeline's history (in its state
// bucket; bridge status shows the last ones) keeps: each Run and Produce
// deletes the oldest finished entries beyond the newest n (default 1000).
func WithLoadHistory(n int) PipelineOption {
	return func(c *pipelineConfig) error {
		if n < 1 {
			return invalid("load history %d: keep at least 1", n)
		}
		c.keepLoads = n
		return nil
	}
}

// DefaultRowCache is how many rows of the batches it just published a
// pipeline object keeps for its own workers (see WithRowCache).
const DefaultRowCache = 16 << 10

// WithRowCache sets how many rows of the batches it just published a
// pipeline object keeps in memory, so that its own workers take them on
// their first delivery without decoding the stored payload (default
// DefaultRowCache). The cache also holds at most rows x 64 values, so it
// keeps fewer rows of tables wider than 64 columns. 0 turns the cache off:
// every batch is decoded from the stream, as a worker in another process
// does, which is how to measure that path in one process.
func WithRowCache(rows int) PipelineOption {
	return func(c *pipelineConfig) error {
		if rows < 0 {
			return invalid("row cache %d: want 0 or more", rows)
		}
		c.rowCache = rows
		return nil
	}
}

// DefaultShutdownTimeout is how long calls in flight get to finish once the
// context of Run, Produce or Serve ends (see WithShutdownTimeout).
const DefaultShutdownTimeout = 30 * time.Second

// WithShutdownTimeout sets how long the calls in flight get to finish when
// the context of Run or Serve ends (default 30 s): no new batch is taken,
// the calls under way go on (their context is not cancelled) until they
// return or d has passed, then their context is cancelled, and every batch
// not acknowledged goes back to the server for the next run or another
// worker. 0 cancels the calls at once. Nothing is lost either way; a call
// cut short is made again.
func WithShutdownTimeout(d time.Duration) PipelineOption {
	return func(c *pipelineConfig) error {
		if d < 0 {
			return invalid("shutdown timeout %v: must be 0 or more", d)
		}
		c.shutdown = d
		return nil
	}
}

// WithProducerOptions sets the producer's settings (NamingConvention,
// MaxTableNesting, MaxColumns, SkipDltColumnsAndTables, LoaderFileFormat) of
// a pipeline made with NewProducer, or overrides those NewPipeline takes
// from its destination. Every producer of one pipeline should use the same
// settings: they decide table and column names.
func WithProducerOptions(opts ...Option) PipelineOption {
	return func(c *pipelineConfig) error {
		c.producer = append(c.producer, opts...)
		return nil
	}
}

// WithOutageLimit sets how long Run waits for a NATS server that does not
// answer before it fails, leaving what was not delivered pending (default 2
// minutes). The connection keeps trying to reconnect all along.
func WithOutageLimit(d time.Duration) PipelineOption {
	return func(c *pipelineConfig) error {
		if d < time.Second {
			return invalid("outage limit %v: want at least 1s", d)
		}
		c.outage = d
		return nil
	}
}

// WithDestinations adds destinations to the pipeline beside the one passed to
// NewPipeline: the producer normalizes and publishes each load once, and every
// destination receives all of it, at its own pace, with its own batch size,
// parallelism, retries and dead letters. The producer's settings (naming
// convention, nesting, system columns, the format in transit) come from the
// destination passed to NewPipeline. Names must differ.
func WithDestinations(dests ...*Destination) PipelineOption {
	return func(c *pipelineConfig) error {
		for _, d := range dests {
			if d == nil {
				return invalid("nil destination")
			}
			if d.err != nil {
				return d.err
			}
		}
		c.extra = append(c.extra, dests...)
		return nil
	}
}

// WithRetention keeps every batch for d after it is stored, acknowledged or
// not, so that a destination added later with Backfill can load it (default
// 0: a batch is removed as soon as every destination has acknowledged it).
// The stream then holds up to d of data whatever the destinations do: size
// the disk for it. An existing pipeline's retention can change only on
// servers that allow it (nats-server 2.10 and later).
func WithRetention(d time.Duration) PipelineOption {
	return func(c *pipelineConfig) error {
		if d < 0 {
			return invalid("retention %v: must be 0 or more", d)
		}
		c.retention = d
		return nil
	}
}

// WithReplicas keeps n copies (1 to 5) of every stream and bucket of the
// pipeline on a NATS cluster: batches, dead letters, large batches, the
// ledger and the state. 3 on a 3-node cluster survives the loss of one
// server. Default 1 for a new pipeline; without this option an existing
// pipeline keeps the replicas it has, so processes that do not say (workers)
// never scale it down. With it, existing streams and buckets are changed to
// n; a server that refuses (a server not in a cluster, a cluster with fewer
// than n JetStream servers, a server that cannot change the replicas of an
// existing stream) makes NewPipeline fail with an error wrapping
// ErrReplicas that says why. The embedded server keeps one copy: n > 1
// needs WithNATSURL.
func WithReplicas(n int) PipelineOption {
	return func(c *pipelineConfig) error {
		if n < 1 || n > queue.MaxReplicas {
			return invalid("replicas %d: want 1 to %d", n, queue.MaxReplicas)
		}
		c.replicas = n
		return nil
	}
}

// WithNATSURL uses an external NATS server or cluster (with JetStream)
// instead of the embedded one. Extra nats.Options carry credentials, TLS,
// tokens, nkeys or a creds file.
func WithNATSURL(url string, opts ...nats.Option) PipelineOption {
	return func(c *pipelineConfig) error {
		if url == "" {
			return invalid("NATS URL is empty")
		}
		c.natsURL, c.natsOpts = url, opts
		return nil
	}
}

// WithDataDir sets the pipeline's local directory (default
// ~/.bridge/pipelines/<name>): the embedded server's JetStream store and file
// mode's load files live under it. With WithNATSURL nothing is created there
// unless a file-mode destination writes load files.
func WithDataDir(dir string) PipelineOption {
	return func(c *pipelineConfig) error {
		if dir == "" {
			return invalid("data dir is empty")
		}
		c.dataDir = dir
		return nil
	}
}

// WithLogger sets the logger (default: none).
func WithLogger(l *zap.Logger) PipelineOption {
	return func(c *pipelineConfig) error {
		if l == nil {
			return invalid("nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithSubjectPrefix sets the first token of every subject (default "bridge").
func WithSubjectPrefix(p string) PipelineOption {
	return func(c *pipelineConfig) error {
		if queue.Token(p) != p || p == "" {
			return invalid("subject prefix %q: use letters, digits, '_' or '-'", p)
		}
		c.prefix = p
		return nil
	}
}

// WithAckWait sets how long a batch held by a worker that went away (a
// crash, a lost connection) stays invisible before it is delivered again
// (default 10s on an external server, 4s on the embedded one). Workers send
// in-progress signals every quarter of it while they hold a batch, so a long
// call keeps its batch.
func WithAckWait(d time.Duration) PipelineOption {
	return func(c *pipelineConfig) error {
		if d < 100*time.Millisecond {
			return invalid("ack wait %v: want at least 100ms", d)
		}
		c.ackWait = d
		return nil
	}
}

// Pipeline moves data from Run's input to its destination through NATS
// JetStream. One Run at a time; Close when done.
type Pipeline struct {
	name string
	dest *Destination // the first destination: its options are the producer's
	prod destConfig   // the producer's settings
	// producer is set on a pipeline made with NewProducer: it creates the
	// pipeline like NewPipeline, with no destination to serve.
	producer bool
	dests    []*destRun // every destination served by this pipeline object, dest first
	cfg      pipelineConfig
	log      *zap.Logger
	obs      observe.Observer

	emb   *queue.Embedded
	nc    *nats.Conn
	q     *queue.Queue
	st    *state.Store
	files string // load files directory (file mode)
	cache *rowCache
	// schemas are the table schema snapshots this process resolved.
	schemas schemaCache

	// holder names this pipeline object where it holds a lease: host,
	// process id and a random part.
	holder string
	// lat keeps recent produce-to-call latencies, for Status.
	lat latencies
	// progSaved is what the current run or serve added to the stored
	// progress so far, per destination.
	progMu    sync.Mutex
	progSaved map[string]deliveredTotals

	mu     sync.Mutex
	closed bool
}

// newHolder returns a name for a lease holder: unique per pipeline object.
func newHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s pid %d (%s)", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// destRun is a destination this pipeline object serves, with its consumer.
type destRun struct {
	dest      *Destination
	cons      *queue.Consumer
	connected bool // its sink is connected (sink.Connector)
	marks     *queue.SetAsideMarks
}

// NewPipeline opens the pipeline name with its destination: it starts the
// embedded NATS server under the data directory (or joins it, when another
// process on the same data directory runs it; or connects to WithNATSURL),
// and creates the pipeline's streams, state bucket and the destination's
// durable consumer. The destination becomes a member of the pipeline: it
// receives every load published from then on (or, with Backfill, everything
// the stream still holds), until RemoveDestination. Options and their
// defaults:
//
//	WithDataDir(~/.bridge/pipelines/<name>)
//	WithNATSURL("")              embedded server; a URL uses an external one
//	WithDestinations()           more destinations for the same loads
//	WithRetention(0)             0: a batch goes once every destination has it
//	WithReplicas(1)              copies of each stream on a cluster; an existing pipeline keeps its own
//	WithLogger(zap.NewNop())
//	WithObserver()               none: hear batches produced, calls and dead letters (metrics)
//	WithSubjectPrefix("bridge")
//	WithAckWait(10s; 4s embedded)
func NewPipeline(name string, dest *Destination, opts ...PipelineOption) (*Pipeline, error) {
	if dest == nil {
		return nil, invalid("nil destination")
	}
	if dest.err != nil {
		return nil, dest.err
	}
	return openPipeline(name, dest, false, opts)
}

// Open opens a pipeline without a destination, to look at it and manage it:
// Status, DeadLetters, ReplayDeadLetters, PurgeDeadLetters and Drop work; Run
// does not. It takes the options of NewPipeline. Open never creates
// anything: for a pipeline that does not exist (no store in the data
// directory, or no stream on the NATS server) it fails with an error
// wrapping ErrNoPipeline that names the pipelines that do.
func Open(name string, opts ...PipelineOption) (*Pipeline, error) {
	return openPipeline(name, nil, false, opts)
}

func openPipeline(name string, dest *Destination, producer bool, opts []PipelineOption) (*Pipeline, error) {
	if err := queue.ValidPipelineName(name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	cfg := pipelineConfig{logger: zap.NewNop(), prefix: "bridge", shutdown: DefaultShutdownTimeout, keepLoads: DefaultLoadHistory, rowCache: DefaultRowCache}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("pipeline %q: %w", name, err)
		}
	}
	if cfg.replicas > 1 && cfg.natsURL == "" {
		return nil, invalid("pipeline %q: replicas %d: the embedded NATS server keeps one copy (R1): "+
			"replicas over 1 need WithNATSURL to a NATS cluster", name, cfg.replicas)
	}
	if cfg.dataDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("pipeline %q: no data dir given and no home directory: %w", name, err)
		}
		cfg.dataDir = filepath.Join(home, ".bridge", "pipelines", name)
	}
	p := &Pipeline{name: name, dest: dest, cfg: cfg, log: cfg.logger.With(zap.String("pipeline", name)), producer: producer, holder: newHolder(), obs: cfg.observer()}
	p.prod = defaultDestConfig()
	if dest != nil {
		p.prod = dest.cfg
	}
	for _, o := range cfg.producer {
		if err := o(&p.prod); err != nil {
			return nil, fmt.Errorf("pipeline %q: producer options: %w", name, err)
		}
	}
	if dest == nil && len(cfg.extra) > 0 {
		return nil, invalid("WithDestinations needs a pipeline made with NewPipeline")
	}
	seen := map[string]bool{}
	for _, d := range append([]*Destination{dest}, cfg.extra...) {
		if d == nil {
			continue
		}
		if seen[d.name] {
			return nil, invalid("pipeline %q: destination %q given twice: give each destination its own name", name, d.name)
		}
		seen[d.name] = true
		p.dests = append(p.dests, &destRun{dest: d})
		if len(d.conf) > 0 {
			fields := make([]string, len(d.conf))
			for i, v := range d.conf {
				fields[i] = v.String() // secrets are already "***"
			}
			p.log.Info("destination config", zap.String("destination", d.name), zap.Strings("values", fields))
		}
	}
	p.files = filepath.Join(cfg.dataDir, "load_files")
	p.cache = newRowCache(cfg.rowCache)
	if err := p.open(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// open connects and opens the pipeline's streams and state. Without a
// destination (Open) it only looks: it creates no directory, stream or
// bucket.
func (p *Pipeline) open() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	create := p.dest != nil || p.producer
	if create && p.cfg.natsURL == "" {
		// The embedded store lives there. With an external server the
		// state is in NATS: the directory is made only when a file-mode
		// destination writes a load file.
		if err := os.MkdirAll(p.cfg.dataDir, 0o755); err != nil {
			return fmt.Errorf("pipeline %q: data dir: %w", p.name, err)
		}
	}
	nopts := append([]nats.Option{
		nats.Name("bridge " + p.name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}, p.cfg.natsOpts...)
	url := p.cfg.natsURL
	if url == "" {
		// The first process on the data directory runs the server; the
		// others join it.
		emb, err := queue.OpenEmbedded(ctx, queue.EmbeddedConfig{Dir: p.cfg.dataDir, Create: create, Logger: p.log})
		if errors.Is(err, queue.ErrNotFound) {
			return p.noPipeline(ctx, nil)
		}
		if err != nil {
			return fmt.Errorf("pipeline %q: %w", p.name, err)
		}
		p.emb = emb
		var eopts []nats.Option
		url, eopts = emb.ConnectOptions()
		nopts = append(nopts, eopts...)
	}
	nc, err := nats.Connect(url, nopts...)
	if err != nil {
		if p.cfg.natsURL != "" && errors.Is(err, nats.ErrNoServers) {
			return fmt.Errorf("pipeline %q: connect to NATS %s: %w; check that a NATS server runs there and this machine reaches it, or drop --nats-url (Go: WithNATSURL) to use the embedded server",
				p.name, redactURL(url), redactConnectError(url, err))
		}
		return fmt.Errorf("pipeline %q: connect to NATS %s: %w", p.name, redactURL(url), redactConnectError(url, err))
	}
	p.nc = nc
	qcfg := queue.Config{Pipeline: p.name, Prefix: p.cfg.prefix, Retention: p.cfg.retention, Replicas: p.cfg.replicas}
	if !create {
		p.q, err = queue.Lookup(ctx, nc, qcfg)
		if errors.Is(err, queue.ErrNotFound) {
			return p.noPipeline(ctx, nc)
		}
		if err != nil {
			return fmt.Errorf("pipeline %q: %w", p.name, err)
		}
		if p.st, err = state.Lookup(ctx, p.q); err != nil {
			return fmt.Errorf("pipeline %q: %w", p.name, err)
		}
		return nil
	}
	p.q, err = queue.Open(ctx, nc, qcfg)
	if err != nil {
		return fmt.Errorf("pipeline %q: %w", p.name, err)
	}
	p.st, err = state.Open(ctx, p.q)
	if err != nil {
		return fmt.Errorf("pipeline %q: %w", p.name, err)
	}
	for _, dr := range p.dests {
		if err := p.join(ctx, dr); err != nil {
			return fmt.Errorf("pipeline %q: %w", p.name, err)
		}
	}
	if err := p.connectSinks(ctx); err != nil {
		return fmt.Errorf("pipeline %q: %w", p.name, err)
	}
	return nil
}

// join makes dr's destination a member of the pipeline: its consumer and its
// record in the state.
func (p *Pipeline) join(ctx context.Context, dr *destRun) error {
	d := dr.dest
	maxAck := 1000
	if d.cfg.strategy == TableSequential {
		// Batches waiting behind a busy table are held without their
		// payload; let many wait so other tables go on.
		maxAck = 20_000
	}
	var err error
	dr.cons, err = p.q.Consumer(ctx, queue.ConsumerConfig{
		Destination: d.name, AckWait: p.ackWait(), MaxAckPending: maxAck, Backfill: d.cfg.backfill,
	})
	if err != nil {
		return err
	}
	return p.st.SaveMember(ctx, state.Member{
		Name: d.name, BatchRows: d.batchRows(), FileMode: d.file != nil, Format: string(d.cfg.format),
		Strategy: d.cfg.strategy.String(), Backfill: d.cfg.backfill,
	})
}

// Name returns the pipeline's name.
func (p *Pipeline) Name() string { return p.name }

// Close disconnects and stops the embedded server if this process runs it
// (processes that joined it lose their connection, and one of them takes
// the server over). Batches not yet acknowledged stay pending for the next
// pipeline on the same data.
func (p *Pipeline) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	// Sinks flush first: they may use the pipeline's NATS.
	errs := p.closeSinks()
	if p.nc != nil {
		closed := p.nc.StatusChanged(nats.CLOSED)
		if p.nc.Drain() == nil && !p.nc.IsClosed() {
			select {
			case <-closed:
			case <-time.After(time.Second):
			}
		}
		p.nc.RemoveStatusListener(closed)
		p.nc.Close()
	}
	if p.emb != nil {
		p.emb.Shutdown()
	}
	for _, dr := range p.dests {
		for _, fn := range dr.dest.cfg.onClose {
			errs = append(errs, fn())
		}
	}
	return errors.Join(errs...)
}

// Drop deletes everything the pipeline keeps in NATS: pending batches, dead
// letters, large objects and state. The pipeline is closed afterwards.
func (p *Pipeline) Drop(ctx context.Context) error {
	err := p.q.Drop(ctx)
	return errors.Join(err, p.Close())
}

// outage is how long Run waits for NATS to answer again.
func (p *Pipeline) outage() time.Duration {
	if p.cfg.outage > 0 {
		return p.cfg.outage
	}
	return 2 * time.Minute
}

// ackWait is how long a batch held by a worker that went away (a crash, a
// closed pipeline) stays invisible before it is delivered again. The
// embedded server forgets naks when it restarts, so its pending batches
// come back after this; keep it short there. Workers send in-progress
// signals every quarter of it while they hold a batch.
func (p *Pipeline) ackWait() time.Duration {
	if p.cfg.ackWait > 0 {
		return p.cfg.ackWait
	}
	if p.emb != nil {
		return 4 * time.Second
	}
	return 10 * time.Second
}

// consumerConfig is the runner configuration the destination asks for.
func (p *Pipeline) consumerConfig(d *Destination) consumer.Config {
	c := d.cfg
	return consumer.Config{
		Positions:     p.st.Positions(d.name),
		Order:         p.st.Order(d.name),
		Destination:   d.name,
		Strategy:      c.strategy,
		MaxParallel:   c.maxParallel,
		MaxRetries:    c.maxRetries,
		MaxRetryAfter: c.maxRetryAfter,
		RetryInitial:  c.retryInitial,
		RetryMax:      c.retryMax,
		FetchWait:     p.cfg.fetchWait,
		KeepAlive:     p.ackWait() / 4,
		GapWait:       p.ackWait() + p.cfg.fetchWait + 5*time.Second,
		Logger:        p.log,
		OnDeadLetter:  p.deadLettered(d),
	}
}
