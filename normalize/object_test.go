package normalize

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// bothWays normalizes each JSON line twice, with two Normalizers of cfg:
// parsed into a map through Normalize, and parsed into members through
// NormalizeObject. The rows (random ids set aside), the errors, the tables
// and the empty rows must be the same. It returns how many rows took the
// fast path.
func bothWays(t testing.TB, cfg Config, lines ...string) int {
	t.Helper()
	return bothWaysRaw(t, cfg, false, lines...)
}

// bothWaysRaw is bothWays with the members parsed with RawNested when raw
// is set: the values the fast path emits may then hold jsonv.Raw, which
// are parsed for the comparison (as the worker does).
func bothWaysRaw(t testing.TB, cfg Config, raw bool, lines ...string) int {
	t.Helper()
	viaMap, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	viaObj, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	fast := 0
	for i, line := range lines {
		var box1 jsonv.Boxer
		box2 := jsonv.Boxer{RawNested: raw}
		item, err := box1.ParseString(line)
		if err != nil {
			continue
		}
		members, isObj, v, err := box2.ParseObject(line, nil)
		if err != nil {
			t.Fatalf("line %d: ParseString took %q, ParseObject: %v", i+1, line, err)
		}
		var want, got []string
		emitTo := func(out *[]string) func(*schema.Table, schema.Row) error {
			return func(tb *schema.Table, row schema.Row) error {
				checkRow(t, tb, row)
				*out = append(*out, rowText(tb, row))
				return nil
			}
		}
		errMap := viaMap.Normalize(item, "items", emitTo(&want))
		var errObj error
		if isObj {
			errObj = viaObj.NormalizeObject(schema.Object(members), "items", emitTo(&got), func(tb *schema.Table, vals schema.Vals) error {
				if len(vals) != len(tb.Columns) {
					t.Fatalf("line %d: %d values for %d columns", i+1, len(vals), len(tb.Columns))
				}
				fast++
				row := schema.RowOf(tb, vals)
				for j, v := range vals {
					if r, ok := v.(jsonv.Raw); ok {
						if !raw || tb.Columns[j].DataType != schema.TypeJSON {
							t.Fatalf("line %d: column %q (%s) holds raw %q", i+1, tb.Columns[j].Name, tb.Columns[j].DataType, r)
						}
						x, err := jsonv.ParseString(string(r))
						if err != nil {
							t.Fatalf("line %d: raw %q: %v", i+1, r, err)
						}
						row[tb.Columns[j].Name] = x
					}
				}
				return emitTo(&got)(tb, row)
			})
		} else {
			errObj = viaObj.Normalize(v, "items", emitTo(&got))
		}
		if fmt.Sprint(errMap) != fmt.Sprint(errObj) {
			t.Fatalf("line %d %s: errors differ:\nmap:     %v\nmembers: %v", i+1, line, errMap, errObj)
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("line %d %s: rows differ:\nmap:\n%s\nmembers:\n%s", i+1, line, strings.Join(want, "\n"), strings.Join(got, "\n"))
		}
	}
	if a, b := fmt.Sprint(tablesText(viaMap.Tables())), fmt.Sprint(tablesText(viaObj.Tables())); a != b {
		t.Fatalf("tables differ:\nmap:     %s\nmembers: %s", a, b)
	}
	if a, b := viaMap.EmptyRows(), viaObj.EmptyRows(); a != b {
		t.Fatalf("empty rows: %d through maps, %d through members", a, b)
	}
	if a, b := viaMap.Version(), viaObj.Version(); a != b {
		t.Fatalf("version: %d through maps, %d through members", a, b)
	}
	return fast
}

// rowText prints a row with its table and column types, random ids set
// aside.
func rowText(tb *schema.Table, row schema.Row) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s:", tb.Name)
	for _, c := range tb.Columns {
		v, ok := row[c.Name]
		if !ok {
			continue
		}
		if c.Name == ColumnID || c.Name == ColumnParentID {
			v = "<id>"
		}
		fmt.Fprintf(&sb, " %s(%s)=%#v", c.Name, c.DataType, v)
	}
	if len(row) != countIn(tb, row) {
		fmt.Fprintf(&sb, " +%d keys not in the table", len(row)-countIn(tb, row))
	}
	return sb.String()
}

func countIn(tb *schema.Table, row schema.Row) int {
	n := 0
	for k := range row {
		if tb.ColumnIndex(k) >= 0 {
			n++
		}
	}
	return n
}

func tablesText(ts []*schema.Table) []string {
	var out []string
	for _, t := range ts {
		out = append(out, fmt.Sprintf("%s<%s>%+v keys %v", t.Name, t.Parent, t.Columns, t.Keys))
	}
	return out
}

