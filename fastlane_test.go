package bridge

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/internal/jsonv"
)

// TestJSONLinesRowsAsGoValues checks that JSON lines, which go from the
// reader to the encoder as values by column index wherever a row fits the
// columns as they stand, reach the destination as the same rows, with the
// same columns, as the same items given as Go values (maps, normalized the
// general way): with rows from the row cache and decoded from the stream,
// with and without ReuseRows, while new keys, coerced values, variants,
// duplicate keys, nulls and keys in another order come and go mid-batch.
func TestJSONLinesRowsAsGoValues(t *testing.T) {
	forEachBackend(t, testJSONLinesRowsAsGoValues)
}

func testJSONLinesRowsAsGoValues(t *testing.T, b backend) {
	const n = 2000
	var lines []string
	for i := range n {
		fields := []string{
			fmt.Sprintf(`"id":%d`, i),
			fmt.Sprintf(`"name":"n%d"`, i),
			fmt.Sprintf(`"at":"2026-01-02T03:04:%02d.5Z"`, i%60),
			fmt.Sprintf(`"x":%d.25`, i),
			`"ok":true`,
			fmt.Sprintf(`"o":{"a":[%d,"s"],"b":null}`, i), // canonical: travels as it stands
			fmt.Sprintf(`"l":["t",%d,{}]`, i),
		}
		switch {
		case i%11 == 0:
			fields[5] = fmt.Sprintf(`"o":{"b":null, "a":[%d,"s"]}`, i) // not canonical: parsed
		case i%29 == 0:
			fields[5] = fmt.Sprintf(`"o":{"a":[%d.5,"s\n"],"b":null}`, i)
		}
		switch {
		case i%13 == 0:
			fields[3] = fmt.Sprintf(`"x":%d`, i) // an integer into a double column
		case i%17 == 0:
			fields[1] = `"name":"dup","name":null` // the last of duplicate keys wins
		case i%19 == 0:
			fields[2] = `"at":"not a time"` // a variant column
		case i%23 == 0:
			fields[4] = `"ok":null`
		}
		if i >= n/2 && i%7 == 0 {
			fields = append(fields, fmt.Sprintf(`"extra_%d":"e"`, i%3)) // new columns mid-load
		}
		if i%5 == 0 {
			slices.Reverse(fields)
		}
		lines = append(lines, "{"+strings.Join(fields, ",")+"}")
	}
	compareWithGoValues(t, b, lines)
}

// TestNestedJSONAsGoValues checks that nested objects and lists, which go
// from the reader to the encoder as the text they came in when it is
// already in the form the encoders write (jsonv.Raw), reach the destination
// as the same maps and lists as the same items given as Go values, in both
// formats: regular rows, so that most batches are values only.
func TestNestedJSONAsGoValues(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		var lines []string
		for i := range 1500 {
			o := fmt.Sprintf(`{"city":"c%d","geo":{"lat":%d,"tags":["x",null,true,{}]},"zip":"%05d"}`, i%7, i, i)
			switch {
			case i%50 == 0:
				o = fmt.Sprintf(`{"zip":"%05d", "city":"c%d"}`, i, i%7) // not canonical: parsed
			case i%70 == 0:
				o = fmt.Sprintf(`{"city":"S\u00e3o","lat":%d.5}`, i)
			}
			lines = append(lines, fmt.Sprintf(`{"id":%d,"address":%s,"tags":["t%d","São",%d],"none":[]}`, i, o, i%3, i))
		}
		for _, f := range []FileFormat{TypedJSONL, Parquet} {
			t.Run(string(f), func(t *testing.T) { compareWithGoValues(t, b, lines, LoaderFileFormat(f)) })
		}
	})
}

