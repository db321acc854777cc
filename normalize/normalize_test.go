package normalize

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/schema"
)

func TestWrapping(t *testing.T) {
	tests := []struct {
		name    string
		nesting int
		item    any
		want    schema.Row
		tables  int
	}{
		{"int", 0, 1, schema.Row{"value": int64(1)}, 1},
		{"string", 0, "x", schema.Row{"value": "x"}, 1},
		{"bool", 0, true, schema.Row{"value": true}, 1},
		{"list as json", 0, []any{1, "a"}, schema.Row{"value": []any{int64(1), "a"}}, 1},
		{"list as child table", 1, []any{1, 2}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNew(t, Config{MaxNesting: tt.nesting})
			rows := run(t, n, "items", tt.item)
			if tt.want == nil {
				// The root row is empty and not emitted; the list's
				// elements are rows {"value": v} of items__value.
				if len(rows) != 2 || rows[0].table.Name != "items__value" ||
					!reflect.DeepEqual(rows[0].row, schema.Row{"value": int64(1)}) ||
					!reflect.DeepEqual(rows[1].row, schema.Row{"value": int64(2)}) {
					t.Fatalf("rows = %v", rows)
				}
				return
			}
			if len(rows) != 1 || !reflect.DeepEqual(rows[0].row, tt.want) {
				t.Fatalf("rows = %v, want one row %v", rows, tt.want)
			}
			if got := len(n.Tables()); got != tt.tables {
				t.Errorf("%d tables, want %d", got, tt.tables)
			}
		})
	}
}

func TestNullDropping(t *testing.T) {
	tests := []struct {
		name   string
		reuse  bool
		system bool
	}{
		{"copy", false, false},
		{"reuse", true, false},
		{"reuse with system columns", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNew(t, Config{ReuseInput: tt.reuse, SystemColumns: tt.system})
			rows := run(t, n, "t",
				map[string]any{"a": nil, "b": int64(1), "p": (*int)(nil), "m": map[string]any(nil)},
				map[string]any{"a": nil},
			)
			if _, ok := rows[0].row["a"]; ok {
				t.Errorf("row has key a: %v", rows[0].row)
			}
			if _, ok := rows[0].table.Column("a"); ok {
				t.Errorf("column a added from nulls only")
			}
			for _, k := range []string{"p", "m"} {
				if _, ok := rows[0].row[k]; ok {
					t.Errorf("row has key %s: %v", k, rows[0].row)
				}
			}
			if !tt.system && len(rows) != 1 {
				t.Errorf("an all-null row was emitted: %v", rows)
			}
			rows = run(t, n, "t", map[string]any{"a": "x"})
			if c := mustColumn(t, rows[0].table, "a"); !c.Nullable || c.DataType != schema.TypeText {
				t.Errorf("column a = %+v, want nullable text", c)
			}
		})
	}
}

func TestNaming(t *testing.T) {
	item := map[string]any{
		"userName": "a",
		"PErson":   map[string]any{"firstName": "b"},
		"1st":      1,
		"trail_":   2,
		"a.b c":    3,
		"Tags":     []any{"x"},
	}
	tests := []struct {
		name    string
		naming  Convention
		table   string
		tables  []string
		columns []string
	}{
		{"snake_case", SnakeCase, "MyEvents", []string{"my_events", "my_events__tags"},
			[]string{"_1st", "a_b_c", "p_erson__first_name", "trailx", "user_name"}},
		{"direct", Direct, "MyEvents", []string{"MyEvents", "MyEvents__Tags"},
			[]string{"1st", "PErson__firstName", "a.b c", "trail_", "userName"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNew(t, Config{Naming: tt.naming, MaxNesting: 2})
			rows := run(t, n, tt.table, item)
			var tables []string
			for _, tb := range n.Tables() {
				tables = append(tables, tb.Name)
			}
			if !slices.Equal(tables, tt.tables) {
				t.Errorf("tables %v, want %v", tables, tt.tables)
			}
			if got := columnNames(rows[0].table); !slices.Equal(got, tt.columns) {
				t.Errorf("columns %v, want %v (sorted: new columns of one row are added in name order)", got, tt.columns)
			}
			if p := n.Tables()[1].Parent; p != tt.tables[0] {
				t.Errorf("child table parent %q, want %q", p, tt.tables[0])
			}
		})
	}
}

