package natssource_test

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/internal/queuetest"
	natssource "github.com/fanoutbridge/bridge/sources/nats"
)

// childEnv makes the test binary a producer child (see child).
const childEnv = "BRIDGE_NATS_SOURCE_CHILD"

// The child's settings: the unacknowledged window of the source and the
// destination's batches in flight bound the duplicates after a kill.
const (
	childMaxAckPending = 300
	childBatch         = 50
	childParallel      = 4
)

// child runs a pipeline on the NATS at BRIDGE_TEST_NATS reading the
// JetStream stream BRIDGE_TEST_STREAM, appending each batch's ids to
// BRIDGE_TEST_OUT (synced) before acknowledging, until SIGTERM.
func child() int {
	url, stream, out := os.Getenv("BRIDGE_TEST_NATS"), os.Getenv("BRIDGE_TEST_STREAM"), os.Getenv("BRIDGE_TEST_OUT")
	var mu sync.Mutex
	fn := func(ctx context.Context, items []bridge.Row, t bridge.Table) error {
		time.Sleep(20 * time.Millisecond)
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = strconv.FormatInt(it["id"].(int64), 10)
		}
		mu.Lock()
		defer mu.Unlock()
		f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.WriteString(strings.Join(ids, " ") + "\n"); err != nil {
			return err
		}
		return f.Sync()
	}
	p, err := bridge.NewPipeline(os.Getenv("BRIDGE_TEST_PIPELINE"),
		bridge.NewDestination("d", fn, bridge.BatchSize(childBatch), bridge.MaxParallelLoadJobs(childParallel), bridge.FlushInterval(100*time.Millisecond)),
		bridge.WithNATSURL(url))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer p.Close()
	src, err := natssource.New(natssource.Config{URL: url, Stream: stream, Consumer: "bridge", Table: "t",
		AckWait: 2 * time.Second, MaxAckPending: childMaxAckPending})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if _, err := p.Run(ctx, src); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startChild(t *testing.T, env ...string) *proc {
	t.Helper()
	c := &proc{cmd: exec.Command(os.Args[0], "-test.run=^$"), done: make(chan struct{})}
	c.cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
	c.cmd.Stderr = os.Stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

func (c *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("child did not exit within 30s of %v", sig)
	}
}

// delivered reads the ids file: how often each id arrived.
func delivered(t *testing.T, path string) map[int64]int {
	t.Helper()
	got := map[int64]int{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return got
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		for _, s := range strings.Fields(sc.Text()) {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				continue // a line torn by the kill
			}
			got[id]++
		}
	}
	return got
}

// kill -9 of a producer reading a JetStream stream mid-way, then a restart:
// every message is delivered at least once, the duplicates stay within the
// unacknowledged window (the source's MaxAckPending plus the destination's
// batches in flight), and at the end the consumer has acknowledged them all.
func TestStreamKill9AtLeastOnce(t *testing.T) {
	srv := queuetest.RunJetStream(t)
	natsURL := srv.ClientURL()
	name := queuetest.UniqueName("KILL")
	js := makeStream(t, natsURL, name, name, messages)
	out := filepath.Join(t.TempDir(), "ids")
	env := []string{"BRIDGE_TEST_NATS=" + natsURL, "BRIDGE_TEST_STREAM=" + name, "BRIDGE_TEST_OUT=" + out,
		"BRIDGE_TEST_PIPELINE=" + queuetest.UniqueName("killed")}

	first := startChild(t, env...)
	waitFor(t, 60*time.Second, "1,000 messages delivered by the first producer", func() bool { return len(delivered(t, out)) >= 1000 })
	first.signal(t, syscall.SIGKILL)
	before := len(delivered(t, out))
	if before >= messages {
		t.Fatalf("all %d messages were delivered before the kill: it did not land mid-stream", before)
	}

	second := startChild(t, env...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	waitFor(t, 90*time.Second, "every message delivered and acknowledged after the restart", func() bool {
		if len(delivered(t, out)) < messages {
			return false
		}
		cons, err := js.Consumer(ctx, name, "bridge")
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && info.AckFloor.Stream == messages && info.NumAckPending == 0 && info.NumPending == 0
	})
	second.signal(t, syscall.SIGTERM)

	got := delivered(t, out)
	dups := 0
	for id := range int64(messages) {
		switch n := got[id]; {
		case n == 0:
			t.Fatalf("message %d never delivered", id)
		case n > 1:
			dups += n - 1
		}
	}
	bound := childMaxAckPending + childBatch*childParallel
	t.Logf("%d delivered before the kill; %d duplicates after the restart (bound %d)", before, dups, bound)
	if dups > bound {
		t.Errorf("%d duplicates, want at most %d (the unacknowledged window %d + batches in flight %d)", dups, bound, childMaxAckPending, childBatch*childParallel)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
