package file_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/sink"
	"github.com/fanoutbridge/bridge/sinks/file"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func items(n int) []any {
	at := time.Date(2026, 1, 24, 8, 15, 14, 500_000_000, time.UTC)
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"id": i + 1, "name": fmt.Sprintf("n%d", i+1), "amount": float64(i) + 0.25, "ok": i%2 == 0,
			"at": at.Add(time.Duration(i) * time.Second), "tags": map[string]any{"k": i}}
	}
	return out
}

// written is what a sink was given for one batch.
type written struct {
	table schema.Table
	rows  []schema.Row
}

// failTwice writes every batch with the file sink, then fails the first
// two writes of each, so that every batch is written three times; it keeps
// what each batch held.
type failTwice struct {
	sink.Sink
	mu      sync.Mutex
	writes  map[string]int
	batches map[string]written
}

func newFailTwice(s sink.Sink) *failTwice {
	return &failTwice{Sink: s, writes: map[string]int{}, batches: map[string]written{}}
}

func (f *failTwice) Write(ctx context.Context, b sink.Batch) error {
	if err := f.Sink.Write(ctx, b); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes[b.ID]++
	f.batches[b.ID] = written{table: b.Table, rows: slices.Clone(b.Rows)}
	if f.writes[b.ID] <= 2 {
		return fmt.Errorf("injected failure after write %d of batch %s", f.writes[b.ID], b.ID)
	}
	return nil
}

// run loads n items into table through a pipeline whose destination is the
// sink wrapped in failTwice.
func run(t *testing.T, s *file.Sink, n int, table string) *failTwice {
	t.Helper()
	w := newFailTwice(s)
	dest := bridge.NewSinkDestination("files", w, bridge.BatchSize(10), bridge.RetryBackoff(10*time.Millisecond, 50*time.Millisecond))
	p, err := bridge.NewPipeline("files", dest, bridge.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	info, err := p.Run(ctxT(t), items(n), bridge.TableName(table))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if info.Items() != n {
		t.Fatalf("delivered %d items, want %d", info.Items(), n)
	}
	return w
}

// listFiles returns every file under dir, relative, sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// readFile returns a file's bytes, gunzipped when gz.
func readFile(t *testing.T, path string, gz bool) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !gz {
		return b
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: not gzip: %v", path, err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: gunzip: %v", path, err)
	}
	return out
}

// decode reads a file back as typed rows.
func decode(t *testing.T, format string, data []byte, table schema.Table) []schema.Row {
	t.Helper()
	if format == file.FormatParquet {
		got, rows, err := batcher.Decode(batcher.Parquet, data)
		if err != nil {
			t.Fatalf("parquet: %v", err)
		}
		if got.Name != table.Name || !reflect.DeepEqual(got.Columns, table.Columns) {
			t.Fatalf("parquet schema %+v, want %+v", got, table)
		}
		return rows
	}
	// Plain JSON lines, readable by any JSON parser.
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d %q: %v", i+1, line, err)
		}
	}
	// And exactly the rows, typed, with the table's schema in front.
	header, err := json.Marshal(map[string]any{"bridge_table": table})
	if err != nil {
		t.Fatal(err)
	}
	_, rows, err := batcher.Decode(batcher.TypedJSONL, append(append(header, '\n'), data...))
	if err != nil {
		t.Fatalf("jsonl: %v", err)
	}
	return rows
}

// Each format, plain and gzipped, reads back as the rows the sink was
// given; a batch written three times leaves one file.
func TestFormatsRoundTrip(t *testing.T) {
	for _, format := range []string{file.FormatJSONL, file.FormatParquet} {
		for _, gz := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/gzip=%v", format, gz), func(t *testing.T) {
				dir := t.TempDir()
				s, err := file.New(file.Config{Dir: dir, Format: format, Gzip: gz})
				if err != nil {
					t.Fatal(err)
				}
				w := run(t, s, 25, "orders")
				files := listFiles(t, dir)
				if len(files) != 3 {
					t.Fatalf("files %v, want 3 (one per batch, each written 3 times)", files)
				}
				ext := "." + format
				if gz {
					ext += ".gz"
				}
				var ids []int64
				for id, b := range w.batches {
					if w.writes[id] != 3 {
						t.Errorf("batch %s written %d times, want 3", id, w.writes[id])
					}
					rel := "orders/" + id + ext
					if !slices.Contains(files, rel) {
						t.Fatalf("no file %s among %v", rel, files)
					}
					rows := decode(t, format, readFile(t, filepath.Join(dir, rel), gz), b.table)
					if len(rows) != len(b.rows) {
						t.Fatalf("%s: %d rows, want %d", rel, len(rows), len(b.rows))
					}
					for i := range rows {
						if !reflect.DeepEqual(rows[i], b.rows[i]) {
							t.Fatalf("%s row %d: %#v, want %#v", rel, i, rows[i], b.rows[i])
						}
						ids = append(ids, rows[i]["id"].(int64))
					}
				}
				slices.Sort(ids)
				for i, id := range ids {
					if id != int64(i+1) {
						t.Fatalf("ids %v, want 1..25 once each", ids)
					}
				}
			})
		}
	}
}

