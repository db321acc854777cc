package bridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/fanoutbridge/bridge/queue"
)

var formats = []FileFormat{TypedJSONL, Parquet}

// Acceptance 1: the seed example.
func TestSeedExample(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		rec := &recorder{}
		p := newEnv(t, b).open(NewDestination("my_destination", rec.fn, BatchSize(10)))
		info, err := p.Run(ctxT(t), []any{1, 2, 3}, TableName("items"))
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		calls := rec.snapshot()
		if len(calls) != 1 {
			t.Fatalf("calls = %d, want 1", len(calls))
		}
		want := []Row{{"value": int64(1)}, {"value": int64(2)}, {"value": int64(3)}}
		if calls[0].table.Name != "items" || !reflect.DeepEqual(calls[0].items, want) {
			t.Fatalf("got table %q items %v, want items %v", calls[0].table.Name, calls[0].items, want)
		}
		if calls[0].batchID == "" {
			t.Error("BatchID(ctx) is empty in the call")
		}
		if info.Items() != 3 || info.Batches() != 1 {
			t.Errorf("info items=%d batches=%d, want 3 and 1", info.Items(), info.Batches())
		}
	})
}

func idValueItems(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"id": i, "value": strconv.Itoa(i)}
	}
	return out
}

// Acceptance 2: exact batch sizes, exactly once, in order within the table.
func TestBatchSizes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, f := range formats {
			for _, tc := range []struct {
				size  int
				sizes []int
			}{
				{1, slices.Repeat([]int{1}, 100)},
				{10, slices.Repeat([]int{10}, 10)},
				{23, []int{23, 23, 23, 23, 8}},
			} {
				t.Run(fmt.Sprintf("%s/size%d", f, tc.size), func(t *testing.T) {
					rec := &recorder{}
					p := newEnv(t, b).open(NewDestination("d", rec.fn, BatchSize(tc.size), LoaderFileFormat(f)))
					p.cache = newRowCache(0) // every batch through its stored payload in this format
					if _, err := p.Run(ctxT(t), idValueItems(100), TableName("t")); err != nil {
						t.Fatalf("Run: %v", err)
					}
					calls := rec.snapshot()
					// Batches hold contiguous runs in order: sorted by batch
					// sequence they give 0..99.
					slices.SortFunc(calls, func(a, b call) int { return batchSeq(t, a.batchID) - batchSeq(t, b.batchID) })
					var sizes []int
					var ids []int64
					for _, c := range calls {
						sizes = append(sizes, len(c.items))
						for _, it := range c.items {
							ids = append(ids, it["id"].(int64))
						}
					}
					if !slices.Equal(sizes, tc.sizes) {
						t.Errorf("call sizes %v, want %v", sizes, tc.sizes)
					}
					for i, id := range ids {
						if id != int64(i) {
							t.Fatalf("item %d has id %d: not exactly once in order (%v)", i, id, ids)
						}
					}
					if len(ids) != 100 {
						t.Fatalf("got %d items, want 100", len(ids))
					}
					if first := calls[0].items[0]; !reflect.DeepEqual(first, Row{"id": int64(0), "value": "0"}) {
						t.Errorf("first item %#v", first)
					}
				})
			}
		}
		t.Run("table-sequential keeps call order", func(t *testing.T) {
			rec := &recorder{}
			p := newEnv(t, b).open(NewDestination("d", rec.fn, BatchSize(7), LoaderParallelismStrategy(TableSequential)))
			if _, err := p.Run(ctxT(t), idValueItems(100), TableName("t")); err != nil {
				t.Fatalf("Run: %v", err)
			}
			for i, it := range rec.byTable()["t"] {
				if it["id"] != int64(i) {
					t.Fatalf("item %d has id %v", i, it["id"])
				}
			}
		})
	})
}

