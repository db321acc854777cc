package bridge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/state"
)

// recordCalls is a destination that appends one line per call, once it is
// done: table, start and end (unix nanoseconds) and the ids, synced.
func recordCalls(path string, delay time.Duration) Func {
	var mu sync.Mutex
	return func(ctx context.Context, items []Row, table Table) error {
		start := time.Now().UnixNano()
		time.Sleep(delay)
		var b strings.Builder
		fmt.Fprintf(&b, "%s %d %d", table.Name, start, time.Now().UnixNano())
		for _, it := range items {
			fmt.Fprintf(&b, " %d", it["id"].(int64))
		}
		mu.Lock()
		defer mu.Unlock()
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.WriteString(b.String() + "\n"); err != nil {
			return err
		}
		return f.Sync()
	}
}

// recordedCall is one line of recordCalls.
type recordedCall struct {
	worker     int
	table      string
	start, end int64
	ids        []int
}

func readCalls(t *testing.T, worker int, path string) []recordedCall {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []recordedCall
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 {
			continue // a line cut by kill -9
		}
		c := recordedCall{worker: worker, table: fs[0]}
		c.start, _ = strconv.ParseInt(fs[1], 10, 64)
		c.end, _ = strconv.ParseInt(fs[2], 10, 64)
		for _, s := range fs[3:] {
			id, _ := strconv.Atoi(s)
			c.ids = append(c.ids, id)
		}
		out = append(out, c)
	}
	return out
}

// TableSequential holds across processes: three worker processes serve one
// TableSequential destination; one at a time holds its lease and the others
// stand by. The active one is killed with SIGKILL mid-load: a standby takes
// over, and across the processes no two calls of a table ever overlap, each
// table's rows arrive in order, and the only rows sent twice are those of
// the batch in flight at the kill (one per table at most).
func TestTableSequentialAcrossProcesses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		prod, err := NewProducer(e.name, b.opts(t, e.dir)...)
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		const perTable, batch = 1500, 50
		tables := []string{"a", "b", "c"}
		var ws []*worker
		for i := range 3 {
			ws = append(ws, startWorker(t, e, strconv.Itoa(i), batch, 20*time.Millisecond, "BRIDGE_TEST_STRATEGY=table-sequential"))
		}
		var items []any
		for _, tb := range tables {
			for i := range perTable {
				items = append(items, map[string]any{"id": i, "t": tb})
			}
		}
		if _, err := prod.Produce(ctxT(t), items, TableNameFunc(func(it any) string { return it.(map[string]any)["t"].(string) })); err != nil {
			t.Fatal(err)
		}
		calls := func() []recordedCall {
			var all []recordedCall
			for i, w := range ws {
				all = append(all, readCalls(t, i, w.out)...)
			}
			return all
		}
		waitFor(t, 60*time.Second, "20 calls", func() bool { return len(calls()) >= 20 })
		active := -1
		for _, c := range calls() {
			if active >= 0 && c.worker != active {
				t.Fatalf("workers %d and %d both delivered before the kill: the lease did not keep one at a time", active, c.worker)
			}
			active = c.worker
		}
		if err := ws[active].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-ws[active].done
		killed := time.Now()
		total := func() int {
			seen := map[string]bool{}
			for _, c := range calls() {
				for _, id := range c.ids {
					seen[c.table+strconv.Itoa(id)] = true
				}
			}
			return len(seen)
		}
		waitFor(t, 120*time.Second, "every row delivered after the kill", func() bool { return total() == perTable*len(tables) })
		t.Logf("a standby delivered the rest %v after the kill", time.Since(killed).Round(time.Second))
		for i, w := range ws {
			if i != active {
				w.stop(t, syscall.SIGTERM, 20*time.Second)
			}
		}

		all := calls()
		slices.SortFunc(all, func(x, y recordedCall) int { return int(x.start - y.start) })
		after := map[int]bool{}
		for _, tb := range tables {
			var mine []recordedCall
			for _, c := range all {
				if c.table == tb {
					mine = append(mine, c)
				}
			}
			next, dups := 0, 0
			for i, c := range mine {
				if i > 0 && c.start < mine[i-1].end {
					t.Errorf("table %s: calls overlap: worker %d [%d, %d] and worker %d from %d", tb,
						mine[i-1].worker, mine[i-1].start, mine[i-1].end, c.worker, c.start)
				}
				switch {
				case c.ids[0] == next:
					next = c.ids[len(c.ids)-1] + 1
				case c.ids[len(c.ids)-1] < next:
					dups += len(c.ids) // a batch sent again
				default:
					t.Fatalf("table %s: call of ids %d..%d after %d: out of order", tb, c.ids[0], c.ids[len(c.ids)-1], next-1)
				}
				if c.worker != active {
					after[c.worker] = true
				}
			}
			if next != perTable {
				t.Errorf("table %s: delivered up to %d, want %d", tb, next, perTable)
			}
			if dups > batch {
				t.Errorf("table %s: %d rows sent twice, more than the one batch in flight at the kill", tb, dups)
			}
		}
		if len(after) == 0 {
			t.Error("no standby delivered after the kill")
		}
	})
}

// A worker started with another strategy beside a TableSequential one that
// serves the destination is refused, saying how to start it: taking batches
// beside it would break its order.
func TestMixedStrategyWorkerRefused(t *testing.T) {
	e := newEnv(t, backends[0])
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var rec recorder
	ts := e.open(NewDestination("d", rec.fn, LoaderParallelismStrategy(TableSequential)))
	served := make(chan error, 1)
	go func() {
		_, err := ts.Serve(ctx)
		served <- err
	}()
	par := e.open(NewDestination("d", rec.fn))
	waitFor(t, 20*time.Second, "the table-sequential worker to take the lease", func() bool {
		h, err := state.LeaseHolder(ctx, par.q, "dest.d")
		return err == nil && h != ""
	})
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	_, err := par.Serve(sctx)
	if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), "--strategy table-sequential") {
		t.Fatalf("Serve beside a table-sequential worker: %v", err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