func TestSystemColumns(t *testing.T) {
	item := func() map[string]any {
		return map[string]any{"a": 1, "_dlt_custom": "mine", "_dlt_id": "user id", "_dlt_load_id": 5, "kids": []any{map[string]any{"_dlt_parent_id": "x", "b": 1}}}
	}
	tests := []struct {
		name   string
		system bool
		reuse  bool
	}{
		{"off", false, false},
		{"on", true, false},
		{"on/reuse", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNew(t, Config{SystemColumns: tt.system, ReuseInput: tt.reuse, MaxNesting: 1, LoadID: "load-1"})
			rows := run(t, n, "t", item())
			root, child := rows[0], rows[1]
			if root.row["_dlt_custom"] != "mine" {
				t.Errorf("_dlt_custom dropped: %v", root.row)
			}
			if c := mustColumn(t, root.table, "_dlt_custom"); c.System {
				t.Errorf("_dlt_custom flagged System")
			}
			if !tt.system {
				if root.row["_dlt_id"] != "user id" || root.row["_dlt_load_id"] != int64(5) || child.row["_dlt_parent_id"] != "x" {
					t.Errorf("user values under system names changed without system columns: %v %v", root.row, child.row)
				}
				if _, ok := child.row[ColumnListIdx]; ok {
					t.Errorf("child row has _dlt_list_idx: %v", child.row)
				}
				return
			}
			// The row's own _dlt_id is kept (as dlt does); the other
			// system names are bridge's.
			if id := root.row[ColumnID].(string); id != "user id" {
				t.Errorf("root _dlt_id %q, want the row's own", id)
			}
			if root.row[ColumnLoadID] != "load-1" {
				t.Errorf("_dlt_load_id = %v", root.row[ColumnLoadID])
			}
			if child.row[ColumnParentID] != root.row[ColumnID] || child.row[ColumnListIdx] != int64(0) {
				t.Errorf("child row %v not linked to %v", child.row, root.row)
			}
			for _, c := range []string{ColumnID, ColumnLoadID} {
				if col := mustColumn(t, root.table, c); !col.System || col.DataType != schema.TypeText || col.Nullable {
					t.Errorf("column %+v", col)
				}
			}
			if got := columnNames(root.table); !slices.Equal(got, []string{"_dlt_custom", "a", "_dlt_load_id", "_dlt_id"}) {
				t.Errorf("root columns %v", got)
			}
			if got := columnNames(child.table); !slices.Equal(got, []string{"b", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id"}) {
				t.Errorf("child columns %v", got)
			}
			n.SetLoadID("load-2")
			rows = run(t, n, "t", map[string]any{"a": 2})
			if rows[0].row[ColumnLoadID] != "load-2" {
				t.Errorf("after SetLoadID: %v", rows[0].row)
			}
		})
	}
}

