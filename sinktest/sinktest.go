// Package sinktest is the conformance suite of bridge sinks, as Watermill's
// pubsub/tests is for its Pub/Subs: every built-in sink passes it, and you
// can run it on your own.
//
//	func TestConformance(t *testing.T) {
//	    sinktest.Run(t, sinktest.Harness{
//	        New: func(t *testing.T) sinktest.Target {
//	            topic := "conformance-" + t.Name() // a target of its own
//	            s := mysink.New(...)
//	            return sinktest.Target{Sink: s, Read: func(ctx context.Context, table string) ([]sinktest.Got, error) {
//	                ... read back what the target holds for table
//	            }}
//	        },
//	    })
//	}
//
// Each case runs a real pipeline (an embedded NATS server in a temporary
// directory) with your sink as its destination, injects a fault by wrapping
// the sink, and reads the target back. The cases:
//
//   - every row is delivered once, in order per table (unless Unordered);
//   - a transient error is retried and loses nothing;
//   - a batch written whose acknowledgement was lost is written again with
//     the same batch id (once in the target with ExactlyOnce);
//   - a terminal error sends the batch to the dead-letter stream and the
//     rest goes on; a replay delivers it;
//   - per-row results: the good rows are delivered, the failed ones
//     dead-lettered on their own, and a replay delivers only them; a row
//     with a transient error is sent again alone (after the rest of its
//     batch: order within a table does not hold for it);
//   - Close drains: what Write acknowledged is in the target after Close;
//   - the batch id is stable across retries and, when the target keeps it,
//     is the one each row arrived with.
//
// The destination is made with bridge.ReuseRows, as the built-in sinks'
// are: rows decoded from the stream reuse the memory of the batch before, so
// a sink that keeps rows after Write returns must keep bridge.CloneRows
// copies.
//
// The suite writes rows with the columns id (bigint, 1..N per table), name
// (text), amount (double), ok (bool) and at (timestamp) into the tables
// conf_orders, conf_users and conf_events.
package sinktest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sink"
)

// Got is one row as the target holds it.
type Got struct {
	ID int64 // the row's id column
	// BatchID is the id of the batch the row came in, if the target keeps
	// it (a header, a bookkeeping column); "" otherwise.
	BatchID string
}

// Target is a sink with a target of its own, and how to read it back.
type Target struct {
	Sink sink.Sink
	// Read returns what the target holds for table, in the target's order
	// for that table. It is called after the pipeline closed (so after the
	// sink's Close).
	Read func(ctx context.Context, table string) ([]Got, error)
}

// Harness tells the suite how to make and read back a sink.
type Harness struct {
	// New returns a fresh sink and target (its own topic, subject, schema
	// or directory); it is called once per case.
	New func(t *testing.T) Target
	// ExactlyOnce says a batch written twice (a retry after a lost
	// acknowledgement) appears once in the target.
	ExactlyOnce bool
	// Unordered says the target keeps no order within a table (a database
	// table): order is not checked.
	Unordered bool
	// Rows per table (default 120) and BatchSize (default 25).
	Rows, BatchSize int
}

// Tables are the tables the suite writes.
var Tables = []string{"conf_orders", "conf_users", "conf_events"}

// Run runs every case of the suite as a subtest of t.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("sinktest: Harness.New is nil")
	}
	if h.Rows <= 0 {
		h.Rows = 120
	}
	if h.BatchSize <= 0 {
		h.BatchSize = 25
	}
	t.Run("EveryRowOnceInOrder", func(t *testing.T) { everyRowOnce(t, h) })
	t.Run("TransientErrorRetried", func(t *testing.T) { transientRetried(t, h) })
	t.Run("LostAckWrittenAgainSameID", func(t *testing.T) { lostAck(t, h) })
	t.Run("TerminalToDeadLetters", func(t *testing.T) { terminalDead(t, h) })
	t.Run("PerRowResults", func(t *testing.T) { perRow(t, h) })
	t.Run("CloseDrains", func(t *testing.T) { closeDrains(t, h) })
}

