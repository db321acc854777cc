package httpsink

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/sink"
)

const secretToken = "tok-SECRET-123456"

// request is what a test server saw.
type request struct {
	method, path string
	header       http.Header
	body         []byte
}

// recorder is an httptest server that answers with answer and keeps what it
// saw.
type recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []request
	answer func(w http.ResponseWriter, r *http.Request)
}

func newRecorder(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *recorder {
	t.Helper()
	rec := &recorder{answer: answer}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.got = append(rec.got, request{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body})
		rec.mu.Unlock()
		if rec.answer != nil {
			rec.answer(w, r)
		}
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) requests() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]request(nil), rec.got...)
}

func newSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func testBatch() sink.Batch {
	return sink.Batch{
		ID: "batch-1",
		Table: schema.Table{Name: "orders", Columns: []schema.Column{
			{Name: "id"}, {Name: "name"}, {Name: "amount"},
		}},
		Rows: []sink.Row{
			{"amount": 1.5, "name": "a", "id": int64(1)},
			{"id": int64(2), "name": "b", "amount": 2.5},
		},
		Attempt: 1,
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// A request carries the rows in the configured body, in column order, with
// the batch id as Idempotency-Key, the table and batch headers, the
// authentication and the extra headers; {table} in the URL is the table.
func TestWriteRequest(t *testing.T) {
	cases := []struct {
		name     string
		cfg      Config
		wantBody string
		wantType string
		wantAuth string
	}{
		{"json with bearer", Config{Body: "json", BearerToken: secretToken},
			`[{"id":1,"name":"a","amount":1.5},{"id":2,"name":"b","amount":2.5}]`, "application/json", "Bearer " + secretToken},
		{"jsonl with basic", Config{Body: "jsonl", BasicUser: "u", BasicPassword: "p@ss"},
			"{\"id\":1,\"name\":\"a\",\"amount\":1.5}\n{\"id\":2,\"name\":\"b\",\"amount\":2.5}\n", "application/x-ndjson", "Basic " + basicAuth("u", "p@ss")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, nil)
			tc.cfg.URL = rec.srv.URL + "/in/{table}?k=v"
			tc.cfg.Method = "put"
			tc.cfg.Headers = []string{"X-Api-Key: key-abcdef", "X-Source:bridge"}
			s := newSink(t, tc.cfg)
			if err := s.Write(ctxT(t), testBatch()); err != nil {
				t.Fatal(err)
			}
			got := rec.requests()
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			r := got[0]
			if r.method != "PUT" || r.path != "/in/orders" {
				t.Errorf("request %s %s, want PUT /in/orders", r.method, r.path)
			}
			if string(r.body) != tc.wantBody {
				t.Errorf("body\n%s\nwant\n%s", r.body, tc.wantBody)
			}
			want := map[string]string{
				"Idempotency-Key": "batch-1", "Bridge-Batch-Id": "batch-1", "Bridge-Table": "orders",
				"Content-Type": tc.wantType, "Authorization": tc.wantAuth, "X-Api-Key": "key-abcdef", "X-Source": "bridge",
			}
			for k, v := range want {
				if g := r.header.Get(k); g != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
		})
	}
}

// Each answer maps to the sink contract: delivered, retried, retried after
// the Retry-After, or terminal with the status and the body in the error;
// no secret shows in an error.
func TestAnswers(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		terminal   []string // TerminalCodes
		want       string   // ok, transient, terminal, retry-after
		wantAfter  time.Duration
	}{
		{"200", 200, "", "", nil, "ok", 0},
		{"204", 204, "", "", nil, "ok", 0},
		{"400", 400, "", `{"error":"field amount: not a number"}`, nil, "terminal", 0},
		{"404", 404, "", "no such hook", nil, "terminal", 0},
		{"422", 422, "", "bad rows", nil, "terminal", 0},
		{"408", 408, "", "", nil, "transient", 0},
		{"429 without Retry-After", 429, "", "slow down", nil, "transient", 0},
		{"429 Retry-After seconds", 429, "2", "slow down", nil, "retry-after", 2 * time.Second},
		{"503 Retry-After date", 503, "date", "", nil, "retry-after", 3 * time.Second},
		{"503 without Retry-After", 503, "", "", nil, "transient", 0},
		{"500", 500, "", "oops", nil, "transient", 0},
		{"502", 502, "", "", nil, "transient", 0},
		{"304 (not followed)", 304, "", "", nil, "terminal", 0},
		{"404 not terminal when listed codes omit it", 404, "", "", []string{"400", "422"}, "transient", 0},
		{"501 terminal when listed", 501, "", "not implemented", []string{"4xx", "501"}, "terminal", 0},
		{"429 never terminal", 429, "", "", []string{"4xx"}, "transient", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				switch tc.retryAfter {
				case "":
				case "date":
					// In 3 s, written to the second (HTTP dates drop
					// the fraction): 2 to 3 s from now.
					w.Header().Set("Retry-After", time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat))
				default:
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				// A server that echoes the credentials back.
				_, _ = io.WriteString(w, tc.body+" "+r.Header.Get("Authorization")+" "+r.URL.RawQuery)
			})
			s := newSink(t, Config{URL: rec.srv.URL + "/hook?api_key=querysecret", BearerToken: secretToken, TerminalCodes: tc.terminal})
			err := s.Write(ctxT(t), testBatch())
			d, isRA := sink.RetryAfterDelay(err)
			switch got := classify(err); {
			case got != tc.want:
				t.Fatalf("answer %d: %s (%v), want %s", tc.status, got, err, tc.want)
			case err == nil:
				return
			case isRA && (d < tc.wantAfter-1500*time.Millisecond || d > tc.wantAfter):
				// A date loses up to a second, and the answer takes a
				// moment to come back on a loaded machine.
				t.Errorf("retry after %v, want %v", d, tc.wantAfter)
			}
			msg := err.Error()
			for _, leak := range []string{secretToken, "querysecret"} {
				if strings.Contains(msg, leak) {
					t.Errorf("error shows a secret: %s", msg)
				}
			}
			if !strings.Contains(msg, http.StatusText(tc.status)) || (tc.body != "" && !strings.Contains(msg, tc.body)) {
				t.Errorf("error %q lacks the status or the body %q", msg, tc.body)
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tc.status {
				t.Errorf("error %v: no StatusError with code %d", err, tc.status)
			}
		})
	}
}