// compareWithGoValues loads lines as JSON lines and the same items as Go
// values, and checks that the destination gets the same rows and columns:
// with rows from the row cache and decoded from the stream, with and
// without ReuseRows.
func compareWithGoValues(t *testing.T, b backend, lines []string, extra ...Option) {
	t.Helper()
	n := len(lines)
	// The same items as Go values.
	var items []any
	for _, l := range lines {
		v, err := jsonv.ParseString(l)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, v)
	}
	type run struct {
		rows    map[int64]string
		columns []string
	}
	load := func(t *testing.T, input any, reuse bool, opts ...PipelineOption) run {
		var mu sync.Mutex
		r := run{rows: map[int64]string{}}
		fn := func(ctx context.Context, rows []Row, table Table) error {
			mu.Lock()
			defer mu.Unlock()
			for _, row := range rows {
				id := row["id"].(int64)
				if _, dup := r.rows[id]; dup {
					return fmt.Errorf("row %d twice", id)
				}
				r.rows[id] = rowText(row)
			}
			if cols := columnText(table); len(cols) > len(r.columns) {
				r.columns = cols // calls run in parallel: keep the widest
			}
			return nil
		}
		dopts := append([]Option{BatchSize(300)}, extra...)
		if reuse {
			dopts = append(dopts, ReuseRows())
		}
		p := newEnv(t, b).open(NewDestination("d", fn, dopts...), opts...)
		if _, err := p.Run(ctxT(t), input, TableName("events")); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if len(r.rows) != n {
			t.Fatalf("%d rows delivered, want %d", len(r.rows), n)
		}
		return r
	}
	want := load(t, items, false)
	for _, c := range []struct {
		name  string
		reuse bool
		cache int
	}{
		{"row cache", false, DefaultRowCache},
		{"row cache, ReuseRows", true, DefaultRowCache},
		{"decoded from the stream", false, 0},
		{"decoded from the stream, ReuseRows", true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := load(t, strings.NewReader(strings.Join(lines, "\n")+"\n"), c.reuse, WithRowCache(c.cache))
			if !slices.Equal(got.columns, want.columns) {
				t.Fatalf("columns\n%v\nwant (as Go values)\n%v", got.columns, want.columns)
			}
			for _, id := range slices.Sorted(maps.Keys(want.rows)) {
				if got.rows[id] != want.rows[id] {
					t.Fatalf("row %d (line %q):\n%s\nwant (as Go values)\n%s", id, lines[id], got.rows[id], want.rows[id])
				}
			}
		})
	}
}

// rowText prints a row's keys in order with its values and their Go types,
// the system columns, which differ from load to load, left out.
func rowText(row Row) string {
	var sb strings.Builder
	for _, k := range slices.Sorted(maps.Keys(row)) {
		if strings.HasPrefix(k, "_dlt_") {
			continue
		}
		v := row[k]
		if ts, ok := v.(time.Time); ok {
			v = ts.Format(time.RFC3339Nano) + " " + ts.Location().String()
		}
		fmt.Fprintf(&sb, "%s=%#v ", k, v)
	}
	return sb.String()
}

func columnText(t Table) []string {
	var out []string
	for _, c := range t.Columns {
		out = append(out, c.Name+" "+string(c.DataType))
	}
	return out
}

// TestLoadFilesOfArrayRows checks that a file destination gets the same
// typed JSON-lines load files, one object per row, from JSON lines (which
// travel with dense rows written as arrays) as from the same items as Go
// values (which travel as objects).
func TestLoadFilesOfArrayRows(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		var lines []string
		// A load's first batch starts with a row that adds columns, and
		// goes as maps; the next ones, of values.
		for i := range 2500 {
			line := fmt.Sprintf(`{"id":%d,"name":"n%d","address":{"city":"c%d"},"at":"2026-01-02T03:04:05Z"}`, i, i, i%7)
			if i%9 == 0 {
				line = fmt.Sprintf(`{"id":%d}`, i)
			}
			lines = append(lines, line)
		}
		var items []any
		for _, l := range lines {
			v, err := jsonv.ParseString(l)
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, v)
		}
		load := func(t *testing.T, input any) []string {
			var mu sync.Mutex
			var got []string
			fn := func(ctx context.Context, path string, table Table) error {
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
					if !strings.HasPrefix(l, "{") {
						return fmt.Errorf("load file line %q is not an object", l)
					}
					got = append(got, l)
				}
				return nil
			}
			p := newEnv(t, b).open(NewFileDestination("files", fn, FileMaxItems(1000)), WithRowCache(0))
			if _, err := p.Run(ctxT(t), input, TableName("events")); err != nil {
				t.Fatalf("Run: %v", err)
			}
			slices.Sort(got)
			return got
		}
		want := load(t, items)
		got := load(t, strings.NewReader(strings.Join(lines, "\n")+"\n"))
		if len(got) != len(lines) || !slices.Equal(got, want) {
			t.Fatalf("load files from JSON lines (%d lines) differ from those of Go values (%d lines):\n%.500s\nwant\n%.500s",
				len(got), len(want), strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
