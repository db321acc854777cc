package kafka_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sink"
	"github.com/fanoutbridge/bridge/sinks/kafka"
)

// w1Events returns n JSON lines shaped as /work/shared/bench/gen_events.py
// writes them (the reference workload W1): flat scalars, an RFC 3339
// string, a nested object and a list.
func w1Events(n int) []byte {
	rnd := rand.New(rand.NewPCG(42, 42))
	cities := []string{"Berlin", "Lisbon", "Austin", "Osaka", "Nairobi", "Quito", "Oslo", "Perth"}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range n {
		tags := make([]string, rnd.IntN(4))
		for j := range tags {
			tags[j] = string(rune('a' + rnd.IntN(5)))
		}
		_ = enc.Encode(map[string]any{
			"id":        i,
			"user_name": fmt.Sprintf("user_%08d", rnd.IntN(100_000_000)),
			"email":     fmt.Sprintf("u%d@example.org", rnd.IntN(1_000_000)),
			"created_at": fmt.Sprintf("2026-%02d-%02dT%02d:%02d:%02dZ",
				1+rnd.IntN(12), 1+rnd.IntN(28), rnd.IntN(24), rnd.IntN(60), rnd.IntN(60)),
			"amount":  float64(rnd.IntN(1_000_000)) / 100,
			"active":  rnd.IntN(2) == 0,
			"score":   rnd.IntN(2001) - 1000,
			"address": map[string]any{"city": cities[rnd.IntN(len(cities))], "zip": fmt.Sprintf("%05d", rnd.IntN(100_000))},
			"tags":    tags,
		})
	}
	return buf.Bytes()
}

// BenchmarkPipelineW1 runs 100,000 W1-like events through a whole pipeline
// (normalize, batch 1000, embedded JetStream) into the null destination and
// into kfake through the kafka sink (its defaults: table-sequential,
// acks=all, no key), alternating, three rounds, and reports each one's
// median items/s and their ratio. Run it with
//
//	go test -run '^$' -bench PipelineW1 -benchtime 1x ./sinks/kafka/
func BenchmarkPipelineW1(b *testing.B) {
	const events = 100_000
	data := w1Events(events)
	c := newCluster(b)
	for range b.N {
		// Alternate the two, three rounds, and take each one's median: the
		// machine is shared and noisy.
		rates := map[string][]float64{}
		for round := range 3 {
			rates["null"] = append(rates["null"], runW1(b, bridge.NewDestination("null",
				func(context.Context, []bridge.Row, bridge.Table) error { return nil }, bridge.BatchSize(1000)), data))
			cfg := kafka.Config{Brokers: c.ListenAddrs(), Topic: fmt.Sprintf("w1.%d.{table}", round)}
			rates["kafka"] = append(rates["kafka"], runW1(b, kafka.Destination("kafka", bridge.WithConfig(cfg), bridge.BatchSize(1000)), data))
		}
		null, k := median(rates["null"]), median(rates["kafka"])
		b.ReportMetric(null, "null-items/s")
		b.ReportMetric(k, "kafka-items/s")
		b.ReportMetric(k/null, "kafka/null")
	}
}

func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// runW1 runs data through a fresh pipeline into dest and returns items/s.
func runW1(b *testing.B, dest *bridge.Destination, data []byte) float64 {
	b.Helper()
	p, err := bridge.NewPipeline(fmt.Sprintf("w1_%d", time.Now().UnixNano()), dest, bridge.WithDataDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	info, err := p.Run(ctx, io.Reader(bytes.NewReader(data)), bridge.TableName("events"))
	if err != nil {
		b.Fatalf("Run: %v", err)
	}
	return float64(info.Items()) / time.Since(start).Seconds()
}

// BenchmarkWrite measures one Write of 1000 rows into kfake (no pipeline).
func BenchmarkWrite(b *testing.B) {
	c := newCluster(b)
	s, err := kafka.New(kafka.Config{Brokers: c.ListenAddrs(), CreateTopics: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	rows := make([]sink.Row, 1000)
	for i := range rows {
		rows[i] = sink.Row{"id": int64(i), "user_name": "user_00001234", "email": "u1@example.org", "amount": 12.5, "active": true, "score": int64(-3), "created_at": time.Now().UTC()}
	}
	b.ResetTimer()
	for i := range b.N {
		if err := s.Write(context.Background(), sink.Batch{ID: fmt.Sprint("b", i), Table: sink.Table{Name: "events"}, Rows: rows}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
}
