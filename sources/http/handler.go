package httpsource

import (
	"bytes"
	"compress/gzip"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fanoutbridge/bridge/producer"
)

// request is one POST's rows on their way to the producer.
type request struct {
	recs []producer.Record
	done chan error // Commit's answer (nil: stored)

	mu    sync.Mutex
	state int
}

const (
	queued = iota
	taken
	abandoned
)

// take marks r read by the producer, unless its caller gave up.
func (r *request) take() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == abandoned {
		return false
	}
	r.state = taken
	return true
}

// abandon gives up on r; it reports whether r's rows may be stored anyway
// (the producer had taken them).
func (r *request) abandon() (mayBeStored bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == queued {
		r.state = abandoned
	}
	return r.state == taken
}

// badLine is a line of a body that is not JSON.
type badLine struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// answer is every response's body.
type answer struct {
	Accepted int       `json:"accepted,omitempty"`
	Stored   *int      `json:"stored,omitempty"`
	Error    string    `json:"error,omitempty"`
	BadLines []badLine `json:"bad_lines,omitempty"`
	// BadCount is every bad line; BadLines lists the first 100.
	BadCount int `json:"bad_count,omitempty"`
}

const badListed = 100

func reply(w http.ResponseWriter, code int, a answer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(a)
}

func (s *Source) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, answer{Error: "POST JSON lines or a JSON array to " + s.cfg.Path + "/{table}"})
		return
	}
	if s.cfg.Token != "" && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bridge"`)
		reply(w, http.StatusUnauthorized, answer{Error: "a bearer token is required: Authorization: Bearer TOKEN"})
		return
	}
	table := strings.Trim(strings.TrimPrefix(r.URL.Path, s.cfg.Path), "/")
	switch {
	case table == "" && s.cfg.Table == "":
		reply(w, http.StatusNotFound, answer{Error: "name the table: POST " + s.cfg.Path + "/{table}"})
		return
	case table == "":
		table = s.cfg.Table
	case strings.Contains(table, "/") || !utf8.ValidString(table) || len(table) > 255:
		reply(w, http.StatusNotFound, answer{Error: fmt.Sprintf("table %q: one path segment of valid UTF-8, at most 255 bytes", table)})
		return
	}
	select {
	case <-s.closing:
		unavailable(w, "the source is shutting down: retry against another producer, or later")
		return
	default:
	}

	body, code, err := s.readBody(w, r)
	if err != nil {
		reply(w, code, answer{Error: err.Error()})
		return
	}
	if n := s.pending.Add(int64(len(body))); n > s.cfg.MaxPending {
		s.pending.Add(-int64(len(body)))
		unavailable(w, "too many requests are waiting for their rows to be stored; nothing was stored, retry")
		return
	}
	defer s.pending.Add(-int64(len(body)))
	recs, bad, err := parse(body, table, r.RemoteAddr)
	if err != nil {
		reply(w, http.StatusBadRequest, answer{Error: err.Error()})
		return
	}
	if len(recs) == 0 {
		if len(bad) == 0 {
			reply(w, http.StatusBadRequest, answer{Error: "the body holds no records"})
		} else {
			reply(w, http.StatusBadRequest, badAnswer(bad, 0))
		}
		return
	}

	timer := time.NewTimer(s.cfg.Timeout)
	defer timer.Stop()
	req := &request{recs: recs, done: make(chan error, 1)}
	select {
	case s.queue <- req:
	case <-timer.C:
		unavailable(w, fmt.Sprintf("not taken within %v: the pipeline is not storing (is NATS down?); nothing was stored, retry", s.cfg.Timeout))
		return
	case <-s.closing:
		unavailable(w, "the source is shutting down; nothing was stored, retry")
		return
	case <-r.Context().Done():
		return
	}
	var stored error
	select {
	case stored = <-req.done:
	case <-timer.C:
		stored = fmt.Errorf("not stored within %v: the pipeline is not storing (is NATS down?)", s.cfg.Timeout)
	case <-s.closing:
		select {
		case stored = <-req.done: // committed just before the close
		default:
			stored = errClosed
		}
	case <-r.Context().Done():
		req.abandon()
		return
	}
	if stored != nil {
		msg := stored.Error() + "; nothing was stored, retry"
		if req.abandon() {
			msg = stored.Error() + "; the rows may be stored anyway: a retry may store them twice"
		}
		unavailable(w, msg)
		return
	}
	if len(bad) > 0 {
		reply(w, http.StatusBadRequest, badAnswer(bad, len(recs)))
		return
	}
	reply(w, http.StatusAccepted, answer{Accepted: len(recs)})
}

// unavailable answers 503: nothing stored, or not known to be; retry.
func unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	reply(w, http.StatusServiceUnavailable, answer{Error: msg})
}

func badAnswer(bad []badLine, stored int) answer {
	lines := make([]string, 0, min(len(bad), 10))
	for _, b := range bad[:min(len(bad), 10)] {
		lines = append(lines, strconv.Itoa(b.Line))
	}
	word := "lines"
	if len(bad) == 1 {
		word = "line"
	}
	msg := fmt.Sprintf("%d bad %s (%s", len(bad), word, strings.Join(lines, ", "))
	if len(bad) > 10 {
		msg += ", ..."
	}
	msg += fmt.Sprintf("); the other %d are stored: resend only the bad ones, fixed", stored)
	return answer{Error: msg, BadLines: bad[:min(len(bad), badListed)], BadCount: len(bad), Stored: &stored}
}

// authorized checks the bearer token in constant time.
func (s *Source) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h[len(prefix):]), []byte(s.cfg.Token)) == 1
}

// readBody reads the body, up to MaxBody bytes (decompressed, for gzip).
func (s *Source) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	tooBig := fmt.Errorf("the body is over %d bytes: split it into smaller requests", s.cfg.MaxBody)
	if r.ContentLength > s.cfg.MaxBody && r.Header.Get("Content-Encoding") == "" {
		return nil, http.StatusRequestEntityTooLarge, tooBig
	}
	var in io.Reader = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("gzip body: %w", err)
		}
		defer zr.Close()
		in = io.LimitReader(zr, s.cfg.MaxBody+1)
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("content encoding %q: send it plain or gzip", enc)
	}
	body, err := io.ReadAll(in)
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb) || int64(len(body)) > s.cfg.MaxBody:
		return nil, http.StatusRequestEntityTooLarge, tooBig
	case err != nil:
		return nil, http.StatusBadRequest, fmt.Errorf("reading the body: %w", err)
	}
	return body, 0, nil
}

// parse splits a body into records: a JSON array (the body starts with
// '['), each element one record; otherwise JSON lines, blank lines skipped,
// each line checked on its own, so bad lines do not hold back good ones.
func parse(body []byte, table, from string) ([]producer.Record, []badLine, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return nil, nil, fmt.Errorf("the body is not a valid JSON array (nothing was stored): %w", err)
		}
		recs := make([]producer.Record, len(items))
		for i, it := range items {
			recs[i] = producer.Record{Data: it, Table: table, Where: fmt.Sprintf("POST from %s item %d", from, i+1)}
		}
		return recs, nil, nil
	}
	var recs []producer.Record
	var bad []badLine
	for n := 1; len(body) > 0; n++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			var v any
			err := json.Unmarshal(line, &v)
			bad = append(bad, badLine{Line: n, Error: err.Error()})
			continue
		}
		recs = append(recs, producer.Record{Data: line, Table: table, Where: fmt.Sprintf("POST from %s line %d", from, n)})
	}
	return recs, bad, nil
}
