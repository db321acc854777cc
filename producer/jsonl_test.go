package producer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// checkNoLeak fails the test if goroutines started during it are still
// running shortly after it ends.
func checkNoLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// collect runs ReadJSONL and returns the items and bad lines it reported,
// checking that the callbacks never overlap.
func collect(t *testing.T, ctx context.Context, in io.Reader, o JSONLOptions) ([]any, []*LineError, error) {
	t.Helper()
	var (
		items []any
		bad   []*LineError
		busy  atomic.Bool
	)
	enter := func() {
		if !busy.CompareAndSwap(false, true) {
			t.Error("callbacks overlap")
		}
	}
	err := ReadJSONL(ctx, in, o, func(chunk []any) error {
		enter()
		defer busy.Store(false)
		if len(chunk) == 0 {
			t.Error("onItems called with no items")
		}
		items = append(items, chunk...)
		return nil
	}, func(e *LineError) {
		enter()
		defer busy.Store(false)
		bad = append(bad, e)
	})
	return items, bad, err
}

func numbered(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"i":%d,"s":"line %d"}`+"\n", i, i)
	}
	return b.String()
}

func TestReadJSONLOrder(t *testing.T) {
	tests := []struct {
		name string
		opt  JSONLOptions
	}{
		{"defaults", JSONLOptions{}},
		{"tiny chunks many workers", JSONLOptions{ChunkLines: 7, Workers: 8}},
		{"one worker", JSONLOptions{ChunkLines: 1, Workers: 1}},
		{"small read buffer lines", JSONLOptions{ChunkLines: 100, Workers: 3, MaxRecordBytes: 1 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeak(t)
			const n = 20000
			items, bad, err := collect(t, context.Background(), strings.NewReader(numbered(n)), tt.opt)
			if err != nil || len(bad) != 0 {
				t.Fatalf("err = %v, bad = %v", err, bad)
			}
			if len(items) != n {
				t.Fatalf("%d items, want %d", len(items), n)
			}
			for i, it := range items {
				m := it.(map[string]any)
				if m["i"] != int64(i) || m["s"] != fmt.Sprintf("line %d", i) {
					t.Fatalf("item %d = %v", i, m)
				}
			}
		})
	}
}

func TestReadJSONLChunkSize(t *testing.T) {
	checkNoLeak(t)
	var sizes []int
	err := ReadJSONL(context.Background(), strings.NewReader(numbered(25)), JSONLOptions{ChunkLines: 10, Workers: 2},
		func(items []any) error {
			sizes = append(sizes, len(items))
			return nil
		}, nil)
	if err != nil || !reflect.DeepEqual(sizes, []int{10, 10, 5}) {
		t.Fatalf("sizes = %v, err = %v", sizes, err)
	}
}

func TestReadJSONLBadLines(t *testing.T) {
	checkNoLeak(t)
	in := strings.Join([]string{
		`{"a":1}`,  // 1
		`{"a":`,    // 2 bad
		``,         // 3 blank
		`   `,      // 4 blank
		`[1,2]`,    // 5
		`nope`,     // 6 bad
		`"str"`,    // 7
		`{"a":1}x`, // 8 bad
		"\t",       // 9 blank
		`null`,     // 10
		`1 2`,      // 11 bad
		`42`,       // 12, no newline
	}, "\n")
	for _, chunkLines := range []int{1, 2, 3, 512} {
		t.Run(fmt.Sprint(chunkLines), func(t *testing.T) {
			items, bad, err := collect(t, context.Background(), strings.NewReader(in), JSONLOptions{ChunkLines: chunkLines, Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			want := []any{map[string]any{"a": int64(1)}, []any{int64(1), int64(2)}, "str", nil, int64(42)}
			if !reflect.DeepEqual(items, want) {
				t.Fatalf("items = %#v, want %#v", items, want)
			}
			var lines []int
			for _, e := range bad {
				lines = append(lines, e.Line)
				if !strings.HasPrefix(e.Error(), fmt.Sprintf("line %d: ", e.Line)) || e.Unwrap() == nil {
					t.Errorf("bad line error %q", e)
				}
			}
			if !reflect.DeepEqual(lines, []int{2, 6, 8, 11}) {
				t.Fatalf("bad lines = %v, want [2 6 8 11]", lines)
			}
			if got := bad[1].Error(); got != "line 6: invalid character 'o' in literal null (expecting 'u')" {
				t.Fatalf("bad line 6: %q", got)
			}
		})
	}
}

func TestReadJSONLOversized(t *testing.T) {
	const max = 100
	obj := func(n int) string { // a JSON string of exactly n bytes
		return `"` + strings.Repeat("x", n-2) + `"`
	}
	tests := []struct {
		name     string
		in       string
		items    int
		badLines []int
		sizes    []int
	}{
		{"exactly the limit", obj(max) + "\n" + obj(max) + "\r\n" + obj(max), 3, nil, nil},
		{"one over", obj(max+1) + "\n" + obj(10) + "\n", 1, []int{1}, []int{max + 1}},
		{"one over with CRLF", obj(10) + "\r\n" + obj(max+1) + "\r\n" + obj(10) + "\r\n", 2, []int{2}, []int{max + 1}},
		{"two over with CRLF", obj(max+2) + "\r\n" + obj(10), 1, []int{1}, []int{max + 2}},
		{"far over, last line", obj(10) + "\n" + obj(5*max), 1, []int{2}, []int{5 * max}},
		{"huge", obj(10) + "\n" + obj(1<<20) + "\r\n" + obj(10) + "\n", 2, []int{2}, []int{1 << 20}},
		{"huge, last line, CRLF", obj(1<<20) + "\r\n", 0, []int{1}, []int{1 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeak(t)
			items, bad, err := collect(t, context.Background(), strings.NewReader(tt.in), JSONLOptions{MaxRecordBytes: max, ChunkLines: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != tt.items {
				t.Fatalf("%d items, want %d", len(items), tt.items)
			}
			if len(bad) != len(tt.badLines) {
				t.Fatalf("bad = %v, want lines %v", bad, tt.badLines)
			}
			for i, e := range bad {
				want := fmt.Sprintf("line %d: record of %d bytes is over the limit of %d bytes", tt.badLines[i], tt.sizes[i], max)
				if e.Error() != want || !errors.Is(e, ErrRecordTooLarge) {
					t.Fatalf("bad[%d] = %q, want %q", i, e, want)
				}
			}
		})
	}
}

// endlessLine is a reader of one line of n bytes that never exists in memory.
type endlessLine struct{ n, read int64 }

func (r *endlessLine) Read(p []byte) (int, error) {
	if r.read >= r.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), r.n-r.read)
	for i := range k {
		p[i] = 'x'
	}
	if r.read+k == r.n {
		p[k-1] = '\n'
	}
	r.read += k
	return int(k), nil
}

func TestReadJSONLOversizedNotInMemory(t *testing.T) {
	checkNoLeak(t)
	const n = 256 << 20
	in := io.MultiReader(strings.NewReader("1\n"), &endlessLine{n: n}, strings.NewReader("2\n"))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	items, bad, err := collect(t, context.Background(), in, JSONLOptions{MaxRecordBytes: 1 << 20})
	runtime.ReadMemStats(&after)
	if err != nil || !reflect.DeepEqual(items, []any{int64(1), int64(2)}) || len(bad) != 1 {
		t.Fatalf("items %v, bad %v, err %v", items, bad, err)
	}
	if want := fmt.Sprintf("line 2: record of %d bytes is over the limit of %d bytes", n-1, 1<<20); bad[0].Error() != want {
		t.Fatalf("bad = %q, want %q", bad[0], want)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
		t.Fatalf("allocated %d MiB reading a %d MiB line", grew>>20, n>>20)
	}
}

func TestReadJSONLLongLines(t *testing.T) {
	checkNoLeak(t)
	// Lines longer than the read buffer, within the limit.
	var b strings.Builder
	var want []any
	for i := range 5 {
		s := strings.Repeat(string(rune('a'+i)), 100_000*(i+1))
		want = append(want, s)
		fmt.Fprintf(&b, "%q\r\n", s)
	}
	items, bad, err := collect(t, context.Background(), strings.NewReader(b.String()), JSONLOptions{ChunkLines: 2})
	if err != nil || len(bad) != 0 || !reflect.DeepEqual(items, want) {
		t.Fatalf("err %v, bad %v, %d items", err, bad, len(items))
	}
}

func TestReadJSONLLineEndings(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []any
	}{
		{"empty", "", nil},
		{"only newlines", "\n\n\r\n\n", nil},
		{"LF", "1\n2\n", []any{int64(1), int64(2)}},
		{"CRLF", "1\r\n2\r\n", []any{int64(1), int64(2)}},
		{"no trailing newline", "1\n2", []any{int64(1), int64(2)}},
		{"CRLF no trailing newline", "{\"a\":\"b\"}\r\n[]", []any{map[string]any{"a": "b"}, []any{}}},
		{"blank lines between", "\n1\n\n\r\n2\n\n", []any{int64(1), int64(2)}},
		{"lone CR inside", "1\r2\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeak(t)
			items, bad, err := collect(t, context.Background(), strings.NewReader(tt.in), JSONLOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "lone CR inside" {
				if len(bad) != 1 || bad[0].Line != 1 {
					t.Fatalf("bad = %v", bad)
				}
				return
			}
			if len(bad) != 0 || !reflect.DeepEqual(items, tt.want) {
				t.Fatalf("items %#v, bad %v; want %#v", items, bad, tt.want)
			}
		})
	}
}

func TestReadJSONLLineNumbersWithCRLFAndBlanks(t *testing.T) {
	in := "1\r\n\r\nbad\r\n2\r\n\r\n\r\n{\r\n"
	_, bad, err := collect(t, context.Background(), strings.NewReader(in), JSONLOptions{ChunkLines: 1})
	if err != nil || len(bad) != 2 || bad[0].Line != 3 || bad[1].Line != 7 {
		t.Fatalf("bad %v, err %v", bad, err)
	}
}

func TestReadJSONLCallbackError(t *testing.T) {
	checkNoLeak(t)
	stop := errors.New("stop")
	calls := 0
	err := ReadJSONL(context.Background(), strings.NewReader(numbered(100000)), JSONLOptions{ChunkLines: 10, Workers: 4},
		func(items []any) error {
			calls++
			if calls == 3 {
				return stop
			}
			return nil
		}, nil)
	if !errors.Is(err, stop) || calls != 3 {
		t.Fatalf("err = %v after %d calls, want stop after 3", err, calls)
	}
}

func TestReadJSONLCancel(t *testing.T) {
	t.Run("during", func(t *testing.T) {
		checkNoLeak(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		calls := 0
		err := ReadJSONL(ctx, strings.NewReader(numbered(100000)), JSONLOptions{ChunkLines: 10, Workers: 4},
			func(items []any) error {
				calls++
				if calls == 2 {
					cancel()
				}
				return nil
			}, nil)
		if !errors.Is(err, context.Canceled) || calls != 2 {
			t.Fatalf("err = %v after %d calls, want context.Canceled after 2", err, calls)
		}
	})
	t.Run("before", func(t *testing.T) {
		checkNoLeak(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := ReadJSONL(ctx, strings.NewReader(numbered(10)), JSONLOptions{}, func([]any) error {
			t.Error("onItems called")
			return nil
		}, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("while waiting for a worker", func(t *testing.T) {
		checkNoLeak(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		// A slow reader: the loop waits on reads and workers in turn.
		in := &slowReader{r: strings.NewReader(numbered(1000000)), delay: time.Millisecond}
		err := ReadJSONL(ctx, in, JSONLOptions{ChunkLines: 5}, func([]any) error { return nil }, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})
}

type slowReader struct {
	r     io.Reader
	delay time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.delay)
	return s.r.Read(p[:min(len(p), 512)])
}

// failingReader returns its data, then err.
type failingReader struct {
	data string
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.data == "" {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReadJSONLReadError(t *testing.T) {
	checkNoLeak(t)
	boom := errors.New("disk on fire")
	items, bad, err := collect(t, context.Background(), &failingReader{data: "1\n2\n3\n{\"partial", err: boom}, JSONLOptions{ChunkLines: 2})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if !reflect.DeepEqual(items, []any{int64(1), int64(2), int64(3)}) || len(bad) != 0 {
		t.Fatalf("items %v, bad %v", items, bad)
	}
}

// TestReadJSONLValuesOutliveCall checks values kept from onItems stay intact
// while later chunks are read into the reused buffers.
func TestReadJSONLValuesOutliveCall(t *testing.T) {
	var kept []any
	err := ReadJSONL(context.Background(), strings.NewReader(numbered(5000)), JSONLOptions{ChunkLines: 3, Workers: 2},
		func(items []any) error {
			kept = append(kept, items...)
			return nil
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range kept {
		if s := v.(map[string]any)["s"]; s != fmt.Sprintf("line %d", i) {
			t.Fatalf("kept item %d = %v", i, v)
		}
	}
}

// eventLines writes n lines shaped like /work/shared/bench/gen_events.py's.
func eventLines(n int) []byte {
	r := rand.New(rand.NewPCG(42, 0))
	cities := []string{"Berlin", "Lisbon", "Austin", "Osaka", "Nairobi", "Quito", "Oslo", "Perth"}
	var b bytes.Buffer
	for i := range n {
		tags := make([]string, r.IntN(4))
		for j := range tags {
			tags[j] = `"` + string(rune('a'+r.IntN(5))) + `"`
		}
		fmt.Fprintf(&b, `{"id":%d,"user_name":"user_%08d","email":"u%d@example.org","created_at":"2026-%02d-%02dT%02d:%02d:%02dZ","amount":%.2f,"active":%t,"score":%d,"address":{"city":%q,"zip":"%05d"},"tags":[%s]}`+"\n",
			i, r.IntN(1e8), r.IntN(1e6), 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60),
			r.Float64()*10000, r.IntN(2) == 0, r.IntN(2001)-1000, cities[r.IntN(len(cities))], r.IntN(1e5), strings.Join(tags, ","))
	}
	return b.Bytes()
}

func BenchmarkReadJSONL(b *testing.B) {
	const n = 100_000
	data := eventLines(n)
	b.Run("jsonv", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			count := 0
			err := ReadJSONL(context.Background(), bytes.NewReader(data), JSONLOptions{}, func(items []any) error {
				count += len(items)
				return nil
			}, nil)
			if err != nil || count != n {
				b.Fatalf("%d items, %v", count, err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "items/s")
	})
	// For scale: encoding/json on one goroutine, a line at a time into
	// map[string]any (the baseline of /work/shared/bench/README.md).
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			sc := bufio.NewScanner(bytes.NewReader(data))
			count := 0
			for sc.Scan() {
				var v any
				if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
					b.Fatal(err)
				}
				count++
			}
			if count != n {
				b.Fatalf("%d items", count)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "items/s")
	})
}

func TestReadJSONLNumberedLines(t *testing.T) {
	checkNoLeak(t)
	in := strings.Join([]string{
		`{"a":1}`,               // 1
		`{"a":`,                 // 2 bad
		``,                      // 3 blank
		strings.Repeat("x", 40), // 4 too long
		`[1,2]`,                 // 5
		`nope`,                  // 6 bad
		"\r",                    // 7 blank
		`"str"`,                 // 8
		`null`,                  // 9
		`42`,                    // 10, no newline
	}, "\n")
	for _, chunkLines := range []int{1, 2, 3, 512} {
		t.Run(fmt.Sprint(chunkLines), func(t *testing.T) {
			var items []any
			var lines, bad []int
			err := ReadJSONLNumbered(context.Background(), strings.NewReader(in), JSONLOptions{ChunkLines: chunkLines, Workers: 2, MaxRecordBytes: 30},
				func(chunk []any, ls []int) error {
					if len(ls) != len(chunk) {
						t.Fatalf("%d items, %d line numbers", len(chunk), len(ls))
					}
					items = append(items, chunk...)
					lines = append(lines, ls...)
					return nil
				}, func(e *LineError) { bad = append(bad, e.Line) })
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{1, 5, 8, 9, 10}; !reflect.DeepEqual(lines, want) || len(items) != len(want) {
				t.Fatalf("items %v on lines %v, want lines %v", items, lines, want)
			}
			if want := []int{2, 4, 6}; !reflect.DeepEqual(bad, want) {
				t.Fatalf("bad lines %v, want %v", bad, want)
			}
		})
	}
}

// A live stream's lines are handed over as they arrive, not once a chunk
// fills or the stream ends.
func TestReadJSONLLive(t *testing.T) {
	pr, pw := io.Pipe()
	got := make(chan any, 10)
	done := make(chan error, 1)
	go func() {
		done <- ReadJSONL(context.Background(), pr, JSONLOptions{Live: true}, func(items []any) error {
			for _, it := range items {
				got <- it
			}
			return nil
		}, nil)
	}()
	for i := range 5 {
		if _, err := fmt.Fprintf(pw, "{\"n\":%d}\n", i); err != nil {
			t.Fatal(err)
		}
		select {
		case v := <-got:
			if v.(map[string]any)["n"] != int64(i) {
				t.Fatalf("got %v, want n=%d", v, i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("line %d not handed over while the stream stays open", i)
		}
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A UTF-8 byte-order mark at the start of the input is not a bad line.
func TestReadJSONLByteOrderMark(t *testing.T) {
	in := "\xEF\xBB\xBF{\"a\":1}\n{\"a\":2}\n"
	var got []any
	var bad []*LineError
	err := ReadJSONL(context.Background(), strings.NewReader(in), JSONLOptions{}, func(items []any) error {
		got = append(got, items...)
		return nil
	}, func(e *LineError) { bad = append(bad, e) })
	if err != nil || len(bad) != 0 || len(got) != 2 {
		t.Fatalf("items %v, bad %v, err %v: want 2 items and no bad line", got, bad, err)
	}
}
