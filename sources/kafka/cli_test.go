package kafka_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/cli"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `bridge run --input kafka://...` reads the topic in the group, each
// message to the table its topic names, until it is stopped; a bad option
// is a usage error that names the known ones.
func TestCLIRunInputKafka(t *testing.T) {
	const n = 200
	c := newCluster(t, 2, "clicks")
	addr := c.ListenAddrs()[0]
	var values [][]byte
	for i := range n {
		values = append(values, fmt.Appendf(nil, `{"id":%d}`, i))
	}
	produce(t, newProducer(t, c.ListenAddrs()), "clicks", 2, values)

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"run", "--input", "kafka://" + addr + "/clicks?group=cli&session_timeout=1s",
			"--destination", "stdout", "--flush-interval", "50ms", "--pipeline", "kafka_cli", "--data-dir", filepath.Join(dir, "data")},
			nil, &stdout, &stderr)
	}()
	deadline := time.After(waitFor)
	for strings.Count(stdout.String(), "\n") < n {
		select {
		case code := <-done:
			t.Fatalf("bridge run exited %d before the messages arrived\nstderr: %s", code, stderr.String())
		case <-deadline:
			t.Fatalf("%d of %d lines in %s\nstderr: %s", strings.Count(stdout.String(), "\n"), n, waitFor, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	waitCommitted(t, addr, "cli", "clicks", 2)
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("bridge run did not stop within 30s of its context's end")
	}
	seen := map[int]bool{}
	for line := range strings.Lines(stdout.String()) {
		var l struct {
			Table string         `json:"table"`
			Item  map[string]any `json:"item"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.Table != "clicks" {
			t.Fatalf("line %q: want a row of table clicks (%v)", line, err)
		}
		seen[int(l.Item["id"].(float64))] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct ids printed, want %d", len(seen), n)
	}

	var out, errOut bytes.Buffer
	code := cli.Main(ctxT(t), []string{"run", "--input", "kafka://" + addr + "/clicks?grop=x", "--destination", "null",
		"--pipeline", "kafka_cli2", "--data-dir", filepath.Join(dir, "data2")}, nil, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), `unknown option "grop"`) || !strings.Contains(errOut.String(), "group") {
		t.Fatalf("a misspelt option: exit %d, stderr %q: want 2 and a message naming the known options", code, errOut.String())
	}
}