func TestRootIDsAreUnique(t *testing.T) {
	n := mustNew(t, Config{SystemColumns: true})
	seen := map[string]bool{}
	for i := range 1000 {
		rows := run(t, n, "t", i)
		id := rows[0].row[ColumnID].(string)
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}

func TestEvolution(t *testing.T) {
	known := []*schema.Table{
		{Name: "events", Columns: []schema.Column{
			{Name: "id", DataType: schema.TypeBigInt, Nullable: true},
			{Name: "id__v_text", DataType: schema.TypeText, Nullable: true, Variant: true, Of: "id"},
			{Name: "payload", DataType: schema.TypeJSON, Nullable: true},
			{Name: "_dlt_id", DataType: schema.TypeText},
		}},
		{Name: "events__tags", Parent: "events", Columns: []schema.Column{
			{Name: "value", DataType: schema.TypeText, Nullable: true},
		}},
	}
	n := mustNew(t, Config{MaxNesting: 2, SystemColumns: true}, known...)
	if known[0].Columns[3].System {
		t.Fatalf("New modified the known tables")
	}
	if n.Version() != 0 || len(n.Tables()) != 2 {
		t.Fatalf("version %d, %d tables", n.Version(), len(n.Tables()))
	}
	rows := run(t, n, "events", map[string]any{
		"id":      "abc",                            // text goes to the known variant
		"payload": map[string]any{"deep": []any{1}}, // stays json though nesting allows more
		"tags":    []any{7},                         // coerced to the known text column
		"new":     1.5,                              // new column
		"more":    map[string]any{"x": []any{"y"}},  // new flattened column and child table
	})
	root := rows[0]
	if root.row["id__v_text"] != "abc" {
		t.Errorf("row %v", root.row)
	}
	if _, ok := root.row["payload"].(map[string]any); !ok {
		t.Errorf("payload %T, want json", root.row["payload"])
	}
	if c := mustColumn(t, root.table, "_dlt_id"); !c.System {
		t.Errorf("known _dlt_id not flagged System")
	}
	var tags emitted
	for _, e := range rows {
		if e.table.Name == "events__tags" {
			tags = e
		}
	}
	if tags.row["value"] != "7" {
		t.Errorf("tags row %v, want value \"7\" (known text column)", tags.row)
	}
	var names []string
	for _, tb := range n.Tables() {
		names = append(names, tb.Name)
	}
	if want := []string{"events", "events__tags", "events__more__x"}; !slices.Equal(names, want) {
		t.Errorf("tables %v, want %v", names, want)
	}
	v := n.Version()
	if v == 0 {
		t.Errorf("version did not move")
	}
	run(t, n, "events", map[string]any{"id": 5, "new": 2.5})
	if n.Version() != v {
		t.Errorf("version moved without a schema change")
	}
	run(t, n, "events", map[string]any{"other": true})
	if n.Version() != v+1 {
		t.Errorf("version %d after a new column, want %d", n.Version(), v+1)
	}
	// Types never change once set.
	for _, tb := range n.Tables() {
		if tb.Name == "events" {
			if c := mustColumn(t, tb, "id"); c.DataType != schema.TypeBigInt {
				t.Errorf("id changed type to %s", c.DataType)
			}
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		known []*schema.Table
	}{
		{"negative nesting", Config{MaxNesting: -1}, nil},
		{"unknown convention", Config{Naming: Convention(9)}, nil},
		{"duplicate known table", Config{}, []*schema.Table{{Name: "a"}, {Name: "a"}}},
		{"unknown data type", Config{},
			[]*schema.Table{{Name: "a", Columns: []schema.Column{{Name: "c", DataType: "complex"}}}}},
		{"system column of wrong type", Config{SystemColumns: true},
			[]*schema.Table{{Name: "a", Columns: []schema.Column{{Name: "_dlt_id", DataType: schema.TypeBigInt}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, tt.known); !errors.Is(err, ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestTableNames(t *testing.T) {
	long := strings.Repeat("x", 2000)
	tests := []struct {
		name    string
		table   string
		naming  Convention
		want    string
		wantErr bool
	}{
		{"empty", "", Direct, "", true},
		{"invalid utf8", "a\xffb", Direct, "", true},
		{"invalid utf8 snake", "a\xffb", SnakeCase, "", true},
		{"dot", "a.b", Direct, "a.b", false},
		{"star", "*", Direct, "*", false},
		{"gt", ">", Direct, ">", false},
		{"spaces", "my table", Direct, "my table", false},
		{"path", "../x", Direct, "../x", false},
		{"long", long, Direct, long, false},
		{"blank", "  ", Direct, "_empty", false},
		{"dot snake", "a.b", SnakeCase, "a_b", false},
		{"star snake", "*", SnakeCase, "x", false},
		{"gt snake", ">", SnakeCase, "x", false},
		{"path snake", "../x", SnakeCase, "_x", false},
		{"long snake", long, SnakeCase, long, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNew(t, Config{Naming: tt.naming})
			var got string
			err := n.Normalize(1, tt.table, func(tb *schema.Table, _ schema.Row) error {
				got = tb.Name
				return nil
			})
			if tt.wantErr {
				if !errors.Is(err, ErrTableName) {
					t.Fatalf("err = %v, want ErrTableName", err)
				}
				if !strings.Contains(err.Error(), strconv.Quote(tt.table)) {
					t.Errorf("error %q does not quote the name", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("table %q, want %q", got, tt.want)
			}
		})
	}
}

type address struct {
	City string `json:"city"`
	Zip  string `json:"zip,omitempty"`
}

type event struct {
	ID         int64     `json:"id"`
	UserName   string    `json:"user_name"`
	CreatedAt  time.Time `json:"created_at"`
	Amount     float64   `json:"amount"`
	Secret     string    `json:"-"`
	Address    address   `json:"address"`
	Tags       []string  `json:"tags"`
	Note       *string   `json:"note"`
	unexported int
}

func TestStructs(t *testing.T) {
	e := event{ID: 1, UserName: "ann", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Amount: 1.25,
		Secret: "s", Address: address{City: "Oslo"}, Tags: []string{"a"}, unexported: 1}
	tests := []struct {
		name    string
		item    any
		nesting int
		want    schema.Row
	}{
		{"struct nesting 0", e, 0, schema.Row{"id": int64(1), "user_name": "ann",
			"created_at": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "amount": 1.25,
			"address": map[string]any{"city": "Oslo"}, "tags": []any{"a"}}},
		{"pointer nesting 1", &e, 1, schema.Row{"id": int64(1), "user_name": "ann",
			"created_at": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "amount": 1.25, "address__city": "Oslo"}},
		{"struct in a map", map[string]any{"e": address{City: "Oslo", Zip: "1"}}, 0,
			schema.Row{"e": map[string]any{"city": "Oslo", "zip": "1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNew(t, Config{MaxNesting: tt.nesting})
			rows := run(t, n, "events", tt.item)
			if !reflect.DeepEqual(rows[0].row, tt.want) {
				t.Errorf("row %v\nwant %v", rows[0].row, tt.want)
			}
		})
	}
}

func TestReuseInput(t *testing.T) {
	mk := func() map[string]any {
		return map[string]any{
			"id": 1, "userName": "x", "t": "2026-01-02T03:04:05Z", "nil": nil,
			"obj":  map[string]any{"n": json.Number("1"), "deep": map[string]any{"b": []byte("x")}},
			"list": []any{map[string]any{"a": 1}, 2}, "bin": []byte{1},
		}
	}
	for _, nesting := range []int{0, 1, 2} {
		t.Run("copy/nesting"+string(rune('0'+nesting)), func(t *testing.T) {
			n := mustNew(t, Config{MaxNesting: nesting, Naming: SnakeCase, SystemColumns: true})
			in := mk()
			before, _ := json.Marshal(in)
			rows := run(t, n, "t", in, in)
			after, _ := json.Marshal(in)
			if string(before) != string(after) {
				t.Fatalf("input changed:\n%s\n%s", before, after)
			}
			// Rows share nothing mutable with the input.
			for _, e := range rows {
				for k, v := range e.row {
					switch x := v.(type) {
					case []byte:
						x[0] = 99
					case map[string]any:
						x["mutated"] = true
					case []any:
						if len(x) > 0 {
							x[0] = "mutated"
						}
					default:
						_ = k
					}
				}
			}
			if after, _ := json.Marshal(in); string(before) != string(after) {
				t.Fatalf("mutating rows changed the input:\n%s\n%s", before, after)
			}
		})
		t.Run("reuse/nesting"+string(rune('0'+nesting)), func(t *testing.T) {
			n := mustNew(t, Config{MaxNesting: nesting, ReuseInput: true, SystemColumns: true})
			in := map[string]any{"id": int64(1), "t": "2026-01-02T03:04:05Z", "nil": nil}
			rows := run(t, n, "t", in)
			if reflect.ValueOf(rows[0].row).UnsafePointer() != reflect.ValueOf(in).UnsafePointer() {
				t.Errorf("the input map was not reused as the row")
			}
			if _, ok := in["nil"]; ok {
				t.Errorf("null kept in the reused row")
			}
			rows = run(t, n, "t", mk())
			if rows[0].row["user_name"] != nil || rows[0].row["userName"] != "x" {
				// Direct naming: userName stays.
				t.Errorf("row %v", rows[0].row)
			}
		})
	}
}

func TestColumnOrderDeterministic(t *testing.T) {
	var first []string
	for i := range 20 {
		n := mustNew(t, Config{MaxNesting: 1})
		rows := run(t, n, "t", map[string]any{"z": 1, "a": 2, "m": map[string]any{"q": 1, "b": 2}, "k": 1.5, "c": "x"})
		got := columnNames(rows[0].table)
		if i == 0 {
			first = got
			if !slices.IsSorted(got) {
				t.Errorf("columns %v not in name order", got)
			}
			continue
		}
		if !slices.Equal(got, first) {
			t.Fatalf("column order %v, then %v", first, got)
		}
	}
}

func TestEmitError(t *testing.T) {
	n := mustNew(t, Config{MaxNesting: 1})
	boom := errors.New("boom")
	calls := 0
	err := n.Normalize(map[string]any{"a": []any{1, 2, 3}}, "t", func(*schema.Table, schema.Row) error {
		calls++
		if calls == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls != 2 {
		t.Fatalf("err = %v after %d calls", err, calls)
	}
	// The normalizer goes on working.
	rows := run(t, n, "t", map[string]any{"a": []any{1}})
	if len(rows) != 1 || rows[0].row["value"] != int64(1) {
		t.Errorf("rows %v", rows)
	}
}

func TestEmitSeesLiveTable(t *testing.T) {
	n := mustNew(t, Config{})
	var tables []*schema.Table
	emit := func(tb *schema.Table, _ schema.Row) error { tables = append(tables, tb); return nil }
	for _, item := range []any{map[string]any{"a": 1}, map[string]any{"b": 1}} {
		if err := n.Normalize(item, "t", emit); err != nil {
			t.Fatal(err)
		}
	}
	if tables[0] != tables[1] || len(tables[0].Columns) != 2 {
		t.Errorf("emit did not get the same live table")
	}
}
