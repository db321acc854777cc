package bridge

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/internal/queuetest"
	"github.com/fanoutbridge/bridge/state"
)

// childServe is a worker process: it serves destination d of the pipeline
// until SIGTERM, recording ids like appendIDs, and exits 143 after a
// graceful stop. A call whose context was cancelled leaves a .cancelled file.
func childServe() int {
	opts := []PipelineOption{WithDataDir(os.Getenv("BRIDGE_TEST_DIR"))}
	if url := os.Getenv("BRIDGE_TEST_NATS"); url != "" {
		opts = append(opts, WithNATSURL(url))
	}
	delay, _ := time.ParseDuration(os.Getenv("BRIDGE_TEST_DELAY"))
	batch, _ := strconv.Atoi(os.Getenv("BRIDGE_TEST_BATCH"))
	out := os.Getenv("BRIDGE_TEST_OUT")
	record := appendIDs(out, delay)
	var strategy []Option
	if os.Getenv("BRIDGE_TEST_STRATEGY") == "table-sequential" {
		record = recordCalls(out, delay)
		strategy = append(strategy, LoaderParallelismStrategy(TableSequential))
	}
	fn := func(ctx context.Context, items []Row, table Table) error {
		err := record(ctx, items, table)
		if ctx.Err() != nil {
			_ = os.WriteFile(out+".cancelled", []byte("a call's context was cancelled"), 0o644)
		}
		return err
	}
	p, err := NewPipeline(os.Getenv("BRIDGE_TEST_PIPELINE"), NewDestination("d", fn, append(strategy, BatchSize(batch), MaxParallelLoadJobs(4))...), opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer p.Close()
	if err := os.WriteFile(os.Getenv("BRIDGE_TEST_MARKER"), []byte("serving"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if _, err := p.Serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if ctx.Err() != nil {
		return 143
	}
	return 0
}

// worker is a childServe process.
type worker struct {
	cmd    *exec.Cmd
	out    string
	marker string
	done   chan struct{}
}

func startWorker(t testing.TB, e *env, name string, batch int, delay time.Duration, env ...string) *worker {
	t.Helper()
	dir := t.TempDir()
	w := &worker{out: filepath.Join(dir, "ids"), marker: filepath.Join(dir, "ready"), done: make(chan struct{})}
	w.cmd = exec.Command(os.Args[0], "-test.run=^$")
	w.cmd.Env = append(os.Environ(), childEnv+"=serve", "BRIDGE_TEST_DIR="+e.dir, "BRIDGE_TEST_PIPELINE="+e.name,
		"BRIDGE_TEST_OUT="+w.out, "BRIDGE_TEST_MARKER="+w.marker, "BRIDGE_TEST_BATCH="+strconv.Itoa(batch),
		"BRIDGE_TEST_DELAY="+delay.String())
	if e.b.name == "external" {
		w.cmd.Env = append(w.cmd.Env, "BRIDGE_TEST_NATS="+testNATSURL(t))
	}
	w.cmd.Env = append(w.cmd.Env, env...)
	w.cmd.Stderr = os.Stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = w.cmd.Wait()
		close(w.done)
	}()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.done
	})
	waitFor(t, 30*time.Second, "worker "+name+" to start serving", func() bool {
		_, err := os.Stat(w.marker)
		return err == nil
	})
	return w
}

// stop sends sig and returns the exit status, failing after within.
func (w *worker) stop(t *testing.T, sig syscall.Signal, within time.Duration) int {
	t.Helper()
	if err := w.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
	case <-time.After(within):
		t.Fatalf("worker did not exit within %v of %v", within, sig)
	}
	return w.cmd.ProcessState.ExitCode()
}

