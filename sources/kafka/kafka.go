// Package kafka is a bridge source that reads Kafka topics in a consumer
// group (github.com/segmentio/kafka-go) and commits the group's offsets only
// once the records are stored in the pipeline's stream: delivery is at least
// once, and a crash re-reads only what was read since the last commit.
package kafka

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge/producer"
)

// Start is where a consumer group without committed offsets starts.
type Start string

const (
	// StartFirst reads a new group's partitions from their oldest message.
	StartFirst Start = "first"
	// StartLast reads only the messages produced after the group starts.
	StartLast Start = "last"
)

// SASL names a SASL mechanism and its credentials.
type SASL struct {
	// Mechanism is "plain", "scram-sha-256" or "scram-sha-512".
	Mechanism string
	Username  string
	// Password is a secret: it never appears in a log line or an error.
	Password string
}

// String names the mechanism and user, never the password.
func (s SASL) String() string {
	if s.Mechanism == "" {
		return "none"
	}
	return s.Mechanism + " user " + s.Username + " password REDACTED"
}

// GoString is String, for %#v.
func (s SASL) GoString() string { return s.String() }

// Config configures a Source.
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// Topics are read by one consumer group.
	Topics []string
	// Group is the consumer group; required.
	Group string
	// Table names the table of every record; "" names each record's table
	// after its topic.
	Table string
	// TableField routes a record by a top-level string field of its JSON
	// value; a record without it goes to Table (or its topic's name).
	TableField string
	// Start is where a group without committed offsets starts (default
	// StartFirst).
	Start Start
	// SASL authenticates to the brokers when its Mechanism is set.
	SASL SASL
	// TLS connects over TLS when set.
	TLS *tls.Config
	// SessionTimeout is how long the group waits for a silent member (a
	// crashed process) before it hands that member's partitions to another
	// (default 10s). Heartbeats go every third of it.
	SessionTimeout time.Duration
	// MaxRecords bounds the records one Read returns (default 500).
	MaxRecords int
	// Linger is how long a Read waits for more records after the first
	// (default 0: it returns what has arrived).
	Linger time.Duration
	// FailAfter is how long fetch or commit errors may go on, with no
	// success, before Read or Commit gives up with an error (default 1m):
	// until then they are logged and retried.
	FailAfter time.Duration
	// Logger gets warnings (default: none).
	Logger *zap.Logger
}

// Source reads Kafka topics in a consumer group: a producer.Source with
// Opener and Closer.
type Source struct {
	cfg    Config
	dialer *kafkago.Dialer
	log    *zap.Logger

	r      *kafkago.Reader
	ch     chan fetched
	stop   context.CancelFunc
	pumped sync.WaitGroup

	// read is the highest offset Read returned per partition, not yet
	// committed; stored those whose commit failed (they are stored in the
	// stream, so the next Commit or Close commits them again).
	read, stored map[part]int64
	commitFail   time.Time
	pending      error // a fetch error to return after the records before it
}

type part struct {
	topic     string
	partition int
}

type fetched struct {
	m   kafkago.Message
	err error
}

// New checks cfg and makes a source; it connects in Open.
func New(cfg Config) (*Source, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka source: no brokers")
	}
	if len(cfg.Topics) == 0 {
		return nil, errors.New("kafka source: no topic")
	}
	for _, t := range cfg.Topics {
		if t == "" {
			return nil, errors.New("kafka source: an empty topic name")
		}
	}
	if cfg.Group == "" {
		return nil, errors.New("kafka source: no consumer group: set one (group=NAME); offsets are committed to it")
	}
	switch cfg.Start {
	case "":
		cfg.Start = StartFirst
	case StartFirst, StartLast:
	default:
		return nil, fmt.Errorf("kafka source: start %q: want first or last", cfg.Start)
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.SessionTimeout < 0 || cfg.MaxRecords < 0 || cfg.Linger < 0 || cfg.FailAfter < 0 {
		return nil, errors.New("kafka source: negative session timeout, max records, linger or fail-after")
	}
	if cfg.MaxRecords == 0 {
		cfg.MaxRecords = 500
	}
	if cfg.FailAfter == 0 {
		cfg.FailAfter = time.Minute
	}
	mech, err := mechanism(cfg.SASL)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Source{
		cfg:    cfg,
		dialer: &kafkago.Dialer{Timeout: 10 * time.Second, DualStack: true, SASLMechanism: mech, TLS: cfg.TLS},
		log:    log.With(zap.String("source", "kafka"), zap.Strings("topics", cfg.Topics), zap.String("group", cfg.Group)),
		read:   map[part]int64{},
		stored: map[part]int64{},
	}, nil
}