func batchSeq(t *testing.T, id string) int {
	t.Helper()
	n, err := strconv.Atoi(id[strings.LastIndexByte(id, '.')+1:])
	if err != nil {
		t.Fatalf("batch id %q: %v", id, err)
	}
	return n
}

// Acceptance 3: every data type arrives with its Go type and exact value.
func TestEveryDataType(t *testing.T) {
	ts := time.Date(2026, 11, 25, 8, 30, 1, 123456789, time.UTC)
	in := map[string]any{
		"text":      "héllo \"world\"\n",
		"bigint":    int64(-9007199254740993),
		"double":    0.1,
		"bool":      true,
		"timestamp": ts,
		"ts_string": "2026-11-25T09:30:01.5+01:00",
		"date":      Date{Year: 2026, Month: 2, Day: 28},
		"time":      TimeOfDay{Hour: 23, Minute: 59, Second: 58, Nanosecond: 1000},
		"decimal":   mustDecimal(t, "123456789012345678901234567890.000000001"),
		"binary":    []byte{0, 1, 2, 255},
		"json":      map[string]any{"a": []any{int64(1), "x", true}},
	}
	want := Row{
		"text": in["text"], "bigint": in["bigint"], "double": 0.1, "bool": true, "timestamp": ts,
		"ts_string": time.Date(2026, 11, 25, 8, 30, 1, 5e8, time.UTC),
		"date":      in["date"], "time": in["time"], "decimal": in["decimal"], "binary": in["binary"], "json": in["json"],
	}
	wantTypes := map[string]DataType{
		"text": TypeText, "bigint": TypeBigInt, "double": TypeDouble, "bool": TypeBool, "timestamp": TypeTimestamp,
		"ts_string": TypeTimestamp, "date": TypeDate, "time": TypeTime, "decimal": TypeDecimal, "binary": TypeBinary, "json": TypeJSON,
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, f := range formats {
			for _, decoded := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/decoded=%v", f, decoded), func(t *testing.T) {
					rec := &recorder{}
					p := newEnv(t, b).open(NewDestination("d", rec.fn, LoaderFileFormat(f)))
					if decoded {
						p.cache = newRowCache(0) // through the stored payload, as another process reads it
					}
					if _, err := p.Run(ctxT(t), []any{in}, TableName("types")); err != nil {
						t.Fatalf("Run: %v", err)
					}
					calls := rec.snapshot()
					if len(calls) != 1 || len(calls[0].items) != 1 {
						t.Fatalf("calls %v", calls)
					}
					got := calls[0].items[0]
					for k, w := range want {
						if g := got[k]; !reflect.DeepEqual(g, w) {
							t.Errorf("%s: got %T %#v, want %T %#v", k, g, g, w, w)
						}
					}
					if len(got) != len(want) {
						t.Errorf("got columns %v", got)
					}
					for k, dt := range wantTypes {
						c, ok := calls[0].table.Column(k)
						if !ok || c.DataType != dt {
							t.Errorf("column %s: %+v, want type %s", k, c, dt)
						}
					}
				})
			}
		}
	})
}

