package prom_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/metrics/prom"
	"github.com/fanoutbridge/bridge/sink"
)

// flaky fails every batch's first attempt and refuses the batch of row 7.
type flaky struct{}

func (flaky) Write(_ context.Context, b sink.Batch) error {
	for _, r := range b.Rows {
		if r["value"] == int64(7) {
			return sink.Terminal(errors.New("no 7"))
		}
	}
	if b.Attempt == 1 {
		return errors.New("first attempt")
	}
	return nil
}

// gathered returns the value of the series name with labels, summed.
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

// A Go pipeline with WithObserver reports through the Prometheus metrics.
func TestObserverMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := prom.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	dest := bridge.NewSinkDestination("d", flaky{}, bridge.BatchSize(5), bridge.RetryBackoff(5*time.Millisecond, 10*time.Millisecond))
	p, err := bridge.NewPipeline("prom_t", dest, bridge.WithDataDir(t.TempDir()), bridge.WithObserver(m))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m.WatchPending("prom_t", func(ctx context.Context) (map[string]uint64, map[string]uint64, error) {
		pend, err := p.Pending(ctx)
		return pend.Destinations, pend.Tables, err
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	items := make([]any, 20)
	for i := range items {
		items[i] = i
	}
	info, err := p.Run(ctx, items, bridge.TableName("t"))
	if !errors.Is(err, bridge.ErrDeadLettered) {
		t.Fatalf("Run: %v; want a dead letter", err)
	}
	if len(info.DeadLetters) != 1 {
		t.Fatalf("dead letters %v", info.DeadLetters)
	}
	l := map[string]string{"pipeline": "prom_t", "destination": "d", "table": "t"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"bridge_items_produced_total", map[string]string{"pipeline": "prom_t", "table": "t"}, 20},
		{"bridge_batches_produced_total", map[string]string{"pipeline": "prom_t", "table": "t"}, 4},
		{"bridge_items_delivered_total", l, 15},
		{"bridge_batches_delivered_total", l, 3},
		// Three batches fail their first attempt; the batch of 7 is
		// refused at its first.
		{"bridge_retries_total", l, 3},
		{"bridge_calls_failed_total", l, 4},
		{"bridge_dead_letters_total", l, 1},
		{"bridge_call_duration_seconds", l, 7},
		{"bridge_batch_rows", l, 3},
		{"bridge_produce_to_call_seconds", l, 4},
		{"bridge_pending_batches", map[string]string{"pipeline": "prom_t", "destination": "d"}, 0},
	} {
		if got := gathered(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}
