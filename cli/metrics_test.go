package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sink"
)

// metricsSink fails the first attempt of every batch of table events,
// dead-letters the batch holding id 13, and holds the call of table gate
// until gateOpen is closed: the run is still serving metrics while the
// test scrapes them.
type metricsSink struct{ cfg metricsConfig }

type metricsConfig struct {
	Token string `bridge:"token,secret"`
}

var (
	metricsOnce sync.Once
	gateMu      sync.Mutex
	gateOpen    chan struct{}
)

func (s *metricsSink) Write(ctx context.Context, b sink.Batch) error {
	if b.Table.Name == "gate" {
		gateMu.Lock()
		g := gateOpen
		gateMu.Unlock()
		select {
		case <-g:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, r := range b.Rows {
		if r["id"] == int64(13) && b.Attempt > 1 {
			return sink.Terminal(errors.New("row 13 is refused"))
		}
	}
	if b.Attempt == 1 {
		return errors.New("first attempts fail")
	}
	return nil
}

func registerMetricsSink() {
	registerBuiltins()
	metricsOnce.Do(func() {
		must(bridge.Register("metricstest", func(arg string, opts ...bridge.Option) (*bridge.Destination, error) {
			return bridge.NewConfiguredSink("metricstest", func(c metricsConfig) (sink.Sink, error) {
				return &metricsSink{cfg: c}, nil
			}, opts...), nil
		}))
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// sample is one line of the text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func scrape(url string) ([]sample, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	var out []sample
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		s := sample{labels: map[string]string{}, value: v}
		head := line[:sp]
		name, rest, ok := strings.Cut(head, "{")
		s.name = name
		if ok {
			for _, kv := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
				k, v, _ := strings.Cut(kv, "=")
				s.labels[k] = strings.Trim(v, `"`)
			}
		}
		out = append(out, s)
	}
	return out, string(body), nil
}

// value sums the samples of name whose labels include want.
func value(samples []sample, name string, want map[string]string) (float64, bool) {
	sum, found := 0.0, false
	for _, s := range samples {
		if s.name != name {
			continue
		}
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
			}
		}
		if match {
			sum += s.value
			found = true
		}
	}
	return sum, found
}

