// Package natssink is bridge's NATS sink: it publishes every batch to a NATS
// server, one message per row (a JSON object) or one per batch (JSON lines),
// on a subject made from a template ("bridge.{table}").
//
// With JetStream (Config.JetStream) every message carries Nats-Msg-Id, the
// batch id (plus "." and the row's index in rows mode), and the sink waits
// for the stream's ack of every message before it reports the batch
// delivered; a batch written again (a retry, a redelivery after a lost ack)
// is dropped by the stream as a duplicate, so the stream holds each row
// once, as long as the stream's duplicate window covers the time until the
// batch is written again. On core NATS the sink publishes and flushes: the
// server has every message when the batch is acknowledged, but core NATS
// keeps nothing, so a subscriber that is not there, or too slow, misses it
// (at most once per subscriber), and a retried batch is sent again.
//
// Every message has the headers Bridge-Table (the table's name) and
// Bridge-Batch-Id.
package natssink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/sink"
)

// Header names set on every message.
const (
	HeaderTable   = "Bridge-Table"
	HeaderBatchID = "Bridge-Batch-Id"
)

// maxPending bounds the asynchronous publishes waiting for an ack, over all
// the batches being written at once.
const maxPending = 4096

// connectTimeout bounds connecting when Connect's context has no deadline.
const connectTimeout = 10 * time.Second

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("natssink: closed")

// Sink publishes batches to NATS. Make it with New; it connects in Connect.
// It is safe for concurrent use.
type Sink struct {
	cfg     Config
	subject subjectTemplate
	log     *zap.Logger

	mu       sync.Mutex
	nc       *nats.Conn
	js       jetstream.JetStream
	closed   bool
	inflight sync.WaitGroup
	done     chan struct{} // closed when nc is closed
}

var (
	_ sink.Sink      = (*Sink)(nil)
	_ sink.Connector = (*Sink)(nil)
	_ sink.Closer    = (*Sink)(nil)
)

// New returns a NATS sink for cfg; zero fields take their defaults (see
// Config). It does not connect: Connect does. log may be nil.
func New(cfg Config, log *zap.Logger) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	subject, _ := parseSubject(cfg.Subject)
	if log == nil {
		log = zap.NewNop()
	}
	return &Sink{cfg: cfg, subject: subject, log: log}, nil
}

// Destination returns a bridge destination named name whose NATS sink is
// configured from code (bridge.WithConfig(natssink.Config{...})), the
// environment (DESTINATION__<NAME>__NATS_URL, ...) and .bridge/config.toml
// and secrets.toml [destination.<name>]. It logs nothing: see
// DestinationWithLogger.
func Destination(name string, opts ...bridge.Option) *bridge.Destination {
	return DestinationWithLogger(name, nil, opts...)
}

// DestinationWithLogger is Destination with a logger for the sink
// (connections, the stream it created or found).
func DestinationWithLogger(name string, log *zap.Logger, opts ...bridge.Option) *bridge.Destination {
	// The sink encodes rows before Write returns and keeps none.
	opts = append([]bridge.Option{bridge.ReuseRows()}, opts...)
	return bridge.NewConfiguredSink(name, func(cfg Config) (sink.Sink, error) {
		return New(cfg, log)
	}, opts...)
}

// Subject returns the subject the sink publishes table's rows on.
func (s *Sink) Subject(table string) string { return s.subject.subject(table) }

// url is the target's URL, safe to print.
func (s *Sink) url() string { return bridge.RedactURL(s.cfg.URL) }