// faulty wraps the sink under test: fault decides, per call, what to do.
type faulty struct {
	inner sink.Sink
	mu    sync.Mutex
	fault func(b sink.Batch) action
	calls []sink.Batch // every call, rows copied
	ok    map[string]string
}

// action is what faulty does with a call.
type action struct {
	before error          // return this without calling the sink
	after  error          // call the sink, then return this if it succeeded
	rowErr sink.RowErrors // call the sink without these rows, then return them
}

func (f *faulty) Connect(ctx context.Context, env sink.Env) error {
	if c, ok := f.inner.(sink.Connector); ok {
		return c.Connect(ctx, env)
	}
	return nil
}

func (f *faulty) Close(ctx context.Context) error {
	if c, ok := f.inner.(sink.Closer); ok {
		return c.Close(ctx)
	}
	return nil
}

func (f *faulty) Write(ctx context.Context, b sink.Batch) error {
	f.mu.Lock()
	c := b
	c.Rows = bridge.CloneRows(b.Rows)
	f.calls = append(f.calls, c)
	var a action
	if f.fault != nil {
		a = f.fault(b)
	}
	f.mu.Unlock()
	if a.before != nil {
		return a.before
	}
	if a.rowErr != nil {
		keep := b
		keep.Rows = nil
		for i, r := range b.Rows {
			if _, bad := a.rowErr[i]; !bad {
				keep.Rows = append(keep.Rows, r)
			}
		}
		if err := f.inner.Write(ctx, keep); err != nil {
			return err
		}
		f.delivered(keep)
		return a.rowErr
	}
	if err := f.inner.Write(ctx, b); err != nil {
		return err
	}
	f.delivered(b)
	return a.after
}

// delivered notes which batch id each row of b was written with.
func (f *faulty) delivered(b sink.Batch) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ok == nil {
		f.ok = map[string]string{}
	}
	for _, r := range b.Rows {
		f.ok[b.Table.Name+"/"+fmt.Sprint(r["id"])] = b.ID
	}
}

func (f *faulty) setFault(fn func(b sink.Batch) action) {
	f.mu.Lock()
	f.fault = fn
	f.mu.Unlock()
}

func (f *faulty) snapshot() []sink.Batch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// run is one case's pipeline.
type run struct {
	t      *testing.T
	h      Harness
	target Target
	f      *faulty
	dir    string
	name   string
	p      *bridge.Pipeline
}

var seq struct {
	sync.Mutex
	n int
}

func newRun(t *testing.T, h Harness) *run {
	t.Helper()
	target := h.New(t)
	if target.Sink == nil || target.Read == nil {
		t.Fatal("sinktest: Harness.New returned a Target without Sink or Read")
	}
	seq.Lock()
	seq.n++
	n := seq.n
	seq.Unlock()
	r := &run{t: t, h: h, target: target, f: &faulty{inner: target.Sink}, dir: t.TempDir(), name: fmt.Sprintf("sinktest%d", n)}
	r.open()
	return r
}

func (r *run) open() {
	r.t.Helper()
	dest := bridge.NewSinkDestination("conformance", r.f, bridge.ReuseRows(), bridge.BatchSize(r.h.BatchSize),
		bridge.LoaderParallelismStrategy(bridge.TableSequential), bridge.MaxRetries(5),
		bridge.RetryBackoff(5*time.Millisecond, 20*time.Millisecond))
	p, err := bridge.NewPipeline(r.name, dest, bridge.WithDataDir(r.dir))
	if err != nil {
		r.t.Fatalf("sinktest: NewPipeline with the sink: %v", err)
	}
	r.p = p
	r.t.Cleanup(func() { _ = p.Close() })
}

