package httpsource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/internal/queuetest"
	httpsource "github.com/fanoutbridge/bridge/sources/http"
	"go.uber.org/zap/zaptest"
)

// recorder is a destination that counts each id it receives, per table.
type recorder struct {
	mu  sync.Mutex
	ids map[string]map[int64]int
}

func (r *recorder) fn(ctx context.Context, items []bridge.Row, t bridge.Table) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = map[string]map[int64]int{}
	}
	m := r.ids[t.Name]
	if m == nil {
		m = map[int64]int{}
		r.ids[t.Name] = m
	}
	for _, it := range items {
		m[it["id"].(int64)]++
	}
	return nil
}

func (r *recorder) count(table string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids[table])
}

func (r *recorder) got(table string) map[int64]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int64]int{}
	for k, v := range r.ids[table] {
		out[k] = v
	}
	return out
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serve runs p with a new HTTP source of cfg (listening on a free loopback
// port) until the test ends, and returns the ingest URL. stop cancels the
// run and returns its error.
func serve(t *testing.T, p *bridge.Pipeline, cfg httpsource.Config) (base string, stop func() error) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	src, err := httpsource.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx, src)
		done <- err
	}()
	select {
	case <-src.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Run ended before the source listened: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("the source did not listen within 30s")
	}
	var once sync.Once
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = fmt.Errorf("Run did not return within 30s of its context ending")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	path := cfg.Path
	if path == "" {
		path = "/ingest"
	}
	return "http://" + src.Addr() + path, stop
}

