package bridge

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/internal/queuetest"
)

// rerunSame runs the same input with the same resume key again, as `bridge
// run` does with the same file, and checks that it finishes within 60 s with
// every id delivered and no more duplicates than bound items.
func rerunSame(t *testing.T, e *env, out, key string, bound int) {
	t.Helper()
	p := e.open(NewDestination("d", appendIDs(out, 0), BatchSize(pointBatch), MaxParallelLoadJobs(pointParallel)))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	info, err := p.Run(ctx, faultItems(pointRows), TableName("t"), ResumeKey(key))
	if err != nil {
		t.Fatalf("the same command again (%v): %v", time.Since(start), err)
	}
	counts, _ := delivered(t, out)
	dups := 0
	for id := range pointRows {
		switch n := counts[id]; {
		case n == 0:
			t.Fatalf("item %d lost", id)
		case n > 1:
			dups += n - 1
		}
	}
	if dups > bound {
		t.Fatalf("%d duplicate deliveries, more than the %d of the batches in flight", dups, bound)
	}
	t.Logf("rerun took %v, published %d rows again; %d duplicates", time.Since(start).Round(time.Millisecond),
		info.Produced["t"].Items, dups)
	// Completed: the same key again is a new load.
	if l, ok, err := p.st.Resumable(ctx, key); err != nil || ok {
		t.Fatalf("load still resumable after it completed: %+v %v", l, err)
	}
}

// inFlight bounds the duplicates of a failure during delivery: the calls
// running, the batches fetched and waiting, and on the embedded server the
// acks of the last ~100 ms it had not written down.
const inFlight = (pointParallel + 2*pointParallel + 16 + 8) * pointBatch

// Recovery acceptance 1: after a failed run of any kind, the same command
// again carries on with the stored load (it publishes nothing twice) and
// finishes with every id delivered.
func TestRerunAfterFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		t.Run("retries spent", func(t *testing.T) {
			e := newEnv(t, b)
			out := filepath.Join(e.dir, "ids.txt")
			write := appendIDs(out, 0)
			failing := NewDestination("d", func(ctx context.Context, items []Row, table Table) error {
				if items[0]["id"].(int64) == 500 {
					return errors.New("the API is down")
				}
				return write(ctx, items, table)
			}, BatchSize(pointBatch), MaxRetries(2), RetryBackoff(time.Millisecond, 2*time.Millisecond), MaxParallelLoadJobs(pointParallel))
			p := e.open(failing)
			var re *RetriesError
			if _, err := p.Run(ctxT(t), faultItems(pointRows), TableName("t"), ResumeKey("file-1")); !errors.As(err, &re) {
				t.Fatalf("first run: %v, want a RetriesError", err)
			}
			p.Close()
			rerunSame(t, e, out, "file-1", inFlight)
		})
		t.Run("schema save fails", func(t *testing.T) {
			e := newEnv(t, b)
			out := filepath.Join(e.dir, "ids.txt")
			saveSchemaHook = func(error) error { return errors.New("nats: maximum payload exceeded") }
			p := e.open(NewDestination("d", appendIDs(out, 0), BatchSize(pointBatch)))
			_, err := p.Run(ctxT(t), faultItems(pointRows), TableName("t"), ResumeKey("file-1"))
			saveSchemaHook = func(err error) error { return err }
			if err == nil {
				t.Fatal("first run succeeded although its schema was not saved")
			}
			st, serr := p.Status(ctxT(t))
			if serr != nil || len(st.Loads) == 0 || st.Loads[len(st.Loads)-1].Status != "failed" {
				t.Fatalf("status calls the load %+v (%v), want failed", st.Loads, serr)
			}
			p.Close()
			rerunSame(t, e, out, "file-1", 0)
		})
		for _, tc := range []struct {
			name   string
			sig    syscall.Signal
			atLeft int // batches delivered before the signal
		}{
			{"SIGTERM during delivery", syscall.SIGTERM, 30},
			{"SIGKILL during delivery", syscall.SIGKILL, 30},
			{"SIGKILL after the last publish", syscall.SIGKILL, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, b)
				out := filepath.Join(e.dir, "ids.txt")
				marker := filepath.Join(e.dir, "published")
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), childEnv+"=point", "BRIDGE_TEST_DIR="+e.dir, "BRIDGE_TEST_OUT="+out,
					"BRIDGE_TEST_MARKER="+marker, "BRIDGE_TEST_PIPELINE="+e.name, "BRIDGE_TEST_KEY=file-1")
				if b.name == "external" {
					cmd.Env = append(cmd.Env, "BRIDGE_TEST_NATS="+natsURLOf(t, b, e.dir))
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(time.Minute)
				for {
					_, batches := delivered(t, out)
					if _, err := os.Stat(marker); err == nil && batches >= tc.atLeft {
						break
					}
					if time.Now().After(deadline) {
						_ = cmd.Process.Kill()
						_ = cmd.Wait()
						t.Fatal("child made no progress within a minute")
					}
					time.Sleep(2 * time.Millisecond)
				}
				if err := cmd.Process.Signal(tc.sig); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					t.Logf("child ended: %v", err)
				case <-time.After(45 * time.Second):
					_ = cmd.Process.Kill()
					<-done
					t.Fatalf("child did not end within 45 s of %v", tc.sig)
				}
				_, n := delivered(t, out)
				t.Logf("%d of %d batches delivered before the rerun", n, pointRows/pointBatch)
				rerunSame(t, e, out, "file-1", inFlight)
			})
		}
	})
}

