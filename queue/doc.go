// Package queue carries batches over NATS JetStream: it starts the embedded
// server (one process per data directory runs it; the others join it, see
// OpenEmbedded) or connects to an external one, lays out one stream per pipeline with
// one subject per table, publishes batches with de-duplication (and through the
// Object Store when a batch is larger than the server's max payload), hands
// them to durable pull consumers and keeps the dead-letter stream.
//
// Layout for pipeline P with subject prefix X (default "bridge"):
//
//	stream  BRIDGE_<P>       subjects X.<P>.tables.<token>  one message per batch
//	stream  BRIDGE_<P>_DLQ   subjects X.<P>.dlq.<token>     dead letters
//	object  BRIDGE_<P>_OBJ                                  batches over max payload
//
// where <token> is Token(table name): a NATS-safe encoding of any table name.
// On a cluster every stream and bucket of a pipeline keeps Config.Replicas
// copies (see ErrReplicas for what a server refuses).
package queue
