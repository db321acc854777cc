package consumer

import (
	"context"
	"fmt"

	"github.com/fanoutbridge/bridge/sink"
)

// Terminal marks err terminal: the batch is not retried but dead-lettered
// (sink.Terminal). Terminal(nil) is nil.
func Terminal(err error) error { return sink.Terminal(err) }

// IsTerminal reports whether err, or any error it wraps, was marked Terminal.
func IsTerminal(err error) bool { return sink.IsTerminal(err) }

// RetriesError is returned when a batch failed every attempt. The batch stays
// pending and is loaded first by the next run.
type RetriesError struct {
	Table    string
	BatchID  string
	Attempts int
	Err      error
}

func (e *RetriesError) Error() string {
	return fmt.Sprintf("table %q batch %s failed %d attempts and stays pending (run the pipeline again to retry it): %v",
		e.Table, e.BatchID, e.Attempts, e.Err)
}

func (e *RetriesError) Unwrap() error { return e.Err }

// PanicError is a panic in the destination, recovered and treated as a
// transient error.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("destination panicked: %v", e.Value) }

type attemptKey struct{}

// Attempt returns which attempt of its batch a call is, from 1, from the
// context the runner gives the call; 0 elsewhere.
func Attempt(ctx context.Context) int {
	n, _ := ctx.Value(attemptKey{}).(int)
	return n
}

func withAttempt(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, attemptKey{}, n)
}