func mechanism(s SASL) (sasl.Mechanism, error) {
	var (
		m   sasl.Mechanism
		err error
	)
	switch strings.ToLower(s.Mechanism) {
	case "":
		return nil, nil
	case "plain":
		m = plain.Mechanism{Username: s.Username, Password: s.Password}
	case "scram-sha-256":
		m, err = scram.Mechanism(scram.SHA256, s.Username, s.Password)
	case "scram-sha-512":
		m, err = scram.Mechanism(scram.SHA512, s.Username, s.Password)
	default:
		return nil, fmt.Errorf("kafka source: SASL mechanism %q: want plain, scram-sha-256 or scram-sha-512", s.Mechanism)
	}
	if err != nil {
		// Never the credentials: the mechanism's error names none, but
		// say only what failed.
		return nil, fmt.Errorf("kafka source: SASL %s: bad credentials setup", s.Mechanism)
	}
	return m, nil
}

// Open checks that a broker answers and the topics exist, then joins the
// group.
func (s *Source) Open(ctx context.Context, env producer.Env) error {
	if s.r != nil {
		return errors.New("kafka source: opened twice")
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	start := kafkago.FirstOffset
	if s.cfg.Start == StartLast {
		start = kafkago.LastOffset
	}
	rc := kafkago.ReaderConfig{
		Brokers:           s.cfg.Brokers,
		GroupID:           s.cfg.Group,
		Dialer:            s.dialer,
		StartOffset:       start,
		SessionTimeout:    s.cfg.SessionTimeout,
		HeartbeatInterval: max(s.cfg.SessionTimeout/3, 100*time.Millisecond),
		RebalanceTimeout:  s.cfg.SessionTimeout,
		JoinGroupBackoff:  min(s.cfg.SessionTimeout/4, time.Second),
		// The broker answers a fetch as soon as a byte is there; when
		// nothing is, it holds the fetch this long.
		MaxWait:        500 * time.Millisecond,
		ReadBackoffMin: 10 * time.Millisecond,
		ReadBackoffMax: 500 * time.Millisecond,
		// CommitInterval 0: CommitMessages commits before it returns.
		Logger:      kafkago.LoggerFunc(func(f string, a ...any) { s.log.Debug(strings.TrimSpace(fmt.Sprintf(f, a...))) }),
		ErrorLogger: kafkago.LoggerFunc(func(f string, a ...any) { s.log.Debug(strings.TrimSpace(fmt.Sprintf(f, a...))) }),
	}
	if len(s.cfg.Topics) == 1 {
		rc.Topic = s.cfg.Topics[0]
	} else {
		rc.GroupTopics = s.cfg.Topics
	}
	s.r = kafkago.NewReader(rc)
	s.ch = make(chan fetched, s.cfg.MaxRecords)
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	s.pumped.Go(func() { s.pump(pctx) })
	return nil
}

// check asks a broker for the topics' partitions.
func (s *Source) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var err error
	for _, b := range s.cfg.Brokers {
		var conn *kafkago.Conn
		conn, err = s.dialer.DialContext(ctx, "tcp", b)
		if err != nil {
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
		var missing []string
		for _, t := range s.cfg.Topics {
			var parts []kafkago.Partition
			parts, err = conn.ReadPartitions(t)
			if errors.Is(err, kafkago.UnknownTopicOrPartition) || (err == nil && len(parts) == 0) {
				missing, err = append(missing, strconv.Quote(t)), nil
			}
			if err != nil {
				break
			}
		}
		conn.Close()
		if err != nil {
			continue
		}
		if len(missing) > 0 {
			return fmt.Errorf("kafka source: topic %s: not found on the brokers: create it, or check the name", strings.Join(missing, ", "))
		}
		return nil
	}
	return fmt.Errorf("kafka source: no broker of %s answers (is Kafka up, and are the address, TLS and SASL settings right?): %w",
		strings.Join(s.cfg.Brokers, ","), err)
}

// pump fetches messages into s.ch until ctx ends. Fetch errors (a group it
// cannot join yet, a broker away) are logged and retried; once they have
// gone on for FailAfter with no message, the error goes to Read.
func (s *Source) pump(ctx context.Context) {
	var failing time.Time
	backoff := 100 * time.Millisecond
	for {
		m, err := s.r.FetchMessage(ctx)
		if ctx.Err() != nil {
			return
		}
		f := fetched{m: m}
		if err != nil {
			if failing.IsZero() {
				failing = time.Now()
			}
			if time.Since(failing) < s.cfg.FailAfter {
				s.log.Warn("kafka: fetching failed; retrying", zap.Error(err), zap.Duration("failing_for", time.Since(failing)))
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
					return
				}
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
			f.err = fmt.Errorf("kafka source: fetching has failed for %s (are the brokers up and the group's coordinator reachable?): %w",
				time.Since(failing).Round(time.Second), err)
			failing = time.Time{}
		} else {
			failing, backoff = time.Time{}, 100*time.Millisecond
		}
		select {
		case s.ch <- f:
		case <-ctx.Done():
			return
		}
	}
}

// Read returns the messages that have arrived (waiting for the first until
// ctx ends), up to MaxRecords, as records.
func (s *Source) Read(ctx context.Context) ([]producer.Record, error) {
	if s.r == nil {
		return nil, errors.New("kafka source: Read before Open")
	}
	if err := s.pending; err != nil {
		s.pending = nil
		return nil, err
	}
	var f fetched
	select {
	case f = <-s.ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.err != nil {
		return nil, f.err
	}
	recs := make([]producer.Record, 0, min(len(s.ch)+1, s.cfg.MaxRecords))
	recs = append(recs, s.record(f.m))
	var linger <-chan time.Time
	if s.cfg.Linger > 0 {
		t := time.NewTimer(s.cfg.Linger)
		defer t.Stop()
		linger = t.C
	}
	for len(recs) < s.cfg.MaxRecords {
		select {
		case f = <-s.ch:
		default:
			if linger == nil {
				return recs, nil
			}
			select {
			case f = <-s.ch:
			case <-linger:
				return recs, nil
			case <-ctx.Done():
				return recs, nil
			}
		}
		if f.err != nil {
			s.pending = f.err
			return recs, nil
		}
		recs = append(recs, s.record(f.m))
	}
	return recs, nil
}

// record makes m a record and notes it as read.
func (s *Source) record(m kafkago.Message) producer.Record {
	// Every record read is stored by the next Commit: commit the highest
	// offset read (a rebalance may hand out a partition from an older one).
	p := part{m.Topic, m.Partition}
	if off, ok := s.read[p]; !ok || m.Offset > off {
		s.read[p] = m.Offset
	}
	return producer.Record{
		Data:  m.Value,
		Table: s.table(m),
		Where: "topic " + m.Topic + " partition " + strconv.Itoa(m.Partition) + " offset " + strconv.FormatInt(m.Offset, 10),
	}
}

func (s *Source) table(m kafkago.Message) string {
	if s.cfg.TableField != "" {
		var obj map[string]json.RawMessage
		if json.Unmarshal(m.Value, &obj) == nil {
			var name string
			if raw, ok := obj[s.cfg.TableField]; ok && json.Unmarshal(raw, &name) == nil && name != "" {
				return name
			}
		}
	}
	if s.cfg.Table != "" {
		return s.cfg.Table
	}
	return m.Topic
}

// Commit commits, per partition, the offset after the last message Read
// returned. A failed commit is logged and tried again with the next one
// (what it covers may be read again after a crash, never lost) until
// failures have gone on for FailAfter.
func (s *Source) Commit(ctx context.Context) error {
	for p, off := range s.read {
		if old, ok := s.stored[p]; !ok || off > old {
			s.stored[p] = off
		}
	}
	clear(s.read)
	err := s.commitStored(ctx)
	if err == nil {
		s.commitFail = time.Time{}
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if s.commitFail.IsZero() {
		s.commitFail = time.Now()
	}
	if d := time.Since(s.commitFail); d >= s.cfg.FailAfter {
		return fmt.Errorf("kafka source: committing offsets has failed for %s (are the brokers up and the group's coordinator reachable?): %w",
			d.Round(time.Second), err)
	}
	s.log.Warn("kafka: committing offsets failed; they are committed with the next commit (a restart before then reads those messages again)",
		zap.Error(err))
	return nil
}

func (s *Source) commitStored(ctx context.Context) error {
	if len(s.stored) == 0 {
		return nil
	}
	msgs := make([]kafkago.Message, 0, len(s.stored))
	for p, off := range s.stored {
		msgs = append(msgs, kafkago.Message{Topic: p.topic, Partition: p.partition, Offset: off})
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.r.CommitMessages(cctx, msgs...); err != nil {
		return err
	}
	clear(s.stored)
	return nil
}

// Close stops fetching, commits what an earlier Commit could not, and
// leaves the group.
func (s *Source) Close(ctx context.Context) error {
	if s.r == nil {
		return nil
	}
	s.stop()
	s.pumped.Wait()
	err := s.commitStored(ctx)
	if err != nil {
		err = fmt.Errorf("kafka source: committing offsets at close (those messages are read again): %w", err)
	}
	return errors.Join(err, s.r.Close())
}