func mustDecimal(t *testing.T, s string) Decimal {
	t.Helper()
	d, err := ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// twoTables returns 100 rows for each of tables a and b, interleaved, and a
// TableNameFunc routing them.
func twoTables() ([]any, RunOption) {
	var items []any
	for i := range 100 {
		for _, tb := range []string{"a", "b"} {
			items = append(items, map[string]any{"table": tb, "id": i})
		}
	}
	return items, TableNameFunc(func(it any) string { return it.(map[string]any)["table"].(string) })
}

// Acceptance 4: a batch that spends its retries stays pending; the next Run
// (a new pipeline object on the same data) delivers the rest, exactly once.
func TestResumeAfterRetriesSpent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, size := range []int{1, 10, 23} {
			t.Run(fmt.Sprintf("size%d", size), func(t *testing.T) {
				e := newEnv(t, b)
				rec := &recorder{}
				rec.setFail(func(items []Row, table Table) error {
					for _, it := range items {
						if table.Name == "a" && it["id"] == int64(25) {
							return errors.New("endpoint is down")
						}
					}
					return nil
				})
				dest := NewDestination("d", rec.fn, BatchSize(size), MaxRetries(3), RetryBackoff(time.Millisecond, 5*time.Millisecond))
				p1 := e.open(dest)
				items, route := twoTables()
				_, err := p1.Run(ctxT(t), items, route)
				var re *RetriesError
				if !errors.As(err, &re) {
					t.Fatalf("first Run error = %v, want a *RetriesError", err)
				}
				if re.Table != "a" || re.BatchID == "" || re.Attempts != 3 || !strings.Contains(err.Error(), `"a"`) || !strings.Contains(err.Error(), re.BatchID) {
					t.Errorf("error does not name table and batch: %v (%+v)", err, re)
				}
				p1.Close()

				rec.setFail(nil)
				p2 := e.open(dest)
				if _, err := p2.Run(ctxT(t), nil); err != nil {
					t.Fatalf("second Run: %v", err)
				}
				got := rec.byTable()
				for _, tb := range []string{"a", "b"} {
					var ids []int
					for _, it := range got[tb] {
						ids = append(ids, int(it["id"].(int64)))
					}
					slices.Sort(ids)
					if len(ids) != 100 {
						t.Fatalf("table %s: %d items delivered, want 100 exactly once", tb, len(ids))
					}
					for i, id := range ids {
						if id != i {
							t.Fatalf("table %s: ids %v not exactly once", tb, ids)
						}
					}
				}
			})
		}
	})
}

// A Run after a failed one loads the pending batches and then its own data.
func TestNextRunLoadsPendingThenNewData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		rec := &recorder{}
		rec.setFail(func([]Row, Table) error { return errors.New("down") })
		dest := NewDestination("d", rec.fn, BatchSize(5), MaxRetries(2), RetryBackoff(time.Millisecond, 2*time.Millisecond),
			LoaderParallelismStrategy(TableSequential))
		p1 := e.open(dest)
		if _, err := p1.Run(ctxT(t), idValueItems(10), TableName("t")); err == nil {
			t.Fatal("first Run succeeded")
		}
		p1.Close()
		rec.setFail(nil)
		p2 := e.open(dest)
		more := make([]any, 10)
		for i := range more {
			more[i] = map[string]any{"id": 10 + i, "value": strconv.Itoa(10 + i)}
		}
		if _, err := p2.Run(ctxT(t), more, TableName("t")); err != nil {
			t.Fatalf("second Run: %v", err)
		}
		var ids []int64
		for _, it := range rec.byTable()["t"] {
			ids = append(ids, it["id"].(int64))
		}
		for i, id := range ids {
			if id != int64(i) {
				t.Fatalf("ids %v: want pending 0..9 first, then new 10..19", ids)
			}
		}
		if len(ids) != 20 {
			t.Fatalf("ids %v", ids)
		}
	})
}

