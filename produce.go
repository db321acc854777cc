package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/normalize"
	"github.com/fanoutbridge/bridge/observe"
	"github.com/fanoutbridge/bridge/producer"
	"github.com/fanoutbridge/bridge/queue"
	"github.com/fanoutbridge/bridge/schema"
)

// production turns the input into published batches.
type production struct {
	p        *Pipeline
	norm     *normalize.Normalizer
	info     *LoadInfo
	read     *atomic.Int64
	produced *atomic.Int64
	skip     map[string]bool // batches already stored, by id
	// batchRows is the rows of a published batch (see transitRows).
	batchRows int

	mu       sync.Mutex
	bad      []*producer.LineError
	badCount int
}

type encJob struct {
	batch   batcher.Batch
	ref     batcher.SchemaRef // of the batch's table, when it travels by ref
	schema  *pendingSchema    // to store before the batch
	nrows   int
	version int
	payload []byte
	err     error
	done    chan struct{}
	// barrier, on a job with no batch, asks the publisher to answer once
	// every batch before it is stored (see checkpoint).
	barrier chan error
}

func (pr *production) run(ctx context.Context, data any, rc runConfig) error {
	p := pr.p
	format := p.prod.format
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan *encJob, 2*workers)
	ordered := make(chan *encJob, 4*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			// Size each buffer from the last batch's payload, so a batch
			// is written without the garbage of growing its buffer.
			last := 0
			for j := range jobs {
				buf := make([]byte, 0, last+last/8)
				var ref *batcher.SchemaRef
				if j.ref.Sum != "" {
					ref = &j.ref
				}
				j.payload, j.err = batcher.EncodeBatch(buf, format, ref, j.batch)
				last = len(j.payload)
				close(j.done)
			}
		})
	}
	var pubErr error
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		pub := p.q.NewPublisher(16)
		pub.OnStored = func(rows int) { pr.produced.Add(int64(rows)) }
		if rc.resumeKey != "" {
			pubErr = pub.Record(ctx, pr.info.LoadID)
		}
		for j := range ordered {
			<-j.done
			if j.barrier != nil {
				// A checkpoint: everything before it stored?
				err := pubErr
				if err == nil {
					_, err = pub.Flush(ctx)
				}
				j.barrier <- err
				continue
			}
			if pubErr != nil {
				continue
			}
			if j.schema != nil {
				// Before any batch that names it, stored or skipped: later
				// snapshots may be stored as changes to this one.
				if err := p.st.PutTableSchema(ctx, j.schema.sum, j.schema.ts); err != nil {
					pubErr = fmt.Errorf("table %q: storing its schema: %w", j.batch.Table.Name, err)
					cancel()
					continue
				}
			}
			if pr.skip[p.q.MsgID(pr.info.LoadID, j.batch.Table.Name, j.batch.Seq)] {
				continue // stored by the run that crashed
			}
			err := j.err
			if err == nil {
				if p.cachesRows() {
					p.cache.put(p.q.MsgID(pr.info.LoadID, j.batch.Table.Name, j.batch.Seq), j.batch)
				}
				err = pub.Publish(ctx, queue.Batch{BatchHeader: queue.BatchHeader{
					LoadID: pr.info.LoadID, Table: j.batch.Table.Name, Seq: j.batch.Seq,
					Rows: j.rows(), SchemaVersion: j.version, Format: string(format), Read: j.batch.First,
				}, Payload: j.payload})
			}
			if err != nil {
				pubErr = fmt.Errorf("table %q batch %d: %w", j.batch.Table.Name, j.batch.Seq, err)
				cancel()
				continue
			}
			j.batch.Rows, j.batch.Vals = nil, nil
			p.obs.Produced(observe.Produced{Pipeline: p.name, Table: j.batch.Table.Name, Rows: j.rows(), Bytes: len(j.payload)})
			t := pr.info.Produced[j.batch.Table.Name]
			t.Items += j.rows()
			t.Batches++
			pr.info.Produced[j.batch.Table.Name] = t
		}
		if pubErr == nil {
			if _, err := pub.Flush(ctx); err != nil {
				pubErr = err
			}
		}
	}()

	var refs schemaRefs
	policy := batcher.Policy{Rows: pr.batchRows, Bytes: p.prod.batchBytes, Period: p.prod.flushInterval}
	bat := batcher.NewPolicy(policy, func(b batcher.Batch) error {
		j := &encJob{batch: b, version: pr.norm.Version(), done: make(chan struct{})}
		j.nrows = b.Len()
		if format == batcher.TypedJSONL {
			var err error
			if j.ref, j.schema, err = refs.ref(b.Table); err != nil {
				return err
			}
		}
		select {
		case ordered <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case jobs <- j:
		case <-ctx.Done():
			close(j.done)
			return ctx.Err()
		}
		return nil
	})
	add := func(t *Table, row Row) error { return bat.Add(t, row) }
	addVals := func(t *Table, vals schema.Vals) error { return bat.AddVals(t, vals) }
	// With a flush interval, a ticker cuts the batches that fell due while
	// the input waits; batMu keeps it and the reader apart.
	var batMu sync.Mutex
	stopTick := pr.flushDue(ctx, bat, &batMu, policy.Period)
	table := rc.table
	// normalize takes one item; routed names its table when not "".
	normalize1 := func(it any, line int, routed string) error {
		t := table
		obj, isObj := it.(schema.Object)
		switch {
		case routed != "":
			t = routed
		case rc.tableFn != nil:
			if isObj {
				it, isObj = obj.Map(), false
			}
			t = rc.tableFn(it)
		}
		var err error
		if isObj {
			err = pr.norm.NormalizeObject(obj, t, add, addVals)
		} else {
			err = pr.norm.Normalize(it, t, add)
		}
		if err != nil {
			if errors.Is(err, normalize.ErrTableName) || ctx.Err() != nil {
				return err
			}
			if errors.Is(err, normalize.ErrTooManyColumns) {
				err = fmt.Errorf("%w (raise the limit with --max-columns (Go: MaxColumns) if the table is that wide by design)", err)
			}
			// One bad item loses nothing else.
			pr.badRecord(&producer.LineError{Line: line, Err: err})
		}
		return nil
	}
	var err error
	if src, ok := data.(producer.Source); ok {
		err = pr.readSource(ctx, src, policy.Period, &batMu, normalize1, func() error {
			return pr.checkpoint(ctx, bat, &batMu, ordered)
		})
	} else {
		jo := producer.JSONLOptions{
			Live:           policy.Period > 0,
			MaxRecordBytes: p.prod.maxRecord,
			// Nested values that stay json columns travel as the text
			// they came in, when it is already as the encoders write it:
			// for workers in other processes, which decode the payload.
			// Workers of this one get the parsed values from the row
			// cache (parsing them here or there costs the same, and the
			// parsed and the raw forms together cost memory); a table
			// function gets the parsed item.
			RawNested: p.prod.maxNesting == 0 && rc.tableFn == nil && !p.cachesRows(),
		}
		err = items(ctx, data, jo, func(chunk []any, lines []int, owned bool) error {
			batMu.Lock()
			defer batMu.Unlock()
			pr.norm.SetReuseInput(owned)
			for i, it := range chunk {
				// Its line, or its position in input that is not JSON
				// lines.
				line := int(pr.read.Load()) + i + 1
				if lines != nil {
					line = lines[i]
				}
				if err := normalize1(it, line, ""); err != nil {
					return err
				}
			}
			pr.read.Add(int64(len(chunk)))
			return nil
		}, pr.badRecord)
	}
	if terr := stopTick(); err == nil {
		err = terr
	}
	if err == nil {
		err = bat.Flush()
	}
	close(jobs)
	wg.Wait()
	close(ordered)
	<-pubDone
	if pubErr != nil {
		return pubErr
	}
	return err
}

