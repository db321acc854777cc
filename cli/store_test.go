package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/internal/queuetest"
	"github.com/fanoutbridge/bridge/queue"
)

// childEnv makes the test binary run the command line: its value is the
// JSON list of arguments. The acceptance tests run `bridge` as real
// processes this way.
const childEnv = "BRIDGE_CLI_TEST_CHILD"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		os.Exit(childMain(args))
	}
	os.Exit(m.Run())
}

func childMain(argsJSON string) int {
	var args []string
	if err := json.Unmarshal([]byte(argsJSON), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	must(bridge.Register("slowids", slowIDs))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return Main(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

// slowIDs is the destination "slowids:FILE": it takes 20ms a batch and
// appends the batch's ids to FILE, one line per batch.
func slowIDs(path string, opts ...bridge.Option) (*bridge.Destination, error) {
	var mu sync.Mutex
	return bridge.NewDestination("slowids", func(ctx context.Context, items []bridge.Row, table bridge.Table) error {
		time.Sleep(20 * time.Millisecond)
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = fmt.Sprint(it["id"])
		}
		mu.Lock()
		defer mu.Unlock()
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		_, err = f.WriteString(strings.Join(ids, " ") + "\n")
		return errors.Join(err, f.Close())
	}, opts...), nil
}

// syncBuffer is an output a child writes while the test reads it.
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

// child is `bridge` running as a separate process.
type child struct {
	cmd            *osexec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error
}

func startChild(t *testing.T, ctx context.Context, args ...string) *child {
	t.Helper()
	b, _ := json.Marshal(args)
	c := &child{done: make(chan struct{})}
	c.cmd = osexec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	c.cmd.WaitDelay = 5 * time.Second
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

func (c *child) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// wait returns the child's exit status.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("child %v did not finish", c.cmd.Args)
	}
	if c.cmd.ProcessState == nil {
		t.Fatalf("child: %v", c.err)
	}
	return c.cmd.ProcessState.ExitCode()
}

// waitFor polls cond until it holds, or fails the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// idsFile reads a slowids output: how often each id came, and the items.
func idsFile(t *testing.T, path string) (map[int]int, int) {
	t.Helper()
	counts := map[int]int{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return counts, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	items := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for _, s := range strings.Fields(sc.Text()) {
			id, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("%s: line %q", path, sc.Text())
			}
			counts[id]++
			items++
		}
	}
	return counts, items
}

