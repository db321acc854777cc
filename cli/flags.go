package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fanoutbridge/bridge"
)

// common are the flags every command takes.
type common struct {
	pipeline string
	dataDir  string
	natsURL  string
	creds    string
	nkey     string
	tlsCA    string
	logLevel string
	replicas int
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.pipeline, "pipeline", "bridge", "pipeline `name`: names the streams and the state (letters, digits, _ and -)")
	fs.StringVar(&c.dataDir, "data-dir", "", "local `dir` for the embedded server's store and load files (default ~/.bridge/pipelines/<pipeline>)")
	fs.StringVar(&c.natsURL, "nats-url", "", "external NATS `url` (e.g. nats://127.0.0.1:4222); empty runs an embedded server in this process")
	fs.StringVar(&c.creds, "nats-creds", "", "NATS credentials `file` (JWT and seed) for --nats-url")
	fs.StringVar(&c.nkey, "nats-nkey", "", "NATS nkey seed `file` for --nats-url")
	fs.StringVar(&c.tlsCA, "nats-tls-ca", "", "CA certificate `file` to verify the NATS server's TLS certificate")
	fs.IntVar(&c.replicas, "replicas", 0, "`copies` (1 to 5) of each stream and bucket of the pipeline on a NATS cluster, e.g. 3 on a 3-node cluster; needs --nats-url when over 1. Not given: 1 for a new pipeline, an existing one keeps its own")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log `level`: debug, info, warn or error (logs go to stderr)")
}

func (c *common) options(stderr io.Writer) ([]bridge.PipelineOption, *zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(c.logLevel)
	if err != nil {
		return nil, nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.logLevel)
	}
	enc := zap.NewDevelopmentEncoderConfig()
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(stderr), lvl)
	log := zap.New(core)
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
			return nil, nil, err
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
		opts = append(opts, bridge.WithNATSURL(c.natsURL, nopts...))
	} else if c.creds != "" || c.nkey != "" || c.tlsCA != "" {
		return nil, nil, errors.New("--nats-creds, --nats-nkey and --nats-tls-ca go with --nats-url")
	}
	return opts, log, nil
}

// checkNATSURL checks that every server of a --nats-url list parses as
// nats.go reads it (nats:// when there is no scheme). Its error shows
// neither the URL nor net/url's reason, either of which may quote a
// password.
func checkNATSURL(s string) error {
	servers := strings.Split(s, ",")
	for i, srv := range servers {
		srv = strings.TrimSpace(srv)
		if srv == "" {
			continue
		}
		if !strings.Contains(srv, "://") {
			srv = "nats://" + srv
		}
		if _, err := url.Parse(srv); err != nil {
			return fmt.Errorf("--nats-url: server %d of %d does not parse as a URL (not shown: it may hold a password)", i+1, len(servers))
		}
	}
	return nil
}

// newFlagSet returns a flag set that prints its usage with a heading.
func newFlagSet(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\n%s\n\nOptions:\n", synopsis, strings.TrimSpace(about))
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; help is true when --help was asked for (usage is
// printed), and err is errUsage for bad flags.
func parseFlags(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, errUsage
	}
	return false, nil
}
