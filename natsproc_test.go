package bridge

import (
	"context"
	"fmt"
	"iter"
	"net"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// natsServerBinary builds the nats-server of go.mod (the version the
// embedded server runs), once per test binary.
var natsServerBinary = sync.OnceValues(func() (string, error) {
	return goBuild("github.com/nats-io/nats-server/v2", "nats-server")
})

// natsProcess is a nats-server process the test starts, stops and starts
// again on the same port and store.
type natsProcess struct {
	bin, store string
	port       int
	cmd        *exec.Cmd
	done       chan struct{}
}

func startNATSProcess(t *testing.T) *natsProcess {
	t.Helper()
	bin, err := natsServerBinary()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	n := &natsProcess{bin: bin, store: t.TempDir(), port: port}
	n.start(t)
	t.Cleanup(func() { n.stop(t, syscall.SIGKILL) })
	return n
}

func (n *natsProcess) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

func (n *natsProcess) start(t *testing.T) {
	t.Helper()
	n.cmd = exec.Command(n.bin, "-a", "127.0.0.1", "-p", fmt.Sprint(n.port), "-js", "-sd", n.store)
	n.done = make(chan struct{})
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(n.cmd, n.done)
	waitFor(t, 20*time.Second, "nats-server to listen", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (n *natsProcess) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(sig)
	select {
	case <-n.done:
	case <-time.After(20 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

// A nats-server process is stopped mid-load, once with SIGTERM and once
// with SIGKILL, and started again on the same store: the producer and the
// worker reconnect and the load completes with nothing lost.
func TestNATSProcessRestarts(t *testing.T) {
	srv := startNATSProcess(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "ids")
	const rows = 5000
	opts := []PipelineOption{WithDataDir(dir), WithNATSURL(srv.url()), WithAckWait(2 * time.Second)}
	w, err := NewPipeline("restarts", NewDestination("d", appendIDs(out, 10*time.Millisecond), BatchSize(10), MaxParallelLoadJobs(4),
		RetryBackoff(10*time.Millisecond, 200*time.Millisecond)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	prod, err := NewProducer("restarts", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	served := make(chan error, 1)
	go func() {
		_, err := w.Serve(ctx)
		served <- err
	}()
	var stored atomic.Int64
	produced := make(chan error, 1)
	go func() {
		// Slowly, so that the first stop comes while it publishes.
		slow := func(yield func(any) bool) {
			for i, it := range faultItems(rows) {
				if i%5 == 0 {
					time.Sleep(time.Millisecond)
				}
				if !yield(it) {
					return
				}
			}
		}
		_, err := prod.Produce(ctxT(t), iter.Seq[any](slow), TableName("t"), OnProgress(func(p Progress) { stored.Store(p.Produced) }, 5*time.Millisecond))
		produced <- err
	}()
	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		at := (i + 1) * 100
		waitFor(t, 60*time.Second, fmt.Sprintf("%d batches delivered", at), func() bool { return lines(out) >= at })
		srv.stop(t, sig)
		t.Logf("nats-server stopped with %v after %d batches delivered, %d rows stored", sig, lines(out), stored.Load())
		time.Sleep(time.Second)
		srv.start(t)
	}
	begin := time.Now()
	if err := <-produced; err != nil {
		t.Fatalf("Produce across the restarts: %v", err)
	}
	t.Logf("produce done %v after the last restart", time.Since(begin).Round(time.Millisecond))
	deadline := time.Now().Add(60 * time.Second)
	for len(deliveredAll(t, out)) < rows {
		if time.Now().After(deadline) {
			got := deliveredAll(t, out)
			var missing []int
			for id := range rows {
				if got[id] == 0 {
					missing = append(missing, id)
				}
			}
			st, err := w.Status(ctxT(t))
			info, _ := w.q.JetStream().Stream(ctxT(t), w.q.StreamName())
			var cinfo any
			if c, err := w.q.JetStream().Consumer(ctxT(t), w.q.StreamName(), w.dests[0].cons.Name()); err == nil {
				cinfo, _ = c.Info(ctxT(t))
			}
			t.Fatalf("%d rows missing after 60 s (first %v); status %d batches %+v %v; stream %+v; consumer %+v", len(missing),
				missing[:min(10, len(missing))], st.Batches, st.Destinations, err, info.CachedInfo().State, cinfo)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("every row delivered %v after the last restart", time.Since(begin).Round(time.Millisecond))
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve across the restarts: %v", err)
	}
	dups := 0
	for _, n := range deliveredAll(t, out) {
		dups += n - 1
	}
	t.Logf("duplicates: %d rows", dups)
	// In flight at each stop, and acks the killed server had not written.
	if dups > rows/5 {
		t.Errorf("%d duplicate rows of %d", dups, rows)
	}
}