// Connect connects to the target server and, in JetStream mode, checks that
// a stream captures the sink's subjects (creating Config.Stream if it does
// not exist).
func (s *Sink) Connect(ctx context.Context, env sink.Env) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.nc != nil {
		return nil
	}
	timeout := connectTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(dl), time.Millisecond))
	}
	done := make(chan struct{})
	opts := []nats.Option{
		nats.Name("bridge sink " + env.Pipeline + "/" + env.Destination),
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		nats.ClosedHandler(func(*nats.Conn) { close(done) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				s.log.Warn("nats sink: disconnected", zap.String("url", s.url()), zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			s.log.Info("nats sink: reconnected", zap.String("url", s.url()))
		}),
	}
	switch {
	case s.cfg.Token != "":
		opts = append(opts, nats.Token(s.cfg.Token))
	case s.cfg.User != "":
		opts = append(opts, nats.UserInfo(s.cfg.User, s.cfg.Password))
	}
	if s.cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(s.cfg.Creds))
	}
	nc, err := nats.Connect(s.cfg.URL, opts...)
	if errors.Is(err, nats.ErrNoServers) {
		return fmt.Errorf("connect to NATS at %s: %w; check that a NATS server runs there and this machine reaches it, or fix nats_url of destination %q",
			s.url(), err, env.Destination)
	}
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", s.url(), err)
	}
	if s.cfg.JetStream {
		js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxPending), jetstream.WithPublishAsyncTimeout(s.cfg.Timeout))
		if err == nil {
			err = s.checkStream(ctx, js)
		}
		if err != nil {
			nc.Close()
			return err
		}
		s.js = js
	}
	s.nc, s.done = nc, done
	mode := "core NATS, at most once per subscriber"
	if s.cfg.JetStream {
		mode = "JetStream, acked and de-duplicated by batch id"
	}
	s.log.Info("nats sink: connected", zap.String("url", s.url()), zap.String("subject", s.cfg.Subject),
		zap.String("mode", s.cfg.Mode), zap.String("delivery", mode))
	return nil
}

// checkStream checks that a stream captures the sink's subjects, creating
// Config.Stream if it is set and missing.
func (s *Sink) checkStream(ctx context.Context, js jetstream.JetStream) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	filter := s.subject.filter()
	if _, err := js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("NATS at %s: JetStream: %w (enable JetStream on the server, or set nats_jetstream = false for core NATS)", s.url(), err)
	}
	if s.cfg.Stream != "" {
		st, err := js.Stream(ctx, s.cfg.Stream)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			_, err = js.CreateStream(ctx, jetstream.StreamConfig{
				Name:       s.cfg.Stream,
				Subjects:   []string{filter},
				Storage:    jetstream.FileStorage,
				Duplicates: s.cfg.DuplicateWindow,
			})
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamNameInUse {
				// Another worker made it meanwhile.
				if st, err = js.Stream(ctx, s.cfg.Stream); err == nil {
					break
				}
			}
			if err != nil {
				return fmt.Errorf("NATS at %s: create stream %q for %q: %w", s.url(), s.cfg.Stream, filter, err)
			}
			s.log.Info("nats sink: created stream", zap.String("stream", s.cfg.Stream), zap.String("subjects", filter),
				zap.Duration("duplicate_window", s.cfg.DuplicateWindow))
			return nil
		case err != nil:
			return fmt.Errorf("NATS at %s: stream %q: %w", s.url(), s.cfg.Stream, err)
		}
		if !captures(st.CachedInfo().Config.Subjects, filter) {
			return fmt.Errorf("NATS at %s: stream %q does not capture %q: add the subjects to it (nats stream edit %s --subjects '%s'), or name another nats_stream",
				s.url(), s.cfg.Stream, filter, s.cfg.Stream, filter)
		}
		s.noteWindow(st.CachedInfo())
		return nil
	}
	name, err := js.StreamNameBySubject(ctx, filter)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("NATS at %s: no JetStream stream captures %q: create one (nats stream add BRIDGE --subjects '%s' --dupe-window 10m), "+
			"or set nats_stream = \"NAME\" to have bridge create it, or nats_jetstream = false to publish on core NATS", s.url(), filter, filter)
	}
	if err != nil {
		return fmt.Errorf("NATS at %s: find the stream of %q: %w", s.url(), filter, err)
	}
	if st, err := js.Stream(ctx, name); err == nil {
		s.noteWindow(st.CachedInfo())
		if !captures(st.CachedInfo().Config.Subjects, filter) {
			s.log.Warn("nats sink: the stream captures only some of the subjects; batches of tables on the others fail",
				zap.String("stream", name), zap.Strings("stream_subjects", st.CachedInfo().Config.Subjects), zap.String("subjects", filter))
		}
	}
	return nil
}

