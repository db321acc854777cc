package batcher

import (
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
}

// Batcher cuts rows into batches of exactly Size rows per table; Flush emits
// the remainder of each table. It is not safe for concurrent use.
type Batcher struct {
	size  int
	emit  func(Batch) error
	open  map[*schema.Table]*pending
	order []*schema.Table
}

type pending struct {
	rows []schema.Row
	seq  int
}

// New returns a Batcher that calls emit with every full batch of size rows.
// size must be at least 1.
func New(size int, emit func(Batch) error) *Batcher {
	if size < 1 {
		size = 1
	}
	return &Batcher{size: size, emit: emit, open: make(map[*schema.Table]*pending)}
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
	p.rows = append(p.rows, row)
	if len(p.rows) >= b.size {
		return b.cut(t, p)
	}
	return nil
}

func (b *Batcher) cut(t *schema.Table, p *pending) error {
	p.seq++
	batch := Batch{Table: t.Snapshot(), Rows: p.rows, Seq: p.seq}
	p.rows = make([]schema.Row, 0, min(b.size, 4096))
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
