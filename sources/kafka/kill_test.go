package kafka_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sources/kafka"
)

// childEnv makes the test binary a producer child (see TestMain).
const childEnv = "KAFKA_SOURCE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "run" {
		os.Exit(childRun())
	}
	os.Exit(m.Run())
}

// childRun runs a pipeline whose input is the Kafka source, with a
// destination that appends "BATCH id id ..." per call to a file (synced),
// until SIGTERM.
func childRun() int {
	broker, topic, group := os.Getenv("KS_BROKER"), os.Getenv("KS_TOPIC"), os.Getenv("KS_GROUP")
	dir, out := os.Getenv("KS_DIR"), os.Getenv("KS_OUT")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	log, _ := zap.NewDevelopment(zap.IncreaseLevel(zap.WarnLevel))
	src, err := kafka.New(kafka.Config{Brokers: []string{broker}, Topics: []string{topic}, Group: group,
		SessionTimeout: time.Second, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	p, err := bridge.NewPipeline("killsrc", bridge.NewDestination("d", appendIDs(out), bridge.BatchSize(100),
		bridge.FlushInterval(20*time.Millisecond), bridge.MaxParallelLoadJobs(4)), bridge.WithDataDir(dir), bridge.WithLogger(log))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer p.Close()
	if _, err := p.Run(ctx, src); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "child run:", err)
		return 1
	}
	return 0
}

func appendIDs(path string) bridge.Func {
	var mu sync.Mutex
	return func(ctx context.Context, items []bridge.Row, table bridge.Table) error {
		var b strings.Builder
		b.WriteString(bridge.BatchID(ctx))
		for _, it := range items {
			b.WriteString(" ")
			b.WriteString(strconv.FormatInt(it["id"].(int64), 10))
		}
		b.WriteString("\n")
		mu.Lock()
		defer mu.Unlock()
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.WriteString(b.String()); err != nil {
			return err
		}
		return f.Sync()
	}
}

// deliveries reads the ids file: the batches each id was delivered in (one
// entry per delivery).
func deliveries(t *testing.T, path string) map[int][]string {
	t.Helper()
	out := map[int][]string{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue // a line cut by the kill
		}
		for _, s := range fields[1:] {
			id, err := strconv.Atoi(s)
			if err != nil {
				continue // cut by the kill
			}
			out[id] = append(out[id], fields[0])
		}
	}
	return out
}

type child struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when it has exited, with err
	err    error
}

func startChild(t *testing.T, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"=run"), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
	})
	return c
}

