package bridge

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/fanoutbridge/bridge/internal/queuetest"
)

// idCounter is a destination that counts the deliveries of every id.
type idCounter struct {
	mu     sync.Mutex
	counts map[int64]int
	calls  atomic.Int64
}

func (c *idCounter) fn(delay time.Duration) Func {
	return func(ctx context.Context, items []Row, table Table) error {
		time.Sleep(delay)
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, it := range items {
			c.counts[it["id"].(int64)]++
		}
		c.calls.Add(1)
		return nil
	}
}

// A pipeline with three replicas on a 3-node cluster loses one server in the
// middle of a load and goes on: the load completes, every row is delivered,
// and the only duplicates are batches that were in flight.
func TestClusterLosesANode(t *testing.T) {
	const rows, batch, parallel = 20_000, 100, 4
	for _, tc := range []struct {
		name string
		// kill returns the server to shut down once the run's progress
		// says so, or nil to wait.
		kill func(c *queuetest.Cluster, stream string, pr Progress) *server.Server
	}{
		{"stream leader while publishing", func(c *queuetest.Cluster, stream string, pr Progress) *server.Server {
			if pr.Produced < rows/4 {
				return nil
			}
			return c.StreamLeader(stream)
		}},
		{"a follower while delivering", func(c *queuetest.Cluster, stream string, pr Progress) *server.Server {
			if pr.Delivered < rows/3 {
				return nil
			}
			leader := c.StreamLeader(stream)
			for _, s := range c.Servers {
				if s != leader {
					return s
				}
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := queuetest.RunCluster(t, 3)
			name := queuetest.UniqueName("cl")
			dest := &idCounter{counts: map[int64]int{}}
			p, err := NewPipeline(name, NewDestination("d", dest.fn(5*time.Millisecond), BatchSize(batch), MaxParallelLoadJobs(parallel)),
				WithNATSURL(c.URLs()), WithReplicas(3), WithDataDir(t.TempDir()), WithAckWait(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			p.cfg.fetchWait = 50 * time.Millisecond
			stream := p.q.StreamName()

			var (
				once   sync.Once
				killed = make(chan string, 1)
				wg     sync.WaitGroup
			)
			defer wg.Wait()
			progress := func(pr Progress) {
				s := tc.kill(c, stream, pr)
				if s == nil {
					return
				}
				once.Do(func() {
					killed <- s.Name()
					wg.Go(s.Shutdown) // not in the progress callback's goroutine
				})
			}
			// A lost server costs a leader election (4 to 9 s) and the
			// publisher's queue.AckTimeout (10 s) for the acks it lost.
			ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
			defer cancel()
			start := time.Now()
			items := faultItems(rows)
			info, err := p.Run(ctx, items, TableName("t"), OnProgress(progress, 5*time.Millisecond))
			if err != nil {
				t.Fatalf("run with a server lost: %v", err)
			}
			select {
			case n := <-killed:
				t.Logf("shut down %s; the run took %v, %d calls", n, time.Since(start).Round(time.Millisecond), dest.calls.Load())
			default:
				t.Fatal("the run ended before a server was shut down: the test did not test anything")
			}
			if got := info.Delivered["t"].Items; got < rows {
				t.Errorf("run says %d rows delivered, want at least %d", got, rows)
			}
			dest.mu.Lock()
			defer dest.mu.Unlock()
			dups := 0
			for id := range int64(rows) {
				n := dest.counts[id]
				if n == 0 {
					t.Fatalf("row %d lost", id)
				}
				dups += n - 1
			}
			// The calls running and the batches fetched and waiting, as in
			// inFlight, in batches of this test's size.
			if bound := (parallel + 2*parallel + 16 + 8) * batch; dups > bound {
				t.Fatalf("%d duplicate rows, more than the %d that can be in flight", dups, bound)
			}
			t.Logf("%d duplicate rows", dups)
		})
	}
}
