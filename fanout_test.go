package bridge

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/queue"
)

// fileRecorder is a file-mode destination that reads back every load file.
type fileRecorder struct {
	t      *testing.T
	format FileFormat
	mu     sync.Mutex
	calls  []fileCall
}

type fileCall struct {
	table string
	ext   string
	rows  []map[string]any
}

func (r *fileRecorder) fn(ctx context.Context, path string, table Table) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return Terminal(err)
	}
	rows := readLoadFile(r.t, r.format, data)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fileCall{table: table.Name, ext: filepath.Ext(path), rows: rows})
	return nil
}

// bigRows returns n rows of table "big" with ids from 0, each with a value
// of size bytes.
func bigRows(n, size int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"id": i, "blob": strings.Repeat(string(rune('a'+i%26)), size)}
	}
	return out
}

// Acceptance 1: two destinations with batch sizes 10 and 23, one in file
// mode with Parquet, on the same loads: each gets every row once, in its own
// batch size and format, including a batch that travels through the Object
// Store; the object is gone once both are done.
func TestFanOutOwnBatchSizeAndFormat(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		rows := &recorder{}
		files := &fileRecorder{t: t, format: Parquet}
		a := NewDestination("rows", rows.fn, BatchSize(10), LoaderParallelismStrategy(TableSequential))
		f := NewFileDestination("files", files.fn, FileMaxItems(23), LoaderFileFormat(Parquet))
		p := e.open(a, WithDestinations(f))
		ctx := ctxT(t)
		data := append(idValueItems(1000), bigRows(30, 100_000)...) // 30 rows of 100 kB: one 3 MB batch
		info, err := p.Run(ctx, data, TableNameFunc(func(it any) string {
			if _, ok := it.(map[string]any)["blob"]; ok {
				return "big"
			}
			return "t"
		}))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"t": 1000, "big": 30}

		// The row destination: calls of exactly 10 (the last of a table may be
		// shorter), every row once, in order within a table.
		for table, n := range want {
			var ids []int64
			for i, c := range rows.snapshot() {
				if c.table.Name != table {
					continue
				}
				if len(c.items) != 10 && !(len(c.items) == n%10 && i == len(rows.snapshot())-1) {
					t.Errorf("rows: table %s call of %d items, want 10", table, len(c.items))
				}
				for _, it := range c.items {
					ids = append(ids, it["id"].(int64))
				}
			}
			if len(ids) != n || !slices.IsSorted(ids) || ids[0] != 0 || ids[n-1] != int64(n-1) {
				t.Errorf("rows: table %s got %d ids, want 0..%d in order", table, len(ids), n-1)
			}
		}

		// The file destination: Parquet load files of 23 rows; a shorter one
		// ends each published batch.
		files.mu.Lock()
		got := map[string]map[int64]int{}
		short := map[string]int{}
		for _, c := range files.calls {
			if c.ext != ".parquet" {
				t.Errorf("files: load file %s, want .parquet", c.ext)
			}
			if len(c.rows) != 23 {
				short[c.table]++
			}
			if got[c.table] == nil {
				got[c.table] = map[int64]int{}
			}
			for _, r := range c.rows {
				got[c.table][toInt64(t, r["id"])]++
			}
		}
		files.mu.Unlock()
		for table, n := range want {
			if len(got[table]) != n {
				t.Errorf("files: table %s got %d distinct ids, want %d", table, len(got[table]), n)
			}
			for id, k := range got[table] {
				if k != 1 {
					t.Errorf("files: table %s id %d delivered %d times", table, id, k)
				}
			}
			if short[table] > 1 {
				t.Errorf("files: table %s has %d load files shorter than 23 rows, want at most 1", table, short[table])
			}
		}
		if di := info.Destinations["files"]; di.Delivered["t"].Items != 1000 || di.Delivered["big"].Items != 30 {
			t.Errorf("LoadInfo for files: %+v", di.Delivered)
		}
		if n, err := p.q.ObjectCount(ctx); err != nil || n != 0 {
			t.Errorf("object store holds %d objects after both destinations are done (%v), want 0", n, err)
		}
	})
}