func (j *encJob) rows() int { return j.nrows }

// checkpoint cuts every open batch and returns once every batch cut so far
// is stored in the stream.
func (pr *production) checkpoint(ctx context.Context, bat *batcher.Batcher, mu *sync.Mutex, ordered chan<- *encJob) error {
	done := make(chan struct{})
	close(done)
	b := &encJob{barrier: make(chan error, 1), done: done}
	mu.Lock()
	err := bat.Flush()
	if err == nil {
		select {
		case ordered <- b:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case err = <-b.barrier:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readSource reads src until it ends (io.EOF) or ctx does, normalizing each
// record, and commits src's position every period (1 s if 0) and at its end,
// each time once what it read is stored (checkpoint).
func (pr *production) readSource(ctx context.Context, src producer.Source, period time.Duration, mu *sync.Mutex,
	normalize1 func(it any, line int, table string) error, checkpoint func() error) error {
	p := pr.p
	if period <= 0 {
		period = time.Second
	}
	if o, ok := src.(producer.Opener); ok {
		if err := o.Open(ctx, producer.Env{Pipeline: p.name, Cursors: p.st.CursorKV()}); err != nil {
			return fmt.Errorf("source: open: %w", err)
		}
	}
	if c, ok := src.(producer.Closer); ok {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := c.Close(cctx); err != nil {
				p.log.Warn("closing the source", zap.Error(err))
			}
		}()
	}
	commit := func() error {
		if err := checkpoint(); err != nil {
			return err
		}
		if err := src.Commit(ctx); err != nil {
			return fmt.Errorf("source: commit: %w", err)
		}
		return nil
	}
	next := time.Now().Add(period)
	dirty := false
	for {
		rctx, cancel := context.WithDeadline(ctx, next)
		recs, err := src.Read(rctx)
		cancel()
		if len(recs) > 0 {
			dirty = true
			mu.Lock()
			base := int(pr.read.Load())
			for i, r := range recs {
				v, perr := jsonv.Parse(r.Data)
				if perr != nil {
					where := r.Where
					if where == "" {
						where = "record " + strconv.Itoa(base+i+1)
					}
					pr.badRecord(&producer.LineError{Line: base + i + 1, Err: fmt.Errorf("%s: %w", where, perr)})
					continue
				}
				if nerr := normalize1(v, base+i+1, r.Table); nerr != nil {
					mu.Unlock()
					return nerr
				}
			}
			pr.read.Add(int64(len(recs)))
			mu.Unlock()
		}
		eof := errors.Is(err, io.EOF)
		switch {
		case eof, err == nil, errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		default:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("source: read: %w", err)
		}
		if eof || !time.Now().Before(next) {
			if dirty {
				if err := commit(); err != nil {
					return err
				}
				dirty = false
			}
			next = time.Now().Add(period)
		}
		if eof {
			return nil
		}
	}
}

// flushDue cuts, every few milliseconds, the batches of bat older than
// period (under mu); stop ends it and returns its error.
func (pr *production) flushDue(ctx context.Context, bat *batcher.Batcher, mu *sync.Mutex, period time.Duration) (stop func() error) {
	if period <= 0 {
		return func() error { return nil }
	}
	var err error
	end := every(ctx, min(max(period/8, time.Millisecond), 50*time.Millisecond), func() bool {
		mu.Lock()
		defer mu.Unlock()
		_, err = bat.FlushDue(time.Now())
		return err == nil
	})
	return func() error {
		end()
		return err
	}
}

// every calls fn every d on a goroutine of its own until fn returns false,
// ctx ends or stop is called; stop returns once the goroutine has ended.
func every(ctx context.Context, d time.Duration, fn func() bool) (stop func()) {
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !fn() {
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}
}

// badRecordsLogged is how many bad records get a log line each.
const badRecordsLogged = 10

func (pr *production) badRecord(e *producer.LineError) {
	if errors.Is(e.Err, producer.ErrRecordTooLarge) {
		e = &producer.LineError{Line: e.Line, Err: fmt.Errorf("%w (raise the limit with --max-record-size (Go: MaxRecordSize))", e.Err)}
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.badCount++
	if len(pr.bad) < 5 {
		pr.bad = append(pr.bad, e)
	}
	switch {
	case pr.badCount <= badRecordsLogged:
		pr.p.log.Warn("skipping a bad input record; the others still load", zap.Error(e))
	case pr.badCount == badRecordsLogged+1:
		pr.p.log.Warn("more bad input records: skipping them without a line each; the run's error counts them all")
	}
}

// cachesRows reports whether the batches this process publishes go to its
// row cache: it has one, and a destination of this process takes rows, so
// that the rows of a published batch are worth keeping for its first
// delivery.
func (p *Pipeline) cachesRows() bool {
	if p.cache.max == 0 {
		return false
	}
	for _, dr := range p.dests {
		if dr.dest.fn != nil {
			return true
		}
	}
	return false
}
