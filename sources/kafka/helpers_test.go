package kafka_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// waitFor bounds every wait of these tests.
const waitFor = 90 * time.Second

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitFor)
	t.Cleanup(cancel)
	return ctx
}

// newCluster starts an in-process Kafka (kfake, one broker) with topics of
// partitions partitions each; groups may have short session timeouts.
func newCluster(t testing.TB, partitions int32, topics ...string) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100 * time.Millisecond)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// producer is a Kafka client that writes to the partition a record names.
func newProducer(t testing.TB, addrs []string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce writes values to topic, value i to partition i%partitions, and
// returns where each went.
func produce(t testing.TB, cl *kgo.Client, topic string, partitions int, values [][]byte) []*kgo.Record {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: v}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing to %s: %v", topic, err)
	}
	return recs
}

// offsets are a topic's offsets per partition.
type offsets map[int]int64

// endOffsets are the offsets after each partition's last message.
func endOffsets(ctx context.Context, addr, topic string, partitions int) (offsets, error) {
	c := &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 10 * time.Second}
	var reqs []kafkago.OffsetRequest
	for p := range partitions {
		reqs = append(reqs, kafkago.LastOffsetOf(p))
	}
	res, err := c.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, err
	}
	out := offsets{}
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, po.Error
		}
		out[po.Partition] = po.LastOffset
	}
	return out, nil
}

// committed are a group's committed offsets of topic (-1: none).
func committed(ctx context.Context, addr, group, topic string, partitions int) (offsets, error) {
	c := &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 10 * time.Second}
	ps := make([]int, partitions)
	for p := range ps {
		ps[p] = p
	}
	res, err := c.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err != nil {
		return nil, err
	}
	if res.Error != nil {
		return nil, res.Error
	}
	out := offsets{}
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, po.Error
		}
		out[po.Partition] = po.CommittedOffset
	}
	return out, nil
}

// waitCommitted waits until group's committed offsets of topic are its end
// offsets.
func waitCommitted(t testing.TB, addr, group, topic string, partitions int) offsets {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var got, want offsets
	var err error
	for {
		want, err = endOffsets(ctx, addr, topic, partitions)
		if err == nil {
			got, err = committed(ctx, addr, group, topic, partitions)
		}
		if err == nil && fmt.Sprint(got) == fmt.Sprint(want) {
			return got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s committed %v of %s, want its end offsets %v (last error: %v)", group, got, topic, want, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freePort is a TCP port nothing listens on.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
