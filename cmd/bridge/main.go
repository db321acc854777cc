// Command bridge loads JSON lines through a bridge pipeline into a
// destination, and shows and manages what is pending and dead-lettered.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `bridge pushes normalized data out of a pipeline, through NATS JetStream.

Usage:
  bridge run    --input FILE|- [--table NAME] [--destination null|stdout|file:DIR] [options]
  bridge status [--pipeline NAME] [--destination NAME]
  bridge dlq    list|replay|purge [--table NAME] [--batch ID] [--pipeline NAME]

Commands:
  run      read JSON lines, normalize them, batch them through JetStream and
           deliver every batch to the destination; prints a progress line while
           it runs and a summary at the end
  status   what is pending, in flight and dead-lettered, and the load history
  dlq      list, replay or purge dead-lettered batches

By default everything runs in this process on an embedded NATS server that
stores under ~/.bridge/pipelines/<pipeline>; --nats-url uses a real server.
Run 'bridge <command> --help' for the options of a command.

Examples:
  bridge run --input events.jsonl --table events --destination null --batch-size 1000
  cat events.jsonl | bridge run --input - --table events --destination stdout
  bridge run --input events.jsonl --destination file:./out --format parquet
  bridge status
  bridge dlq replay --table events
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage means the command line was wrong; the message was printed.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stdin, stdout, stderr)
	case "status":
		err = cmdStatus(ctx, args[1:], stdout, stderr)
	case "dlq":
		err = cmdDLQ(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "bridge: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "bridge: %v\n", err)
		return 1
	}
}
