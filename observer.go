package bridge

import (
	"context"
	"time"

	"github.com/fanoutbridge/bridge/consumer"
	"github.com/fanoutbridge/bridge/observe"
)

// WithObserver installs o to hear what the pipeline does: batches produced,
// every call of every destination (delivered or failed, its latency, its
// rows, which attempt, how long the batch waited in the queue) and dead
// letters (see package observe). Metrics systems implement it; bridge's
// command line serves Prometheus metrics through metrics/prom. Given more
// than once, every observer hears every event. o's methods run on the
// pipeline's goroutines: keep them quick.
func WithObserver(o observe.Observer) PipelineOption {
	return func(c *pipelineConfig) error {
		if o == nil {
			return invalid("nil observer")
		}
		c.observers = append(c.observers, o)
		return nil
	}
}

// observer returns the pipeline's observer (a no-op when none was given).
func (c *pipelineConfig) observer() observe.Observer {
	switch len(c.observers) {
	case 0:
		return observe.Nop{}
	case 1:
		return c.observers[0]
	}
	return observe.Multi(c.observers...)
}

// Pending is what waits to be delivered, for metrics and health checks.
type Pending struct {
	// Destinations has, per destination of the pipeline, the batches not
	// yet delivered to it: on the server (pending) and held by a worker
	// (in flight).
	Destinations map[string]uint64
	// Tables has, per table, the batches stored and not yet taken by every
	// destination.
	Tables map[string]uint64
}

// Pending reports what waits to be delivered: one look at the stream and
// its consumers, cheaper than Status.
func (p *Pipeline) Pending(ctx context.Context) (Pending, error) {
	st, err := p.q.State(ctx)
	if err != nil {
		return Pending{}, err
	}
	out := Pending{Destinations: map[string]uint64{}, Tables: tableKeys(st.PerTable)}
	for _, c := range st.Consumers {
		out.Destinations[c.Destination] = c.Pending + uint64(max(c.InFlight, 0))
	}
	return out, nil
}

// observeCall times one call of destination d with rows of the batch of
// table, waiting since since (see queue.Delivery.Waiting), and tells the
// observer.
func (p *Pipeline) observeCall(ctx context.Context, d *Destination, table, id string, rows int, since time.Time, call func() error) error {
	start := time.Now()
	err := call()
	e := observe.Call{
		Pipeline: p.name, Destination: d.name, Table: table, BatchID: id, Rows: rows,
		Attempt: consumer.Attempt(ctx), Duration: time.Since(start), Err: err,
	}
	if !since.IsZero() {
		e.Waited = max(start.Sub(since), 0)
		if e.Attempt <= 1 {
			p.lat.add(d.name, e.Waited)
		}
	}
	p.obs.Called(e)
	return err
}

// deadLettered tells the observer of a dead letter of destination d.
func (p *Pipeline) deadLettered(d *Destination) func(consumer.DeadRecord, string) {
	return func(r consumer.DeadRecord, reason string) {
		p.obs.DeadLettered(observe.DeadLetter{Pipeline: p.name, Destination: d.name, Table: r.Table, BatchID: r.BatchID, Rows: r.Rows, Reason: reason})
	}
}
