// Package httpsink is bridge's http sink: it sends every batch to a webhook
// as one request (a JSON array of the rows, or JSON lines), with the batch id
// as Idempotency-Key, and paces its requests with an adaptive rate limit
// that every worker process of the destination shares through NATS (see
// limiter.go). It uses the standard library's net/http only.
//
// Answers: 2xx delivers the batch. 429 and 503 lower the shared rate and
// retry the batch, after exactly the Retry-After they carry (seconds or an
// HTTP date; sink.RetryAfter), or with the usual backoff without one. 408,
// other 5xx and network errors and timeouts are retried. The terminal
// statuses (Config.TerminalCodes: every other 4xx by default) dead-letter
// the batch, with the status and the start of the response body in the
// error. Secrets (the token, the password, header values, a password in the
// URL) never appear in an error or a log line; neither does the URL's query
// string.
package httpsink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sink"
)

var (
	_ sink.Sink      = (*Sink)(nil)
	_ sink.Connector = (*Sink)(nil)
	_ sink.Closer    = (*Sink)(nil)
)

// Destination returns a bridge destination named name that sends its
// batches with an http Sink, its Config resolved by
// bridge.NewConfiguredSink (bridge.WithConfig(httpsink.Config{...}) gives
// values in code, and Config.Logger and Config.Client). It takes the
// options of bridge.NewConfiguredSink.
func Destination(name string, opts ...bridge.Option) *bridge.Destination {
	return DestinationWithLogger(name, nil, opts...)
}

// DestinationWithLogger is Destination with the sink's logger (as the other
// built-in sinks take it); Config.Logger, if set, wins.
func DestinationWithLogger(name string, log *zap.Logger, opts ...bridge.Option) *bridge.Destination {
	// The sink encodes rows before Write returns and keeps none.
	opts = append([]bridge.Option{bridge.ReuseRows()}, opts...)
	return bridge.NewConfiguredSink(name, func(cfg Config) (sink.Sink, error) {
		if cfg.Logger == nil {
			cfg.Logger = log
		}
		return New(cfg, cfg.Logger)
	}, opts...)
}

// Sink sends batches to an HTTP endpoint. It is safe for concurrent use.
type Sink struct {
	set    *settings
	client *http.Client
	owned  bool // the client is ours to close
	log    *zap.Logger
	lim    atomic.Pointer[limiter] // nil: no rate limit
}

// New returns a sink for cfg (see Config for the settings and defaults);
// log may be nil. Until Connect gives it the destination's shared store, its
// rate limit is its own.
func New(cfg Config, log *zap.Logger) (*Sink, error) {
	set, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	if cfg.BasicUser != "" {
		set.headers.Set("Authorization", "Basic "+basicAuth(cfg.BasicUser, cfg.BasicPassword))
	}
	if cfg.BearerToken != "" {
		set.headers.Set("Authorization", "Bearer "+cfg.BearerToken)
	}
	if set.headers.Get("Authorization") != "" {
		set.secrets = append(set.secrets, set.headers.Get("Authorization"))
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Sink{set: set, client: cfg.Client, log: log.With(zap.String("url", set.logURL))}
	if s.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		s.client, s.owned = &http.Client{Transport: tr, CheckRedirect: keepMethod}, true
	}
	if set.rateLimit {
		s.lim.Store(newLimiter(&localKV{}, set.rate))
	}
	return s, nil
}

// Connect takes the destination's shared store for the rate limit (a local
// limit when env.Shared is nil) and checks that it answers.
func (s *Sink) Connect(ctx context.Context, env sink.Env) error {
	if !s.set.rateLimit {
		s.log.Info("http sink ready", zap.String("rate", "unlimited"))
		return nil
	}
	kv, shared := env.Shared, true
	if kv == nil {
		kv, shared = &localKV{}, false
	}
	lim := newLimiter(kv, s.set.rate)
	rate, err := lim.Rate(ctx)
	if err != nil {
		return err
	}
	s.lim.Store(lim)
	s.log.Info("http sink ready", zap.Float64("rate", rate), zap.Float64("max_rate", s.set.rate.max), zap.Bool("shared_limit", shared))
	return nil
}

// Close releases the idle connections of the sink's own client.
func (s *Sink) Close(context.Context) error {
	if s.owned {
		s.client.CloseIdleConnections()
	}
	return nil
}

// Rate returns the current rate limit in requests per second (shared by
// the destination's workers once connected); 0 without a limit.
func (s *Sink) Rate(ctx context.Context) (float64, error) {
	lim := s.lim.Load()
	if lim == nil {
		return 0, nil
	}
	return lim.Rate(ctx)
}

