package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/metrics/prom"
)

// metricsServer serves Prometheus metrics at /metrics while a command runs
// (--metrics-addr).
type metricsServer struct {
	m    *prom.Metrics
	srv  *http.Server
	done chan struct{}
}

// startMetrics listens on addr and serves the metrics of the pipeline the
// command opens; opts install them on it. stop ends the server.
func (o *opsFlags) startMetrics(log *zap.Logger) (opts []bridge.PipelineOption, ms *metricsServer, err error) {
	if o.metricsAddr == "" {
		return nil, nil, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := prom.New(reg)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", o.metricsAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics-addr %s: %w (choose a free port)", o.metricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ms = &metricsServer{m: m, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(ms.done)
		if err := ms.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", zap.Error(err))
		}
	}()
	log.Info("serving Prometheus metrics", zap.String("url", "http://"+ln.Addr().String()+"/metrics"))
	return []bridge.PipelineOption{bridge.WithObserver(m)}, ms, nil
}

// watch reports p's pending batches at each scrape.
func (ms *metricsServer) watch(name string, p *bridge.Pipeline) {
	if ms == nil {
		return
	}
	ms.m.WatchPending(name, func(ctx context.Context) (map[string]uint64, map[string]uint64, error) {
		pend, err := p.Pending(ctx)
		return pend.Destinations, pend.Tables, err
	})
}

// stop ends the server, letting a scrape under way finish (up to 2 s).
func (ms *metricsServer) stop() {
	if ms == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if ms.srv.Shutdown(ctx) != nil {
		ms.srv.Close()
	}
	<-ms.done
}
