package state

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fanoutbridge/bridge/queue"
)

// Lookup opens the state bucket of q's pipeline if it exists, creating
// nothing; when it does not, the error wraps queue.ErrNotFound. It is for
// the commands that only look.
func Lookup(ctx context.Context, q *queue.Queue) (*Store, error) {
	kv, err := q.JetStream().KeyValue(ctx, q.StateBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%w: no state bucket %s", queue.ErrNotFound, q.StateBucket())
	}
	if err != nil {
		return nil, fmt.Errorf("state bucket %s: %w", q.StateBucket(), err)
	}
	return &Store{kv: kv}, nil
}