// Acceptance 2: a terminal error of one destination dead-letters the batch
// for it alone; the other destination is unaffected; replay goes to the
// destination that dead-lettered it, once.
func TestFanOutDeadLettersPerDestination(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		bad, good := &recorder{}, &recorder{}
		bad.setFail(func(items []Row, _ Table) error {
			for _, it := range items {
				if it["id"].(int64) == 25 {
					return Terminal(errors.New("rejected"))
				}
			}
			return nil
		})
		pb := e.open(NewDestination("bad", bad.fn, BatchSize(10)), WithDestinations(NewDestination("good", good.fn, BatchSize(10))))
		ctx := ctxT(t)
		info, err := pb.Run(ctx, idValueItems(50), TableName("t"))
		if !errors.Is(err, ErrDeadLettered) {
			t.Fatalf("Run: %v, want ErrDeadLettered", err)
		}
		if len(info.DeadLetters) != 1 || info.DeadLetters[0].Destination != "bad" {
			t.Fatalf("dead letters %+v", info.DeadLetters)
		}
		if n := len(good.byTable()["t"]); n != 50 {
			t.Fatalf("good got %d rows, want 50", n)
		}
		dead, err := pb.DeadLetters(ctx, DeadLetterFilter{Destination: "good"})
		if err != nil || len(dead) != 0 {
			t.Fatalf("good's dead letters: %v %v", dead, err)
		}
		dead, err = pb.DeadLetters(ctx, DeadLetterFilter{Destination: "bad"})
		if err != nil || len(dead) != 1 || dead[0].Rows != 10 {
			t.Fatalf("bad's dead letters: %+v %v", dead, err)
		}
		bad.setFail(nil)
		if n, err := pb.ReplayDeadLetters(ctx, DeadLetterFilter{Destination: "bad"}); err != nil || n != 1 {
			t.Fatalf("replay: %d %v", n, err)
		}
		if _, err := pb.Run(ctx, nil); err != nil {
			t.Fatal(err)
		}
		count := func(r *recorder) map[int64]int {
			m := map[int64]int{}
			for _, it := range r.byTable()["t"] {
				m[it["id"].(int64)]++
			}
			return m
		}
		gb, gg := count(bad), count(good)
		if len(gb) != 50 || len(gg) != 50 {
			t.Fatalf("distinct rows: bad %d, good %d, want 50 each", len(gb), len(gg))
		}
		for id := range int64(50) {
			if gb[id] != 1 || gg[id] != 1 {
				t.Fatalf("id %d: bad got it %d times, good %d times; want once each", id, gb[id], gg[id])
			}
		}
		// The replayed batch keeps its batch id.
		calls := bad.snapshot()
		if last := calls[len(calls)-1]; last.batchID != dead[0].MsgID {
			t.Errorf("replayed batch id %q, want %q", last.batchID, dead[0].MsgID)
		}
	})
}

// Acceptance 3: a destination removed mid-life holds nothing back: once the
// other destination is done, the stream is empty.
func TestRemoveDestination(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := ctxT(t)
		keep := &recorder{}
		keepDest := NewDestination("keep", keep.fn, BatchSize(10))
		// Both join; then only "keep" runs, so "gone" holds the load.
		p0 := e.open(keepDest, WithDestinations(NewDestination("gone", func(context.Context, []Row, Table) error { return nil })))
		p0.Close()
		p := e.open(keepDest)
		if _, err := p.Run(ctx, append(idValueItems(100), bigRows(15, 100_000)...), TableName("t")); err != nil {
			t.Fatal(err)
		}
		st, err := p.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Batches == 0 || st.Bytes < 1_000_000 {
			t.Fatalf("before removal the stream holds %d batches, %d bytes; want the load held for \"gone\"", st.Batches, st.Bytes)
		}
		members, err := p.Destinations(ctx)
		if err != nil || len(members) != 2 {
			t.Fatalf("members %+v %v", members, err)
		}
		if err := p.RemoveDestination(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		if err := p.RemoveDestination(ctx, "gone"); !errors.Is(err, ErrNoDestination) {
			t.Fatalf("removing it again: %v, want ErrNoDestination", err)
		}
		st, err = p.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Batches != 0 || st.Bytes != 0 || len(st.Destinations) != 1 {
			t.Fatalf("after removal the stream holds %d batches, %d bytes, destinations %+v; want none and one", st.Batches, st.Bytes, st.Destinations)
		}
		if n, err := p.q.ObjectCount(ctx); err != nil || n != 0 {
			t.Fatalf("object store holds %d objects (%v), want 0", n, err)
		}
		// At least once: a batch whose ack was lost may come twice.
		rows := keep.byTable()["t"]
		distinct := map[int64]bool{}
		for _, r := range rows {
			id := r["id"].(int64)
			if _, big := r["blob"]; big {
				id += 1000
			}
			distinct[id] = true
		}
		if len(distinct) != 115 || len(rows) > 115+10 {
			t.Fatalf("keep got %d rows (%d distinct), want 115 distinct and no more than a batch again", len(rows), len(distinct))
		}
	})
}