func waitFor(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deliveredAll merges the ids files of workers: how often each id arrived.
func deliveredAll(t *testing.T, paths ...string) map[int]int {
	t.Helper()
	all := map[int]int{}
	for _, p := range paths {
		counts, _ := delivered(t, p)
		for id, n := range counts {
			all[id] += n
		}
	}
	return all
}

// serveUntil serves p until done holds (checked every few milliseconds),
// or the test's deadline.
func serveUntil(t *testing.T, p *Pipeline, done func() bool) (*ServeInfo, error) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	go func() {
		for ctx.Err() == nil && !done() {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	return p.Serve(ctx)
}

func testNATSURL(t testing.TB) string { return queuetest.External(t) }

// A producer publishes a load and returns once it is stored; a worker that
// joined before serves it to the end, once.
func TestProduceThenServe(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		rec := &recorder{}
		w := e.open(NewDestination("d", rec.fn, BatchSize(10)))
		prod, err := NewProducer(e.name, b.opts(t, e.dir)...)
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		info, err := prod.Produce(ctxT(t), idValueItems(1000), TableName("t"))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Produced["t"].Items; got != 1000 || info.Unserved["d"] == 0 {
			t.Fatalf("produced %d items, unserved %v; want 1000 held for d", got, info.Unserved)
		}
		if _, err := prod.Run(ctxT(t), nil); err == nil {
			t.Error("Run on a producer: no error")
		}
		si, err := serveUntil(t, w, func() bool { return len(rec.byTable()["t"]) >= 1000 })
		if err != nil {
			t.Fatal(err)
		}
		if ids := sortedIDs(idsOf(rec.byTable()["t"])); !isRange(ids, 1000) {
			t.Fatalf("delivered %d rows, want 0..999 once each", len(ids))
		}
		if si.Items() != 1000 {
			t.Errorf("ServeInfo counts %d items", si.Items())
		}
		st, err := w.Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(st.Loads); n != 1 || st.Loads[0].Status != StatusPublished {
			t.Errorf("load history %+v, want one published load", st.Loads)
		}
	})
}

// Cancelling Serve lets the calls in flight finish (their context is not
// cancelled) and hands the rest back: the next Serve delivers them, and no
// batch is delivered twice.
func TestServeDrainsOnCancel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		var mu sync.Mutex
		counts := map[int64]int{}
		var inFlight, cancelledCalls atomic.Int32
		started := make(chan struct{}, 100)
		fn := func(ctx context.Context, items []Row, table Table) error {
			inFlight.Add(1)
			defer inFlight.Add(-1)
			started <- struct{}{}
			time.Sleep(300 * time.Millisecond)
			if ctx.Err() != nil {
				cancelledCalls.Add(1)
			}
			mu.Lock()
			for _, it := range items {
				counts[it["id"].(int64)]++
			}
			mu.Unlock()
			return nil
		}
		dest := NewDestination("d", fn, BatchSize(10), MaxParallelLoadJobs(4))
		w := e.open(dest)
		prod, err := NewProducer(e.name, b.opts(t, e.dir)...)
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		if _, err := prod.Produce(ctxT(t), idValueItems(200), TableName("t")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(ctxT(t))
		go func() {
			<-started
			<-started
			cancel()
		}()
		begin := time.Now()
		if _, err := w.Serve(ctx); err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
		if inFlight.Load() != 0 || cancelledCalls.Load() != 0 {
			t.Fatalf("Serve returned with %d calls running, %d calls cancelled", inFlight.Load(), cancelledCalls.Load())
		}
		if d := time.Since(begin); d > 10*time.Second {
			t.Errorf("Serve took %v to drain calls of 300ms", d)
		}
		mu.Lock()
		first := len(counts)
		mu.Unlock()
		if first == 0 || first == 200 {
			t.Fatalf("the first Serve delivered %d rows; the test needs a part", first)
		}
		if _, err := serveUntil(t, w, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(counts) == 200
		}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		for id := range int64(200) {
			if counts[id] != 1 {
				t.Fatalf("id %d delivered %d times, want once", id, counts[id])
			}
		}
	})
}

// A call that takes 3x the ack wait is made once: the worker tells the
// server it is still at work.
func TestSlowCallsNotRedelivered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		var mu sync.Mutex
		calls := map[string]int{}
		fn := func(ctx context.Context, items []Row, table Table) error {
			mu.Lock()
			calls[BatchID(ctx)]++
			mu.Unlock()
			time.Sleep(3 * time.Second)
			return nil
		}
		p := e.open(NewDestination("d", fn, BatchSize(10), MaxParallelLoadJobs(4)), WithAckWait(time.Second))
		if _, err := p.Run(ctxT(t), idValueItems(40), TableName("t")); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(calls) != 4 {
			t.Fatalf("%d batches called, want 4: %v", len(calls), calls)
		}
		for id, n := range calls {
			if n != 1 {
				t.Errorf("batch %s called %d times, want once", id, n)
			}
		}
	})
}

