package bridge

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

const pointRows, pointBatch, pointParallel = 2000, 20, 4

// childPoint loads pointRows rows in batches of pointBatch, slowly, on the
// pipeline and server its environment names, writing a marker once
// everything is published.
func childPoint() int {
	opts := []PipelineOption{WithDataDir(os.Getenv("BRIDGE_TEST_DIR"))}
	if url := os.Getenv("BRIDGE_TEST_NATS"); url != "" {
		opts = append(opts, WithNATSURL(url))
	}
	p, err := NewPipeline(os.Getenv("BRIDGE_TEST_PIPELINE"), NewDestination("d", appendIDs(os.Getenv("BRIDGE_TEST_OUT"), 20*time.Millisecond),
		BatchSize(pointBatch), MaxParallelLoadJobs(pointParallel)), opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var once sync.Once
	// SIGTERM cancels the run, as in cmd/bridge.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ropts := []RunOption{TableName("t"), OnProgress(func(pr Progress) {
		if pr.Produced == pointRows {
			once.Do(func() { _ = os.WriteFile(os.Getenv("BRIDGE_TEST_MARKER"), []byte("published"), 0o644) })
		}
	}, time.Millisecond)}
	if key := os.Getenv("BRIDGE_TEST_KEY"); key != "" {
		ropts = append(ropts, ResumeKey(key))
	}
	_, err = p.Run(ctx, faultItems(pointRows), ropts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// Fan-out acceptance 4: kill -9 of a run at 5 points, from right after its
// last publish to its last batch, then a run with nothing new: it completes
// within 30 s every time, every row is delivered, and the only duplicates are
// the batches in flight at the kill.
func TestKill9AtPointsThenPendingRun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, at := range []int{0, 25, 50, 90, 99} { // batches delivered before the kill, of 100
			t.Run(fmt.Sprintf("after %d batches", at), func(t *testing.T) {
				e := newEnv(t, b)
				out := filepath.Join(e.dir, "ids.txt")
				marker := filepath.Join(e.dir, "published")
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), childEnv+"=point", "BRIDGE_TEST_DIR="+e.dir, "BRIDGE_TEST_OUT="+out,
					"BRIDGE_TEST_MARKER="+marker, "BRIDGE_TEST_PIPELINE="+e.name)
				if b.name == "external" {
					cmd.Env = append(cmd.Env, "BRIDGE_TEST_NATS="+natsURLOf(t, b, e.dir))
				}
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(time.Minute)
				for {
					_, batches := delivered(t, out)
					if _, err := os.Stat(marker); err == nil && batches >= at {
						break
					}
					if time.Now().After(deadline) {
						_ = cmd.Process.Kill()
						_ = cmd.Wait()
						t.Fatal("child made no progress within a minute")
					}
					time.Sleep(2 * time.Millisecond)
				}
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				_ = cmd.Wait()
				before, batchesBefore := delivered(t, out)
				t.Logf("killed after %d batches (%d distinct items)", batchesBefore, len(before))

				p := e.open(NewDestination("d", appendIDs(out, 0), BatchSize(pointBatch)))
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				start := time.Now()
				if _, err := p.Run(ctx, nil); err != nil {
					t.Fatalf("pending-only run after kill -9 (%v): %v", time.Since(start), err)
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
				// In flight: the calls running, the batches fetched and waiting
				// (at most 2x the calls + 16), and on the embedded server the
				// acks of the last ~100 ms it had not written down.
				if bound := (pointParallel + 2*pointParallel + 16 + 8) * pointBatch; dups > bound {
					t.Fatalf("%d duplicate deliveries, more than the %d of the batches in flight", dups, bound)
				}
				t.Logf("pending-only run took %v; %d duplicates", time.Since(start).Round(time.Millisecond), dups)
			})
		}
	})
}

// natsURLOf returns the NATS URL a backend's pipelines use.
func natsURLOf(t *testing.T, b backend, dir string) string {
	t.Helper()
	var c pipelineConfig
	for _, o := range b.opts(t, dir) {
		if err := o(&c); err != nil {
			t.Fatal(err)
		}
	}
	return c.natsURL
}
