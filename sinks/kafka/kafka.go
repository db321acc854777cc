// Package kafka is bridge's Kafka sink: it writes every row of a batch as
// one JSON message to a topic per table (or one topic for all), keyed by the
// table's key columns, and answers a batch only once Kafka acknowledged its
// messages (acks=all by default). It uses github.com/segmentio/kafka-go and
// is the only package of bridge that imports it.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sink"
)

// Sink writes batches to Kafka. It is safe for concurrent use.
type Sink struct {
	cfg       Config
	set       *settings
	log       *zap.Logger
	transport *kafkago.Transport
	client    *kafkago.Client
	w         *kafkago.Writer

	mu     sync.Mutex
	topics map[string]*topicState
}

// topicState records whether a topic is known to exist.
type topicState struct {
	mu    sync.Mutex
	ready bool
}

var (
	_ sink.Sink      = (*Sink)(nil)
	_ sink.Connector = (*Sink)(nil)
	_ sink.Closer    = (*Sink)(nil)
)

// New returns a sink for cfg. Zero fields of cfg take the defaults
// documented on Config, except CreateTopics (a bool: false is off). It
// opens no connection; Connect checks the brokers. log may be nil.
func New(cfg Config, log *zap.Logger) (*Sink, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg.Brokers = append([]string(nil), cfg.Brokers...)
	cfg.Key = append([]string(nil), cfg.Key...)
	cfg.defaults()
	set, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	s := &Sink{cfg: cfg, set: set, log: log, topics: map[string]*topicState{}}
	s.transport = &kafkago.Transport{
		ClientID:    cfg.ClientID,
		DialTimeout: cfg.ConnectTimeout,
		TLS:         set.tls,
		SASL:        set.mechanism,
	}
	addr := kafkago.TCP(cfg.Brokers...)
	s.client = &kafkago.Client{Addr: addr, Transport: s.transport, Timeout: cfg.WriteTimeout}
	s.w = &kafkago.Writer{
		Addr:            addr,
		Balancer:        &balancer{},
		MaxAttempts:     cfg.MaxAttempts,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: time.Second,
		BatchSize:       cfg.BatchSize,
		BatchBytes:      cfg.BatchBytes,
		BatchTimeout:    cfg.BatchTimeout,
		ReadTimeout:     cfg.WriteTimeout,
		WriteTimeout:    cfg.WriteTimeout,
		RequiredAcks:    set.acks,
		Compression:     set.compression,
		Transport:       s.transport,
	}
	return s, nil
}

// Destination returns a bridge destination named name that writes with a
// kafka Sink, its Config resolved by bridge (bridge.WithConfig(kafka.Config{
// ...}), DESTINATION__<NAME>__BROKERS, .bridge/config.toml
// [destination.<name>], ...). It runs one batch per table at a time
// (bridge.TableSequential), so rows of a table reach Kafka in order; pass
// bridge.LoaderParallelismStrategy(bridge.Parallel) for more throughput
// where order does not matter. opts are those of bridge.NewConfiguredSink.
func Destination(name string, opts ...bridge.Option) *bridge.Destination {
	return DestinationWithLogger(name, nil, opts...)
}

// DestinationWithLogger is Destination with a logger for the sink.
func DestinationWithLogger(name string, log *zap.Logger, opts ...bridge.Option) *bridge.Destination {
	opts = append([]bridge.Option{bridge.LoaderParallelismStrategy(bridge.TableSequential), bridge.ReuseRows()}, opts...)
	return bridge.NewConfiguredSink(name, func(cfg Config) (sink.Sink, error) {
		return New(cfg, log)
	}, opts...)
}

// Connect checks that the brokers answer within ConnectTimeout.
func (s *Sink) Connect(ctx context.Context, _ sink.Env) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	if _, err := s.client.Metadata(ctx, &kafkago.MetadataRequest{}); err != nil {
		// bridge does not close a sink that did not connect: stop the
		// connection pool's goroutines here.
		s.transport.CloseIdleConnections()
		return fmt.Errorf("kafka: brokers %s not reachable (waited up to %s; check brokers, tls and sasl settings, and that Kafka runs): %w",
			strings.Join(s.cfg.Brokers, ","), s.cfg.ConnectTimeout, err)
	}
	s.log.Debug("kafka brokers reachable", zap.Strings("brokers", s.cfg.Brokers))
	return nil
}

// Close waits for the writes in flight and closes the connections. If ctx
// ends first it returns ctx's error; the writer then finishes closing in
// the background.
func (s *Sink) Close(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		err := s.w.Close()
		s.transport.CloseIdleConnections()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("kafka: close writer: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kafka: close: writes still in flight: %w", ctx.Err())
	}
}

