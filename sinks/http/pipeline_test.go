package httpsink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/internal/queuetest"
	httpsink "github.com/fanoutbridge/bridge/sinks/http"
	"github.com/fanoutbridge/bridge/sinktest"
)

// hook is a webhook receiver: it keeps the rows of each table in arrival
// order, honours Idempotency-Key (a key it has stored is answered 200 and
// not stored again), and logs every request. gate, when set, may answer
// instead (a status, a Retry-After, a body).
type hook struct {
	srv  *httptest.Server
	mu   sync.Mutex
	rows map[string][]sinktest.Got // by table
	keys map[string]bool
	log  []hit
	gate func(r *http.Request, rows []map[string]any) (status int, retryAfter, body string)
}

// hit is one request the hook saw.
type hit struct {
	at     time.Time
	key    string
	status int
}

func newHook(t *testing.T, gate func(r *http.Request, rows []map[string]any) (int, string, string)) *hook {
	t.Helper()
	h := &hook{rows: map[string][]sinktest.Got{}, keys: map[string]bool{}, gate: gate}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var rows []map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&rows); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "not a JSON array: "+err.Error())
		return
	}
	key, table := r.Header.Get("Idempotency-Key"), r.Header.Get("Bridge-Table")
	status, retryAfter, answer := http.StatusOK, "", ""
	if h.gate != nil {
		status, retryAfter, answer = h.gate(r, rows)
	}
	h.mu.Lock()
	h.log = append(h.log, hit{at: time.Now(), key: key, status: status})
	if status == http.StatusOK && !h.keys[key] {
		h.keys[key] = true
		for _, row := range rows {
			id, _ := row["id"].(json.Number).Int64()
			h.rows[table] = append(h.rows[table], sinktest.Got{ID: id, BatchID: r.Header.Get("Bridge-Batch-Id")})
		}
	}
	h.mu.Unlock()
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

func (h *hook) table(name string) []sinktest.Got {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sinktest.Got(nil), h.rows[name]...)
}

func (h *hook) hits() []hit {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hit(nil), h.log...)
}

// ids counts how often each id of table arrived.
func (h *hook) ids(table string) map[int64]int {
	n := map[int64]int{}
	for _, g := range h.table(table) {
		n[g.ID]++
	}
	return n
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func items(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"id": i + 1, "name": "row"}
	}
	return out
}

