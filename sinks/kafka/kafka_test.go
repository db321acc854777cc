package kafka_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/sink"
	"github.com/fanoutbridge/bridge/sinks/kafka"
)

// waitFor bounds every wait of these tests.
const waitFor = 60 * time.Second

// newCluster starts an in-process Kafka (kfake) with three brokers.
func newCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// record is one message read back.
type record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	Value     map[string]any
	Headers   map[string]string
}

// readTopic reads every message topic holds (up to its high watermarks) with
// a franz-go consumer, in partition and offset order.
func readTopic(t testing.TB, c *kfake.Cluster, topic string) []record {
	t.Helper()
	var total int64
	for _, p := range c.PartitionInfos(topic) {
		total += p.HighWatermark - p.LogStartOffset
	}
	if total == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var out []record
	for int64(len(out)) < total {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of the %d messages of %s in %s", len(out), total, topic, waitFor)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			rec := record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Headers: map[string]string{}}
			if err := json.Unmarshal(r.Value, &rec.Value); err != nil {
				t.Fatalf("message %s/%d@%d is not a JSON object: %v: %s", r.Topic, r.Partition, r.Offset, err, r.Value)
			}
			for _, h := range r.Headers {
				rec.Headers[h.Key] = string(h.Value)
			}
			out = append(out, rec)
		})
	}
	slices.SortFunc(out, func(a, b record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return out
}

// events makes n rows per table for tables, interleaved: id is unique per
// table, k is one of 37 keys and seq counts the rows of a key in a table.
func events(tables []string, n int) []any {
	var out []any
	seq := map[string]int{}
	for i := range n {
		for _, tb := range tables {
			k := fmt.Sprintf("k%02d", (i*7)%37)
			seq[tb+k]++
			out = append(out, map[string]any{"table": tb, "id": i, "k": k, "seq": seq[tb+k], "amount": float64(i) / 4})
		}
	}
	return out
}

func tableOf(item any) string { return item.(map[string]any)["table"].(string) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	t.Cleanup(cancel)
	return ctx
}

// copies counts the messages per row id of a topic, checks each message's
// headers and that the first copy of every row of a key comes in seq
// order, and returns the copies per id and the batch id of each copy.
func copies(t *testing.T, recs []record, table string) (map[int][]string, int) {
	t.Helper()
	byID := map[int][]string{}
	lastSeq := map[string]int{}
	seen := map[int]bool{}
	partOf := map[string]int32{}
	for _, r := range recs {
		id := int(r.Value["id"].(float64))
		if r.Headers[kafka.HeaderTable] != table || r.Headers[kafka.HeaderBatchID] == "" || r.Headers[kafka.HeaderRow] == "" {
			t.Fatalf("message %s/%d@%d headers %v, want table %s, a batch id and a row", r.Topic, r.Partition, r.Offset, r.Headers, table)
		}
		byID[id] = append(byID[id], r.Headers[kafka.HeaderBatchID])
		if r.Key != r.Value["k"] {
			t.Fatalf("message key %q, want the k column %v", r.Key, r.Value["k"])
		}
		if p, ok := partOf[r.Key]; ok && p != r.Partition {
			t.Fatalf("key %s in partitions %d and %d", r.Key, p, r.Partition)
		}
		partOf[r.Key] = r.Partition
		if seen[id] {
			continue
		}
		seen[id] = true
		seq := int(r.Value["seq"].(float64))
		if seq <= lastSeq[r.Key] {
			t.Fatalf("%s: key %s: seq %d after %d", table, r.Key, seq, lastSeq[r.Key])
		}
		lastSeq[r.Key] = seq
	}
	return byID, len(partOf)
}

// pipeline runs items through a kafka destination into c.
func pipeline(t *testing.T, c *kfake.Cluster, cfg kafka.Config, items []any) *bridge.LoadInfo {
	t.Helper()
	cfg.Brokers = c.ListenAddrs()
	dest := kafka.Destination("kafka", bridge.WithConfig(cfg), bridge.BatchSize(500), bridge.RetryBackoff(50*time.Millisecond, time.Second))
	p, err := bridge.NewPipeline("kafka_"+strconv.FormatInt(time.Now().UnixNano(), 36), dest, bridge.WithDataDir(t.TempDir()),
		bridge.WithLogger(zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))))
	if err != nil {
		t.Fatalf("NewPipeline: %v", err)
	}
	defer p.Close()
	info, err := p.Run(ctxT(t), items, bridge.TableNameFunc(tableOf))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return info
}