// Write sends every row of b as a message and returns nil once Kafka
// acknowledged all of them. Rows that failed come back as sink.RowErrors:
// rows Kafka refuses for good (too large, an invalid topic) marked
// sink.Terminal, the others to be retried.
func (s *Sink) Write(ctx context.Context, b sink.Batch) error {
	if len(b.Rows) == 0 {
		return nil
	}
	topic, err := s.set.topic.render(b.Table.Name)
	if err != nil {
		return sink.Terminal(fmt.Errorf("kafka: %w", err))
	}
	if s.cfg.CreateTopics {
		if err := s.ensureTopic(ctx, topic); err != nil {
			return err
		}
	}
	keyCols := keyColumns(s.cfg.Key, &b.Table)
	table, batchID := []byte(b.Table.Name), []byte(b.ID)
	msgs := make([]kafkago.Message, 0, len(b.Rows))
	rowOf := make([]int, 0, len(b.Rows)) // msgs[j] is row rowOf[j]
	rowErrs := sink.RowErrors{}
	for i, row := range b.Rows {
		key, err := messageKey(row, keyCols)
		if err != nil {
			rowErrs[i] = sink.Terminal(fmt.Errorf("kafka: key of row %d: %w", i, err))
			continue
		}
		val, err := value(row)
		if err != nil {
			rowErrs[i] = sink.Terminal(fmt.Errorf("kafka: row %d as JSON: %w", i, err))
			continue
		}
		m := kafkago.Message{Topic: topic, Key: key, Value: val, Headers: rowHeaders(table, batchID, i)}
		if n := estimateSize(&m); n > s.cfg.BatchBytes {
			rowErrs[i] = sink.Terminal(fmt.Errorf("kafka: row %d: a message of %d bytes is over batch_bytes (%d)", i, n, s.cfg.BatchBytes))
			continue
		}
		msgs = append(msgs, m)
		rowOf = append(rowOf, i)
	}
	if len(msgs) > 0 {
		err := s.w.WriteMessages(ctx, msgs...)
		var werrs kafkago.WriteErrors
		switch {
		case err == nil:
		case errors.As(err, &werrs) && len(werrs) == len(msgs):
			for j, e := range werrs {
				if e != nil {
					rowErrs[rowOf[j]] = classify(fmt.Errorf("kafka: write to %s: %w", topic, e))
				}
			}
			if len(keyCols) > 0 {
				keepKeyOrder(msgs, rowOf, rowErrs)
			}
		case ctx.Err() != nil:
			return fmt.Errorf("kafka: write to %s: %w", topic, err)
		case errors.Is(err, kafkago.UnknownTopicOrPartition) && !s.cfg.CreateTopics:
			return fmt.Errorf("kafka: write to %s (create the topic, or set create_topics = true): %w", topic, err)
		default:
			err = classify(fmt.Errorf("kafka: write to %s: %w", topic, err))
			if len(rowErrs) == 0 {
				return err
			}
			for _, i := range rowOf {
				rowErrs[i] = err
			}
		}
	}
	return answer(rowErrs, len(b.Rows))
}

// answer turns the row errors of a batch of n rows into Write's answer:
// nil, the error of every row when all failed alike, or the RowErrors.
func answer(rowErrs sink.RowErrors, n int) error {
	if len(rowErrs) == 0 {
		return nil
	}
	if len(rowErrs) == n {
		first := rowErrs[0]
		same := true
		for _, e := range rowErrs {
			same = same && (e == first || e.Error() == first.Error())
		}
		if same {
			return first
		}
	}
	return rowErrs
}

// keepKeyOrder marks as failed the rows written after an earlier row of the
// same key failed with a retriable error: the retry then writes them again
// after that row, so the last copy of each key in the topic is the newest.
func keepKeyOrder(msgs []kafkago.Message, rowOf []int, rowErrs sink.RowErrors) {
	failed := map[string]int{}
	for j, m := range msgs {
		if m.Key == nil {
			continue
		}
		i := rowOf[j]
		if first, ok := failed[string(m.Key)]; ok {
			if rowErrs[i] == nil {
				rowErrs[i] = fmt.Errorf("kafka: row %d is written again after row %d of its key, to keep the key's order", i, first)
			}
			continue
		}
		if e := rowErrs[i]; e != nil && !sink.IsTerminal(e) {
			failed[string(m.Key)] = i
		}
	}
}

// ensureTopic creates topic unless it exists; it asks Kafka once per topic
// in the sink's life.
func (s *Sink) ensureTopic(ctx context.Context, topic string) error {
	s.mu.Lock()
	st := s.topics[topic]
	if st == nil {
		st = &topicState{}
		s.topics[topic] = st
	}
	s.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ready {
		return nil
	}
	resp, err := s.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: topic, NumPartitions: s.cfg.TopicPartitions, ReplicationFactor: s.cfg.TopicReplication,
	}}})
	if err != nil {
		return fmt.Errorf("kafka: create topic %s: %w", topic, err)
	}
	switch err := resp.Errors[topic]; {
	case err == nil:
		s.log.Info("kafka topic created", zap.String("topic", topic))
	case errors.Is(err, kafkago.TopicAlreadyExists):
	default:
		return classify(fmt.Errorf("kafka: create topic %s: %w", topic, err))
	}
	st.ready = true
	return nil
}

// terminalCodes are the Kafka errors that a retry does not fix.
var terminalCodes = []kafkago.Error{
	kafkago.MessageSizeTooLarge,
	kafkago.RecordListTooLarge,
	kafkago.InvalidTopic,
	kafkago.InvalidRequiredAcks,
	kafkago.InvalidRecord,
	kafkago.UnsupportedForMessageFormat,
	kafkago.PolicyViolation,
}

// classify marks err terminal when Kafka refused for good.
func classify(err error) error {
	var ke kafkago.Error
	if errors.As(err, &ke) {
		for _, c := range terminalCodes {
			if ke == c {
				return sink.Terminal(err)
			}
		}
	}
	return err
}
