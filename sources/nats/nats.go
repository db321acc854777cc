// Package natssource reads a NATS subject, or a JetStream stream through a
// durable pull consumer, as a bridge source (producer.Source): each message
// is one JSON value, one row.
//
// On a plain subject (core NATS) delivery is at most once by nature: a
// message published while the source is not subscribed, or dropped because
// the source fell too far behind (a slow consumer), is gone. Through
// JetStream it is at least once: a message is acknowledged only in Commit,
// that is once the row it became is stored in the pipeline's stream; what a
// crashed producer read and did not commit comes back after the ack wait.
package natssource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge/producer"
)

// Defaults of Config.
const (
	DefaultAckWait       = 30 * time.Second
	DefaultMaxAckPending = 10000
	DefaultMaxRead       = 1000
)

// Config says what a Source reads.
type Config struct {
	// URL is the NATS server, e.g. nats://127.0.0.1:4222 (user and password
	// in it are used).
	URL string
	// Subject to subscribe to, wildcards allowed; with Stream, the filter
	// subject of the consumer ("" takes the whole stream).
	Subject string
	// Queue is a queue group: the subject's messages are shared among the
	// sources of one group instead of each getting them all. Core NATS only.
	Queue string
	// Stream and Consumer read a JetStream stream through a durable pull
	// consumer (made or updated on Open), acknowledging in Commit. Both or
	// neither.
	Stream, Consumer string
	// Table names the table of every row; "" takes the last token of each
	// message's subject (orders.created -> created).
	Table string
	// AckWait is how long JetStream waits for an acknowledgement before it
	// delivers a message again (default 30s). Keep it well above the
	// producer's flush interval: the source commits once per interval, and
	// sends in-progress for messages it holds longer than AckWait/3.
	AckWait time.Duration
	// MaxAckPending bounds the messages delivered and not yet acknowledged
	// (default 10,000): the duplicates after a crash, and the messages read
	// per commit interval.
	MaxAckPending int
	// MaxRead is the most messages one Read returns (default 1,000).
	MaxRead int
	// Options are extra nats.Options (credentials, TLS).
	Options []nats.Option
	// Logger (default: none).
	Logger *zap.Logger
}