// Three worker processes share one destination: every row is delivered;
// one worker killed (SIGKILL) mid-load hands its batches to the others,
// with duplicates only from its calls in flight; SIGTERM stops the others
// with status 143.
func TestWorkersShareADestination(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		prod, err := NewProducer(e.name, b.opts(t, e.dir)...)
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		const rows, batch = 20_000, 100
		var ws []*worker
		for i := range 3 {
			ws = append(ws, startWorker(t, e, strconv.Itoa(i), batch, 60*time.Millisecond))
		}
		if _, err := prod.Produce(ctxT(t), faultItems(rows), TableName("t")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, "30 batches delivered", func() bool { return lines(ws[0].out)+lines(ws[1].out)+lines(ws[2].out) >= 30 })
		if err := ws[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-ws[0].done
		outs := []string{ws[0].out, ws[1].out, ws[2].out}
		waitFor(t, 90*time.Second, "every row delivered", func() bool { return len(deliveredAll(t, outs...)) == rows })
		for _, w := range ws[1:] {
			if code := w.stop(t, syscall.SIGTERM, 15*time.Second); code != 143 {
				t.Errorf("worker exit status %d after SIGTERM, want 143", code)
			}
		}
		dups := 0
		for id, n := range deliveredAll(t, outs...) {
			if n > 1 {
				dups += n - 1
			}
			if id < 0 || id >= rows {
				t.Fatalf("unexpected id %d", id)
			}
		}
		if dups > 4*batch {
			t.Fatalf("%d duplicate rows: more than the killed worker's 4 calls in flight", dups)
		}
		for i, w := range ws {
			t.Logf("worker %d delivered %d batches", i, lines(w.out))
		}
		if lines(ws[1].out) == 0 || lines(ws[2].out) == 0 {
			t.Error("a surviving worker delivered nothing: the workers did not share the destination")
		}
		t.Logf("duplicates after the kill: %d rows", dups)
	})
}

// SIGTERM to a worker in the middle of slow calls: the calls finish (their
// context is not cancelled), it exits 143 well within the shutdown timeout,
// and another worker delivers the rest: every row exactly once.
func TestWorkerGracefulShutdown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		prod, err := NewProducer(e.name, b.opts(t, e.dir)...)
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		w := startWorker(t, e, "slow", 10, 500*time.Millisecond)
		if _, err := prod.Produce(ctxT(t), faultItems(200), TableName("t")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "4 calls done", func() bool { return lines(w.out) >= 4 })
		time.Sleep(100 * time.Millisecond) // the next calls are under way
		begin := time.Now()
		if code := w.stop(t, syscall.SIGTERM, 10*time.Second); code != 143 {
			t.Fatalf("exit status %d, want 143", code)
		}
		t.Logf("worker stopped %v after SIGTERM with %d calls done", time.Since(begin).Round(time.Millisecond), lines(w.out))
		if _, err := os.Stat(w.out + ".cancelled"); err == nil {
			t.Fatal("a call in flight had its context cancelled: the worker did not let it finish")
		}
		rest := filepath.Join(t.TempDir(), "ids")
		other := e.open(NewDestination("d", appendIDs(rest, 0), BatchSize(10)))
		if _, err := serveUntil(t, other, func() bool { return len(deliveredAll(t, w.out, rest)) >= 200 }); err != nil {
			t.Fatal(err)
		}
		counts := deliveredAll(t, w.out, rest)
		for id := range 200 {
			if counts[id] != 1 {
				t.Fatalf("id %d delivered %d times, want once", id, counts[id])
			}
		}
	})
}

