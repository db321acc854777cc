package batcher

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// valsOf returns rows as values by column index of tab.
func valsOf(t testing.TB, tab *schema.Table, rows []schema.Row) []schema.Vals {
	t.Helper()
	out := make([]schema.Vals, len(rows))
	for i, row := range rows {
		v, ok := schema.ValsOf(tab, row)
		if !ok {
			t.Fatalf("row %d %v: a key is not a column of %q", i, row, tab.Name)
		}
		out[i] = v
	}
	return out
}

// rawVals returns vals with their objects and lists as jsonv.Raw, the text
// AppendValue writes for them, as the reader leaves canonical ones.
func rawVals(t testing.TB, vals []schema.Vals) []schema.Vals {
	t.Helper()
	out := make([]schema.Vals, len(vals))
	for i, v := range vals {
		out[i] = append(schema.Vals(nil), v...)
		for j, x := range v {
			switch x.(type) {
			case map[string]any, []any:
				b, err := jsonv.AppendValue(nil, x)
				if err != nil {
					t.Fatal(err)
				}
				out[i][j] = jsonv.Raw(b)
			}
		}
	}
	return out
}

// TestEncodeBatchVals checks that a batch of values (Batch.Vals) encodes to
// the payload its rows as maps encode to, in both formats and with a ref,
// including rows shorter than the table (columns added after them).
func TestEncodeBatchVals(t *testing.T) {
	tab, rows := jsonlEventRows(t, 300)
	all := jsonlAllTypes(t)
	allRows := []schema.Row{{
		"text": "héllo\n", "bigint": int64(-42), "double": 1.5, "bool": true,
		"timestamp": time.Date(2026, 1, 24, 8, 15, 14, 123456789, time.UTC),
		"date":      schema.Date{Year: 2024, Month: time.February, Day: 29},
		"time":      schema.TimeOfDay{Hour: 23, Minute: 59, Second: 59, Nanosecond: 1},
		"decimal":   schema.MustDecimal("1.5"), "binary": []byte{0, 1},
		"json": map[string]any{"a": []any{int64(1), nil}},
	}, {"bigint": int64(1)}, {}}
	short := all.Clone()
	short.Columns = short.Columns[:3] // the rows were made when it had 3 columns
	shortVals := []schema.Vals{{"a", int64(1), 2.5}, {nil, int64(2)}, {}}
	shortRows := []schema.Row{{"text": "a", "bigint": int64(1), "double": 2.5}, {"bigint": int64(2)}, {}}
	sparseRows := []schema.Row{{"json": []any{}}, {"text": "a", "binary": []byte{1}}}
	ref := &SchemaRef{Table: tab.Name, Columns: len(tab.Columns), Sum: "abc"}
	cases := []struct {
		name   string
		ref    *SchemaRef
		tab    *schema.Table
		rows   []schema.Row
		vals   []schema.Vals
		arrays int // rows written as arrays
	}{
		{"events", nil, tab, rows, valsOf(t, tab, rows), len(rows)},
		{"events by ref", ref, tab, rows, valsOf(t, tab, rows), len(rows)},
		// {"bigint":1} is an array too ([null,1]); {} is not.
		{"every type", nil, all, allRows, valsOf(t, all, allRows), 2},
		{"rows shorter than the table", nil, all, shortRows, shortVals, 2},
		{"events with raw json", nil, tab, rows, rawVals(t, valsOf(t, tab, rows)), len(rows)},
		{"every type with raw json", nil, all, allRows, rawVals(t, valsOf(t, all, allRows)), 2},
		// Where the nulls before a row's last value outweigh its keys.
		{"sparse", nil, all, sparseRows, valsOf(t, all, sparseRows), 0},
	}
	for _, c := range cases {
		for _, f := range []Format{TypedJSONL, Parquet} {
			if c.ref != nil && f == Parquet {
				continue
			}
			t.Run(c.name+"/"+string(f), func(t *testing.T) {
				fromRows, err := EncodeBatch(nil, f, c.ref, Batch{Table: c.tab, Rows: c.rows})
				if err != nil {
					t.Fatal(err)
				}
				fromVals, err := EncodeBatch(nil, f, c.ref, Batch{Table: c.tab, Vals: c.vals})
				if err != nil {
					t.Fatal(err)
				}
				// A payload of values writes the rows that hold most of
				// their columns as arrays: the same rows come back.
				if f == Parquet && !bytes.Equal(fromRows, fromVals) {
					t.Fatalf("payloads differ:\nrows: %.300q\nvals: %.300q", fromRows, fromVals)
				}
				if f == TypedJSONL {
					arrays := bytes.Count(fromVals, []byte("\n["))
					if want := c.arrays; arrays != want {
						t.Fatalf("%d array lines, want %d:\n%s", arrays, want, fromVals)
					}
					if _, err := LoadFile(f, fromVals); (arrays > 0) != errors.Is(err, ErrArrayRows) {
						t.Fatalf("LoadFile of a payload with %d array lines: %v", arrays, err)
					}
				}
				_, back, err := DecodeWith(f, fromVals, func(SchemaRef) (*schema.Table, error) { return c.tab, nil })
				if err != nil {
					t.Fatal(err)
				}
				for i := range back {
					if !jsonlEqual(back[i], c.rows[i]) {
						t.Fatalf("row %d = %v, want %v", i, back[i], c.rows[i])
					}
				}
			})
		}
	}
	for _, f := range []Format{TypedJSONL, Parquet} {
		_, err := EncodeBatch(nil, f, nil, Batch{Table: short, Vals: []schema.Vals{{"a", int64(1), 2.5, true}}})
		if err == nil || !strings.Contains(err.Error(), "4 values for the 3 columns") {
			t.Errorf("%s: a row longer than the table: %v", f, err)
		}
		_, err = EncodeBatch(nil, f, nil, Batch{Table: short, Vals: []schema.Vals{{int64(1)}}})
		if err == nil || !strings.Contains(err.Error(), "int64") {
			t.Errorf("%s: a value of the wrong type: %v", f, err)
		}
	}
}

