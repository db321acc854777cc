package cli

import (
	"context"
	"errors"
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

// streamsAbout is the part of run's and produce's help about live input
// and sources.
const streamsAbout = `Streams and sources: --input - on a pipe (tail -f app.log | bridge ...) is
read as lines arrive, and each table's batch is cut at --batch-size rows,
--batch-bytes, or once its oldest row is --flush-interval old (1s for a pipe).
--input also takes a source URL, whose position is committed only once what
was read is stored: kafka://HOST:9092/TOPIC?group=G, nats://HOST:4222/SUBJECT
(?stream=S&consumer=C for JetStream), http://:8080/ingest (POST JSON lines
to /ingest/TABLE; 202 once stored). A source runs until stopped (Ctrl-C).
Gzip files are read as they are.
`

const runAbout = `
Reads JSON lines (one object per line; other values become {"value": v}),
normalizes them into tables, cuts batches of --batch-size rows, carries them
through JetStream and calls each destination with each batch. A batch is
acknowledged only after the destination succeeds; failures are retried with
backoff, and a batch that spends --max-retries attempts stays pending: the next
run delivers it first. Malformed lines are reported with their line numbers and
skipped; the rest loads. After a crash or an interrupt, run the same command on
the same file again: the load carries on where it stopped.

` + streamsAbout + `
Delivering only what is pending: give no input (--input /dev/null, or
--input - with an empty stdin). The run publishes nothing, delivers what the
pipeline holds for the destinations given (batches left by failed runs,
replayed dead letters, loads published while they did not run), and is
marked pending-only in the load history (bridge status).

Destinations (--destination, as many times as you like: every destination
gets every load, at its own pace, with its own retries and dead letters):
  null          count and discard (for benchmarks)
  stdout        print each item as a JSON line {"table": ..., "batch": ..., "item": {...}}
  file:DIR      write each batch as a file DIR/<table>/<batch id>.jsonl|.parquet, atomically;
                settings after '?': file:DIR?format=parquet&gzip=true&name={date}/{table}/{batch_id}.{ext}
  nats[:SUBJECT] publish every row to NATS (settings: [destination.nats] in .bridge/config.toml)
  exec:COMMAND  run COMMAND and hand it every batch as JSON lines on stdin: a
                destination in any language (see docs/exec-protocol.md); 4
                copies of it run at once unless --max-parallel says otherwise
  http[:URL]    send each batch as one request to a webhook, with a rate limit
                shared by the workers ([destination.http] in .bridge/, see
                configs/http.toml)
  postgres      load into PostgreSQL with COPY, each batch exactly once
                ([destination.postgres] in .bridge/, see configs/postgres.toml)
  kafka[:TOPIC] each row as a JSON message to Kafka, topic TOPIC (default {table}),
                at least once ([destination.kafka] in .bridge/, see configs/kafka.toml)
  NAME[:ARG]    a destination your own binary registered with bridge.Register
  LABEL=SPEC    any of these under the name LABEL (e.g. crm=exec:./push.py)

A destination is named by its spec (file:/abs/dir, exec:COMMAND, or its
LABEL): the name keys its place in the stream, its progress and its dead
letters. Once it has run on a pipeline it is a member: later loads are kept
for it until it runs again or you remove it (bridge destinations remove NAME).
The options below apply to every destination given.

A pipeline config file (--config FILE, TOML) gives the same settings in one
place, and each destination its own batch size, strategy, retries and sink
settings; a flag given here wins over the file (see configs/file-load.toml
and the README, Pipeline config files). A bad file exits 2 with its name,
the line and the key.

While it runs, --metrics-addr :9090 serves Prometheus metrics at /metrics
(items and batches produced and delivered, retries, dead letters, call
latency, batch rows, pending batches, produce-to-call latency). Progress: on
a terminal a bar with items, items/s and, for a file, the percentage and
ETA; otherwise a line every --progress-interval (10s).

A JSON line longer than --max-record-size (16MiB) is skipped as bad input
with its line number; --table-field FIELD routes each item to the table its
top-level FIELD names.

Exit status: 0 all delivered; 1 something failed (the message says what and
what to do); 2 bad command line or configuration (the message names the
flag); 130 or 143 interrupted (SIGINT, SIGTERM): run it again to carry on.

Examples:
  bridge run --input events.jsonl --table events --destination stdout
  bridge run --config configs/file-load.toml
  bridge run --config pipeline.toml --batch-size 100 --destination lake   # one destination of the file, batch size 100
  bridge run --input events.jsonl --destination null --metrics-addr :9090 --progress-interval 30s
  bridge run --input events.jsonl --destination stdout --destination 'file:/tmp/out dir' --batch-size 1000
  bridge run --input /dev/null --destination stdout      # deliver only what is pending
  bridge run --input events.jsonl --destination stdout --skip-dlt-columns false --log-format json`

func cmdRun(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("run", "bridge run --input FILE|-|URL [options]", runAbout, stdout, stderr)
	var c common
	c.register(fs)
	var of opsFlags
	of.register(fs.FlagSet)
	var pf producerFlags
	pf.register(fs.FlagSet)
	var df destFlags
	df.register(fs.FlagSet, "attempts of a failing batch before the run stops and leaves it pending")
	retention := fs.String("retention", "", "keep every batch this `long` (e.g. 36h, 7d) so a destination added later with --backfill can load it; default: until every destination has it")
	shutdown := registerShutdown(fs.FlagSet)
	keepLoads := registerKeepLoads(fs.FlagSet)
	quiet := fs.Bool("quiet", false, "no progress line")
	cpuProfile := registerCPUProfile(fs.FlagSet)
	rowCache := fs.Int("row-cache", bridge.DefaultRowCache, "`rows` of just-published batches kept for this process's workers; 0 decodes every batch from the stream, as a worker in another process does (for measurements)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if err := noArgs(fs.FlagSet, "run", stderr); err != nil {
		return err
	}
	defer func() { err = c.file.explain(err) }()
	if *rowCache < 0 {
		return usagef("--row-cache %d: want 0 or more", *rowCache)
	}
	if err := pf.requireInput("run", stderr); err != nil {
		return err
	}
	if err := errors.Join(checkKeepLoads(*keepLoads), checkShutdown(*shutdown), of.check()); err != nil {
		return err
	}
	set := visited(fs.FlagSet)
	popts, err := pf.options(set, stdin)
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
	// On run, the producer options go to the destinations too (they are
	// taken from the first one).
	dests, err := df.destinations(set, c.cli, popts, c.file)
	if err != nil {
		return err
	}
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
	copts = append(copts, bridge.WithDestinations(dests[1:]...), bridge.WithShutdownTimeout(*shutdown), bridge.WithLoadHistory(*keepLoads),
		bridge.WithRowCache(*rowCache))
	if *retention != "" {
		d, err := parseRetention(*retention)
		if err != nil {
			return usagef("--retention %q: %v", *retention, err)
		}
		copts = append(copts, bridge.WithRetention(d))
	}
	mopts, ms, err := of.startMetrics(log)
	if err != nil {
		return err
	}
	defer ms.stop()
	p, err := bridge.NewPipeline(c.pipeline, dests[0], append(copts, mopts...)...)
	if err != nil {
		return err
	}
	defer p.Close()
	ms.watch(c.pipeline, p)

	ropts := pf.runOptions(key, c.pipeline)
	if !*quiet {
		ropts = append(ropts, bridge.OnProgress(con.progress, con.tick()))
	}
	info, runErr := p.Run(ctx, in, ropts...)
	con.done()
	if info != nil {
		printSummary(stderr, info, c)
	}
	return runErr
}

// producerFlags are the flags of what a producer reads and how it
// normalizes it (run, produce).
type producerFlags struct {
	input, table, format, naming *string
	nesting, maxColumns          *int
	skip                         *bool
	maxRecord, tableField        *string
	flush                        *time.Duration
	batchBytes                   *string
}

func (pf *producerFlags) register(fs *flag.FlagSet) {
	pf.input = fs.String("input", "", "JSON lines `file` to load (gzip too), - for stdin, or a source URL such as kafka://HOST:PORT/TOPIC?group=G (required)")
	pf.table = fs.String("table", "", "`table` name for the items (default: the pipeline name)")
	pf.format = fs.String("format", string(bridge.TypedJSONL), "loader file `format`: typed-jsonl or parquet")
	pf.naming = fs.String("naming", "direct", "naming `convention`: direct or snake_case")
	pf.nesting = fs.Int("max-nesting", 0, "max table nesting `depth`: 0 keeps nested values as json")
	pf.maxColumns = fs.Int("max-columns", bridge.DefaultMaxColumns, "columns per table: a record that would add one more is skipped as bad input (0: no bound)")
	pf.skip = fs.Bool("skip-dlt-columns", true, "hide the _dlt_* system columns from the destination")
	pf.maxRecord = fs.String("max-record-size", "16MiB", "longest JSON line `size` read (bytes, or e.g. 64MiB); a longer line is skipped as bad input with its line number")
	pf.tableField = fs.String("table-field", "", "route each item to the table its top-level `field` names (a string); items without it go to --table")
	pf.flush = fs.Duration("flush-interval", 0, "cut a table's batch once its oldest row is this `old`, full or not (default 0 for files, 1s when --input - is a pipe or terminal: a stream)")
	pf.batchBytes = fs.String("batch-bytes", "", "cut a table's batch once its rows reach about this `size` (bytes, or e.g. 1MiB; default 0: by rows only)")
}

// streamFlush is the flush interval of stdin when it is a stream.
const streamFlush = time.Second

// isStream reports whether r is a stream written as it is read: a pipe, a
// terminal or a socket (not a regular file, not an in-memory reader).
func isStream(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && !st.Mode().IsRegular()
}

func (pf *producerFlags) requireInput(cmd string, stderr io.Writer) error {
	if *pf.input == "" {
		fmt.Fprintf(stderr, "bridge %s: --input is required (a JSON lines file, or - for stdin); see bridge %s --help\n", cmd, cmd)
		return errUsage
	}
	return nil
}

// options returns the producer options given on the command line (only
// those: a registered destination may set its own). stdin read as a stream
// gets a flush interval unless one is given.
func (pf *producerFlags) options(set map[string]bool, stdin io.Reader) ([]bridge.Option, error) {
	var opts []bridge.Option
	switch {
	case set["flush-interval"]:
		if *pf.flush < 0 {
			return nil, usagef("--flush-interval %v: want 0 or more", *pf.flush)
		}
		opts = append(opts, bridge.FlushInterval(*pf.flush))
	case *pf.input == "-" && isStream(stdin):
		opts = append(opts, bridge.FlushInterval(streamFlush))
	}
	if set["batch-bytes"] {
		n, err := parseSizeMin(*pf.batchBytes, 0)
		if err != nil {
			return nil, usagef("--batch-bytes %v", err)
		}
		opts = append(opts, bridge.BatchBytes(n))
	}
	if set["format"] {
		switch f := bridge.FileFormat(*pf.format); f {
		case bridge.TypedJSONL, bridge.Parquet:
			opts = append(opts, bridge.LoaderFileFormat(f))
		default:
			return nil, usagef("--format %q: want typed-jsonl or parquet", *pf.format)
		}
	}
	if set["naming"] {
		switch *pf.naming {
		case "direct":
			opts = append(opts, bridge.NamingConvention(bridge.Direct))
		case "snake_case":
			opts = append(opts, bridge.NamingConvention(bridge.SnakeCase))
		default:
			return nil, usagef("--naming %q: want direct or snake_case", *pf.naming)
		}
	}
	if set["max-nesting"] {
		if *pf.nesting < 0 {
			return nil, usagef("--max-nesting %d: want 0 or more", *pf.nesting)
		}
		opts = append(opts, bridge.MaxTableNesting(*pf.nesting))
	}
	if set["max-columns"] {
		if *pf.maxColumns < 0 {
			return nil, usagef("--max-columns %d: want 0 (no bound) or more", *pf.maxColumns)
		}
		opts = append(opts, bridge.MaxColumns(*pf.maxColumns))
	}
	if set["skip-dlt-columns"] {
		opts = append(opts, bridge.SkipDltColumnsAndTables(*pf.skip))
	}
	if set["max-record-size"] {
		n, err := parseSize(*pf.maxRecord)
		if err != nil {
			return nil, usagef("--max-record-size %v", err)
		}
		opts = append(opts, bridge.MaxRecordSize(n))
	}
	return opts, nil
}

// open opens the input. key is its resume key: the same file again after a
// crash carries on with the crashed load. Only a regular file can be read
// again (not /dev/null, a pipe or a device), so only it has one.
func (pf *producerFlags) open(stdin io.Reader) (in any, key string, closeIn func(), err error) {
	if *pf.input == "-" {
		return stdin, "", func() {}, nil
	}
	if bridge.IsSourceURL(*pf.input) {
		// A stream: its position is committed at the source, not resumed.
		src, err := bridge.LookupSource(*pf.input)
		if err != nil {
			return nil, "", nil, usagef("--input: %s", strings.TrimPrefix(message(err), "invalid option: "))
		}
		return src, "", func() {}, nil
	}
	// A file that is missing, unreadable or a directory is a usage error.
	bad := func(err error) error {
		if pe := (*os.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err // its text repeats the path
		}
		return usagef("--input %q: %v; give a readable JSON lines file, - for stdin, or a source URL", *pf.input, err)
	}
	f, err := os.Open(*pf.input)
	if err != nil {
		return nil, "", nil, bad(err)
	}
	st, err := f.Stat()
	if err == nil && st.IsDir() {
		err = errors.New("is a directory")
	}
	if err != nil {
		f.Close()
		return nil, "", nil, bad(err)
	}
	if st.Mode().IsRegular() {
		abs, _ := filepath.Abs(*pf.input)
		key = fmt.Sprintf("%s:%d:%d", abs, st.Size(), st.ModTime().UnixNano())
	}
	return f, key, func() { f.Close() }, nil
}

// size is the input's size in bytes when it is a regular file, else 0.
func (pf *producerFlags) size() int64 {
	if *pf.input == "-" {
		return 0
	}
	st, err := os.Stat(*pf.input)
	if err != nil || !st.Mode().IsRegular() {
		return 0
	}
	return st.Size()
}

func (pf *producerFlags) runOptions(key, pipeline string) []bridge.RunOption {
	var ropts []bridge.RunOption
	if key != "" {
		ropts = append(ropts, bridge.ResumeKey(key))
	}
	if *pf.table != "" {
		ropts = append(ropts, bridge.TableName(*pf.table))
	}
	if field := *pf.tableField; field != "" {
		fallback := *pf.table
		if fallback == "" {
			fallback = pipeline
		}
		ropts = append(ropts, bridge.TableNameFunc(func(item any) string {
			if m, ok := item.(map[string]any); ok {
				if s, ok := m[field].(string); ok && s != "" {
					return s
				}
			}
			return fallback
		}))
	}
	return ropts
}

// destFlags are the flags of the destinations a process serves (run, serve).
type destFlags struct {
	specs                                  specList
	batchSize, parallel, retries, maxCrash *int
	strategy                               *string
	backfill                               *bool
}

func (df *destFlags) register(fs *flag.FlagSet, retriesHelp string) {
	fs.Var(&df.specs, "destination", "`destination`: null, stdout, file:DIR, exec:COMMAND, a registered name, or LABEL=any of these; repeat for fan-out (default null)")
	df.batchSize = fs.Int("batch-size", 0, "`rows` per call (default 10); for file:DIR, rows per load file (default 10,000)")
	df.parallel = fs.Int("max-parallel", 0, "calls at once (default 20; for exec:COMMAND, copies of the program, default 4)")
	df.strategy = fs.String("strategy", "parallel", "`strategy`: parallel, table-sequential or sequential")
	df.retries = fs.Int("max-retries", 5, retriesHelp)
	df.maxCrash = fs.Int("max-crashes", 0, "exec: dead-letter a batch as poison once the program has crashed on it this many `times` (0: never)")
	df.backfill = fs.Bool("backfill", false, "a destination joining the pipeline starts with everything the stream holds, not just new loads")
}

// destFlagNames are the flags of destFlags that make options.
var destFlagNames = []string{"batch-size", "max-parallel", "strategy", "max-retries", "max-crashes", "backfill"}

// options returns the options of the destination flags in set.
func (df *destFlags) options(set map[string]bool) ([]bridge.Option, error) {
	var opts []bridge.Option
	if set["max-parallel"] {
		if *df.parallel < 1 {
			return nil, usagef("--max-parallel %d: want 1 or more", *df.parallel)
		}
		opts = append(opts, bridge.MaxParallelLoadJobs(*df.parallel))
	}
	if set["strategy"] {
		strat, err := consumer.ParseStrategy(*df.strategy)
		if err != nil {
			return nil, usagef("--strategy %q: want parallel, table-sequential or sequential", *df.strategy)
		}
		opts = append(opts, bridge.LoaderParallelismStrategy(strat))
	}
	if set["max-retries"] {
		if *df.retries < 1 {
			return nil, usagef("--max-retries %d: want 1 or more", *df.retries)
		}
		opts = append(opts, bridge.MaxRetries(*df.retries))
	}
	if set["backfill"] && *df.backfill {
		opts = append(opts, bridge.Backfill())
	}
	if set["batch-size"] {
		if *df.batchSize < 1 {
			return nil, usagef("--batch-size %d: want 1 or more", *df.batchSize)
		}
		opts = append(opts, bridge.BatchSize(*df.batchSize), bridge.FileMaxItems(*df.batchSize))
	}
	return opts, nil
}

// destinations makes the destinations given (null when none), with extra
// options, then those of the flags: set are all the flags set, cli those
// given on the command line (the others came from the config file pf, whose
// destinations are used when no --destination is given; a --destination
// that names one of them takes it with its settings).
func (df *destFlags) destinations(set, cli map[string]bool, extra []bridge.Option, pf *pipelineFile) ([]*bridge.Destination, error) {
	fileSet, cliSet := map[string]bool{}, map[string]bool{}
	for _, name := range destFlagNames {
		fileSet[name] = set[name] && !cli[name]
		cliSet[name] = cli[name]
	}
	defaults, err := df.options(fileSet)
	if err != nil {
		return nil, err
	}
	overrides, err := df.options(cliSet)
	if err != nil {
		return nil, err
	}
	if *df.maxCrash < 0 {
		return nil, usagef("--max-crashes %d: want 0 or more", *df.maxCrash)
	}
	type want struct {
		spec string
		fd   *fileDest
	}
	var wants []want
	var fileDests []fileDest
	if pf != nil {
		fileDests = pf.dests
	}
	for _, spec := range df.specs {
		w := want{spec: spec}
		for i := range fileDests {
			if fileDests[i].name == spec || fileDests[i].name == "" && fileDests[i].spec == spec {
				w.fd = &fileDests[i]
			}
		}
		wants = append(wants, w)
	}
	if len(wants) == 0 {
		for i := range fileDests {
			wants = append(wants, want{fd: &fileDests[i]})
		}
	}
	if len(wants) == 0 {
		wants = []want{{spec: "null"}}
	}
	var dests []*bridge.Destination
	for _, w := range wants {
		opts := append(slices.Clone(extra), defaults...)
		crashes := *df.maxCrash
		spec := w.spec
		if w.fd != nil {
			fopts, fcrashes, err := pf.destOptions(*w.fd)
			if err != nil {
				return nil, err
			}
			opts = append(opts, fopts...)
			if fcrashes >= 0 && !cli["max-crashes"] {
				crashes = fcrashes
			}
			spec = w.fd.spec
			if w.fd.name != "" {
				spec = w.fd.name + "=" + spec
			}
		}
		opts = append(opts, overrides...)
		setExecMaxCrashes(crashes)
		dest, err := bridge.LookupDestination(spec, opts...)
		if err != nil {
			// The spec or its settings: a usage or configuration error.
			msg := strings.TrimPrefix(message(err), fmt.Sprintf("destination %q: ", spec))
			msg = strings.TrimPrefix(msg, "invalid option: ")
			if w.fd != nil {
				if errors.Is(err, bridge.ErrMissingConfig) {
					msg += " (or in this table of the file)"
				}
				return nil, pf.errf(w.fd.line, w.fd.key, "%s", msg)
			}
			return nil, usagef("--destination %q: %s", spec, msg)
		}
		dests = append(dests, dest)
	}
	return dests, nil
}

// checkKeepLoads and checkShutdown check the values of --keep-loads and
// --shutdown-timeout.
func checkKeepLoads(n int) error {
	if n < 1 {
		return usagef("--keep-loads %d: want 1 or more", n)
	}
	return nil
}

func checkShutdown(d time.Duration) error {
	if d < 0 {
		return usagef("--shutdown-timeout %v: want 0 or more", d)
	}
	return nil
}

func registerKeepLoads(fs *flag.FlagSet) *int {
	return fs.Int("keep-loads", bridge.DefaultLoadHistory, "`loads` the pipeline's history keeps (older finished ones are deleted)")
}

func registerShutdown(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("shutdown-timeout", bridge.DefaultShutdownTimeout,
		"on SIGINT/SIGTERM, how `long` calls in flight get to finish before they are cancelled (a second signal stops at once; nothing is lost either way)")
}

func visited(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

func noArgs(fs *flag.FlagSet, cmd string, stderr io.Writer) error {
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bridge %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return errUsage
	}
	return nil
}

// tuneGC: bridge makes short-lived rows fast; collecting half as often buys
// about a tenth more throughput for a bounded heap. GOGC overrides.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
}