// noteWindow logs the stream's duplicate window: retries later than that
// leave duplicates.
func (s *Sink) noteWindow(info *jetstream.StreamInfo) {
	if info == nil {
		return
	}
	s.log.Info("nats sink: stream", zap.String("stream", info.Config.Name),
		zap.Duration("duplicate_window", info.Config.Duplicates))
}

// enter registers a Write in flight; false once closed or before Connect.
func (s *Sink) enter() (*nats.Conn, jetstream.JetStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	if s.nc == nil {
		return nil, nil, errors.New("natssink: not connected (Connect first)")
	}
	s.inflight.Add(1)
	return s.nc, s.js, nil
}

// Write publishes the batch's rows and returns once the server has them:
// acked by the stream (JetStream), or flushed (core NATS). In rows mode a
// message the stream refused (its ack is an error) is a transient row error:
// bridge sends that row again alone. A missing ack (timeout, lost
// connection) is a transient error for the whole batch: it is written
// again, and the stream drops the rows it already holds as duplicates. A
// row too large for the server's max_payload is a terminal row error (rows
// mode) or makes the batch terminal (batch mode).
func (s *Sink) Write(ctx context.Context, b sink.Batch) error {
	nc, js, err := s.enter()
	if err != nil {
		return err
	}
	defer s.inflight.Done()
	if len(b.Rows) == 0 {
		return nil
	}
	body, err := batcher.AppendRows(nil, &b.Table, b.Rows)
	if err != nil {
		return sink.Terminal(fmt.Errorf("encode batch %s: %w", b.ID, err))
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	msgs := s.messages(b, body)
	if js != nil {
		return s.publishJetStream(ctx, js, b, msgs)
	}
	return s.publishCore(ctx, nc, b, msgs)
}

// message is one message to publish, and the row it starts at.
type message struct {
	msg *nats.Msg
	row int
}

// messages makes the batch's messages from its JSON lines.
func (s *Sink) messages(b sink.Batch, body []byte) []message {
	subject := s.subject.subject(b.Table.Name)
	mk := func(data []byte, id string) *nats.Msg {
		m := nats.NewMsg(subject)
		m.Data = data
		m.Header.Set(HeaderTable, b.Table.Name)
		m.Header.Set(HeaderBatchID, b.ID)
		if b.ID != "" {
			m.Header.Set(jetstream.MsgIDHeader, id)
		}
		return m
	}
	if s.cfg.Mode == ModeBatch {
		return []message{{msg: mk(body, b.ID), row: 0}}
	}
	out := make([]message, 0, len(b.Rows))
	start := 0
	for i := 0; i < len(body); i++ {
		if body[i] != '\n' {
			continue
		}
		n := len(out)
		out = append(out, message{msg: mk(body[start:i:i], b.ID+"."+strconv.Itoa(n)), row: n})
		start = i + 1
	}
	return out
}

// tooLarge returns the error for a message over the server's max_payload.
func (s *Sink) tooLarge(nc *nats.Conn, b sink.Batch, m message, err error) error {
	if s.cfg.Mode == ModeBatch {
		return sink.Terminal(fmt.Errorf("batch %s of %d rows is %d bytes, over the max_payload of NATS at %s (%d): use nats_mode = \"rows\" or a smaller batch size: %w",
			b.ID, len(b.Rows), len(m.msg.Data), s.url(), nc.MaxPayload(), err))
	}
	return sink.Terminal(fmt.Errorf("row is %d bytes, over the max_payload of NATS at %s (%d): %w", len(m.msg.Data), s.url(), nc.MaxPayload(), err))
}

// publishCore publishes on core NATS and flushes.
func (s *Sink) publishCore(ctx context.Context, nc *nats.Conn, b sink.Batch, msgs []message) error {
	rowErrs := sink.RowErrors{}
	for _, m := range msgs {
		err := nc.PublishMsg(m.msg)
		switch {
		case errors.Is(err, nats.ErrMaxPayload):
			if s.cfg.Mode == ModeBatch {
				return s.tooLarge(nc, b, m, err)
			}
			rowErrs[m.row] = s.tooLarge(nc, b, m, err)
		case err != nil:
			return fmt.Errorf("publish to %s: %w", m.msg.Subject, err)
		}
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("flush to NATS at %s (batch %s, %d messages): %w", s.url(), b.ID, len(msgs), err)
	}
	if len(rowErrs) > 0 {
		return rowErrs
	}
	return nil
}

// publishJetStream publishes asynchronously and waits for every ack. Rows
// the stream refused (an error in its ack, or no stream for the subject)
// were not stored: in rows mode they are row errors, retried alone under an
// id of their own. A missing ack (timeout, lost connection) leaves it
// unknown whether the stream has the message: the whole batch is tried
// again, and the stream drops what it holds as duplicates.
func (s *Sink) publishJetStream(ctx context.Context, js jetstream.JetStream, b sink.Batch, msgs []message) error {
	rowErrs := sink.RowErrors{}
	type pending struct {
		f   jetstream.PubAckFuture
		row int
	}
	futures := make([]pending, 0, len(msgs))
	stall := max(time.Until(deadline(ctx, s.cfg.Timeout)), time.Millisecond)
	for _, m := range msgs {
		f, err := js.PublishMsgAsync(m.msg, jetstream.WithStallWait(stall))
		switch {
		case errors.Is(err, nats.ErrMaxPayload):
			if s.cfg.Mode == ModeBatch {
				return s.tooLarge(js.Conn(), b, m, err)
			}
			rowErrs[m.row] = s.tooLarge(js.Conn(), b, m, err)
			continue
		case err != nil:
			return fmt.Errorf("publish to %s: %w", m.msg.Subject, err)
		}
		futures = append(futures, pending{f: f, row: m.row})
	}
	var unknown, refused int
	var firstUnknown, firstRefused error
	for i, p := range futures {
		select {
		case <-p.f.Ok():
		case err := <-p.f.Err():
			if !notStored(err) {
				unknown++
				firstUnknown = cmp.Or(firstUnknown, err)
				continue
			}
			refused++
			firstRefused = cmp.Or(firstRefused, err)
			rowErrs[p.row] = s.refused(b, p.f.Msg().Subject, err)
		case <-ctx.Done():
			return fmt.Errorf("batch %s: %d of %d messages got no ack from the stream within %v (check the stream and NATS at %s; the batch is tried again): %w",
				b.ID, len(futures)-i, len(futures), s.cfg.Timeout, s.url(), context.Cause(ctx))
		}
	}
	switch {
	case unknown > 0:
		return fmt.Errorf("batch %s: %d of %d messages got no ack from the stream (check the stream and NATS at %s; the batch is tried again): %w",
			b.ID, unknown, len(futures), s.url(), firstUnknown)
	case refused > 0 && s.cfg.Mode == ModeBatch:
		return s.refused(b, msgs[0].msg.Subject, firstRefused)
	case len(rowErrs) > 0:
		return rowErrs
	}
	return nil
}

// notStored reports whether a failed publish certainly left nothing in the
// stream: the stream answered with an error, or no stream answered.
func notStored(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders)
}

