package bridge

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/normalize"
	"github.com/fanoutbridge/bridge/producer"
	"github.com/fanoutbridge/bridge/queue"
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
				if j.ref.Sum != "" {
					j.payload, j.err = batcher.EncodeRef(buf, j.ref, j.batch.Table, j.batch.Rows)
				} else {
					j.payload, j.err = batcher.Encode(buf, format, j.batch.Table, j.batch.Rows)
				}
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
				if p.rowsWanted() {
					p.cache.put(p.q.MsgID(pr.info.LoadID, j.batch.Table.Name, j.batch.Seq), j.batch.Table, j.batch.Rows)
				}
				err = pub.Publish(ctx, queue.Batch{BatchHeader: queue.BatchHeader{
					LoadID: pr.info.LoadID, Table: j.batch.Table.Name, Seq: j.batch.Seq,
					Rows: j.rows(), SchemaVersion: j.version, Format: string(format),
				}, Payload: j.payload})
			}
			if err != nil {
				pubErr = fmt.Errorf("table %q batch %d: %w", j.batch.Table.Name, j.batch.Seq, err)
				cancel()
				continue
			}
			j.batch.Rows = nil
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
		j.nrows = len(b.Rows)
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
	// With a flush interval, a ticker cuts the batches that fell due while
	// the input waits; batMu keeps it and the reader apart.
	var batMu sync.Mutex
	stopTick := pr.flushDue(ctx, bat, &batMu, policy.Period)
	table := rc.table
	err := items(ctx, data, policy.Period > 0, func(chunk []any, lines []int, owned bool) error {
		batMu.Lock()
		defer batMu.Unlock()
		pr.norm.SetReuseInput(owned)
		for i, it := range chunk {
			if rc.tableFn != nil {
				table = rc.tableFn(it)
			}
			if err := pr.norm.Normalize(it, table, add); err != nil {
				if errors.Is(err, normalize.ErrTableName) || ctx.Err() != nil {
					return err
				}
				// One bad item loses nothing else. Its line, or its
				// position in input that is not JSON lines.
				line := int(pr.read.Load()) + i + 1
				if lines != nil {
					line = lines[i]
				}
				if errors.Is(err, normalize.ErrTooManyColumns) {
					err = fmt.Errorf("%w (raise the limit with --max-columns or MaxColumns if the table is that wide by design)", err)
				}
				pr.badRecord(&producer.LineError{Line: line, Err: err})
			}
		}
		pr.read.Add(int64(len(chunk)))
		return nil
	}, pr.badRecord)
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

// flushDue cuts, every few milliseconds, the batches of bat older than
// period (under mu); stop ends it and returns its error.
func (pr *production) flushDue(ctx context.Context, bat *batcher.Batcher, mu *sync.Mutex, period time.Duration) (stop func() error) {
	if period <= 0 {
		return func() error { return nil }
	}
	done, quit := make(chan struct{}), make(chan struct{})
	var err error
	go func() {
		defer close(done)
		tick := time.NewTicker(min(max(period/8, time.Millisecond), 50*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			mu.Lock()
			_, err = bat.FlushDue(time.Now())
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return func() error {
		close(quit)
		<-done
		return err
	}
}

// badRecordsLogged is how many bad records get a log line each.
const badRecordsLogged = 10

func (pr *production) badRecord(e *producer.LineError) {
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

// rowsWanted reports whether a destination of this process takes rows, so
// that the rows of a published batch are worth keeping for its first
// delivery.
func (p *Pipeline) rowsWanted() bool {
	for _, dr := range p.dests {
		if dr.dest.fn != nil {
			return true
		}
	}
	return false
}