// Acceptance 5: a terminal error dead-letters that batch, the rest loads.
func TestTerminalErrorDeadLetters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		rec := &recorder{}
		rec.setFail(func(items []Row, table Table) error {
			if items[0]["id"] == int64(30) {
				return Terminal(errors.New("400 bad request: rejected"))
			}
			return nil
		})
		p := newEnv(t, b).open(NewDestination("d", rec.fn, BatchSize(10)))
		ctx := ctxT(t)
		info, err := p.Run(ctx, idValueItems(100), TableName("t"))
		if !errors.Is(err, ErrDeadLettered) {
			t.Fatalf("Run error = %v, want ErrDeadLettered", err)
		}
		if len(info.DeadLetters) != 1 || info.DeadLetters[0].Items != 10 || !IsTerminal(info.DeadLetters[0].Err) {
			t.Fatalf("info.DeadLetters = %+v", info.DeadLetters)
		}
		if n := len(rec.byTable()["t"]); n != 90 {
			t.Fatalf("delivered %d items, want 90", n)
		}
		dead, err := p.DeadLetters(ctx, DeadLetterFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(dead) != 1 {
			t.Fatalf("dead letters: %d, want 1", len(dead))
		}
		d := dead[0]
		if d.Table != "t" || d.Rows != 10 || d.Reason != "terminal" || d.Attempts != 1 || d.MsgID != info.DeadLetters[0].BatchID ||
			!strings.Contains(d.Error, "400 bad request") || d.Time.IsZero() || d.OrigSeq == 0 || d.Destination != "d" ||
			!strings.HasSuffix(d.Subject, ".tables.t") || d.LoadID != info.LoadID || d.Format != string(TypedJSONL) {
			t.Errorf("dead letter %+v", d)
		}
		for _, h := range []string{queue.HdrLoadID, queue.HdrTable, queue.HdrSeq, queue.HdrRows, queue.HdrSchemaVersion, queue.HdrFormat, queue.HdrChecksum,
			queue.HdrDLQReason, queue.HdrDLQError, queue.HdrDLQAttempts, queue.HdrDLQTime, queue.HdrDLQSubject, queue.HdrDLQSequence} {
			if d.Header.Get(h) == "" {
				t.Errorf("dead letter lacks header %s", h)
			}
		}
		// Replay puts it back; the next run delivers it.
		rec.setFail(nil)
		if n, err := p.ReplayDeadLetters(ctx, DeadLetterFilter{Table: "t"}); err != nil || n != 1 {
			t.Fatalf("replay: %d, %v", n, err)
		}
		if _, err := p.Run(ctx, nil); err != nil {
			t.Fatalf("Run after replay: %v", err)
		}
		if n := len(rec.byTable()["t"]); n != 100 {
			t.Fatalf("after replay %d items, want 100", n)
		}
		if dead, _ := p.DeadLetters(ctx, DeadLetterFilter{}); len(dead) != 0 {
			t.Fatalf("dead letters left after replay: %d", len(dead))
		}
	})
}

// A panic in the function is a transient error: retried, never fatal.
func TestPanicIsRecovered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		rec := &recorder{}
		var once sync.Once
		rec.setFail(func([]Row, Table) error {
			once.Do(func() { panic("boom") })
			return nil
		})
		p := newEnv(t, b).open(NewDestination("d", rec.fn, RetryBackoff(time.Millisecond, time.Millisecond)))
		if _, err := p.Run(ctxT(t), idValueItems(30), TableName("t")); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if n := len(rec.byTable()["t"]); n != 30 {
			t.Fatalf("delivered %d, want 30", n)
		}
	})
}

// concurrency records how many calls run at once, overall and per table.
type concurrency struct {
	mu       sync.Mutex
	now      int
	max      int
	perTable map[string]int
	maxTable map[string]int
	overlap  bool // calls of different tables ran at once
}

func (c *concurrency) fn(ctx context.Context, items []Row, table Table) error {
	c.mu.Lock()
	c.now++
	c.max = max(c.max, c.now)
	c.perTable[table.Name]++
	c.maxTable[table.Name] = max(c.maxTable[table.Name], c.perTable[table.Name])
	for name, n := range c.perTable {
		if name != table.Name && n > 0 {
			c.overlap = true
		}
	}
	c.mu.Unlock()
	time.Sleep(3 * time.Millisecond)
	c.mu.Lock()
	c.now--
	c.perTable[table.Name]--
	c.mu.Unlock()
	return nil
}

