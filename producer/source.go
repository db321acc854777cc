package producer

import (
	"context"

	"github.com/fanoutbridge/bridge/sink"
)

// Record is one item a Source read: one JSON value.
type Record struct {
	// Data is the item as JSON (an object, usually).
	Data []byte
	// Table routes the item; "" leaves it to the run's table (TableName,
	// TableNameFunc).
	Table string
	// Where says where the record came from, for the error of a bad record
	// ("partition 1 offset 52").
	Where string
}

// Source is a pull-style input that a producer loop serves the same way as
// files and stdin: streams (Kafka topics, NATS subjects, HTTP ingest) and
// anything else that hands out records.
//
// The producer calls Read and Commit from one goroutine, never at once. It
// calls Commit only once every record Read returned before is stored in the
// pipeline's stream (its batches cut and acknowledged by the server), so a
// source that commits its position there (Kafka offsets, JetStream acks,
// HTTP answers) never loses a record to a crash: what was read and not
// committed is read again.
type Source interface {
	// Read returns the next records, waiting until some arrive or ctx
	// ends (then it returns ctx's error, or nil and no records). io.EOF
	// ends a finite source, with or after its last records.
	Read(ctx context.Context) ([]Record, error)
	// Commit marks every record Read returned so far as stored.
	Commit(ctx context.Context) error
}

// Opener is a Source that connects, or reads where it stands, before the
// first Read. Env.Cursors is where a source without a position store of its
// own keeps one (the pipeline's state bucket, compare-and-set).
type Opener interface {
	Open(ctx context.Context, env Env) error
}

// Closer is a Source that holds something to release after the last
// Commit.
type Closer interface {
	Close(ctx context.Context) error
}

// Env is what a producer hands a Source when it opens.
type Env struct {
	Pipeline string
	// Cursors is a compare-and-set store in the pipeline's state, shared by
	// every producer of the pipeline: keys are the source's to choose.
	Cursors sink.KV
}
