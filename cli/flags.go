package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/queue"
)

// common are the flags every command takes.
type common struct {
	pipeline  string
	dataDir   string
	natsURL   string
	creds     string
	nkey      string
	tlsCA     string
	logLevel  string
	logFormat string
	replicas  int
	// user, password and token are NATS credentials a config file gives
	// (no flags: a secret on a command line is seen by every process).
	user, password, token string
	// config is --config; file the pipeline config file loaded from it
	// (nil without), and cli the flags given on the command line.
	config string
	file   *pipelineFile
	cli    map[string]bool
}

// register registers the common flags on fs, and has parseFlags load
// --config once the command line is parsed.
func (c *common) register(fset *flagSet) {
	fs := fset.FlagSet
	fs.StringVar(&c.config, "config", "", "pipeline config `file` (TOML): pipeline, NATS, input, normalizer settings and destinations with their settings; a flag given here wins over it (see README, Pipeline config files)")
	fset.after = append(fset.after, func() error { return c.loadConfig(fs) })
	fs.StringVar(&c.pipeline, "pipeline", "bridge", "pipeline `name`: names the streams and the state (letters, digits, _ and -)")
	fs.StringVar(&c.dataDir, "data-dir", "", "local `dir` for the embedded server's store and load files (default ~/.bridge/pipelines/<pipeline>)")
	fs.StringVar(&c.natsURL, "nats-url", "", "external NATS `url` (e.g. nats://127.0.0.1:4222); empty runs an embedded server in this process")
	fs.StringVar(&c.creds, "nats-creds", "", "NATS credentials `file` (JWT and seed) for --nats-url")
	fs.StringVar(&c.nkey, "nats-nkey", "", "NATS nkey seed `file` for --nats-url")
	fs.StringVar(&c.tlsCA, "nats-tls-ca", "", "CA certificate `file` to verify the NATS server's TLS certificate")
	fs.IntVar(&c.replicas, "replicas", 0, "`copies` (1 to 5) of each stream and bucket of the pipeline on a NATS cluster, e.g. 3 on a 3-node cluster; needs --nats-url when over 1. Not given: 1 for a new pipeline, an existing one keeps its own")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log `level`: debug, info, warn or error (logs go to stderr)")
	fs.StringVar(&c.logFormat, "log-format", "", "log `format`: console or json (default: console when stderr is a terminal, json otherwise)")
}

// loadConfig reads --config, when given, and sets the flags of fs the
// command line did not set from it (those fs has: status takes no [input]).
func (c *common) loadConfig(fs *flag.FlagSet) error {
	c.cli = visited(fs)
	if c.config == "" {
		return nil
	}
	f, err := loadPipelineFile(c.config)
	if err != nil {
		return err
	}
	if err := f.apply(fs); err != nil {
		return err
	}
	c.file = f
	c.user, c.password, c.token = f.natsAuth()
	return nil
}

// validate checks the common flags' values before anything is opened.
func (c *common) validate() error {
	if err := queue.ValidPipelineName(c.pipeline); err != nil {
		return usagef("--pipeline %q: use 1 to 64 letters, digits, _ or -", c.pipeline)
	}
	if _, err := zapcore.ParseLevel(c.logLevel); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", c.logLevel)
	}
	switch c.logFormat {
	case "", "console", "json":
	default:
		return usagef("--log-format %q: want console or json", c.logFormat)
	}
	return nil
}

// newLogger makes the command's logger on w: --log-level, and
// --log-format (console on a terminal, JSON lines otherwise).
func (c *common) newLogger(w io.Writer) (*zap.Logger, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	lvl, _ := zapcore.ParseLevel(c.logLevel)
	format := c.logFormat
	if format == "" {
		format = "json"
		if isTerminal(w) {
			format = "console"
		}
	}
	var enc zapcore.Encoder
	if format == "json" {
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	} else {
		enc = zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl)), nil
}

// isTerminal reports whether w is a terminal (or the console of one).
func isTerminal(w io.Writer) bool {
	switch w := w.(type) {
	case *console:
		return w.tty
	case *os.File:
		st, err := w.Stat()
		return err == nil && st.Mode()&os.ModeCharDevice != 0
	}
	return false
}

