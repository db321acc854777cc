package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/fanoutbridge/bridge/queue"
)

// Member is a destination of a pipeline: it receives every load published
// while it is a member, whichever process serves it.
type Member struct {
	Name      string
	BatchRows int    // rows per call (per load file in file mode), as last opened
	Format    string // load file format in file mode, else the format it was opened with
	FileMode  bool
	Strategy  string
	Pending   uint64 // batches not yet delivered to it
	InFlight  int    // delivered, not yet acknowledged
}

// Destinations lists the pipeline's member destinations, by name.
func (p *Pipeline) Destinations(ctx context.Context) ([]Member, error) {
	cons, err := p.q.Destinations(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := p.st.Members(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(cons))
	for _, c := range cons {
		m := Member{Name: c.Destination, Pending: c.Pending, InFlight: c.InFlight}
		for _, r := range recs {
			if r.Name == c.Destination {
				m.BatchRows, m.Format, m.FileMode, m.Strategy = r.BatchRows, r.Format, r.FileMode, r.Strategy
			}
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return out, nil
}

// RemoveDestination removes a destination from the pipeline: its consumer,
// its record and its progress notes go, so the stream holds nothing back for
// it any more (batches every other destination has acknowledged are removed,
// large batches' objects too). Its dead letters stay until purged. A
// destination this pipeline object serves cannot be removed through it. It
// returns an error wrapping ErrNoDestination if there is no such member.
func (p *Pipeline) RemoveDestination(ctx context.Context, name string) error {
	for _, dr := range p.dests {
		if dr.dest.name == name {
			return invalid("destination %q is served by this pipeline object; remove it from another (bridge.Open)", name)
		}
	}
	found, err := p.q.RemoveConsumer(ctx, name)
	if err != nil {
		return fmt.Errorf("pipeline %q: remove destination %q: %w", p.name, name, err)
	}
	if err := p.st.RemoveMember(ctx, name); err != nil {
		return fmt.Errorf("pipeline %q: remove destination %q: %w", p.name, name, err)
	}
	if !found {
		return fmt.Errorf("pipeline %q: %w: %q", p.name, ErrNoDestination, name)
	}
	return nil
}

// Backlog is what the stream holds for one destination: what it would get on
// its next run, and what removing it drops for it.
type Backlog struct {
	Batches uint64 // not yet acknowledged by it
	// Rows are those batches' rows. While a run works on the destination it
	// is an upper bound: JetStream tells how many batches a destination has
	// acknowledged out of order, not which, and their rows count here.
	Rows uint64
}

// Backlog returns what the stream holds for the member destination name. It
// returns an error wrapping ErrNoDestination if there is no such member.
func (p *Pipeline) Backlog(ctx context.Context, name string) (Backlog, error) {
	h, err := p.q.Held(ctx, name)
	if errors.Is(err, queue.ErrNotFound) {
		return Backlog{}, fmt.Errorf("pipeline %q: %w: %q", p.name, ErrNoDestination, name)
	}
	if err != nil {
		return Backlog{}, fmt.Errorf("pipeline %q: destination %q: %w", p.name, name, err)
	}
	return Backlog{Batches: h.Batches, Rows: h.Rows}, nil
}