func (c *Config) validate() error {
	if c.URL == "" {
		return errors.New("no NATS URL")
	}
	if (c.Stream == "") != (c.Consumer == "") {
		return errors.New("stream and consumer go together: give both for JetStream, neither for a subject")
	}
	if c.Stream == "" && c.Subject == "" {
		return errors.New("no subject: nats://host:4222/SUBJECT")
	}
	if c.Stream != "" && c.Queue != "" {
		return errors.New("queue is for a core NATS subject; JetStream consumers share a durable consumer instead: give every producer the same consumer")
	}
	if !utf8.ValidString(c.Table) {
		return fmt.Errorf("table %q: not valid UTF-8", c.Table)
	}
	if c.AckWait < 0 || c.MaxAckPending < 0 || c.MaxRead < 0 {
		return errors.New("ack wait, max ack pending and max read must not be negative")
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.AckWait < time.Second {
		return fmt.Errorf("ack wait %v: want at least 1s, well above the flush interval", c.AckWait)
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if c.MaxRead == 0 {
		c.MaxRead = DefaultMaxRead
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return nil
}

// Source reads NATS messages. Make it with New or FromURL; the producer opens,
// reads, commits and closes it.
type Source struct {
	cfg Config
	nc  *nats.Conn

	// core NATS
	sub     *nats.Subscription
	dropped int

	// JetStream
	cons jetstream.Consumer
	it   jetstream.MessagesContext
	mu   sync.Mutex
	held []heldMsg // read, not yet acknowledged
	stop chan struct{}
	wg   sync.WaitGroup
}

type heldMsg struct {
	msg  jetstream.Msg
	last time.Time // read, or its last in-progress
}

var (
	_ producer.Source = (*Source)(nil)
	_ producer.Opener = (*Source)(nil)
	_ producer.Closer = (*Source)(nil)
)

// New makes a source; it connects on Open.
func New(cfg Config) (*Source, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Source{cfg: cfg}, nil
}

// Open connects and subscribes, or makes or updates the durable consumer.
func (s *Source) Open(ctx context.Context, _ producer.Env) error {
	opts := append([]nats.Option{
		nats.Name("bridge source"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				s.cfg.Logger.Warn("nats source: disconnected; reconnecting", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { s.cfg.Logger.Info("nats source: reconnected") }),
	}, s.cfg.Options...)
	nc, err := nats.Connect(s.cfg.URL, opts...)
	if err != nil {
		if errors.Is(err, nats.ErrNoServers) {
			return fmt.Errorf("connect %s: %w; check that a NATS server runs there and this machine reaches it, or fix the --input URL", redact(s.cfg.URL), err)
		}
		return fmt.Errorf("connect %s: %w", redact(s.cfg.URL), err)
	}
	s.nc = nc
	if s.cfg.Stream == "" {
		err = s.subscribe()
	} else {
		err = s.consume(ctx)
	}
	if err != nil {
		nc.Close()
		s.nc = nil
		return err
	}
	return nil
}

func (s *Source) subscribe() error {
	var err error
	if s.cfg.Queue != "" {
		s.sub, err = s.nc.QueueSubscribeSync(s.cfg.Subject, s.cfg.Queue)
	} else {
		s.sub, err = s.nc.SubscribeSync(s.cfg.Subject)
	}
	if err != nil {
		return fmt.Errorf("subscribe %q: %w", s.cfg.Subject, err)
	}
	// Room for bursts while the producer stores what it read.
	if err := s.sub.SetPendingLimits(1<<20, 256<<20); err != nil {
		return fmt.Errorf("subscribe %q: %w", s.cfg.Subject, err)
	}
	// Make sure the server has the subscription before Open returns.
	if err := s.nc.Flush(); err != nil {
		return fmt.Errorf("subscribe %q: %w", s.cfg.Subject, err)
	}
	return nil
}

func (s *Source) consume(ctx context.Context) error {
	js, err := jetstream.New(s.nc)
	if err != nil {
		return err
	}
	st, err := js.Stream(ctx, s.cfg.Stream)
	if err != nil {
		return fmt.Errorf("stream %q: %w (the source reads a stream someone made; make it first, e.g. nats stream add)", s.cfg.Stream, err)
	}
	s.cons, err = st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       s.cfg.Consumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxAckPending: s.cfg.MaxAckPending,
		FilterSubject: s.cfg.Subject,
		MaxDeliver:    -1,
	})
	if err != nil {
		return fmt.Errorf("stream %q consumer %q: %w", s.cfg.Stream, s.cfg.Consumer, err)
	}
	s.it, err = s.cons.Messages(jetstream.PullMaxMessages(min(500, s.cfg.MaxAckPending)), jetstream.PullExpiry(pullExpiry))
	if err != nil {
		return fmt.Errorf("stream %q consumer %q: %w", s.cfg.Stream, s.cfg.Consumer, err)
	}
	s.stop = make(chan struct{})
	s.wg.Go(s.keepHeld)
	return nil
}

// pullExpiry is the life of one pull request: short, so that a request left
// behind by a closed source soon stops taking messages (see Close).
const pullExpiry = 5 * time.Second

// linger is how long Read waits for more messages after the first.
const linger = 2 * time.Millisecond

// Read returns the next messages: it waits for one until ctx ends, then
// takes those that follow at once, up to MaxRead.
func (s *Source) Read(ctx context.Context) ([]producer.Record, error) {
	if s.nc == nil {
		return nil, errors.New("nats source: Read before Open")
	}
	if s.sub != nil {
		return s.readCore(ctx)
	}
	return s.readStream(ctx)
}

func (s *Source) readCore(ctx context.Context) ([]producer.Record, error) {
	m, err := s.sub.NextMsgWithContext(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("subject %q: %w", s.cfg.Subject, err)
	}
	recs := []producer.Record{s.record(m.Subject, m.Data, "")}
	for len(recs) < s.cfg.MaxRead {
		if n, _, err := s.sub.Pending(); err != nil || n == 0 {
			break
		}
		m, err := s.sub.NextMsgWithContext(ctx)
		if err != nil {
			break
		}
		recs = append(recs, s.record(m.Subject, m.Data, ""))
	}
	if d, err := s.sub.Dropped(); err == nil && d > s.dropped {
		s.cfg.Logger.Warn("nats source: messages dropped: the source fell behind the subject (core NATS keeps no backlog; read a JetStream stream to lose none)",
			zap.String("subject", s.cfg.Subject), zap.Int("dropped", d-s.dropped))
		s.dropped = d
	}
	return recs, nil
}

func (s *Source) readStream(ctx context.Context) ([]producer.Record, error) {
	m, err := s.it.Next(jetstream.NextContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("stream %q consumer %q: %w", s.cfg.Stream, s.cfg.Consumer, err)
	}
	msgs := []jetstream.Msg{m}
	lctx, cancel := context.WithTimeout(ctx, linger)
	for len(msgs) < s.cfg.MaxRead {
		m, err := s.it.Next(jetstream.NextContext(lctx))
		if err != nil {
			break
		}
		msgs = append(msgs, m)
	}
	cancel()
	now := time.Now()
	recs := make([]producer.Record, len(msgs))
	s.mu.Lock()
	for i, m := range msgs {
		where := ""
		if md, err := m.Metadata(); err == nil {
			where = fmt.Sprintf("stream %s sequence %d", s.cfg.Stream, md.Sequence.Stream)
		}
		recs[i] = s.record(m.Subject(), m.Data(), where)
		s.held = append(s.held, heldMsg{msg: m, last: now})
	}
	s.mu.Unlock()
	return recs, nil
}

func (s *Source) record(subject string, data []byte, where string) producer.Record {
	table := s.cfg.Table
	if table == "" {
		// Never empty: a subject's tokens are not. Valid UTF-8, as a table
		// name must be.
		table = strings.ToValidUTF8(subject[strings.LastIndexByte(subject, '.')+1:], "_")
	}
	if where == "" {
		where = "subject " + subject
	}
	return producer.Record{Data: data, Table: table, Where: where}
}

// Commit acknowledges every JetStream message read so far (the producer
// calls it once they are stored). On a core NATS subject there is nothing to
// acknowledge.
func (s *Source) Commit(ctx context.Context) error {
	if s.sub != nil || s.nc == nil {
		return nil
	}
	s.mu.Lock()
	held := s.held
	s.held = nil
	s.mu.Unlock()
	failed := 0
	var last error
	for i, h := range held {
		var err error
		if i < len(held)-1 {
			err = h.msg.Ack()
		} else {
			// The server handles one connection's acks in order: once it
			// confirms the last, every one before it is done too.
			err = h.msg.DoubleAck(ctx)
		}
		if err != nil {
			failed++
			last = err
		}
	}
	if failed > 0 {
		// Stored already: a message whose ack is lost comes back after the
		// ack wait, a duplicate, never a loss.
		s.cfg.Logger.Warn("nats source: acknowledging stored messages; they will be delivered again after the ack wait",
			zap.Int("messages", failed), zap.Duration("ack_wait", s.cfg.AckWait), zap.Error(last))
	}
	return nil
}

// keepHeld sends in-progress for the messages held longer than AckWait/3
// (the producer waits for its stream, say), so JetStream does not deliver
// them again meanwhile.
func (s *Source) keepHeld() {
	every := s.cfg.AckWait / 3
	tick := time.NewTicker(every / 2)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-tick.C:
			s.mu.Lock()
			for i := range s.held {
				if now.Sub(s.held[i].last) >= every {
					_ = s.held[i].msg.InProgress()
					s.held[i].last = now
				}
			}
			s.mu.Unlock()
		}
	}
}

