package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fanoutbridge/bridge/internal/queuetest"
	"github.com/fanoutbridge/bridge/queue"
)

// logBuffer collects a debug-level logger's output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(b), zapcore.DebugLevel))
}

// openEmbedded opens dir's embedded server (creating the directory) and
// connects to it; both are closed when the test ends.
func openEmbedded(t *testing.T, dir string, create bool, log *zap.Logger) (*queue.Embedded, *nats.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := queue.OpenEmbedded(ctx, queue.EmbeddedConfig{Dir: dir, Create: create, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	u, opts := e.ConnectOptions()
	nc, err := nats.Connect(u, append(opts, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return e, nc
}

func readRecord(t *testing.T, dir string) (rec struct {
	PID   int    `json:"pid"`
	URL   string `json:"url"`
	Token string `json:"token"`
}) {
	t.Helper()
	path := filepath.Join(dir, queue.RecordFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("record %s has mode %v, want 0600", path, m)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func publishOne(t *testing.T, q *queue.Queue, seq int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub := q.NewPublisher(1)
	b := queue.Batch{BatchHeader: queue.BatchHeader{LoadID: "1", Table: "t", Seq: seq, Rows: 1, Format: "typed-jsonl"}, Payload: []byte("x")}
	if err := pub.Publish(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func batches(t *testing.T, q *queue.Queue) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := q.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st.Batches
}

// A second opener of a data directory joins the first one's server: it sees
// what the first stored, and no second server starts. The server listens on
// loopback only, not on 4222, and wants the token, which is in a 0600 record
// and in no log line.
func TestEmbeddedSecondOpenerJoins(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var logs logBuffer
	e1, nc1 := openEmbedded(t, dir, true, logs.logger().Named("first"))
	if !e1.Owner() || e1.Server() == nil {
		t.Fatal("the first opener does not run the server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q1, err := queue.Open(ctx, nc1, queue.Config{Pipeline: "p"})
	if err != nil {
		t.Fatal(err)
	}
	// The stream keeps batches only while a destination has interest.
	if _, err := q1.Consumer(ctx, queue.ConsumerConfig{Destination: "d", Backfill: true}); err != nil {
		t.Fatal(err)
	}
	publishOne(t, q1, 1)

	e2, nc2 := openEmbedded(t, dir, false, logs.logger().Named("second"))
	if e2.Owner() || e2.Server() != nil {
		t.Fatal("the second opener started a server of its own")
	}
	if e2.OwnerPID() != os.Getpid() {
		t.Errorf("owner pid %d, want %d", e2.OwnerPID(), os.Getpid())
	}
	q2, err := queue.Lookup(ctx, nc2, queue.Config{Pipeline: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if n := batches(t, q2); n != 1 {
		t.Fatalf("the joined process sees %d batches, want the first one's 1", n)
	}
	publishOne(t, q2, 2)
	if n := batches(t, q1); n != 2 {
		t.Fatalf("the owner sees %d batches, want 2", n)
	}

	rec := readRecord(t, dir)
	u, err := url.Parse(rec.URL)
	if err != nil {
		t.Fatal(err)
	}
	if rec.PID != os.Getpid() || len(rec.Token) < 32 || u.Hostname() != "127.0.0.1" || u.Port() == "4222" {
		t.Errorf("record: pid %d, url %s, token of %d characters", rec.PID, rec.URL, len(rec.Token))
	}
	if nc, err := nats.Connect(rec.URL, nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Error("connected to the embedded server without its token")
	}
	if nc, err := nats.Connect(rec.URL, nats.Token(rec.Token), nats.Timeout(2*time.Second)); err != nil {
		t.Errorf("connect with the record's token: %v", err)
	} else {
		nc.Close()
	}

	nc2.Close()
	e2.Shutdown()
	nc1.Close()
	e1.Shutdown()
	if _, err := os.Stat(filepath.Join(dir, queue.RecordFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record left after shutdown: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "running the embedded NATS server") || !strings.Contains(out, "joined the embedded NATS server") {
		t.Errorf("the logs do not say who runs the server:\n%s", out)
	}
	if strings.Contains(out, rec.Token) {
		t.Fatalf("the token is in the logs:\n%s", out)
	}
}

// When the owner goes away, a process that joined it takes the store over:
// its connection comes back, to a server it now runs, with the data.
func TestEmbeddedJoinedTakesOver(t *testing.T) {
	dir := t.TempDir()
	e1, nc1 := openEmbedded(t, dir, true, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q1, err := queue.Open(ctx, nc1, queue.Config{Pipeline: "p"})
	if err != nil {
		t.Fatal(err)
	}
	// The stream keeps batches only while a destination has interest.
	if _, err := q1.Consumer(ctx, queue.ConsumerConfig{Destination: "d", Backfill: true}); err != nil {
		t.Fatal(err)
	}
	publishOne(t, q1, 1)
	first := readRecord(t, dir)

	e2, nc2 := openEmbedded(t, dir, false, nil)
	q2, err := queue.Lookup(ctx, nc2, queue.Config{Pipeline: "p"})
	if err != nil {
		t.Fatal(err)
	}
	nc1.Close()
	e1.Shutdown()

	deadline := time.Now().Add(20 * time.Second)
	for !e2.Owner() || !nc2.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatalf("no takeover: owner %v, connected %v", e2.Owner(), nc2.IsConnected())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := batches(t, q2); n != 1 {
		t.Fatalf("after the takeover %d batches, want 1", n)
	}
	publishOne(t, q2, 2)
	if n := batches(t, q2); n != 2 {
		t.Fatalf("%d batches, want 2", n)
	}
	if rec := readRecord(t, dir); rec.URL == first.URL || rec.Token == first.Token {
		t.Errorf("the new owner kept the old url or token")
	}
}

// A lock held by a process that does not answer (starting or dying): the
// opener waits a bounded time, then names it.
func TestEmbeddedBusyOwner(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, queue.StoreDirName), 0o755); err != nil {
		t.Fatal(err)
	}
	release := queue.HoldLockForTest(t, dir)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := queue.OpenEmbedded(ctx, queue.EmbeddedConfig{Dir: dir, JoinTimeout: 300 * time.Millisecond})
	if !errors.Is(err, queue.ErrStoreBusy) {
		t.Fatalf("got %v, want ErrStoreBusy", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("waited %v for a join timeout of 300ms", waited)
	}
	if pid := os.Getpid(); !strings.Contains(err.Error(), "process "+strconv.Itoa(pid)) {
		t.Errorf("the error does not name process %d: %v", pid, err)
	}
	if _, err := os.Stat(filepath.Join(dir, queue.RecordFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a record was written: %v", err)
	}
	// Once the holder lets go, the next opener runs the server.
	release()
	e, _ := openEmbedded(t, dir, false, nil)
	if !e.Owner() {
		t.Fatal("the lock was free, yet the opener did not run the server")
	}
}

// Without Create, a directory without a store is not found, and nothing is
// created: neither the directory nor a lock in it.
func TestOpenEmbeddedWithoutCreateCreatesNothing(t *testing.T) {
	root := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	missing := filepath.Join(root, "missing")
	if _, err := queue.OpenEmbedded(ctx, queue.EmbeddedConfig{Dir: missing}); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("missing dir: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the missing dir was created: %v", err)
	}
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := queue.OpenEmbedded(ctx, queue.EmbeddedConfig{Dir: empty}); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("dir without a store: %v, want ErrNotFound", err)
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Fatalf("files created in a dir without a store: %v", ents)
	}
}

// Lookup of a pipeline that does not exist fails and creates no stream;
// Pipelines names the ones that do, not their side streams.
func TestLookupCreatesNothing(t *testing.T) {
	for name, nc := range connections(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			have := queuetest.UniqueName("have")
			q, err := queue.Open(ctx, nc, queue.Config{Pipeline: have})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = q.Drop(context.Background()) })
			missing := queuetest.UniqueName("missing")
			if _, err := queue.Lookup(ctx, nc, queue.Config{Pipeline: missing}); !errors.Is(err, queue.ErrNotFound) {
				t.Fatalf("Lookup of a missing pipeline: %v, want ErrNotFound", err)
			}
			js, _ := jetstream.New(nc)
			if _, err := js.Stream(ctx, "BRIDGE_"+missing); !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Fatalf("Lookup created stream BRIDGE_%s: %v", missing, err)
			}
			if _, err := queue.Lookup(ctx, nc, queue.Config{Pipeline: have}); err != nil {
				t.Fatalf("Lookup of an existing pipeline: %v", err)
			}
			names, err := queue.Pipelines(ctx, nc)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, n := range names {
				found = found || n == have
				if n == have+"_DLQ" || n == missing {
					t.Errorf("Pipelines lists %q", n)
				}
			}
			if !found {
				t.Errorf("Pipelines does not list %q", have)
			}
		})
	}
}

var _ nats.CustomDialer = (*queue.Embedded)(nil)

// The owner goes away between a process's joining and its first connect:
// the connect still succeeds, to the server the process then runs itself.
func TestEmbeddedOwnerGoneBeforeConnect(t *testing.T) {
	dir := t.TempDir()
	e1, nc1 := openEmbedded(t, dir, true, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e2, err := queue.OpenEmbedded(ctx, queue.EmbeddedConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Shutdown()
	if e2.Owner() {
		t.Fatal("the second opener runs the server")
	}
	u, opts := e2.ConnectOptions()
	nc1.Close()
	e1.Shutdown()
	nc2, err := nats.Connect(u, opts...)
	if err != nil {
		t.Fatalf("connect after the owner went away: %v", err)
	}
	defer nc2.Close()
	if !e2.Owner() {
		t.Fatal("connected without running the server")
	}
	if _, err := queue.Open(ctx, nc2, queue.Config{Pipeline: "p"}); err != nil {
		t.Fatal(err)
	}
}