// Acceptance: 10,000 rows in 3 tables to topics t.{table}; a consumer reads
// every row once, in order per key.
func TestPipelineDeliversEveryRowOnceInKeyOrder(t *testing.T) {
	c := newCluster(t)
	tables := []string{"orders", "users", "events"}
	const perTable = 3334 // 10,002 rows
	info := pipeline(t, c, kafka.Config{Topic: "t.{table}", Key: []string{"k"}, TopicPartitions: 4}, events(tables, perTable))
	if info.Items() != perTable*len(tables) {
		t.Fatalf("delivered %d items, want %d", info.Items(), perTable*len(tables))
	}
	for _, tb := range tables {
		recs := readTopic(t, c, "t."+tb)
		byID, parts := copies(t, recs, tb)
		if len(recs) != perTable || len(byID) != perTable {
			t.Fatalf("t.%s holds %d messages of %d rows, want %d once each", tb, len(recs), len(byID), perTable)
		}
		if parts < 2 {
			t.Errorf("t.%s: keys in %d partitions, want them spread over the 4", tb, parts)
		}
	}
}

// failProduce makes the n-th produce request to topic fail with a retriable
// error for every partition in it, once; it counts the failures in failed.
func failProduce(c *kfake.Cluster, topic string, n int64, failed *atomic.Int64) {
	var seen atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.ProduceRequest)
		if len(req.Topics) == 0 || req.Topics[0].Topic != topic || seen.Add(1) != n {
			c.KeepControl() // not handled: the request is stored as usual
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotEnoughReplicas.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		failed.Add(1)
		return resp, nil, true
	})
}

// Acceptance: a broker error mid-batch is retried; the topic then holds
// every row, duplicates only from the retried batch, each with its batch id.
func TestBrokerErrorMidBatchIsRetried(t *testing.T) {
	c := newCluster(t)
	tables := []string{"orders", "users", "events"}
	const perTable = 3334
	var failed atomic.Int64
	// Produce requests go one per partition: the 6th to t.users is part
	// of the second batch of users (4 partitions).
	failProduce(c, "t.users", 6, &failed)
	// One attempt in the writer: the error reaches bridge, which retries.
	pipeline(t, c, kafka.Config{Topic: "t.{table}", Key: []string{"k"}, TopicPartitions: 4, MaxAttempts: 1}, events(tables, perTable))
	if failed.Load() != 1 {
		t.Fatalf("%d produce requests failed, want 1", failed.Load())
	}
	for _, tb := range tables {
		recs := readTopic(t, c, "t."+tb)
		byID, _ := copies(t, recs, tb)
		if len(byID) != perTable {
			t.Fatalf("t.%s holds %d of the %d rows", tb, len(byID), perTable)
		}
		dupBatches := map[string]int{}
		for id, batches := range byID {
			if len(batches) == 1 {
				continue
			}
			for _, b := range batches[1:] {
				if b != batches[0] {
					t.Fatalf("t.%s: row %d in batches %v: a copy from another batch", tb, id, batches)
				}
			}
			dupBatches[batches[0]]++
		}
		if tb != "users" && len(dupBatches) > 0 || len(dupBatches) > 1 {
			t.Fatalf("t.%s: duplicates from batches %v, want only the retried batch of t.users", tb, dupBatches)
		}
		// Only the rows of the failed produce request were sent again, in
		// a call of their own: batch id <batch>.r<rows>, one partition.
		retried := map[string]int{}
		parts := map[int32]bool{}
		for _, r := range recs {
			if base, _, ok := strings.Cut(r.Headers[kafka.HeaderBatchID], ".r"); ok {
				retried[base]++
				parts[r.Partition] = true
			}
		}
		if tb == "users" && (len(retried) != 1 || len(parts) != 1) || tb != "users" && len(retried) > 0 {
			t.Fatalf("t.%s: rows sent again per batch %v in partitions %v, want the rows of one produce request of t.users", tb, retried, parts)
		}
		t.Logf("t.%s: %d messages, %d rows, duplicated rows per batch %v, rows sent again per batch %v", tb, len(recs), len(byID), dupBatches, retried)
	}
}

