package normalize

import (
	"reflect"
	"slices"
	"testing"

	"github.com/fanoutbridge/bridge/schema"
)

// fourLevels is a root with a list of children, each with a list of
// grandchildren, each with a list of great-grandchildren objects.
func fourLevels() map[string]any {
	ggc := func(i int) []any { return []any{map[string]any{"g": i}, map[string]any{"g": i + 1}} }
	gc := func(i int) []any {
		return []any{map[string]any{"name": "gc", "items": ggc(i)}, map[string]any{"name": "gc2", "items": ggc(i + 10)}}
	}
	return map[string]any{
		"id":       1,
		"meta":     map[string]any{"a": map[string]any{"b": 1}},
		"children": []any{map[string]any{"name": "c0", "kids": gc(0)}, map[string]any{"name": "c1", "kids": gc(100)}},
	}
}

func TestNesting(t *testing.T) {
	tests := []struct {
		nesting int
		tables  []string
		rows    int
	}{
		{0, []string{"root"}, 1},
		{1, []string{"root", "root__children"}, 3},
		{2, []string{"root", "root__children", "root__children__kids"}, 7},
		{3, []string{"root", "root__children", "root__children__kids", "root__children__kids__items"}, 15},
		{10, []string{"root", "root__children", "root__children__kids", "root__children__kids__items"}, 15},
	}
	for _, tt := range tests {
		for _, reuse := range []bool{false, true} {
			name := "nesting" + string(rune('0'+tt.nesting))
			if tt.nesting == 10 {
				name = "nesting10"
			}
			if reuse {
				name += "/reuse"
			}
			t.Run(name, func(t *testing.T) {
				n := mustNew(t, Config{MaxNesting: tt.nesting, SystemColumns: true, ReuseInput: reuse})
				rows := run(t, n, "root", fourLevels())
				var tables []string
				for _, tb := range n.Tables() {
					tables = append(tables, tb.Name)
				}
				if !slices.Equal(tables, tt.tables) {
					t.Fatalf("tables %v, want %v", tables, tt.tables)
				}
				if len(rows) != tt.rows {
					t.Fatalf("%d rows, want %d", len(rows), tt.rows)
				}
				checkLinks(t, rows)
				root := rows[0].row
				switch tt.nesting {
				case 0:
					if _, ok := root["children"].([]any); !ok {
						t.Errorf("children is %T, want json list", root["children"])
					}
					if _, ok := root["meta"].(map[string]any); !ok {
						t.Errorf("meta is %T, want json object", root["meta"])
					}
				case 1:
					if _, ok := root["meta__a"].(map[string]any); !ok {
						t.Errorf("meta__a is %T, want json object: %v", root["meta__a"], root)
					}
					if _, ok := rows[1].row["kids"].([]any); !ok {
						t.Errorf("kids in a child row is %T, want json", rows[1].row["kids"])
					}
				default:
					if root["meta__a__b"] != int64(1) {
						t.Errorf("meta__a__b = %v: %v", root["meta__a__b"], root)
					}
				}
			})
		}
	}
}

// checkLinks checks that rows come root first, then depth-first in list
// order, with child rows linked to the row before them in their parent
// table.
func checkLinks(t *testing.T, rows []emitted) {
	t.Helper()
	if rows[0].table.Parent != "" {
		t.Fatalf("first row is in %q, not the root table", rows[0].table.Name)
	}
	last := map[string]schema.Row{} // table -> its latest row
	nextIdx := map[string]int64{}   // parent id + table -> next list index
	for _, e := range rows {
		id, ok := e.row[ColumnID].(string)
		if !ok || len(id) != idChars {
			t.Fatalf("row %v: bad _dlt_id", e.row)
		}
		if e.table.Parent == "" {
			if _, ok := e.row[ColumnLoadID]; !ok {
				t.Fatalf("root row %v without _dlt_load_id", e.row)
			}
			last[e.table.Name] = e.row
			continue
		}
		parent, ok := last[e.table.Parent]
		if !ok {
			t.Fatalf("row of %q before any row of its parent %q", e.table.Name, e.table.Parent)
		}
		pid := parent[ColumnID].(string)
		if e.row[ColumnParentID] != pid {
			t.Fatalf("row %v: _dlt_parent_id is not the latest parent row's id %q", e.row, pid)
		}
		key := pid + "/" + e.table.Name
		if e.row[ColumnListIdx] != nextIdx[key] {
			t.Fatalf("row %v: _dlt_list_idx, want %d", e.row, nextIdx[key])
		}
		nextIdx[key]++
		ids := newIDs()
		if want := ids.child(pid, e.table.Name, int(e.row[ColumnListIdx].(int64))); id != want {
			t.Fatalf("child id %q, want digest %q", id, want)
		}
		for _, c := range []string{ColumnID, ColumnParentID, ColumnListIdx} {
			if col := mustColumn(t, e.table, c); !col.System || col.Nullable {
				t.Fatalf("column %+v: want System, not nullable", col)
			}
		}
		last[e.table.Name] = e.row
	}
}

func TestListOfLists(t *testing.T) {
	n := mustNew(t, Config{MaxNesting: 3, SystemColumns: true})
	rows := run(t, n, "t", map[string]any{"m": []any{[]any{1, 2}, []any{3}}})
	want := []struct {
		table string
		value any
	}{
		{"t", nil}, {"t__m", nil}, {"t__m__list", int64(1)}, {"t__m__list", int64(2)}, {"t__m", nil}, {"t__m__list", int64(3)},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		if rows[i].table.Name != w.table || rows[i].row["value"] != w.value {
			t.Errorf("row %d: %s %v, want %s value %v", i, rows[i].table.Name, rows[i].row, w.table, w.value)
		}
	}
	checkLinks(t, rows)

	// At nesting 1 the inner lists stay json in t__m's "list" column.
	n = mustNew(t, Config{MaxNesting: 1})
	rows = run(t, n, "t", map[string]any{"m": []any{[]any{1, 2}}})
	if len(rows) != 1 || !reflect.DeepEqual(rows[0].row["list"], []any{int64(1), int64(2)}) || rows[0].table.Name != "t__m" {
		t.Errorf("rows %v", rows)
	}
}