// The default layout is file:DIR's: DIR/<table>/<batch id>.jsonl, the table
// as bridge names its subjects.
func TestDefaultLayout(t *testing.T) {
	s, err := file.New(file.Config{Dir: "/out"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Path("orders", "p.1769242514.500000.orders.3"); got != "/out/orders/p.1769242514.500000.orders.3.jsonl" {
		t.Errorf("path %q", got)
	}
	if got := s.Path("a/b", "x"); strings.Count(got, "/") != 3 {
		t.Errorf("table a/b makes path %q: want one path element", got)
	}
}

func TestNameTemplate(t *testing.T) {
	dir := t.TempDir()
	s, err := file.New(file.Config{Dir: dir, Name: "{date}/{load_id}/{table}-{batch_id}.{ext}", Gzip: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Path("t", "p.1769242514.500000.t.3.p2"), filepath.Join(dir, "2026-01-24/1769242514.500000/t-p.1769242514.500000.t.3.p2.jsonl.gz"); got != want {
		t.Errorf("path %q, want %q", got, want)
	}
	w := run(t, s, 12, "users")
	files := listFiles(t, dir)
	if len(files) != 2 {
		t.Fatalf("files %v, want 2", files)
	}
	for id := range w.batches {
		parts := strings.Split(id, ".")
		secs, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			t.Fatalf("batch id %q: no load id", id)
		}
		// Dated by the load's start, so a retry after midnight keeps the name.
		want := time.Unix(secs, 0).UTC().Format(time.DateOnly) + "/" + parts[1] + "." + parts[2] + "/users-" + id + ".jsonl.gz"
		if !slices.Contains(files, want) {
			t.Errorf("no file %s among %v", want, files)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  file.Config
		want string
	}{
		{"no dir", file.Config{}, "file_dir"},
		{"format", file.Config{Dir: "d", Format: "csv"}, "file_format"},
		{"no batch id", file.Config{Dir: "d", Name: "{table}.{ext}"}, "{batch_id}"},
		{"absolute", file.Config{Dir: "d", Name: "/x/{batch_id}"}, "relative"},
		{"escape", file.Config{Dir: "d", Name: "../{batch_id}"}, ".."},
		{"placeholder", file.Config{Dir: "d", Name: "{schema}/{batch_id}"}, "placeholder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := file.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error about %s", err, tc.want)
			}
		})
	}
}

func TestParseSpec(t *testing.T) {
	c, err := file.ParseSpec("out?format=parquet&gzip=true&name=%7Bdate%7D/%7Bbatch_id%7D.%7Bext%7D")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("out")
	if c.Dir != abs || c.Format != "parquet" || !c.Gzip || c.Name != "{date}/{batch_id}.{ext}" {
		t.Fatalf("ParseSpec: %+v", c)
	}
	c, err = file.ParseSpec("/tmp/a b")
	if err != nil || c.Dir != "/tmp/a b" || c.Format != "" || c.Gzip {
		t.Fatalf("ParseSpec plain dir: %+v %v", c, err)
	}
	for _, bad := range []string{"d?colour=red", "d?gzip=maybe"} {
		if _, err := file.ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) succeeded", bad)
		}
	}
}

// A write replaces the batch's file whole and leaves no temporary file; a
// reader sees the old file or the new one, never part of one.
func TestWriteIsAtomic(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	s, err := file.New(file.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tbl := schema.Table{Name: "t", Columns: []schema.Column{{Name: "id", DataType: schema.TypeBigInt}, {Name: "pad", DataType: schema.TypeText}}}
	batch := func(n int) sink.Batch {
		rows := make([]schema.Row, n)
		for i := range rows {
			rows[i] = schema.Row{"id": int64(i), "pad": strings.Repeat("x", 1000)}
		}
		return sink.Batch{ID: "b", Table: tbl, Rows: rows, Attempt: 1}
	}
	path := s.Path("t", "b")
	if err := s.Write(ctx, batch(100)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad []string
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(path)
			if err != nil {
				bad = append(bad, err.Error())
				continue
			}
			if n := bytes.Count(b, []byte("\n")); n != 100 && n != 200 || len(b) > 0 && b[len(b)-1] != '\n' {
				bad = append(bad, fmt.Sprintf("%d lines", n))
			}
		}
	})
	for i := range 20 {
		if err := s.Write(ctx, batch(100+100*(i%2))); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("a reader saw %d partial or missing files: %v", len(bad), bad[:min(len(bad), 5)])
	}
	if files := listFiles(t, dir); !reflect.DeepEqual(files, []string{"t/b.jsonl"}) {
		t.Fatalf("files %v, want only t/b.jsonl", files)
	}
}

// Destination resolves its settings from the environment.
func TestDestinationConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DESTINATION__DROP__FILE_DIR", dir)
	t.Setenv("DESTINATION__DROP__FILE_FORMAT", "parquet")
	t.Setenv("DESTINATION__DROP__FILE_GZIP", "true")
	d := file.Destination("drop")
	s, ok := d.Sink().(*file.Sink)
	if !ok {
		t.Fatalf("destination has no file sink: %T", d.Sink())
	}
	if c := s.Config(); c.Dir != dir || c.Format != "parquet" || !c.Gzip || c.Name != file.DefaultName {
		t.Fatalf("config %+v", c)
	}
}
