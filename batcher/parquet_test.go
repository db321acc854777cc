package batcher

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/deprecated"

	"github.com/fanoutbridge/bridge/schema"
)

// parquetTestTable returns a table with the given columns, each of the given
// data type; pairs are name, data type.
func parquetTestTable(t testing.TB, pairs ...string) *schema.Table {
	t.Helper()
	tb := schema.NewTable("events", "")
	for i := 0; i < len(pairs); i += 2 {
		if err := tb.AddColumn(schema.Column{Name: pairs[i], DataType: schema.DataType(pairs[i+1]), Nullable: true}); err != nil {
			t.Fatal(err)
		}
	}
	return tb
}

func parquetAllTypesTable(t testing.TB) *schema.Table {
	return parquetTestTable(t,
		"text", "text", "bigint", "bigint", "double", "double", "bool", "bool",
		"timestamp", "timestamp", "date", "date", "time", "time", "decimal", "decimal",
		"binary", "binary", "json", "json")
}

func TestParquetRoundTrip(t *testing.T) {
	ts := time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.UTC)
	nested := map[string]any{
		"a":   []any{int64(1), 2.5, "x", nil, true, map[string]any{"deep": []any{}}},
		"b":   map[string]any{"c": int64(-9007199254740993), "d": 1e300, "e": "<&>\u2028", "f": 2.0, "g": math.Copysign(0, -1)},
		"big": schema.MustDecimal("-123456789012345678901234567890"),
		"":    nil,
	}
	wide := parquetTestTable(t)
	for i := range 12 {
		_ = wide.AddColumn(schema.Column{Name: fmt.Sprintf("c%02d", i), DataType: schema.TypeText})
	}
	_ = wide.AddColumn(schema.Column{Name: "n", DataType: schema.TypeBigInt})
	// 20000 rows of random-looking text, so that even compressed the file
	// is well over 1 MB.
	rnd := rand.New(rand.NewPCG(1, 2))
	wideRows := make([]schema.Row, 20000)
	for i := range wideRows {
		r := schema.Row{"n": int64(i)}
		for j := range 12 {
			if (i+j)%7 != 0 {
				r[fmt.Sprintf("c%02d", j)] = fmt.Sprintf("row %d column %d %x", i, j, rnd.Uint64())
			}
		}
		wideRows[i] = r
	}
	hostile := []string{
		"a.b", "*", ">", "a b", " lead", "trail ", `"quoted"`, "it's", "`tick`", "ünï©ødé 名前", "emoji🦆",
		"Name", "name", "NAME", "a,b", "", "nul\x00byte", "_col16", "_col15", "$", "a/b", "a[0]",
		strings.Repeat("long", 1000),
	}
	hostileTable := schema.NewTable("hostile.table *>", "")
	hostileRow := schema.Row{}
	for i, n := range hostile {
		if err := hostileTable.AddColumn(schema.Column{Name: n, DataType: schema.TypeBigInt}); err != nil {
			t.Fatal(err)
		}
		hostileRow[n] = int64(i)
	}

	tests := []struct {
		name       string
		table      *schema.Table
		rows       []schema.Row
		minPayload int
	}{
		{
			name:  "every type",
			table: parquetAllTypesTable(t),
			rows: []schema.Row{{
				"text":      "héllo\x00\xffworld",
				"bigint":    int64(math.MinInt64),
				"double":    math.NaN(),
				"bool":      true,
				"timestamp": ts,
				"date":      schema.Date{Year: 1969, Month: 12, Day: 31},
				"time":      schema.TimeOfDay{Hour: 23, Minute: 59, Second: 59, Nanosecond: 999999999},
				"decimal":   schema.MustDecimal("123456789012345678901234567890.000000001"),
				"binary":    []byte{0, 1, 2, 0xff},
				"json":      nested,
			}, {
				"text":      "",
				"bigint":    int64(math.MaxInt64),
				"double":    math.Inf(-1),
				"bool":      false,
				"timestamp": time.Unix(0, 0).UTC(),
				"date":      schema.Date{Year: 1, Month: 1, Day: 1},
				"time":      schema.TimeOfDay{},
				"decimal":   schema.MustDecimal("-0.5"),
				"binary":    []byte{},
				"json":      []any{},
			}, {
				"double":  math.Copysign(0, -1),
				"decimal": schema.MustDecimal("0"),
				"json":    map[string]any{},
			}, {
				"double": math.Inf(1),
				"json":   []any{[]any{int64(1)}, map[string]any{"k": 0.1}},
			}},
		},
		{
			name:  "missing and null columns",
			table: parquetAllTypesTable(t),
			rows: []schema.Row{
				{},
				{"text": nil, "binary": []byte(nil), "json": map[string]any(nil)},
				{"bigint": int64(7)},
				{"json": []any(nil), "bool": false},
				{"not a column": nil, "text": "null elsewhere is fine"},
			},
		},
		{
			name:  "timestamps beyond nanoseconds as micros",
			table: parquetTestTable(t, "ts", "timestamp"),
			rows: []schema.Row{
				{"ts": time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
				{"ts": time.Time{}},
				{"ts": ts.Truncate(time.Microsecond)},
				{},
			},
		},
		{
			name:  "timestamps beyond nanoseconds as int96",
			table: parquetTestTable(t, "ts", "timestamp", "other", "timestamp"),
			rows: []schema.Row{
				{"ts": time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), "other": ts},
				{"ts": ts},
				{"ts": time.Date(-4000, 3, 1, 0, 0, 0, 1, time.UTC)},
				{"ts": time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)},
				{},
			},
		},
		{
			name:  "hostile column names",
			table: hostileTable,
			rows:  []schema.Row{hostileRow, {}, {"a.b": int64(-1), "NAME": int64(3)}},
		},
		{
			name:  "no rows",
			table: parquetAllTypesTable(t),
		},
		{
			name:  "no columns",
			table: schema.NewTable("empty", "parent"),
			rows:  []schema.Row{{}, {}},
		},
		{
			name:       "20000 wide rows over 1 MB",
			table:      wide,
			rows:       wideRows,
			minPayload: 1 << 20,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix")
			payload, err := encodeParquet(slices.Clone(prefix), tt.table, tt.rows)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(payload, prefix) {
				t.Fatal("encodeParquet did not append to dst")
			}
			payload = payload[len(prefix):]
			if len(payload) < tt.minPayload {
				t.Fatalf("payload is %d bytes, want at least %d", len(payload), tt.minPayload)
			}
			gotTable, gotRows, err := decodeParquet(payload)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotTable.Columns, tt.table.Columns) || gotTable.Name != tt.table.Name || gotTable.Parent != tt.table.Parent {
				t.Errorf("table = %+v, want %+v", gotTable, tt.table)
			}
			for j, c := range tt.table.Columns {
				if gotTable.ColumnIndex(c.Name) != j {
					t.Errorf("decoded table: ColumnIndex(%q) = %d, want %d", c.Name, gotTable.ColumnIndex(c.Name), j)
				}
			}
			if len(gotRows) != len(tt.rows) {
				t.Fatalf("got %d rows, want %d", len(gotRows), len(tt.rows))
			}
			for i := range tt.rows {
				if err := parquetRowsEqual(gotRows[i], tt.rows[i]); err != nil {
					t.Fatalf("row %d: %v\ngot  %#v\nwant %#v", i, err, gotRows[i], tt.rows[i])
				}
			}
			if len(tt.table.Columns) > 0 {
				parquetCheckGeneric(t, payload, tt.table, tt.rows)
			}
		})
	}
}

