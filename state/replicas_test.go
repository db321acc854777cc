package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fanoutbridge/bridge/internal/queuetest"
	"github.com/fanoutbridge/bridge/queue"
	"github.com/fanoutbridge/bridge/state"
)

// The state bucket takes the pipeline's replicas when it is made, follows a
// change of them, and keeps them when the queue is opened without replicas.
func TestStateBucketReplicas(t *testing.T) {
	c := queuetest.RunCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	name := queuetest.UniqueName("s")
	for _, step := range []struct {
		replicas, want int
	}{
		{3, 3}, // made with 3
		{0, 3}, // opened without: kept
		{1, 1}, // changed
		{3, 3}, // and back
	} {
		q, err := queue.Open(ctx, nc, queue.Config{Pipeline: name, Replicas: step.replicas})
		if err != nil {
			t.Fatal(err)
		}
		st, err := state.Open(ctx, q)
		if err != nil {
			t.Fatalf("replicas %d: %v", step.replicas, err)
		}
		kv, err := js.KeyValue(ctx, q.StateBucket())
		if err != nil {
			t.Fatal(err)
		}
		status, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := status.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas; got != step.want {
			t.Fatalf("opened with replicas %d: the state bucket has %d, want %d", step.replicas, got, step.want)
		}
		// It answers at once, also right after its replicas changed.
		if err := st.SaveMember(ctx, state.Member{Name: "d"}); err != nil {
			t.Fatalf("replicas %d: state write: %v", step.replicas, err)
		}
	}
}
