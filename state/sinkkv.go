package state

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fanoutbridge/bridge/queue"
	"github.com/fanoutbridge/bridge/sink"
)

// SinkKV is the shared store (sink.Env.Shared) of a destination's sink: the
// keys sink.<destination>.<key> of the state bucket.
func (s *Store) SinkKV(dest string) sink.KV {
	return &sinkKV{kv: s.kv, prefix: "sink." + queue.Token(dest) + "."}
}

type sinkKV struct {
	kv     jetstream.KeyValue
	prefix string
}

func (k *sinkKV) key(key string) string { return k.prefix + queue.Token(key) }

func (k *sinkKV) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := k.kv.Get(ctx, k.key(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("shared key %q: %w", key, sink.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("shared key %q: %w", key, err)
	}
	return e.Value(), e.Revision(), nil
}

func (k *sinkKV) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := k.kv.Create(ctx, k.key(key), value)
	return rev, k.casErr(key, err)
}

func (k *sinkKV) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	rev, err := k.kv.Update(ctx, k.key(key), value, revision)
	return rev, k.casErr(key, err)
}

func (k *sinkKV) casErr(key string, err error) error {
	switch {
	case err == nil:
		return nil
	case isConflict(err):
		return fmt.Errorf("shared key %q: %w", key, sink.ErrRevisionMismatch)
	default:
		return fmt.Errorf("shared key %q: %w", key, err)
	}
}

// CursorKV is where sources keep their positions (producer.Env.Cursors):
// the keys cursor.<key> of the state bucket.
func (s *Store) CursorKV() sink.KV { return &sinkKV{kv: s.kv, prefix: "cursor."} }
