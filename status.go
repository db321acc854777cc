package bridge

import (
	"context"
	"slices"

	"github.com/fanoutbridge/bridge/queue"
	"github.com/fanoutbridge/bridge/state"
)

// Status is what a pipeline holds: batches pending per table, where every
// destination stands, dead letters per table and the recent loads.
type Status struct {
	Pipeline string
	// Batches and Bytes are stored batches not yet acknowledged by every
	// destination.
	Batches uint64
	Bytes   uint64
	// PendingBatches and DeadLetters count per table.
	PendingBatches map[string]uint64
	DeadLetters    map[string]uint64
	Destinations   []DestinationStatus
	// DeadLettersOf counts the dead letters in the dead-letter stream per
	// destination, of members and of destinations removed since.
	DeadLettersOf map[string]uint64
	// Loads are the most recent loads, oldest first (at most 10).
	Loads []state.Load
}

// DestinationStatus is where one destination stands.
type DestinationStatus struct {
	Name        string
	Pending     uint64 // batches not yet delivered to it
	InFlight    int    // delivered, not yet acknowledged (being called or retried)
	Redelivered int
	Delivered   state.Progress // running totals across loads (Delivered.DeadLetters: every batch it ever dead-lettered)
	// DeadLetters counts its dead letters in the dead-letter stream now:
	// replayed and purged ones are gone from it.
	DeadLetters uint64
	// Latency is how long its recent batches waited from being stored to
	// their first call (p50, p99, max), as a worker last saved it: at the
	// end of a run, and every 10 s while a worker serves.
	Latency state.Latency
}

// Status reports what the pipeline holds. It works for every destination,
// built-in or yours, and for pipelines opened with Open.
func (p *Pipeline) Status(ctx context.Context) (Status, error) {
	st, err := p.q.State(ctx)
	if err != nil {
		return Status{}, err
	}
	s := Status{
		Pipeline: p.name, Batches: st.Batches, Bytes: st.Bytes,
		PendingBatches: tableKeys(st.PerTable), DeadLetters: tableKeys(st.DeadLetters),
	}
	dead, err := p.q.DeadCounts(ctx)
	if err != nil {
		return s, err
	}
	s.DeadLettersOf = dead
	for _, c := range st.Consumers {
		ds := DestinationStatus{Name: c.Destination, Pending: c.Pending, InFlight: c.InFlight, Redelivered: c.Redelivered,
			DeadLetters: dead[c.Destination]}
		if ds.Latency, err = p.st.Latency(ctx, c.Destination); err != nil {
			return s, err
		}
		if ds.Delivered, err = p.st.Progress(ctx, c.Destination); err != nil {
			return s, err
		}
		s.Destinations = append(s.Destinations, ds)
	}
	loads, err := p.st.Loads(ctx)
	if err != nil {
		return s, err
	}
	s.Loads = loads[max(0, len(loads)-10):]
	slices.SortFunc(s.Destinations, func(a, b DestinationStatus) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return s, nil
}

func tableKeys(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for tok, n := range m {
		out[queue.TableOfToken(tok)] = n
	}
	return out
}
