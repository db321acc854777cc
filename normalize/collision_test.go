package normalize

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/fanoutbridge/bridge/schema"
)

// decodeItems parses JSON lines as the producer does (numbers as
// json.Number), so every call gets fresh maps to give away.
func decodeItems(t *testing.T, lines ...string) []any {
	t.Helper()
	items := make([]any, len(lines))
	for i, l := range lines {
		dec := json.NewDecoder(bytes.NewReader([]byte(l)))
		dec.UseNumber()
		if err := dec.Decode(&items[i]); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	return items
}

// rowsByTable groups emitted rows by table name, in order.
func rowsByTable(rows []emitted) map[string][]schema.Row {
	out := map[string][]schema.Row{}
	for _, e := range rows {
		out[e.table.Name] = append(out[e.table.Name], e.row)
	}
	return out
}

type row = map[string]any

func TestCollisions(t *testing.T) {
	tests := []struct {
		name    string
		naming  Convention
		nesting int
		items   []string
		want    map[string][]schema.Row
	}{
		{"direct: quote becomes _", Direct, 0,
			[]string{`{"x\"y":1,"x_y":2}`},
			map[string][]schema.Row{"t": {{"x_y": int64(2), "x_y_2": int64(1)}}}},
		{"snake_case: camelCase", SnakeCase, 0,
			[]string{`{"fooBar":1,"foo_bar":2}`},
			map[string][]schema.Row{"t": {{"foo_bar": int64(2), "foo_bar_2": int64(1)}}}},
		{"snake_case: three keys, suffixes by raw key", SnakeCase, 0,
			[]string{`{"fooBar":1,"foo_bar":2,"FooBar":3,"foo-bar":4}`},
			// Raw key order: "FooBar" < "foo-bar" < "fooBar".
			map[string][]schema.Row{"t": {{"foo_bar": int64(2), "foo_bar_2": int64(3), "foo_bar_3": int64(4), "foo_bar_4": int64(1)}}}},
		{"snake_case: no exact key, all by raw key", SnakeCase, 0,
			[]string{`{"fooBar":1,"FooBar":2}`},
			map[string][]schema.Row{"t": {{"foo_bar": int64(2), "foo_bar_2": int64(1)}}}},
		{"snake_case: a suffixed name that is also a key", SnakeCase, 0,
			[]string{`{"fooBar":1,"foo_bar":2,"foo_bar_2":3}`},
			map[string][]schema.Row{"t": {{"foo_bar": int64(2), "foo_bar_2": int64(3), "foo_bar_3": int64(1)}}}},
		{"direct: flattened keys", Direct, 1,
			[]string{`{"a":{"x\"y":1,"x_y":2}}`},
			map[string][]schema.Row{"t": {{"a__x_y": int64(2), "a__x_y_2": int64(1)}}}},
		{"snake_case: flattened keys", SnakeCase, 1,
			[]string{`{"a":{"fooBar":1,"foo_bar":2}}`},
			map[string][]schema.Row{"t": {{"a__foo_bar": int64(2), "a__foo_bar_2": int64(1)}}}},
		{"snake_case: flattened objects", SnakeCase, 2,
			[]string{`{"a":{"x":1,"y":{"z":3}},"A":{"x":2,"y":{"z":4}}}`},
			map[string][]schema.Row{"t": {{"a__x": int64(1), "a__y__z": int64(3), "a_2__x": int64(2), "a_2__y__z": int64(4)}}}},
		{"direct: a key with __ and a flattened path", Direct, 1,
			[]string{`{"a":{"b":1},"a__b":2}`},
			// Shallower keys are named first.
			map[string][]schema.Row{"t": {{"a__b": int64(2), "a__b_2": int64(1)}}}},
		{"direct: flattened paths through different objects", Direct, 2,
			[]string{`{"a":{"b__c":1},"a__b":{"c":2}}`},
			// Same depth, neither exact first: by key path, ["a","b__c"] < ["a__b","c"].
			map[string][]schema.Row{"t": {{"a__b__c": int64(1), "a__b__c_2": int64(2)}}}},
		{"direct: child tables", Direct, 1,
			[]string{`{"l\"x":[1],"l_x":[2]}`},
			map[string][]schema.Row{"t": nil, "t__l_x": {{"value": int64(2)}}, "t__l_x_2": {{"value": int64(1)}}}},
		{"snake_case: child tables", SnakeCase, 1,
			[]string{`{"tagList":["a"],"tag_list":["b"]}`},
			map[string][]schema.Row{"t": nil, "t__tag_list": {{"value": "b"}}, "t__tag_list_2": {{"value": "a"}}}},
		{"snake_case: a list and a column", SnakeCase, 1,
			[]string{`{"tagList":["a"],"tag_list":"b"}`},
			map[string][]schema.Row{"t": {{"tag_list": "b"}}, "t__tag_list_2": {{"value": "a"}}}},
		{"snake_case: keys of child rows", SnakeCase, 1,
			[]string{`{"l":[{"fooBar":1,"foo_bar":2}]}`},
			map[string][]schema.Row{"t": nil, "t__l": {{"foo_bar": int64(2), "foo_bar_2": int64(1)}}}},
		{"direct: a key with a variant's name", Direct, 0,
			[]string{`{"n":1}`, `{"n":1.5,"n__v_double":2.5}`},
			map[string][]schema.Row{"t": {{"n": int64(1)}, {"n__v_double": 2.5, "n__v_double_2": 1.5}}}},
		{"snake_case: the first key keeps its name in later rows", SnakeCase, 0,
			[]string{`{"fooBar":1}`, `{"foo_bar":2,"fooBar":3}`, `{"foo_bar":4}`},
			map[string][]schema.Row{"t": {{"foo_bar": int64(1)}, {"foo_bar": int64(3), "foo_bar_2": int64(2)}, {"foo_bar_2": int64(4)}}}},
	}
	for _, tt := range tests {
		for _, reuse := range []bool{false, true} {
			name := tt.name
			if reuse {
				name += "/reuse"
			}
			t.Run(name, func(t *testing.T) {
				// Map iteration order differs from run to run: the outcome
				// must not.
				for range 20 {
					n := mustNew(t, Config{Naming: tt.naming, MaxNesting: tt.nesting, ReuseInput: reuse})
					got := rowsByTable(run(t, n, "t", decodeItems(t, tt.items...)...))
					for table, rows := range tt.want {
						if rows == nil {
							continue // the table has no values of its own
						}
						if !reflect.DeepEqual(got[table], rows) {
							t.Fatalf("table %q: rows %v, want %v (all tables: %v)", table, got[table], rows, got)
						}
					}
					for table := range got {
						if _, ok := tt.want[table]; !ok {
							t.Fatalf("unexpected table %q: %v", table, got)
						}
					}
				}
			})
		}
	}
}

// TestCollisionsAcrossRuns checks that a later run, starting from the stored
// schema, names every key as the first run did.
func TestCollisionsAcrossRuns(t *testing.T) {
	for _, naming := range []Convention{Direct, SnakeCase} {
		t.Run(naming.String(), func(t *testing.T) {
			first := []string{
				`{"fooBar":1,"foo_bar":2,"x\"y":3,"x_y":4}`,
				`{"a":{"fooBar":5,"foo_bar":6},"A":{"b":7},"tagList":[8],"tag_list":[9]}`,
				`{"n":1}`, `{"n":1.5,"n__v_double":2.5}`,
			}
			cfg := Config{Naming: naming, MaxNesting: 2}
			n := mustNew(t, cfg)
			want := rowsByTable(run(t, n, "t", decodeItems(t, first...)...))

			// Store and load the schema as the pipeline does.
			b, err := json.Marshal(n.Tables())
			if err != nil {
				t.Fatal(err)
			}
			var known []*schema.Table
			if err := json.Unmarshal(b, &known); err != nil {
				t.Fatal(err)
			}
			// Each key alone, and in another order: the names stay.
			again := []string{
				`{"foo_bar":2}`, `{"fooBar":1}`, `{"x_y":4}`, `{"x\"y":3}`,
				`{"A":{"b":7}}`, `{"a":{"foo_bar":6}}`, `{"a":{"fooBar":5}}`,
				`{"tag_list":[9]}`, `{"tagList":[8]}`, `{"n":1.5}`, `{"n__v_double":2.5}`,
			}
			n2 := mustNew(t, cfg, known...)
			got := map[string]schema.Row{}
			for _, e := range run(t, n2, "t", decodeItems(t, again...)...) {
				if got[e.table.Name] == nil {
					got[e.table.Name] = schema.Row{}
				}
				for k, v := range e.row {
					got[e.table.Name][k] = v
				}
			}
			merged := map[string]schema.Row{}
			for table, rows := range want {
				merged[table] = schema.Row{}
				for _, r := range rows {
					for k, v := range r {
						if k != "n" || v != int64(1) {
							merged[table][k] = v
						}
					}
				}
			}
			if !reflect.DeepEqual(got, merged) {
				t.Fatalf("second run: %v\nfirst run: %v", got, merged)
			}
			if n2.Version() != 0 {
				t.Errorf("second run changed the schema (version %d)", n2.Version())
			}
		})
	}
}

// TestCollisionsWithOldSchema checks a stored schema without Keys: its
// columns go to the first key that normalizes to them, as before, and a
// second key gets a suffix.
func TestCollisionsWithOldSchema(t *testing.T) {
	known := &schema.Table{Name: "t", Columns: []schema.Column{
		{Name: "foo_bar", DataType: schema.TypeBigInt, Nullable: true},
		{Name: "a__b", DataType: schema.TypeBigInt, Nullable: true},
	}}
	n := mustNew(t, Config{Naming: SnakeCase, MaxNesting: 1}, known)
	got := rowsByTable(run(t, n, "t", decodeItems(t, `{"fooBar":1,"a":{"b":2}}`, `{"foo_bar":3}`)...))
	want := []schema.Row{{"foo_bar": int64(1), "a__b": int64(2)}, {"foo_bar_2": int64(3)}}
	if !reflect.DeepEqual(got["t"], want) {
		t.Fatalf("rows %v, want %v", got["t"], want)
	}
}

func TestTablesCarryKeys(t *testing.T) {
	n := mustNew(t, Config{Naming: SnakeCase, MaxNesting: 1})
	rows := run(t, n, "t", decodeItems(t, `{"fooBar":1,"foo_bar":2,"a":{"b":3},"l":[4]}`)...)
	for _, e := range rows {
		if e.table.Keys != nil {
			t.Fatalf("emitted table %q carries Keys", e.table.Name)
		}
	}
	want := map[string][]string{"foo_bar": {"foo_bar"}, "foo_bar_2": {"fooBar"}, "a": {"a"}, "a__b": {"a", "b"}, "l": {"l"}}
	if got := n.Tables()[0].Keys; !reflect.DeepEqual(got, want) {
		t.Fatalf("Keys %v, want %v", got, want)
	}
}
