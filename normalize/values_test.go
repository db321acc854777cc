package normalize

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/schema"
)

func TestTextOf(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"int", int64(-12), "-12"},
		{"float", 1.5, "1.5"},
		{"float integral", 2.0, "2.0"},
		{"float small", 1e-7, "1e-7"},
		{"float large", 1e21, "1e+21"},
		{"NaN", math.NaN(), "NaN"},
		{"inf", math.Inf(-1), "-Infinity"},
		{"bool", false, "false"},
		{"timestamp", time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), "2026-01-02T03:04:05.0000006Z"},
		{"date", schema.Date{Year: 2026, Month: 1, Day: 2}, "2026-01-02"},
		{"time", schema.TimeOfDay{Hour: 13, Minute: 4, Second: 5, Nanosecond: 5e8}, "13:04:05.5"},
		{"decimal", schema.MustDecimal("-0.50"), "-0.5"},
		{"binary", []byte{0xff, 0}, "/wA="},
		{"json", map[string]any{"b": []any{nil, true, "q\"\n\x01<", schema.MustDecimal("1.5")}, "a": 1e300},
			`{"a":1e+300,"b":[null,true,"q\"\n\u0001<",1.5]}`},
		{"json invalid utf8", []any{"a\xffb"}, `["a\ufffdb"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := textOf(tt.in); got != tt.want {
				t.Errorf("textOf(%#v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCoerce(t *testing.T) {
	tests := []struct {
		name     string
		to, from schema.DataType
		in       any
		want     any // nil: not coerced
	}{
		{"double to bigint", schema.TypeBigInt, schema.TypeDouble, 2.0, int64(2)},
		{"fraction to bigint", schema.TypeBigInt, schema.TypeDouble, 2.5, nil},
		{"huge double to bigint", schema.TypeBigInt, schema.TypeDouble, 1e19, nil},
		{"hex text to bigint", schema.TypeBigInt, schema.TypeText, "0x1f", int64(31)},
		{"decimal to bigint", schema.TypeBigInt, schema.TypeDecimal, schema.MustDecimal("99999999999999999999"), nil},
		{"bigint to double", schema.TypeDouble, schema.TypeBigInt, int64(math.MaxInt64), nil},
		{"short decimal to double", schema.TypeDouble, schema.TypeDecimal, schema.MustDecimal("0.1"), 0.1},
		{"long decimal to double", schema.TypeDouble, schema.TypeDecimal, schema.MustDecimal("0.10000000000000000001"), nil},
		{"inf text to double", schema.TypeDouble, schema.TypeText, "inf", nil},
		{"NaN to decimal", schema.TypeDecimal, schema.TypeDouble, math.NaN(), nil},
		{"huge exponent text to decimal", schema.TypeDecimal, schema.TypeText, "1e999999999", nil},
		{"text to decimal", schema.TypeDecimal, schema.TypeText, "+1.50", schema.MustDecimal("1.5")},
		{"yes to bool", schema.TypeBool, schema.TypeText, "YES", true},
		{"epoch to timestamp", schema.TypeTimestamp, schema.TypeBigInt, int64(86400), time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC)},
		{"epoch text to timestamp", schema.TypeTimestamp, schema.TypeText, "1.5", time.Date(1970, 1, 1, 0, 0, 1, 5e8, time.UTC)},
		{"far epoch to timestamp", schema.TypeTimestamp, schema.TypeDouble, 1e300, nil},
		{"date to timestamp", schema.TypeTimestamp, schema.TypeDate, schema.Date{Year: 2026, Month: 5, Day: 6}, time.Date(2026, 5, 6, 0, 0, 0, 0, time.UTC)},
		{"text to date", schema.TypeDate, schema.TypeText, "2026-05-06", schema.Date{Year: 2026, Month: 5, Day: 6}},
		{"text to time", schema.TypeTime, schema.TypeText, "01:02:03", schema.TimeOfDay{Hour: 1, Minute: 2, Second: 3}},
		{"hex text to binary", schema.TypeBinary, schema.TypeText, "0x0aff", []byte{0x0a, 0xff}},
		{"base64 text to binary", schema.TypeBinary, schema.TypeText, "aGk=", []byte("hi")},
		{"word to binary", schema.TypeBinary, schema.TypeText, "hello", nil},
		{"list text to json", schema.TypeJSON, schema.TypeText, " [1, \"a\"] ", []any{int64(1), "a"}},
		{"object text to json", schema.TypeJSON, schema.TypeText, `{"a":{"b":true}}`, map[string]any{"a": map[string]any{"b": true}}},
		{"scalar text to json", schema.TypeJSON, schema.TypeText, "42", nil},
		{"broken json text to json", schema.TypeJSON, schema.TypeText, "{\"a\":", nil},
		{"offset without colon to timestamp", schema.TypeTimestamp, schema.TypeText, "2022-04-26T10:36:00+0200",
			time.Date(2022, 4, 26, 8, 36, 0, 0, time.UTC)},
		{"space, minutes and hour offset to timestamp", schema.TypeTimestamp, schema.TypeText, "2022-04-26 10:36+02",
			time.Date(2022, 4, 26, 8, 36, 0, 0, time.UTC)},
		{"naive to timestamp (UTC)", schema.TypeTimestamp, schema.TypeText, "2022-04-26 10:36",
			time.Date(2022, 4, 26, 10, 36, 0, 0, time.UTC)},
		{"naive with fraction to timestamp", schema.TypeTimestamp, schema.TypeText, "2022-04-26 10:36:01.25",
			time.Date(2022, 4, 26, 10, 36, 1, 25e7, time.UTC)},
		{"timestamp to date", schema.TypeDate, schema.TypeTimestamp, time.Date(2022, 4, 26, 23, 59, 0, 0, time.UTC),
			schema.Date{Year: 2022, Month: 4, Day: 26}},
		{"ISO date-time text to date", schema.TypeDate, schema.TypeText, "2022-04-26T01:30:00+02:00",
			schema.Date{Year: 2022, Month: 4, Day: 25}},
		{"epoch to date", schema.TypeDate, schema.TypeBigInt, int64(86400 * 3), schema.Date{Year: 1970, Month: 1, Day: 4}},
		{"epoch text to date", schema.TypeDate, schema.TypeText, "172800.5", schema.Date{Year: 1970, Month: 1, Day: 3}},
		{"word to date", schema.TypeDate, schema.TypeText, "soon", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := coerce(tt.to, tt.from, tt.in)
			if tt.want == nil {
				if ok {
					t.Errorf("coerced to %#v, want a variant", got)
				}
				return
			}
			if !ok {
				t.Fatalf("not coerced, want %#v", tt.want)
			}
			if dt, _ := schema.TypeOf(got); dt != tt.to {
				t.Errorf("got %T", got)
			}
			if b, isBytes := got.([]byte); isBytes {
				if string(b) != string(tt.want.([]byte)) {
					t.Errorf("got %v, want %v", b, tt.want)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

// dlt's coercions through normalization: the value lands in the column the
// first row made, as that column's Go type, not in a variant column.
func TestCoerceIntoExistingColumns(t *testing.T) {
	n := mustNew(t, Config{})
	rows := run(t, n, "events",
		map[string]any{"at": "2022-04-26T10:00:00Z", "day": schema.Date{Year: 2022, Month: 4, Day: 26}, "doc": map[string]any{"a": int64(1)}},
		map[string]any{"at": "2022-04-26 10:36+02", "day": "2022-04-27T23:30:00Z", "doc": `{"b":[1,2]}`},
		map[string]any{"at": "2022-04-26 10:36", "day": int64(86400), "doc": "[true]"},
		map[string]any{"at": int64(1650969360), "doc": "not json"},
	)
	tb := rows[len(rows)-1].table
	for _, c := range []struct {
		name string
		dt   schema.DataType
	}{{"at", schema.TypeTimestamp}, {"day", schema.TypeDate}, {"doc", schema.TypeJSON}} {
		if got := mustColumn(t, tb, c.name).DataType; got != c.dt {
			t.Errorf("column %s: %s, want %s", c.name, got, c.dt)
		}
	}
	want := []time.Time{
		time.Date(2022, 4, 26, 10, 0, 0, 0, time.UTC),
		time.Date(2022, 4, 26, 8, 36, 0, 0, time.UTC),
		time.Date(2022, 4, 26, 10, 36, 0, 0, time.UTC),
		time.Date(2022, 4, 26, 10, 36, 0, 0, time.UTC),
	}
	for i, w := range want {
		if got := rows[i].row["at"]; got != w {
			t.Errorf("row %d: at = %v, want %v", i, got, w)
		}
	}
	if got := rows[1].row["day"]; got != (schema.Date{Year: 2022, Month: 4, Day: 27}) {
		t.Errorf("day from a date-time: %v", got)
	}
	if got := rows[2].row["day"]; got != (schema.Date{Year: 1970, Month: 1, Day: 2}) {
		t.Errorf("day from Unix seconds: %v", got)
	}
	if got := rows[1].row["doc"]; !reflect.DeepEqual(got, map[string]any{"b": []any{int64(1), int64(2)}}) {
		t.Errorf("doc from JSON text: %#v", got)
	}
	// What does not coerce still goes to the variant column.
	if _, ok := tb.Column("doc__v_text"); !ok || rows[3].row["doc__v_text"] != "not json" {
		t.Errorf("text that is not JSON: columns %v, row %v", tb.Columns, rows[3].row)
	}
}

// A row's own _dlt_id is kept, so its child rows get the same ids for the
// same data in every load; rows without one get a fresh random id.
func TestOwnDltIDKept(t *testing.T) {
	item := func() map[string]any {
		return map[string]any{"_dlt_id": "order-17", "items": []any{map[string]any{"sku": "a"}, map[string]any{"sku": "b"}}}
	}
	load := func() []emitted {
		n := mustNew(t, Config{MaxNesting: 1, SystemColumns: true})
		return run(t, n, "orders", item(), map[string]any{"x": int64(1)})
	}
	first, second := load(), load()
	if len(first) != 4 || len(second) != 4 {
		t.Fatalf("rows: %d and %d, want 4 (a root, its 2 children, another root)", len(first), len(second))
	}
	if first[0].row["_dlt_id"] != "order-17" {
		t.Errorf("root id %v, want its own order-17", first[0].row["_dlt_id"])
	}
	for i := 1; i <= 2; i++ {
		a, b := first[i].row, second[i].row
		if a["_dlt_id"] != b["_dlt_id"] || a["_dlt_parent_id"] != "order-17" || a["_dlt_id"] == "" {
			t.Errorf("child %d: ids %v and %v across loads (parent %v): want the same, under order-17", i, a["_dlt_id"], b["_dlt_id"], a["_dlt_parent_id"])
		}
	}
	if first[3].row["_dlt_id"] == second[3].row["_dlt_id"] {
		t.Error("a row without its own id got the same id in two loads: want a random one")
	}
}
