package bridge

import (
	"errors"

	"github.com/fanoutbridge/bridge/consumer"
	"github.com/fanoutbridge/bridge/queue"
)

var (
	// ErrInvalidOption is wrapped by every error about a bad option value.
	ErrInvalidOption = errors.New("bridge: invalid option")
	// ErrDeadLettered is wrapped by Run's error when batches went to the
	// dead-letter stream; LoadInfo.DeadLetters lists them.
	ErrDeadLettered = errors.New("bridge: batches dead-lettered")
	// ErrBadInput is wrapped by Run's error when input records could not be
	// read (malformed JSON, oversized records); the other records still load.
	ErrBadInput = errors.New("bridge: bad input records")
	// ErrClosed is returned by Run after Close.
	ErrClosed = errors.New("bridge: pipeline closed")
	// ErrNoDestination is wrapped by RemoveDestination's error when the
	// pipeline has no such destination.
	ErrNoDestination = errors.New("bridge: no such destination")
	// ErrNoPendingBatch is wrapped by DeadLetterPending's error when the
	// destination holds no pending batch with that id.
	ErrNoPendingBatch = errors.New("bridge: no such pending batch")
	// ErrNoPipeline is wrapped by Open's error when the pipeline does not
	// exist (no store in its data directory, or no stream on the NATS
	// server); the error names the pipelines that do. Open creates nothing.
	ErrNoPipeline = errors.New("bridge: no pipeline")
	// ErrReplicas is wrapped by NewPipeline's error when the NATS server
	// cannot keep the pipeline's streams with the replicas asked for (see
	// WithReplicas); the error says why.
	ErrReplicas = queue.ErrReplicas
)

// Terminal marks err as terminal (dlt's DestinationTerminalException): the
// batch is not retried; it goes to the dead-letter stream and the rest of the
// load goes on. Terminal(nil) is nil.
func Terminal(err error) error { return consumer.Terminal(err) }

// IsTerminal reports whether err was marked with Terminal.
func IsTerminal(err error) bool { return consumer.IsTerminal(err) }

// RetriesError is wrapped by Run's error when a batch failed MaxRetries
// attempts. It names the table and the batch; the batch stays pending.
type RetriesError = consumer.RetriesError

// PanicError is a recovered panic of a destination function; it counts as a
// transient failure.
type PanicError = consumer.PanicError
