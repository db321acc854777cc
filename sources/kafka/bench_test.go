package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sources/kafka"
)

// BenchmarkLatency produces b.N messages at 1,000 a second into kfake,
// each carrying the time it was produced, and reads them with the Kafka
// source into a destination that does nothing (flush interval 20 ms, batch
// size 1,000, so time cuts the batches). It reports the produce-to-call
// latency, p50 and p99. Run it with
//
//	go test -run '^$' -bench Latency -benchtime 5000x ./sources/kafka/
func BenchmarkLatency(b *testing.B) {
	const topic = "latency"
	c := newCluster(b, 2, topic)
	addr := c.ListenAddrs()[0]
	src, err := kafka.New(kafka.Config{Brokers: []string{addr}, Topics: []string{topic}, Group: "bench", SessionTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var lat []time.Duration
	warm := make(chan struct{})
	got := make(chan struct{})
	want := b.N
	fn := func(ctx context.Context, items []bridge.Row, table bridge.Table) error {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for _, it := range items {
			sent := it["sent_ns"].(int64)
			if sent == 0 {
				close(warm)
				continue
			}
			lat = append(lat, now.Sub(time.Unix(0, sent)))
			if len(lat) == want {
				close(got)
			}
		}
		return nil
	}
	p, err := bridge.NewPipeline("latency", bridge.NewDestination("null", fn, bridge.BatchSize(1000), bridge.FlushInterval(20*time.Millisecond)),
		bridge.WithDataDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx, src)
		done <- err
	}()
	defer func() {
		cancel()
		<-done
	}()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	// One message first, so that the group is joined before the clock runs.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(`{"id":-1,"sent_ns":0}`)}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	select {
	case <-warm:
	case err := <-done:
		b.Fatalf("Run: %v", err)
	case <-time.After(waitFor):
		b.Fatal("the first message took over", waitFor)
	}

	b.ResetTimer()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := range b.N {
		<-tick.C
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, `{"id":%d,"sent_ns":%d}`, i, time.Now().UnixNano())},
			func(_ *kgo.Record, err error) {
				if err != nil && ctx.Err() == nil {
					b.Error(err)
				}
			})
	}
	select {
	case <-got:
	case err := <-done:
		b.Fatalf("Run: %v", err)
	case <-time.After(waitFor):
		b.Fatalf("%d of %d messages in %s", len(lat), b.N, waitFor)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(0, "ns/op")
}
