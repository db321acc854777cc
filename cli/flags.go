package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fanoutbridge/bridge"
)

// common are the flags every command takes.
type common struct {
	pipeline string
	dataDir  string
	natsURL  string
	logLevel string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.pipeline, "pipeline", "bridge", "pipeline `name`: names the streams and the state (letters, digits, _ and -)")
	fs.StringVar(&c.dataDir, "data-dir", "", "local `dir` for the embedded server's store and load files (default ~/.bridge/pipelines/<pipeline>)")
	fs.StringVar(&c.natsURL, "nats-url", "", "external NATS `url` (e.g. nats://127.0.0.1:4222); empty runs an embedded server in this process")
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
	if c.dataDir != "" {
		opts = append(opts, bridge.WithDataDir(c.dataDir))
	}
	if c.natsURL != "" {
		opts = append(opts, bridge.WithNATSURL(c.natsURL))
	}
	return opts, log, nil
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
