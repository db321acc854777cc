// Package producer takes data in from sources: it reads items from JSON lines
// and other inputs and hands them, in input order, to the normalizer.
package producer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// LineError is a bad input line: its 1-based line number and what is wrong.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// ErrRecordTooLarge is the error of a LineError for a line longer than
// JSONLOptions.MaxRecordBytes.
var ErrRecordTooLarge = errors.New("record too large")

// recordTooLargeError says how large the line was.
type recordTooLargeError struct{ n, max int64 }

func (e *recordTooLargeError) Error() string {
	return fmt.Sprintf("record of %d bytes is over the limit of %d bytes", e.n, e.max)
}

func (e *recordTooLargeError) Is(target error) bool { return target == ErrRecordTooLarge }

// JSONLOptions tunes ReadJSONL. The zero value is ready to use.
type JSONLOptions struct {
	// MaxRecordBytes is the longest line accepted, not counting its line
	// ending; a longer line is reported bad and skipped without being held
	// in memory. Default 16 MiB.
	MaxRecordBytes int
	// Workers is how many goroutines parse lines. Default
	// runtime.GOMAXPROCS(0).
	Workers int
	// ChunkLines is how many lines go to a worker at once, and the most
	// items handed to onItems in one call. Default 512.
	ChunkLines int
	// Live reads a stream that is written as it is read (a pipe, a
	// socket): the lines that have arrived are handed over as soon as a
	// read would wait for more, instead of once a chunk fills.
	Live bool
	// Objects hands over each line that holds an object as a
	// schema.Object (its members in input order) instead of a
	// map[string]any, so that no map is built for it (see
	// normalize.Normalizer.NormalizeObject). Its members, like items, are
	// reused once onItems returns; the values in them are not.
	Objects bool
	// RawNested, with Objects, leaves the members' values that are objects
	// or lists written in canonical JSON form (no whitespace, keys sorted,
	// as bridge's encoders write them) unparsed, as text of the internal
	// type that the normalizer's NormalizeObject takes and the encoders
	// copy as it stands: for a normalizer that keeps nested values as json
	// columns (MaxNesting 0), which saves parsing and writing them again.
	RawNested bool
}

// The defaults of JSONLOptions.
const (
	DefaultMaxRecordBytes = 16 << 20
	DefaultChunkLines     = 512
)

// chunkBytes ends a chunk early when its lines are long, which bounds the
// memory in flight to about 2*Workers*(chunkBytes+MaxRecordBytes).
const chunkBytes = 1 << 20

func (o JSONLOptions) withDefaults() JSONLOptions {
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.ChunkLines <= 0 {
		o.ChunkLines = DefaultChunkLines
	}
	return o
}

// ReadJSONL reads JSON lines from r, parses them with o.Workers goroutines,
// a chunk of lines at a time, and calls onItems with the parsed values in
// input order. Lines may end in "\n" or "\r\n", the last one may have no
// ending, and blank lines are skipped. Values are as jsonv.Parse returns them:
// map[string]any, []any, string, int64, float64 or schema.Decimal, bool, nil.
//
// A line that is not valid JSON, or is longer than o.MaxRecordBytes, goes to
// onBad (if not nil) with its line number, and reading goes on: no other line
// is lost. For each chunk, onBad is called for its bad lines before onItems
// gets its good ones.
//
// onItems and onBad are called from the goroutine that called ReadJSONL,
// never concurrently. onItems may keep the values, but not the items slice
// itself: ReadJSONL reuses it after onItems returns. The strings of a chunk's
// values share one buffer, which stays in memory while any of them does.
//
// ReadJSONL returns nil at the end of r, the first error from onItems or
// from reading r, or ctx's error when ctx is done; every goroutine it started
// has ended by then. On a read error the lines read before it are delivered
// first. A Read of r that blocks is not interrupted by ctx.
func ReadJSONL(ctx context.Context, r io.Reader, o JSONLOptions, onItems func(items []any) error, onBad func(*LineError)) error {
	return ReadJSONLNumbered(ctx, r, o, func(items []any, _ []int) error { return onItems(items) }, onBad)
}