// rows makes the suite's rows of every table: ids from..to.
func rows(from, to int) []any {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var out []any
	for _, table := range Tables {
		for i := from; i <= to; i++ {
			out = append(out, map[string]any{
				"id": i, "name": fmt.Sprintf("%s %d", table, i),
				"amount": float64(i) * 1.25, "ok": i%2 == 0, "at": at.Add(time.Duration(i) * time.Second),
			})
		}
	}
	return out
}

// route sends a row to its table, which starts its name.
func route(item any) string {
	name, _ := item.(map[string]any)["name"].(string)
	table, _, _ := strings.Cut(name, " ")
	return table
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// load runs the pipeline with the suite's rows; it returns Run's error.
func (r *run) load(ctx context.Context, data []any) error {
	r.t.Helper()
	if data == nil {
		_, err := r.p.Run(ctx, nil) // only what is pending
		return err
	}
	_, err := r.p.Run(ctx, data, bridge.TableNameFunc(route))
	return err
}

// read closes the pipeline (so the sink drains) and reads every table.
func (r *run) read(ctx context.Context) map[string][]Got {
	r.t.Helper()
	if err := r.p.Close(); err != nil {
		r.t.Fatalf("sinktest: Close: %v", err)
	}
	out := map[string][]Got{}
	for _, table := range Tables {
		got, err := r.target.Read(ctx, table)
		if err != nil {
			r.t.Fatalf("sinktest: Read %s: %v", table, err)
		}
		out[table] = got
	}
	return out
}

// check asserts the target holds ids 1..n of every table, minus missing:
// exactly once, or at least once when dupsOK; in order unless Unordered.
func (r *run) check(got map[string][]Got, n int, missing map[string][]int64, dupsOK bool) {
	r.t.Helper()
	for _, table := range Tables {
		var want []int64
		for i := 1; i <= n; i++ {
			if !slices.Contains(missing[table], int64(i)) {
				want = append(want, int64(i))
			}
		}
		ids := make([]int64, len(got[table]))
		for i, g := range got[table] {
			ids[i] = g.ID
		}
		if dupsOK {
			ids = dedupe(ids)
		}
		if r.h.Unordered {
			slices.Sort(ids)
		}
		if !slices.Equal(ids, want) {
			r.t.Errorf("table %s holds ids %s, want %s", table, short(ids), short(want))
		}
		r.checkBatchIDs(table, got[table])
	}
}

// checkBatchIDs asserts each row the target keeps a batch id for came with
// the id of a call that wrote it.
func (r *run) checkBatchIDs(table string, got []Got) {
	r.t.Helper()
	type written struct {
		id    int64
		batch string
	}
	calls := map[written]bool{} // each row of table with each batch id it was written with
	for _, c := range r.f.snapshot() {
		if c.Table.Name != table {
			continue
		}
		for _, row := range c.Rows {
			id, _ := row["id"].(int64)
			calls[written{id, c.ID}] = true
		}
	}
	for _, g := range got {
		if g.BatchID == "" {
			continue
		}
		if !calls[written{g.ID, g.BatchID}] {
			r.t.Errorf("table %s: row %d holds batch id %q, which no call with that row had", table, g.ID, g.BatchID)
		}
	}
}

// dedupe keeps the first of each id, in order.
func dedupe(ids []int64) []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func short(ids []int64) string {
	if len(ids) <= 12 {
		return fmt.Sprint(ids)
	}
	return fmt.Sprintf("%v ... %v (%d)", ids[:6], ids[len(ids)-6:], len(ids))
}

func everyRowOnce(t *testing.T, h Harness) {
	ctx := ctxT(t)
	r := newRun(t, h)
	if err := r.load(ctx, rows(1, h.Rows)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	r.check(r.read(ctx), h.Rows, nil, false)
	// Every call had rows of one table and a batch id.
	for _, c := range r.f.snapshot() {
		if c.ID == "" || len(c.Rows) == 0 || len(c.Rows) > h.BatchSize {
			t.Errorf("call of table %s: id %q, %d rows (batch size %d)", c.Table.Name, c.ID, len(c.Rows), h.BatchSize)
		}
	}
}

func transientRetried(t *testing.T, h Harness) {
	ctx := ctxT(t)
	r := newRun(t, h)
	r.f.setFault(func(b sink.Batch) action {
		if b.Attempt == 1 {
			return action{before: errors.New("sinktest: transient failure before the write")}
		}
		return action{}
	})
	if err := r.load(ctx, rows(1, h.Rows)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	r.check(r.read(ctx), h.Rows, nil, false)
	// The batch id is stable across the retries.
	byID := map[string][]int{}
	for _, c := range r.f.snapshot() {
		byID[c.ID] = append(byID[c.ID], c.Attempt)
	}
	for id, attempts := range byID {
		if !slices.Equal(attempts, []int{1, 2}) {
			t.Errorf("batch %s: attempts %v, want [1 2] under one id", id, attempts)
		}
	}
}

func lostAck(t *testing.T, h Harness) {
	ctx := ctxT(t)
	r := newRun(t, h)
	// The second batch of each table is written, then its answer is lost.
	var mu sync.Mutex
	seen := map[string]int{}
	var retried []string
	r.f.setFault(func(b sink.Batch) action {
		mu.Lock()
		defer mu.Unlock()
		if b.Attempt == 1 {
			seen[b.Table.Name]++
			if seen[b.Table.Name] == 2 {
				retried = append(retried, b.ID)
				return action{after: errors.New("sinktest: the write succeeded but its answer was lost")}
			}
		}
		return action{}
	})
	if err := r.load(ctx, rows(1, h.Rows)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := r.read(ctx)
	r.check(got, h.Rows, nil, !h.ExactlyOnce)
	// Duplicates come only from the retried batches, with their id.
	for table, g := range got {
		count := map[int64]int{}
		for _, row := range g {
			count[row.ID]++
		}
		for _, row := range g {
			if count[row.ID] > 1 && row.BatchID != "" && !slices.Contains(retried, row.BatchID) {
				t.Errorf("table %s: row %d is there %d times, from batch %s, which was not retried", table, row.ID, count[row.ID], row.BatchID)
			}
		}
	}
	if len(retried) != len(Tables) {
		t.Fatalf("the fault hit %d batches, want %d (one per table)", len(retried), len(Tables))
	}
	for _, id := range retried {
		n := 0
		for _, c := range r.f.snapshot() {
			if c.ID == id {
				n++
			}
		}
		if n != 2 {
			t.Errorf("batch %s was written %d times, want 2 under the same id", id, n)
		}
	}
}

// batchWith returns whether b holds the row id.
func batchWith(b sink.Batch, id int64) bool {
	return slices.ContainsFunc(b.Rows, func(r sink.Row) bool { return r["id"] == id })
}

func terminalDead(t *testing.T, h Harness) {
	ctx := ctxT(t)
	r := newRun(t, h)
	poison := int64(h.BatchSize + 3) // in the second batch of conf_orders
	var dead []int64
	r.f.setFault(func(b sink.Batch) action {
		if b.Table.Name == "conf_orders" && batchWith(b, poison) {
			if dead == nil {
				for _, row := range b.Rows {
					dead = append(dead, row["id"].(int64))
				}
			}
			return action{before: sink.Terminal(errors.New("sinktest: the far side rejects this batch"))}
		}
		return action{}
	})
	err := r.load(ctx, rows(1, h.Rows))
	if !errors.Is(err, bridge.ErrDeadLettered) {
		t.Fatalf("Run: %v, want ErrDeadLettered", err)
	}
	dls, err := r.p.DeadLetters(ctx, bridge.DeadLetterFilter{})
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters: %d (%v), want 1", len(dls), err)
	}
	_, dlRows, err := r.p.DeadLetterRows(ctx, dls[0])
	if err != nil || !slices.Equal(idsOf(dlRows), dead) || !strings.Contains(dls[0].Error, "rejects this batch") {
		t.Errorf("dead letter holds %v (%v), error %q; want %v and the sink's error", idsOf(dlRows), err, dls[0].Error, dead)
	}
	// A replay delivers it.
	r.f.setFault(nil)
	if n, err := r.p.ReplayDeadLetters(ctx, bridge.DeadLetterFilter{}); n != 1 || err != nil {
		t.Fatalf("replay: %d, %v", n, err)
	}
	if err := r.load(ctx, nil); err != nil {
		t.Fatalf("Run after replay: %v", err)
	}
	got := r.read(ctx)
	if h.Unordered {
		r.check(got, h.Rows, nil, false)
		return
	}
	// In order but for the replayed batch, which comes last.
	want := map[string][]int64{"conf_orders": dead}
	r.check(withoutIDs(got, want), h.Rows, want, false)
	if tail := idsOfGot(got["conf_orders"]); len(tail) < len(dead) || !slices.Equal(tail[len(tail)-len(dead):], dead) {
		t.Errorf("conf_orders ends with %s, want the replayed %v", short(tail), dead)
	}
}

func perRow(t *testing.T, h Harness) {
	ctx := ctxT(t)
	r := newRun(t, h)
	bad := int64(h.BatchSize + 1) // the second batch of conf_users: rows 3 and 7 of it fail
	var failed []int64
	transient := int64(2) // the first batch of conf_events: row 1 fails once, transiently
	r.f.setFault(func(b sink.Batch) action {
		switch {
		case b.Table.Name == "conf_users" && batchWith(b, bad) && b.Attempt == 1:
			if len(b.Rows) < 8 {
				return action{}
			}
			failed = []int64{b.Rows[3]["id"].(int64), b.Rows[7]["id"].(int64)}
			return action{rowErr: sink.RowErrors{
				3: sink.Terminal(errors.New("sinktest: row 3 rejected")),
				7: sink.Terminal(errors.New("sinktest: row 7 rejected")),
			}}
		case b.Table.Name == "conf_events" && batchWith(b, transient) && b.Attempt == 1:
			return action{rowErr: sink.RowErrors{1: errors.New("sinktest: row 1 timed out")}}
		}
		return action{}
	})
	err := r.load(ctx, rows(1, h.Rows))
	if !errors.Is(err, bridge.ErrDeadLettered) {
		t.Fatalf("Run: %v, want ErrDeadLettered", err)
	}
	if len(failed) != 2 {
		t.Fatalf("the fault did not hit (batch size %d too small?)", h.BatchSize)
	}
	// The transient row was retried alone.
	var retries []sink.Batch
	for _, c := range r.f.snapshot() {
		if c.Table.Name == "conf_events" && c.Attempt == 2 {
			retries = append(retries, c)
		}
	}
	if len(retries) != 1 || !slices.Equal(idsOf(retries[0].Rows), []int64{transient}) {
		t.Errorf("retries of conf_events: %v, want one call with row %d alone", retries, transient)
	}
	dls, err := r.p.DeadLetters(ctx, bridge.DeadLetterFilter{})
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters: %d (%v), want 1", len(dls), err)
	}
	_, dlRows, err := r.p.DeadLetterRows(ctx, dls[0])
	if err != nil || !slices.Equal(idsOf(dlRows), failed) ||
		!strings.Contains(dls[0].Error, "row 3 rejected") || !strings.Contains(dls[0].Error, "row 7 rejected") {
		t.Errorf("dead letter holds %v (%v), error %q; want %v with both row errors", idsOf(dlRows), err, dls[0].Error, failed)
	}
	r.f.setFault(nil)
	if n, err := r.p.ReplayDeadLetters(ctx, bridge.DeadLetterFilter{}); n != 1 || err != nil {
		t.Fatalf("replay: %d, %v", n, err)
	}
	before := len(r.f.snapshot())
	if err := r.load(ctx, nil); err != nil {
		t.Fatalf("Run after replay: %v", err)
	}
	after := r.f.snapshot()[before:]
	if len(after) != 1 || !slices.Equal(idsOf(after[0].Rows), failed) {
		t.Errorf("the replay wrote %d calls (%v), want one with rows %v", len(after), after, failed)
	}
	got := r.read(ctx)
	if h.Unordered {
		r.check(got, h.Rows, nil, false)
		return
	}
	// Rows sent again come after the rest of their batch.
	want := map[string][]int64{"conf_users": failed, "conf_events": {transient}}
	r.check(withoutIDs(got, want), h.Rows, want, false)
	for table, ids := range want {
		for _, id := range ids {
			if n := countID(got[table], id); n != 1 {
				t.Errorf("table %s holds row %d %d times, want once", table, id, n)
			}
		}
	}
}

func countID(g []Got, id int64) int {
	n := 0
	for _, r := range g {
		if r.ID == id {
			n++
		}
	}
	return n
}

func closeDrains(t *testing.T, h Harness) {
	ctx := ctxT(t)
	target := h.New(t)
	s := target.Sink
	if c, ok := s.(sink.Connector); ok {
		// No pipeline here: a sink that needs the shared store gets none.
		if err := c.Connect(ctx, sink.Env{Pipeline: "sinktest", Destination: "conformance"}); err != nil {
			t.Fatalf("Connect: %v", err)
		}
	}
	table := bridge.Table{Name: Tables[0]}
	for _, c := range []struct {
		name string
		typ  bridge.DataType
	}{{"id", bridge.TypeBigInt}, {"name", bridge.TypeText}, {"amount", bridge.TypeDouble}, {"ok", bridge.TypeBool}, {"at", bridge.TypeTimestamp}} {
		table.AddColumn(bridge.Column{Name: c.name, DataType: c.typ, Nullable: true})
	}
	// Batches written at once, then Close while none is waited for.
	const batches = 8
	var wg sync.WaitGroup
	errs := make([]error, batches)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for b := range batches {
		wg.Go(func() {
			var rs []sink.Row
			for i := 1; i <= 10; i++ {
				id := int64(b*10 + i)
				rs = append(rs, sink.Row{"id": id, "name": fmt.Sprint("drain ", id), "amount": float64(id), "ok": true, "at": at})
			}
			errs[b] = s.Write(ctx, sink.Batch{ID: fmt.Sprintf("drain-%d", b), Table: table, Rows: rs, Attempt: 1})
		})
	}
	wg.Wait()
	if c, ok := s.(sink.Closer); ok {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := c.Close(cctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	got, err := target.Read(ctx, table.Name)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	have := map[int64]bool{}
	for _, g := range got {
		have[g.ID] = true
	}
	for b, err := range errs {
		if err != nil {
			t.Errorf("Write of batch %d: %v", b, err)
			continue
		}
		for i := 1; i <= 10; i++ {
			if id := int64(b*10 + i); !have[id] {
				t.Errorf("row %d was acknowledged by Write but is not in the target after Close", id)
			}
		}
	}
}

func idsOf(rows []sink.Row) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i], _ = r["id"].(int64)
	}
	return out
}

func idsOfGot(g []Got) []int64 {
	out := make([]int64, len(g))
	for i, r := range g {
		out[i] = r.ID
	}
	return out
}

// withoutIDs drops ids per table from got.
func withoutIDs(got map[string][]Got, drop map[string][]int64) map[string][]Got {
	out := map[string][]Got{}
	for table, g := range got {
		for _, row := range g {
			if !slices.Contains(drop[table], row.ID) {
				out[table] = append(out[table], row)
			}
		}
	}
	return out
}
