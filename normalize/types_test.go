package normalize

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/schema"
)

type (
	textish string
	object  map[string]any
	list    []any
)

func TestTypes(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	local := time.Date(2026, 3, 4, 5, 6, 7, 8, berlin)
	i := 7
	s := "s"
	big1 := new(big.Int).Lsh(big.NewInt(1), 70)
	tests := []struct {
		name string
		in   any
		typ  schema.DataType
		want any
	}{
		{"string", "hello", schema.TypeText, "hello"},
		{"int", 42, schema.TypeBigInt, int64(42)},
		{"int8", int8(-8), schema.TypeBigInt, int64(-8)},
		{"int64", int64(math.MaxInt64), schema.TypeBigInt, int64(math.MaxInt64)},
		{"uint32", uint32(7), schema.TypeBigInt, int64(7)},
		{"uint64 small", uint64(7), schema.TypeBigInt, int64(7)},
		{"uint64 big", uint64(math.MaxUint64), schema.TypeDecimal, schema.MustDecimal("18446744073709551615")},
		{"float64", 1.5, schema.TypeDouble, 1.5},
		{"float32", float32(0.1), schema.TypeDouble, 0.1},
		{"NaN", math.NaN(), schema.TypeDouble, nil},
		{"bool", true, schema.TypeBool, true},
		{"timestamp text", "2026-01-02T03:04:05.5+01:00", schema.TypeTimestamp, time.Date(2026, 1, 2, 2, 4, 5, 5e8, time.UTC)},
		{"time.Time", local, schema.TypeTimestamp, local.UTC()},
		{"*time.Time", &local, schema.TypeTimestamp, local.UTC()},
		{"date", schema.Date{Year: 2026, Month: 2, Day: 3}, schema.TypeDate, schema.Date{Year: 2026, Month: 2, Day: 3}},
		{"time", schema.TimeOfDay{Hour: 1, Minute: 2, Second: 3}, schema.TypeTime, schema.TimeOfDay{Hour: 1, Minute: 2, Second: 3}},
		{"decimal", schema.MustDecimal("12.50"), schema.TypeDecimal, schema.MustDecimal("12.5")},
		{"*big.Int", big1, schema.TypeDecimal, schema.MustDecimal(big1.String())},
		{"*big.Rat", big.NewRat(1, 4), schema.TypeDecimal, schema.MustDecimal("0.25")},
		{"binary", []byte{1, 2}, schema.TypeBinary, []byte{1, 2}},
		{"json object", map[string]any{"a": 1}, schema.TypeJSON, map[string]any{"a": int64(1)}},
		{"json list", []any{1.5, "x", nil}, schema.TypeJSON, []any{1.5, "x", nil}},
		{"json content converted", map[string]any{"t": local, "b": []byte("hi"), "n": json.Number("5"), "f": math.Inf(1)},
			schema.TypeJSON, map[string]any{"t": "2026-03-04T04:06:07.000000008Z", "b": "aGk=", "n": int64(5), "f": nil}},
		{"map[string]string", map[string]string{"a": "b"}, schema.TypeJSON, map[string]any{"a": "b"}},
		{"[]map[string]any", []map[string]any{{"a": 1}}, schema.TypeJSON, []any{map[string]any{"a": int64(1)}}},
		{"[]string", []string{"a"}, schema.TypeJSON, []any{"a"}},
		{"[]int", []int{1, 2}, schema.TypeJSON, []any{int64(1), int64(2)}},
		{"json.Number int", json.Number("12"), schema.TypeBigInt, int64(12)},
		{"json.Number big int", json.Number("123456789012345678901234567890"), schema.TypeDecimal, schema.MustDecimal("123456789012345678901234567890")},
		{"json.Number float", json.Number("1.25e2"), schema.TypeDouble, 125.0},
		{"json.RawMessage", json.RawMessage(`{"a":[1]}`), schema.TypeJSON, map[string]any{"a": []any{int64(1)}}},
		{"*int", &i, schema.TypeBigInt, int64(7)},
		{"*string", &s, schema.TypeText, "s"},
		{"named string", textish("x"), schema.TypeText, "x"},
		{"named map", object{"a": 1}, schema.TypeJSON, map[string]any{"a": int64(1)}},
		{"named list", list{"a"}, schema.TypeJSON, []any{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNew(t, Config{})
			rows := run(t, n, "t", map[string]any{"c": tt.in})
			got := rows[0].row["c"]
			if c := mustColumn(t, rows[0].table, "c"); c.DataType != tt.typ {
				t.Fatalf("column type %s, want %s", c.DataType, tt.typ)
			}
			if f, ok := got.(float64); ok && math.IsNaN(f) && tt.want == nil {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("value %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestUnsupportedValues(t *testing.T) {
	tests := []struct {
		name string
		in   any
	}{
		{"chan", make(chan int)},
		{"func", func() {}},
		{"complex", complex(1, 2)},
		{"rat without decimal expansion", big.NewRat(1, 3)},
		{"bad json.Number", json.Number("1x")},
		{"json.Number out of range", json.Number("1e400")},
		{"chan in struct", struct{ C chan int }{make(chan int)}},
		{"func in json", map[string]any{"f": func() {}}},
		{"raw message with trailing data", json.RawMessage(`1 2`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNew(t, Config{})
			err := n.Normalize(map[string]any{"ok": 1, "bad_col": tt.in}, "t", func(*schema.Table, schema.Row) error {
				t.Fatal("row emitted")
				return nil
			})
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `"bad_col"`) {
				t.Fatalf("err = %v, want ErrUnsupported naming bad_col", err)
			}
			// The failed row claimed no columns: the next row of the table
			// adds them.
			rows := run(t, n, "t", map[string]any{"ok": "text now"})
			if c := mustColumn(t, rows[0].table, "ok"); c.DataType != schema.TypeText {
				t.Errorf("column ok is %s after a failed row, want text", c.DataType)
			}
		})
	}
}

func TestTimestampDetection(t *testing.T) {
	tests := []struct {
		in   string
		want any // time.Time or the string itself
	}{
		{"2026-01-02T03:04:05Z", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2026-01-02t03:04:05z", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2026-01-02T03:04:05.123456789Z", time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)},
		{"2026-01-02T03:04:05.1234567891Z", time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)},
		{"2026-01-02T03:04:05-02:30", time.Date(2026, 1, 2, 5, 34, 5, 0, time.UTC)},
		{"2024-02-29T00:00:00Z", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"2026-13-01T00:00:00Z", "2026-13-01T00:00:00Z"},
		{"2025-02-29T00:00:00Z", "2025-02-29T00:00:00Z"},
		{"2026-01-02T24:00:00Z", "2026-01-02T24:00:00Z"},
		{"2026-01-02T23:59:60Z", "2026-01-02T23:59:60Z"},
		{"2026-01-02T03:04:05", "2026-01-02T03:04:05"},
		{"2026-01-02 03:04:05Z", "2026-01-02 03:04:05Z"},
		{"2026-01-02T03:04:05.Z", "2026-01-02T03:04:05.Z"},
		{"2026-01-02T03:04:05+0100", "2026-01-02T03:04:05+0100"},
		{"2026-01-02T03:04:05Z ", "2026-01-02T03:04:05Z "},
		{"2026-01-02", "2026-01-02"},
		{"hello", "hello"},
		{"hello, this is a long plain string", "hello, this is a long plain string"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n := mustNew(t, Config{})
			rows := run(t, n, "t", map[string]any{"c": tt.in})
			if got := rows[0].row["c"]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%q -> %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestVariants(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name   string
		naming Convention
		first  any
		then   any
		col    string // where then lands
		want   any
		typ    schema.DataType
	}{
		{"integral double coerced into bigint", Direct, 1, 2.0, "n", int64(2), schema.TypeBigInt},
		{"fractional double is a variant", Direct, 1, 1.5, "n__v_double", 1.5, schema.TypeDouble},
		{"bigint into double", Direct, 1.5, 3, "n", 3.0, schema.TypeDouble},
		{"inexact bigint into double is a variant", Direct, 1.5, int64(1<<53 + 1), "n__v_bigint", int64(1<<53 + 1), schema.TypeBigInt},
		{"bigint into decimal", Direct, schema.MustDecimal("1.5"), 3, "n", schema.MustDecimal("3"), schema.TypeDecimal},
		{"double into decimal", Direct, schema.MustDecimal("1.5"), 0.1, "n", schema.MustDecimal("0.1"), schema.TypeDecimal},
		{"integral decimal into bigint", Direct, 1, schema.MustDecimal("4.0"), "n", int64(4), schema.TypeBigInt},
		{"number text into bigint", Direct, 1, " 42 ", "n", int64(42), schema.TypeBigInt},
		{"number text into double", Direct, 1.5, "2.5", "n", 2.5, schema.TypeDouble},
		{"word into double is a text variant", Direct, 1.5, "abc", "n__v_text", "abc", schema.TypeText},
		{"bool text into bool", Direct, true, "False", "n", false, schema.TypeBool},
		{"one into bool", Direct, true, 1, "n", true, schema.TypeBool},
		{"two into bool is a variant", Direct, true, 2, "n__v_bigint", int64(2), schema.TypeBigInt},
		{"timestamp text into bigint is a timestamp variant", Direct, 1, "2026-01-02T03:04:05.000000006Z", "n__v_timestamp", ts, schema.TypeTimestamp},
		{"date text into timestamp", Direct, "2026-01-02T03:04:05Z", "2026-01-02", "n", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), schema.TypeTimestamp},
		{"json into bigint is a variant", Direct, 1, map[string]any{"a": 1}, "n__v_json", map[string]any{"a": int64(1)}, schema.TypeJSON},
		{"scalar into json is a variant", Direct, []any{1}, "x", "n__v_text", "x", schema.TypeText},
		{"bigint into text", Direct, "a", 12, "n", "12", schema.TypeText},
		{"double into text", Direct, "a", 1e21, "n", "1e+21", schema.TypeText},
		{"bool into text", Direct, "a", true, "n", "true", schema.TypeText},
		{"timestamp into text", Direct, "a", time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)), "n", "2026-01-02T02:04:05.000000006Z", schema.TypeText},
		{"json into text", Direct, "a", map[string]any{"b": []any{1, "<x>"}, "a": nil}, "n", `{"a":null,"b":[1,"<x>"]}`, schema.TypeText},
		{"binary into text", Direct, "a", []byte("hi"), "n", "aGk=", schema.TypeText},
		{"decimal into text", Direct, "a", schema.MustDecimal("1.50"), "n", "1.5", schema.TypeText},
		{"timestamp text stays text in a text column", Direct, "a", "2026-01-02T03:04:05+01:00", "n", "2026-01-02T03:04:05+01:00", schema.TypeText},
		{"variant name is normalized", SnakeCase, 1, 1.5, "n__v_double", 1.5, schema.TypeDouble},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNew(t, Config{Naming: tt.naming})
			rows := run(t, n, "t", map[string]any{"n": tt.first}, map[string]any{"n": tt.then})
			row, tb := rows[1].row, rows[1].table
			if len(row) != 1 {
				t.Fatalf("row %v, want one value", row)
			}
			if got := row[tt.col]; !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("row %v: %q = %#v, want %#v", row, tt.col, got, tt.want)
			}
			c := mustColumn(t, tb, tt.col)
			if c.DataType != tt.typ {
				t.Errorf("column %q is %s, want %s", tt.col, c.DataType, tt.typ)
			}
			if variant := tt.col != "n"; c.Variant != variant || (variant && c.Of != "n") {
				t.Errorf("column %+v: Variant/Of wrong", c)
			}
			// A later value of the same kind goes to the same place.
			rows = run(t, n, "t", map[string]any{"n": tt.then})
			if _, ok := rows[0].row[tt.col]; !ok {
				t.Errorf("second value went to %v", rows[0].row)
			}
		})
	}
}

func TestVariantNameTaken(t *testing.T) {
	// A key has the variant's name: the variant takes the next suffix.
	n := mustNew(t, Config{})
	run(t, n, "t", map[string]any{"n": 1, "n__v_double": true})
	rows := run(t, n, "t", map[string]any{"n": 1.5})
	if got := rows[0].row["n__v_double_2"]; got != 1.5 {
		t.Fatalf("row %v, want n__v_double_2 = 1.5", rows[0].row)
	}
	if c := mustColumn(t, rows[0].table, "n__v_double_2"); !c.Variant || c.Of != "n" {
		t.Fatalf("column %+v, want a variant of n", c)
	}

	// A stored schema from before Keys: the key's column has the variant's
	// name and another type.
	old := &schema.Table{Name: "t", Columns: []schema.Column{
		{Name: "n", DataType: schema.TypeBigInt, Nullable: true},
		{Name: "n__v_double", DataType: schema.TypeBool, Nullable: true},
	}}
	n = mustNew(t, Config{}, old)
	err := n.Normalize(map[string]any{"n": 1.5}, "t", func(*schema.Table, schema.Row) error { return nil })
	if !errors.Is(err, ErrCoerce) {
		t.Fatalf("err = %v, want ErrCoerce", err)
	}
}