var objectLines = []string{
	`{"id":1,"user_name":"a","email":"a@x","created_at":"2026-01-24T08:15:14Z","amount":1.5,"active":true,"score":5,"address":{"city":"Oslo","zip":"1"},"tags":["a","b"]}`,
	`{"id":2,"user_name":"b","email":"b@x","created_at":"2026-01-25T08:15:14Z","amount":2.5,"active":false,"score":-5,"address":{"city":"Rome","zip":"2"},"tags":["c"]}`,
	// Keys in another order, a null, a key missing.
	`{"score":7,"id":3,"user_name":null,"email":"c@x","active":true,"amount":3.25,"created_at":"2026-01-26T00:00:00.5+02:00"}`,
	// Duplicate keys: the last wins, a null last included.
	`{"id":4,"id":5,"email":"d@x","email":null,"score":1}`,
	`{"id":6,"email":null,"email":"e@x"}`,
	// A timestamp column given text that is not a timestamp, numbers that
	// do not fit, a new key, a key that needs naming.
	`{"id":7,"created_at":"yesterday","amount":3,"score":1.5,"NewKey":"x","userName":"y"}`,
	`{"id":8,"created_at":"2026-01-24 10:36+02","amount":4,"score":2}`,
	// Nothing but nulls; an empty object; not an object at all.
	`{"id":null,"email":null}`,
	`{}`,
	`42`, `"text"`, `null`, `[1,2]`,
	// Own ids and system names.
	`{"id":9,"_dlt_id":"mine","_dlt_load_id":"x"}`,
	// Objects and lists where scalars were, and the other way round.
	`{"id":{"a":1},"address":"Main St","tags":"t"}`,
	`{"id":10,"address":{"city":"Oslo","zip":"1","geo":{"lat":1.5}},"tags":[[1,2],{"x":1}]}`,
	`{"id":11,"user_name":"f","email":"f@x","created_at":"2026-01-24T08:15:14Z","amount":1.5,"active":true,"score":5,"address":{"city":"Oslo","zip":"1"},"tags":["a"]}`,
	`{"id":123456789012345678901234567890,"amount":1e300}`,
}

func TestNormalizeObjectMakesTheRowsNormalizeMakes(t *testing.T) {
	for _, nesting := range []int{0, 1, 3} {
		for _, sys := range []bool{false, true} {
			for _, reuse := range []bool{false, true} {
				for _, naming := range []Convention{Direct, SnakeCase} {
					for _, raw := range []bool{false, true} {
						cfg := Config{MaxNesting: nesting, SystemColumns: sys, ReuseInput: reuse, Naming: naming, LoadID: "load"}
						t.Run(fmt.Sprintf("nesting=%d,system=%v,reuse=%v,naming=%d,raw=%v", nesting, sys, reuse, naming, raw), func(t *testing.T) {
							fast := bothWaysRaw(t, cfg, raw, objectLines...)
							// Lines 2 and 3 (and the last ones) fit the columns as
							// they stand: some rows must have taken the fast path.
							if fast == 0 {
								t.Fatal("no row took the fast path")
							}
						})
					}
				}
			}
		}
	}
}

func TestNormalizeObjectFastPathSteadyState(t *testing.T) {
	lines := make([]string, 100)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"id":%d,"name":"n%d","at":"2026-01-24T08:15:%02dZ","x":%d.5,"ok":true,"o":{"a":[%d]}}`, i, i, i%60, i, i)
	}
	// With nesting 0 every row after the first takes the fast path.
	if got := bothWays(t, Config{LoadID: "load", ReuseInput: true}, lines...); got != 99 {
		t.Fatalf("%d of 99 rows took the fast path", got)
	}
	if got := bothWays(t, Config{LoadID: "load", ReuseInput: true, SystemColumns: true}, lines...); got != 99 {
		t.Fatalf("with system columns, %d of 99 rows took the fast path", got)
	}
	// With nesting, rows holding an object to flatten do not; nor do rows
	// with json values the normalizer may not keep.
	if got := bothWays(t, Config{LoadID: "load", ReuseInput: true, MaxNesting: 1}, lines...); got != 0 {
		t.Fatalf("with nesting, %d rows took the fast path", got)
	}
	if got := bothWays(t, Config{LoadID: "load"}, lines...); got != 0 {
		t.Fatalf("without ReuseInput, %d rows with json values took the fast path", got)
	}
	// json values left as text (RawNested) need no ReuseInput; with
	// nesting they are parsed and flattened.
	if got := bothWaysRaw(t, Config{LoadID: "load"}, true, lines...); got != 99 {
		t.Fatalf("with raw json values, %d of 99 rows took the fast path", got)
	}
	if got := bothWaysRaw(t, Config{LoadID: "load", MaxNesting: 1}, true, lines...); got != 0 {
		t.Fatalf("with raw json values and nesting, %d rows took the fast path", got)
	}
}

// FuzzNormalizeObject checks that NormalizeObject, fed what
// jsonv.ParseObject makes of a line (with RawNested or without), makes what
// Normalize makes of the map jsonv.ParseString makes of it, for lines that
// follow each other in one table.
func FuzzNormalizeObject(f *testing.F) {
	for i := 0; i+2 < len(objectLines); i++ {
		f.Add(objectLines[i], objectLines[i+1], objectLines[i+2], uint8(i))
	}
	f.Fuzz(func(t *testing.T, a, b, c string, flags uint8) {
		cfg := Config{
			Naming:        Convention(flags & 1),
			SystemColumns: flags&2 != 0,
			ReuseInput:    flags&4 != 0,
			MaxNesting:    int(flags>>3) % 4,
			LoadID:        "load",
		}
		bothWaysRaw(t, cfg, flags&128 != 0, a, b, c, a, b, c)
	})
}