// newSink returns a connected sink on c; it is closed when the test ends.
func newSink(t *testing.T, c *kfake.Cluster, cfg kafka.Config) *kafka.Sink {
	t.Helper()
	cfg.Brokers = c.ListenAddrs()
	s, err := kafka.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(ctxT(t), sink.Env{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// Values are the row as JSON, rendered as the stdout destination renders
// them; the headers name the table, the batch and the row.
func TestValuesAndHeaders(t *testing.T) {
	c := newCluster(t)
	s := newSink(t, c, kafka.Config{CreateTopics: true})
	at := time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC)
	row := sink.Row{
		"id": int64(7), "name": "ann", "amount": 2.5, "ok": true, "at": at,
		"price": mustDecimal("12.50"), "day": mustDate("2026-03-04"), "clock": mustTime("05:06:07.5"),
		"blob": []byte{0, 1, 2, 250}, "doc": map[string]any{"a": []any{int64(1), "x"}}, "none": nil,
	}
	b := sink.Batch{ID: "batch-1", Table: sink.Table{Name: "things"}, Rows: []sink.Row{{"id": int64(1)}, row}, Attempt: 1}
	if err := s.Write(ctxT(t), b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	recs := readTopic(t, c, "things")
	if len(recs) != 2 {
		t.Fatalf("topic holds %d messages, want 2", len(recs))
	}
	got := recs[1]
	if got.Value["id"].(float64) == 1 {
		got = recs[0]
	}
	want := map[string]any{
		"id": 7.0, "name": "ann", "amount": 2.5, "ok": true, "at": "2026-03-04T05:06:07.89Z",
		"price": "12.5", "day": "2026-03-04", "clock": "05:06:07.5", "blob": "AAEC+g==",
		"doc": map[string]any{"a": []any{1.0, "x"}}, "none": nil,
	}
	for k, v := range want {
		if fmt.Sprint(got.Value[k]) != fmt.Sprint(v) {
			t.Errorf("value %s = %#v, want %#v", k, got.Value[k], v)
		}
	}
	if got.Key != "" {
		t.Errorf("key %q, want none (no key column, no primary key)", got.Key)
	}
	wantH := map[string]string{kafka.HeaderTable: "things", kafka.HeaderBatchID: "batch-1", kafka.HeaderRow: "1"}
	if !maps.Equal(got.Headers, wantH) {
		t.Errorf("headers %v, want %v", got.Headers, wantH)
	}
}

// Without a key setting, the table's primary-key columns key the messages.
func TestPrimaryKeyIsTheDefaultKey(t *testing.T) {
	c := newCluster(t)
	s := newSink(t, c, kafka.Config{Topic: "pk", CreateTopics: true, TopicPartitions: 3})
	tb := sink.Table{Name: "users", Columns: []schema.Column{
		{Name: "tenant", DataType: "text", PrimaryKey: true},
		{Name: "id", DataType: "bigint", PrimaryKey: true},
		{Name: "name", DataType: "text"},
	}}
	single := sink.Table{Name: "accounts", Columns: []schema.Column{{Name: "id", DataType: "bigint", PrimaryKey: true}}}
	if err := s.Write(ctxT(t), sink.Batch{ID: "b1", Table: tb, Rows: []sink.Row{{"tenant": "acme", "id": int64(3), "name": "x"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctxT(t), sink.Batch{ID: "b2", Table: single, Rows: []sink.Row{{"id": int64(42)}}}); err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, r := range readTopic(t, c, "pk") {
		keys[r.Headers[kafka.HeaderTable]] = r.Key
	}
	if keys["users"] != `["acme",3]` || keys["accounts"] != "42" {
		t.Fatalf("keys %v, want users [\"acme\",3] and accounts 42", keys)
	}
}

// A row too large for a message is dead-lettered alone (a terminal row
// error); the other rows of its batch are delivered.
func TestTooLargeRowIsTerminalAlone(t *testing.T) {
	c := newCluster(t)
	s := newSink(t, c, kafka.Config{CreateTopics: true, BatchBytes: 4096})
	big := string(make([]byte, 8192))
	rows := []sink.Row{{"id": int64(1)}, {"id": int64(2), "blob": big}, {"id": int64(3)}}
	err := s.Write(ctxT(t), sink.Batch{ID: "b", Table: sink.Table{Name: "big"}, Rows: rows})
	re, ok := sink.AsRowErrors(err)
	if !ok || len(re) != 1 || !sink.IsTerminal(re[1]) {
		t.Fatalf("Write = %v, want a terminal error for row 1 only", err)
	}
	if recs := readTopic(t, c, "big"); len(recs) != 2 {
		t.Fatalf("topic holds %d messages, want rows 0 and 2", len(recs))
	}
}

// A table whose topic Kafka would refuse, and a broker that refuses a
// message for good, are terminal.
func TestRefusedIsTerminal(t *testing.T) {
	c := newCluster(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "2000"}))
	s := newSink(t, c, kafka.Config{CreateTopics: true, BatchBytes: 64 << 10})
	err := s.Write(ctxT(t), sink.Batch{ID: "b", Table: sink.Table{Name: "no/slash"}, Rows: []sink.Row{{"id": int64(1)}}})
	if !sink.IsTerminal(err) {
		t.Errorf("Write to topic no/slash = %v, want terminal", err)
	}
	err = s.Write(ctxT(t), sink.Batch{ID: "b", Table: sink.Table{Name: "small"}, Rows: []sink.Row{{"id": int64(1), "blob": string(make([]byte, 4000))}}})
	if !sink.IsTerminal(err) {
		t.Errorf("Write of a message over the broker's message.max.bytes = %v, want terminal", err)
	}
}

// Connect fails within its deadline, with a clear message, when no broker
// answers; NewPipeline then fails.
func TestConnectUnreachable(t *testing.T) {
	c := newCluster(t)
	addrs := c.ListenAddrs()
	c.Close()
	start := time.Now()
	dest := kafka.Destination("kafka", bridge.WithConfig(kafka.Config{Brokers: addrs, ConnectTimeout: 2 * time.Second}))
	_, err := bridge.NewPipeline("kafka_down", dest, bridge.WithDataDir(t.TempDir()))
	if err == nil {
		t.Fatal("NewPipeline connected to a closed cluster")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("NewPipeline took %s to fail, want about the 2s connect timeout", d)
	}
	t.Log(err)
	if want := "brokers " + strings.Join(addrs, ",") + " not reachable (waited up to 2s"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

// Bad settings fail New with ErrConfig, and never show the password.
func TestConfigErrors(t *testing.T) {
	ok := kafka.Config{Brokers: []string{"localhost:9092"}}
	for _, tc := range []struct {
		name string
		edit func(*kafka.Config)
	}{
		{"no brokers", func(c *kafka.Config) { c.Brokers = []string{" "} }},
		{"acks", func(c *kafka.Config) { c.Acks = "most" }},
		{"topic placeholder", func(c *kafka.Config) { c.Topic = "{schema}.{table}" }},
		{"topic twice", func(c *kafka.Config) { c.Topic = "{table}{table}" }},
		{"topic name", func(c *kafka.Config) { c.Topic = "a topic" }},
		{"compression", func(c *kafka.Config) { c.Compression = "brotli" }},
		{"sasl without user", func(c *kafka.Config) { c.SASLPassword = "hunter2" }},
		{"sasl mechanism", func(c *kafka.Config) { c.SASLUsername, c.SASLPassword, c.SASLMechanism = "u", "hunter2", "kerberos" }},
		{"partitions", func(c *kafka.Config) { c.TopicPartitions = -5 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			_, err := kafka.New(cfg, nil)
			if !errors.Is(err, kafka.ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
	for _, m := range []string{"plain", "scram-sha-256", "scram-sha-512"} {
		cfg := ok
		cfg.SASLUsername, cfg.SASLPassword, cfg.SASLMechanism = "u", "p", m
		if _, err := kafka.New(cfg, nil); err != nil {
			t.Errorf("sasl %s: %v", m, err)
		}
	}
}

// The destination reads its settings from the environment, and keeps the
// password out of its config summary.
func TestDestinationConfigFromEnv(t *testing.T) {
	c := newCluster(t)
	t.Setenv("DESTINATION__KAFKA_ENV__BROKERS", c.ListenAddrs()[0])
	t.Setenv("DESTINATION__KAFKA_ENV__TOPIC", "all_rows")
	d := kafka.Destination("kafka_env")
	for _, v := range d.ConfigSummary() {
		switch v.Key {
		case "brokers":
			if v.Value != c.ListenAddrs()[0] {
				t.Errorf("brokers = %s", v)
			}
		case "sasl_password":
			if v.Value != "" || !v.Secret {
				t.Errorf("sasl_password = %s, want an unset secret", v)
			}
		}
	}
	p, err := bridge.NewPipeline("kafka_env", d, bridge.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Run(ctxT(t), events([]string{"a", "b"}, 10), bridge.TableNameFunc(tableOf)); err != nil {
		t.Fatal(err)
	}
	if n := len(readTopic(t, c, "all_rows")); n != 20 {
		t.Fatalf("topic all_rows holds %d messages, want the 20 rows of both tables", n)
	}
}

func mustDecimal(s string) any { return must(schema.ParseDecimal(s)) }
func mustDate(s string) any    { return must(schema.ParseDate(s)) }
func mustTime(s string) any    { return must(schema.ParseTimeOfDay(s)) }

func must[T any](v T, err error) any {
	if err != nil {
		panic(err)
	}
	return v
}

// Close waits for the writes and leaves no goroutine of kafka-go behind.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	c := newCluster(t)
	s, err := kafka.New(kafka.Config{Brokers: c.ListenAddrs(), CreateTopics: true, TopicPartitions: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(ctxT(t), sink.Env{}); err != nil {
		t.Fatal(err)
	}
	rows := make([]sink.Row, 300)
	for i := range rows {
		rows[i] = sink.Row{"id": int64(i), "k": strconv.Itoa(i % 7)}
	}
	if err := s.Write(ctxT(t), sink.Batch{ID: "b", Table: sink.Table{Name: "leak"}, Rows: rows}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Write(ctxT(t), sink.Batch{ID: "c", Table: sink.Table{Name: "leak"}, Rows: rows}); err == nil {
		t.Fatal("Write after Close succeeded")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "segmentio/kafka-go") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kafka-go goroutines still running 10s after Close:\n%s", stacks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Without create_topics, a missing topic is a transient error that says
// what to do, and a write succeeds once the topic exists.
func TestMissingTopicWithoutCreate(t *testing.T) {
	c := newCluster(t)
	s := newSink(t, c, kafka.Config{Topic: "made.{table}"})
	b := sink.Batch{ID: "b", Table: sink.Table{Name: "later"}, Rows: []sink.Row{{"id": int64(1)}}}
	err := s.Write(ctxT(t), b)
	if err == nil || sink.IsTerminal(err) || !strings.Contains(err.Error(), "create the topic, or set create_topics = true") {
		t.Fatalf("Write to a missing topic = %v, want a transient error saying to create it", err)
	}
	if err := c.CreateTopic("made.later", 2, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitFor)
	for err = s.Write(ctxT(t), b); err != nil; err = s.Write(ctxT(t), b) {
		if time.Now().After(deadline) {
			t.Fatalf("Write still fails %s after the topic was created: %v", waitFor, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(readTopic(t, c, "made.later")); n < 1 {
		t.Fatalf("topic holds %d messages", n)
	}
}

// When a produce request of a key's rows fails and a later one of the same
// key succeeds, the later rows are reported failed too: sent again after
// the failed ones, the key's last copies come in order.
func TestKeyOrderAfterPartialFailure(t *testing.T) {
	c := newCluster(t)
	// Two messages per produce request: rows 0-1, 2-3, 4-5 of key "a".
	s := newSink(t, c, kafka.Config{Topic: "ko", CreateTopics: true, TopicPartitions: 1, Key: []string{"k"}, BatchSize: 2, MaxAttempts: 1})
	var failed atomic.Int64
	failProduce(c, "ko", 2, &failed)
	rows := make([]sink.Row, 6)
	for i := range rows {
		rows[i] = sink.Row{"k": "a", "seq": int64(i)}
	}
	err := s.Write(ctxT(t), sink.Batch{ID: "b", Table: sink.Table{Name: "t"}, Rows: rows})
	re, ok := sink.AsRowErrors(err)
	if failed.Load() != 1 || !ok || !slices.Equal(slices.Sorted(maps.Keys(re)), []int{2, 3, 4, 5}) {
		t.Fatalf("Write = %v (%d produce requests failed), want row errors for rows 2 to 5", err, failed.Load())
	}
	for i, e := range re {
		if sink.IsTerminal(e) {
			t.Errorf("row %d: terminal %v, want a retriable error", i, e)
		}
	}
	var seqs []int
	for _, r := range readTopic(t, c, "ko") {
		seqs = append(seqs, int(r.Value["seq"].(float64)))
	}
	if !slices.Equal(seqs, []int{0, 1, 4, 5}) {
		t.Fatalf("topic holds seq %v, want 0 1 4 5 (2 and 3 failed)", seqs)
	}
}