// parquetRowsEqual compares rows exactly: same keys, same Go types, same
// values, doubles by their bits and times by instant and location.
func parquetRowsEqual(got, want schema.Row) error {
	wantNonNull := 0
	for k, w := range want {
		if isNull(w) {
			if _, ok := got[k]; ok {
				return fmt.Errorf("column %q: null came back as %#v", k, got[k])
			}
			continue
		}
		wantNonNull++
		g, ok := got[k]
		if !ok {
			return fmt.Errorf("column %q missing", k)
		}
		if reflect.TypeOf(g) != reflect.TypeOf(w) {
			return fmt.Errorf("column %q: type %T, want %T", k, g, w)
		}
		switch w := w.(type) {
		case float64:
			if math.Float64bits(g.(float64)) != math.Float64bits(w) {
				return fmt.Errorf("column %q: %v, want %v", k, g, w)
			}
		case time.Time:
			if !g.(time.Time).Equal(w) || g.(time.Time).Location() != time.UTC {
				return fmt.Errorf("column %q: %v, want %v", k, g, w)
			}
		default:
			if !reflect.DeepEqual(g, w) {
				return fmt.Errorf("column %q: %#v, want %#v", k, g, w)
			}
		}
	}
	if len(got) != wantNonNull {
		return fmt.Errorf("%d columns, want %d", len(got), wantNonNull)
	}
	return nil
}

