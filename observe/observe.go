// Package observe is the hook through which a pipeline tells what it does,
// for metrics: batches produced, calls of the destinations (delivered or
// failed, with their latency and size), retries and dead letters. It is a
// leaf package: a metrics system (metrics/prom for Prometheus) implements
// Observer, and bridge.WithObserver installs it, so that bridge itself
// imports no metrics library.
package observe

import "time"

// Observer hears what a pipeline does. Its methods are called on the
// pipeline's goroutines, several at once: they must be quick (no I/O) and
// safe for concurrent use. None of the events carries a secret or a row.
type Observer interface {
	// Produced: a batch of a load was published (Run and Produce fail
	// when the server does not store it).
	Produced(Produced)
	// Called: a destination's call (one attempt) returned.
	Called(Call)
	// DeadLettered: a batch (or the rows of one call) went to the
	// dead-letter stream of a destination.
	DeadLettered(DeadLetter)
}

// Produced is a batch published.
type Produced struct {
	Pipeline string
	Table    string
	Rows     int
	Bytes    int // the payload as it travels
}

// Call is one attempt of a call of a destination with one batch (or part of
// a batch: a destination gets its own batch size).
type Call struct {
	Pipeline    string
	Destination string
	Table       string
	BatchID     string
	Rows        int
	// Attempt is 1 for the first call of the batch in this delivery, more
	// for the retries after a failure.
	Attempt  int
	Duration time.Duration
	// Waited is the produce-to-call latency: from when the producer read
	// the batch's oldest row (the producer's clock; or, for a batch that
	// does not say, when the server stored it) to when this call started
	// (this process's clock). 0 when unknown.
	Waited time.Duration
	// Err is nil when the destination took the batch; a failed call is
	// retried or dead-lettered (see DeadLettered).
	Err error
}

// DeadLetter is a batch (or a call's rows) sent to the dead-letter stream.
type DeadLetter struct {
	Pipeline    string
	Destination string
	Table       string
	BatchID     string
	Rows        int
	// Reason is "terminal" (the destination said so), "unreadable" (the
	// batch could not be read) or another word of the dead-letter stream.
	Reason string
}

// Multi returns an Observer that tells each of obs in turn.
func Multi(obs ...Observer) Observer { return multi(obs) }

type multi []Observer

func (m multi) Produced(e Produced) {
	for _, o := range m {
		o.Produced(e)
	}
}

func (m multi) Called(e Call) {
	for _, o := range m {
		o.Called(e)
	}
}

func (m multi) DeadLettered(e DeadLetter) {
	for _, o := range m {
		o.DeadLettered(e)
	}
}

// Nop is an Observer that does nothing.
type Nop struct{}

func (Nop) Produced(Produced)       {}
func (Nop) Called(Call)             {}
func (Nop) DeadLettered(DeadLetter) {}