// Acceptance: 10,000 messages in 2 partitions, produced while a producer
// process reads them; kill -9 of that process mid-stream and a restart.
// Every message is delivered at least once; a message comes in two
// different batches (read twice from Kafka) only if it lay in the window
// after the group's last commit before the kill; a batch comes twice only
// if it was in flight at the kill; and the committed offsets end at the
// topic's end offsets.
func TestKill9ProducerMidStream(t *testing.T) {
	const n, partitions, topic, group = 10_000, 2, "events", "killed"
	c := newCluster(t, partitions, topic)
	// Each offset commit takes 30 ms, so that the kill often lands between
	// a store and its commit, where messages are read twice.
	c.ControlKey(int16(kmsg.OffsetCommit), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.SleepControl(func() { time.Sleep(30 * time.Millisecond) })
		return nil, nil, false
	})
	addr := c.ListenAddrs()[0]
	dir := t.TempDir()
	out := filepath.Join(dir, "ids.txt")
	env := []string{"KS_BROKER=" + addr, "KS_TOPIC=" + topic, "KS_GROUP=" + group, "KS_DIR=" + filepath.Join(dir, "data"), "KS_OUT=" + out}

	// Produce 40 messages every 10 ms (about 4,000/s) while the child reads.
	cl := newProducer(t, c.ListenAddrs())
	where := make([]*kgo.Record, n)
	produced := make(chan struct{})
	var produceErr error
	var sent atomic.Int64 // messages Kafka has acknowledged
	go func() {
		defer close(produced)
		for i := 0; i < n; i += 40 {
			var vals [][]byte
			for j := i; j < min(i+40, n); j++ {
				vals = append(vals, fmt.Appendf(nil, `{"id":%d}`, j))
			}
			recs := make([]*kgo.Record, len(vals))
			for k, v := range vals {
				recs[k] = &kgo.Record{Topic: topic, Partition: int32((i + k) % partitions), Value: v}
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			err := cl.ProduceSync(ctx, recs...).FirstErr()
			cancel()
			if err != nil {
				produceErr = err
				return
			}
			copy(where[i:], recs)
			sent.Add(int64(len(recs)))
			time.Sleep(10 * time.Millisecond)
		}
	}()

	first := startChild(t, env...)
	deadline := time.Now().Add(waitFor)
	for len(deliveries(t, out)) < 3000 {
		select {
		case <-first.exited:
			t.Fatalf("the producer child exited before the kill: %v", first.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the producer child delivered %d messages in %s", len(deliveries(t, out)), waitFor)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.exited
	// The child may have read up to the messages being produced at the kill.
	readable := min(int(sent.Load())+40, n)
	before := deliveries(t, out)
	if len(before) >= n {
		t.Fatal("the child delivered everything before the kill; the test proves nothing")
	}
	// A commit the child sent before it died may still be in the broker's
	// hands (30 ms): let it land, then read where the group stands.
	time.Sleep(300 * time.Millisecond)
	ctx := ctxT(t)
	atKill, err := committed(ctx, addr, group, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed after %d messages delivered; offsets committed then: %v", len(before), atKill)

	second := startChild(t, env...)
	select {
	case <-produced:
	case <-time.After(waitFor):
		t.Fatal("producing 10,000 messages took over", waitFor)
	}
	if produceErr != nil {
		t.Fatal(produceErr)
	}
	deadline = time.Now().Add(waitFor)
	for len(deliveries(t, out)) < n {
		select {
		case <-second.exited:
			t.Fatalf("the restarted child exited before delivering everything: %v", second.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart, %d of %d messages delivered in %s", len(deliveries(t, out)), n, waitFor)
		}
		time.Sleep(10 * time.Millisecond)
	}
	end := waitCommitted(t, addr, group, topic, partitions)
	if end[0]+end[1] != n {
		t.Fatalf("end offsets %v: want %d messages in all", end, n)
	}
	_ = second.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-second.exited:
		if second.err != nil {
			t.Fatalf("the restarted child, stopped by SIGTERM: %v", second.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the restarted child did not stop within 30s of SIGTERM")
	}

	got := deliveries(t, out)
	// The uncommitted window: messages the child could have read before the
	// kill that lay past the group's committed offsets.
	window := 0
	for id := range readable {
		if r := where[id]; r.Offset >= atKill[int(r.Partition)] {
			window++
		}
	}
	reread, redelivered := 0, 0
	for id := range n {
		batches := got[id]
		if len(batches) == 0 {
			t.Fatalf("message %d lost", id)
		}
		distinct := map[string]bool{}
		for _, b := range batches {
			distinct[b] = true
		}
		redelivered += len(batches) - len(distinct)
		if len(distinct) > 1 {
			reread += len(distinct) - 1
			r := where[id]
			if r.Offset < atKill[int(r.Partition)] {
				t.Fatalf("message %d (partition %d offset %d) read twice from Kafka though the group had committed offset %d before the kill",
					id, r.Partition, r.Offset, atKill[int(r.Partition)])
			}
		}
	}
	if reread > window {
		t.Fatalf("%d messages read twice, more than the %d that could have been read past the last commit before the kill", reread, window)
	}
	// Batches in flight at the kill (4 calls of 100 rows at once) come again
	// from the stream, whole.
	if redelivered > 4*100 {
		t.Fatalf("%d messages redelivered in the same batch: more than the calls in flight at the kill", redelivered)
	}
	t.Logf("uncommitted window at the kill: %d messages; read twice from Kafka: %d; same batch delivered twice: %d", window, reread, redelivered)
}
