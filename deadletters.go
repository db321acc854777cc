package bridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/queue"
)

// DeadLetterMessage is a dead-lettered batch as stored in the dead-letter
// stream: the batch's headers plus the reason, error text, attempts, time,
// original subject and sequence.
type DeadLetterMessage = queue.DeadLetter

// DeadLetterFilter selects dead letters by table and batch id; zero fields
// match everything.
type DeadLetterFilter = queue.DeadFilter

// DeadLetters lists the pipeline's dead letters that match f, oldest first.
func (p *Pipeline) DeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetterMessage, error) {
	return p.q.DeadLetters(ctx, f)
}

// DeadLetterRows decodes the rows a dead letter holds (one DeadLetters
// returned), with the schema of its table as the batch carried it: the
// payload may be in the Object Store and, in typed-jsonl, may name its
// schema by reference, which it resolves from the pipeline's state. A dead
// letter whose batch could not be read (reason "unreadable") fails to
// decode here too.
func (p *Pipeline) DeadLetterRows(ctx context.Context, msg DeadLetterMessage) (Table, []Row, error) {
	payload, err := p.q.DeadLetterPayload(ctx, msg)
	if err != nil {
		return Table{}, nil, err
	}
	t, rows, err := batcher.DecodeWith(batcher.Format(msg.Format), payload, p.resolver(ctx))
	if err != nil {
		return Table{}, nil, fmt.Errorf("dead letter %s: decode %s: %w", msg.MsgID, msg.Format, err)
	}
	return *t, rows, nil
}

// ReplayDeadLetters puts the dead letters that match f back on their tables
// as new batches, removes them from the dead-letter stream and returns how
// many it replayed. The next Run delivers them.
func (p *Pipeline) ReplayDeadLetters(ctx context.Context, f DeadLetterFilter) (int, error) {
	return p.q.Replay(ctx, f)
}

// PurgeDeadLetters deletes the dead letters that match f and returns how many.
func (p *Pipeline) PurgeDeadLetters(ctx context.Context, f DeadLetterFilter) (int, error) {
	return p.q.Purge(ctx, f)
}

// DeadLetterPending sets a pending batch of destination aside by hand: it
// copies the batch (batchID, as BatchID shows it to the destination and as
// Status and `bridge dlq` list it; for a batch a destination cuts into parts,
// the published batch's id, without ".pN") to the dead-letter stream with
// reason "manual" and the error text reason, and the destination is not
// called with it again: a batch that blocks its table (TableSequential) or
// keeps failing can be put away so the rest goes on. The other destinations
// are not affected. ReplayDeadLetters brings it back, for this destination
// alone; the whole batch then comes again, also parts delivered before.
//
// The batch must be pending for the destination: stored and not yet
// acknowledged by it. A call of it already under way in a running process
// may still complete. The error wraps ErrNoDestination when destination is
// not a member, and ErrNoPendingBatch when it holds no such batch.
func (p *Pipeline) DeadLetterPending(ctx context.Context, destination, batchID, reason string) error {
	if batchID == "" {
		return invalid("no batch id")
	}
	err := p.q.SetAside(ctx, destination, batchID, reason)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return fmt.Errorf("pipeline %q: %w: %q", p.name, ErrNoDestination, destination)
	case errors.Is(err, queue.ErrNoBatch):
		return fmt.Errorf("pipeline %q: %w: %q of destination %q", p.name, ErrNoPendingBatch, batchID, destination)
	case err != nil:
		return fmt.Errorf("pipeline %q: dead-letter batch %q of destination %q: %w", p.name, batchID, destination, err)
	}
	// Its parts start from the first when the dead letter is replayed.
	_ = p.st.Positions(destination).ClearPosition(ctx, batchID)
	return nil
}