// TestBatcherAddVals checks that rows added as values and as maps keep
// their order in one batch: a batch that has values converts maps to
// values, one that has maps converts values to maps, and a map with a key
// the table does not have turns the batch back to maps (for the encoder to
// refuse it).
func TestBatcherAddVals(t *testing.T) {
	tab := jsonlTable(t, "t", "a", schema.TypeBigInt, "b", schema.TypeText)
	var got []Batch
	b := New(3, func(bt Batch) error { got = append(got, bt); return nil })
	adds := []func() error{
		func() error { return b.AddVals(tab, schema.Vals{int64(1), "x"}) },
		func() error { return b.Add(tab, schema.Row{"b": "y"}) },
		func() error { return b.AddVals(tab, schema.Vals{int64(3)}) },
		// Maps first, then values.
		func() error { return b.Add(tab, schema.Row{"a": int64(4)}) },
		func() error { return b.AddVals(tab, schema.Vals{nil, "z"}) },
		func() error { return b.AddVals(tab, schema.Vals{int64(6), "w"}) },
		// Values, then a map that is not a row of the table.
		func() error { return b.AddVals(tab, schema.Vals{int64(7)}) },
		func() error { return b.Add(tab, schema.Row{"nope": int64(8)}) },
	}
	for i, add := range adds {
		if err := add(); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"vals", "map[a:1 b:x]", "map[b:y]", "map[a:3]"},
		{"rows", "map[a:4]", "map[b:z]", "map[a:6 b:w]"},
		{"rows", "map[a:7]", "map[nope:8]"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i, bt := range got {
		kind := "rows"
		var rows []string
		if len(bt.Vals) > 0 {
			kind = "vals"
			for _, v := range bt.Vals {
				rows = append(rows, fmt.Sprint(schema.RowOf(bt.Table, v)))
			}
		} else {
			for _, r := range bt.Rows {
				rows = append(rows, fmt.Sprint(r))
			}
		}
		if g := append([]string{kind}, rows...); !reflect.DeepEqual(g, want[i]) || bt.Len() != len(want[i])-1 || bt.Seq != i+1 {
			t.Errorf("batch %d (seq %d, len %d): %v, want %v", i, bt.Seq, bt.Len(), g, want[i])
		}
	}
	// Values turned into maps hold no raw JSON: what it stands for.
	tj := jsonlTable(t, "j", "a", schema.TypeBigInt, "j", schema.TypeJSON)
	got = nil
	for _, add := range []func() error{
		func() error { return b.Add(tj, schema.Row{"a": int64(1)}) },
		func() error { return b.AddVals(tj, schema.Vals{int64(2), jsonv.Raw(`{"k":[1,"x"]}`)}) },
		func() error { return b.AddVals(tj, schema.Vals{int64(3), jsonv.Raw(`[]`)}) },
	} {
		if err := add(); err != nil {
			t.Fatal(err)
		}
	}
	wantRows := []schema.Row{{"a": int64(1)}, {"a": int64(2), "j": map[string]any{"k": []any{int64(1), "x"}}}, {"a": int64(3), "j": []any{}}}
	if len(got) != 1 || !reflect.DeepEqual(got[0].Rows, wantRows) {
		t.Errorf("raw JSON values into a batch of maps: %#v, want %#v", got, wantRows)
	}
	if r := RowOf(tj, schema.Vals{nil, jsonv.Raw(`{"a":{}}`)}); !reflect.DeepEqual(r, schema.Row{"j": map[string]any{"a": map[string]any{}}}) {
		t.Errorf("RowOf with raw JSON = %#v", r)
	}
	// The byte estimate of a row is the same either way.
	row := schema.Row{"a": int64(1), "b": "text"}
	if a, v := RowBytes(row), ValsBytes(tab, valsOf(t, tab, []schema.Row{row})[0]); a != v {
		t.Errorf("RowBytes %d, ValsBytes %d", a, v)
	}
}

// TestRowDecoderRows checks that RowDecoder.Rows makes the rows of values
// in the maps of its last decode, and that Clear empties them.
func TestRowDecoderRows(t *testing.T) {
	tab, rows := jsonlEventRows(t, 50)
	vals := valsOf(t, tab, rows)
	var rd RowDecoder
	first := rd.Rows(tab, vals[:40])
	if !reflect.DeepEqual(first, rows[:40]) {
		t.Fatal("rows differ")
	}
	kept := first[0]
	second := rd.Rows(tab, vals[40:])
	if !reflect.DeepEqual(second, rows[40:]) {
		t.Fatal("rows of the second call differ")
	}
	if reflect.ValueOf(second[0]).UnsafePointer() != reflect.ValueOf(kept).UnsafePointer() {
		t.Error("the second call did not reuse the first's maps")
	}
	third := rd.Rows(tab, vals)
	if !reflect.DeepEqual(third, rows) {
		t.Fatal("rows of the third call differ")
	}
	// A map that held as many keys, but others (a function that changed
	// its rows), is made right.
	third[0]["foreign"] = "x"
	delete(third[0], "id")
	fourth := rd.Rows(tab, vals[:1])
	if !reflect.DeepEqual(fourth, rows[:1]) {
		t.Fatalf("a changed map was not made right: %v", fourth[0])
	}
	rd.Clear()
	if again := rd.Rows(tab, vals); !reflect.DeepEqual(again, rows) {
		t.Fatal("rows after Clear differ")
	}
	// Raw JSON values are parsed into what they stand for.
	if again := rd.Rows(tab, rawVals(t, vals)); !reflect.DeepEqual(again, rows) {
		t.Fatal("rows of raw JSON values differ")
	}
	rd.Clear()
	for i, row := range third {
		if len(row) != 0 {
			t.Fatalf("row %d not cleared: %v", i, row)
		}
	}
}
