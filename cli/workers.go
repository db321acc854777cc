package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fanoutbridge/bridge"
)

const produceAbout = `
Reads JSON lines, normalizes them and publishes them as one load for every
destination of the pipeline, and exits once the NATS server has stored every
batch. It delivers nothing: workers do (bridge serve, or bridge run). Give
the same --pipeline and --nats-url to the producers and the workers; with
the embedded server (no --nats-url) they must share --data-dir on one
machine.

Destinations receive the loads published after they joined the pipeline
(bridge serve or bridge run with them once, or bridge destinations list to
see them); a destination that joins later with --backfill gets what the
stream still holds. The batches carry as many rows as the destinations'
batch sizes divide (1,000 when no destination has joined yet).

After a crash or an interrupt, produce the same file again: the load carries
on and publishes nothing twice. Once a produce has published the whole file,
producing it again is a new load.

` + streamsAbout + `
Exit status: 0 all stored; 1 something failed; 2 bad command line or config; 130 or 143
interrupted (SIGINT, SIGTERM).

--config FILE reads the pipeline, NATS, [input] and [normalize] of a
pipeline config file (its destinations are not used); flags win over it.
--metrics-addr :9090 serves Prometheus metrics while it runs.

Examples:
  bridge produce --nats-url nats://127.0.0.1:4222 --pipeline events --input events.jsonl --table events
  bridge produce --config pipeline.toml
  tail -f app.jsonl | bridge produce --nats-url nats://nats:4222 --pipeline logs --input -`

func cmdProduce(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("produce", "bridge produce --input FILE|-|URL [options]", produceAbout, stdout, stderr)
	var c common
	c.register(fs)
	var of opsFlags
	of.register(fs.FlagSet)
	var pf producerFlags
	pf.register(fs.FlagSet)
	keepLoads := registerKeepLoads(fs.FlagSet)
	quiet := fs.Bool("quiet", false, "no progress line")
	cpuProfile := registerCPUProfile(fs.FlagSet)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if err := noArgs(fs.FlagSet, "produce", stderr); err != nil {
		return err
	}
	defer func() { err = c.file.explain(err) }()
	if err := pf.requireInput("produce", stderr); err != nil {
		return err
	}
	if err := errors.Join(checkKeepLoads(*keepLoads), of.check()); err != nil {
		return err
	}
	popts, err := pf.options(visited(fs.FlagSet), stdin)
	if err != nil {
		return err
	}
	con := newConsole(stderr)
	copts, log, err := c.options(con)
	if err != nil {
		return err
	}
	defer log.Sync()
	setLogger(log)
	in, key, closeIn, err := pf.open(stdin)
	if err != nil {
		return err
	}
	defer closeIn()
	in = con.countInput(in, pf.size())
	con.setInterval(of.progress)
	tuneGC()
	stopProfile, err := startProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	mopts, ms, err := of.startMetrics(log)
	if err != nil {
		return err
	}
	defer ms.stop()
	p, err := bridge.NewProducer(c.pipeline, append(append(copts, mopts...), bridge.WithProducerOptions(popts...), bridge.WithLoadHistory(*keepLoads))...)
	if err != nil {
		return err
	}
	defer p.Close()
	ms.watch(c.pipeline, p)
	ropts := pf.runOptions(key, c.pipeline)
	if !*quiet {
		ropts = append(ropts, bridge.OnProgress(con.produceProgress, con.tick()))
	}
	info, err := p.Produce(ctx, in, ropts...)
	con.done()
	if info != nil {
		var items, batches int
		for _, t := range info.Produced {
			items, batches = items+t.Items, batches+t.Batches
		}
		if info.AlreadyStored {
			fmt.Fprintf(stderr, "load %s: an earlier produce of this input stored it whole; nothing published again\n", info.LoadID)
		} else {
			fmt.Fprintf(stderr, "load %s: published %s in %s to %s in %.2fs\n", info.LoadID,
				pluralN(items, "item", "items"), pluralN(batches, "batch", "batches"),
				pluralN(len(info.Produced), "table", "tables"), info.Elapsed.Seconds())
		}
		if len(info.Unserved) == 0 && items > 0 {
			if members, merr := p.Destinations(ctx); merr == nil && len(members) > 0 {
				names := make([]string, len(members))
				for i, m := range members {
					names[i] = quoteName(m.Name)
				}
				fmt.Fprintf(stderr, "its destinations (%s) have delivered it already: no batch of it is pending\n", strings.Join(names, ", "))
			} else if merr == nil {
				fmt.Fprintf(stderr, "no destination holds it: a destination receives the loads published after it joined; start one with\n  %s\n",
					c.command("serve", "--destination", "stdout"))
			}
		}
		for _, dest := range slices.Sorted(maps.Keys(info.Unserved)) {
			fmt.Fprintf(stderr, "  destination %s holds %s for its workers (if none is running, start one: %s)\n", quoteName(dest),
				pluralN(info.Unserved[dest], "batch", "batches"), c.command("serve", "--destination", dest))
		}
	}
	return err
}