func writeIDs(t *testing.T, path string, from, n int) {
	t.Helper()
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "{\"id\":%d}\n", i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// statusRow returns the fields of the status line that starts with name.
func statusRow(out, name string) []string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

// The acceptance test: two `bridge run` processes on one embedded
// pipeline at once, and `bridge status` and `bridge dlq list` during the
// runs. The second run joins the first one's server (and takes it over when
// the first finishes); both loads are delivered, and status counts exactly
// what the destinations got.
func TestTwoRunsOnOneEmbeddedPipeline(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	const n = 2000
	inA, inB := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	writeIDs(t, inA, 0, n)
	writeIDs(t, inB, n, n)
	outA, outB := filepath.Join(dir, "a.ids"), filepath.Join(dir, "b.ids")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	common := []string{"--data-dir", data, "--pipeline", "two", "--log-level", "info"}
	run := func(in, out string) []string {
		return append([]string{"run", "--input", in, "--table", "t", "--destination", "slowids:" + out,
			"--batch-size", "10", "--max-parallel", "2", "--quiet"}, common...)
	}

	a := startChild(t, ctx, run(inA, outA)...)
	record := filepath.Join(data, queue.RecordFileName)
	waitFor(t, "the first run to deliver", func() bool {
		_, items := idsFile(t, outA)
		return items > 0 || !a.running()
	})
	if !a.running() {
		t.Fatalf("the first run ended before the second started: %s", a.stderr.String())
	}
	fi, err := os.Stat(record)
	if err != nil {
		t.Fatalf("no owner record while the first run runs: %v", err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("owner record mode %v, want 0600", m)
	}
	b, _ := os.ReadFile(record)
	var rec struct {
		PID   int
		Token string
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.PID != a.cmd.Process.Pid || rec.Token == "" {
		t.Fatalf("owner record %q: %v", b, err)
	}

	bRun := startChild(t, ctx, run(inB, outB)...)
	waitFor(t, "the second run to join", func() bool {
		return strings.Contains(bRun.stderr.String(), "joined the embedded NATS server") || !bRun.running()
	})
	if want := fmt.Sprintf(`"owner_pid":%d`, rec.PID); !strings.Contains(bRun.stderr.String(), want) {
		t.Fatalf("the second run did not join the first (%s):\n%s", want, bRun.stderr.String())
	}

	// status and dlq list while the runs go on.
	status := startChild(t, ctx, append([]string{"status"}, common...)...)
	if code := status.wait(t); code != 0 {
		t.Fatalf("status during the runs: exit %d\n%s\n%s", code, status.stdout.String(), status.stderr.String())
	}
	if !a.running() && !bRun.running() {
		t.Fatal("both runs ended before status did; the test proves nothing")
	}
	if !strings.Contains(status.stdout.String(), "pipeline two:") || statusRow(status.stdout.String(), "slowids") == nil {
		t.Errorf("status during the runs:\n%s", status.stdout.String())
	}
	dlq := startChild(t, ctx, append([]string{"dlq", "list"}, common...)...)
	if code := dlq.wait(t); code != 0 || !strings.Contains(dlq.stdout.String(), "0 dead letters") {
		t.Fatalf("dlq list during the runs: exit %d\n%s\n%s", code, dlq.stdout.String(), dlq.stderr.String())
	}

	for name, c := range map[string]*child{"first": a, "second": bRun} {
		if code := c.wait(t); code != 0 {
			t.Fatalf("%s run: exit %d\n%s", name, code, c.stderr.String())
		}
	}

	// Both loads delivered, every item at least once.
	countsA, itemsA := idsFile(t, outA)
	countsB, itemsB := idsFile(t, outB)
	for id := range 2 * n {
		if countsA[id]+countsB[id] == 0 {
			t.Fatalf("item %d never delivered", id)
		}
	}
	// At least once: a batch whose ack was in flight when the first process
	// stopped its server comes again; no more than the calls in flight then.
	dups := itemsA + itemsB - 2*n
	t.Logf("first process delivered %d items, second %d; %d duplicates", itemsA, itemsB, dups)
	if dups > 2*2*10 {
		t.Errorf("%d duplicate deliveries: more than the calls in flight at the handover\n%s", dups, bRun.stderr.String())
	}

	// No corruption: status counts what was delivered, and both loads are done.
	final := startChild(t, ctx, append([]string{"status"}, common...)...)
	if code := final.wait(t); code != 0 {
		t.Fatalf("status after the runs: exit %d\n%s", code, final.stderr.String())
	}
	out := final.stdout.String()
	row := statusRow(out, "slowids")
	if len(row) != 9 {
		t.Fatalf("no slowids row in status:\n%s", out)
	}
	// Delivered counts every successful call, the repeats after the
	// handover too: what the destination received.
	got := itemsA + itemsB
	if row[1] != "0" || row[2] != "0" || row[4] != strconv.Itoa(got) || row[5] != strconv.Itoa(got/10) {
		t.Fatalf("status says pending %s, in flight %s, delivered %s items in %s batches; want 0, 0, %d in %d:\n%s",
			row[1], row[2], row[4], row[5], got, got/10, out)
	}
	if c := strings.Count(out, " completed "); c != 2 || strings.Contains(out, " running ") {
		t.Fatalf("status: %d completed loads, want 2 and none running:\n%s", c, out)
	}

	// The token is in no output.
	for _, c := range []*child{a, bRun, status, dlq, final} {
		if strings.Contains(c.stdout.String()+c.stderr.String(), rec.Token) {
			t.Fatalf("the token is in the output of %v", c.cmd.Args)
		}
	}
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("owner record left after every process ended: %v", err)
	}
}

// status, dlq list and drop on a pipeline that does not exist: exit status
// 2, a message naming the pipelines that do, and nothing created, neither
// locally nor on the machine's NATS server.
func TestReadOnlyCommandsOnUnknownPipeline(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	pipelines := filepath.Join(home, ".bridge", "pipelines")
	if code, _, errOut := runCLI(t, "{\"id\":1}\n", "run", "--input", "-", "--pipeline", "events", "--quiet"); code != 0 {
		t.Fatalf("run: %d %s", code, errOut)
	}
	commands := [][]string{{"status"}, {"dlq", "list"}, {"dlq", "purge"}, {"drop", "--yes"}}

	t.Run("default dir", func(t *testing.T) {
		for _, cmd := range commands {
			code, out, errOut := runCLI(t, "", append(cmd, "--pipeline", "evnts")...)
			want := `bridge: no pipeline "evnts" in ` + pipelines + ` (pipelines here: events); see --pipeline` + "\n"
			if code != 2 || errOut != want || out != "" {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", cmd, code, out, errOut, want)
			}
		}
		ents, err := os.ReadDir(pipelines)
		if err != nil || len(ents) != 1 || ents[0].Name() != "events" {
			t.Fatalf("pipelines dir after the commands: %v %v", ents, err)
		}
	})

	t.Run("data dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nowhere", "evnts")
		for _, cmd := range commands {
			code, _, errOut := runCLI(t, "", append(cmd, "--pipeline", "evnts", "--data-dir", dir)...)
			if code != 2 || !strings.Contains(errOut, `no pipeline "evnts"`) || !strings.Contains(errOut, "(no pipelines here)") {
				t.Errorf("%v: exit %d, %q", cmd, code, errOut)
			}
		}
		if _, err := os.Stat(filepath.Dir(dir)); !os.IsNotExist(err) {
			t.Fatalf("a command created %s: %v", filepath.Dir(dir), err)
		}
	})

	t.Run("external", func(t *testing.T) {
		url := queuetest.External(t)
		name := queuetest.UniqueName("evnts")
		for _, cmd := range commands {
			code, _, errOut := runCLI(t, "", append(cmd, "--pipeline", name, "--nats-url", url)...)
			if code != 2 || !strings.Contains(errOut, `no pipeline "`+name+`" on `) || !strings.Contains(errOut, "see --pipeline") {
				t.Errorf("%v: exit %d, %q", cmd, code, errOut)
			}
		}
		if _, err := os.Stat(filepath.Join(pipelines, name)); !os.IsNotExist(err) {
			t.Fatalf("a command created a local dir: %v", err)
		}
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, s := range []string{"BRIDGE_" + name, "BRIDGE_" + name + "_DLQ", "KV_BRIDGE_" + name + "_STATE"} {
			if _, err := js.Stream(ctx, s); !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("stream %s exists after the commands: %v", s, err)
			}
		}
	})
}
