package batcher

import (
	"time"

	"github.com/fanoutbridge/bridge/schema"
)

// Batch is a run of rows of one table, cut by a Batcher.
type Batch struct {
	// Table is a snapshot of the table's schema when the batch was cut; it
	// covers every column of every row in the batch.
	Table *schema.Table
	Rows  []schema.Row
	// Seq numbers the batches of one table in one load, from 1.
	Seq int
	// First is when the batch's oldest row was added.
	First time.Time
}

// Policy says when a table's open batch is cut: at Rows rows, at Bytes bytes
// (estimated from the values), or once its oldest row is Period old,
// whichever comes first (Benthos' count, byte_size and period). Zero Bytes
// and Period do not cut.
type Policy struct {
	Rows   int
	Bytes  int
	Period time.Duration
}

// Batcher cuts rows into batches of exactly Size rows per table; Flush emits
// the remainder of each table. It is not safe for concurrent use.
type Batcher struct {
	size   int
	policy Policy
	emit   func(Batch) error
	open   map[*schema.Table]*pending
	order  []*schema.Table
}

type pending struct {
	rows  []schema.Row
	seq   int
	bytes int
	first time.Time // when the oldest row came
}

// New returns a Batcher that calls emit with every full batch of size rows.
// size must be at least 1.
func New(size int, emit func(Batch) error) *Batcher {
	if size < 1 {
		size = 1
	}
	return &Batcher{size: size, policy: Policy{Rows: size}, emit: emit, open: make(map[*schema.Table]*pending)}
}

// NewPolicy returns a Batcher that cuts batches by p (p.Rows at least 1).
// With a Period, call FlushDue as time passes.
func NewPolicy(p Policy, emit func(Batch) error) *Batcher {
	b := New(p.Rows, emit)
	b.policy = p
	b.policy.Rows = b.size
	return b
}

// FlushDue emits the open batches whose oldest row came Period or more
// before now, and returns when the next one falls due (0: none open).
func (b *Batcher) FlushDue(now time.Time) (time.Duration, error) {
	if b.policy.Period <= 0 {
		return 0, nil
	}
	var next time.Duration
	for _, t := range b.order {
		p := b.open[t]
		if len(p.rows) == 0 {
			continue
		}
		if age := now.Sub(p.first); age >= b.policy.Period {
			if err := b.cut(t, p); err != nil {
				return 0, err
			}
		} else if left := b.policy.Period - age; next == 0 || left < next {
			next = left
		}
	}
	return next, nil
}

// RowBytes estimates a row's encoded size: its keys and values as text.
func RowBytes(r schema.Row) int {
	n := 2
	for k, v := range r {
		n += len(k) + 4
		switch v := v.(type) {
		case string:
			n += len(v) + 2
		case []byte:
			n += len(v)*4/3 + 2
		case map[string]any, []any:
			n += 64
		default:
			n += 8
		}
	}
	return n
}

// Add appends row to its table's open batch and emits the batch when full. t
// is the live table (its columns may grow); the batch gets a snapshot.
func (b *Batcher) Add(t *schema.Table, row schema.Row) error {
	p := b.open[t]
	if p == nil {
		p = &pending{rows: make([]schema.Row, 0, min(b.size, 4096))}
		b.open[t] = p
		b.order = append(b.order, t)
	}
	if len(p.rows) == 0 {
		p.first = time.Now()
	}
	p.rows = append(p.rows, row)
	if b.policy.Bytes > 0 {
		p.bytes += RowBytes(row)
		if p.bytes >= b.policy.Bytes {
			return b.cut(t, p)
		}
	}
	if len(p.rows) >= b.size {
		return b.cut(t, p)
	}
	return nil
}

func (b *Batcher) cut(t *schema.Table, p *pending) error {
	p.seq++
	batch := Batch{Table: t.Snapshot(), Rows: p.rows, Seq: p.seq, First: p.first}
	p.rows = make([]schema.Row, 0, min(b.size, 4096))
	p.bytes = 0
	return b.emit(batch)
}

// Flush emits every open, non-empty batch, tables in the order first seen.
func (b *Batcher) Flush() error {
	for _, t := range b.order {
		if p := b.open[t]; len(p.rows) > 0 {
			if err := b.cut(t, p); err != nil {
				return err
			}
		}
	}
	return nil
}