// Acceptance 6: the parallelism strategies and MaxParallelLoadJobs.
func TestParallelism(t *testing.T) {
	var items []any
	for i := range 60 {
		for _, tb := range []string{"a", "b", "c"} {
			items = append(items, map[string]any{"table": tb, "id": i})
		}
	}
	route := TableNameFunc(func(it any) string { return it.(map[string]any)["table"].(string) })
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range []struct {
			name  string
			opts  []Option
			check func(t *testing.T, c *concurrency)
		}{
			{"sequential", []Option{LoaderParallelismStrategy(Sequential)}, func(t *testing.T, c *concurrency) {
				if c.max != 1 {
					t.Errorf("max concurrency %d, want 1", c.max)
				}
			}},
			{"table-sequential", []Option{LoaderParallelismStrategy(TableSequential)}, func(t *testing.T, c *concurrency) {
				for tb, m := range c.maxTable {
					if m != 1 {
						t.Errorf("table %s ran %d at once", tb, m)
					}
				}
				if !c.overlap || c.max < 2 {
					t.Errorf("tables never ran concurrently (max %d)", c.max)
				}
			}},
			{"parallel-5", []Option{MaxParallelLoadJobs(5)}, func(t *testing.T, c *concurrency) {
				if c.max > 5 || c.max < 2 {
					t.Errorf("max concurrency %d, want 2..5", c.max)
				}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := &concurrency{perTable: map[string]int{}, maxTable: map[string]int{}}
				p := newEnv(t, b).open(NewDestination("d", c.fn, append(tc.opts, BatchSize(1))...))
				info, err := p.Run(ctxT(t), items, route)
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if info.Items() != 180 {
					t.Fatalf("delivered %d, want 180", info.Items())
				}
				tc.check(t, c)
			})
		}
	})
}

// fourLevels returns n root rows, each with 2 children, each with 2
// grandchildren, each with 2 great-grandchildren.
func fourLevels(n int) []any {
	var out []any
	for i := range n {
		var kids []any
		for j := range 2 {
			var grand []any
			for k := range 2 {
				grand = append(grand, map[string]any{"g": k, "great": []any{map[string]any{"x": 1}, map[string]any{"x": 2}}})
			}
			kids = append(kids, map[string]any{"c": j, "grand": grand})
		}
		out = append(out, map[string]any{"id": i, "userName": "u", "_dlt_custom": "mine", "address": map[string]any{"zipCode": "1"}, "kids": kids})
	}
	return out
}