// ReadJSONLNumbered is ReadJSONL that also gives onItems the 1-based line
// number of each item (lines[i] is items[i]'s), counting every line of the
// input: blank, bad and too long ones too. Like items, lines is reused
// after onItems returns.
func ReadJSONLNumbered(ctx context.Context, r io.Reader, o JSONLOptions, onItems func(items []any, lines []int) error, onBad func(*LineError)) error {
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Up to window chunks are in flight: queued, being parsed, or parsed and
	// waiting for their turn. work never blocks, since it holds them all.
	window := 2 * o.Workers
	work := make(chan *chunk, window)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() {
			for c := range work {
				if ctx.Err() == nil {
					c.parse()
				}
				c.done <- struct{}{}
			}
		})
	}
	defer func() {
		cancel() // workers skip what is queued
		close(work)
		wg.Wait()
	}()

	rd := lineReader{
		br:    bufio.NewReaderSize(r, 64<<10),
		max:   o.MaxRecordBytes,
		lines: o.ChunkLines,
		live:  o.Live,
	}
	var (
		inflight []*chunk // in input order
		free     []*chunk
	)
	// deliver hands the oldest chunk to the callbacks, waiting for it if
	// wait is set; it reports whether it delivered one.
	deliver := func(wait bool) (bool, error) {
		c := inflight[0]
		if wait {
			select {
			case <-c.done:
			case <-ctx.Done():
				return false, ctx.Err()
			}
		} else {
			select {
			case <-c.done:
			default:
				return false, nil
			}
		}
		inflight = inflight[1:]
		if err := ctx.Err(); err != nil {
			return false, ctx.Err()
		}
		for _, e := range c.bad {
			if onBad != nil {
				onBad(e)
			}
		}
		if len(c.items) > 0 {
			if err := onItems(c.items, c.lines); err != nil {
				return false, err
			}
		}
		c.reset()
		free = append(free, c)
		return true, nil
	}

	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var c *chunk
		if n := len(free); n > 0 {
			c, free = free[n-1], free[:n-1]
		} else {
			c = &chunk{done: make(chan struct{}, 1), objects: o.Objects, raw: o.Objects && o.RawNested}
		}
		readErr := rd.fill(c)
		if len(c.ends) > 0 || len(c.bad) > 0 {
			if len(inflight) == window {
				if _, err := deliver(true); err != nil {
					return err
				}
			}
			inflight = append(inflight, c)
			work <- c
		} else {
			free = append(free, c)
		}
		// Hand over what is ready without waiting; a live stream with
		// nothing more to read now hands over everything first.
		wait := rd.live && rd.br.Buffered() == 0
		for len(inflight) > 0 {
			ok, err := deliver(wait)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
		}
		if readErr != nil {
			for len(inflight) > 0 {
				if _, err := deliver(true); err != nil {
					return err
				}
			}
			if readErr == io.EOF {
				return nil
			}
			return fmt.Errorf("producer: read JSON lines: %w", readErr)
		}
	}
}

// chunk is a run of lines on its way through a worker.
type chunk struct {
	buf   []byte // the lines' bytes, back to back, line endings removed
	ends  []int  // where each line ends in buf
	nums  []int  // each line's number
	items []any
	// objects asks parse for schema.Object items; members holds their
	// members, back to back.
	objects bool
	raw     bool // RawNested
	members schema.Object
	lines   []int        // each item's line number
	bad     []*LineError // oversized lines from the reader, then parse errors
	done    chan struct{}
}

func (c *chunk) reset() {
	c.buf, c.ends, c.nums, c.lines = c.buf[:0], c.ends[:0], c.nums[:0], c.lines[:0]
	clear(c.items)
	clear(c.members)
	c.items, c.members, c.bad = c.items[:0], c.members[:0], nil
}

