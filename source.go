package bridge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"iter"
	"reflect"
	"slices"

	"github.com/klauspost/compress/gzip"

	"github.com/fanoutbridge/bridge/producer"
)

const chunkItems = 256

// items calls fn with the input's items in order, a chunk at a time. lines
// are the items' line numbers in JSON lines input, nil for other inputs
// (their items are numbered by position). owned reports whether the items
// are bridge's own (freshly parsed) and may be modified by the normalizer.
// Bad records go to bad and do not stop the rest.
//
// A reader is read as JSON lines, with jo (Objects is set: objects come as
// schema.Object). A live one (jo.Live) is read as a stream: its lines are
// handed over as they arrive.
func items(ctx context.Context, data any, jo producer.JSONLOptions, fn func(items []any, lines []int, owned bool) error, bad func(*producer.LineError)) error {
	switch v := data.(type) {
	case nil:
		return nil
	case io.Reader:
		r, closeR, err := gunzip(v)
		if err != nil {
			return err
		}
		defer closeR()
		jo.Objects = true
		return producer.ReadJSONLNumbered(ctx, r, jo, func(items []any, lines []int) error {
			return fn(items, lines, true)
		}, bad)
	case []any:
		return seqChunks(ctx, slices.Values(v), fn)
	case []Row:
		return seqChunks(ctx, slices.Values(v), fn)
	case iter.Seq[any]:
		return seqChunks(ctx, v, fn)
	case iter.Seq[Row]:
		return seqChunks(ctx, v, fn)
	}
	rv := reflect.ValueOf(data)
	if (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array) && rv.Type().Elem().Kind() != reflect.Uint8 {
		return seqChunks(ctx, func(yield func(any) bool) {
			for i := range rv.Len() {
				if !yield(rv.Index(i).Interface()) {
					return
				}
			}
		}, fn)
	}
	return fn([]any{data}, nil, false)
}

// gunzip returns r decompressed if it starts like gzip, else r as it is.
func gunzip(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(2)
	if err != nil || magic[0] != 0x1f || magic[1] != 0x8b {
		return br, func() {}, nil // short input: the reader reports it
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: gzip input: %w", ErrBadInput, err)
	}
	return zr, func() { zr.Close() }, nil
}

// seqChunks hands seq to fn in chunks of chunkItems.
func seqChunks[T any](ctx context.Context, seq iter.Seq[T], fn func([]any, []int, bool) error) error {
	buf := make([]any, 0, chunkItems)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		err := fn(buf, nil, false)
		buf = buf[:0]
		return err
	}
	for it := range seq {
		buf = append(buf, it)
		if len(buf) == chunkItems {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