// Acceptance 6: under TableSequential, a table whose batch spends its
// retries stops there (its delivered ids are a prefix, in order) while
// another table loads fully; the next run carries on in order.
func TestTableSequentialStopsFailingTable(t *testing.T) {
	for _, size := range []int{1, 10, 23} {
		t.Run("batch size "+strconv.Itoa(size), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b)
				rec := &recorder{}
				var failing sync.Map
				failing.Store("on", true)
				rec.setFail(func(items []Row, table Table) error {
					if on, _ := failing.Load("on"); on == true && table.Name == "bad" && items[len(items)-1]["id"].(int64) >= 40 {
						return errors.New("bad is down")
					}
					return nil
				})
				dest := NewDestination("d", rec.fn, BatchSize(size), MaxRetries(2), RetryBackoff(time.Millisecond, 5*time.Millisecond),
					LoaderParallelismStrategy(TableSequential), MaxParallelLoadJobs(4))
				p := e.open(dest)
				var data []any
				for i := range 100 {
					data = append(data, map[string]any{"tbl": "bad", "id": i}, map[string]any{"tbl": "good", "id": i})
				}
				route := TableNameFunc(func(it any) string { return it.(map[string]any)["tbl"].(string) })
				_, err := p.Run(ctxT(t), data, route)
				var re *RetriesError
				if !errors.As(err, &re) || re.Table != "bad" {
					t.Fatalf("Run: %v, want a RetriesError for table bad", err)
				}
				byTable := rec.byTable()
				if ids := idsOf(byTable["good"]); !isRange(ids, 100) {
					t.Fatalf("good got ids %v during bad's failure, want 0..99 in order", ids)
				}
				if ids := idsOf(byTable["bad"]); !isRange(ids, len(ids)) || len(ids) > 40 {
					t.Fatalf("bad got ids %v, want an ordered prefix of 0..39", ids)
				}
				failing.Store("on", false)
				p.Close()
				p2 := e.open(dest)
				if _, err := p2.Run(ctxT(t), nil); err != nil {
					t.Fatalf("next Run: %v", err)
				}
				byTable = rec.byTable()
				if ids := idsOf(byTable["bad"]); !isRange(ids, 100) {
					t.Fatalf("bad got ids %v over both runs, want 0..99 in order, once each", ids)
				}
				if n := len(byTable["good"]); n != 100 {
					t.Fatalf("good got %d rows, want 100", n)
				}
			})
		})
	}
}

// A batch handed back by a stopped run that the server hands to a pull
// request nobody reads any more comes back only after the ack wait. The next
// run, which receives the batches after it first, holds them for it: the
// stopped run noted where each table stood (consumer.Order).
func TestTableSequentialHandoffKeepsOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		rec := &recorder{}
		var failing sync.Map
		failing.Store("on", true)
		rec.setFail(func(items []Row, table Table) error {
			if on, _ := failing.Load("on"); on == true && items[0]["id"].(int64) >= 20 {
				return errors.New("down")
			}
			return nil
		})
		dest := NewDestination("d", rec.fn, BatchSize(1), MaxRetries(1), RetryBackoff(time.Millisecond, time.Millisecond),
			LoaderParallelismStrategy(TableSequential))
		p := e.open(dest)
		var data []any
		for i := range 40 {
			data = append(data, map[string]any{"id": i})
		}
		if _, err := p.Run(ctxT(t), data, TableName("t")); err == nil {
			t.Fatal("first Run: no error, want table t stopped at id 20")
		}
		failing.Store("on", false)
		p.Close()
		p2 := e.open(dest)
		// Play the pull request nobody reads: take the first batch handed
		// back (id 20) and neither ack nor nak it.
		cons, err := p2.q.JetStream().Consumer(ctxT(t), p2.q.StreamName(), queue.DurableName("d"))
		if err != nil {
			t.Fatalf("consumer: %v", err)
		}
		got, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		var stolen jetstream.Msg
		for m := range got.Messages() {
			stolen = m
		}
		if stolen == nil {
			t.Fatal("no batch was handed back to take")
		}
		if seq := stolen.Headers().Get(queue.HdrSeq); seq != "21" {
			t.Fatalf("took batch seq %s, want 21 (id 20), the first handed back", seq)
		}
		if _, err := p2.Run(ctxT(t), nil); err != nil {
			t.Fatalf("second Run: %v", err)
		}
		if ids := idsOf(rec.byTable()["t"]); !isRange(ids, 40) {
			t.Fatalf("t got ids %v over both runs, want 0..39 in order, once each", ids)
		}
	})
}