var _ = strconv.Itoa

// Recovery acceptance 3: the external server is killed and left down: the
// run fails with a clear error; once the server is back, the same command
// again completes within 60 s with nothing lost.
func TestNATSDownThenBack(t *testing.T) {
	storeDir := t.TempDir()
	s := queuetest.RunJetStreamAt(t, storeDir, -1)
	port := s.Addr().(*net.TCPAddr).Port
	url := s.ClientURL()
	dir := t.TempDir()
	out := filepath.Join(dir, "ids.txt")
	opts := []PipelineOption{WithDataDir(dir), WithNATSURL(url), WithOutageLimit(3 * time.Second)}
	dest := NewDestination("d", appendIDs(out, 10*time.Millisecond), BatchSize(pointBatch), MaxParallelLoadJobs(pointParallel))
	p, err := NewPipeline("down", dest, opts...)
	if err != nil {
		t.Fatal(err)
	}
	p.cfg.fetchWait = 50 * time.Millisecond
	go func() {
		for lines(out) < 20 {
			time.Sleep(5 * time.Millisecond)
		}
		s.Shutdown() // and left down
	}()
	start := time.Now()
	_, err = p.Run(ctxT(t), faultItems(pointRows), TableName("t"), ResumeKey("file-1"))
	if err == nil || !strings.Contains(err.Error(), "NATS") {
		t.Fatalf("run with the server down: %v, want an error about NATS", err)
	}
	t.Logf("failing run ended after %v: %v", time.Since(start).Round(time.Millisecond), err)
	p.Close()

	s2 := queuetest.RunJetStreamAt(t, storeDir, port)
	_ = s2
	p2, err := NewPipeline("down", NewDestination("d", appendIDs(out, 0), BatchSize(pointBatch)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := p2.Run(ctx, faultItems(pointRows), TableName("t"), ResumeKey("file-1")); err != nil {
		t.Fatalf("the same command once the server is back: %v", err)
	}
	counts, _ := delivered(t, out)
	dups := 0
	for id := range pointRows {
		if counts[id] == 0 {
			t.Fatalf("item %d lost", id)
		}
		dups += max(0, counts[id]-1)
	}
	if dups > inFlight {
		t.Fatalf("%d duplicates, more than the %d in flight", dups, inFlight)
	}
}