// The sink passes the conformance suite against a receiver that honours
// Idempotency-Key (so a batch written twice is there once).
func TestConformance(t *testing.T) {
	sinktest.Run(t, sinktest.Harness{
		ExactlyOnce: true,
		New: func(t *testing.T) sinktest.Target {
			h := newHook(t, nil)
			s, err := httpsink.New(httpsink.Config{URL: h.srv.URL + "/t/{table}", BearerToken: "conformance-token"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return sinktest.Target{Sink: s, Read: func(_ context.Context, table string) ([]sinktest.Got, error) {
				return h.table(table), nil
			}}
		},
	})
}

// Acceptance: a server that answers 429 with Retry-After: 1 for 3 s, then
// 200: nothing is dead-lettered, every row arrives, and each batch is tried
// again 1 s after each 429, as the header says (with and without the shared
// rate limit, which halves at each 429 but stays high enough here not to
// delay the retries).
func TestRetryAfterFollowed(t *testing.T) {
	for _, rate := range []float64{0, 100} {
		t.Run(map[bool]string{true: "unlimited", false: "rate limited"}[rate == 0], func(t *testing.T) {
			var mu sync.Mutex
			var first time.Time
			h := newHook(t, func(*http.Request, []map[string]any) (int, string, string) {
				mu.Lock()
				defer mu.Unlock()
				if first.IsZero() {
					first = time.Now()
				}
				if time.Since(first) < 3*time.Second {
					return http.StatusTooManyRequests, "1", "slow down"
				}
				return http.StatusOK, "", ""
			})
			dest := httpsink.Destination("hook", bridge.WithConfig(httpsink.Config{URL: h.srv.URL, Rate: rate, MinRate: 40}),
				bridge.BatchSize(50), bridge.MaxParallelLoadJobs(4), bridge.MaxRetries(2))
			p, err := bridge.NewPipeline(queuetest.UniqueName("ra"), dest, bridge.WithDataDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			info, err := p.Run(ctxT(t), items(200), bridge.TableName("t"))
			if err != nil {
				t.Fatal(err)
			}
			if len(info.DeadLetters) != 0 {
				t.Fatalf("dead letters: %+v", info.DeadLetters)
			}
			if ids := h.ids("t"); len(ids) != 200 {
				t.Fatalf("%d distinct rows arrived, want 200", len(ids))
			}
			byKey := map[string][]hit{}
			for _, x := range h.hits() {
				byKey[x.key] = append(byKey[x.key], x)
			}
			if len(byKey) != 4 {
				t.Fatalf("%d batches, want 4", len(byKey))
			}
			for key, hs := range byKey {
				if len(hs) < 3 || hs[len(hs)-1].status != http.StatusOK {
					t.Fatalf("batch %s: %d requests ending in %d: want 429s for 3 s, then 200", key, len(hs), hs[len(hs)-1].status)
				}
				for i := 1; i < len(hs); i++ {
					gap := hs[i].at.Sub(hs[i-1].at)
					if gap < 950*time.Millisecond || gap > 1700*time.Millisecond {
						t.Errorf("batch %s: request %d came %v after a 429 with Retry-After: 1", key, i+1, gap)
					}
				}
			}
		})
	}
}

// Acceptance: a 400 dead-letters its batch at once, with the status and the
// response body in the error; the other batches arrive.
func TestBadRequestDeadLetters(t *testing.T) {
	const why = `{"error":"row 7: amount must be positive"}`
	h := newHook(t, func(_ *http.Request, rows []map[string]any) (int, string, string) {
		for _, r := range rows {
			if r["id"].(json.Number).String() == "7" {
				return http.StatusBadRequest, "", why
			}
		}
		return http.StatusOK, "", ""
	})
	dest := httpsink.Destination("hook", bridge.WithConfig(httpsink.Config{URL: h.srv.URL, BearerToken: "sekrit-token-1"}), bridge.BatchSize(10))
	p, err := bridge.NewPipeline(queuetest.UniqueName("dl"), dest, bridge.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	info, err := p.Run(ctxT(t), items(100), bridge.TableName("t"))
	if !errors.Is(err, bridge.ErrDeadLettered) {
		t.Fatalf("Run: %v, want an error wrapping ErrDeadLettered", err)
	}
	if ids := h.ids("t"); len(ids) != 90 || ids[7] != 0 || ids[11] != 1 {
		t.Errorf("%d rows arrived, want the 90 outside the bad batch", len(ids))
	}
	if len(info.DeadLetters) != 1 || info.DeadLetters[0].Items != 10 {
		t.Fatalf("dead letters %+v, want one batch of 10", info.DeadLetters)
	}
	dls, err := p.DeadLetters(ctxT(t), bridge.DeadLetterFilter{})
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead-letter stream: %d (%v), want 1", len(dls), err)
	}
	for _, msg := range []string{info.DeadLetters[0].Err.Error(), dls[0].Error} {
		if !strings.Contains(msg, "400 Bad Request") || !strings.Contains(msg, why) || strings.Contains(msg, "sekrit") {
			t.Errorf("dead letter error %q: want the status and the body, and no token", msg)
		}
	}
	if n := len(h.hits()); n != 10 {
		t.Errorf("%d requests, want 10 (the 400 is not retried)", n)
	}
}

// tokenBucket allows rate requests per second with a burst of burst.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func (b *tokenBucket) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if b.last.IsZero() {
		b.tokens = b.burst
	} else {
		b.tokens = min(b.burst, b.tokens+b.rate*now.Sub(b.last).Seconds())
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Acceptance: four worker processes' pipelines on one NATS server serve one
// destination whose server allows 50 requests/s (429 with Retry-After: 1
// above that). Starting at 100/s, their shared limit halves on the 429s and
// the request rate the server sees settles under 55/s; every row arrives,
// nothing is dead-lettered.
func TestFourWorkersShareRate(t *testing.T) {
	const (
		workers   = 4
		rows      = 4000
		batchSize = 10
		allowed   = 50.0
	)
	bucket := &tokenBucket{rate: allowed, burst: 5}
	h := newHook(t, func(*http.Request, []map[string]any) (int, string, string) {
		if bucket.allow() {
			return http.StatusOK, "", ""
		}
		return http.StatusTooManyRequests, "1", "over 50 requests/s"
	})
	cfg := httpsink.Config{URL: h.srv.URL + "/in/{table}", Rate: 100, MinRate: 5, RateIncrease: 5}
	start, done := serveWorkers(t, h, workers, cfg, batchSize, rows)
	// The rate the server saw, per second, and over the second half.
	hits := h.hits()
	run := done.Sub(start)
	half := start.Add(run / 2)
	var late, late429, all429 int
	perSecond := make([]int, int(run.Seconds())+1)
	for _, x := range hits {
		if x.status == http.StatusTooManyRequests {
			all429++
		}
		if i := int(x.at.Sub(start).Seconds()); i >= 0 && i < len(perSecond) {
			perSecond[i]++
		}
		if x.at.After(half) && !x.at.After(done) {
			late++
			if x.status == http.StatusTooManyRequests {
				late429++
			}
		}
	}
	rate := float64(late) / done.Sub(half).Seconds()
	t.Logf("%d rows in %d requests (%d answered 429) over %v; requests per second: %v; second half: %.1f/s (%d answered 429)",
		rows, len(hits), all429, run.Round(time.Millisecond), perSecond, rate, late429)
	if rate >= 55 {
		t.Errorf("the server saw %.1f requests/s over the second half of the run, want under 55", rate)
	}
	if overall := float64(rows/batchSize) / run.Seconds(); overall < 15 {
		t.Errorf("%.1f batches/s delivered: the limit keeps too far under the 50/s allowed", overall)
	}
}

// serveWorkers runs workers pipelines (as many worker processes have) on
// one in-process NATS server, each serving destination "hook" with cfg,
// produces rows rows, serves until the hook holds them all, and checks that
// each arrived once and nothing was dead-lettered. It returns when serving
// started and when the last row arrived.
func serveWorkers(t *testing.T, h *hook, workers int, cfg httpsink.Config, batchSize, rows int) (start, done time.Time) {
	t.Helper()
	url := queuetest.RunJetStream(t).ClientURL()
	name := queuetest.UniqueName("fw")
	var ps []*bridge.Pipeline
	for range workers {
		dest := httpsink.Destination("hook", bridge.WithConfig(cfg), bridge.BatchSize(batchSize), bridge.MaxParallelLoadJobs(4))
		p, err := bridge.NewPipeline(name, dest, bridge.WithNATSURL(url), bridge.WithDataDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		ps = append(ps, p)
	}
	prod, err := bridge.NewProducer(name, bridge.WithNATSURL(url), bridge.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if _, err := prod.Produce(ctxT(t), items(rows), bridge.TableName("t")); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	start = time.Now()
	var wg sync.WaitGroup
	infos := make([]*bridge.ServeInfo, workers)
	errs := make([]error, workers)
	for i, p := range ps {
		wg.Go(func() { infos[i], errs[i] = p.Serve(ctx) })
	}
	deadline := time.After(2 * time.Minute)
	for len(h.ids("t")) < rows {
		select {
		case <-deadline:
			cancel()
			wg.Wait()
			t.Fatalf("%d of %d rows arrived within 2 minutes (serve errors %v)", len(h.ids("t")), rows, errs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	done = time.Now()
	cancel()
	wg.Wait()
	for i := range workers {
		if errs[i] != nil {
			t.Errorf("worker %d: %v", i, errs[i])
		}
		if infos[i] != nil && len(infos[i].DeadLetters) > 0 {
			t.Errorf("worker %d dead-lettered %+v", i, infos[i].DeadLetters)
		}
	}
	ids := h.ids("t")
	for id := int64(1); id <= int64(rows); id++ {
		if ids[id] != 1 {
			t.Fatalf("row %d arrived %d times, want once", id, ids[id])
		}
	}
	return start, done
}

// Four workers with a rate of 20/s share it through the pipeline's state
// bucket: together they send 20 requests/s, not 80.
func TestWorkersShareOneBudget(t *testing.T) {
	const (
		rows      = 500
		batchSize = 5
		rate      = 20.0
	)
	h := newHook(t, nil)
	start, done := serveWorkers(t, h, 4, httpsink.Config{URL: h.srv.URL, Rate: rate}, batchSize, rows)
	n := len(h.hits())
	got := float64(n) / done.Sub(start).Seconds()
	t.Logf("4 workers at a shared 20/s: %d requests in %v (%.1f/s)", n, done.Sub(start).Round(time.Millisecond), got)
	if n < rows/batchSize {
		t.Fatalf("%d requests for %d batches", n, rows/batchSize)
	}
	if got > rate*1.1+1 {
		t.Errorf("the workers sent %.1f requests/s together, over the shared %v/s", got, rate)
	}
}

// configs/http.toml, as .bridge/config.toml, resolves to a valid config,
// and the summary shows no secret.
func TestExampleConfig(t *testing.T) {
	example, err := os.ReadFile("../../configs/http.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secrets := "[destination.http]\nhttp_bearer_token = \"example-token-9\"\nhttp_headers = [\"X-Api-Key: example-key-9\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), example, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets.toml"), []byte(secrets), 0o600); err != nil {
		t.Fatal(err)
	}
	d := httpsink.Destination("http", bridge.ConfigDir(dir))
	if d.Sink() == nil {
		p, err := bridge.NewPipeline("x", d, bridge.WithDataDir(t.TempDir()))
		if err == nil {
			p.Close()
		}
		t.Fatalf("configs/http.toml does not make a sink: %v", err)
	}
	var summary []string
	for _, v := range d.ConfigSummary() {
		summary = append(summary, v.String())
	}
	text := strings.Join(summary, "\n")
	for _, want := range []string{"http_url=https://api.example.com/ingest/{table}", "http_rate=20", "http_bearer_token=***", "http_headers=***"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "example-token-9") || strings.Contains(text, "example-key-9") {
		t.Errorf("summary shows a secret:\n%s", text)
	}
}
