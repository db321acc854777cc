package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/consumer"
)

const runAbout = `
Reads JSON lines (one object per line; other values become {"value": v}),
normalizes them into tables, cuts batches of --batch-size rows, carries them
through JetStream and calls the destination with each batch. A batch is
acknowledged only after the destination succeeds; failures are retried with
backoff, and a batch that spends --max-retries attempts stays pending: the next
run delivers it first. Malformed lines are reported with their line numbers and
skipped; the rest loads. After a crash or an interrupt, run the same command on
the same file again: the load carries on where it stopped.

Destinations (--destination, as many times as you like: every destination
gets every load, at its own pace, with its own retries and dead letters):
  null          count and discard (for benchmarks)
  stdout        print each item as a JSON line {"table": ..., "batch": ..., "item": {...}}
  file:DIR      write each batch as a load file DIR/<table>/<batch id>.jsonl|.parquet
  exec:COMMAND  run COMMAND and hand it every batch as JSON lines on stdin: a
                destination in any language (see docs/exec-protocol.md)
  NAME[:ARG]    a destination your own binary registered with bridge.Register
  LABEL=SPEC    any of these under the name LABEL (e.g. crm=exec:./push.py)

A destination is named by its spec (file:/abs/dir, exec:COMMAND, or its
LABEL): the name keys its place in the stream, its progress and its dead
letters. Once it has run on a pipeline it is a member: later loads are kept
for it until it runs again or you remove it (bridge destinations remove NAME).
The options below apply to every destination given.

Exit status: 0 all delivered; 1 something failed (the message says what and
what to do); 2 bad command line.`

func cmdRun(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "bridge run --input FILE|- [options]", runAbout, stderr)
	var c common
	c.register(fs)
	input := fs.String("input", "", "JSON lines `file` to load, or - for stdin (required)")
	table := fs.String("table", "", "`table` name for the items (default: the pipeline name)")
	var destSpecs specList
	fs.Var(&destSpecs, "destination", "`destination`: null, stdout, file:DIR, exec:COMMAND, a registered name, or LABEL=any of these; repeat for fan-out (default null)")
	batchSize := fs.Int("batch-size", 10, "items per call (per load file with file:DIR)")
	format := fs.String("format", string(bridge.TypedJSONL), "loader file `format`: typed-jsonl or parquet")
	naming := fs.String("naming", "direct", "naming `convention`: direct or snake_case")
	nesting := fs.Int("max-nesting", 0, "max table nesting `depth`: 0 keeps nested values as json")
	maxColumns := fs.Int("max-columns", bridge.DefaultMaxColumns, "columns per table: a record that would add one more is skipped as bad input (0: no bound)")
	skip := fs.Bool("skip-dlt-columns", true, "hide the _dlt_* system columns from the destination")
	parallel := fs.Int("max-parallel", 20, "calls at once")
	strategy := fs.String("strategy", "parallel", "`strategy`: parallel, table-sequential or sequential")
	retries := fs.Int("max-retries", 5, "attempts of a failing batch before the run stops and leaves it pending")
	maxCrashes := fs.Int("max-crashes", 0, "exec: dead-letter a batch as poison once the program has crashed on it this many `times` (0: never)")
	retention := fs.String("retention", "", "keep every batch this `long` (e.g. 36h, 7d) so a destination added later with --backfill can load it; default: until every destination has it")
	backfill := fs.Bool("backfill", false, "a destination joining the pipeline starts with everything the stream holds, not just new loads")
	quiet := fs.Bool("quiet", false, "no progress line")
	cpuProfile := fs.String("cpu-profile", "", "write a CPU profile to `file` (for go tool pprof)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bridge run: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *input == "" {
		fmt.Fprintln(stderr, "bridge run: --input is required (a JSON lines file, or - for stdin); see bridge run --help")
		return errUsage
	}
	// Only the flags given on the command line override the destination's
	// own options (a registered destination may set its own batch size).
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var opts []bridge.Option
	if set["format"] {
		opts = append(opts, bridge.LoaderFileFormat(bridge.FileFormat(*format)))
	}
	if set["naming"] {
		switch *naming {
		case "direct":
			opts = append(opts, bridge.NamingConvention(bridge.Direct))
		case "snake_case":
			opts = append(opts, bridge.NamingConvention(bridge.SnakeCase))
		default:
			return fmt.Errorf("--naming %q: want direct or snake_case", *naming)
		}
	}
	if set["max-nesting"] {
		opts = append(opts, bridge.MaxTableNesting(*nesting))
	}
	if set["max-columns"] {
		opts = append(opts, bridge.MaxColumns(*maxColumns))
	}
	if set["skip-dlt-columns"] {
		opts = append(opts, bridge.SkipDltColumnsAndTables(*skip))
	}
	if set["max-parallel"] {
		opts = append(opts, bridge.MaxParallelLoadJobs(*parallel))
	}
	if set["strategy"] {
		strat, err := consumer.ParseStrategy(*strategy)
		if err != nil {
			return err
		}
		opts = append(opts, bridge.LoaderParallelismStrategy(strat))
	}
	if set["max-retries"] {
		opts = append(opts, bridge.MaxRetries(*retries))
	}
	if *backfill {
		opts = append(opts, bridge.Backfill())
	}
	if set["batch-size"] {
		opts = append(opts, bridge.BatchSize(*batchSize), bridge.FileMaxItems(*batchSize))
	}
	con := newConsole(stderr)
	popts, log, err := c.options(con)
	if err != nil {
		return err
	}
	defer log.Sync()
	setLogger(log)
	if *maxCrashes < 0 {
		fmt.Fprintln(stderr, "bridge run: --max-crashes must be 0 or more")
		return errUsage
	}
	setExecMaxCrashes(*maxCrashes)
	if len(destSpecs) == 0 {
		destSpecs = specList{"null"}
	}
	var dests []*bridge.Destination
	for _, spec := range destSpecs {
		dest, err := bridge.LookupDestination(spec, opts...)
		if err != nil {
			return err
		}
		dests = append(dests, dest)
	}

	var in io.Reader = stdin
	var key string
	if *input != "-" {
		f, err := os.Open(*input)
		if err != nil {
			return fmt.Errorf("--input: %w", err)
		}
		defer f.Close()
		in = f
		// The same file again after a crash carries on with the crashed load.
		if st, err := f.Stat(); err == nil {
			abs, _ := filepath.Abs(*input)
			key = fmt.Sprintf("%s:%d:%d", abs, st.Size(), st.ModTime().UnixNano())
		}
	}
	if os.Getenv("GOGC") == "" {
		// bridge makes short-lived rows fast; collecting half as often buys
		// about a tenth more throughput for a bounded heap. GOGC overrides.
		debug.SetGCPercent(200)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	popts = append(popts, bridge.WithDestinations(dests[1:]...))
	if *retention != "" {
		d, err := parseRetention(*retention)
		if err != nil {
			fmt.Fprintf(stderr, "bridge run: --retention %q: %v\n", *retention, err)
			return errUsage
		}
		popts = append(popts, bridge.WithRetention(d))
	}
	p, err := bridge.NewPipeline(c.pipeline, dests[0], popts...)
	if err != nil {
		return err
	}
	defer p.Close()

	ropts := []bridge.RunOption{}
	if key != "" {
		ropts = append(ropts, bridge.ResumeKey(key))
	}
	if *table != "" {
		ropts = append(ropts, bridge.TableName(*table))
	}
	if !*quiet {
		ropts = append(ropts, bridge.OnProgress(con.progress, time.Second))
	}
	info, runErr := p.Run(ctx, in, ropts...)
	con.done()
	if info != nil {
		printSummary(stderr, info)
	}
	return runErr
}