// Acceptance 7: naming conventions, nesting depth, child links, skip.
func TestNamingAndNesting(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range []struct {
			nesting int
			tables  []string
		}{
			{0, []string{"root"}},
			{1, []string{"root", "root__kids"}},
			{3, []string{"root", "root__kids", "root__kids__grand", "root__kids__grand__great"}},
		} {
			t.Run(fmt.Sprintf("nesting%d", tc.nesting), func(t *testing.T) {
				rec := &recorder{}
				p := newEnv(t, b).open(NewDestination("d", rec.fn, MaxTableNesting(tc.nesting), SkipDltColumnsAndTables(false), BatchSize(100)))
				if _, err := p.Run(ctxT(t), fourLevels(3), TableName("root")); err != nil {
					t.Fatalf("Run: %v", err)
				}
				got := rec.byTable()
				if names := tableNames(got); !slices.Equal(names, tc.tables) {
					t.Fatalf("tables %v, want %v", names, tc.tables)
				}
				// Every child row links to a row of its parent table.
				for _, c := range rec.snapshot() {
					if c.table.Parent == "" {
						continue
					}
					ids := map[any]bool{}
					for _, pr := range got[c.table.Parent] {
						ids[pr["_dlt_id"]] = true
					}
					for _, it := range c.items {
						if !ids[it["_dlt_parent_id"]] {
							t.Fatalf("%s row %v does not link to %s", c.table.Name, it, c.table.Parent)
						}
						if _, ok := it["_dlt_list_idx"].(int64); !ok {
							t.Fatalf("%s row %v has no _dlt_list_idx", c.table.Name, it)
						}
					}
				}
				root := got["root"][0]
				if root["_dlt_load_id"] == nil || root["_dlt_id"] == nil || root["_dlt_custom"] != "mine" {
					t.Errorf("root row %v", root)
				}
			})
		}
		t.Run("skip hides exactly the system columns", func(t *testing.T) {
			rec := &recorder{}
			p := newEnv(t, b).open(NewDestination("d", rec.fn, MaxTableNesting(1)))
			if _, err := p.Run(ctxT(t), fourLevels(2), TableName("root")); err != nil {
				t.Fatalf("Run: %v", err)
			}
			for _, c := range rec.snapshot() {
				for _, col := range c.table.Columns {
					if col.Name != "_dlt_custom" && strings.HasPrefix(col.Name, "_dlt") {
						t.Errorf("table %s shows system column %s", c.table.Name, col.Name)
					}
				}
			}
			if root := rec.byTable()["root"][0]; root["_dlt_custom"] != "mine" || root["address__zipCode"] != "1" {
				t.Errorf("root row %v", root)
			}
		})
		t.Run("snake_case", func(t *testing.T) {
			rec := &recorder{}
			p := newEnv(t, b).open(NewDestination("d", rec.fn, NamingConvention(SnakeCase), MaxTableNesting(1)))
			if _, err := p.Run(ctxT(t), []any{map[string]any{"camelCase": 1, "PErson": "x", "address": map[string]any{"zipCode": "1"}}}, TableName("MyTable")); err != nil {
				t.Fatalf("Run: %v", err)
			}
			got := rec.byTable()
			want := Row{"camel_case": int64(1), "p_erson": "x", "address__zip_code": "1"}
			if rows := got["my_table"]; len(rows) != 1 || !reflect.DeepEqual(rows[0], want) {
				t.Fatalf("got %v, want my_table %v", got, want)
			}
		})
	})
}

// Acceptance 8: file mode, one call per load file, readable in both formats.
func TestFileMode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, f := range formats {
			t.Run(string(f), func(t *testing.T) {
				var mu sync.Mutex
				var calls int
				var rows []map[string]any
				fn := func(ctx context.Context, path string, table Table) error {
					data, err := os.ReadFile(path)
					if err != nil {
						return Terminal(err)
					}
					got := readLoadFile(t, f, data)
					mu.Lock()
					defer mu.Unlock()
					calls++
					rows = append(rows, got...)
					return nil
				}
				p := newEnv(t, b).open(NewFileDestination("files", fn, LoaderFileFormat(f), FileMaxItems(40)))
				if _, err := p.Run(ctxT(t), idValueItems(100), TableName("t")); err != nil {
					t.Fatalf("Run: %v", err)
				}
				if calls != 3 {
					t.Errorf("calls %d, want 3 load files of up to 40 rows", calls)
				}
				seen := map[int64]bool{}
				for _, r := range rows {
					seen[toInt64(t, r["id"])] = true
				}
				if len(rows) != 100 || len(seen) != 100 {
					t.Fatalf("read back %d rows (%d distinct), want 100", len(rows), len(seen))
				}
			})
		}
	})
}

func toInt64(t *testing.T, v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case json.Number:
		i, _ := n.Int64()
		return i
	case float64:
		return int64(n)
	}
	t.Fatalf("id %T %v", v, v)
	return 0
}