const serveAbout = `
Delivers the pipeline's batches to the destinations given as they arrive,
from every load and table, until it is stopped (SIGINT or SIGTERM). Run as
many workers of one destination as you like, on as many machines as reach
the NATS server: they share its batches, and a worker that dies hands its
batches to the others after the ack wait (10 s). A destination joins
the pipeline when a worker (or a run) first serves it; it then receives
every load published from then on (or, with --backfill, everything the
stream still holds).

On SIGINT or SIGTERM the worker stops taking batches, lets the calls in
flight finish (up to --shutdown-timeout), hands the rest back and exits 130
or 143; a second signal stops it at once. Nothing is lost either way.

A batch that fails --max-retries times stops the worker (exit 1) and stays
pending: fix the destination, or set the batch aside with bridge dlq
dead-letter (the message says how), and start the worker again.

With --strategy table-sequential, order within a table holds across all
the workers of the destination: they share a lease in NATS, so one serves it
(all its tables) and the others stand by; when it stops or dies, one of them
takes over (within a second, or 15 s after a kill -9). More workers give
failover, not throughput, for such a destination (see README, Scaling out).

Exit status: 0 stopped by --max-idle; 1 something failed; 2 bad command line or
configuration; 130 or 143 stopped by SIGINT or SIGTERM.

--config FILE serves the destinations of a pipeline config file with their
settings (--destination NAME picks one of them); flags win over it.
--metrics-addr :9090 serves Prometheus metrics at /metrics: what this worker
delivered, its retries, dead letters and call latency, and the batches
pending per destination and table.

Examples:
  bridge serve --nats-url nats://127.0.0.1:4222 --pipeline events --destination stdout
  bridge serve --config pipeline.toml --metrics-addr :9090
  bridge serve --nats-url nats://nats:4222 --pipeline events --destination crm=exec:./push.py --max-parallel 8
  bridge serve --pipeline events --destination null --max-idle 5s     # deliver what is there, then exit`

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("serve", "bridge serve --destination SPEC [options]", serveAbout, stdout, stderr)
	var c common
	c.register(fs)
	var of opsFlags
	of.register(fs.FlagSet)
	var df destFlags
	df.register(fs.FlagSet, "attempts of a failing batch before the worker stops and leaves it pending")
	shutdown := registerShutdown(fs.FlagSet)
	maxIdle := fs.Duration("max-idle", 0, "exit (status 0) once nothing was delivered for this `long` (default: serve until stopped)")
	quiet := fs.Bool("quiet", false, "no progress line")
	cpuProfile := registerCPUProfile(fs.FlagSet)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if err := noArgs(fs.FlagSet, "serve", stderr); err != nil {
		return err
	}
	defer func() { err = c.file.explain(err) }()
	if err := errors.Join(checkShutdown(*shutdown), of.check()); err != nil {
		return err
	}
	if *maxIdle < 0 {
		return usagef("--max-idle %v: want 0 (serve until stopped) or more", *maxIdle)
	}
	con := newConsole(stderr)
	con.setInterval(of.progress)
	copts, log, err := c.options(con)
	if err != nil {
		return err
	}
	defer log.Sync()
	setLogger(log)
	dests, err := df.destinations(visited(fs.FlagSet), c.cli, nil, c.file)
	if err != nil {
		return err
	}
	tuneGC()
	stopProfile, err := startProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	mopts, ms, err := of.startMetrics(log)
	if err != nil {
		return err
	}
	defer ms.stop()
	copts = append(copts, bridge.WithDestinations(dests[1:]...), bridge.WithShutdownTimeout(*shutdown))
	p, err := bridge.NewPipeline(c.pipeline, dests[0], append(copts, mopts...)...)
	if err != nil {
		return err
	}
	defer p.Close()
	ms.watch(c.pipeline, p)
	serveCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ropts []bridge.RunOption
	idle := newIdleWatch(*maxIdle, cancel)
	if !*quiet || *maxIdle > 0 {
		ropts = append(ropts, bridge.OnProgress(func(pr bridge.Progress) {
			idle.seen(pr.Delivered)
			if !*quiet {
				con.serveProgress(pr)
			}
		}, min(time.Second/4, con.tick())))
	}
	info, err := p.Serve(serveCtx, ropts...)
	con.done()
	if info != nil {
		fmt.Fprintln(stderr, serveSummary(info))
	}
	return err
}

// serveSummary is serve's last line: what each destination got, separated
// by "; ".
func serveSummary(info *bridge.ServeInfo) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(info.Destinations)) {
		var items, calls, dead int
		for _, t := range info.Destinations[name].Delivered {
			items, calls, dead = items+t.Items, calls+t.Batches, dead+t.DeadLetters
		}
		part := fmt.Sprintf("destination %s delivered %s in %s", quoteName(name), pluralN(items, "item", "items"), pluralN(calls, "batch", "batches"))
		if dead > 0 {
			part += fmt.Sprintf(" (%d dead-lettered)", dead)
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return fmt.Sprintf("served %.1fs", info.Elapsed.Seconds())
	}
	return fmt.Sprintf("served %.1fs: %s", info.Elapsed.Seconds(), strings.Join(parts, "; "))
}

// idleWatch cancels once the delivered count has not moved for max.
type idleWatch struct {
	max    time.Duration
	cancel func()
	last   int64
	since  time.Time
}

func newIdleWatch(max time.Duration, cancel func()) *idleWatch {
	return &idleWatch{max: max, cancel: cancel, last: -1, since: time.Now()}
}

func (w *idleWatch) seen(delivered int64) {
	if w.max <= 0 {
		return
	}
	if delivered != w.last {
		w.last, w.since = delivered, time.Now()
		return
	}
	if time.Since(w.since) >= w.max {
		w.cancel()
	}
}
