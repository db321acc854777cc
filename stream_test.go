package bridge

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// A live reader (a pipe that stays open): lines written one every 100 ms
// reach the function within 500 ms each with a flush interval of 200 ms,
// before the input ends.
func TestLiveReaderFlushesByTime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		e := newEnv(t, b)
		var mu sync.Mutex
		arrived := map[int64]time.Time{}
		fn := func(ctx context.Context, items []Row, table Table) error {
			mu.Lock()
			defer mu.Unlock()
			for _, it := range items {
				arrived[it["n"].(int64)] = time.Now()
			}
			return nil
		}
		p := e.open(NewDestination("live", fn, BatchSize(5), FlushInterval(200*time.Millisecond)))
		pr, pw := io.Pipe()
		const lines = 12
		sent := make([]time.Time, lines)
		go func() {
			for i := range lines {
				sent[i] = time.Now()
				fmt.Fprintf(pw, "{\"n\":%d}\n", i)
				time.Sleep(100 * time.Millisecond)
			}
			// Keep the pipe open until every line arrived.
			for {
				mu.Lock()
				n := len(arrived)
				mu.Unlock()
				if n == lines || ctx.Err() != nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			pw.Close()
		}()
		info, err := p.Run(ctx, pr, TableName("log"))
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if info.Delivered["log"].Items != lines {
			t.Fatalf("delivered %d, want %d", info.Delivered["log"].Items, lines)
		}
		mu.Lock()
		defer mu.Unlock()
		var worst time.Duration
		for i := range lines {
			d := arrived[int64(i)].Sub(sent[i])
			worst = max(worst, d)
			if d > 500*time.Millisecond {
				t.Errorf("line %d took %v to reach the function, want under 500ms", i, d)
			}
		}
		t.Logf("slowest line: %v", worst)
		// Status reports the produce-to-call latency of the run.
		st, err := p.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		l := st.Destinations[0].Latency
		if l.Calls == 0 || l.P50 <= 0 || l.P99 < l.P50 || l.P99 > 500*time.Millisecond {
			t.Errorf("status latency %+v: want calls counted, 0 < p50 <= p99 < 500ms", l)
		}
		t.Logf("status: produce-to-call p50 %v p99 %v over %d calls", l.P50, l.P99, l.Calls)
	})
}

// `bridge run --input -` on a pipe that stays open (tail -f app.log | bridge
// run ...): each line, written one every 100 ms, is printed by the stdout
// destination within 500 ms, with --flush-interval 200ms; and with no flag,
// a pipe gets the stream default of 1 s.
func TestCLILiveStdin(t *testing.T) {
	bin, err := bridgeBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags []string
		limit time.Duration
	}{
		{"flush 200ms", []string{"--flush-interval", "200ms"}, 500 * time.Millisecond},
		{"stream default", nil, 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			args := append([]string{"run", "--input", "-", "--table", "log", "--destination", "stdout", "--batch-size", "5",
				"--data-dir", t.TempDir(), "--pipeline", "live", "--quiet"}, tc.flags...)
			cmd := exec.CommandContext(ctx, bin, args...)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			const lines = 8
			sent := make(chan time.Time, lines)
			go func() {
				for i := range lines {
					sent <- time.Now()
					fmt.Fprintf(stdin, "{\"n\":%d}\n", i)
					time.Sleep(100 * time.Millisecond)
				}
			}()
			sc := bufio.NewScanner(stdout)
			for i := range lines {
				if !sc.Scan() {
					t.Fatalf("stdout ended after %d lines: %v\n%s", i, sc.Err(), stderr.String())
				}
				at := time.Now()
				if !strings.Contains(sc.Text(), fmt.Sprintf(`"n":%d`, i)) {
					t.Fatalf("line %d: %s", i, sc.Text())
				}
				if d := at.Sub(<-sent); d > tc.limit {
					t.Errorf("line %d printed %v after it was written, want under %v", i, d, tc.limit)
				}
			}
			stdin.Close() // the input ends: the run finishes
			if err := cmd.Wait(); err != nil {
				t.Fatalf("bridge run: %v\n%s", err, stderr.String())
			}
		})
	}
}

// A gzip-compressed JSON lines input is read as its lines.
func TestGzipInput(t *testing.T) {
	ctx := ctxT(t)
	e := newEnv(t, backends[0])
	var rec recorder
	p := e.open(NewDestination("gz", rec.fn, BatchSize(100)))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for i := range 250 {
		fmt.Fprintf(zw, "{\"id\":%d}\n", i)
	}
	zw.Close()
	info, err := p.Run(ctx, &buf, TableName("t"))
	if err != nil || info.Delivered["t"].Items != 250 {
		t.Fatalf("Run: %v, delivered %+v", err, info.Delivered)
	}
}
