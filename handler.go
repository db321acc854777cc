package bridge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/consumer"
	"github.com/fanoutbridge/bridge/queue"
	"github.com/fanoutbridge/bridge/schema"
)

// handler turns deliveries into calls of the destination function.
type handler struct {
	p *Pipeline
}

var _ consumer.Handler = handler{}

func (h handler) Prepare(ctx context.Context, d *queue.Delivery) (func(context.Context) error, func(), error) {
	dest := h.p.dest
	if dest.fn != nil && d.NumDelivered == 1 {
		if b, ok := h.p.cache.take(d.MsgID); ok {
			return h.call(d, b.table, b.rows, func() ([]byte, error) { return d.Payload(ctx) }), nil, nil
		}
	}
	payload, err := d.Payload(ctx)
	if err != nil {
		return nil, nil, err
	}
	format := batcher.Format(d.Format)
	if dest.file != nil {
		table, err := batcher.DecodeTable(format, payload)
		if err != nil {
			return nil, nil, consumer.Terminal(fmt.Errorf("decode batch %s: %w", d.MsgID, err))
		}
		return h.prepareFile(d, format, payload, table)
	}
	table, rows, err := batcher.Decode(format, payload)
	if err != nil {
		return nil, nil, consumer.Terminal(fmt.Errorf("decode batch %s: %w", d.MsgID, err))
	}
	return h.call(d, table, rows, func() ([]byte, error) { return payload, nil }), nil, nil
}

// call returns the attempts of a batch: the first gets rows, later ones
// rows decoded afresh from the payload, since a failed attempt may have
// changed them.
func (h handler) call(d *queue.Delivery, table *schema.Table, rows []Row, payload func() ([]byte, error)) func(context.Context) error {
	first := true
	return func(ctx context.Context) error {
		items, t := rows, table
		if !first {
			p, err := payload()
			if err != nil {
				return err
			}
			if t, items, err = batcher.Decode(batcher.Format(d.Format), p); err != nil {
				return consumer.Terminal(err)
			}
		}
		first = false
		return h.p.dest.fn(withBatchID(ctx, d.MsgID), items, *t)
	}
}

func (h handler) prepareFile(d *queue.Delivery, format batcher.Format, payload []byte, table *schema.Table) (func(context.Context) error, func(), error) {
	data, err := batcher.LoadFile(format, payload)
	if err != nil {
		return nil, nil, consumer.Terminal(fmt.Errorf("load file for batch %s: %w", d.MsgID, err))
	}
	dir := filepath.Join(h.p.files, queue.Token(d.Table))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("load file dir: %w", err)
	}
	path := filepath.Join(dir, d.MsgID+format.Ext())
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return nil, nil, fmt.Errorf("write load file: %w", err)
	}
	fn := h.p.dest.file
	do := func(ctx context.Context) error {
		return fn(withBatchID(ctx, d.MsgID), path, *table)
	}
	return do, func() { _ = os.Remove(path) }, nil
}
