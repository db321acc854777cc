package batcher

import (
	"fmt"
	"time"

	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// Batch is a run of rows of one table, cut by a Batcher.
type Batch struct {
	// Table is a snapshot of the table's schema when the batch was cut; it
	// covers every column of every row in the batch.
	Table *schema.Table
	// Rows or Vals holds the rows (the other is empty): maps, or values by
	// column index of Table (see schema.Vals), as they were added.
	Rows []schema.Row
	Vals []schema.Vals
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
	vals  []schema.Vals // instead of rows once a row came as values
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
		if p.len() == 0 {
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
		n += len(k) + 4 + valueBytes(v)
	}
	return n
}

// valueBytes estimates the encoded size of a value.
func valueBytes(v any) int {
	switch v := v.(type) {
	case string:
		return len(v) + 2
	case []byte:
		return len(v)*4/3 + 2
	case map[string]any, []any:
		return 64
	case jsonv.Raw:
		return len(v)
	}
	return 8
}

// ValsBytes is RowBytes for a row of t given as values by column index.
func ValsBytes(t *schema.Table, vals schema.Vals) int {
	n := 2
	for j, v := range vals {
		if v == nil {
			continue
		}
		n += len(t.Columns[j].Name) + 4 + valueBytes(v)
	}
	return n
}

func (p *pending) len() int { return len(p.rows) + len(p.vals) }

// Add appends row to its table's open batch and emits the batch when full. t
// is the live table (its columns may grow); the batch gets a snapshot.
func (b *Batcher) Add(t *schema.Table, row schema.Row) error {
	p := b.pending(t)
	if len(p.vals) == 0 {
		if p.rows == nil {
			p.rows = make([]schema.Row, 0, min(b.size, 4096))
		}
		p.rows = append(p.rows, row)
	} else if vals, ok := schema.ValsOf(t, row); ok {
		p.vals = append(p.vals, vals)
	} else {
		// Not a row of t: the batch goes on as maps, for the encoder to
		// say so.
		for _, v := range p.vals {
			p.rows = append(p.rows, RowOf(t, v))
		}
		p.vals = nil
		p.rows = append(p.rows, row)
	}
	if b.policy.Bytes > 0 {
		p.bytes += RowBytes(row)
	}
	return b.added(t, p)
}

// RowOf is schema.RowOf, with the json values that vals holds as
// jsonv.Raw text parsed into the objects and lists they stand for: a row
// map never holds Raw.
func RowOf(t *schema.Table, vals schema.Vals) schema.Row {
	row := schema.RowOf(t, vals)
	parseRaw(row, t, vals, nil)
	return row
}

// parseRaw puts into row, for each value of vals that is jsonv.Raw, what it
// stands for, parsed by box (nil: by a parser of its own). Raw is
// canonical JSON that a parser took apart once already: it parses.
func parseRaw(row schema.Row, t *schema.Table, vals schema.Vals, box *jsonv.Boxer) {
	for j, v := range vals {
		r, ok := v.(jsonv.Raw)
		if !ok {
			continue
		}
		var x any
		var err error
		if box != nil {
			x, err = box.ParseString(string(r))
		} else {
			x, err = jsonv.ParseString(string(r))
		}
		if err != nil {
			panic(fmt.Sprintf("batcher: column %q: raw JSON that does not parse: %v", t.Columns[j].Name, err))
		}
		row[t.Columns[j].Name] = x
	}
}

// AddVals is Add for a row given as its values by column index of t (see
// schema.Vals). The batch keeps vals.
func (b *Batcher) AddVals(t *schema.Table, vals schema.Vals) error {
	p := b.pending(t)
	if len(p.rows) == 0 {
		if p.vals == nil {
			p.vals = make([]schema.Vals, 0, min(b.size, 4096))
		}
		p.vals = append(p.vals, vals)
	} else {
		p.rows = append(p.rows, RowOf(t, vals))
	}
	if b.policy.Bytes > 0 {
		p.bytes += ValsBytes(t, vals)
	}
	return b.added(t, p)
}

// pending returns the open batch of t, with its first row's time set when
// it is empty.
func (b *Batcher) pending(t *schema.Table) *pending {
	p := b.open[t]
	if p == nil {
		p = &pending{}
		b.open[t] = p
		b.order = append(b.order, t)
	}
	if p.len() == 0 {
		p.first = time.Now()
	}
	return p
}

// added cuts p if it is due after a row was added.
func (b *Batcher) added(t *schema.Table, p *pending) error {
	if b.policy.Bytes > 0 && p.bytes >= b.policy.Bytes || p.len() >= b.size {
		return b.cut(t, p)
	}
	return nil
}

func (b *Batcher) cut(t *schema.Table, p *pending) error {
	p.seq++
	batch := Batch{Table: t.Snapshot(), Seq: p.seq, First: p.first}
	if len(p.vals) > 0 {
		batch.Vals, p.vals = p.vals, nil
	} else {
		batch.Rows, p.rows = p.rows, nil
	}
	p.bytes = 0
	return b.emit(batch)
}

// Len returns how many rows the batch holds.
func (b Batch) Len() int { return len(b.Rows) + len(b.Vals) }

// Flush emits every open, non-empty batch, tables in the order first seen.
func (b *Batcher) Flush() error {
	for _, t := range b.order {
		if p := b.open[t]; p.len() > 0 {
			if err := b.cut(t, p); err != nil {
				return err
			}
		}
	}
	return nil
}