func newPipeline(t *testing.T, rec *recorder, opts ...bridge.PipelineOption) *bridge.Pipeline {
	t.Helper()
	if len(opts) == 0 {
		opts = []bridge.PipelineOption{bridge.WithDataDir(t.TempDir())}
	}
	p, err := bridge.NewPipeline(queuetest.UniqueName("httpsrc"),
		bridge.NewDestination("d", rec.fn, bridge.BatchSize(100), bridge.FlushInterval(50*time.Millisecond)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

type answer struct {
	Accepted int    `json:"accepted"`
	Stored   *int   `json:"stored"`
	Error    string `json:"error"`
	BadLines []struct {
		Line  int    `json:"line"`
		Error string `json:"error"`
	} `json:"bad_lines"`
}

func post(t *testing.T, client *http.Client, url string, body io.Reader, header ...string) (int, answer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Error(err)
		return 0, answer{}
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Error(err)
		return 0, answer{}
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Errorf("POST %s: %d with a body that is not JSON: %v", url, resp.StatusCode, err)
	}
	return resp.StatusCode, a
}

func lines(from, n int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"name":"n%d"}`+"\n", i, i)
	}
	return b.String()
}

// 100 clients post 100 lines each at once: each is answered 202, and every
// line reaches the destination once.
func TestConcurrentClientsDeliveredOnce(t *testing.T) {
	rec := &recorder{}
	base, stop := serve(t, newPipeline(t, rec), httpsource.Config{})
	const clients, each = 100, 100
	var wg sync.WaitGroup
	client := &http.Client{Timeout: time.Minute}
	for c := range clients {
		wg.Go(func() {
			code, a := post(t, client, base+"/orders", strings.NewReader(lines(c*each, each)))
			if code != http.StatusAccepted || a.Accepted != each {
				t.Errorf("client %d: %d %+v, want 202 accepting %d", c, code, a, each)
			}
		})
	}
	wg.Wait()
	// 202 came after store: the rows are in the stream; wait for the
	// destination's calls.
	waitFor(t, 60*time.Second, "every line delivered", func() bool { return rec.count("orders") == clients*each })
	if err := stop(); err != nil && !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("Run: %v", err)
	}
	for id, n := range rec.got("orders") {
		if id < 0 || id >= clients*each || n != 1 {
			t.Fatalf("id %d delivered %d times; want 0..%d once each", id, n, clients*each-1)
		}
	}
}

// A JSON array is a body too, and a POST to the prefix itself goes to the
// source's table.
func TestArrayAndDefaultTable(t *testing.T) {
	rec := &recorder{}
	base, _ := serve(t, newPipeline(t, rec), httpsource.Config{Table: "events"})
	client := &http.Client{Timeout: time.Minute}
	if code, a := post(t, client, base, strings.NewReader(`[{"id":1},{"id":2},{"id":3}]`)); code != http.StatusAccepted || a.Accepted != 3 {
		t.Fatalf("array: %d %+v, want 202 accepting 3", code, a)
	}
	if code, a := post(t, client, base+"/", strings.NewReader(`[{"id":1},`)); code != http.StatusBadRequest || !strings.Contains(a.Error, "not a valid JSON array") {
		t.Fatalf("broken array: %d %+v, want 400", code, a)
	}
	waitFor(t, 30*time.Second, "3 rows", func() bool { return rec.count("events") == 3 })
}

// A body over the limit gets 413, whether its length is declared or not; a
// body with bad lines gets 400 naming them, and its good lines are stored.
func TestLimitsAndBadLines(t *testing.T) {
	rec := &recorder{}
	base, _ := serve(t, newPipeline(t, rec), httpsource.Config{})
	client := &http.Client{Timeout: time.Minute}

	big := bytes.Repeat([]byte(`{"id":1,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`+"\n"), 20<<20/100)
	if code, a := post(t, client, base+"/big", bytes.NewReader(big)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("20 MB body: %d %+v, want 413", code, a)
	}
	// Chunked: no length declared.
	if code, a := post(t, client, base+"/big", io.MultiReader(bytes.NewReader(big))); code != http.StatusRequestEntityTooLarge {
		t.Errorf("20 MB chunked body: %d %+v, want 413", code, a)
	}

	var body strings.Builder
	for i := 1; i <= 10; i++ {
		switch i {
		case 3:
			body.WriteString(`{"id":3,"name":` + "\n")
		case 7:
			body.WriteString(`not json` + "\n")
		default:
			fmt.Fprintf(&body, `{"id":%d}`+"\n", i)
		}
	}
	code, a := post(t, client, base+"/mixed", strings.NewReader(body.String()))
	if code != http.StatusBadRequest || len(a.BadLines) != 2 || a.BadLines[0].Line != 3 || a.BadLines[1].Line != 7 ||
		a.Stored == nil || *a.Stored != 8 || !strings.Contains(a.Error, "2 bad lines (3, 7)") {
		t.Fatalf("2 bad lines: %d %+v, want 400 naming lines 3 and 7, 8 stored", code, a)
	}
	waitFor(t, 30*time.Second, "the 8 good lines", func() bool { return rec.count("mixed") == 8 })
	got := rec.got("mixed")
	for _, id := range []int64{1, 2, 4, 5, 6, 8, 9, 10} {
		if got[id] != 1 {
			t.Errorf("good line %d delivered %d times, want once", id, got[id])
		}
	}
	if rec.count("big") != 0 {
		t.Errorf("%d rows of the 413 bodies delivered, want none", rec.count("big"))
	}
}

// With a token, a request without it or with another gets 401.
func TestBearerToken(t *testing.T) {
	rec := &recorder{}
	const token = "s3cret-token"
	base, _ := serve(t, newPipeline(t, rec), httpsource.Config{Token: token})
	client := &http.Client{Timeout: time.Minute}
	for _, tc := range []struct {
		header []string
		want   int
	}{
		{nil, http.StatusUnauthorized},
		{[]string{"Authorization", "Bearer wrong"}, http.StatusUnauthorized},
		{[]string{"Authorization", "Basic " + token}, http.StatusUnauthorized},
		{[]string{"Authorization", "Bearer " + token}, http.StatusAccepted},
	} {
		code, a := post(t, client, base+"/t", strings.NewReader(`{"id":1}`), tc.header...)
		if code != tc.want {
			t.Errorf("%v: %d %+v, want %d", tc.header, code, a, tc.want)
		}
		if strings.Contains(a.Error, token) {
			t.Errorf("the answer shows the token: %q", a.Error)
		}
	}
	waitFor(t, 30*time.Second, "the authorized row", func() bool { return rec.count("t") == 1 })
}

// While the pipeline's NATS is down nothing can be stored: requests get 503
// within the source's timeout, never 202.
func TestNATSOutageAnswers503(t *testing.T) {
	srv := queuetest.RunJetStream(t)
	rec := &recorder{}
	p := newPipeline(t, rec, bridge.WithNATSURL(srv.ClientURL()), bridge.WithLogger(zaptest.NewLogger(t)))
	base, stop := serve(t, p, httpsource.Config{Timeout: 2 * time.Second})
	client := &http.Client{Timeout: time.Minute}
	if code, a := post(t, client, base+"/t", strings.NewReader(lines(0, 10))); code != http.StatusAccepted {
		t.Fatalf("before the outage: %d %+v, want 202", code, a)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	var wg sync.WaitGroup
	for c := range 10 {
		wg.Go(func() {
			start := time.Now()
			code, a := post(t, client, base+"/t", strings.NewReader(lines(100+c*10, 10)))
			if code != http.StatusServiceUnavailable {
				t.Errorf("during the outage: %d %+v, want 503", code, a)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("answered after %v, want within the 2s timeout", d)
			}
		})
	}
	wg.Wait()
	_ = stop()
	// The answer comes after the source closed too: 503, no hang.
	resp, err := client.Post(base+"/t", "application/x-ndjson", strings.NewReader(lines(500, 1)))
	if err == nil {
		resp.Body.Close()
		t.Errorf("after Close: %d, want the listener closed", resp.StatusCode)
	}
}

func TestParseURL(t *testing.T) {
	env := map[string]string{"TOK": "abc"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		url, want, err string
	}{
		{url: "http://:8080/ingest", want: ":8080 /ingest 10485760 30s tok=false"},
		{url: "http://127.0.0.1:9000", want: "127.0.0.1:9000 /ingest 10485760 30s tok=false"},
		{url: "http://:8080/in?max_body=1MiB&timeout=5s&token_env=TOK&table=x", want: ":8080 /in 1048576 5s tok=true"},
		{url: "http://:8080/in?token_env=NOPE", err: "NOPE: the variable is empty"},
		{url: "http://:8080/in?max_body=-1", err: "positive number of bytes"},
		{url: "http://:8080/in?bogus=1", err: `unknown option "bogus"`},
		{url: "http:///in", err: "no listen address"},
		{url: "http://u:p@:8080/in", err: "token_env"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			var src *httpsource.Source
			c, err := httpsource.ParseURL(u, getenv)
			if err == nil {
				src, err = httpsource.New(c)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_ = src
			c, _ = httpsource.ParseURL(u, getenv)
			cfg := c
			if cfg.Path == "" {
				cfg.Path = "/ingest"
			}
			if cfg.MaxBody == 0 {
				cfg.MaxBody = httpsource.DefaultMaxBody
			}
			if cfg.Timeout == 0 {
				cfg.Timeout = httpsource.DefaultTimeout
			}
			got := fmt.Sprintf("%s %s %d %v tok=%v", cfg.Addr, cfg.Path, cfg.MaxBody, cfg.Timeout, cfg.Token != "")
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// Past MaxPending bytes waiting for store, a request is shed at once: 503.
func TestMaxPendingSheds(t *testing.T) {
	rec := &recorder{}
	base, _ := serve(t, newPipeline(t, rec), httpsource.Config{MaxPending: 10})
	client := &http.Client{Timeout: time.Minute}
	if code, a := post(t, client, base+"/t", strings.NewReader(lines(0, 3))); code != http.StatusServiceUnavailable || !strings.Contains(a.Error, "too many requests") {
		t.Fatalf("%d %+v, want 503", code, a)
	}
}

// After an outage the source takes requests again: 202 means stored (every
// such line is delivered), and a 503 that says nothing was stored means it:
// none of its lines is delivered.
func TestNATSOutageThenRecovery(t *testing.T) {
	dir := t.TempDir()
	srv := queuetest.RunJetStreamAt(t, dir, -1)
	port := srv.Addr().(*net.TCPAddr).Port
	rec := &recorder{}
	p := newPipeline(t, rec, bridge.WithNATSURL(srv.ClientURL()))
	base, _ := serve(t, p, httpsource.Config{Timeout: time.Second})
	client := &http.Client{Timeout: time.Minute}
	var mu sync.Mutex
	accepted, notStored := map[int]bool{}, map[int]bool{}
	postBatch := func(c int) {
		code, a := post(t, client, base+"/t", strings.NewReader(lines(c*10, 10)))
		mu.Lock()
		defer mu.Unlock()
		switch {
		case code == http.StatusAccepted:
			accepted[c] = true
		case code == http.StatusServiceUnavailable && strings.Contains(a.Error, "nothing was stored"):
			notStored[c] = true
		case code == http.StatusServiceUnavailable:
		default:
			t.Errorf("request %d: %d %+v", c, code, a)
		}
	}
	postBatch(0)
	srv.Shutdown()
	srv.WaitForShutdown()
	// Two waves: the first is read and cannot be stored; the second finds
	// the producer stuck storing the first, and is not read at all.
	for _, wave := range [][]int{{1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}} {
		var wg sync.WaitGroup
		for _, c := range wave {
			wg.Go(func() { postBatch(c) })
		}
		wg.Wait()
	}
	queuetest.RunJetStreamAt(t, dir, port)
	restarted := time.Now()
	// Requests after the outage are stored again.
	waitFor(t, 60*time.Second, "a 202 after the restart", func() bool {
		postBatch(11)
		mu.Lock()
		defer mu.Unlock()
		return accepted[11]
	})
	t.Logf("stored again %v after the restart", time.Since(restarted).Round(time.Millisecond))
	for c := 12; c < 20; c++ {
		postBatch(c)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notStored) == 0 {
		t.Errorf("no request during the outage was answered 503 nothing stored: accepted %v", accepted)
	}
	waitFor(t, 60*time.Second, "every accepted line delivered", func() bool {
		got := rec.got("t")
		for c := range accepted {
			for id := c * 10; id < c*10+10; id++ {
				if got[int64(id)] == 0 {
					return false
				}
			}
		}
		return true
	})
	t.Logf("delivered %v after the restart", time.Since(restarted).Round(time.Millisecond))
	time.Sleep(time.Second) // anything stored is delivered by now
	got := rec.got("t")
	for c := range notStored {
		for id := c * 10; id < c*10+10; id++ {
			if got[int64(id)] != 0 {
				t.Errorf("line %d of request %d delivered, but its 503 said nothing was stored", id, c)
			}
		}
	}
}
