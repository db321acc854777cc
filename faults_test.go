package bridge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap/zaptest"

	"github.com/fanoutbridge/bridge/internal/queuetest"
)

// The kill -9 test runs this test binary as a child that loads through a
// pipeline and is killed mid-delivery.
const childEnv = "BRIDGE_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "load":
		os.Exit(childLoad())
	case "produce":
		os.Exit(childProduce())
	case "point":
		os.Exit(childPoint())
	case "serve":
		os.Exit(childServe())
	}
	os.Exit(m.Run())
}

// faultItems is the input of the fault tests: n rows with ids 0..n-1.
func faultItems(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"id": i}
	}
	return out
}

// appendIDs is a destination that appends the ids of each batch to a file
// (one line per batch, synced) before it acknowledges, slowly.
func appendIDs(path string, delay time.Duration) Func {
	var mu sync.Mutex
	return func(ctx context.Context, items []Row, table Table) error {
		time.Sleep(delay)
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = strconv.FormatInt(it["id"].(int64), 10)
		}
		mu.Lock()
		defer mu.Unlock()
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.WriteString(strings.Join(ids, " ") + "\n"); err != nil {
			return err
		}
		return f.Sync()
	}
}

// childLoad loads 2,000 rows in batches of 20, slowly, writing a marker
// once everything is published; the parent kills it while it delivers.
func childLoad() int {
	dir, out, marker := os.Getenv("BRIDGE_TEST_DIR"), os.Getenv("BRIDGE_TEST_OUT"), os.Getenv("BRIDGE_TEST_MARKER")
	p, err := NewPipeline("killed", NewDestination("d", appendIDs(out, 50*time.Millisecond), BatchSize(20), MaxParallelLoadJobs(4)),
		WithDataDir(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var once sync.Once
	_, err = p.Run(context.Background(), faultItems(2000), TableName("t"), OnProgress(func(pr Progress) {
		if pr.Produced == 2000 {
			once.Do(func() { _ = os.WriteFile(marker, []byte("published"), 0o644) })
		}
	}, 10*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// slowItems yields n rows slowly, so a kill lands mid-production.
func slowItems(n int) iter.Seq[any] {
	return func(yield func(any) bool) {
		for i := range n {
			if i%5 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
			if !yield(map[string]any{"id": i}) {
				return
			}
		}
	}
}

// childProduce loads 3,000 rows from a slow source with a resume key.
func childProduce() int {
	dir, out := os.Getenv("BRIDGE_TEST_DIR"), os.Getenv("BRIDGE_TEST_OUT")
	p, err := NewPipeline("killed", NewDestination("d", appendIDs(out, 50*time.Millisecond), BatchSize(20), MaxParallelLoadJobs(4)), WithDataDir(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := p.Run(context.Background(), slowItems(3000), TableName("t"), ResumeKey("input-1")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// kill -9 while the input is still being read, then the same input again
// with the same resume key: the new Run carries on with the crashed load, and
// only the batches in flight at the crash come twice.
func TestKill9DuringProduction(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ids.txt")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=produce", "BRIDGE_TEST_DIR="+filepath.Join(dir, "data"), "BRIDGE_TEST_OUT="+out)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for lines(out) < 30 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("child made no progress")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	before, batches := delivered(t, out)
	if len(before) >= 3000 {
		t.Fatal("child finished before the kill; the test proves nothing")
	}
	t.Logf("killed after %d batches (%d distinct items)", batches, len(before))

	p, err := NewPipeline("killed", NewDestination("d", appendIDs(out, 0), BatchSize(20)), WithDataDir(filepath.Join(dir, "data")),
		WithLogger(zaptest.NewLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Run(ctxT(t), faultItems(3000), TableName("t"), ResumeKey("input-1")); err != nil {
		t.Fatalf("run after kill -9: %v", err)
	}
	counts, _ := delivered(t, out)
	dups := 0
	for id := range 3000 {
		switch n := counts[id]; {
		case n == 0:
			t.Fatalf("item %d lost", id)
		case n > 1:
			dups += n - 1
		}
	}
	if dups > (4+8+2)*20 { // as in TestKill9DuringDelivery
		t.Fatalf("%d duplicate deliveries: more than the batches in flight at the crash", dups)
	}
	t.Logf("duplicates after the crash: %d items", dups)
	// A later Run with the same key is a new load.
	if l, ok, err := p.st.Resumable(ctxT(t), "input-1"); err != nil || ok {
		t.Fatalf("resume key still open after a finished run: %+v %v", l, err)
	}
}

// delivered reads the ids file: how often each id arrived, and the batches.
func delivered(t *testing.T, path string) (map[int]int, int) {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[int]int{}, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counts := map[int]int{}
	batches := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		batches++
		for _, s := range strings.Fields(sc.Text()) {
			id, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("ids file line %q", sc.Text())
			}
			counts[id]++
		}
	}
	return counts, batches
}

// kill -9 during delivery, then a new pipeline on the same data directory:
// every item arrives at least once, and the only duplicates are batches that
// were in flight at the crash.
func TestKill9DuringDelivery(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ids.txt")
	marker := filepath.Join(dir, "published")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=load", "BRIDGE_TEST_DIR="+filepath.Join(dir, "data"),
		"BRIDGE_TEST_OUT="+out, "BRIDGE_TEST_MARKER="+marker)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, batches := delivered(t, out)
		if _, err := os.Stat(marker); err == nil && batches >= 30 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("child made no progress")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	before, batchesBefore := delivered(t, out)
	if len(before) == 2000 {
		t.Fatal("child finished before the kill; the test proves nothing")
	}
	t.Logf("killed after %d batches (%d distinct items)", batchesBefore, len(before))

	p, err := NewPipeline("killed", NewDestination("d", appendIDs(out, 0), BatchSize(20)), WithDataDir(filepath.Join(dir, "data")))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Run(ctxT(t), nil); err != nil {
		t.Fatalf("run after kill -9: %v", err)
	}
	counts, _ := delivered(t, out)
	dups := 0
	for id := range 2000 {
		switch n := counts[id]; {
		case n == 0:
			t.Fatalf("item %d lost", id)
		case n > 1:
			dups += n - 1
		}
	}
	// At most the batches in flight come twice: 4 calls at once, and the
	// batches acknowledged in the last 100ms, which the embedded server had
	// not yet written down (about 8 at 50ms a call); 20 rows each.
	if dups > (4+8+2)*20 {
		t.Fatalf("%d duplicate deliveries: more than the batches in flight at the crash", dups)
	}
	t.Logf("duplicates after the crash: %d items", dups)
}

// The NATS server restarts mid-run: the run waits for it and delivers every
// item at least once.
func TestNATSServerRestart(t *testing.T) {
	storeDir := t.TempDir()
	s := queuetest.RunJetStreamAt(t, storeDir, -1)
	port := s.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	out := filepath.Join(dir, "ids.txt")
	p, err := NewPipeline("restart", NewDestination("d", appendIDs(out, 10*time.Millisecond), BatchSize(10), MaxParallelLoadJobs(4),
		RetryBackoff(10*time.Millisecond, 100*time.Millisecond)),
		WithDataDir(dir), WithNATSURL(s.ClientURL()), WithAckWait(2*time.Second), WithLogger(zaptest.NewLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.cfg.fetchWait = 50 * time.Millisecond

	// Restart the server once 20 batches are through.
	restarted := make(chan error, 1)
	go func() {
		for lines(out) < 20 {
			time.Sleep(5 * time.Millisecond)
		}
		s.Shutdown()
		s.WaitForShutdown()
		time.Sleep(500 * time.Millisecond)
		s2, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: storeDir, NoSigs: true, NoLog: true})
		if err != nil {
			restarted <- err
			return
		}
		s2.Start()
		t.Cleanup(s2.Shutdown)
		restarted <- nil
	}()
	if _, err := p.Run(ctxT(t), faultItems(1000), TableName("t")); err != nil {
		t.Fatalf("Run across a server restart: %v", err)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	counts, _ := delivered(t, out)
	for id := range 1000 {
		if counts[id] == 0 {
			t.Fatalf("item %d lost", id)
		}
	}
}

// lines counts the lines of a file (0 if it does not exist).
func lines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}