func (c *common) options(stderr io.Writer) ([]bridge.PipelineOption, *zap.Logger, error) {
	log, err := c.newLogger(stderr)
	if err != nil {
		return nil, nil, err
	}
	opts := []bridge.PipelineOption{bridge.WithLogger(log)}
	switch {
	case c.replicas == 0:
	case c.replicas < 0 || c.replicas > 5:
		fmt.Fprintf(stderr, "bridge: --replicas %d: want 1 to 5\n", c.replicas)
		return nil, nil, errUsage
	case c.replicas > 1 && c.natsURL == "":
		fmt.Fprintf(stderr, "bridge: --replicas %d needs --nats-url (a NATS cluster): the embedded server keeps one copy\n", c.replicas)
		return nil, nil, errUsage
	default:
		opts = append(opts, bridge.WithReplicas(c.replicas))
	}
	if c.dataDir != "" {
		opts = append(opts, bridge.WithDataDir(c.dataDir))
	}
	if c.natsURL != "" {
		if err := checkNATSURL(c.natsURL); err != nil {
			return nil, nil, usagef("%s", err)
		}
		var nopts []nats.Option
		if c.creds != "" {
			nopts = append(nopts, nats.UserCredentials(c.creds))
		}
		if c.nkey != "" {
			o, err := nats.NkeyOptionFromSeed(c.nkey)
			if err != nil {
				return nil, nil, fmt.Errorf("--nats-nkey: %w", err)
			}
			nopts = append(nopts, o)
		}
		if c.tlsCA != "" {
			nopts = append(nopts, nats.RootCAs(c.tlsCA))
		}
		if c.user != "" {
			nopts = append(nopts, nats.UserInfo(c.user, c.password))
		}
		if c.token != "" {
			nopts = append(nopts, nats.Token(c.token))
		}
		opts = append(opts, bridge.WithNATSURL(c.natsURL, nopts...))
	} else if c.creds != "" || c.nkey != "" || c.tlsCA != "" {
		return nil, nil, usagef("--nats-creds, --nats-nkey and --nats-tls-ca go with --nats-url")
	}
	return opts, log, nil
}

// checkNATSURL checks that every server of a --nats-url list is a URL
// nats.go takes: nats://, tls://, ws:// or wss:// with a host, or host:port
// (nats:// is then assumed). Its error shows neither the URL nor net/url's
// reason, either of which may quote a password; only a scheme it refuses.
func checkNATSURL(s string) error {
	const want = "want nats://, tls://, ws:// or wss:// URLs or host:port, comma-separated (e.g. nats://127.0.0.1:4222)"
	servers := strings.Split(s, ",")
	for i, srv := range servers {
		srv = strings.TrimSpace(srv)
		if srv == "" {
			continue
		}
		if !strings.Contains(srv, "://") {
			srv = "nats://" + srv
		}
		u, err := url.Parse(srv)
		if err != nil {
			return fmt.Errorf("--nats-url: server %d of %d does not parse as a URL (not shown: it may hold a password); %s", i+1, len(servers), want)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("--nats-url: server %d of %d has scheme %q: %s", i+1, len(servers), u.Scheme, want)
		}
		if u.Host == "" || u.Opaque != "" {
			return fmt.Errorf("--nats-url: server %d of %d has no host (not shown: it may hold a password); %s", i+1, len(servers), want)
		}
	}
	return nil
}

// flagSet is a command's flags with its help: the synopsis and the text
// that teaches it, printed to stdout on --help.
type flagSet struct {
	*flag.FlagSet
	synopsis, about string
	stdout, stderr  io.Writer
	after           []func() error // run once the flags are parsed
}

// newFlagSet returns the flag set of command name. Parse errors go to
// stderr with a pointer to --help; --help prints the whole help to stdout.
func newFlagSet(name, synopsis, about string, stdout, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), synopsis: synopsis, about: about, stdout: stdout, stderr: stderr}
	fs.SetOutput(io.Discard) // parseFlags says what is wrong, in its words
	fs.Usage = func() {}     // parseFlags prints what is needed
	return fs
}

// help prints the command's help (synopsis, text, options) to stdout.
func (fs *flagSet) help() {
	fmt.Fprintf(fs.stdout, "Usage: %s\n\n%s\n\nOptions:\n", fs.synopsis, strings.TrimSpace(fs.about))
	printOptions(fs.stdout, fs.FlagSet)
}

