package prom_test

import (
	"context"
	"log"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/metrics/prom"
)

// A pipeline's metrics on /metrics: the observer counts what the pipeline
// does; WatchPending reads what waits at each scrape.
func ExampleNew() {
	reg := prometheus.NewRegistry()
	m, err := prom.New(reg)
	if err != nil {
		log.Fatal(err)
	}
	dest := bridge.NewDestination("crm", func(ctx context.Context, items []bridge.Row, t bridge.Table) error {
		return nil // push the items
	})
	p, err := bridge.NewPipeline("events", dest, bridge.WithObserver(m))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	m.WatchPending("events", func(ctx context.Context) (map[string]uint64, map[string]uint64, error) {
		pend, err := p.Pending(ctx)
		return pend.Destinations, pend.Tables, err
	})
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	go http.ListenAndServe(":9090", nil)
	// p.Run(ctx, input) or p.Serve(ctx): bridge_items_delivered_total{pipeline="events",destination="crm",...}
}
