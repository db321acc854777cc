// Command bridge loads JSON lines through a bridge pipeline into a
// destination, and shows and manages what is pending and dead-lettered. Run
// `bridge --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/fanoutbridge/bridge/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
