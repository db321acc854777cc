package state

import (
	"context"
	"time"

	"github.com/fanoutbridge/bridge/queue"
)

// Latency is how long a destination's batches waited from being stored in
// the stream to their first call, over a window of recent calls, as one
// worker last reported it.
type Latency struct {
	P50     time.Duration `json:"p50"`
	P99     time.Duration `json:"p99"`
	Max     time.Duration `json:"max"`
	Calls   int           `json:"calls"` // in the window
	Updated time.Time     `json:"updated"`
}

func latencyKey(dest string) string { return "latency." + queue.Token(dest) }

// Latency returns what was last saved for dest (zero when nothing was).
func (s *Store) Latency(ctx context.Context, dest string) (Latency, error) {
	var l Latency
	_, err := s.get(ctx, latencyKey(dest), &l)
	return l, err
}

// SaveLatency stores dest's latency summary (the last writer wins).
func (s *Store) SaveLatency(ctx context.Context, dest string, l Latency) error {
	return s.put(ctx, latencyKey(dest), l)
}
