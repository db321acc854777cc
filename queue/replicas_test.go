package queue_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fanoutbridge/bridge/internal/queuetest"
	"github.com/fanoutbridge/bridge/queue"
)

// replicasOf returns the configured replicas of each stream, by name; 0 for
// one that does not exist.
func replicasOf(t *testing.T, ctx context.Context, nc *nats.Conn, names ...string) map[string]int {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, n := range names {
		s, err := js.Stream(ctx, n)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			out[n] = 0
			continue
		}
		if err != nil {
			t.Fatalf("stream %s: %v", n, err)
		}
		out[n] = s.CachedInfo().Config.Replicas
	}
	return out
}

// On a 3-node cluster every stream of a pipeline (batches, dead letters,
// ledger, Object Store) gets the replicas asked for; a queue opened without
// replicas keeps them; asking for others changes every existing one.
func TestReplicasEveryStream(t *testing.T) {
	c := queuetest.RunCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	name := queuetest.UniqueName("r")
	q, err := queue.Open(ctx, nc, queue.Config{Pipeline: name, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	// Make the ledger and the Object Store: a resumable load with a batch
	// over max payload.
	pub := q.NewPublisher(2)
	if err := pub.Record(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), int(nc.MaxPayload())+1)
	if err := pub.Publish(ctx, queue.Batch{BatchHeader: queue.BatchHeader{LoadID: "1", Table: "t", Seq: 1, Rows: 1, Format: "typed-jsonl"}, Payload: big}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	streams := []string{q.StreamName(), q.DLQStreamName(), q.LedgerStreamName(), q.ObjectStream()}
	check := func(when string, want int) {
		t.Helper()
		for s, n := range replicasOf(t, ctx, nc, streams...) {
			if n != want {
				t.Errorf("%s: stream %s has %d replicas, want %d", when, s, n, want)
			}
		}
	}
	check("created with 3", 3)

	q2, err := queue.Open(ctx, nc, queue.Config{Pipeline: name})
	if err != nil {
		t.Fatal(err)
	}
	if q2.Replicas() != 3 {
		t.Errorf("reopened without replicas: Replicas() = %d, want the pipeline's 3", q2.Replicas())
	}
	check("reopened without replicas", 3)

	q3, err := queue.Open(ctx, nc, queue.Config{Pipeline: name, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	check("reopened with 1", 1)
	if err := q3.Drop(ctx); err != nil {
		t.Fatal(err)
	}

	_, err = queue.Open(ctx, nc, queue.Config{Pipeline: queuetest.UniqueName("r"), Replicas: 5})
	if !errors.Is(err, queue.ErrReplicas) || !strings.Contains(err.Error(), "fewer than 5") {
		t.Fatalf("5 replicas on 3 servers: %v, want ErrReplicas saying there are too few servers", err)
	}
}

// A server that is not part of a cluster keeps one copy: asking for more is
// an error that says so, and creates nothing.
func TestReplicasRefusedOffCluster(t *testing.T) {
	for name, nc := range connections(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p := queuetest.UniqueName("r")
			_, err := queue.Open(ctx, nc, queue.Config{Pipeline: p, Replicas: 3})
			if !errors.Is(err, queue.ErrReplicas) || !strings.Contains(err.Error(), "not part of a cluster") {
				t.Fatalf("Open with 3 replicas on a single server: %v, want ErrReplicas saying it is not a cluster", err)
			}
			if _, err := queue.Lookup(ctx, nc, queue.Config{Pipeline: p}); !errors.Is(err, queue.ErrNotFound) {
				t.Fatalf("the refused Open created the stream: Lookup: %v", err)
			}
			for _, n := range []int{-1, 6} {
				if _, err := queue.Open(ctx, nc, queue.Config{Pipeline: p, Replicas: n}); !errors.Is(err, queue.ErrReplicas) {
					t.Errorf("Open with %d replicas: %v, want ErrReplicas", n, err)
				}
			}
		})
	}
}

// The errors a server gives about replicas become errors that say what to do.
func TestReplicasErrorExplained(t *testing.T) {
	q := queue.NewForTest(3)
	for _, tc := range []struct {
		name string
		err  error
		want string // "" : not about replicas
	}{
		{"not updatable", &jetstream.APIError{Code: 400, ErrorCode: 10061, Description: "Replicas configuration can not be updated"},
			"cannot change the stream's replicas from 1 to 3"},
		{"not clustered", &jetstream.APIError{Code: 500, ErrorCode: 10074, Description: "replicas > 1 not supported in non-clustered mode"},
			"not part of a cluster"},
		{"too few servers", &jetstream.APIError{Code: 503, ErrorCode: 10023, Description: "insufficient resources"},
			"fewer than 3 JetStream servers"},
		{"other", &jetstream.APIError{Code: 400, ErrorCode: 10058, Description: "stream name already in use"}, ""},
		{"not an API error", context.DeadlineExceeded, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := q.ExplainReplicas("BRIDGE_x", 1, tc.err)
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), "BRIDGE_x") {
				t.Fatalf("%v: does not wrap the server's error or name the stream", err)
			}
			if got := errors.Is(err, queue.ErrReplicas); got != (tc.want != "") {
				t.Fatalf("%v: errors.Is(ErrReplicas) = %v", err, got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v: want it to say %q", err, tc.want)
			}
		})
	}
}

// Workers that start together open the same new R3 pipeline at once, each
// on its own connection: all of them succeed. nats-server 2.9 makes the
// streams but may answer none of the racing creates and updates.
func TestReplicasConcurrentOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		urls func(t *testing.T) string
	}{
		{"in-process", func(t *testing.T) string { return queuetest.RunCluster(t, 3).URLs() }},
		{"nats-server binary", func(t *testing.T) string { return queuetest.RunBinaryCluster(t, 3).URLs }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.urls(t)
			name := queuetest.UniqueName("co")
			errs := make([]error, 3)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() {
					nc, err := nats.Connect(url)
					if err != nil {
						errs[i] = err
						return
					}
					defer nc.Close()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					_, errs[i] = queue.Open(ctx, nc, queue.Config{Pipeline: name, Replicas: 3})
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("opener %d: %v", i, err)
				}
			}
		})
	}
}