// refused returns the error for a message the stream did not store.
func (s *Sink) refused(b sink.Batch, subject string, err error) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("batch %s: no JetStream stream captures %s on NATS at %s (add the subject to a stream): %w", b.ID, subject, s.url(), err)
	case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum:
		return sink.Terminal(fmt.Errorf("batch %s: the stream refuses a message of %s as too large: %w", b.ID, subject, err))
	}
	return fmt.Errorf("batch %s: the stream refused a message of %s: %w", b.ID, subject, err)
}

// deadline returns ctx's deadline, or d from now.
func deadline(ctx context.Context, d time.Duration) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return time.Now().Add(d)
}

// Close waits for the writes in flight (until ctx ends), then drains the
// connection: what was published reaches the server before it closes.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	nc, done := s.nc, s.done
	s.mu.Unlock()
	idle := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(idle)
	}()
	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = fmt.Errorf("natssink: close: writes still in flight: %w", context.Cause(ctx))
	}
	if nc == nil {
		return err
	}
	if derr := nc.Drain(); derr != nil {
		nc.Close()
		return errors.Join(err, fmt.Errorf("natssink: drain: %w", derr))
	}
	select {
	case <-done:
	case <-ctx.Done():
		nc.Close()
		err = errors.Join(err, fmt.Errorf("natssink: drain did not finish: %w", context.Cause(ctx)))
	}
	return err
}