func printSummary(w io.Writer, info *bridge.LoadInfo) {
	secs := info.Elapsed.Seconds()
	fmt.Fprintf(w, "load %s: %d items in %d batches to %d tables in %.2fs (%.0f items/s)\n",
		info.LoadID, info.Items(), info.Batches(), len(info.Delivered), secs, float64(info.Items())/max(secs, 1e-9))
	names := slices.Sorted(maps.Keys(info.Destinations))
	for _, dest := range names {
		di := info.Destinations[dest]
		if len(names) > 1 {
			fmt.Fprintf(w, "  destination %s:\n", dest)
		}
		for _, table := range slices.Sorted(maps.Keys(di.Delivered)) {
			t := di.Delivered[table]
			fmt.Fprintf(w, "  %-30s %10d items %8d batches", table, t.Items, t.Batches)
			if t.DeadLetters > 0 {
				fmt.Fprintf(w, " %6d dead-lettered", t.DeadLetters)
			}
			fmt.Fprintln(w)
		}
	}
	if info.EmptyRows > 0 {
		fmt.Fprintf(w, "%d input items had no value but nulls and made no row\n", info.EmptyRows)
	}
	if n := len(info.DeadLetters); n > 0 {
		fmt.Fprintf(w, "%d batches went to the dead-letter stream: see them with `bridge dlq list`, retry with `bridge dlq replay --destination NAME`\n", n)
	}
	if rss := peakRSSBytes(); rss > 0 {
		fmt.Fprintf(w, "peak memory %.1f MiB\n", float64(rss)/(1<<20))
	}
}

// specList is a flag that may be given several times.
type specList []string

func (l *specList) String() string     { return strings.Join(*l, ", ") }
func (l *specList) Set(v string) error { *l = append(*l, v); return nil }

// parseRetention reads a duration, with d for days (7d, 1d12h).
func parseRetention(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, fmt.Errorf("want a duration like 7d or 36h")
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		if rest, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("want a duration like 7d or 36h")
		}
	}
	if d := days + rest; d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("want a duration above zero, like 7d or 36h")
}
