// Package cli is bridge's command line: `bridge run`, `bridge status` and
// `bridge dlq`. cmd/bridge is a thin main around Main; build your own binary
// around it to use destinations you registered with bridge.Register:
//
//	func main() {
//	    bridge.RegisterDestination(myDest)
//	    os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
//	}
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/fanoutbridge/bridge"
)

const usage = `bridge pushes normalized data out of a pipeline, through NATS JetStream.

Usage:
  bridge run    --input FILE|-|URL [--table NAME] [--destination SPEC]... [options]
  bridge run    --config FILE [options]
  bridge produce --input FILE|-|URL [--table NAME] [options]
  bridge serve   [--destination SPEC]... [options]
  bridge status [--json] [--pipeline NAME]
  bridge dlq    list|show|replay [--destination NAME] [--table NAME] [--batch ID] [--pipeline NAME]
  bridge dlq    purge [--destination NAME] [--table NAME] [--batch ID] --yes [--pipeline NAME]
  bridge dlq    dead-letter --destination NAME --batch ID [--reason TEXT] --yes [--pipeline NAME]
  bridge schema show [--json] [--table NAME] [--pipeline NAME]
  bridge destinations list [--pipeline NAME]
  bridge destinations remove NAME --yes [--pipeline NAME]
  bridge drop   --yes [--pipeline NAME]
  bridge version
  bridge help   [COMMAND]

Commands:
  run      read JSON lines, normalize them, batch them through JetStream and
           deliver every batch to each destination (--destination, as many
           as you like); prints a progress line while it runs and a summary
           at the end. With no input (--input /dev/null) it delivers only
           what is pending.
  produce  the first half of run, for scaling out: publish a load and exit
           once the server has stored it
  serve    the second half: deliver batches to the destinations as they
           arrive, until stopped; run as many workers as you like
  status   what is pending, in flight and dead-lettered per destination, and
           the load history (--json for scripts)
  dlq      list, show (full error and rows), replay or purge dead-lettered
           batches, or set a pending batch aside (dead-letter)
  schema   show the tables, columns, types and schema version (--json)
  destinations
           list a pipeline's destinations, or remove one
  drop     delete everything a pipeline keeps in NATS
  version  print bridge's module version and the Go version
  help     print this, or a command's help (bridge help run)

By default everything runs in this process on an embedded NATS server that
stores under ~/.bridge/pipelines/<pipeline>; --nats-url uses a real server
(and then nothing is stored locally). The first bridge on a pipeline runs its
embedded server; others (status, dlq, another run) join it while it runs.
status, dlq, destinations and drop never create a pipeline: on a name that
does not exist they exit with status 2. Every command takes --pipeline,
--data-dir and --nats-url; give the same ones to every command on a pipeline.
Every command takes a pipeline config file (--config FILE, TOML: pipeline,
NATS, input, normalizer settings, destinations and their settings; each
command uses what applies to it, and a flag given wins over the file).
run, produce and serve also serve Prometheus metrics with
--metrics-addr :9090, and show progress: a bar on a terminal, a plain line
every --progress-interval (10s) otherwise.
Logs go to stderr: --log-level debug|info|warn|error, --log-format
console|json (console on a terminal, JSON otherwise). A boolean flag takes
--flag, --flag=false or --flag false.
Run 'bridge help <command>' or 'bridge <command> --help' for the options and
examples of a command.

Exit status:
  0    done
  1    failed (a load, a destination, NATS); the message says what to do
  2    bad command line or configuration, or a pipeline or destination
       that does not exist
  130  stopped by SIGINT (Ctrl-C), 143 by SIGTERM; the next run carries on

Examples:
  bridge run --config configs/file-load.toml
  bridge run --input events.jsonl --table events --destination null --batch-size 1000
  cat events.jsonl | bridge run --input - --table events --destination stdout
  bridge run --input events.jsonl --destination file:./out --format parquet
  bridge run --input events.jsonl --destination stdout --destination file:./out
  bridge run --input /dev/null --destination stdout
  bridge produce --nats-url nats://127.0.0.1:4222 --pipeline events --input events.jsonl
  bridge serve --nats-url nats://127.0.0.1:4222 --pipeline events --destination stdout --metrics-addr :9090
  bridge status --json
  bridge dlq show --destination stdout --table events
  bridge dlq replay --destination stdout --table events
  bridge schema show --pipeline events
`