func classify(err error) string {
	if err == nil {
		return "ok"
	}
	if sink.IsTerminal(err) {
		return "terminal"
	}
	if _, ok := sink.RetryAfterDelay(err); ok {
		return "retry-after"
	}
	return "transient"
}

// The error keeps at most MaxErrorBody bytes of a long body.
func TestLongBodyExcerpt(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, strings.Repeat("é", 10000))
	})
	s := newSink(t, Config{URL: rec.srv.URL})
	err := s.Write(ctxT(t), testBatch())
	var se *StatusError
	if !errors.As(err, &se) || !sink.IsTerminal(err) {
		t.Fatalf("err %v, want a terminal StatusError", err)
	}
	if n := len(se.Body); n < 1<<10 || n > MaxErrorBody || !strings.HasPrefix(se.Body, "éé") || strings.ContainsRune(se.Body, '?') {
		t.Errorf("body excerpt of %d bytes (%q...), want up to %d bytes of whole characters", n, se.Body[:8], MaxErrorBody)
	}
}

// No answer within the timeout, and no server at all, are transient, and
// name neither the query string nor a password of the URL.
func TestNoAnswer(t *testing.T) {
	release := make(chan struct{})
	slow := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	cases := []struct {
		name, url string
		timeout   time.Duration
		want      string
	}{
		{"timeout", strings.Replace(slow.srv.URL, "http://", "http://user:urlpass@", 1) + "/x?token=querysecret", 200 * time.Millisecond, "no answer within the timeout of 200ms"},
		{"connection refused", gone.URL + "/x?token=querysecret", time.Second, "refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink(t, Config{URL: tc.url, Timeout: tc.timeout})
			start := time.Now()
			err := s.Write(ctxT(t), testBatch())
			if classify(err) != "transient" {
				t.Fatalf("err %v: want transient", err)
			}
			if time.Since(start) > tc.timeout+5*time.Second {
				t.Errorf("took %v with a timeout of %v", time.Since(start), tc.timeout)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "querysecret") || strings.Contains(msg, "urlpass") {
				t.Errorf("error %q: want %q in it and no secret", msg, tc.want)
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		h    string
		want time.Duration
		ok   bool
	}{
		{"1", time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"Wednesday, 02-Dec-26 10:00:05 GMT", 5 * time.Second, true}, // RFC 850
	}
	for _, tc := range cases {
		d, ok := retryAfter(tc.h, now)
		if d != tc.want || ok != tc.ok {
			t.Errorf("Retry-After %q: %v %v, want %v %v", tc.h, d, ok, tc.want, tc.ok)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no url", Config{}, "http_url is empty"},
		{"not http", Config{URL: "ftp://x/y"}, "want an http:// or https:// URL"},
		{"no host", Config{URL: "http:///path"}, "want an http:// or https:// URL"},
		{"body", Config{URL: "http://x", Body: "xml"}, "http_body"},
		{"header", Config{URL: "http://x", Headers: []string{"A: b", "NoColon secretvalue"}}, "entry 2 is not \"Name: value\""},
		{"both auth", Config{URL: "http://x", BearerToken: "t", BasicUser: "u"}, "not both"},
		{"password without user", Config{URL: "http://x", BasicPassword: "p"}, "without http_basic_user"},
		{"terminal codes", Config{URL: "http://x", TerminalCodes: []string{"200"}}, "http_terminal_codes"},
		{"negative rate", Config{URL: "http://x", Rate: -1}, "http_rate"},
		{"max below rate", Config{URL: "http://x", Rate: 10, MaxRate: 5}, "http_max_rate 5 is under http_rate 10"},
		{"max without rate", Config{URL: "http://x", MaxRate: 5}, "needs http_rate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errConfig) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secretvalue") {
				t.Errorf("error shows a header value: %v", err)
			}
		})
	}
}

// A 307 or 308 is followed with the rows; a 302 or 303 (which would drop
// them for a GET) dead-letters the batch.
func TestRedirects(t *testing.T) {
	final := newRecorder(t, nil)
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			moved := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, final.srv.URL+"/new", code)
			})
			before := len(final.requests())
			err := newSink(t, Config{URL: moved.srv.URL}).Write(ctxT(t), testBatch())
			got := final.requests()[before:]
			if code == 307 || code == 308 {
				if err != nil || len(got) != 1 || got[0].method != "POST" || len(got[0].body) == 0 {
					t.Fatalf("err %v, %d requests at the new place: want the POST with the rows", err, len(got))
				}
				return
			}
			if !sink.IsTerminal(err) || len(got) != 0 {
				t.Fatalf("err %v, %d requests at the new place: want terminal and none", err, len(got))
			}
		})
	}
}