// parquetCheckGeneric reads the payload with parquet-go's generic API, as a
// tool would in file mode: columns in table order under their names (or
// stand-ins), logical types set, and the values there.
func parquetCheckGeneric(t *testing.T, payload []byte, tb *schema.Table, rows []schema.Row) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(payload), int64(len(payload)))
	if err != nil {
		t.Fatal(err)
	}
	if f.NumRows() != int64(len(rows)) {
		t.Fatalf("file has %d rows, want %d", f.NumRows(), len(rows))
	}
	fields := f.Schema().Fields()
	if len(fields) != len(tb.Columns) {
		t.Fatalf("file has %d columns, want %d", len(fields), len(tb.Columns))
	}
	for j, c := range tb.Columns {
		if parquetNameOK(c.Name) && fields[j].Name() != c.Name {
			t.Errorf("column %d is named %q, want %q", j, fields[j].Name(), c.Name)
		}
		if !fields[j].Optional() {
			t.Errorf("column %q is not optional", c.Name)
		}
		lt := fields[j].Type().LogicalType()
		switch c.DataType {
		case schema.TypeText, schema.TypeDecimal:
			if lt == nil || lt.String() != "STRING" {
				t.Errorf("column %q: logical type %v, want STRING", c.Name, lt)
			}
		case schema.TypeJSON:
			if lt == nil || lt.String() != "JSON" {
				t.Errorf("column %q: logical type %v, want JSON", c.Name, lt)
			}
		}
	}
	got := make([]parquet.Row, 0, len(rows))
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		buf := make([]parquet.Row, 100)
		for {
			n, err := rr.ReadRows(buf)
			for _, r := range buf[:n] {
				got = append(got, r.Clone())
			}
			if err != nil {
				break
			}
		}
		rr.Close()
	}
	if len(got) != len(rows) {
		t.Fatalf("generic reader read %d rows, want %d", len(got), len(rows))
	}
	for i, row := range rows {
		for j, c := range tb.Columns {
			v := got[i][j]
			want := row[c.Name]
			if isNull(want) != v.IsNull() {
				t.Fatalf("row %d column %q: null = %v, want %v", i, c.Name, v.IsNull(), isNull(want))
			}
			switch w := want.(type) {
			case string:
				if string(v.ByteArray()) != w {
					t.Fatalf("row %d column %q: %q, want %q", i, c.Name, v.ByteArray(), w)
				}
			case int64:
				if v.Int64() != w {
					t.Fatalf("row %d column %q: %d, want %d", i, c.Name, v.Int64(), w)
				}
			}
		}
	}
	// Reading into maps through the file's own schema, as generic Go code
	// would, works too.
	r := parquet.NewGenericReader[map[string]any](bytes.NewReader(payload), f.Schema())
	defer r.Close()
	maps := make([]map[string]any, min(len(rows), 10))
	for i := range maps {
		maps[i] = map[string]any{}
	}
	if n, err := r.Read(maps); n != len(maps) {
		t.Fatalf("generic map reader read %d rows: %v", n, err)
	}
}

