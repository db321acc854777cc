package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sink"
	"github.com/fanoutbridge/bridge/sinks/exec"
	httpsink "github.com/fanoutbridge/bridge/sinks/http"
	"github.com/fanoutbridge/bridge/sinks/postgres"
	httpsource "github.com/fanoutbridge/bridge/sources/http"
	kafkasource "github.com/fanoutbridge/bridge/sources/kafka"
	natssource "github.com/fanoutbridge/bridge/sources/nats"
)

var builtinsOnce sync.Once

// stdoutSink is where the stdout destination writes; Main points it at its
// stdout argument.
var stdoutSink = struct {
	sync.Mutex
	w io.Writer
}{w: os.Stdout}

// registerBuiltins registers the built-in destinations: null, stdout, exec,
// file, nats, postgres, kafka; and the sources kafka://, nats:// and http://.
func registerBuiltins() {
	builtinsOnce.Do(func() {
		must(bridge.Register("null", func(arg string, opts ...bridge.Option) (*bridge.Destination, error) {
			return bridge.NewDestination("null", func(context.Context, []bridge.Row, bridge.Table) error {
				return nil
			}, append([]bridge.Option{bridge.ReuseRows()}, opts...)...), nil
		}))
		must(bridge.Register("stdout", func(arg string, opts ...bridge.Option) (*bridge.Destination, error) {
			return bridge.NewDestination("stdout", writeStdout, append([]bridge.Option{bridge.ReuseRows()}, opts...)...), nil
		}))
		must(bridge.Register("exec", newExecDestination))
		must(bridge.Register("http", newHTTPDestination))
		must(bridge.Register("postgres", newPostgresDestination))
		must(bridge.Register("file", newFileDestination))
		must(bridge.Register("nats", newNATSDestination))
		must(bridge.Register("kafka", newKafkaDestination))
		must(bridge.RegisterSource("kafka", newKafkaSource))
		must(bridge.RegisterSource("nats", func(u *url.URL) (bridge.Source, error) { return natssource.FromURL(u, logger()) }))
		must(bridge.RegisterSource("http", func(u *url.URL) (bridge.Source, error) {
			return httpsource.FromURL(u, os.Getenv, logger())
		}))
	})
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// sinkLog is the logger of the running command, for built-in sinks.
var sinkLog = struct {
	sync.Mutex
	l *zap.Logger
}{l: zap.NewNop()}

func logger() *zap.Logger {
	sinkLog.Lock()
	defer sinkLog.Unlock()
	return sinkLog.l
}

func setLogger(l *zap.Logger) {
	sinkLog.Lock()
	sinkLog.l = l
	sinkLog.Unlock()
}

// execWorkers is how many copies of an exec destination's program run
// unless --max-parallel says otherwise.
const execWorkers = 4

// execMaxCrashes is --max-crashes of the running command (0: off).
var execMaxCrashes struct {
	sync.Mutex
	n int
}

func setExecMaxCrashes(n int) {
	execMaxCrashes.Lock()
	execMaxCrashes.n = n
	execMaxCrashes.Unlock()
}

// execConfig is the settings of an exec destination (in a pipeline config
// file's destination section, or DESTINATION__<NAME>__<KEY>).
type execConfig struct {
	Processes  int           `bridge:"processes,optional"`   // copies of the program (default: --max-parallel, 4 for exec)
	Timeout    time.Duration `bridge:"timeout,optional"`     // per batch (default 5m)
	MaxCrashes int           `bridge:"max_crashes,optional"` // --max-crashes wins when given
}

// newExecDestination runs "exec:COMMAND": the program gets every batch as
// JSON lines on stdin and answers per batch (docs/exec-protocol.md). As many
// copies of it run as its processes setting says, else as calls may
// (--max-parallel, default 4).
func newExecDestination(command string, opts ...bridge.Option) (*bridge.Destination, error) {
	argv, err := exec.ParseCommand(command)
	if err != nil {
		return nil, err
	}
	execMaxCrashes.Lock()
	crashes := execMaxCrashes.n
	execMaxCrashes.Unlock()
	var dest *bridge.Destination
	opts = append([]bridge.Option{bridge.MaxParallelLoadJobs(execWorkers), bridge.ReuseRows()}, opts...)
	// Named by its command: two programs are two destinations.
	dest = bridge.NewConfiguredSink("exec:"+command, func(c execConfig) (sink.Sink, error) {
		if c.Processes < 0 {
			return nil, fmt.Errorf("processes %d: want 1 or more", c.Processes)
		}
		if crashes == 0 {
			crashes = c.MaxCrashes
		}
		cfg := exec.Config{Argv: argv, Timeout: c.Timeout, MaxCrashes: crashes, Logger: logger()}
		// Check the settings and that the program exists now, before the
		// pipeline opens (exec.New starts nothing).
		probe, err := exec.New(cfg)
		if err != nil {
			return nil, err
		}
		_ = probe.Close()
		return &execSink{cfg: cfg, processes: c.Processes, dest: &dest}, nil
	}, opts...)
	return dest, nil // a bad setting fails NewPipeline, before anything moves
}

// execSink starts the exec sink when the pipeline opens, with as many
// programs as its destination's calls may run unless told otherwise.
type execSink struct {
	cfg       exec.Config
	processes int
	dest      **bridge.Destination
	s         *exec.Sink
}

func (e *execSink) Connect(ctx context.Context, env sink.Env) error {
	e.cfg.Workers = e.processes
	if e.cfg.Workers == 0 {
		e.cfg.Workers = (*e.dest).Parallelism()
	}
	s, err := exec.New(e.cfg)
	if err != nil {
		return err
	}
	e.s = s
	return nil
}

func (e *execSink) Write(ctx context.Context, b sink.Batch) error {
	if e.s == nil {
		return sink.Terminal(errors.New("exec destination used before its pipeline opened"))
	}
	return e.s.Write(ctx, &b.Table, b.ID, b.Rows)
}

func (e *execSink) Close(ctx context.Context) error {
	if e.s == nil {
		return nil
	}
	return e.s.Close()
}

// newHTTPDestination is "http" (settings from [destination.http] in
// .bridge/config.toml and secrets.toml, or DESTINATION__HTTP__* variables) or
// "http:URL" (the URL given, the rest as for "http").
func newHTTPDestination(url string, opts ...bridge.Option) (*bridge.Destination, error) {
	cfg := bridge.WithConfig(httpsink.Config{URL: url, Logger: logger()})
	return httpsink.Destination("http", append([]bridge.Option{cfg}, opts...)...), nil
}

// newPostgresDestination is "postgres": its settings come from
// [destination.postgres] in .bridge/config.toml and secrets.toml, or
// DESTINATION__POSTGRES__* variables (configs/postgres.toml).
func newPostgresDestination(arg string, opts ...bridge.Option) (*bridge.Destination, error) {
	if arg != "" {
		return nil, errors.New("postgres takes no argument: set postgres_dsn in .bridge/secrets.toml [destination.postgres] or DESTINATION__POSTGRES__POSTGRES_DSN")
	}
	return postgres.DestinationWithLogger("postgres", logger(), opts...), nil
}

// newKafkaSource is --input kafka://BROKERS/TOPIC?group=G (README "Kafka
// source").
func newKafkaSource(u *url.URL) (bridge.Source, error) {
	return kafkasource.FromURL(u, logger())
}

// writeStdout prints each item as a JSON line {"table", "batch", "item"}.
func writeStdout(ctx context.Context, items []bridge.Row, t bridge.Table) error {
	var buf []byte
	for _, it := range items {
		line, err := json.Marshal(struct {
			Table string     `json:"table"`
			Batch string     `json:"batch"`
			Item  bridge.Row `json:"item"`
		}{t.Name, bridge.BatchID(ctx), it})
		if err != nil {
			return bridge.Terminal(err)
		}
		buf = append(append(buf, line...), '\n')
	}
	stdoutSink.Lock()
	defer stdoutSink.Unlock()
	_, err := stdoutSink.w.Write(buf)
	return err
}