// Close unsubscribes and disconnects. JetStream messages read and not
// committed, and those the client had fetched and not handed out, are
// negatively acknowledged, so that they are delivered again at once (to
// another producer of the consumer, or the next run).
func (s *Source) Close(ctx context.Context) error {
	if s.nc == nil {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if s.stop != nil {
		close(s.stop)
		s.wg.Wait()
		// Drain: no more pulls, and (nats-server 2.10 and later) the
		// server forgets this client's pull request before the naks
		// below, so it hands them to someone else. nats-server 2.9 may
		// still hand one to the dead request, until it expires (pullExpiry):
		// that one comes back after the ack wait, as without the nak.
		s.it.Drain()
		var fetched []jetstream.Msg
		for {
			m, err := s.it.Next(jetstream.NextContext(ctx))
			if err != nil {
				break
			}
			fetched = append(fetched, m)
		}
		s.mu.Lock()
		for _, h := range s.held {
			fetched = append(fetched, h.msg)
		}
		s.held = nil
		s.mu.Unlock()
		for _, m := range fetched {
			_ = m.Nak()
		}
	}
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
	}
	err := s.nc.FlushWithContext(ctx)
	s.nc.Close()
	s.nc = nil
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) && ctx.Err() == nil {
		return fmt.Errorf("nats source: close: %w", err)
	}
	return nil
}

// redact hides the password of a URL.
func redact(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "***@" + u[i+1:]
		}
	}
	return u
}
