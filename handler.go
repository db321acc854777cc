package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/consumer"
	"github.com/fanoutbridge/bridge/queue"
	"github.com/fanoutbridge/bridge/schema"
)

// handler turns one destination's deliveries into calls of its function. A
// delivered batch holds the producer's batch; the destination gets it in its
// own batch size (parts of the delivered batch) and, in file mode, its own
// format.
type handler struct {
	p *Pipeline
	d *Destination
}

var _ consumer.Handler = handler{}

func (h handler) Prepare(ctx context.Context, d *queue.Delivery) (consumer.Batch, error) {
	format := batcher.Format(d.Format)
	if h.d.file != nil {
		return h.prepareFile(ctx, d, format)
	}
	b := &rowBatch{h: h, d: d, format: format, size: h.d.cfg.batchSize, resolve: h.p.resolver(ctx)}
	b.payload = func() ([]byte, error) { return d.Payload(ctx) }
	if d.NumDelivered == 1 && d.Target == "" {
		if c, ok := h.p.cache.take(d.MsgID); ok {
			b.table, b.rows = c.table, c.rows
			if c.vals != nil {
				// The producer kept values: the function gets maps.
				if h.d.cfg.reuseRows {
					b.dec = rowDecoders.Get().(*batcher.RowDecoder)
					b.rows = b.dec.Rows(c.table, c.vals)
					b.cached = true
				} else {
					b.rows = make([]Row, len(c.vals))
					for i, v := range c.vals {
						b.rows[i] = batcher.RowOf(c.table, v)
					}
				}
			}
			return b, nil
		}
	}
	payload, err := d.Payload(ctx)
	if err != nil {
		return nil, err
	}
	b.payload = func() ([]byte, error) { return payload, nil }
	if h.d.cfg.reuseRows {
		b.dec = rowDecoders.Get().(*batcher.RowDecoder)
		b.table, b.rows, err = b.dec.Decode(format, payload, b.resolve)
	} else {
		b.table, b.rows, err = batcher.DecodeWith(format, payload, b.resolve)
	}
	if err != nil {
		b.Release()
		return nil, decodeError(d, err)
	}
	return b, nil
}

// decodeError is the error of a batch that did not decode: terminal when
// the payload is wrong, else (its table schema could not be read) worth
// another attempt.
func decodeError(d *queue.Delivery, err error) error {
	err = fmt.Errorf("decode batch %s: %w", d.MsgID, err)
	if errors.Is(err, batcher.ErrFormat) {
		return consumer.Terminal(err)
	}
	return err
}

// partID is the batch id a destination sees for part i of n of a delivered
// batch: the delivered batch's id when it is called whole.
func partID(id string, i, n int) string {
	if n == 1 {
		return id
	}
	return id + ".p" + strconv.Itoa(i+1)
}

// partBounds returns the rows [lo, hi) of part i of rows cut in parts of size.
func partBounds(i, size, rows int) (int, int) {
	return i * size, min((i+1)*size, rows)
}

func partsOf(rows, size int) int {
	return max(1, (rows+size-1)/size)
}

// rowDecoders holds the decoders of ReuseRows destinations between batches.
var rowDecoders = sync.Pool{New: func() any { return new(batcher.RowDecoder) }}

// rowBatch calls a row destination with the rows of a delivered batch, size
// at a time.
type rowBatch struct {
	h       handler
	d       *queue.Delivery
	format  batcher.Format
	size    int
	table   *schema.Table
	rows    []Row
	payload func() ([]byte, error)
	resolve batcher.Resolver
	called  []bool // parts called before: a failed call may have changed their rows
	// sel holds, for a part cut down by row errors, the indices (into
	// the part) of the rows its next call gets; nil: all of them.
	sel [][]int
	// dec decoded rows into memory it reuses (ReuseRows): it goes back to
	// rowDecoders when the batch is done. cached: it made them from the
	// values in the row cache.
	dec    *batcher.RowDecoder
	cached bool
}

var _ consumer.RowBatch = (*rowBatch)(nil)

func (b *rowBatch) Parts() int { return partsOf(len(b.rows), b.size) }

func (b *rowBatch) Rows(i int) int {
	if b.Narrowed(i) {
		return len(b.sel[i])
	}
	lo, hi := partBounds(i, b.size, len(b.rows))
	return hi - lo
}

func (b *rowBatch) Narrowed(i int) bool { return b.sel != nil && b.sel[i] != nil }