// With an external NATS the local data directory holds nothing a worker
// needs: produce, serve part, delete the directory, serve again: the load
// finishes without a batch sent twice, and schema and history are intact.
func TestWipedDataDir(t *testing.T) {
	e := newEnv(t, backends[1])
	out := filepath.Join(t.TempDir(), "ids")
	var calls atomic.Int32
	record := appendIDs(out, 20*time.Millisecond)
	fn := func(ctx context.Context, items []Row, table Table) error {
		calls.Add(1)
		return record(ctx, items, table)
	}
	dest := NewDestination("d", fn, BatchSize(10), MaxParallelLoadJobs(2))
	w := e.open(dest)
	prod, err := NewProducer(e.name, e.b.opts(t, e.dir)...)
	if err != nil {
		t.Fatal(err)
	}
	info, err := prod.Produce(ctxT(t), faultItems(500), TableName("t"))
	prod.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := serveUntil(t, w, func() bool { return calls.Load() >= 10 }); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.RemoveAll(e.dir); err != nil {
		t.Fatal(err)
	}
	w2 := e.open(dest)
	if _, err := serveUntil(t, w2, func() bool { return len(deliveredAll(t, out)) >= 500 }); err != nil {
		t.Fatal(err)
	}
	counts := deliveredAll(t, out)
	for id := range 500 {
		if counts[id] != 1 {
			t.Fatalf("id %d delivered %d times, want once", id, counts[id])
		}
	}
	sc, err := w2.st.Schema(ctxT(t))
	if err != nil || len(sc.Tables) != 1 || sc.Tables[0].Name != "t" {
		t.Fatalf("schema after the wipe: %v %v", sc.Tables, err)
	}
	st, err := w2.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(st.Loads, func(l state.Load) bool { return l.LoadID == info.LoadID }) {
		t.Fatalf("the load %s is gone from the history: %+v", info.LoadID, st.Loads)
	}
}

// The command line as a user scales out: a `bridge serve` worker, then
// `bridge produce` (joining the worker's embedded server); every row lands
// in the worker's file destination; SIGTERM stops the worker with 143.
func TestCLIProduceServe(t *testing.T) {
	bin, err := bridgeBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data, out := filepath.Join(dir, "data"), filepath.Join(dir, "out")
	input := writeLines(t, dir, "in.jsonl", 500, func(w *bufio.Writer, i int) { fmt.Fprintf(w, `{"id":%d}`, i) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serve := exec.CommandContext(ctx, bin, "serve", "--pipeline", "cli", "--data-dir", data, "--destination", "file:"+out,
		"--batch-size", "50", "--quiet")
	var serveErr bytes.Buffer
	serve.Stderr = &serveErr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = serve.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = serve.Process.Kill()
		<-done
	})
	// The worker has joined once `destinations list` shows it.
	waitFor(t, 30*time.Second, "the worker to join", func() bool {
		b, err := exec.CommandContext(ctx, bin, "destinations", "list", "--pipeline", "cli", "--data-dir", data).Output()
		return err == nil && bytes.Contains(b, []byte("file:"))
	})
	produce := exec.CommandContext(ctx, bin, "produce", "--pipeline", "cli", "--data-dir", data, "--input", input, "--table", "t", "--quiet")
	if b, err := produce.CombinedOutput(); err != nil || !bytes.Contains(b, []byte("published 500 items")) {
		t.Fatalf("bridge produce: %v\n%s", err, b)
	}
	rows := func() int {
		n := 0
		files, _ := filepath.Glob(filepath.Join(out, "t", "*.jsonl"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			n += bytes.Count(b, []byte("\n"))
		}
		return n
	}
	waitFor(t, 60*time.Second, "500 rows in the worker's files", func() bool { return rows() >= 500 })
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("bridge serve did not stop within 20 s of SIGTERM\n%s", serveErr.String())
	}
	if code := serve.ProcessState.ExitCode(); code != 143 {
		t.Fatalf("bridge serve exit status %d, want 143\n%s", code, serveErr.String())
	}
	if n := rows(); n != 500 {
		t.Errorf("%d rows in the files, want 500", n)
	}
	if !bytes.Contains(serveErr.Bytes(), []byte("delivered 500 items")) {
		t.Errorf("the worker's summary does not say what it delivered:\n%s", serveErr.String())
	}
}

