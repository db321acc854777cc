package bridge

import "context"

type batchKey struct{}

// BatchID returns the id of the batch being delivered, from the context a
// destination function receives; "" elsewhere. The id is stable across
// retries, redeliveries and restarts: use it as an idempotency key to keep a
// batch atomic at the far side.
func BatchID(ctx context.Context) string {
	id, _ := ctx.Value(batchKey{}).(string)
	return id
}

func withBatchID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, batchKey{}, id)
}