func TestParquetTimestampUnits(t *testing.T) {
	tests := []struct {
		name string
		ts   []time.Time
		want string // the column's type in the file
	}{
		{"in range", []time.Time{time.Date(1677, 9, 21, 0, 12, 44, 0, time.UTC), time.Date(2262, 4, 11, 23, 47, 16, 854775807, time.UTC)}, "TIMESTAMP(isAdjustedToUTC=true,unit=NANOS)"},
		{"whole micros out of range", []time.Time{time.Date(2262, 4, 11, 23, 47, 16, 854776000, time.UTC), {}}, "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)"},
		{"nanos out of range", []time.Time{time.Date(1000, 1, 1, 0, 0, 0, 1, time.UTC)}, "INT96"},
		{"no values", nil, "TIMESTAMP(isAdjustedToUTC=true,unit=NANOS)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := parquetTestTable(t, "ts", "timestamp")
			rows := []schema.Row{{}}
			for _, ts := range tt.ts {
				rows = append(rows, schema.Row{"ts": ts})
			}
			payload, err := encodeParquet(nil, tb, rows)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parquet.OpenFile(bytes.NewReader(payload), int64(len(payload)))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Schema().Fields()[0].Type().String(); got != tt.want {
				t.Errorf("stored as %s, want %s", got, tt.want)
			}
			_, got, err := decodeParquet(payload)
			if err != nil {
				t.Fatal(err)
			}
			for i := range rows {
				if err := parquetRowsEqual(got[i], rows[i]); err != nil {
					t.Errorf("row %d: %v", i, err)
				}
			}
		})
	}
	t.Run("beyond int96", func(t *testing.T) {
		tb := parquetTestTable(t, "ts", "timestamp")
		far := time.Date(6_000_000, 1, 1, 0, 0, 0, 1, time.UTC)
		_, err := encodeParquet(nil, tb, []schema.Row{{"ts": far}})
		if err == nil || !strings.Contains(err.Error(), `"ts"`) {
			t.Errorf("error = %v, want one naming column \"ts\"", err)
		}
	})
}

