package queue_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fanoutbridge/bridge/internal/queuetest"
	"github.com/fanoutbridge/bridge/queue"
)

func TestTokenIsSafeAndDistinct(t *testing.T) {
	names := []string{"items", "a.b", "a_b", "*", ">", "with spaces", "../x", "_b", "_h", "x\xff", "Items", "items-2",
		strings.Repeat("long", 500), strings.Repeat("long", 500) + "!", "ünïcode", "tab\there"}
	seen := map[string]string{}
	for _, n := range names {
		tok := queue.Token(n)
		if tok == "" || strings.ContainsAny(tok, ".*> \t\r\n") || len(tok) > 64 {
			t.Errorf("Token(%q) = %q: not a safe subject token", n, tok)
		}
		if prev, ok := seen[tok]; ok {
			t.Errorf("Token(%q) = Token(%q) = %q", n, prev, tok)
		}
		seen[tok] = n
		if len(n) <= 60 && queue.TableOfToken(tok) != n {
			t.Errorf("TableOfToken(Token(%q)) = %q", n, queue.TableOfToken(tok))
		}
	}
}

func connections(t *testing.T) map[string]*nats.Conn {
	out := map[string]*nats.Conn{}
	s := queuetest.RunJetStream(t)
	for name, url := range map[string]string{"in-process": s.ClientURL(), "external": queuetest.External(t)} {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatalf("connect %s: %v", url, err)
		}
		t.Cleanup(nc.Close)
		out[name] = nc
	}
	return out
}

// A republished batch (same load, table and sequence) is stored once, and a
// batch over max payload travels through the Object Store whole.
func TestPublishDedupAndLargeBatch(t *testing.T) {
	for name, nc := range connections(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			q, err := queue.Open(ctx, nc, queue.Config{Pipeline: queuetest.UniqueName("q")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = q.Drop(context.Background()) })
			cons, err := q.Consumer(ctx, queue.ConsumerConfig{Destination: "d", Backfill: true})
			if err != nil {
				t.Fatal(err)
			}
			big := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB
			pub := q.NewPublisher(4)
			for _, b := range []queue.Batch{
				{BatchHeader: queue.BatchHeader{LoadID: "1", Table: "a.b", Seq: 1, Rows: 1, Format: "typed-jsonl"}, Payload: []byte("x")},
				{BatchHeader: queue.BatchHeader{LoadID: "1", Table: "a.b", Seq: 1, Rows: 1, Format: "typed-jsonl"}, Payload: []byte("x")},
				{BatchHeader: queue.BatchHeader{LoadID: "1", Table: "a.b", Seq: 2, Rows: 9, Format: "typed-jsonl"}, Payload: big},
			} {
				if err := pub.Publish(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := pub.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			st, err := q.State(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Batches != 2 {
				t.Fatalf("stored %d batches, want 2 (the republish de-duplicated)", st.Batches)
			}
			var got []*queue.Delivery
			for len(got) < 2 {
				if err := cons.Fetch(ctx, 2, 200*time.Millisecond, func(d *queue.Delivery) { got = append(got, d) }); err != nil {
					t.Fatal(err)
				}
			}
			for i, d := range got {
				if d.Table != "a.b" || d.Seq != i+1 {
					t.Errorf("delivery %d: table %q seq %d", i, d.Table, d.Seq)
				}
				p, err := d.Payload(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if i == 1 && !bytes.Equal(p, big) {
					t.Errorf("large batch: %d bytes back, want %d", len(p), len(big))
				}
				if err := d.Ack(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// The ledger knows which batches of a resumable load are stored.
func TestLedger(t *testing.T) {
	for name, nc := range connections(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			q, err := queue.Open(ctx, nc, queue.Config{Pipeline: queuetest.UniqueName("l")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = q.Drop(context.Background()) })
			if _, err := q.Consumer(ctx, queue.ConsumerConfig{Destination: "d", Backfill: true}); err != nil {
				t.Fatal(err)
			}
			pub := q.NewPublisher(2)
			if err := pub.Record(ctx, "1.5"); err != nil {
				t.Fatal(err)
			}
			for seq := 1; seq <= 5; seq++ {
				if err := pub.Publish(ctx, queue.Batch{BatchHeader: queue.BatchHeader{LoadID: "1.5", Table: "t", Seq: seq, Rows: 1, Format: "typed-jsonl"}, Payload: []byte("x")}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := pub.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			nc.Flush()
			stored, err := q.Stored(ctx, "1.5")
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != 5 || !stored[q.MsgID("1.5", "t", 3)] {
				t.Fatalf("stored %v", stored)
			}
			if err := q.ForgetLoad(ctx, "1.5"); err != nil {
				t.Fatal(err)
			}
			if stored, _ := q.Stored(ctx, "1.5"); len(stored) != 0 {
				t.Fatalf("after ForgetLoad: %v", stored)
			}
		})
	}
}
