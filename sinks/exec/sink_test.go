package exec_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fanoutbridge/bridge/consumer"
	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/sinks/exec"
)

func itemsTable() *schema.Table {
	t := schema.NewTable("items", "")
	t.Columns = []schema.Column{{Name: "id", DataType: schema.TypeBigInt}, {Name: "name", DataType: schema.TypeText, Nullable: true}}
	return t
}

func itemRows(from, n int) []schema.Row {
	rows := make([]schema.Row, n)
	for i := range rows {
		rows[i] = schema.Row{"id": int64(from + i), "name": fmt.Sprintf("item %d", from+i)}
	}
	return rows
}

func once(c *exec.Config, env *[]string) { *env = append(*env, envOnce+"=1") }

func withTimeout(d time.Duration) func(*exec.Config, *[]string) {
	return func(c *exec.Config, _ *[]string) { c.Timeout = d }
}

func TestAnswers(t *testing.T) {
	tests := []struct {
		mode     string
		wantErr  string
		terminal bool
	}{
		{mode: "ok"},
		{mode: "fail", wantErr: "exec: batch b1: destination program: try again later"},
		{mode: "terminal", wantErr: "exec: batch b1: destination program (terminal): bad data", terminal: true},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			s, dir := newSink(t, tt.mode)
			for i, id := range []string{"b1", "b2"} {
				err := s.Write(context.Background(), itemsTable(), id, itemRows(10*i, 3))
				if tt.wantErr == "" {
					if err != nil {
						t.Fatalf("Write: %v", err)
					}
					continue
				}
				var pe *exec.ProgramError
				if !errors.As(err, &pe) || pe.Batch != id || pe.Terminal != tt.terminal {
					t.Fatalf("Write = %v, want a *ProgramError for %s, terminal %v", err, id, tt.terminal)
				}
				if consumer.IsTerminal(err) != tt.terminal {
					t.Errorf("IsTerminal(%v) = %v, want %v", err, !tt.terminal, tt.terminal)
				}
				if want := strings.Replace(tt.wantErr, "b1", id, 1); err.Error() != want {
					t.Errorf("error %q, want %q", err, want)
				}
			}
			// An answer, even an error, keeps the program running.
			got := received(t, dir)
			if len(got) != 1 {
				t.Fatalf("%d programs ran, want 1", len(got))
			}
			for _, lines := range got {
				if len(lines) != 8 {
					t.Errorf("the program received %d lines, want 8", len(lines))
				}
			}
		})
	}
}

// TestTransientErrorThenRetry: a transient answer leaves the program
// running, and the retry of the same batch succeeds on it.
func TestTransientErrorThenRetry(t *testing.T) {
	s, dir := newSink(t, "fail", once)
	err := s.Write(context.Background(), itemsTable(), "b1", itemRows(0, 2))
	var pe *exec.ProgramError
	if !errors.As(err, &pe) || pe.Message != "try again later" || consumer.IsTerminal(err) {
		t.Fatalf("first attempt = %v, want a transient *ProgramError", err)
	}
	if err := s.Write(context.Background(), itemsTable(), "b1", itemRows(0, 2)); err != nil {
		t.Fatalf("retry: %v", err)
	}
	got := received(t, dir)
	if len(got) != 1 {
		t.Fatalf("%d programs ran, want 1", len(got))
	}
	for _, lines := range got {
		if len(lines) != 6 || lines[0] != lines[3] {
			t.Errorf("the program received %q, want the same batch twice", lines)
		}
	}
}