// Scale-out acceptance 1: a load of 200,000 rows; its worker process is
// killed (SIGKILL) at 3 random points, a new worker started each time: the
// last one completes the load; every id is delivered, duplicates only from
// the batches in flight at each kill.
func TestKill9WorkerThreeTimes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		prod, err := NewProducer(e.name, b.opts(t, e.dir)...)
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		const rows, batch = 200_000, 1000
		w := startWorker(t, e, "0", batch, 20*time.Millisecond)
		outs := []string{w.out}
		if _, err := prod.Produce(ctxT(t), faultItems(rows), TableName("t")); err != nil {
			t.Fatal(err)
		}
		total := func() int {
			n := 0
			for _, o := range outs {
				n += lines(o)
			}
			return n
		}
		points := []int{10 + rand.IntN(40), 60 + rand.IntN(40), 110 + rand.IntN(40)} // of 200 batches
		for i, at := range points {
			waitFor(t, 60*time.Second, fmt.Sprintf("%d batches delivered", at), func() bool { return total() >= at })
			if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-w.done
			t.Logf("worker %d killed after %d batches delivered in all", i, total())
			w = startWorker(t, e, strconv.Itoa(i+1), batch, 20*time.Millisecond)
			outs = append(outs, w.out)
		}
		waitFor(t, 90*time.Second, "every row delivered", func() bool { return len(deliveredAll(t, outs...)) == rows })
		if code := w.stop(t, syscall.SIGTERM, 15*time.Second); code != 143 {
			t.Errorf("last worker exit status %d, want 143", code)
		}
		dups := 0
		for _, n := range deliveredAll(t, outs...) {
			dups += n - 1
		}
		// Per kill: the 4 calls running, and on the embedded server the acks
		// of the last ~100 ms it had not written down.
		if bound := 3 * (4 + 4) * batch; dups > bound {
			t.Fatalf("%d duplicate rows, more than the %d of the batches in flight at 3 kills", dups, bound)
		}
		t.Logf("duplicates after 3 kills: %d rows", dups)
	})
}

// A Produce that published its input frees its resume key: the same input
// produced again is a new load (a crashed one is carried on instead, see
// the rerun tests).
func TestProduceTwiceIsTwoLoads(t *testing.T) {
	e := newEnv(t, backends[0])
	var rec recorder
	w := e.open(NewDestination("d", rec.fn, BatchSize(10)))
	prod, err := NewProducer(e.name, e.b.opts(t, e.dir)...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx := ctxT(t)
	first, err := prod.Produce(ctx, faultItems(30), TableName("t"), ResumeKey("same-file"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := prod.Produce(ctx, faultItems(30), TableName("t"), ResumeKey("same-file"))
	if err != nil {
		t.Fatal(err)
	}
	if second.LoadID == first.LoadID || second.AlreadyStored || second.Produced["t"].Items != 30 {
		t.Fatalf("second produce: load %s (first %s), already stored %v, produced %+v: want a new load of 30 rows",
			second.LoadID, first.LoadID, second.AlreadyStored, second.Produced)
	}
	if _, err := serveUntil(t, w, func() bool { return len(rec.byTable()["t"]) >= 60 }); err != nil {
		t.Fatal(err)
	}
}

// Status counts what a serving worker delivered while it serves, not only
// once it stops.
func TestStatusCountsWhileServing(t *testing.T) {
	e := newEnv(t, backends[0])
	var rec recorder
	w := e.open(NewDestination("d", rec.fn, BatchSize(10)))
	w.cfg.progressEvery = 100 * time.Millisecond
	prod, err := NewProducer(e.name, e.b.opts(t, e.dir)...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx := ctxT(t)
	if _, err := prod.Produce(ctx, faultItems(50), TableName("t")); err != nil {
		t.Fatal(err)
	}
	var seen atomic.Int64
	_, err = serveUntil(t, w, func() bool {
		if len(rec.byTable()["t"]) < 50 {
			return false
		}
		st, err := prod.Status(ctx)
		if err != nil || len(st.Destinations) == 0 {
			return false
		}
		seen.Store(st.Destinations[0].Delivered.Items)
		return seen.Load() == 50
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen.Load() != 50 {
		t.Fatalf("status counted %d items while serving, want 50", seen.Load())
	}
	// Stopping adds nothing twice.
	st, err := prod.Status(ctx)
	if err != nil || st.Destinations[0].Delivered.Items != 50 {
		t.Fatalf("status after the serve: %+v, %v", st.Destinations, err)
	}
}