func readLoadFile(t *testing.T, f FileFormat, data []byte) []map[string]any {
	var out []map[string]any
	if f == Parquet {
		pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Errorf("open parquet: %v", err)
			return nil
		}
		r := parquet.NewGenericReader[map[string]any](bytes.NewReader(data), pf.Schema())
		defer r.Close()
		buf := make([]map[string]any, pf.NumRows())
		for i := range buf {
			buf[i] = map[string]any{}
		}
		n, _ := r.Read(buf)
		return buf[:n]
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Errorf("load file line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// Acceptance 9: large loads and a batch over the server's max payload.
func TestLarge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		t.Run("50000 rows", func(t *testing.T) {
			var n, calls int
			var mu sync.Mutex
			fn := func(ctx context.Context, items []Row, table Table) error {
				mu.Lock()
				n += len(items)
				calls++
				mu.Unlock()
				return nil
			}
			p := newEnv(t, b).open(NewDestination("d", fn, BatchSize(1000)))
			if _, err := p.Run(ctxT(t), idValueItems(50_000), TableName("t")); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if n != 50_000 || calls != 50 {
				t.Fatalf("delivered %d items in %d calls, want 50000 in 50", n, calls)
			}
		})
		t.Run("one batch over 1 MB", func(t *testing.T) {
			wide := make([]any, 20_000)
			for i := range wide {
				wide[i] = map[string]any{"id": i, "a": strings.Repeat("x", 40), "b": i * 2, "c": "some text here", "d": true}
			}
			rec := &recorder{}
			p := newEnv(t, b).open(NewDestination("d", rec.fn, BatchSize(20_000)))
			p.cache = newRowCache(0) // read it back from the Object Store, as another process would
			if _, err := p.Run(ctxT(t), wide, TableName("wide")); err != nil {
				t.Fatalf("Run: %v", err)
			}
			calls := rec.snapshot()
			if len(calls) != 1 || len(calls[0].items) != 20_000 {
				t.Fatalf("calls %d", len(calls))
			}
		})
	})
}

// Acceptance 11: hostile table names load or fail with a clear error.
func TestHostileTableNames(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range []struct {
			name    string
			wantErr string
		}{
			{"a.b", ""}, {"*", ""}, {">", ""}, {"with spaces", ""}, {"../x", ""},
			{strings.Repeat("long", 500), ""}, {"", "empty"}, {"bad\xff\xfe", "UTF-8"},
		} {
			t.Run(fmt.Sprintf("%.20q", tc.name), func(t *testing.T) {
				rec := &recorder{}
				p := newEnv(t, b).open(NewDestination("d", rec.fn))
				_, err := p.Run(ctxT(t), idValueItems(3), TableName(tc.name))
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("Run error = %v, want one mentioning %q", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				got := rec.byTable()
				if len(got[tc.name]) != 3 {
					t.Fatalf("delivered %v, want 3 items in table %q", tableNames(got), tc.name)
				}
			})
		}
	})
}

// Malformed JSON lines are reported with line numbers; the rest loads.
func TestBadJSONLines(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		rec := &recorder{}
		p := newEnv(t, b).open(NewDestination("d", rec.fn))
		in := "{\"id\":1}\n{\"id\":2,}\n\n{\"id\":3}\nnot json\n"
		info, err := p.Run(ctxT(t), strings.NewReader(in), TableName("t"))
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "line 5") {
			t.Fatalf("Run error = %v, want ErrBadInput naming lines 2 and 5", err)
		}
		if len(info.BadRecords) != 2 || len(rec.byTable()["t"]) != 2 {
			t.Fatalf("bad %v, delivered %v", info.BadRecords, rec.byTable())
		}
	})
}