// Write sends b as one request and maps the answer to the sink contract.
func (s *Sink) Write(ctx context.Context, b sink.Batch) error {
	body, err := s.encode(b)
	if err != nil {
		return sink.Terminal(fmt.Errorf("table %s: encode rows: %w", b.Table.Name, err))
	}
	target := strings.ReplaceAll(s.set.url, "{table}", url.PathEscape(b.Table.Name))
	if lim := s.lim.Load(); lim != nil {
		if err := lim.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("rate limit: %w", err)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, s.set.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, s.set.method, target, bytes.NewReader(body))
	if err != nil {
		// The parse error would show the URL: say what is wrong without it.
		return sink.Terminal(fmt.Errorf("%s %s: table %q makes an invalid request URL", s.set.method, s.set.logURL, b.Table.Name))
	}
	req.Header = s.set.headers.Clone()
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", contentType[s.set.body])
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "bridge-http-sink")
	}
	id := b.ID
	if id == "" {
		id = sink.BatchID(ctx)
	}
	if id != "" {
		req.Header.Set("Idempotency-Key", id)
		req.Header.Set("Bridge-Batch-Id", id)
	}
	req.Header.Set("Bridge-Table", b.Table.Name)
	called := s.set.logURL // the URL called, redacted, for errors
	if target != s.set.url {
		called = redactURL(target)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return s.transportError(ctx, rctx, called, err)
	}
	defer resp.Body.Close()
	return s.answer(ctx, resp, called)
}

// keepMethod follows the redirects that keep the method and the body (307
// and 308) and stops at the others: a 301, 302 or 303 would turn the
// request into a GET without the rows, and its 200 would pass for a
// delivery. Write dead-letters such an answer.
func keepMethod(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if code := req.Response.StatusCode; code != http.StatusTemporaryRedirect && code != http.StatusPermanentRedirect {
		return http.ErrUseLastResponse
	}
	return nil
}

var contentType = map[string]string{BodyJSON: "application/json", BodyJSONL: "application/x-ndjson"}

// transportError describes a request to called (the URL, redacted) that
// got no answer: retried.
func (s *Sink) transportError(ctx, rctx context.Context, called string, err error) error {
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err // its text holds the URL, query string and all
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s %s: %w", s.set.method, called, ctx.Err())
	case rctx.Err() != nil:
		return fmt.Errorf("%s %s: no answer within the timeout of %v: %w", s.set.method, called, s.set.timeout, rctx.Err())
	}
	return fmt.Errorf("%s %s: %s", s.set.method, called, s.scrub(err.Error()))
}

// answer maps a response from called (the URL, redacted) to the sink
// contract.
func (s *Sink) answer(ctx context.Context, resp *http.Response, called string) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		drain(resp.Body)
		return nil
	}
	se := &StatusError{Method: s.set.method, URL: called, Code: code, Status: resp.Status, Body: s.scrub(excerpt(resp.Body))}
	drain(resp.Body)
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now())
		s.throttled(ctx, code)
		if ok {
			se.RetryAfter = d
			return sink.RetryAfter(se, d)
		}
		return se
	case code < 400:
		// 1xx and 3xx (a redirect the client does not follow): no retry
		// will change it.
		return sink.Terminal(se)
	case s.set.terminal(code):
		return sink.Terminal(se)
	}
	return se
}

// throttled lowers the shared rate after a 429 or 503.
func (s *Sink) throttled(ctx context.Context, code int) {
	lim := s.lim.Load()
	if lim == nil {
		return
	}
	// The call may be ending: record the cut all the same, briefly.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	from, to, err := lim.Throttled(tctx)
	switch {
	case err != nil:
		s.log.Warn("http rate limit: cannot record a throttled answer", zap.Int("status", code), zap.Error(err))
	case to < from:
		s.log.Info("http rate limit lowered", zap.Int("status", code), zap.Float64("from", from), zap.Float64("to", to))
	}
}

// encode renders the rows as the configured body, each row's columns in
// the table's order.
func (s *Sink) encode(b sink.Batch) ([]byte, error) {
	var buf bytes.Buffer
	if s.set.body == BodyJSON {
		buf.WriteByte('[')
	}
	order := make([]string, 0, len(b.Table.Columns))
	for _, c := range b.Table.Columns {
		order = append(order, c.Name)
	}
	for i, row := range b.Rows {
		if i > 0 && s.set.body == BodyJSON {
			buf.WriteByte(',')
		}
		if err := encodeRow(&buf, row, order); err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		if s.set.body == BodyJSONL {
			buf.WriteByte('\n')
		}
	}
	if s.set.body == BodyJSON {
		buf.WriteByte(']')
	}
	return buf.Bytes(), nil
}

// encodeRow writes row as a JSON object: the columns in order, then any
// others sorted.
func encodeRow(buf *bytes.Buffer, row sink.Row, order []string) error {
	buf.WriteByte('{')
	n := 0
	put := func(k string, v any) error {
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		vb, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("column %s: %w", k, err)
		}
		buf.Write(vb)
		return nil
	}
	seen := 0
	for _, k := range order {
		if v, ok := row[k]; ok {
			seen++
			if err := put(k, v); err != nil {
				return err
			}
		}
	}
	if seen < len(row) {
		var rest []string
		for k := range row {
			if !slices.Contains(order, k) {
				rest = append(rest, k)
			}
		}
		slices.Sort(rest)
		for _, k := range rest {
			if err := put(k, row[k]); err != nil {
				return err
			}
		}
	}
	buf.WriteByte('}')
	return nil
}

// scrub replaces the secrets in text with ***.
func (s *Sink) scrub(text string) string {
	for _, sec := range s.set.secrets {
		text = strings.ReplaceAll(text, sec, "***")
	}
	return text
}
