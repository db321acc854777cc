package queue

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerState is where one destination's consumer stands.
type ConsumerState struct {
	Name        string
	Destination string
	Pending     uint64 // batches not yet delivered
	InFlight    int    // delivered, not yet acknowledged
	Redelivered int
	AckFloor    uint64
	Created     time.Time
}

// StreamState is what the pipeline's streams hold.
type StreamState struct {
	Batches     uint64            // batches stored (not yet acknowledged by every destination)
	Bytes       uint64            // their size
	PerTable    map[string]uint64 // stored batches per table token
	DeadLetters map[string]uint64 // dead letters per table token
	Consumers   []ConsumerState
}

// State reports what the streams hold and where each consumer stands.
func (q *Queue) State(ctx context.Context) (StreamState, error) {
	var st StreamState
	info, err := q.stream.Info(ctx)
	if err != nil {
		return st, fmt.Errorf("stream %s: %w", q.StreamName(), err)
	}
	st.Batches, st.Bytes = info.State.Msgs, info.State.Bytes
	if st.PerTable, err = q.subjectCounts(ctx, q.StreamName(), "tables"); err != nil {
		return st, err
	}
	if st.DeadLetters, err = q.subjectCounts(ctx, q.DLQStreamName(), "dlq"); err != nil {
		return st, err
	}
	st.Consumers, err = q.consumers(ctx)
	return st, err
}

// consumers returns where every destination's consumer stands.
func (q *Queue) consumers(ctx context.Context) ([]ConsumerState, error) {
	var out []ConsumerState
	names := q.stream.ListConsumers(ctx)
	for ci := range names.Info() {
		dest := destinationOf(ci.Config.Description)
		if dest == "" {
			continue
		}
		out = append(out, ConsumerState{
			Name:        ci.Name,
			Destination: dest,
			Pending:     ci.NumPending,
			InFlight:    ci.NumAckPending,
			Redelivered: ci.NumRedelivered,
			AckFloor:    ci.AckFloor.Stream,
			Created:     ci.Created,
		})
	}
	if err := names.Err(); err != nil {
		return out, fmt.Errorf("list consumers of %s: %w", q.StreamName(), err)
	}
	return out, nil
}

// subjectCounts returns message counts per table token of a stream.
func (q *Queue) subjectCounts(ctx context.Context, stream, kind string) (map[string]uint64, error) {
	s, err := q.js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	base := q.subjectBase(kind) + "."
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(base+">"))
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	out := make(map[string]uint64, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		out[strings.TrimPrefix(subj, base)] = n
	}
	return out, nil
}

// TableOfToken returns the table name a subject token stands for; a hashed
// token (long names) is returned as it is.
func TableOfToken(tok string) string {
	if !strings.HasPrefix(tok, "_") {
		return tok
	}
	if strings.HasPrefix(tok, "_b") {
		if b, err := b32.DecodeString(tok[2:]); err == nil {
			return string(b)
		}
	}
	return tok
}