// TestParquetConcurrent encodes and decodes from several goroutines at once,
// for the race detector: the encoder pool and the codec are shared.
func TestParquetConcurrent(t *testing.T) {
	tb, rows := parquetEventRows(t, 300)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 5 {
				payload, err := encodeParquet(nil, tb, rows)
				if err != nil {
					errs <- err
					return
				}
				_, got, err := decodeParquet(payload)
				if err != nil {
					errs <- err
					return
				}
				for i := range rows {
					if err := parquetRowsEqual(got[i], rows[i]); err != nil {
						errs <- fmt.Errorf("row %d: %w", i, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestParquetEncodeErrors(t *testing.T) {
	tb := parquetAllTypesTable(t)
	tests := []struct {
		name   string
		row    schema.Row
		column string
	}{
		{"int for bigint", schema.Row{"bigint": 1}, "bigint"},
		{"int32 for bigint", schema.Row{"bigint": int32(1)}, "bigint"},
		{"float32 for double", schema.Row{"double": float32(1)}, "double"},
		{"string for bool", schema.Row{"bool": "true"}, "bool"},
		{"int64 for text", schema.Row{"text": int64(1)}, "text"},
		{"[]byte for text", schema.Row{"text": []byte("x")}, "text"},
		{"string for timestamp", schema.Row{"timestamp": "2024-01-01T00:00:00Z"}, "timestamp"},
		{"pointer to time", schema.Row{"timestamp": &time.Time{}}, "timestamp"},
		{"time for date", schema.Row{"date": time.Now()}, "date"},
		{"string for time", schema.Row{"time": "12:00:00"}, "time"},
		{"string for decimal", schema.Row{"decimal": "1.5"}, "decimal"},
		{"float for decimal", schema.Row{"decimal": 1.5}, "decimal"},
		{"string for binary", schema.Row{"binary": "x"}, "binary"},
		{"string for json", schema.Row{"json": `{"a":1}`}, "json"},
		{"map[string]string for json", schema.Row{"json": map[string]string{"a": "b"}}, "json"},
		{"float inside json is fine but NaN is not", schema.Row{"json": []any{math.NaN()}}, "json"},
		{"unencodable inside json", schema.Row{"json": map[string]any{"c": make(chan int)}}, "json"},
		{"month 13", schema.Row{"date": schema.Date{Year: 2024, Month: 13, Day: 1}}, "date"},
		{"hour 24", schema.Row{"time": schema.TimeOfDay{Hour: 24}}, "time"},
		{"negative time", schema.Row{"time": schema.TimeOfDay{Second: -1}}, "time"},
		{"unknown column", schema.Row{"nope": int64(1)}, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := []schema.Row{{"text": "ok"}, tt.row}
			out, err := encodeParquet([]byte("dst"), tb, rows)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.column)) {
				t.Errorf("error %q does not name column %q", err, tt.column)
			}
			if string(out) != "dst" {
				t.Errorf("dst changed to %q", out)
			}
		})
	}
	tables := []struct {
		name   string
		table  *schema.Table
		column string
	}{
		{"unknown data type", &schema.Table{Name: "t", Columns: []schema.Column{{Name: "x", DataType: "money"}}}, "x"},
		{"duplicate column", &schema.Table{Name: "t", Columns: []schema.Column{{Name: "x", DataType: "text"}, {Name: "x", DataType: "bigint"}}}, "x"},
		{"invalid UTF-8 name", &schema.Table{Name: "t", Columns: []schema.Column{{Name: "\xff", DataType: "text"}}}, "\xff"},
		{"invalid UTF-8 table", &schema.Table{Name: "\xfe", Columns: []schema.Column{{Name: "x", DataType: "text"}}}, "\xfe"},
	}
	for _, tt := range tables {
		t.Run(tt.name, func(t *testing.T) {
			_, err := encodeParquet(nil, tt.table, []schema.Row{{"x": "a"}})
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.column)) {
				t.Errorf("error = %v, want one naming %q", err, tt.column)
			}
		})
	}
}

