package kafka_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/fanoutbridge/bridge/sinks/kafka"
	"github.com/fanoutbridge/bridge/sinktest"
)

// The kafka sink passes bridge's conformance suite: topics of one
// partition (Kafka keeps order per partition), read back with franz-go.
// It is at least once: a batch whose acknowledgement was lost is in the
// topic twice.
func TestConformance(t *testing.T) {
	c := newCluster(t)
	var n atomic.Int64
	sinktest.Run(t, sinktest.Harness{New: func(t *testing.T) sinktest.Target {
		prefix := fmt.Sprintf("conf%d.", n.Add(1))
		s, err := kafka.New(kafka.Config{Brokers: c.ListenAddrs(), Topic: prefix + "{table}", CreateTopics: true, TopicPartitions: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return sinktest.Target{Sink: s, Read: func(ctx context.Context, table string) ([]sinktest.Got, error) {
			var out []sinktest.Got
			for _, r := range readTopic(t, c, prefix+table) {
				out = append(out, sinktest.Got{ID: int64(r.Value["id"].(float64)), BatchID: r.Headers[kafka.HeaderBatchID]})
			}
			return out, nil
		}}
	}})
}
