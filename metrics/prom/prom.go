// Package prom serves a pipeline's metrics to Prometheus. Metrics
// implements observe.Observer: install it with bridge.WithObserver, and
// give it the pipeline's Pending to report what waits:
//
//	reg := prometheus.NewRegistry()
//	m, err := prom.New(reg)
//	p, err := bridge.NewPipeline("events", dest, bridge.WithObserver(m))
//	m.WatchPending("events", func(ctx context.Context) (map[string]uint64, map[string]uint64, error) {
//	    pend, err := p.Pending(ctx)
//	    return pend.Destinations, pend.Tables, err
//	})
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every series is labelled by pipeline, and by destination and table where
// they apply; labels hold names only, never a setting's value.
package prom

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fanoutbridge/bridge/observe"
)

// PendingFunc reports the batches waiting per destination and per table
// (bridge.Pipeline.Pending).
type PendingFunc func(ctx context.Context) (destinations, tables map[string]uint64, err error)

// PendingTimeout bounds one read of the pending counts during a scrape.
const PendingTimeout = 2 * time.Second

// Metrics is the Prometheus observer of one or more pipelines.
type Metrics struct {
	itemsProduced    *prometheus.CounterVec
	batchesProduced  *prometheus.CounterVec
	itemsDelivered   *prometheus.CounterVec
	batchesDelivered *prometheus.CounterVec
	callsFailed      *prometheus.CounterVec
	retries          *prometheus.CounterVec
	deadLetters      *prometheus.CounterVec
	callDuration     *prometheus.HistogramVec
	batchRows        *prometheus.HistogramVec
	produceToCall    *prometheus.HistogramVec

	pendingDesc, tableDesc *prometheus.Desc
	mu                     sync.Mutex
	pending                map[string]PendingFunc // by pipeline
}

var _ observe.Observer = (*Metrics)(nil)

// New makes the metrics and registers them with reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	dt := []string{"pipeline", "destination", "table"}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	}
	m := &Metrics{
		itemsProduced:    counter("bridge_items_produced_total", "Rows published, per table.", "pipeline", "table"),
		batchesProduced:  counter("bridge_batches_produced_total", "Batches published, per table.", "pipeline", "table"),
		itemsDelivered:   counter("bridge_items_delivered_total", "Rows a destination took (its call returned nil).", dt...),
		batchesDelivered: counter("bridge_batches_delivered_total", "Calls a destination took (one per batch of its batch size).", dt...),
		callsFailed:      counter("bridge_calls_failed_total", "Calls that returned an error (retried or dead-lettered).", dt...),
		retries:          counter("bridge_retries_total", "Calls made again after a failed attempt.", dt...),
		deadLetters: counter("bridge_dead_letters_total", "Batches (or a call's rows) sent to the dead-letter stream, by reason (terminal, unreadable).",
			"pipeline", "destination", "table", "reason"),
		callDuration: hist("bridge_call_duration_seconds", "How long a destination's call took, every attempt.",
			[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}, dt...),
		batchRows: hist("bridge_batch_rows", "Rows per call of a destination.",
			[]float64{1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000}, dt...),
		produceToCall: hist("bridge_produce_to_call_seconds", "From when the server stored a batch to its first call in a delivery (the server's clock to this process's).",
			[]float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 3600}, dt...),
		pendingDesc: prometheus.NewDesc("bridge_pending_batches",
			"Batches not yet delivered to a destination: pending on the server and in flight.", []string{"pipeline", "destination"}, nil),
		tableDesc: prometheus.NewDesc("bridge_table_pending_batches",
			"Batches of a table stored and not yet taken by every destination.", []string{"pipeline", "table"}, nil),
		pending: map[string]PendingFunc{},
	}
	for _, c := range []prometheus.Collector{m.itemsProduced, m.batchesProduced, m.itemsDelivered, m.batchesDelivered,
		m.callsFailed, m.retries, m.deadLetters, m.callDuration, m.batchRows, m.produceToCall, pendingCollector{m}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Produced counts a published batch.
func (m *Metrics) Produced(e observe.Produced) {
	m.itemsProduced.WithLabelValues(e.Pipeline, e.Table).Add(float64(e.Rows))
	m.batchesProduced.WithLabelValues(e.Pipeline, e.Table).Inc()
}

// Called counts a call and observes its latency and size.
func (m *Metrics) Called(e observe.Call) {
	l := []string{e.Pipeline, e.Destination, e.Table}
	m.callDuration.WithLabelValues(l...).Observe(e.Duration.Seconds())
	if e.Attempt > 1 {
		m.retries.WithLabelValues(l...).Inc()
	} else if e.Waited > 0 {
		m.produceToCall.WithLabelValues(l...).Observe(e.Waited.Seconds())
	}
	if e.Err != nil {
		m.callsFailed.WithLabelValues(l...).Inc()
		return
	}
	m.itemsDelivered.WithLabelValues(l...).Add(float64(e.Rows))
	m.batchesDelivered.WithLabelValues(l...).Inc()
	m.batchRows.WithLabelValues(l...).Observe(float64(e.Rows))
}

// DeadLettered counts a dead letter.
func (m *Metrics) DeadLettered(e observe.DeadLetter) {
	m.deadLetters.WithLabelValues(e.Pipeline, e.Destination, e.Table, e.Reason).Inc()
}

// WatchPending reports pipeline's pending batches at every scrape, read by
// f (at most PendingTimeout per scrape; a read that fails reports nothing).
// nil stops reporting them.
func (m *Metrics) WatchPending(pipeline string, f PendingFunc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f == nil {
		delete(m.pending, pipeline)
		return
	}
	m.pending[pipeline] = f
}

// pendingCollector reads the pending counts when scraped.
type pendingCollector struct{ m *Metrics }

func (c pendingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.pendingDesc
	ch <- c.m.tableDesc
}

func (c pendingCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	fns := maps.Clone(c.m.pending)
	c.m.mu.Unlock()
	for _, pipeline := range slices.Sorted(maps.Keys(fns)) {
		ctx, cancel := context.WithTimeout(context.Background(), PendingTimeout)
		dests, tables, err := fns[pipeline](ctx)
		cancel()
		if err != nil {
			continue
		}
		for name, n := range dests {
			ch <- prometheus.MustNewConstMetric(c.m.pendingDesc, prometheus.GaugeValue, float64(n), pipeline, name)
		}
		for name, n := range tables {
			ch <- prometheus.MustNewConstMetric(c.m.tableDesc, prometheus.GaugeValue, float64(n), pipeline, name)
		}
	}
}