func TestParquetDecodeErrors(t *testing.T) {
	tb := parquetAllTypesTable(t)
	good, err := encodeParquet(nil, tb, []schema.Row{{"text": "a", "json": []any{int64(1)}, "time": schema.TimeOfDay{Hour: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	foreign := new(bytes.Buffer)
	if err := parquet.Write(foreign, []struct{ A int64 }{{1}}); err != nil {
		t.Fatal(err)
	}
	withMeta := func(table string, rows string, sch parquet.Node, write func(*parquet.Writer) error) []byte {
		var buf bytes.Buffer
		w := parquet.NewWriter(&buf, parquet.NewSchema("t", sch),
			parquet.KeyValueMetadata(parquetTableKey, table), parquet.KeyValueMetadata(parquetRowsKey, rows))
		if write != nil {
			if err := write(w); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	oneText := parquet.Group{"s": parquet.Optional(parquet.String())}
	writeText := func(s string) func(*parquet.Writer) error {
		return func(w *parquet.Writer) error {
			_, err := w.WriteRows([]parquet.Row{{parquet.ByteArrayValue([]byte(s)).Level(0, 1, 0)}})
			return err
		}
	}
	oneInt := parquet.Group{"s": parquet.Optional(parquet.Leaf(parquet.Int64Type))}
	writeInt := func(n int64) func(*parquet.Writer) error {
		return func(w *parquet.Writer) error {
			_, err := w.WriteRows([]parquet.Row{{parquet.Int64Value(n).Level(0, 1, 0)}})
			return err
		}
	}
	tests := []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"garbage", []byte("this is not a parquet file at all")},
		{"magic only", []byte("PAR1PAR1")},
		{"truncated", good[:len(good)/2]},
		{"corrupt tail", append(slices.Clone(good[:len(good)-12]), []byte("xxxxPAR1")...)},
		{"jsonl", []byte(`{"a":1}` + "\n")},
		{"no bridge metadata", foreign.Bytes()},
		{"bad table json", withMeta("{", "1", oneText, writeText("x"))},
		{"unknown data type", withMeta(`{"name":"t","columns":[{"name":"s","data_type":"money"}]}`, "1", oneText, writeText("x"))},
		{"duplicate columns", withMeta(`{"name":"t","columns":[{"name":"s","data_type":"text"},{"name":"s","data_type":"text"}]}`, "1", oneText, writeText("x"))},
		{"column count mismatch", withMeta(`{"name":"t","columns":[]}`, "1", oneText, writeText("x"))},
		{"type mismatch", withMeta(`{"name":"t","columns":[{"name":"s","data_type":"bigint"}]}`, "1", oneText, writeText("x"))},
		{"bad row count", withMeta(`{"name":"t","columns":[{"name":"s","data_type":"text"}]}`, "2", oneText, writeText("x"))},
		{"bad decimal", withMeta(`{"name":"t","columns":[{"name":"s","data_type":"decimal"}]}`, "1", oneText, writeText("1/2"))},
		{"bad json", withMeta(`{"name":"t","columns":[{"name":"s","data_type":"json"}]}`, "1", oneText, writeText("{"))},
		{"json scalar", withMeta(`{"name":"t","columns":[{"name":"s","data_type":"json"}]}`, "1", oneText, writeText("1"))},
		{"json trailing data", withMeta(`{"name":"t","columns":[{"name":"s","data_type":"json"}]}`, "1", oneText, writeText("[] []"))},
		{"json huge number", withMeta(`{"name":"t","columns":[{"name":"s","data_type":"json"}]}`, "1", oneText, writeText("[1e999]"))},
		{"time out of range", withMeta(`{"name":"t","columns":[{"name":"s","data_type":"time"}]}`, "1", oneInt, writeInt(int64(25*time.Hour)))},
		{"timestamp without unit", withMeta(`{"name":"t","columns":[{"name":"s","data_type":"timestamp"}]}`, "1", oneInt, writeInt(1))},
		{"decimal with exponent", withMeta(`{"name":"t","columns":[{"name":"s","data_type":"decimal"}]}`, "1", oneText, writeText("1e999999999"))},
		{"int96 beyond a day", withMeta(`{"name":"t","columns":[{"name":"s","data_type":"timestamp"}]}`, "1",
			parquet.Group{"s": parquet.Optional(parquet.Leaf(parquet.Int96Type))}, func(w *parquet.Writer) error {
				_, err := w.WriteRows([]parquet.Row{{parquet.Int96Value(deprecated.Int96{0xffffffff, 0xffffffff, 2440588}).Level(0, 1, 0)}})
				return err
			})},
		{"too many empty rows", withMeta(`{"name":"t","columns":[]}`, "99999999", parquet.Group{}, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeParquet(tt.payload)
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error = %v, want one wrapping ErrFormat", err)
			}
		})
	}
}

func FuzzDecodeParquet(f *testing.F) {
	tb := parquetAllTypesTable(f)
	rows := []schema.Row{{
		"text": "a", "bigint": int64(1), "double": 1.5, "bool": true,
		"timestamp": time.Unix(1, 2).UTC(), "date": schema.Date{Year: 2000, Month: 1, Day: 2},
		"time": schema.TimeOfDay{Hour: 1}, "decimal": schema.MustDecimal("1.5"),
		"binary": []byte("b"), "json": map[string]any{"k": []any{int64(1)}},
	}, {}}
	seed, err := encodeParquet(nil, tb, rows)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("PAR1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		tb, rows, err := decodeParquet(payload)
		// A RowDecoder that decoded the seed before gives the same.
		checkRowDecoder(t, Parquet, [][]byte{seed}, payload, rows, err)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		// Whatever decodes must encode again.
		if _, err := encodeParquet(nil, tb, rows); err != nil {
			t.Fatalf("decoded payload does not encode again: %v", err)
		}
	})
}

// parquetEventRows returns n rows like gen_events makes.
func parquetEventRows(t testing.TB, n int) (*schema.Table, []schema.Row) {
	tb := parquetTestTable(t,
		"id", "bigint", "user_name", "text", "email", "text", "created_at", "timestamp",
		"amount", "double", "active", "bool", "score", "bigint", "address", "json", "tags", "json")
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]schema.Row, n)
	for i := range rows {
		rows[i] = schema.Row{
			"id":         int64(i),
			"user_name":  fmt.Sprintf("user_%d", i%500),
			"email":      fmt.Sprintf("user_%d@example.com", i),
			"created_at": start.Add(time.Duration(i) * 1234567891),
			"amount":     float64(i%10000) / 100,
			"active":     i%3 != 0,
			"score":      int64(i * 7 % 1000),
			"address": map[string]any{
				"street": fmt.Sprintf("%d Main St", i),
				"city":   []string{"Berlin", "Paris", "Lisbon"}[i%3],
				"zip":    fmt.Sprintf("%05d", i%100000),
				"geo":    map[string]any{"lat": 52.52 + float64(i%100)/1000, "lon": 13.405},
			},
			"tags": []any{"a", "b", fmt.Sprintf("t%d", i%10)},
		}
	}
	return tb, rows
}

