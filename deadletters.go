package bridge

import (
	"context"

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