// Rows handed over from the in-process cache are exactly the rows a decode
// of the stored batch gives (the path of redeliveries and other processes).
func TestCachedRowsMatchDecodedRows(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	in := []any{
		map[string]any{"a": 1, "b": 2.5, "c": "2026-01-02T03:04:05Z", "d": map[string]any{"x": []any{1, 2.0, "s", nil, true, map[string]any{}}, "big": "99999999999999999999999"},
			"e": []any{}, "f": ts, "g": []byte("bin"), "h": mustDecimal(t, "1.50"), "i": json.Number("12345678901234567890123")},
		map[string]any{"a": "not a number", "b": 3, "d": []any{ts, Date{Year: 2020, Month: 1, Day: 1}}},
	}
	for _, f := range formats {
		for _, nesting := range []int{0, 2} {
			t.Run(fmt.Sprintf("%s/nesting%d", f, nesting), func(t *testing.T) {
				var got [2]map[string][]Row
				for i, cached := range []bool{true, false} {
					rec := &recorder{}
					p := newEnv(t, backends[0]).open(NewDestination("d", rec.fn, LoaderFileFormat(f), MaxTableNesting(nesting)))
					if !cached {
						p.cache = newRowCache(0)
					}
					if _, err := p.Run(ctxT(t), in, TableName("t")); err != nil {
						t.Fatal(err)
					}
					if cached && p.cache.hits == 0 {
						t.Error("no batch came from the cache")
					}
					got[i] = rec.byTable()
				}
				if !reflect.DeepEqual(got[0], got[1]) {
					t.Fatalf("cached rows\n%#v\ndiffer from decoded rows\n%#v", got[0], got[1])
				}
			})
		}
	}
}

// Cancelling a run says so, and what was not delivered stays pending for the
// next run.
func TestCancelledRunLeavesPending(t *testing.T) {
	e := newEnv(t, backends[0])
	started := make(chan struct{})
	var once sync.Once
	block := func(ctx context.Context, items []Row, table Table) error {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return ctx.Err()
	}
	// No drain: cancelling the run cancels the calls at once.
	p1 := e.open(NewDestination("d", block, BatchSize(10)), WithShutdownTimeout(0))
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once a call is running and the whole input is stored: a run
	// cancelled while it still reads its input stops reading (run it again
	// with the same input and resume key to carry on).
	published := make(chan struct{})
	var pubOnce sync.Once
	go func() { <-started; <-published; cancel() }()
	_, err := p1.Run(ctx, idValueItems(50), TableName("t"), OnProgress(func(pr Progress) {
		if pr.Produced == 50 {
			pubOnce.Do(func() { close(published) })
		}
	}, time.Millisecond))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("Run error = %v, want an interruption", err)
	}
	p1.Close()
	rec := &recorder{}
	p2 := e.open(NewDestination("d", rec.fn, BatchSize(10)))
	if _, err := p2.Run(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.byTable()["t"]); n != 50 {
		t.Fatalf("next run delivered %d, want the 50 pending", n)
	}
}

// Run takes every input form the API names.
func TestInputForms(t *testing.T) {
	type user struct {
		ID   int    `json:"id"`
		Name string `json:"user_name"`
		Skip string `json:"-"`
	}
	want := []Row{{"id": int64(1), "user_name": "a"}, {"id": int64(2), "user_name": "b"}}
	for _, tc := range []struct {
		name string
		data any
	}{
		{"[]any", []any{map[string]any{"id": 1, "user_name": "a"}, map[string]any{"id": 2, "user_name": "b"}}},
		{"[]Row", []Row{{"id": 1, "user_name": "a"}, {"id": 2, "user_name": "b"}}},
		{"[]map[string]any", []map[string]any{{"id": 1, "user_name": "a"}, {"id": 2, "user_name": "b"}}},
		{"structs by JSON tags", []user{{1, "a", "x"}, {2, "b", "y"}}},
		{"iter.Seq[any]", iter.Seq[any](func(yield func(any) bool) {
			_ = yield(map[string]any{"id": 1, "user_name": "a"}) && yield(map[string]any{"id": 2, "user_name": "b"})
		})},
		{"io.Reader of JSON lines", strings.NewReader("{\"id\":1,\"user_name\":\"a\"}\r\n\n{\"id\":2,\"user_name\":\"b\"}")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			p := newEnv(t, backends[0]).open(NewDestination("d", rec.fn, LoaderParallelismStrategy(Sequential)))
			info, err := p.Run(ctxT(t), tc.data, TableName("users"))
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.byTable()["users"]; !reflect.DeepEqual(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			if info.Produced["users"].Items != 2 || info.LoadID == "" {
				t.Errorf("info %+v", info)
			}
		})
	}
}