func BenchmarkParquetRoundTrip(b *testing.B) {
	tb, rows := parquetEventRows(b, 1000)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = encodeParquet(buf[:0], tb, rows)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := decodeParquet(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "bytes/file")
}

// BenchmarkParquetCodec compares the codecs parquetCodec could be. zstd
// is only encoded: decodeParquet refuses zstd pages, whose decompressed size
// it cannot check up front (decoding them, before that check existed, took
// as long as Snappy).
func BenchmarkParquetCodec(b *testing.B) {
	tb, rows := parquetEventRows(b, 1000)
	saved := parquetCodec
	defer func() { parquetCodec = saved }()
	codecs := []struct {
		name  string
		codec compress.Codec
	}{
		{"snappy-fast", parquetSnappy{}},
		{"snappy-parquet-go", &parquet.Snappy},
		{"zstd-fastest", &zstd.Codec{Level: zstd.SpeedFastest}},
		{"uncompressed", &parquet.Uncompressed},
	}
	for _, c := range codecs {
		parquetCodec = c.codec
		payload, err := encodeParquet(nil, tb, rows)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/encode", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf, _ = encodeParquet(buf[:0], tb, rows)
			}
			b.ReportMetric(float64(len(payload)), "bytes/file")
		})
		// The rows as values by column index, as the producer's batches
		// hold them.
		vals := valsOf(b, tb, rows)
		b.Run(c.name+"/encode-vals", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf, _ = EncodeBatch(buf[:0], Parquet, nil, Batch{Table: tb, Vals: vals})
			}
		})
		if _, ok := c.codec.(*zstd.Codec); ok {
			continue
		}
		perRow := func(b *testing.B) {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
		}
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := decodeParquet(payload); err != nil {
					b.Fatal(err)
				}
			}
			perRow(b)
		})
		b.Run(c.name+"/decode-reuse", func(b *testing.B) {
			b.ReportAllocs()
			var rd RowDecoder
			for b.Loop() {
				if _, _, err := rd.Decode(Parquet, payload, nil); err != nil {
					b.Fatal(err)
				}
			}
			perRow(b)
		})
	}
}
