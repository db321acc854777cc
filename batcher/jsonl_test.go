package batcher

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/schema"
)

// jsonlTable returns a table with the given columns, all nullable.
func jsonlTable(t testing.TB, name string, cols ...any) *schema.Table {
	t.Helper()
	tab := schema.NewTable(name, "")
	for i := 0; i < len(cols); i += 2 {
		c := schema.Column{Name: cols[i].(string), DataType: cols[i+1].(schema.DataType), Nullable: true}
		if err := tab.AddColumn(c); err != nil {
			t.Fatal(err)
		}
	}
	return tab
}

// jsonlAllTypes has one column per data type.
func jsonlAllTypes(t testing.TB) *schema.Table {
	return jsonlTable(t, "all",
		"text", schema.TypeText, "bigint", schema.TypeBigInt, "double", schema.TypeDouble,
		"bool", schema.TypeBool, "timestamp", schema.TypeTimestamp, "date", schema.TypeDate,
		"time", schema.TypeTime, "decimal", schema.TypeDecimal, "binary", schema.TypeBinary,
		"json", schema.TypeJSON)
}

// jsonlEqual is reflect.DeepEqual that compares float64 by bits (so NaN
// equals NaN and -0 differs from 0) and time.Time with ==.
func jsonlEqual(a, b any) bool {
	switch a := a.(type) {
	case float64:
		b, ok := b.(float64)
		return ok && (math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b))
	case time.Time:
		b, ok := b.(time.Time)
		return ok && a == b
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !jsonlEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !jsonlEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func jsonlRoundTrip(t *testing.T, tab *schema.Table, rows []schema.Row) (*schema.Table, []schema.Row, []byte) {
	t.Helper()
	payload, err := Encode([]byte("junk"), TypedJSONL, tab, rows)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if !bytes.HasPrefix(payload, []byte("junk")) {
		t.Fatalf("Encode did not append to dst")
	}
	payload = payload[4:]
	gotT, gotRows, err := Decode(TypedJSONL, payload)
	if err != nil {
		t.Fatalf("Decode: %v\npayload:\n%s", err, payload)
	}
	if gotT.Name != tab.Name || gotT.Parent != tab.Parent || !reflect.DeepEqual(gotT.Columns, tab.Columns) {
		t.Fatalf("table = %+v, want %+v", gotT, tab)
	}
	if len(gotRows) != len(rows) {
		t.Fatalf("%d rows, want %d", len(gotRows), len(rows))
	}
	return gotT, gotRows, payload
}

func TestJSONLRoundTrip(t *testing.T) {
	tab := jsonlAllTypes(t)
	tests := []struct {
		name string
		row  schema.Row
	}{
		{"typical", schema.Row{
			"text":      "héllo \"world\"\n\u2028 😀 <&>",
			"bigint":    int64(-42),
			"double":    1395.38,
			"bool":      true,
			"timestamp": time.Date(2026, 1, 24, 8, 15, 14, 123456789, time.UTC),
			"date":      schema.Date{Year: 2024, Month: time.February, Day: 29},
			"time":      schema.TimeOfDay{Hour: 23, Minute: 59, Second: 59, Nanosecond: 1},
			"decimal":   schema.MustDecimal("123456789012345678901234567890.000000001"),
			"binary":    []byte{0, 1, 2, 0xff, '\n'},
			"json": map[string]any{
				"a": []any{int64(1), 2.0, -0.5, "x", nil, true, map[string]any{}},
				"b": map[string]any{"c": schema.MustDecimal("123456789012345678901234567890")},
				"":  []any{},
			},
		}},
		{"edges", schema.Row{
			"text":      "",
			"bigint":    int64(math.MinInt64),
			"double":    math.NaN(),
			"bool":      false,
			"timestamp": time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
			"date":      schema.Date{Year: 1970, Month: time.January, Day: 1},
			"time":      schema.TimeOfDay{},
			"decimal":   schema.MustDecimal("-0.000000000000000000001"),
			"binary":    []byte{},
			"json":      []any{[]any{[]any{}}, 1e300, 5e-324},
		}},
		{"extremes", schema.Row{
			"bigint":    int64(math.MaxInt64),
			"double":    math.Inf(1),
			"timestamp": time.Date(10000, 12, 31, 23, 59, 59, 999999999, time.UTC),
			"date":      schema.Date{Year: -1, Month: time.December, Day: 31},
			"decimal":   schema.MustDecimal("0"),
			"json":      map[string]any{"big": schema.MustDecimal("-99999999999999999999")},
		}},
		{"negative infinity and zero", schema.Row{
			"double":    math.Inf(-1),
			"timestamp": time.Date(-4713, 11, 24, 12, 0, 0, 500, time.UTC),
			"date":      schema.Date{Year: 123456, Month: time.March, Day: 1},
		}},
		{"negative zero", schema.Row{"double": math.Copysign(0, -1)}},
		{"whole double", schema.Row{"double": 3.0}},
		{"non-UTC timestamp", schema.Row{"timestamp": time.Date(2026, 6, 1, 2, 0, 0, 0, time.FixedZone("x", 2*3600)).UTC()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rows, payload := jsonlRoundTrip(t, tab, []schema.Row{tt.row})
			if !jsonlEqual(rows[0], tt.row) {
				t.Fatalf("row = %#v\nwant  %#v\npayload:\n%s", rows[0], tt.row, payload)
			}
			for k, v := range rows[0] {
				if reflect.TypeOf(v) != reflect.TypeOf(tt.row[k]) {
					t.Errorf("column %q: Go type %T, want %T", k, v, tt.row[k])
				}
			}
		})
	}
}

func TestJSONLTimestampInUTC(t *testing.T) {
	tab := jsonlTable(t, "t", "ts", schema.TypeTimestamp)
	in := time.Date(2026, 6, 1, 2, 0, 0, 5, time.FixedZone("x", 2*3600))
	_, rows, payload := jsonlRoundTrip(t, tab, []schema.Row{{"ts": in}})
	got := rows[0]["ts"].(time.Time)
	if !got.Equal(in) || got.Location() != time.UTC {
		t.Fatalf("ts = %v (%v), want %v in UTC", got, got.Location(), in)
	}
	if !bytes.Contains(payload, []byte(`"2026-06-01T00:00:00.000000005Z"`)) {
		t.Fatalf("payload does not hold the UTC RFC 3339 text:\n%s", payload)
	}
}

func TestJSONLFormat(t *testing.T) {
	tab := jsonlTable(t, "events", "id", schema.TypeBigInt, "name", schema.TypeText, "amount", schema.TypeDouble,
		"at", schema.TypeTimestamp, "blob", schema.TypeBinary, "doc", schema.TypeJSON)
	tab.Columns[0].PrimaryKey = true
	rows := []schema.Row{
		{"id": int64(1), "name": "a", "amount": 2.0, "at": time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC),
			"blob": []byte("hi"), "doc": map[string]any{"z": int64(1), "a": []any{"x"}}},
		{"id": int64(2), "name": nil, "amount": math.NaN()},
		{},
	}
	got, err := Encode(nil, TypedJSONL, tab, rows)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"bridge_table":{"name":"events","columns":[` +
		`{"name":"id","data_type":"bigint","nullable":true,"primary_key":true},` +
		`{"name":"name","data_type":"text","nullable":true},` +
		`{"name":"amount","data_type":"double","nullable":true},` +
		`{"name":"at","data_type":"timestamp","nullable":true},` +
		`{"name":"blob","data_type":"binary","nullable":true},` +
		`{"name":"doc","data_type":"json","nullable":true}]}}` + "\n" +
		`{"id":1,"name":"a","amount":2.0,"at":"2026-01-02T03:04:05.6Z","blob":"aGk=","doc":{"a":["x"],"z":1}}` + "\n" +
		`{"id":2,"amount":"NaN"}` + "\n" +
		`{}` + "\n"
	if string(got) != want {
		t.Fatalf("payload:\n%s\nwant:\n%s", got, want)
	}
}

func TestJSONLMissingColumns(t *testing.T) {
	tab := jsonlAllTypes(t)
	rows := []schema.Row{
		{"text": "only text"},
		{},
		{"bigint": int64(7), "text": nil, "binary": []byte(nil), "json": map[string]any(nil)},
		{"json": []any(nil), "double": 0.5},
	}
	want := []schema.Row{
		{"text": "only text"},
		{},
		{"bigint": int64(7)},
		{"double": 0.5},
	}
	_, got, _ := jsonlRoundTrip(t, tab, rows)
	for i := range want {
		if !jsonlEqual(got[i], want[i]) {
			t.Errorf("row %d = %#v, want %#v", i, got[i], want[i])
		}
	}
}

func TestJSONLNoRowsNoColumns(t *testing.T) {
	tab := schema.NewTable("empty", "parent")
	_, rows, _ := jsonlRoundTrip(t, tab, nil)
	if len(rows) != 0 {
		t.Fatalf("rows = %v", rows)
	}
	_, rows, _ = jsonlRoundTrip(t, tab, []schema.Row{{}, {}, {}})
	if len(rows) != 3 || len(rows[2]) != 0 {
		t.Fatalf("rows = %v", rows)
	}
}

func TestJSONLHostileNames(t *testing.T) {
	names := []string{"a.b", "*", ">", "with space", `"quoted"`, `back\slash`, "ünïcödé 😀", "new\nline",
		"\u2028", "", "bridge_table", "a.b.c", "tab\there"}
	tab := schema.NewTable("we.ird *name>", "")
	row := schema.Row{}
	for i, n := range names {
		if err := tab.AddColumn(schema.Column{Name: n, DataType: schema.TypeText, Nullable: true}); err != nil {
			t.Fatal(err)
		}
		row[n] = fmt.Sprintf("value %d of %q", i, n)
	}
	_, rows, payload := jsonlRoundTrip(t, tab, []schema.Row{row, row})
	for i := range rows {
		if !jsonlEqual(rows[i], row) {
			t.Fatalf("row %d = %#v, want %#v", i, rows[i], row)
		}
	}
	// A reader of the load file sees the names as they are.
	file, err := LoadFile(TypedJSONL, payload)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(file))
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("load file line %q: %v", sc.Text(), err)
		}
		if !reflect.DeepEqual(m, map[string]any(row)) {
			t.Fatalf("load file row = %v, want %v", m, row)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("load file has %d lines, want 2", n)
	}
}

func TestJSONLMismatch(t *testing.T) {
	tab := jsonlAllTypes(t)
	tests := []struct {
		name, col string
		val       any
	}{
		{"int into text", "text", int64(1)},
		{"string into bigint", "bigint", "1"},
		{"int into bigint", "bigint", 1},
		{"float32 into double", "double", float32(1)},
		{"string into bool", "bool", "true"},
		{"string into timestamp", "timestamp", "2026-01-01T00:00:00Z"},
		{"time into date", "date", time.Now()},
		{"not a calendar date", "date", schema.Date{Year: 2026, Month: time.February, Day: 30}},
		{"month 13", "date", schema.Date{Year: 2026, Month: 13, Day: 1}},
		{"not a time of day", "time", schema.TimeOfDay{Hour: 24}},
		{"negative nanos", "time", schema.TimeOfDay{Nanosecond: -1}},
		{"float into decimal", "decimal", 1.5},
		{"string into binary", "binary", "aGk="},
		{"string into json", "json", "{}"},
		{"NaN inside json", "json", map[string]any{"x": math.NaN()}},
		{"struct inside json", "json", []any{struct{}{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := []schema.Row{{"text": "fine"}, {tt.col: tt.val}}
			_, err := Encode(nil, TypedJSONL, tab, rows)
			if err == nil {
				t.Fatalf("Encode of %T into %s column: no error", tt.val, tt.col)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("column %q", tt.col)) || !strings.Contains(err.Error(), "row 1") {
				t.Fatalf("error %q does not name column %q and row 1", err, tt.col)
			}
		})
	}
	t.Run("column not in table", func(t *testing.T) {
		_, err := Encode(nil, TypedJSONL, tab, []schema.Row{{"text": "a", "stray.col": 1}})
		if err == nil || !strings.Contains(err.Error(), `"stray.col"`) {
			t.Fatalf("error = %v, want one naming the stray column", err)
		}
	})
	t.Run("unknown data type", func(t *testing.T) {
		bad := &schema.Table{Name: "t", Columns: []schema.Column{{Name: "c", DataType: "money"}}}
		if _, err := Encode(nil, TypedJSONL, bad, nil); err == nil || !strings.Contains(err.Error(), `"c"`) {
			t.Fatalf("error = %v", err)
		}
	})
}

func TestJSONLDecodeErrors(t *testing.T) {
	header := `{"bridge_table":{"name":"t","columns":[{"name":"n","data_type":"bigint","nullable":true},` +
		`{"name":"d","data_type":"date","nullable":true},{"name":"m","data_type":"decimal","nullable":true}]}}` + "\n"
	tests := []struct {
		name, payload string
		line          int
	}{
		{"empty", "", 1},
		{"no header", `{"n":1}` + "\n", 1},
		{"header not json", "bridge\n", 1},
		{"bad data type", `{"bridge_table":{"name":"t","columns":[{"name":"n","data_type":"int"}]}}` + "\n", 1},
		{"duplicate column", `{"bridge_table":{"name":"t","columns":[{"name":"n","data_type":"text"},{"name":"n","data_type":"text"}]}}`, 1},
		{"bad json row", header + `{"n":1}` + "\n" + `{"n":}` + "\n", 3},
		{"row neither object nor array", header + `1` + "\n", 2},
		{"array row too long", header + `[1,null,null,4]` + "\n", 2},
		{"array row wrong type", header + `[1,"2026-02-30"]` + "\n", 2},
		{"wrong type", header + `{"n":"1"}` + "\n", 2},
		{"float into bigint", header + `{"n":1.5}` + "\n", 2},
		{"bigint overflow", header + `{"n":9223372036854775808}` + "\n", 2},
		{"bad date", header + `{"d":"2026-02-30"}` + "\n", 2},
		{"date text", header + `{"d":"yesterday"}` + "\n", 2},
		{"decimal with exponent", header + `{"m":"1e999999999"}` + "\n", 2},
		{"unknown column", header + `{"x":1}` + "\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Decode(TypedJSONL, []byte(tt.payload))
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error = %v, want ErrFormat", err)
			}
			if want := fmt.Sprintf("line %d:", tt.line); !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	tab := jsonlTable(t, "t", "a", schema.TypeText)
	payload, err := Encode(nil, TypedJSONL, tab, []schema.Row{{"a": "x"}, {"a": "y"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadFile(TypedJSONL, payload)
	if err != nil || string(got) != `{"a":"x"}`+"\n"+`{"a":"y"}`+"\n" {
		t.Fatalf("LoadFile = %q, %v", got, err)
	}
	if got, err := LoadFile(Parquet, []byte("PAR1...")); err != nil || string(got) != "PAR1..." {
		t.Fatalf("LoadFile(Parquet) = %q, %v", got, err)
	}
	if _, err := LoadFile(TypedJSONL, []byte(`{"a":"x"}`+"\n")); !errors.Is(err, ErrFormat) {
		t.Fatalf("LoadFile without header: %v", err)
	}
	if _, err := LoadFile("csv", payload); !errors.Is(err, ErrFormat) {
		t.Fatalf("LoadFile(csv): %v", err)
	}
}

// A RowDecoder gives the rows Decode gives while it fills the maps of the
// batch before, whether the next batch has fewer rows, more, or other
// columns, and a value taken out of a row stays as it was.
func TestRowDecoderReuse(t *testing.T) {
	for _, f := range []Format{TypedJSONL, Parquet} {
		t.Run(string(f), func(t *testing.T) { testRowDecoderReuse(t, f) })
	}
}

func testRowDecoderReuse(t *testing.T, f Format) {
	tab, rows := jsonlEventRows(t, 300)
	all := jsonlAllTypes(t)
	other := []schema.Row{
		{"text": "a", "bigint": int64(1), "double": 1.5, "bool": true, "json": []any{int64(1)}},
		{"timestamp": time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "date": schema.Date{Year: 2026, Month: 1, Day: 2}},
	}
	var rd RowDecoder
	var kept string
	var cloned []schema.Row
	for step, c := range []struct {
		t    *schema.Table
		rows []schema.Row
	}{{tab, rows[:100]}, {tab, rows[100:110]}, {all, other}, {tab, rows}, {tab, rows[:1]}, {tab, nil}, {tab, rows[5:250]}} {
		payload, err := Encode(nil, f, c.t, c.rows)
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := rd.Decode(f, payload, nil)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if len(got) != len(c.rows) {
			t.Fatalf("step %d: %d rows, want %d", step, len(got), len(c.rows))
		}
		for i := range got {
			if !jsonlEqual(got[i], c.rows[i]) {
				t.Fatalf("step %d, row %d: %#v, want %#v", step, i, got[i], c.rows[i])
			}
		}
		if step == 0 {
			kept = got[7]["user_name"].(string)
			cloned = schema.CloneRows(got)
		}
	}
	if kept != rows[7]["user_name"] {
		t.Fatalf("a string taken out of a reused row changed: %q, want %q", kept, rows[7]["user_name"])
	}
	for i, r := range cloned {
		if !jsonlEqual(r, rows[i]) {
			t.Fatalf("row %d cloned from a reused row changed: %#v, want %#v", i, r, rows[i])
		}
	}
}

// checkRowDecoder checks that a RowDecoder that decoded the warm payloads
// first decodes payload to rows (or fails, as err says a fresh decode did).
func checkRowDecoder(t *testing.T, f Format, warm [][]byte, payload []byte, rows []schema.Row, err error) {
	t.Helper()
	var rd RowDecoder
	for _, w := range warm {
		if _, _, err := rd.Decode(f, w, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, reused, rerr := rd.Decode(f, payload, nil)
	if (err == nil) != (rerr == nil) || len(reused) != len(rows) {
		t.Fatalf("RowDecoder: %d rows, %v; a fresh decode: %d rows, %v", len(reused), rerr, len(rows), err)
	}
	for i := range rows {
		if !jsonlEqual(rows[i], reused[i]) {
			t.Fatalf("row %d: RowDecoder gave %#v, a fresh decode %#v", i, reused[i], rows[i])
		}
	}
}

func FuzzDecodeJSONL(f *testing.F) {
	tab := jsonlAllTypes(f)
	for _, rows := range [][]schema.Row{
		nil,
		{{"text": "a", "bigint": int64(1), "double": 1.5, "bool": true, "json": []any{int64(1)}}},
		{{"timestamp": time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "date": schema.Date{Year: 2026, Month: 1, Day: 2},
			"time": schema.TimeOfDay{Hour: 1}, "decimal": schema.MustDecimal("1.5"), "binary": []byte("x")}},
		{{"double": math.NaN()}, {"double": math.Inf(-1)}, {}},
	} {
		payload, err := Encode(nil, TypedJSONL, tab, rows)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(payload)
		// As the producer writes them: rows of values, dense ones as arrays.
		if payload, err = EncodeBatch(nil, TypedJSONL, nil, Batch{Table: tab, Vals: valsOf(f, tab, rows)}); err != nil {
			f.Fatal(err)
		}
		f.Add(payload)
	}
	var warm [][]byte // payloads a RowDecoder decodes before the fuzzed one
	for _, n := range []int{3, 40} {
		_, rows := jsonlEventRows(f, n)
		tab, _ := jsonlEventRows(f, 0)
		p, err := Encode(nil, TypedJSONL, tab, rows)
		if err != nil {
			f.Fatal(err)
		}
		warm = append(warm, p)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		tab, rows, err := Decode(TypedJSONL, payload)
		// A RowDecoder that decoded other payloads before gives the same.
		checkRowDecoder(t, TypedJSONL, warm, payload, rows, err)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		// What decodes encodes again, to the same rows.
		again, err := Encode(nil, TypedJSONL, tab, rows)
		if err != nil {
			t.Fatalf("Encode of decoded rows: %v", err)
		}
		_, rows2, err := Decode(TypedJSONL, again)
		if err != nil {
			t.Fatalf("Decode of re-encoded payload: %v\n%s", err, again)
		}
		for i := range rows {
			if !jsonlEqual(rows[i], rows2[i]) {
				t.Fatalf("row %d: %#v, then %#v", i, rows[i], rows2[i])
			}
		}
		// And as values (array lines where dense), to the same rows.
		vals := make([]schema.Vals, len(rows))
		for i, row := range rows {
			v, ok := schema.ValsOf(tab, row)
			if !ok {
				t.Fatalf("row %d: a key is not a column", i)
			}
			vals[i] = v
		}
		asVals, err := EncodeBatch(nil, TypedJSONL, nil, Batch{Table: tab, Vals: vals})
		if err != nil {
			t.Fatalf("EncodeBatch of decoded rows: %v", err)
		}
		_, rows3, err := Decode(TypedJSONL, asVals)
		if err != nil {
			t.Fatalf("Decode of the payload of values: %v\n%s", err, asVals)
		}
		if len(rows3) != len(rows) {
			t.Fatalf("%d rows from the payload of values, want %d", len(rows3), len(rows))
		}
		for i := range rows {
			if !jsonlEqual(rows[i], rows3[i]) {
				t.Fatalf("row %d: %#v, from values %#v\n%s", i, rows[i], rows3[i], asVals)
			}
		}
	})
}

// jsonlEventRows returns n rows shaped like /work/shared/bench/gen_events.py
// events after normalization with nesting 0: flat columns, a json address
// object and a json tags list, plus bridge's _dlt_id.
func jsonlEventRows(t testing.TB, n int) (*schema.Table, []schema.Row) {
	tab := jsonlTable(t, "events",
		"id", schema.TypeBigInt, "user_name", schema.TypeText, "email", schema.TypeText,
		"created_at", schema.TypeTimestamp, "amount", schema.TypeDouble, "active", schema.TypeBool,
		"score", schema.TypeBigInt, "address", schema.TypeJSON, "tags", schema.TypeJSON,
		"_dlt_id", schema.TypeText)
	r := rand.New(rand.NewPCG(42, 0))
	cities := []string{"Berlin", "Lisbon", "Austin", "Osaka", "Nairobi", "Quito", "Oslo", "Perth"}
	rows := make([]schema.Row, n)
	for i := range rows {
		tags := make([]any, r.IntN(4))
		for j := range tags {
			tags[j] = string(rune('a' + r.IntN(5)))
		}
		rows[i] = schema.Row{
			"id":         int64(i),
			"user_name":  fmt.Sprintf("user_%08d", r.IntN(1e8)),
			"email":      fmt.Sprintf("u%d@example.org", r.IntN(1e6)),
			"created_at": time.Date(2026, time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), 0, time.UTC),
			"amount":     math.Round(r.Float64()*1e6) / 100,
			"active":     r.IntN(2) == 0,
			"score":      int64(r.IntN(2001) - 1000),
			"address":    map[string]any{"city": cities[r.IntN(len(cities))], "zip": fmt.Sprintf("%05d", r.IntN(1e5))},
			"tags":       tags,
			"_dlt_id":    fmt.Sprintf("%014x", r.Uint64()>>8),
		}
	}
	return tab, rows
}

func BenchmarkJSONL(b *testing.B) {
	tab, rows := jsonlEventRows(b, 1000)
	payload, err := Encode(nil, TypedJSONL, tab, rows)
	if err != nil {
		b.Fatal(err)
	}
	perRow := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		var buf []byte
		for b.Loop() {
			if buf, err = Encode(buf[:0], TypedJSONL, tab, rows); err != nil {
				b.Fatal(err)
			}
		}
		perRow(b)
	})
	// The rows as values by column index, as the producer's batches hold
	// them.
	vals := valsOf(b, tab, rows)
	// What the producer writes of them: rows as arrays.
	arrays, err := EncodeBatch(nil, TypedJSONL, nil, Batch{Table: tab, Vals: vals})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode-vals", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(arrays)))
		var buf []byte
		for b.Loop() {
			if buf, err = EncodeBatch(buf[:0], TypedJSONL, nil, Batch{Table: tab, Vals: vals}); err != nil {
				b.Fatal(err)
			}
		}
		perRow(b)
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if _, _, err := Decode(TypedJSONL, payload); err != nil {
				b.Fatal(err)
			}
		}
		perRow(b)
	})
	// A worker that reuses its rows (batcher.RowDecoder, bridge.ReuseRows).
	b.Run("decode-reuse", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		var rd RowDecoder
		for b.Loop() {
			if _, _, err := rd.Decode(TypedJSONL, payload, nil); err != nil {
				b.Fatal(err)
			}
		}
		perRow(b)
	})
	b.Run("decode-reuse-arrays", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(arrays)))
		var rd RowDecoder
		for b.Loop() {
			if _, _, err := rd.Decode(TypedJSONL, arrays, nil); err != nil {
				b.Fatal(err)
			}
		}
		perRow(b)
	})
	b.Run("encode+decode", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			if buf, err = Encode(buf[:0], TypedJSONL, tab, rows); err != nil {
				b.Fatal(err)
			}
			if _, _, err := Decode(TypedJSONL, buf); err != nil {
				b.Fatal(err)
			}
		}
		perRow(b)
	})
	// For scale: encoding/json writing the rows as JSON lines and reading
	// them back into map[string]any, without restoring any types.
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			enc := json.NewEncoder(&buf)
			for _, row := range rows {
				if err := enc.Encode(row); err != nil {
					b.Fatal(err)
				}
			}
			dec := json.NewDecoder(&buf)
			for range rows {
				var m map[string]any
				if err := dec.Decode(&m); err != nil {
					b.Fatal(err)
				}
			}
		}
		perRow(b)
	})
}

// FuzzJSONLFastPath checks that the schema-directed decoder, when it takes a
// line, gives the same row as the generic one.
func FuzzJSONLFastPath(f *testing.F) {
	tab := jsonlAllTypes(f)
	seeds := []schema.Row{
		{"text": "héllo\n\"x\"", "bigint": int64(-5), "double": 2.0, "bool": false, "json": map[string]any{"a": []any{1.5, "x"}}},
		{"timestamp": time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "date": schema.Date{Year: 2026, Month: 1, Day: 2},
			"time": schema.TimeOfDay{Hour: 1, Nanosecond: 5}, "decimal": schema.MustDecimal("-1.5"), "binary": []byte("xyz")},
		{"double": math.NaN(), "json": []any{}},
		{"double": math.Inf(-1), "bigint": int64(math.MinInt64)},
		{},
	}
	for _, row := range seeds {
		payload, err := Encode(nil, TypedJSONL, tab, []schema.Row{row})
		if err != nil {
			f.Fatal(err)
		}
		_, line, _ := strings.Cut(strings.TrimSuffix(string(payload), "\n"), "\n")
		f.Add(line)
		// The array line of the row, when it is dense enough for one.
		if payload, err = EncodeBatch(nil, TypedJSONL, nil, Batch{Table: tab, Vals: valsOf(f, tab, []schema.Row{row})}); err != nil {
			f.Fatal(err)
		}
		_, line, _ = strings.Cut(strings.TrimSuffix(string(payload), "\n"), "\n")
		f.Add(line)
	}
	f.Add(`{"text":"a","text":"b"}`)
	f.Add(`[null,1,null,true,null,null,null,null,null,[],null]`)
	f.Add(`[null,null]`)
	f.Add(`[]`)
	f.Add(`[,1]`)
	f.Add(`{"text":`)
	f.Add(`{"bigint":01}`)
	f.Add(`{"json":[1]]}`)
	f.Add("{\"text\":\"\xff\"}")
	f.Fuzz(func(t *testing.T, line string) {
		d := newJSONLDecoder(tab)
		fast, ok := d.fast(line, nil)
		if !ok {
			return
		}
		slow, err := jsonlDecodeRow(tab, line)
		if err != nil {
			t.Fatalf("fast path took %q, generic path: %v", line, err)
		}
		if !jsonlEqual(fast, slow) {
			t.Fatalf("line %q: fast %#v, generic %#v", line, fast, slow)
		}
	})
}