// printOptions lists the flags of fs as flag.PrintDefaults does, but with
// two dashes, as they are written everywhere else: "--batch-size rows".
func printOptions(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		var b strings.Builder
		fmt.Fprintf(&b, "  --%s", f.Name)
		name, usage := flag.UnquoteUsage(f)
		if name != "" {
			b.WriteString(" " + name)
		}
		if b.Len() <= 5 { // "  --x": the text fits on the same line
			b.WriteString("\t")
		} else {
			b.WriteString("\n    \t")
		}
		b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
		switch f.DefValue {
		case "", "0", "false", "0s", "[]":
		default:
			if g, ok := f.Value.(flag.Getter); ok && isString(g.Get()) {
				fmt.Fprintf(&b, " (default %q)", f.DefValue)
			} else {
				fmt.Fprintf(&b, " (default %v)", f.DefValue)
			}
		}
		fmt.Fprintln(w, b.String())
	})
}

// parseFlags parses args; help is true when --help was asked for (the help
// is printed to stdout), and err is errUsage for bad flags (what was wrong
// is printed, with the synopsis). A boolean flag also takes its value as
// the next argument: --quiet false, --backfill true.
func parseFlags(fs *flagSet, args []string) (help bool, err error) {
	if err := fs.Parse(joinBoolValues(fs.FlagSet, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.help()
			return true, nil
		}
		fmt.Fprintf(fs.stderr, "bridge %s: %s\nusage: %s\nsee bridge %s --help\n", fs.Name(), flagError(fs.FlagSet, err), fs.synopsis, fs.Name())
		return false, errUsage
	}
	for _, f := range fs.after {
		if err := f(); err != nil {
			return false, err
		}
	}
	return false, nil
}

func isString(v any) bool { _, ok := v.(string); return ok }

// flagValueError matches the flag package's error for a value its flag
// does not take: the value (quoted), the flag's name, the reason.
var flagValueError = regexp.MustCompile(`^invalid (?:boolean )?value ("(?:[^"\\]|\\.)*") for (?:flag )?-(\S+): (.*)$`)

// flagError rewrites an error of the flag package in the words of the rest
// of the command line: --flag (two dashes), the value given and what the
// flag wants (`--flush-interval "soon": want a duration such as 200ms or
// 1s`), instead of `invalid value "soon" for flag -flush-interval: parse
// error`.
func flagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Sprintf("unknown flag --%s", strings.TrimLeft(name, "-"))
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Sprintf("--%s needs a value", strings.TrimLeft(name, "-"))
	}
	m := flagValueError.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	value, name, why := m[1], m[2], m[3]
	want := why // a flag of its own type says what it wants
	if f := fs.Lookup(name); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			switch g.Get().(type) {
			case time.Duration:
				want = "want a duration such as 200ms, 1s or 5m"
			case int, int64:
				want = "want a whole number such as 10"
			case uint, uint64:
				want = "want a whole number, 0 or more"
			case float64:
				want = "want a number such as 0.5"
			case bool:
				want = "want true or false"
			}
		}
	}
	if strings.Contains(why, "out of range") {
		want += " (this one is out of range)"
	}
	return fmt.Sprintf("--%s %s: %s", name, value, want)
}

// joinBoolValues rewrites "--flag VALUE" as "--flag=VALUE" where flag is a
// boolean flag and VALUE is exactly true, false, 1 or 0: the flag package
// takes a boolean's value only after "=". It reads args as the flag package
// does: up to "--" or the first argument that is not a flag, skipping the
// values of the other flags.
func joinBoolValues(fs *flag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		out = append(out, a)
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return append(out, args[i+1:]...)
		}
		name := strings.TrimLeft(a, "-")
		if name == "" || strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			if i+1 < len(args) && isBoolWord(args[i+1]) {
				out[len(out)-1] = a + "=" + args[i+1]
				i++
			}
			continue
		}
		if i+1 < len(args) { // the flag's value
			i++
			out = append(out, args[i])
		}
	}
	return out
}

func isBoolWord(s string) bool {
	switch s {
	case "true", "false", "1", "0":
		return true
	}
	return false
}