// parse fills c.items, and c.bad with the lines that are not JSON.
func (c *chunk) parse() {
	s := string(c.buf)                   // one copy; the values' strings share it
	box := jsonv.Boxer{RawNested: c.raw} // and their boxed scalars share slabs
	oversized := len(c.bad)
	start := 0
	for i, end := range c.ends {
		var v any
		var err error
		if c.objects {
			from := len(c.members)
			var isObj bool
			c.members, isObj, v, err = box.ParseObject(s[start:end], c.members)
			if isObj {
				obj := c.members[from:len(c.members):len(c.members)]
				if obj == nil {
					obj = schema.Object{} // an empty object is not null
				}
				v = obj
			}
		} else {
			v, err = box.ParseString(s[start:end])
		}
		start = end
		if err != nil {
			c.bad = append(c.bad, &LineError{Line: c.nums[i], Err: err})
			continue
		}
		c.items = append(c.items, v)
		c.lines = append(c.lines, c.nums[i])
	}
	if oversized > 0 && len(c.bad) > oversized {
		slices.SortFunc(c.bad, func(a, b *LineError) int { return a.Line - b.Line })
	}
}

// lineReader splits its input into lines.
type lineReader struct {
	br    *bufio.Reader
	max   int
	lines int // per chunk
	line  int // number of the last line read
	live  bool
}

// fill reads lines into c until it holds r.lines non-blank lines or
// chunkBytes bytes. It returns io.EOF at the end of the input, or a read
// error, with the complete lines before it in c.
func (r *lineReader) fill(c *chunk) error {
	for len(c.ends)+len(c.bad) < r.lines && len(c.buf) < chunkBytes {
		start := len(c.buf)
		var (
			size int64 // bytes so far of a line over the limit, which are not kept
			prev byte  // last byte of the previous fragment
		)
		for {
			frag, err := r.br.ReadSlice('\n')
			if err != nil && err != bufio.ErrBufferFull && err != io.EOF {
				c.buf = c.buf[:start] // drop a partial line
				return err
			}
			if size > 0 || len(c.buf)-start+len(frag) > r.max+2 {
				// Over the limit even with a "\r\n" ending.
				size += int64(len(c.buf)-start) + int64(len(frag))
				c.buf = c.buf[:start]
			} else {
				c.buf = append(c.buf, frag...)
			}
			if err == bufio.ErrBufferFull {
				prev = frag[len(frag)-1]
				continue
			}
			if err != nil && len(c.buf) == start && size == 0 {
				return err // end of input, no partial line
			}
			r.line++
			if size > 0 {
				if n := len(frag); n > 0 && frag[n-1] == '\n' {
					size--
					if n > 1 {
						prev = frag[n-2]
					}
					if prev == '\r' {
						size--
					}
				}
				c.bad = append(c.bad, r.tooLarge(size))
			} else {
				c.buf = trimEOL(c.buf, start)
				if r.line == 1 && bytes.HasPrefix(c.buf[start:], utf8BOM) {
					// A byte-order mark starts the input: not data.
					c.buf = append(c.buf[:start], c.buf[start+len(utf8BOM):]...)
				}
				switch n := len(c.buf) - start; {
				case n > r.max:
					c.bad = append(c.bad, r.tooLarge(int64(n)))
					c.buf = c.buf[:start]
				case blank(c.buf[start:]):
					c.buf = c.buf[:start]
				default:
					c.ends = append(c.ends, len(c.buf))
					c.nums = append(c.nums, r.line)
				}
			}
			if err != nil {
				return err
			}
			break
		}
		if r.live && r.br.Buffered() == 0 && len(c.ends)+len(c.bad) > 0 {
			return nil // the next read would wait: hand these over first
		}
	}
	return nil
}

func (r *lineReader) tooLarge(n int64) *LineError {
	return &LineError{Line: r.line, Err: &recordTooLargeError{n: n, max: int64(r.max)}}
}

// utf8BOM is the UTF-8 byte-order mark some editors put at the start of a
// file.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// trimEOL removes a trailing "\n" or "\r\n" from b[start:].
func trimEOL(b []byte, start int) []byte {
	if len(b) > start && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
		if len(b) > start && b[len(b)-1] == '\r' {
			b = b[:len(b)-1]
		}
	}
	return b
}

// blank reports whether b holds only JSON whitespace.
func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