// --metrics-addr serves the named series; after a load their values are
// what the load did, and no secret appears in the endpoint's output.
func TestMetricsEndpoint(t *testing.T) {
	registerMetricsSink()
	const secret = "m3tr1cs-s3cr3t-99"
	t.Setenv("DESTINATION__METRICSTEST__TOKEN", secret)
	gateMu.Lock()
	gateOpen = make(chan struct{})
	open := gateOpen
	gateMu.Unlock()
	var once sync.Once
	release := func() { once.Do(func() { close(open) }) }
	defer release()

	var in strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, "{\"type\":\"events\",\"id\":%d}\n", i)
	}
	in.WriteString("{\"type\":\"gate\",\"id\":-1}\n")
	addr := freeAddr(t)
	dir := t.TempDir()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runCLI(t, in.String(), "run", "--input", "-", "--table-field", "type", "--pipeline", "m",
			"--destination", "metricstest", "--batch-size", "10", "--data-dir", dir, "--metrics-addr", addr, "--quiet")
		done <- result{code, out, errOut}
	}()

	url := "http://" + addr + "/metrics"
	d := map[string]string{"pipeline": "m", "destination": "metricstest", "table": "events"}
	var samples []sample
	var body string
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		samples, body, err = scrape(url)
		if err == nil {
			dl, _ := value(samples, "bridge_dead_letters_total", d)
			items, _ := value(samples, "bridge_items_delivered_total", d)
			if items == 90 && dl == 1 {
				// A scrape reads one series after another while calls
				// end: read them all again, now that every event is in.
				if samples, body, err = scrape(url); err == nil {
					break
				}
			}
		}
		select {
		case r := <-done:
			t.Fatalf("the run ended before the test scraped its metrics: exit %d\n%s", r.code, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("60s: the metrics never showed 90 items delivered and 1 dead letter (scrape error %v):\n%s", err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ev := map[string]string{"pipeline": "m", "table": "events"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"bridge_items_produced_total", ev, 100},
		{"bridge_batches_produced_total", ev, 10},
		{"bridge_items_produced_total", map[string]string{"pipeline": "m", "table": "gate"}, 1},
		{"bridge_items_delivered_total", d, 90},
		{"bridge_batches_delivered_total", d, 9},
		{"bridge_retries_total", d, 10},      // each batch's first attempt fails
		{"bridge_calls_failed_total", d, 11}, // ten first attempts and the terminal one
		{"bridge_dead_letters_total", map[string]string{"pipeline": "m", "destination": "metricstest", "table": "events", "reason": "terminal"}, 1},
		{"bridge_batch_rows_count", d, 9},
		{"bridge_batch_rows_sum", d, 90},
		{"bridge_call_duration_seconds_count", d, 20},
		{"bridge_produce_to_call_seconds_count", d, 10},
		// The gate batch is held: one batch not yet delivered.
		{"bridge_pending_batches", map[string]string{"pipeline": "m", "destination": "metricstest"}, 1},
		{"bridge_table_pending_batches", map[string]string{"pipeline": "m", "table": "gate"}, 1},
	} {
		got, ok := value(samples, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// A table with nothing stored has no series.
	if n, _ := value(samples, "bridge_table_pending_batches", ev); n != 0 {
		t.Errorf("bridge_table_pending_batches%v = %v, want 0", ev, n)
	}
	if sum, _ := value(samples, "bridge_produce_to_call_seconds_sum", d); sum <= 0 || sum > 60*10 {
		t.Errorf("bridge_produce_to_call_seconds_sum = %v", sum)
	}
	if strings.Contains(body, secret) {
		t.Fatalf("the secret appears in the metrics")
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
	release()
	select {
	case r := <-done:
		if r.code != 1 || !strings.Contains(r.stderr, "dead-letter") {
			t.Fatalf("run: exit %d (want 1: a batch was dead-lettered)\n%s", r.code, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Fatalf("the secret appears in the output")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the run did not end 60s after the gate opened")
	}
	// The endpoint is gone with the command.
	if _, _, err := scrape(url); err == nil {
		t.Errorf("the metrics endpoint still answers after the run ended")
	}
}

func TestMetricsAddrInvalid(t *testing.T) {
	code, _, errOut := runCLI(t, "", "run", "--input", "-", "--metrics-addr", "9090", "--data-dir", t.TempDir())
	if code != 2 || !strings.Contains(errOut, "--metrics-addr") {
		t.Fatalf("exit %d, %s", code, errOut)
	}
}

// slowSink takes 30 ms per call.
type slowSink struct{}

func (slowSink) Write(ctx context.Context, b sink.Batch) error {
	select {
	case <-time.After(30 * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var slowOnce sync.Once

// Without a terminal, progress is a plain line every --progress-interval,
// with the percentage and ETA when the input is a file.
func TestProgressLines(t *testing.T) {
	registerBuiltins()
	slowOnce.Do(func() {
		must(bridge.Register("slowtest", func(arg string, opts ...bridge.Option) (*bridge.Destination, error) {
			return bridge.NewSinkDestination("slowtest", slowSink{}, opts...), nil
		}))
	})
	var in strings.Builder
	for i := range 200 {
		fmt.Fprintf(&in, "{\"id\":%d}\n", i)
	}
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "", "run", "--input", path, "--destination", "slowtest", "--batch-size", "10", "--max-parallel", "1",
		"--progress-interval", "100ms", "--data-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := 0
	for line := range strings.Lines(errOut) {
		if strings.Contains(line, "delivered") && strings.Contains(line, "%, ETA") {
			lines++
		}
	}
	// 20 calls of 30 ms: at least 600 ms, so several lines 100 ms apart.
	if lines < 3 {
		t.Fatalf("%d progress lines with a percentage and ETA; want 3 or more:\n%s", lines, errOut)
	}
	if code, _, errOut := runCLI(t, "", "run", "--input", "-", "--progress-interval", "0s", "--data-dir", t.TempDir()); code != 2 || !strings.Contains(errOut, "--progress-interval") {
		t.Fatalf("--progress-interval 0s: exit %d, %s", code, errOut)
	}
}

// On a terminal the progress is a bar with the percentage and ETA,
// redrawn in place.
func TestProgressBar(t *testing.T) {
	var buf strings.Builder
	c := &console{w: &buf, tty: true, interval: 10 * time.Second}
	r := c.countInput(strings.NewReader(strings.Repeat("x", 1000)), 1000).(io.Reader)
	io.CopyN(io.Discard, r, 500)
	c.progress(bridge.Progress{Read: 50, Produced: 50, Delivered: 25, Batches: 3, Elapsed: 10 * time.Second})
	got := buf.String()
	// Half the input read, half of it delivered: 25%, 30 s to go.
	for _, want := range []string{"\r10s [======>", "25%", "ETA 30s: read 50", "delivered 25 items", "2 items/s"} {
		if !strings.Contains(got, want) {
			t.Errorf("bar %q lacks %q", got, want)
		}
	}
	buf.Reset()
	c2 := &console{w: &buf, tty: true, interval: 10 * time.Second}
	c2.serveProgress(bridge.Progress{Delivered: 10, Batches: 1, Elapsed: time.Second})
	if got := buf.String(); strings.Contains(got, "%") || !strings.Contains(got, "delivered 10 items") {
		t.Errorf("serve progress without a known size: %q", got)
	}
}

// Every log line about a batch names the pipeline, the destination, the
// table and the batch; those about a call name the attempt.
func TestBatchLogFields(t *testing.T) {
	registerMetricsSink()
	t.Setenv("DESTINATION__METRICSTEST__TOKEN", "l0g-s3cr3t-1")
	var in strings.Builder
	for i := range 30 {
		fmt.Fprintf(&in, "{\"id\":%d}\n", i)
	}
	code, _, errOut := runCLI(t, in.String(), "run", "--input", "-", "--table", "events", "--pipeline", "logs", "--destination", "metricstest",
		"--batch-size", "10", "--data-dir", t.TempDir(), "--log-format", "json", "--log-level", "info", "--quiet")
	if code != 1 {
		t.Fatalf("exit %d (want 1: a batch was dead-lettered): %s", code, errOut)
	}
	if strings.Contains(errOut, "l0g-s3cr3t-1") {
		t.Fatal("the secret appears in the logs")
	}
	batchLines, attemptLines := 0, 0
	for line := range strings.Lines(errOut) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue // the summary
		}
		if _, ok := m["batch"]; !ok {
			continue
		}
		batchLines++
		for _, k := range []string{"pipeline", "destination", "table"} {
			if m[k] == nil || m[k] == "" {
				t.Errorf("log line about a batch without %s: %s", k, line)
			}
		}
		if msg, _ := m["msg"].(string); strings.Contains(msg, "retrying") || strings.Contains(msg, "terminal") {
			attemptLines++
			if _, ok := m["attempt"]; !ok {
				t.Errorf("log line about a call without attempt: %s", line)
			}
		}
	}
	// 3 batches fail once each (3 retry lines); batch 2 (ids 10-19) is
	// then dead-lettered (1 terminal line).
	if attemptLines != 4 || batchLines < 4 {
		t.Fatalf("%d lines about batches, %d about calls; want 4 about calls:\n%s", batchLines, attemptLines, errOut)
	}
}
