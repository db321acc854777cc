// Package httpsource is a bridge source (producer.Source) that listens for
// HTTP: other systems POST JSON lines or a JSON array to /ingest/{table},
// and each request is answered 202 only once its rows are stored in the
// pipeline's stream, so that a caller can retry on any other answer.
//
// It uses the standard library's net/http only.
package httpsource

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge/producer"
)

// Defaults of Config.
const (
	DefaultMaxBody = 10 << 20
	DefaultTimeout = 30 * time.Second
	DefaultPath    = "/ingest"
)

// Config says where a Source listens and what it takes.
type Config struct {
	// Addr is the listen address, e.g. ":8080" or "127.0.0.1:0".
	Addr string
	// Path is the path prefix (default /ingest): requests go to
	// Path/{table}.
	Path string
	// Table is the table of a POST to Path itself; "" makes that a 404.
	Table string
	// MaxBody is the most bytes of one request body (default 10 MiB), after
	// gzip decompression; over it the answer is 413.
	MaxBody int64
	// Token, if set, is the bearer token every request must carry
	// (Authorization: Bearer TOKEN); others get 401. Never logged.
	Token string
	// Timeout is how long a request waits for its rows to be stored before
	// it is answered 503 (default 30s).
	Timeout time.Duration
	// MaxPending is the most body bytes held by requests waiting for their
	// rows to be stored (default 32 x MaxBody, at least 256 MiB); a request
	// beyond it is answered 503 at once, so that memory stays bounded while
	// the pipeline cannot store.
	MaxPending int64
	// Logger (default: none).
	Logger *zap.Logger
}

func (c *Config) validate() error {
	if c.Addr == "" {
		return errors.New("no listen address: http://:8080/ingest")
	}
	if c.Path == "" || c.Path == "/" {
		c.Path = DefaultPath
	}
	c.Path = "/" + strings.Trim(c.Path, "/")
	if !utf8.ValidString(c.Table) {
		return fmt.Errorf("table %q: not valid UTF-8", c.Table)
	}
	if c.MaxBody < 0 || c.Timeout < 0 || c.MaxPending < 0 {
		return errors.New("max body, timeout and max pending must not be negative")
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxPending == 0 {
		c.MaxPending = max(32*c.MaxBody, 256<<20)
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return nil
}

// Source serves HTTP ingest. Make it with New or FromURL; the producer opens
// it (it listens then), reads, commits and closes it.
type Source struct {
	cfg     Config
	queue   chan *request
	held    []*request   // read, not yet committed
	pending atomic.Int64 // body bytes of the requests waiting

	ready   chan struct{} // closed once listening
	closing chan struct{} // closed by Close: requests are answered 503
	addr    string
	srv     *http.Server
	served  chan struct{}
	once    sync.Once
}

var (
	_ producer.Source = (*Source)(nil)
	_ producer.Opener = (*Source)(nil)
	_ producer.Closer = (*Source)(nil)
)

// New makes a source; it listens on Open.
func New(cfg Config) (*Source, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Source{cfg: cfg, queue: make(chan *request, 1024), ready: make(chan struct{}), closing: make(chan struct{})}, nil
}

// Ready is closed once the source listens (see Addr).
func (s *Source) Ready() <-chan struct{} { return s.ready }

// Addr is the address the source listens on, once Ready.
func (s *Source) Addr() string {
	select {
	case <-s.ready:
		return s.addr
	default:
		return ""
	}
}

// Open starts listening.
func (s *Source) Open(ctx context.Context, _ producer.Env) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("http source: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(s.cfg.Path, s)
	mux.Handle(s.cfg.Path+"/", s)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.Timeout + time.Minute,
		ErrorLog:          zap.NewStdLog(s.cfg.Logger),
	}
	s.addr = ln.Addr().String()
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("http source: serving", zap.Error(err))
		}
	}()
	close(s.ready)
	s.cfg.Logger.Info("http source: listening", zap.String("addr", s.addr), zap.String("path", s.cfg.Path+"/{table}"))
	return nil
}

// Read returns the rows of the next requests: it waits for one until ctx
// ends, then takes those queued behind it.
func (s *Source) Read(ctx context.Context) ([]producer.Record, error) {
	var recs []producer.Record
	select {
	case r := <-s.queue:
		recs = s.take(r, recs)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for len(recs) < 10000 {
		select {
		case r := <-s.queue:
			recs = s.take(r, recs)
			continue
		default:
		}
		break
	}
	return recs, nil
}

func (s *Source) take(r *request, recs []producer.Record) []producer.Record {
	if !r.take() {
		return recs // its caller gave up waiting: answered 503, not stored
	}
	s.held = append(s.held, r)
	return append(recs, r.recs...)
}

// Commit answers every request read so far: their rows are stored.
func (s *Source) Commit(context.Context) error {
	for _, r := range s.held {
		r.done <- nil
	}
	s.held = nil
	return nil
}

// errClosed answers the requests the source holds when it closes.
var errClosed = errors.New("the source is closing")

// Close answers the requests not committed 503, stops taking new ones, and
// shuts the listener down gracefully (within ctx).
func (s *Source) Close(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		close(s.closing)
		for _, r := range s.held {
			r.done <- errClosed
		}
		s.held = nil
		if s.srv == nil {
			return
		}
		err = s.srv.Shutdown(ctx)
		<-s.served
		if err != nil {
			err = fmt.Errorf("http source: shutdown: %w", err)
			_ = s.srv.Close()
		}
	})
	return err
}
