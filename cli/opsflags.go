package cli

import (
	"flag"
	"time"
)

// opsFlags are the flags of the commands that move data (run, produce,
// serve): the metrics endpoint and the progress line.
type opsFlags struct {
	metricsAddr string
	progress    time.Duration
}

func (o *opsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this `address` (e.g. :9090 or 127.0.0.1:9090) at /metrics while the command runs")
	fs.DurationVar(&o.progress, "progress-interval", 10*time.Second, "when stderr is not a terminal, print a progress line this `often` (on a terminal the bar is redrawn every second)")
}

// check checks the values of the flags.
func (o *opsFlags) check() error {
	if o.metricsAddr != "" {
		if err := checkMetricsAddr(o.metricsAddr); err != nil {
			return usagef("--metrics-addr %v", err)
		}
	}
	if o.progress <= 0 {
		return usagef("--progress-interval %v: want a duration above 0, e.g. 10s", o.progress)
	}
	return nil
}
