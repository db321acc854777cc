package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/consumer"
	"github.com/fanoutbridge/bridge/queue"
)

const runAbout = `
Reads JSON lines (one object per line; other values become {"value": v}),
normalizes them into tables, cuts batches of --batch-size rows, carries them
through JetStream and calls the destination with each batch. A batch is
acknowledged only after the destination succeeds; failures are retried with
backoff, and a batch that spends --max-retries attempts stays pending: the next
run delivers it first. Malformed lines are reported with their line numbers and
skipped; the rest loads.

Destinations:
  null       count and discard (for benchmarks)
  stdout     print each item as a JSON line {"table": ..., "batch": ..., "item": {...}}
  file:DIR   write each batch as a load file DIR/<table>/<batch id>.jsonl|.parquet

Exit status: 0 all delivered; 1 something failed (the message says what and
what to do); 2 bad command line.`

func cmdRun(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "bridge run --input FILE|- [options]", runAbout, stderr)
	var c common
	c.register(fs)
	input := fs.String("input", "", "JSON lines `file` to load, or - for stdin (required)")
	table := fs.String("table", "", "`table` name for the items (default: the pipeline name)")
	destSpec := fs.String("destination", "null", "`destination`: null, stdout or file:DIR")
	batchSize := fs.Int("batch-size", 10, "items per call (per load file with file:DIR)")
	format := fs.String("format", string(bridge.TypedJSONL), "loader file `format`: typed-jsonl or parquet")
	naming := fs.String("naming", "direct", "naming `convention`: direct or snake_case")
	nesting := fs.Int("max-nesting", 0, "max table nesting `depth`: 0 keeps nested values as json")
	skip := fs.Bool("skip-dlt-columns", true, "hide the _dlt_* system columns from the destination")
	parallel := fs.Int("max-parallel", 20, "calls at once")
	strategy := fs.String("strategy", "parallel", "`strategy`: parallel, table-sequential or sequential")
	retries := fs.Int("max-retries", 5, "attempts of a failing batch before the run stops and leaves it pending")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bridge run: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *input == "" {
		fmt.Fprintln(stderr, "bridge run: --input is required (a JSON lines file, or - for stdin); see bridge run --help")
		return errUsage
	}
	strat, err := consumer.ParseStrategy(*strategy)
	if err != nil {
		return err
	}
	var conv bridge.Naming
	switch *naming {
	case "direct":
		conv = bridge.Direct
	case "snake_case":
		conv = bridge.SnakeCase
	default:
		return fmt.Errorf("--naming %q: want direct or snake_case", *naming)
	}
	opts := []bridge.Option{
		bridge.LoaderFileFormat(bridge.FileFormat(*format)), bridge.NamingConvention(conv),
		bridge.MaxTableNesting(*nesting), bridge.SkipDltColumnsAndTables(*skip),
		bridge.MaxParallelLoadJobs(*parallel), bridge.LoaderParallelismStrategy(strat), bridge.MaxRetries(*retries),
	}
	sink, err := newSink(*destSpec, *batchSize, stdout, opts)
	if err != nil {
		return err
	}
	popts, log, err := c.options(stderr)
	if err != nil {
		return err
	}
	defer log.Sync()

	var in io.Reader = stdin
	if *input != "-" {
		f, err := os.Open(*input)
		if err != nil {
			return fmt.Errorf("--input: %w", err)
		}
		defer f.Close()
		in = f
	}
	p, err := bridge.NewPipeline(c.pipeline, sink.dest, popts...)
	if err != nil {
		return err
	}
	defer p.Close()

	ropts := []bridge.RunOption{}
	if *table != "" {
		ropts = append(ropts, bridge.TableName(*table))
	}
	if !*quiet {
		ropts = append(ropts, bridge.OnProgress(func(pr bridge.Progress) {
			rate := float64(pr.Delivered) / max(pr.Elapsed.Seconds(), 1e-9)
			fmt.Fprintf(stderr, "\r%s read %d, queued %d, delivered %d items (%d batches), %.0f items/s   ",
				pr.Elapsed.Truncate(time.Second), pr.Read, pr.Produced, pr.Delivered, pr.Batches, rate)
		}, time.Second))
	}
	info, runErr := p.Run(ctx, in, ropts...)
	if !*quiet {
		fmt.Fprintln(stderr)
	}
	if info != nil {
		printSummary(stderr, info)
	}
	return runErr
}

func printSummary(w io.Writer, info *bridge.LoadInfo) {
	secs := info.Elapsed.Seconds()
	fmt.Fprintf(w, "load %s: %d items in %d batches to %d tables in %.2fs (%.0f items/s)\n",
		info.LoadID, info.Items(), info.Batches(), len(info.Delivered), secs, float64(info.Items())/max(secs, 1e-9))
	for name, t := range info.Delivered {
		fmt.Fprintf(w, "  %-30s %10d items %8d batches", name, t.Items, t.Batches)
		if t.DeadLetters > 0 {
			fmt.Fprintf(w, " %6d dead-lettered", t.DeadLetters)
		}
		fmt.Fprintln(w)
	}
	if n := len(info.DeadLetters); n > 0 {
		fmt.Fprintf(w, "%d batches went to the dead-letter stream: see them with `bridge dlq list`, retry with `bridge dlq replay`\n", n)
	}
	if rss := peakRSSBytes(); rss > 0 {
		fmt.Fprintf(w, "peak memory %.1f MiB\n", float64(rss)/(1<<20))
	}
}

// sink is a built-in destination of the command line.
type sink struct {
	dest *bridge.Destination
}

func newSink(spec string, batchSize int, stdout io.Writer, opts []bridge.Option) (*sink, error) {
	switch {
	case spec == "null":
		opts = append(opts, bridge.BatchSize(batchSize))
		return &sink{dest: bridge.NewDestination("null", func(context.Context, []bridge.Row, bridge.Table) error {
			return nil
		}, opts...)}, nil
	case spec == "stdout":
		var mu sync.Mutex
		opts = append(opts, bridge.BatchSize(batchSize))
		return &sink{dest: bridge.NewDestination("stdout", func(ctx context.Context, items []bridge.Row, t bridge.Table) error {
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
			mu.Lock()
			defer mu.Unlock()
			_, err := stdout.Write(buf)
			return err
		}, opts...)}, nil
	case strings.HasPrefix(spec, "file:"):
		dir := strings.TrimPrefix(spec, "file:")
		if dir == "" {
			return nil, errors.New("--destination file:DIR needs a directory")
		}
		opts = append(opts, bridge.FileMaxItems(batchSize))
		return &sink{dest: bridge.NewFileDestination("file", func(ctx context.Context, path string, t bridge.Table) error {
			return copyLoadFile(path, filepath.Join(dir, queue.Token(t.Name)), bridge.BatchID(ctx)+filepath.Ext(path))
		}, opts...)}, nil
	}
	return nil, fmt.Errorf("--destination %q: want null, stdout or file:DIR", spec)
}

// copyLoadFile copies a load file into dir atomically (temp file, rename), so
// a reader of dir never sees half a batch and a redelivery overwrites.
func copyLoadFile(src, dir, name string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, name))
}