// TestProgramFailures: a program that misbehaves while it holds a batch is
// killed, the attempt fails with a transient error that says what happened,
// and the next Write starts a fresh copy that succeeds.
func TestProgramFailures(t *testing.T) {
	tests := []struct {
		mode    string
		rows    int
		timeout time.Duration
		is      error
		want    []string // in the error text
	}{
		{mode: "crash", rows: 3, is: exec.ErrExited, want: []string{"stdout ended before the answer", "exit status 3", "last stderr: crashing on purpose"}},
		{mode: "garbage", rows: 3, is: exec.ErrProtocol, want: []string{`"this is not json"`, "signal: killed"}},
		{mode: "wrong-id", rows: 3, is: exec.ErrProtocol, want: []string{`answer is for batch "b1-other", not "b1"`}},
		// The timeouts leave a race-instrumented child on a loaded machine
		// time to start (and note its pid) before it is killed.
		{mode: "slow", rows: 3, timeout: 2 * time.Second, is: exec.ErrTimeout, want: []string{"no answer within 2s", "signal: killed"}},
		// deaf never reads: the write blocks on a full pipe until the timeout.
		{mode: "deaf", rows: 2000, timeout: 2 * time.Second, is: exec.ErrTimeout, want: []string{"no answer within 2s"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			change := []func(*exec.Config, *[]string){once}
			if tt.timeout > 0 {
				change = append(change, withTimeout(tt.timeout))
			}
			s, dir := newSink(t, tt.mode, change...)
			start := time.Now()
			err := s.Write(context.Background(), itemsTable(), "b1", bigRows(tt.rows))
			if took := time.Since(start); took > tt.timeout+5*time.Second {
				t.Errorf("the failed Write took %v", took)
			}
			var pe *exec.ProcessError
			if !errors.Is(err, tt.is) || !errors.As(err, &pe) || consumer.IsTerminal(err) {
				t.Fatalf("Write = %v, want a transient *ProcessError wrapping %v", err, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			first := childPIDs(t, dir)
			if len(first) != 1 || pe.PID != first[0] {
				t.Fatalf("children %v, error names pid %d", first, pe.PID)
			}
			if processExists(first[0]) {
				t.Errorf("the failed program %d still exists", first[0])
			}

			if err := s.Write(context.Background(), itemsTable(), "b1", itemRows(0, 3)); err != nil {
				t.Fatalf("the retry failed: %v", err)
			}
			if pids := childPIDs(t, dir); len(pids) != 2 {
				t.Errorf("children %v, want a second one", pids)
			}
		})
	}
}

// bigRows returns n rows of about 4 KiB each.
func bigRows(n int) []schema.Row {
	rows := itemRows(0, n)
	pad := strings.Repeat("x", 4<<10)
	for _, r := range rows {
		r["name"] = pad
	}
	return rows
}

// TestBrokenPipe: a program that exits without reading makes the write
// fail with EPIPE: a transient error, not a crash.
func TestBrokenPipe(t *testing.T) {
	s, _ := newSink(t, "exit-now")
	for range 2 {
		err := s.Write(context.Background(), itemsTable(), "b1", bigRows(1000))
		if !errors.Is(err, exec.ErrExited) || consumer.IsTerminal(err) {
			t.Fatalf("Write = %v, want a transient ErrExited", err)
		}
		for _, w := range []string{"exit status 4", "giving up before reading"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
	}
}

func TestCancelKillsProgram(t *testing.T) {
	s, dir := newSink(t, "slow")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err := s.Write(ctx, itemsTable(), "b1", itemRows(0, 3))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write = %v, want context.Canceled", err)
	}
	var pe *exec.ProcessError
	if errors.As(err, &pe) {
		t.Errorf("cancellation reported as a program failure: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Write returned %v after its context ended", took)
	}
	for _, pid := range childPIDs(t, dir) {
		if processExists(pid) {
			t.Errorf("program %d still exists", pid)
		}
	}
	// A canceled context does not start anything.
	if err := s.Write(ctx, itemsTable(), "b2", itemRows(0, 3)); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a canceled context = %v", err)
	}
}

func TestWorkersRunConcurrently(t *testing.T) {
	s, dir := newSink(t, "ok", func(c *exec.Config, env *[]string) {
		c.Workers = 3
		*env = append(*env, envDelay+"=30ms")
	})
	const batches, rows = 30, 5
	var wg sync.WaitGroup
	errs := make([]error, batches)
	for i := range batches {
		wg.Go(func() {
			errs[i] = s.Write(context.Background(), itemsTable(), fmt.Sprintf("b%d", i), itemRows(i*rows, rows))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got := received(t, dir)
	if len(got) != 3 {
		t.Errorf("%d programs ran, want 3", len(got))
	}
	seen := map[string]int{}
	for _, lines := range got {
		for _, l := range lines {
			if strings.HasPrefix(l, `{"id":`) {
				seen[l]++
			}
		}
	}
	for i := range batches * rows {
		if l := fmt.Sprintf(`{"id":%d,"name":"item %d"}`, i, i); seen[l] != 1 {
			t.Errorf("row %d arrived %d times", i, seen[l])
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkGone(t, dir)
	checkNoGoroutines(t)
}

func TestCloseKillsProgramThatIgnoresEOF(t *testing.T) {
	s, dir := newSink(t, "hang", func(c *exec.Config, _ *[]string) { c.CloseTimeout = 300 * time.Millisecond })
	if err := s.Write(context.Background(), itemsTable(), "b1", itemRows(0, 1)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := s.Close()
	var pe *exec.ProcessError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Close = %v, want a *ProcessError saying it killed the program", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Close took %v", took)
	}
	checkGone(t, dir)
	checkNoGoroutines(t)
}

func TestCloseAbortsBatchInFlight(t *testing.T) {
	s, dir := newSink(t, "slow", func(c *exec.Config, _ *[]string) { c.CloseTimeout = 200 * time.Millisecond })
	done := make(chan error)
	go func() { done <- s.Write(context.Background(), itemsTable(), "b1", itemRows(0, 1)) }()
	waitFor(t, "the program to receive the batch", func() bool {
		for _, lines := range received(t, dir) {
			return len(lines) == 2
		}
		return false
	})
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-done; !errors.Is(err, exec.ErrClosed) {
		t.Errorf("the Write in flight returned %v, want ErrClosed", err)
	}
	if err := s.Write(context.Background(), itemsTable(), "b2", itemRows(0, 1)); !errors.Is(err, exec.ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	checkGone(t, dir)
	checkNoGoroutines(t)
}

func TestCloseWithoutWrites(t *testing.T) {
	s, _ := newSink(t, "ok")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestStderrIsLoggedLineByLine(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	s, _ := newSink(t, "stderr", func(c *exec.Config, _ *[]string) { c.Logger = zap.New(core) })
	if err := s.Write(context.Background(), itemsTable(), "b1", itemRows(0, 1)); err != nil {
		t.Fatal(err)
	}
	want := []string{"line one", "part a part b", "line three"}
	var got []string
	waitFor(t, "three stderr lines", func() bool {
		got = got[:0]
		for _, e := range logs.FilterMessage("destination program stderr").All() {
			got = append(got, e.ContextMap()["line"].(string))
			if _, ok := e.ContextMap()["pid"]; !ok {
				t.Errorf("entry %v has no pid", e.ContextMap())
			}
		}
		return len(got) >= len(want)
	})
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("logged %q, want %q", got, want)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	bin, _ := os.Executable()
	tests := []struct {
		name string
		cfg  exec.Config
	}{
		{"no argv", exec.Config{}},
		{"empty program", exec.Config{Argv: []string{""}}},
		{"negative timeout", exec.Config{Argv: []string{bin}, Timeout: -1}},
		{"negative workers", exec.Config{Argv: []string{bin}, Workers: -1}},
		{"negative close timeout", exec.Config{Argv: []string{bin}, CloseTimeout: -1}},
		{"not in PATH", exec.Config{Argv: []string{"no-such-program-bridge-test"}}},
		{"no such file", exec.Config{Argv: []string{"./no-such-program"}, Dir: t.TempDir()}},
		{"a directory", exec.Config{Argv: []string{t.TempDir()}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := exec.New(tt.cfg); !errors.Is(err, exec.ErrInvalidConfig) {
				if s != nil {
					s.Close()
				}
				t.Errorf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// waitFor polls cond until it holds, for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
