// Package sink is the contract between bridge and the destinations it
// writes to, as database/sql/driver is for database/sql: what a sink is
// handed, what it may answer, and what it can count on. It imports no NATS
// and no client library, so a sink package depends on it and on its own
// client only.
//
// A sink receives batches: the rows of one table, with an id that stays the
// same across retries, redeliveries and restarts (use it as an idempotency
// key). Its answer decides what happens to the batch:
//
//	nil                       every row is delivered; the batch is acknowledged
//	an error                  transient: the batch is tried again, with backoff
//	Terminal(err)             the batch is dead-lettered, not retried
//	RetryAfter(err, d)        tried again after exactly d; not counted as a failed attempt (up to a limit)
//	RowErrors{i: err, ...}    only rows i failed: the others are delivered; terminal row errors are
//	                          dead-lettered as a smaller batch with their errors, and a retry sends
//	                          only the rows whose errors were transient
//
// A sink is safe for concurrent use: bridge calls Write on several
// goroutines at once (one batch per goroutine) unless the destination's
// strategy is Sequential. A sink that holds a connection implements
// Connector (called once before the first batch) and Closer (called when the
// pipeline closes: finish what is in flight, flush, release).
//
// The package sinktest checks a sink against this contract.
package sink

import (
	"context"
	"errors"

	"github.com/fanoutbridge/bridge/schema"
)

// Row is one normalized row: column name to value, typed per its column
// (see schema.DataType).
type Row = schema.Row

// Table is a table's schema: name, parent and ordered columns.
type Table = schema.Table

// Batch is one call of a sink: rows of one table.
type Batch struct {
	// ID identifies the batch across retries, redeliveries and restarts.
	// A retry of some of its rows only (see RowErrors) has an id of its
	// own, derived from the batch's and the rows'.
	ID string
	// Table is the rows' table, with every column any row may hold.
	Table Table
	// Rows belong to the call: do not keep them after Write returns.
	Rows []Row
	// Attempt counts the calls with this batch in this process, from 1.
	Attempt int
}

// Sink writes batches.
type Sink interface {
	Write(ctx context.Context, b Batch) error
}

// Func adapts a function to a Sink.
type Func func(ctx context.Context, b Batch) error

// Write calls f.
func (f Func) Write(ctx context.Context, b Batch) error { return f(ctx, b) }

// Connector is a sink that connects, or checks its settings against the far
// side, before the first batch. An error stops the pipeline from starting.
type Connector interface {
	Connect(ctx context.Context, env Env) error
}

// Closer is a sink that holds something to release. Close finishes the
// writes in flight (a sink that buffers flushes here), then releases; it
// returns when done or when ctx ends.
type Closer interface {
	Close(ctx context.Context) error
}

// Env is what the pipeline hands a sink when it connects.
type Env struct {
	Pipeline    string
	Destination string
	// Shared is a key-value store that every process serving this
	// destination sees (a JetStream KV bucket on the pipeline's NATS), for
	// state the workers must agree on, such as a rate limit. Keys are
	// private to the destination. nil when the pipeline has none.
	Shared KV
}

// KV is a shared key-value store with compare-and-set. Keys are dot-free
// tokens of letters, digits, '-' and '_'.
type KV interface {
	// Get returns the value and its revision, or ErrNotFound.
	Get(ctx context.Context, key string) (value []byte, revision uint64, err error)
	// Create stores value if key does not exist, else ErrRevisionMismatch.
	Create(ctx context.Context, key string, value []byte) (revision uint64, err error)
	// Update stores value if key is still at revision, else
	// ErrRevisionMismatch.
	Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error)
}

var (
	// ErrNotFound is returned by KV.Get for a missing key.
	ErrNotFound = errors.New("sink: key not found")
	// ErrRevisionMismatch is returned by KV.Create and KV.Update when the
	// key moved on: read it again and retry.
	ErrRevisionMismatch = errors.New("sink: key revision mismatch")
)

type batchKey struct{}

// WithBatchID returns ctx carrying a batch id (bridge does this for every
// call).
func WithBatchID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, batchKey{}, id)
}

// BatchID returns the id of the batch being delivered from a call's
// context; "" elsewhere.
func BatchID(ctx context.Context) string {
	id, _ := ctx.Value(batchKey{}).(string)
	return id
}
