package queue_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/internal/queuetest"
	"github.com/fanoutbridge/bridge/queue"
)

// A delivery that let go of its payload reads it back from the stream; many
// goroutines may read payloads of a fresh queue at once (the Object Store is
// opened once).
func TestShedAndConcurrentPayload(t *testing.T) {
	for name, nc := range connections(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			q, err := queue.Open(ctx, nc, queue.Config{Pipeline: queuetest.UniqueName("s")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = q.Drop(context.Background()) })
			cons, err := q.Consumer(ctx, queue.ConsumerConfig{Destination: "d"})
			if err != nil {
				t.Fatal(err)
			}
			big := bytes.Repeat([]byte("x"), 2<<20)
			pub := q.NewPublisher(4)
			payloads := [][]byte{[]byte("small"), big, []byte("small2"), big}
			for i, p := range payloads {
				if err := pub.Publish(ctx, queue.Batch{BatchHeader: queue.BatchHeader{LoadID: "1", Table: "t", Seq: i + 1, Rows: 1, Format: "typed-jsonl"}, Payload: p}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := pub.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			// A fresh queue on the same connection: its Object Store is not open yet.
			q2, err := queue.Open(ctx, nc, queue.Config{Pipeline: q.Pipeline()})
			if err != nil {
				t.Fatal(err)
			}
			cons, err = q2.Consumer(ctx, queue.ConsumerConfig{Destination: "d"})
			if err != nil {
				t.Fatal(err)
			}
			var got []*queue.Delivery
			for len(got) < len(payloads) {
				if err := cons.Fetch(ctx, len(payloads), 200*time.Millisecond, func(d *queue.Delivery) { got = append(got, d) }); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			for i, d := range got {
				d.Shed()
				for range 4 {
					wg.Go(func() {
						p, err := d.Payload(ctx)
						if err != nil {
							t.Errorf("batch %d: %v", i+1, err)
						} else if !bytes.Equal(p, payloads[i]) {
							t.Errorf("batch %d: %d bytes back, want %d", i+1, len(p), len(payloads[i]))
						}
					})
				}
			}
			wg.Wait()
		})
	}
}
