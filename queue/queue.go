package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config names a pipeline's streams.
type Config struct {
	// Pipeline names the streams and buckets (see ValidPipelineName).
	Pipeline string
	// Prefix is the first subject token; default "bridge".
	Prefix string
	// Replicas is how many copies of every stream and bucket of the
	// pipeline a cluster keeps (1 to MaxReplicas). 0 keeps what an
	// existing pipeline has, and is 1 for a new one. A server that is not
	// part of a cluster keeps one copy: more is an error wrapping
	// ErrReplicas.
	Replicas int
	// DuplicateWindow is how long a batch's Nats-Msg-Id de-duplicates a
	// republish; default 2 minutes. The server keeps every id of the
	// window in memory: keep it short.
	DuplicateWindow time.Duration
	// Retention, when set, keeps every batch that long, acknowledged or
	// not, so a destination added later can backfill; 0 (the default)
	// removes a batch as soon as every destination has acknowledged it.
	Retention time.Duration
}

// Queue is one pipeline's streams on one connection.
type Queue struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	cfg       Config
	stream    jetstream.Stream
	maxInline int
	replicas  int // resolved: see Config.Replicas

	objMu sync.Mutex
	obj   jetstream.ObjectStore
}

// Open creates (or updates) the pipeline's stream and dead-letter stream,
// and gives every stream and bucket of the pipeline that exists its
// replicas (see Config.Replicas). Lookup opens them without creating or
// changing anything.
func Open(ctx context.Context, nc *nats.Conn, config Config) (*Queue, error) {
	q, err := newQueue(nc, config)
	if err != nil {
		return nil, err
	}
	if err := q.resolveReplicas(ctx); err != nil {
		return nil, err
	}
	cfg := q.cfg
	sc := jetstream.StreamConfig{
		Name:        q.StreamName(),
		Description: "bridge pipeline " + cfg.Pipeline + ": one message per batch, one subject per table",
		Subjects:    []string{q.subjectBase("tables") + ".>"},
		Retention:   jetstream.InterestPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    q.replicas,
		Duplicates:  cfg.DuplicateWindow,
		Discard:     jetstream.DiscardOld,
	}
	if cfg.Retention > 0 {
		sc.Retention, sc.MaxAge = jetstream.LimitsPolicy, cfg.Retention
	}
	var had int
	if q.stream, had, err = q.ensureStream(ctx, sc); err != nil {
		return nil, err
	}
	if had != 0 && had != q.replicas && q.clustered() {
		if err := q.refreshConsumers(ctx); err != nil {
			return nil, err
		}
	}
	_, _, err = q.ensureStream(ctx, jetstream.StreamConfig{
		Name:        q.DLQStreamName(),
		Description: "bridge pipeline " + cfg.Pipeline + ": dead-lettered batches",
		Subjects:    []string{q.subjectBase("dlq") + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    q.replicas,
	})
	if err != nil {
		return nil, err
	}
	// The ledger and the Object Store are made when first needed; when
	// they exist, they follow the pipeline's replicas now.
	for _, name := range []string{q.LedgerStreamName(), q.ObjectStream()} {
		if err := q.EnsureReplicas(ctx, name); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// newQueue applies cfg's defaults; it does not touch the server.
func newQueue(nc *nats.Conn, cfg Config) (*Queue, error) {
	if err := ValidPipelineName(cfg.Pipeline); err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "bridge"
	}
	if cfg.Replicas < 0 || cfg.Replicas > MaxReplicas {
		return nil, fmt.Errorf("%w %d: want 1 to %d", ErrReplicas, cfg.Replicas, MaxReplicas)
	}
	if cfg.DuplicateWindow == 0 {
		cfg.DuplicateWindow = 2 * time.Minute
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	q := &Queue{nc: nc, js: js, cfg: cfg, replicas: max(cfg.Replicas, 1)}
	// Keep room for headers under the server's max payload.
	q.maxInline = int(nc.MaxPayload()) - 16<<10
	return q, nil
}

// JetStream returns the JetStream context, for the state package.
func (q *Queue) JetStream() jetstream.JetStream { return q.js }

// Pipeline returns the pipeline name.
func (q *Queue) Pipeline() string { return q.cfg.Pipeline }

// StreamName is the batches stream: BRIDGE_<pipeline>.
func (q *Queue) StreamName() string { return "BRIDGE_" + q.cfg.Pipeline }

// DLQStreamName is the dead-letter stream: BRIDGE_<pipeline>_DLQ.
func (q *Queue) DLQStreamName() string { return q.StreamName() + "_DLQ" }

// ObjectBucket is the Object Store bucket for large batches.
func (q *Queue) ObjectBucket() string { return q.StreamName() + "_OBJ" }

// ObjectStream is the stream that holds the Object Store bucket.
func (q *Queue) ObjectStream() string { return "OBJ_" + q.ObjectBucket() }

// StateBucket is the key-value bucket the state package uses.
func (q *Queue) StateBucket() string { return q.StreamName() + "_STATE" }

// LeaseBucket is the name of the pipeline's KV bucket of leases (see
// state.Lease).
func (q *Queue) LeaseBucket() string { return q.StreamName() + "_LEASE" }

func (q *Queue) subjectBase(kind string) string {
	return q.cfg.Prefix + "." + q.cfg.Pipeline + "." + kind
}

// TableSubject is the subject of a table's batches.
func (q *Queue) TableSubject(table string) string {
	return q.subjectBase("tables") + "." + Token(table)
}

// DLQSubject is the subject of a table's dead letters.
func (q *Queue) DLQSubject(table string) string {
	return q.subjectBase("dlq") + "." + Token(table)
}

// LastSeq returns the stream's last sequence number.
func (q *Queue) LastSeq(ctx context.Context) (uint64, error) {
	ctx, cancel := apiCtx(ctx)
	defer cancel()
	info, err := q.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

// objects returns the Object Store bucket, creating it on first use. It is
// safe for concurrent use.
func (q *Queue) objects(ctx context.Context) (jetstream.ObjectStore, error) {
	q.objMu.Lock()
	defer q.objMu.Unlock()
	if q.obj != nil {
		return q.obj, nil
	}
	obj, err := q.js.ObjectStore(ctx, q.ObjectBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obj, err = q.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      q.ObjectBucket(),
			Description: "bridge: batches larger than the server's max payload",
			Storage:     jetstream.FileStorage,
			Replicas:    q.replicas,
		})
		if err != nil {
			return nil, fmt.Errorf("object store %s: %w", q.ObjectBucket(), q.ExplainReplicas(q.ObjectStream(), 0, err))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", q.ObjectBucket(), err)
	}
	q.obj = obj
	return obj, nil
}

// Drop deletes every stream and bucket of the pipeline: batches, dead letters,
// large objects and state. It is for tests and `bridge drop`.
func (q *Queue) Drop(ctx context.Context) error {
	var errs []error
	for _, s := range []string{q.StreamName(), q.DLQStreamName(), q.LedgerStreamName(), q.ObjectStream(), "KV_" + q.StateBucket(), "KV_" + q.LeaseBucket()} {
		if err := q.js.DeleteStream(ctx, s); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, fmt.Errorf("delete %s: %w", s, err))
		}
	}
	return errors.Join(errs...)
}

// apiTimeout bounds one JetStream API call, so a request lost in a server
// restart fails and is tried again instead of waiting for the caller's
// deadline.
const apiTimeout = 5 * time.Second

func apiCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, apiTimeout)
}

// headerSafe makes an error text fit in a header value: one line, bounded.
func headerSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 4096 {
		s = s[:4096] + "..."
	}
	return s
}
