package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fanoutbridge/bridge/internal/queuetest"
)

// lockedBuffer is a stdout that a test reads while the command writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startCLI runs the command until stop, which returns its stderr.
func startCLI(t *testing.T, args ...string) (out *lockedBuffer, stop func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &lockedBuffer{}
	errb := &lockedBuffer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Main(ctx, args, strings.NewReader(""), out, errb)
	}()
	var once sync.Once
	stop = func() string {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("bridge %s did not end within 30s of its interrupt", strings.Join(args, " "))
			}
		})
		return errb.String()
	}
	t.Cleanup(func() { stop() })
	return out, stop
}

func waitLines(t *testing.T, out *lockedBuffer, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(out.String(), "\n") < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d lines within 60s:\n%s", what, strings.Count(out.String(), "\n"), n, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bridge run --input nats://... reads a JetStream stream; --input
// http://... answers POSTs.
func TestRunNATSAndHTTPSources(t *testing.T) {
	url := queuetest.RunJetStream(t).ClientURL()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "IN", Subjects: []string{"in.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := js.Publish("in.orders", fmt.Appendf(nil, `{"id":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	out, stop := startCLI(t, "run", "--input", url+"/in.>?stream=IN&consumer=bridge", "--destination", "stdout",
		"--flush-interval", "100ms", "--data-dir", t.TempDir(), "--pipeline", "natscli")
	waitLines(t, out, 50, "nats source")
	stop()
	if !strings.Contains(out.String(), `"table":"orders"`) {
		t.Errorf("rows not in table orders (the subject's last token):\n%s", out.String())
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	out, stop = startCLI(t, "run", "--input", "http://"+addr+"/ingest", "--destination", "stdout",
		"--flush-interval", "100ms", "--data-dir", t.TempDir(), "--pipeline", "httpcli")
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Post("http://"+addr+"/ingest/clicks", "application/x-ndjson", strings.NewReader("{\"id\":1}\n{\"id\":2}\n"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("POST: %d, want 202", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge run did not listen on %s within 30s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitLines(t, out, 2, "http source")
	stop()
	if !strings.Contains(out.String(), `"table":"clicks"`) {
		t.Errorf("rows not in table clicks:\n%s", out.String())
	}
}