func (b *rowBatch) RowIndex(i, j int) int {
	if b.Narrowed(i) {
		return b.sel[i][j]
	}
	return j
}

func (b *rowBatch) Narrow(i int, keep []int) {
	if b.sel == nil {
		b.sel = make([][]int, b.Parts())
	}
	sel := make([]int, len(keep))
	for k, j := range keep {
		sel[k] = b.RowIndex(i, j)
	}
	b.sel[i] = sel
}

// pick returns the rows of part a part's current call gets.
func (b *rowBatch) pick(i int, rows []Row) []Row {
	if !b.Narrowed(i) {
		return rows
	}
	out := make([]Row, len(b.sel[i]))
	for k, j := range b.sel[i] {
		out[k] = rows[j]
	}
	return out
}

// fresh returns part i's rows: as first decoded on the first call, decoded
// afresh from the payload for a retry.
func (b *rowBatch) fresh(i int) (*schema.Table, []Row, error) {
	if b.called == nil {
		b.called = make([]bool, b.Parts())
	}
	lo, hi := partBounds(i, b.size, len(b.rows))
	if !b.called[i] {
		b.called[i] = true
		return b.table, b.rows[lo:hi], nil
	}
	p, err := b.payload()
	if err != nil {
		return nil, nil, err
	}
	t, rows, err := batcher.DecodeWith(b.format, p, b.resolve)
	if err != nil {
		return nil, nil, decodeError(b.d, err)
	}
	if len(rows) != len(b.rows) {
		return nil, nil, consumer.Terminal(fmt.Errorf("batch %s: %d rows decoded, %d before", b.d.MsgID, len(rows), len(b.rows)))
	}
	return t, rows[lo:hi], nil
}

func (b *rowBatch) Call(ctx context.Context, i int) error {
	t, rows, err := b.fresh(i)
	if err != nil {
		return err
	}
	id := b.callID(i)
	rows = b.pick(i, rows)
	return b.h.p.observeCall(ctx, b.h.d, b.d.Table, id, len(rows), b.d.Waiting(), func() error {
		return b.h.d.fn(withBatchID(ctx, id), rows, *t)
	})
}

// callID is the batch id part i's next call gets: the part's, and for a
// part cut down by row errors, the part's with a suffix naming its rows (the
// same for the same rows), so that an idempotency key at the far side that
// saw the part's first call does not hide the rows sent again.
func (b *rowBatch) callID(i int) string {
	id := partID(b.d.MsgID, i, b.Parts())
	if b.Narrowed(i) {
		id += rowsSuffix(b.sel[i])
	}
	return id
}

// rowsSuffix names some rows of a part (indices into it): ".r" and the
// first 8 hex digits of a SHA-256 of their numbers.
func rowsSuffix(idx []int) string {
	h := sha256.New()
	for _, i := range idx {
		h.Write(strconv.AppendInt(nil, int64(i), 10))
		h.Write([]byte{','})
	}
	return ".r" + hex.EncodeToString(h.Sum(nil)[:4])
}

// DeadRows encodes rows (indices into part i's current rows) for the
// dead-letter stream, as a batch of their own, with an id naming those
// rows (see callID), so each dead letter of a part has its own.
func (b *rowBatch) DeadRows(i int, rows []int) (*queue.DeadPart, error) {
	p, err := b.payload()
	if err != nil {
		return nil, err
	}
	t, all, err := batcher.DecodeWith(b.format, p, b.resolve)
	if err != nil {
		return nil, err
	}
	lo, hi := partBounds(i, b.size, len(all))
	part := all[lo:hi]
	idx, dead := make([]int, len(rows)), make([]Row, len(rows))
	for k, j := range rows {
		idx[k] = b.RowIndex(i, j)
		dead[k] = part[idx[k]]
	}
	enc, err := batcher.Encode(nil, b.format, t, dead)
	if err != nil {
		return nil, err
	}
	id := partID(b.d.MsgID, i, b.Parts()) + rowsSuffix(idx)
	return &queue.DeadPart{BatchID: id, Rows: len(dead), Format: string(b.format), Payload: enc}, nil
}

func (b *rowBatch) DeadPart(i int) (*queue.DeadPart, error) {
	p, err := b.payload()
	if err != nil {
		return nil, err
	}
	t, rows, err := batcher.DecodeWith(b.format, p, b.resolve)
	if err != nil {
		return nil, err
	}
	lo, hi := partBounds(i, b.size, len(rows))
	enc, err := batcher.Encode(nil, b.format, t, rows[lo:hi])
	if err != nil {
		return nil, err
	}
	return &queue.DeadPart{BatchID: partID(b.d.MsgID, i, b.Parts()), Rows: hi - lo, Format: string(b.format), Payload: enc}, nil
}

