package bridge

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// bridgeBinary builds cmd/bridge once per test binary, without the race
// detector, so that tests can measure what a user's process costs.
var bridgeBinary = sync.OnceValues(func() (string, error) { return goBuild("./cmd/bridge", "bridge") })

// goBuild builds the main package pkg (without the test's build flags) into
// a temporary directory and returns the binary's path.
func goBuild(pkg, name string) (string, error) {
	dir, err := os.MkdirTemp("", name+"-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// cliRun is one run of the bridge binary: its exit code, output, wall time
// and peak resident memory.
type cliRun struct {
	code   int
	stderr string
	wall   time.Duration
	rssMiB float64
}

var peakRe = regexp.MustCompile(`peak memory ([0-9.]+) MiB`)

func runBridge(t *testing.T, args ...string) cliRun {
	t.Helper()
	bin, err := bridgeBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	r := cliRun{wall: time.Since(start), stderr: stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("bridge %s: no end within 3 minutes (killed)\n%s", strings.Join(args, " "), r.stderr)
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("bridge %s: %v", strings.Join(args, " "), err)
	}
	r.code = cmd.ProcessState.ExitCode()
	// The summary's own figure (VmHWM): the rusage of a child counts the
	// memory of the test process it was forked from.
	if m := peakRe.FindStringSubmatch(r.stderr); m != nil {
		r.rssMiB, _ = strconv.ParseFloat(m[1], 64)
	}
	return r
}

// writeLines writes n lines made by line to a file in dir.
func writeLines(t *testing.T, dir, name string, n int, line func(w *bufio.Writer, i int)) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		line(w, i)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// Input whose every record brings a new key (ids used as keys) does not
// grow the schema without end: past the column limit each record is a
// clear error with its line, the rest loads, and time and memory stay
// close to a narrow file of as many rows. And a table that is wide by
// design loads, under a raised limit, with its schema saved (it does not
// fit in one NATS message).
func TestWideInput(t *testing.T) {
	const rows = 100_000
	dir := t.TempDir()
	narrow := writeLines(t, dir, "narrow.jsonl", rows, func(w *bufio.Writer, i int) {
		fmt.Fprintf(w, `{"id":%d,"a":%d,"b":"x%d","c":%d.5,"d":true,"e":"y","f":%d,"g":"z","h":%d,"j":"w"}`, i, i, i, i, i, i)
	})
	wide := writeLines(t, dir, "wide.jsonl", rows, func(w *bufio.Writer, i int) {
		fmt.Fprintf(w, `{"id":%d,"key_%d":%d}`, i, i, i)
	})

	base := runBridge(t, "run", "--data-dir", filepath.Join(dir, "d1"), "--pipeline", "narrow", "--input", narrow, "--destination", "null", "--quiet")
	if base.code != 0 {
		t.Fatalf("narrow file: exit %d\n%s", base.code, base.stderr)
	}
	r := runBridge(t, "run", "--data-dir", filepath.Join(dir, "d2"), "--pipeline", "wide", "--input", wide, "--destination", "null", "--quiet")
	t.Logf("100k rows x 10 columns: %v, %.0f MiB; 100k distinct keys: %v (%.1fx), %.0f MiB",
		base.wall.Round(time.Millisecond), base.rssMiB, r.wall.Round(time.Millisecond), float64(r.wall)/float64(base.wall), r.rssMiB)
	for _, want := range []string{
		"90001 records skipped, the rest loaded",
		`line 10000: normalize: too many columns: the key "key_9999" would make column 10001 of table "wide", over the limit of 10000 (raise the limit with --max-columns`,
	} {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Fatalf("100k distinct keys: exit %d, want 1 and %q in\n%s", r.code, want, r.stderr)
		}
	}
	if r.rssMiB == 0 {
		t.Errorf("no peak memory in the run's summary:\n%s", r.stderr)
	}
	if r.rssMiB > 500 {
		t.Errorf("100k distinct keys: peak memory %.0f MiB, want under 500", r.rssMiB)
	}
	// The floor keeps a very fast baseline from making the bound noise.
	if limit := 10 * max(base.wall, 2*time.Second); r.wall > limit {
		t.Errorf("100k distinct keys took %v, want under %v (10x the narrow file's %v)", r.wall, limit, base.wall)
	}
	p := openExisting(t, filepath.Join(dir, "d2"), "wide")
	sc, err := p.st.Schema(ctxT(t))
	if err != nil || len(sc.Tables) != 1 || len(sc.Tables[0].Columns) != 10_000 {
		t.Fatalf("stored schema: %v, %v", sc.Tables, err)
	}
	p.Close()

	// 20,000 columns: the schema is over 1 MiB.
	const cols = 20_000
	w20k := writeLines(t, dir, "w20k.jsonl", 30, func(w *bufio.Writer, i int) {
		w.WriteString(`{"id":` + fmt.Sprint(i))
		for c := 1; c < cols; c++ {
			fmt.Fprintf(w, `,"column_number_%05d":%d`, c, i+c)
		}
		w.WriteByte('}')
	})
	for run := range 2 {
		r := runBridge(t, "run", "--data-dir", filepath.Join(dir, "d3"), "--pipeline", "w", "--input", w20k,
			"--destination", "null", "--max-columns", "25000", "--batch-size", "7", "--quiet")
		if r.code != 0 {
			t.Fatalf("20,000 columns, run %d: exit %d\n%s", run+1, r.code, r.stderr)
		}
	}
	p = openExisting(t, filepath.Join(dir, "d3"), "w")
	defer p.Close()
	sc, err = p.st.Schema(ctxT(t))
	if err != nil || len(sc.Tables) != 1 || len(sc.Tables[0].Columns) != cols {
		t.Fatalf("stored schema of the 20,000-column table: %d tables, %v", len(sc.Tables), err)
	}
	st, err := p.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range st.Loads {
		if l.Status != "completed" || l.Error != "" {
			t.Errorf("load %s: %s %s", l.LoadID, l.Status, l.Error)
		}
	}
}

func openExisting(t *testing.T, dataDir, name string) *Pipeline {
	t.Helper()
	p, err := Open(name, WithDataDir(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A batch names its table's schema instead of carrying it: a 2,000-column
// table in 60 batches costs the stream its rows, not 60 copies of the
// schema; a process that never saw the schema (a destination added later,
// with a fresh cache) restores every row and column from the stored
// snapshots, through more changes than a chain of deltas holds.
func TestSchemaTravelsByRef(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		first, late := &recorder{}, &recorder{}
		a := NewDestination("first", first.fn, BatchSize(10))
		p := e.open(a, WithRetention(time.Hour))
		const n = 600
		wide := map[string]any{"id": 0}
		for c := range 2000 {
			wide[fmt.Sprintf("column_%04d", c)] = c
		}
		items := []any{wide}
		for i := 1; i < n; i++ {
			// A new column every third row: every batch changes the schema.
			items = append(items, map[string]any{"id": i, fmt.Sprintf("added_%03d", i/3): i})
		}
		if _, err := p.Run(ctxT(t), items, TableName("t")); err != nil {
			t.Fatal(err)
		}
		st, err := p.Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		// The schema alone is about 100 KB; in every batch it would be 6 MB.
		if st.Bytes > 1<<20 {
			t.Errorf("the stream holds %d bytes for %d batches, want under 1 MiB", st.Bytes, st.Batches)
		}
		p.Close()

		p2 := e.open(a, WithRetention(time.Hour), WithDestinations(NewDestination("late", late.fn, Backfill(), BatchSize(7))))
		if _, err := p2.Run(ctxT(t), nil); err != nil {
			t.Fatal(err)
		}
		calls := late.snapshot()
		seen := map[int64]bool{}
		for _, c := range calls {
			for _, row := range c.items {
				id := row["id"].(int64)
				seen[id] = true
				for k, v := range row {
					if _, ok := c.table.Column(k); !ok {
						t.Fatalf("row %d: key %q is not a column of the table it came with (%d columns)", id, k, len(c.table.Columns))
					}
					if id == 0 && k != "id" && v.(int64) != mustAtoi(t, strings.TrimPrefix(k, "column_")) {
						t.Fatalf("row 0: %s = %v", k, v)
					}
					if id > 0 && k != "id" && v.(int64) != id {
						t.Fatalf("row %d: %s = %v", id, k, v)
					}
				}
				if want := 1 + 2000*b2i(id == 0) + b2i(id > 0); len(row) != want {
					t.Fatalf("row %d has %d values, want %d", id, len(row), want)
				}
			}
		}
		if len(seen) != n {
			t.Fatalf("the late destination got %d distinct rows, want %d", len(seen), n)
		}
		widest := 0
		for _, c := range calls {
			widest = max(widest, len(c.table.Columns))
		}
		if widest != 2001+n/3 {
			t.Errorf("the widest table handed over has %d columns, want %d", widest, 2001+n/3)
		}
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
