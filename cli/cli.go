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
	"strings"

	"github.com/fanoutbridge/bridge"
)

const usage = `bridge pushes normalized data out of a pipeline, through NATS JetStream.

Usage:
  bridge run    --input FILE|- [--table NAME] [--destination SPEC]... [options]
  bridge produce --input FILE|- [--table NAME] [options]
  bridge serve   [--destination SPEC]... [options]
  bridge status [--pipeline NAME]
  bridge dlq    list|replay|purge [--destination NAME] [--table NAME] [--batch ID] [--pipeline NAME]
  bridge dlq    dead-letter --destination NAME --batch ID [--reason TEXT] --yes [--pipeline NAME]
  bridge destinations list [--pipeline NAME]
  bridge destinations remove NAME --yes [--pipeline NAME]
  bridge drop   --yes [--pipeline NAME]

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
           the load history
  dlq      list, replay or purge dead-lettered batches, or set a pending batch
           aside (dead-letter)
  destinations
           list a pipeline's destinations, or remove one
  drop     delete everything a pipeline keeps in NATS

By default everything runs in this process on an embedded NATS server that
stores under ~/.bridge/pipelines/<pipeline>; --nats-url uses a real server
(and then nothing is stored locally). The first bridge on a pipeline runs its
embedded server; others (status, dlq, another run) join it while it runs.
status, dlq, destinations and drop never create a pipeline: on a name that
does not exist they exit with status 2. Every command takes --pipeline,
--data-dir and --nats-url; give the same ones to every command on a pipeline.
Run 'bridge <command> --help' for the options and examples of a command.

Examples:
  bridge run --input events.jsonl --table events --destination null --batch-size 1000
  cat events.jsonl | bridge run --input - --table events --destination stdout
  bridge run --input events.jsonl --destination file:./out --format parquet
  bridge run --input events.jsonl --destination stdout --destination file:./out
  bridge run --input /dev/null --destination stdout
  bridge produce --nats-url nats://127.0.0.1:4222 --pipeline events --input events.jsonl
  bridge serve --nats-url nats://127.0.0.1:4222 --pipeline events --destination stdout
  bridge status
  bridge dlq replay --destination stdout --table events
`

// errUsage means the command line was wrong; the message was printed.
var errUsage = errors.New("usage")

// Main runs the command line with args (without the program name) and
// returns the exit status: 0 success, 1 failure, 2 bad usage (and a
// pipeline that does not exist: status, dlq and drop never create one).
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	registerBuiltins()
	stdoutSink.Lock()
	stdoutSink.w = stdout
	stdoutSink.Unlock()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stdin, stdout, stderr)
	case "produce":
		err = cmdProduce(ctx, args[1:], stdin, stdout, stderr)
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr)
	case "status":
		err = cmdStatus(ctx, args[1:], stdout, stderr)
	case "dlq":
		err = cmdDLQ(ctx, args[1:], stdout, stderr)
	case "destinations":
		err = cmdDestinations(ctx, args[1:], stdout, stderr)
	case "drop":
		err = cmdDrop(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "bridge: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, bridge.ErrNoPipeline):
		// A mistyped name: the message names the pipelines that exist.
		fmt.Fprintf(stderr, "bridge: %s; see --pipeline\n", message(err))
		return 2
	case errors.Is(err, bridge.ErrNoDestination):
		fmt.Fprintf(stderr, "bridge: %s\n", message(err))
		return 2
	default:
		fmt.Fprintf(stderr, "bridge: %s\n", message(err))
		return 1
	}
}

// message is err's text without the "bridge: " its sentinels start with
// (ErrNoPipeline's "bridge: no pipeline"): the command line prints one.
func message(err error) string {
	msg := strings.TrimPrefix(err.Error(), "bridge: ")
	msg = strings.ReplaceAll(msg, "\nbridge: ", "\n")
	return strings.ReplaceAll(msg, ": bridge: ", ": ")
}