func (b *rowBatch) Release() {
	if b.dec != nil {
		b.rows = nil
		if b.cached {
			// Its maps hold the producer's values: let them go.
			b.dec.Clear()
		}
		rowDecoders.Put(b.dec)
		b.dec = nil
	}
}

// prepareFile makes the load files of a file-mode destination: one per
// FileMaxItems rows, in the destination's format. A delivered batch that
// already fits is handed over as it travelled, without decoding its rows
// (unless it wrote rows as arrays).
func (h handler) prepareFile(ctx context.Context, d *queue.Delivery, format batcher.Format) (consumer.Batch, error) {
	payload, err := d.Payload(ctx)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(h.p.files, queue.Token(h.d.name), queue.Token(d.Table))
	b := &fileBatch{h: h, d: d, dir: dir, format: h.d.cfg.format}
	if format == h.d.cfg.format && d.Rows <= h.d.cfg.fileMaxItems {
		if b.table, err = batcher.DecodeTableWith(format, payload, h.p.resolver(ctx)); err != nil {
			return nil, decodeError(d, err)
		}
		data, err := batcher.LoadFile(format, payload)
		switch {
		case err == nil:
			b.files = [][]byte{data}
			b.rows = []int{d.Rows}
			return b, nil
		case !errors.Is(err, batcher.ErrArrayRows):
			return nil, consumer.Terminal(fmt.Errorf("load file for batch %s: %w", d.MsgID, err))
		}
		// Rows written as arrays: a load file has objects.
	}
	t, rows, err := batcher.DecodeWith(format, payload, h.p.resolver(ctx))
	if err != nil {
		return nil, decodeError(d, err)
	}
	b.table = t
	size := h.d.cfg.fileMaxItems
	for i := range partsOf(len(rows), size) {
		lo, hi := partBounds(i, size, len(rows))
		enc, err := batcher.Encode(nil, b.format, t, rows[lo:hi])
		if err != nil {
			return nil, consumer.Terminal(fmt.Errorf("encode load file for batch %s: %w", d.MsgID, err))
		}
		data, err := batcher.LoadFile(b.format, enc)
		if err != nil {
			return nil, consumer.Terminal(fmt.Errorf("load file for batch %s: %w", d.MsgID, err))
		}
		b.files = append(b.files, data)
		b.rows = append(b.rows, hi-lo)
		b.encoded = append(b.encoded, enc)
	}
	return b, nil
}

// fileBatch calls a file-mode destination with the path of each load file.
type fileBatch struct {
	h       handler
	d       *queue.Delivery
	dir     string
	format  batcher.Format
	table   *schema.Table
	files   [][]byte // load file contents, one per part
	rows    []int
	encoded [][]byte // parts encoded for transit (nil when the batch is one part as it travelled)
	paths   []string
}

func (b *fileBatch) Parts() int     { return len(b.files) }
func (b *fileBatch) Rows(i int) int { return b.rows[i] }

func (b *fileBatch) Call(ctx context.Context, i int) error {
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return fmt.Errorf("load file dir: %w", err)
	}
	id := partID(b.d.MsgID, i, b.Parts())
	path := filepath.Join(b.dir, id+b.format.Ext())
	// Written for every attempt: the function may have moved it.
	if err := os.WriteFile(path, b.files[i], 0o644); err != nil {
		return fmt.Errorf("write load file: %w", err)
	}
	b.paths = append(b.paths, path)
	return b.h.p.observeCall(ctx, b.h.d, b.d.Table, id, b.rows[i], b.d.Waiting(), func() error {
		return b.h.d.file(withBatchID(ctx, id), path, *b.table)
	})
}

func (b *fileBatch) DeadPart(i int) (*queue.DeadPart, error) {
	if b.encoded == nil {
		return nil, fmt.Errorf("batch %s: no part %d", b.d.MsgID, i)
	}
	return &queue.DeadPart{BatchID: partID(b.d.MsgID, i, b.Parts()), Rows: b.rows[i], Format: string(b.format), Payload: b.encoded[i]}, nil
}

func (b *fileBatch) Release() {
	for _, p := range b.paths {
		_ = os.Remove(p)
	}
}
