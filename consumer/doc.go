// Package consumer runs destination workers: it fetches batches from a durable
// JetStream consumer, schedules them by the parallelism strategy, calls the
// destination, acknowledges a batch only after the call succeeds, retries
// failures with jittered exponential backoff and sends terminal failures to
// the dead-letter stream.
package consumer