// registerCPUProfile registers --cpu-profile.
func registerCPUProfile(fs *flag.FlagSet) *string {
	return fs.String("cpu-profile", "", "write a CPU profile of the whole command to `file` (for go tool pprof)")
}

func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func printSummary(w io.Writer, info *bridge.LoadInfo, c common) {
	secs := info.Elapsed.Seconds()
	var produced, batches int
	for _, t := range info.Produced {
		produced, batches = produced+t.Items, batches+t.Batches
	}
	names := slices.Sorted(maps.Keys(info.Destinations))
	if info.AlreadyStored {
		fmt.Fprintf(w, "load %s carried on, %.2fs: an earlier run stored its input whole; nothing published again, what was pending delivered to %s\n",
			info.LoadID, secs, joinQuoted(names))
	} else if len(info.Produced) == 0 {
		fmt.Fprintf(w, "pending-only run (no input), %.2fs: delivered what the pipeline held for %s\n", secs, joinQuoted(names))
	} else {
		fmt.Fprintf(w, "load %s: published %s in %s to %s in %.2fs (%.0f items/s)\n", info.LoadID,
			pluralN(produced, "item", "items"), pluralN(batches, "batch", "batches"), pluralN(len(info.Produced), "table", "tables"),
			secs, float64(produced)/max(secs, 1e-9))
	}
	earlier := false
	for _, dest := range names {
		di := info.Destinations[dest]
		var items, calls, dead int
		for _, t := range di.Delivered {
			items, calls, dead = items+t.Items, calls+t.Batches, dead+t.DeadLetters
		}
		line := fmt.Sprintf("  destination %s: delivered %s in %s", quoteName(dest), pluralN(items, "item", "items"), pluralN(calls, "batch", "batches"))
		if dead > 0 {
			line += fmt.Sprintf(", %d dead-lettered", dead)
		}
		if items+dead > produced {
			line += " *"
			earlier = true
		}
		fmt.Fprintln(w, line)
		for _, table := range slices.Sorted(maps.Keys(di.Delivered)) {
			t := di.Delivered[table]
			fmt.Fprintf(w, "    %-28s %16s %12s", table, pluralN(t.Items, "item", "items"), pluralN(t.Batches, "batch", "batches"))
			if t.DeadLetters > 0 {
				fmt.Fprintf(w, " %6d dead-lettered", t.DeadLetters)
			}
			fmt.Fprintln(w)
		}
	}
	if earlier {
		fmt.Fprintln(w, "  * delivered counts include batches pending from earlier runs and replayed dead letters, not only this load")
	}
	if info.EmptyRows > 0 {
		fmt.Fprintf(w, "%s had no value but nulls and made no row\n", pluralN(info.EmptyRows, "input item", "input items"))
	}
	hinted := false
	deadBy := map[string]int{}
	for _, d := range info.DeadLetters {
		deadBy[d.Destination]++
	}
	for _, dest := range slices.Sorted(maps.Keys(deadBy)) {
		fmt.Fprintf(w, "%s of destination %s went to the dead-letter stream; see them with\n  %s\nretry them (after fixing the cause) with\n  %s\n  %s\n",
			pluralN(deadBy[dest], "batch", "batches"), quoteName(dest),
			c.command("dlq", "list", "--destination", dest),
			c.command("dlq", "replay", "--destination", dest),
			c.command("run", "--input", "/dev/null", "--destination", dest))
		hinted = true
	}
	for _, dest := range names {
		var re *bridge.RetriesError
		if err := info.Destinations[dest].Err; errors.As(err, &re) {
			fmt.Fprintf(w, "batch %s of table %q stays pending for destination %s: the next run retries it first; "+
				"to deliver only what is pending:\n  %s\nto set it aside in the dead-letter stream so the rest goes on:\n  %s\n",
				re.BatchID, re.Table, quoteName(dest),
				c.command("run", "--input", "/dev/null", "--destination", dest),
				c.command("dlq", "dead-letter", "--destination", dest, "--batch", re.BatchID, "--yes"))
			hinted = true
		}
	}
	for _, dest := range slices.Sorted(maps.Keys(info.Unserved)) {
		among := " (this load's among them)"
		if len(info.Produced) == 0 {
			among = ""
		}
		fmt.Fprintf(w, "destination %s of this pipeline did not run here and holds %s%s until it runs; deliver them with\n  %s\nor, if it is no longer used, drop them with\n  %s\n",
			quoteName(dest), pluralN(info.Unserved[dest], "batch", "batches"), among,
			c.command("run", "--input", "/dev/null", "--destination", dest),
			c.command("destinations", "remove", dest, "--yes"))
		hinted = true
	}
	if note := c.passwordNote(); hinted && note != "" {
		fmt.Fprintln(w, note)
	}
	if rss := peakRSSBytes(); rss > 0 {
		fmt.Fprintf(w, "peak memory %.1f MiB\n", float64(rss)/(1<<20))
	}
}

// quoteName writes a destination or table name in messages: quoted, the
// way Go quotes strings.
func quoteName(s string) string { return strconv.Quote(s) }

func joinQuoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteName(n)
	}
	return strings.Join(q, ", ")
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
