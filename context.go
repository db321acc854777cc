package bridge

import (
	"context"

	"github.com/fanoutbridge/bridge/sink"
)

// BatchID returns the id of the batch being delivered, from the context a
// destination function receives; "" elsewhere. The id is stable across
// retries, redeliveries and restarts: use it as an idempotency key to keep a
// batch atomic at the far side.
func BatchID(ctx context.Context) string { return sink.BatchID(ctx) }

func withBatchID(ctx context.Context, id string) context.Context { return sink.WithBatchID(ctx, id) }