// Rows that do not encode (NaN) are terminal, and nothing is sent.
func TestEncodeError(t *testing.T) {
	rec := newRecorder(t, nil)
	s := newSink(t, Config{URL: rec.srv.URL})
	b := testBatch()
	b.Rows[1]["amount"] = func() {}
	err := s.Write(ctxT(t), b)
	if !sink.IsTerminal(err) || !strings.Contains(err.Error(), "row 1") {
		t.Fatalf("err %v, want terminal naming row 1", err)
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
	// Extra keys not in the table's columns still go, sorted, after them.
	b = testBatch()
	b.Rows = []sink.Row{{"zz": 1, "id": int64(1), "aa": true}}
	if err := s.Write(ctxT(t), b); err != nil {
		t.Fatal(err)
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(rec.requests()[0].body, &rows); err != nil || string(rows[0]) != `{"id":1,"aa":true,"zz":1}` {
		t.Errorf("body %s (%v)", rec.requests()[0].body, err)
	}
}

// Errors name the URL called ({table} filled in), not the template, still
// without password or query string.
func TestErrorShowsURLCalled(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for _, tc := range []struct{ name, base string }{
		{"status", rec.srv.URL},
		{"no answer", gone.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := strings.Replace(tc.base, "http://", "http://user:urlpass@", 1) + "/ingest/{table}?key=querysecret"
			s := newSink(t, Config{URL: u, Timeout: time.Second})
			err := s.Write(ctxT(t), testBatch())
			if err == nil {
				t.Fatal("Write succeeded")
			}
			want := "POST " + strings.Replace(tc.base, "http://", "http://user@", 1) + "/ingest/orders:"
			if msg := err.Error(); !strings.Contains(msg, want) || strings.Contains(msg, "{table}") ||
				strings.Contains(msg, "querysecret") || strings.Contains(msg, "urlpass") {
				t.Errorf("error %q: want %q in it, no template and no secret", msg, want)
			}
			var se *StatusError
			if errors.As(err, &se) && se.URL != strings.TrimSuffix(strings.TrimPrefix(want, "POST "), ":") {
				t.Errorf("StatusError.URL = %q", se.URL)
			}
		})
	}
}
