// Command bridge loads JSON lines through a bridge pipeline into a
// destination, and shows and manages what is pending and dead-lettered. Run
// `bridge --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/fanoutbridge/bridge/cli"
)

func main() {
	// The first SIGINT or SIGTERM stops the command gently (run and serve
	// let the calls in flight finish, up to --shutdown-timeout); a second
	// one exits at once. Either way the exit status is 128 + the signal
	// (130, 143), and nothing is lost: what was not acknowledged is
	// delivered again.
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	var got atomic.Value
	go func() {
		s := <-sigs
		got.Store(s)
		fmt.Fprintf(os.Stderr, "bridge: %v: stopping (calls in flight may finish first); %v again stops at once, losing nothing\n", s, s)
		cancel(fmt.Errorf("%v", s))
		s = <-sigs
		os.Exit(exitStatus(s))
	}()
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if s, ok := got.Load().(os.Signal); ok {
		code = exitStatus(s)
	}
	os.Exit(code)
}

func exitStatus(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 1
}
