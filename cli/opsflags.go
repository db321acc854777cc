package cli

import (
	"flag"
	"time"
)

// opsFlags are the flags of the commands that move data (run, produce,
// serve): a pipeline config file, the metrics endpoint and the progress
// line.
type opsFlags struct {
	config      string
	metricsAddr string
	progress    time.Duration
	file        *pipelineFile // loaded from config
}

func (o *opsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.config, "config", "", "pipeline config `file` (TOML): pipeline, NATS, input, normalizer settings and destinations with their settings; flags given here win over it (see README, Pipeline config files)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this `address` (e.g. :9090 or 127.0.0.1:9090) at /metrics while the command runs")
	fs.DurationVar(&o.progress, "progress-interval", 10*time.Second, "when stderr is not a terminal, print a progress line this `often` (on a terminal the bar is redrawn every second)")
}

// load reads --config, when given, and sets the flags the command line did
// not set from it. It returns the flags given on the command line.
func (o *opsFlags) load(fs *flag.FlagSet, c *common) (cli map[string]bool, err error) {
	cli = visited(fs)
	if o.config == "" {
		return cli, nil
	}
	if o.file, err = loadPipelineFile(o.config); err != nil {
		return nil, err
	}
	if err := o.file.apply(fs); err != nil {
		return nil, err
	}
	c.user, c.password, c.token = o.file.natsAuth()
	return cli, nil
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
