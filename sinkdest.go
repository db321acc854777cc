package bridge

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/fanoutbridge/bridge/consumer"
	"github.com/fanoutbridge/bridge/sink"
)

// NewSinkDestination returns a destination that writes every batch with s
// (see package sink for the contract: Terminal, RetryAfter and RowErrors
// answers, and Connector and Closer for sinks with a connection). A
// Connector is connected when the pipeline opens (NewPipeline fails if it
// cannot); a Closer is closed by Pipeline.Close, before the pipeline lets go
// of NATS. It takes the options of NewDestination.
func NewSinkDestination(name string, s sink.Sink, opts ...Option) *Destination {
	var fn Func
	if s != nil {
		fn = sinkFunc(s)
	}
	d := newDestination(name, fn, nil, nil, opts)
	d.sink = s
	return d
}

// NewConfiguredSink returns a destination whose sink is made by newSink from
// a config resolved as NewConfiguredDestination resolves it (code, then the
// environment, then .bridge/secrets.toml and config.toml, then defaults;
// secrets kept out of logs). newSink runs once, now; its error fails
// NewPipeline as a config error does. It takes the options of
// NewConfiguredDestination.
func NewConfiguredSink[C any](name string, newSink func(cfg C) (sink.Sink, error), opts ...Option) *Destination {
	var cfg C
	in := &configInput{dir: ".bridge"}
	// The function is set once the sink exists; a placeholder passes the
	// nil-function check.
	d := newDestination(name, func(context.Context, []Row, Table) error { return nil }, nil, in, opts)
	if d.err != nil {
		return d
	}
	if newSink == nil {
		d.err = invalid("destination %q: nil sink constructor", name)
		return d
	}
	if d.conf, d.err = resolveConfig(name, reflect.ValueOf(&cfg).Elem(), in); d.err != nil {
		return d
	}
	s, err := newSink(cfg)
	if err != nil {
		d.err = fmt.Errorf("%w: destination %q: %w", ErrInvalidConfig, name, err)
		return d
	}
	if s == nil {
		d.err = invalid("destination %q: the sink constructor returned no sink", name)
		return d
	}
	d.sink, d.fn = s, sinkFunc(s)
	return d
}

// Sink returns the sink of a destination made by NewSinkDestination or
// NewConfiguredSink; nil for others.
func (d *Destination) Sink() sink.Sink { return d.sink }

// sinkFunc adapts a sink to a destination function.
func sinkFunc(s sink.Sink) Func {
	return func(ctx context.Context, items []Row, table Table) error {
		return s.Write(ctx, sink.Batch{ID: BatchID(ctx), Table: table, Rows: items, Attempt: attempt(ctx)})
	}
}

// connectSinks connects the destinations' sinks that are Connectors.
func (p *Pipeline) connectSinks(ctx context.Context) error {
	for _, dr := range p.dests {
		c, ok := dr.dest.sink.(sink.Connector)
		if !ok {
			continue
		}
		env := sink.Env{Pipeline: p.name, Destination: dr.dest.name, Shared: p.st.SinkKV(dr.dest.name)}
		if err := c.Connect(ctx, env); err != nil {
			return fmt.Errorf("destination %q: connect: %w", dr.dest.name, err)
		}
		dr.connected = true
	}
	return nil
}

// sinkCloseTimeout bounds each sink's Close in Pipeline.Close.
const sinkCloseTimeout = 30 * time.Second

// closeSinks closes the connected sinks that are Closers.
func (p *Pipeline) closeSinks() []error {
	var errs []error
	for _, dr := range p.dests {
		c, ok := dr.dest.sink.(sink.Closer)
		if !ok || !dr.connected && isConnector(dr.dest.sink) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), sinkCloseTimeout)
		if err := c.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("destination %q: close: %w", dr.dest.name, err))
		}
		cancel()
	}
	return errs
}

func isConnector(s sink.Sink) bool {
	_, ok := s.(sink.Connector)
	return ok
}

// attempt is which attempt of its batch a call is (sink.Batch.Attempt).
func attempt(ctx context.Context) int { return consumer.Attempt(ctx) }