// errUsage means the command line was wrong; the message was printed.
var errUsage = errors.New("usage")

// usageError is a bad command line or configuration whose message Main
// prints; it matches errUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

// usagef returns a usageError; the message names the flag at fault.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// commands run the subcommands: bridge NAME args...
var commands = map[string]func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error{
	"run":     cmdRun,
	"produce": cmdProduce,
	"serve": func(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
		return cmdServe(ctx, args, stdout, stderr)
	},
	"status": func(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
		return cmdStatus(ctx, args, stdout, stderr)
	},
	"dlq": func(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
		return cmdDLQ(ctx, args, stdout, stderr)
	},
	"schema": func(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
		return cmdSchema(ctx, args, stdout, stderr)
	},
	"destinations": func(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
		return cmdDestinations(ctx, args, stdout, stderr)
	},
	"drop": func(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
		return cmdDrop(ctx, args, stdout, stderr)
	},
	"version": func(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
		return cmdVersion(args, stdout, stderr)
	},
}

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // a load or a command failed
	exitUsage  = 2 // bad command line or configuration
)

// Main runs the command line with args (without the program name) and
// returns the exit status: 0 success, 1 failure, 2 bad usage or
// configuration (and a pipeline that does not exist: status, dlq and drop
// never create one). cmd/bridge exits 130 or 143 on SIGINT or SIGTERM.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	registerBuiltins()
	stdoutSink.Lock()
	stdoutSink.w = stdout
	stdoutSink.Unlock()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	name := args[0]
	switch {
	case isHelpFlag(name):
		fmt.Fprint(stdout, usage)
		return exitOK
	case name == "help":
		// bridge help --help and bridge help run --help ask for help too.
		topics := slices.DeleteFunc(slices.Clone(args[1:]), isHelpFlag)
		if len(topics) == 0 {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		if _, ok := commands[topics[0]]; !ok || len(topics) > 1 {
			fmt.Fprintf(stderr, "bridge help: no command %q; commands: %s\n", strings.Join(topics, " "), commandList())
			return exitUsage
		}
		name, args = topics[0], []string{topics[0], "--help"}
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "bridge: unknown command %q\n\n%s", name, usage)
		return exitUsage
	}
	return exitCode(cmd(ctx, args[1:], stdin, stdout, stderr), name, stderr)
}

// isHelpFlag reports whether arg asks for help: -h, -help or --help.
func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "--help", "-help":
		return true
	}
	return false
}

// exitCode prints err (when its message was not printed yet) and returns
// the exit status it means.
func exitCode(err error, cmd string, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "bridge %s: %s\n", cmd, message(err))
		return exitUsage
	case errors.Is(err, errUsage):
		return exitUsage // printed
	case errors.Is(err, bridge.ErrNoPipeline):
		// A mistyped name: the message names the pipelines that exist.
		fmt.Fprintf(stderr, "bridge: %s; see --pipeline\n", message(err))
		return exitUsage
	case errors.Is(err, bridge.ErrNoDestination), errors.Is(err, bridge.ErrInvalidOption),
		errors.Is(err, bridge.ErrInvalidConfig), errors.Is(err, bridge.ErrMissingConfig):
		fmt.Fprintf(stderr, "bridge: %s\n", message(err))
		return exitUsage
	default:
		fmt.Fprintf(stderr, "bridge: %s\n", message(err))
		return exitFailed
	}
}

func commandList() string {
	return strings.Join(slices.Sorted(maps.Keys(commands)), ", ")
}

// message is err's text without the "bridge: " its sentinels start with
// (ErrNoPipeline's "bridge: no pipeline"): the command line prints one.
func message(err error) string {
	msg := strings.TrimPrefix(err.Error(), "bridge: ")
	msg = strings.ReplaceAll(msg, "\nbridge: ", "\n")
	return strings.ReplaceAll(msg, ": bridge: ", ": ")
}
