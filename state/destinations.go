package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fanoutbridge/bridge/queue"
)

// Member is a destination of the pipeline, as recorded when it was added or
// last opened. Its durable consumer is the server's record of where it
// stands; this is what producers and status need to know of it.
type Member struct {
	Name      string    `json:"name"`
	Added     time.Time `json:"added"`
	Updated   time.Time `json:"updated"`
	BatchRows int       `json:"batch_rows"` // rows per call (per load file in file mode)
	FileMode  bool      `json:"file_mode,omitempty"`
	Format    string    `json:"format,omitempty"`
	Strategy  string    `json:"strategy,omitempty"`
	Backfill  bool      `json:"backfill,omitempty"`
}

func memberKey(name string) string { return "destinations." + queue.Token(name) }

// SaveMember records a destination, keeping the time it was first added.
func (s *Store) SaveMember(ctx context.Context, m Member) error {
	var old Member
	if rev, err := s.get(ctx, memberKey(m.Name), &old); err != nil {
		return err
	} else if rev > 0 && !old.Added.IsZero() {
		m.Added = old.Added
	}
	m.Updated = time.Now().UTC()
	if m.Added.IsZero() {
		m.Added = m.Updated
	}
	return s.put(ctx, memberKey(m.Name), m)
}

// Members returns the recorded destinations.
func (s *Store) Members(ctx context.Context) ([]Member, error) {
	keys, err := s.keys(ctx, "destinations.")
	if err != nil {
		return nil, err
	}
	var out []Member
	for _, k := range keys {
		var m Member
		if rev, err := s.get(ctx, k, &m); err != nil {
			return out, err
		} else if rev > 0 {
			out = append(out, m)
		}
	}
	return out, nil
}

// RemoveMember forgets a destination, and where its batches left part-way
// stood.
func (s *Store) RemoveMember(ctx context.Context, name string) error {
	if err := s.kv.Delete(ctx, memberKey(name)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("state: delete %s: %w", memberKey(name), err)
	}
	if err := s.kv.Purge(ctx, orderKey(name)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("state: delete %s: %w", orderKey(name), err)
	}
	keys, err := s.keys(ctx, positionPrefix(name))
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.kv.Purge(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("state: delete %s: %w", k, err)
		}
	}
	return nil
}

// keys returns the bucket's keys that start with prefix.
func (s *Store) keys(ctx context.Context, prefix string) ([]string, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("state: list: %w", err)
	}
	var out []string
	for k := range lister.Keys() {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out, nil
}

func positionPrefix(dest string) string { return "positions." + queue.Token(dest) + "." }

// Positions keeps, for one destination, which part of a batch comes next when
// the batch was left part-way. It implements consumer.Positions.
type Positions struct {
	s    *Store
	dest string
}

// Positions returns the part positions of dest.
func (s *Store) Positions(dest string) *Positions { return &Positions{s: s, dest: dest} }

func (p *Positions) key(batchID string) string { return positionPrefix(p.dest) + queue.Token(batchID) }

// Position returns the part of the batch to start with (0 if none noted).
func (p *Positions) Position(ctx context.Context, batchID string) (int, error) {
	e, err := p.s.kv.Get(ctx, p.key(batchID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("state: get position: %w", err)
	}
	n, err := strconv.Atoi(string(e.Value()))
	if err != nil {
		return 0, fmt.Errorf("state: position of %s: %w", batchID, err)
	}
	return n, nil
}

// SetPosition notes that part comes next for the batch.
func (p *Positions) SetPosition(ctx context.Context, batchID string, part int) error {
	if _, err := p.s.kv.Put(ctx, p.key(batchID), []byte(strconv.Itoa(part))); err != nil {
		return fmt.Errorf("state: put position: %w", err)
	}
	return nil
}

// ClearPosition forgets the batch's position once it is done.
func (p *Positions) ClearPosition(ctx context.Context, batchID string) error {
	if err := p.s.kv.Purge(ctx, p.key(batchID)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("state: delete position: %w", err)
	}
	return nil
}

func orderKey(dest string) string { return "order." + queue.Token(dest) }

// Order keeps, for one TableSequential destination, the batch each load and
// table expects next when a worker stopped with batches handed back. It
// implements consumer.Order.
type Order struct {
	s    *Store
	dest string
}

// Order returns the order note of the destination dest.
func (s *Store) Order(dest string) *Order { return &Order{s: s, dest: dest} }

// TakeExpected returns the note and deletes it.
func (o *Order) TakeExpected(ctx context.Context) (map[string]int, error) {
	e, err := o.s.kv.Get(ctx, orderKey(o.dest))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: get %s: %w", orderKey(o.dest), err)
	}
	var next map[string]int
	if err := json.Unmarshal(e.Value(), &next); err != nil {
		return nil, fmt.Errorf("state: %s: %w", orderKey(o.dest), err)
	}
	if err := o.s.kv.Purge(ctx, orderKey(o.dest)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("state: delete %s: %w", orderKey(o.dest), err)
	}
	return next, nil
}

// SetExpected replaces the note; an empty one is deleted.
func (o *Order) SetExpected(ctx context.Context, next map[string]int) error {
	if len(next) == 0 {
		if err := o.s.kv.Purge(ctx, orderKey(o.dest)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("state: delete %s: %w", orderKey(o.dest), err)
		}
		return nil
	}
	b, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("state: %s: %w", orderKey(o.dest), err)
	}
	if _, err := o.s.kv.Put(ctx, orderKey(o.dest), b); err != nil {
		return fmt.Errorf("state: put %s: %w", orderKey(o.dest), err)
	}
	return nil
}