func idsOf(rows []Row) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r["id"].(int64)
	}
	return out
}

// sortedIDs returns a sorted copy of ids.
func sortedIDs(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// isRange reports whether ids are 0..n-1 in order.
func isRange(ids []int64, n int) bool {
	if len(ids) != n {
		return false
	}
	for i, id := range ids {
		if id != int64(i) {
			return false
		}
	}
	return true
}

// A batch whose stored payload is damaged is tried MaxRetries times, then
// dead-lettered as unreadable; it never blocks its table for ever.
func TestCorruptPayloadDeadLettered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		rec := &recorder{}
		p := newEnv(t, b).open(NewDestination("d", rec.fn, MaxRetries(3), RetryBackoff(time.Millisecond, 5*time.Millisecond),
			LoaderParallelismStrategy(TableSequential)))
		ctx := ctxT(t)
		table := &Table{Name: "t", Columns: []Column{{Name: "id", DataType: TypeBigInt}}}
		payload, err := batcher.Encode(nil, TypedJSONL, table, []Row{{"id": int64(1)}})
		if err != nil {
			t.Fatal(err)
		}
		msg := nats.NewMsg(p.q.TableSubject("t"))
		msg.Header.Set(jetstream.MsgIDHeader, "corrupt-1")
		msg.Header.Set(queue.HdrLoadID, "1")
		msg.Header.Set(queue.HdrTable, "t")
		msg.Header.Set(queue.HdrSeq, "1")
		msg.Header.Set(queue.HdrRows, "1")
		msg.Header.Set(queue.HdrFormat, string(TypedJSONL))
		msg.Header.Set(queue.HdrChecksum, "0") // does not match
		msg.Data = payload
		if _, err := p.q.JetStream().PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
		_, err = p.Run(ctx, idValueItems(5), TableName("t"))
		if !errors.Is(err, ErrDeadLettered) {
			t.Fatalf("Run: %v, want ErrDeadLettered", err)
		}
		dead, err := p.DeadLetters(ctx, DeadLetterFilter{})
		if err != nil || len(dead) != 1 {
			t.Fatalf("dead letters %+v %v", dead, err)
		}
		if d := dead[0]; d.Reason != "unreadable" || d.Attempts != 3 || !strings.Contains(d.Error, "checksum") {
			t.Errorf("dead letter: reason %q, attempts %d, error %q; want unreadable after 3 attempts", d.Reason, d.Attempts, d.Error)
		}
		if ids := idsOf(rec.byTable()["t"]); !isRange(ids, 5) {
			t.Errorf("the table's later rows: %v, want 0..4", ids)
		}
	})
}

// With a retention period, a destination added later with Backfill loads
// what the stream kept, even what every other destination had taken.
func TestRetentionBackfill(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		first, late := &recorder{}, &recorder{}
		a := NewDestination("first", first.fn)
		p := e.open(a, WithRetention(time.Hour))
		if _, err := p.Run(ctxT(t), idValueItems(30), TableName("t")); err != nil {
			t.Fatal(err)
		}
		p.Close()
		p2 := e.open(a, WithRetention(time.Hour), WithDestinations(NewDestination("late", late.fn, Backfill())))
		if _, err := p2.Run(ctxT(t), nil); err != nil {
			t.Fatal(err)
		}
		// Parallel promises no order across batches: compare as a set.
		if ids := idsOf(late.byTable()["t"]); !isRange(sortedIDs(ids), 30) {
			t.Fatalf("late destination got %v, want the 30 kept rows once each", ids)
		}
		if n := len(first.byTable()["t"]); n != 30 {
			t.Fatalf("first destination got %d rows, want 30 (no repeats)", n)
		}
	})
}
