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
	payload, err := d.Payload(ctx)
	if err != nil {
		return nil, nil, err
	}
	format := batcher.Format(d.Format)
	table, rows, err := batcher.Decode(format, payload)
	if err != nil {
		return nil, nil, consumer.Terminal(fmt.Errorf("decode batch %s: %w", d.MsgID, err))
	}
	dest := h.p.dest
	if dest.file != nil {
		return h.prepareFile(d, format, payload, table)
	}
	first := true
	do := func(ctx context.Context) error {
		items, t := rows, table
		if !first {
			// A failed attempt may have changed the rows: hand over fresh ones.
			t, items, err = batcher.Decode(format, payload)
			if err != nil {
				return consumer.Terminal(err)
			}
		}
		first = false
		return dest.fn(withBatchID(ctx, d.MsgID), items, *t)
	}
	return do, nil, nil
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
