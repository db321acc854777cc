package exec_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/consumer"
	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// everyTypeTable has a column of every data type, and a variant column.
func everyTypeTable() *schema.Table {
	t := schema.NewTable("every \"type\"/table", "parent")
	for _, dt := range schema.DataTypes {
		t.Columns = append(t.Columns, schema.Column{Name: "c_" + string(dt), DataType: dt, Nullable: true})
	}
	t.Columns[0].PrimaryKey = true
	t.Columns = append(t.Columns, schema.Column{Name: "c_bigint__v_text", DataType: schema.TypeText, Nullable: true, Variant: true, Of: "c_bigint"})
	return t
}

func everyTypeRows() []schema.Row {
	cest := time.FixedZone("CEST", 2*3600)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	texts := []string{"plain", "", `quote" back\slash`, "ctrl \x00\x01\x1f\t\r\n end", "Zoë 日本 🎉", "\u2028\u2029", "<html>&amp;", "c_json"}
	ints := []int64{0, -1, math.MaxInt64, math.MinInt64, 1<<53 + 1, 255, 256}
	floats := []float64{0, 1, 0.1, -2.5e-7, 1e21, 5e-324, math.MaxFloat64, 123456.789, 3}
	stamps := []time.Time{
		time.Date(2024, 6, 10, 11, 30, 0, 123456789, cest),
		time.Date(2024, 6, 10, 10, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 1000, cest),
	}
	dates := []schema.Date{{Year: 1, Month: 1, Day: 1}, {Year: 2024, Month: 2, Day: 29}, {Year: 9999, Month: 12, Day: 31}}
	times := []schema.TimeOfDay{{}, {Hour: 23, Minute: 59, Second: 59, Nanosecond: 999999999}, {Hour: 7, Minute: 5, Second: 9, Nanosecond: 5e8}}
	decimals := []schema.Decimal{
		schema.MustDecimal("0"), schema.MustDecimal("-12.50"), schema.MustDecimal("1e-3"),
		schema.MustDecimal("123456789012345678901234567890.000000001"), schema.MustDecimal("-99999999999999999999"),
	}
	binaries := [][]byte{{}, all, []byte("hello"), {0xff}}
	jsons := []any{
		map[string]any{},
		[]any{},
		map[string]any{
			"s": "x\ny", "i": int64(-7), "f": 2.5, "whole": 2.0, "b": true, "n": nil,
			"big":  schema.MustDecimal("123456789012345678901234567890"),
			"list": []any{int64(1), "two", []any{map[string]any{"deep": []any{}}}},
			"zoë":  "ü",
		},
		[]any{nil, false, 1e300},
	}
	var rows []schema.Row
	for i := range 12 {
		row := schema.Row{
			"c_text":      texts[i%len(texts)],
			"c_bigint":    ints[i%len(ints)],
			"c_double":    floats[i%len(floats)],
			"c_bool":      i%2 == 0,
			"c_timestamp": stamps[i%len(stamps)],
			"c_date":      dates[i%len(dates)],
			"c_time":      times[i%len(times)],
			"c_decimal":   decimals[i%len(decimals)],
			"c_binary":    binaries[i%len(binaries)],
			"c_json":      jsons[i%len(jsons)],
		}
		switch i % 4 {
		case 1: // nulls are absent
			delete(row, "c_bigint")
			delete(row, "c_json")
			row["c_bigint__v_text"] = "n/a"
		case 3:
			row = schema.Row{}
		}
		rows = append(rows, row)
	}
	return rows
}

// decodeRow reads a row line back into typed values, using the column types
// of the header line.
func decodeRow(t *testing.T, header map[string]any, line string) schema.Row {
	t.Helper()
	types := map[string]schema.DataType{}
	for _, c := range header["columns"].([]any) {
		c := c.(map[string]any)
		types[c["name"].(string)] = schema.DataType(c["data_type"].(string))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &raw); err != nil {
		t.Fatalf("row %s: %v", line, err)
	}
	row := schema.Row{}
	for k, r := range raw {
		var (
			v   any
			err error
			str string
		)
		switch types[k] {
		case schema.TypeText, schema.TypeTimestamp, schema.TypeDate, schema.TypeTime, schema.TypeDecimal, schema.TypeBinary:
			if err := json.Unmarshal(r, &str); err != nil {
				t.Fatalf("column %s: value %s is not a string: %v", k, r, err)
			}
		}
		switch types[k] {
		case schema.TypeText:
			v = str
		case schema.TypeBigInt:
			v, err = strconv.ParseInt(string(r), 10, 64)
		case schema.TypeDouble:
			v, err = strconv.ParseFloat(string(r), 64)
		case schema.TypeBool:
			v, err = strconv.ParseBool(string(r))
		case schema.TypeTimestamp:
			if !strings.HasSuffix(str, "Z") {
				t.Errorf("timestamp %s is not UTC", r)
			}
			v, err = time.Parse(time.RFC3339Nano, str)
		case schema.TypeDate:
			v, err = schema.ParseDate(str)
		case schema.TypeTime:
			v, err = schema.ParseTimeOfDay(str)
		case schema.TypeDecimal:
			v, err = schema.ParseDecimal(str)
		case schema.TypeBinary:
			v, err = base64.StdEncoding.DecodeString(str)
		default: // json, and keys the table does not know
			v, err = jsonv.Parse(r)
		}
		if err != nil {
			t.Fatalf("column %s: value %s: %v", k, r, err)
		}
		row[k] = v
	}
	return row
}

func TestRowsArriveExactly(t *testing.T) {
	table, rows := everyTypeTable(), everyTypeRows()
	s, dir := newSink(t, "ok")
	if err := s.Write(context.Background(), table, "batch \"1\"\n", rows); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range received(t, dir) {
		lines = append(lines, l...)
	}
	if len(lines) != 1+len(rows) {
		t.Fatalf("the program received %d lines, want %d", len(lines), 1+len(rows))
	}
	var header map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &header); err != nil {
		t.Fatal(err)
	}
	wantHeader := map[string]any{"batch": "batch \"1\"\n", "table": table.Name, "parent": "parent", "rows": float64(len(rows))}
	for k, v := range wantHeader {
		if header[k] != v {
			t.Errorf("header %s = %#v, want %#v", k, header[k], v)
		}
	}
	if cols := header["columns"].([]any); len(cols) != len(table.Columns) ||
		cols[0].(map[string]any)["primary_key"] != true ||
		cols[len(cols)-1].(map[string]any)["variant_of"] != "c_bigint" {
		t.Errorf("header columns = %v", cols)
	}
	for i, row := range rows {
		want := schema.Row{}
		for k, v := range row {
			if ts, ok := v.(time.Time); ok {
				v = ts.UTC()
			}
			want[k] = v
		}
		if got := decodeRow(t, header, lines[1+i]); !reflect.DeepEqual(got, want) {
			t.Errorf("row %d: sent %#v\nreceived %s\ndecoded %#v", i, want, lines[1+i], got)
		}
	}
}

func TestUnencodableBatchIsTerminal(t *testing.T) {
	tests := []struct {
		name string
		v    any
	}{
		{"unknown Go type", struct{}{}},
		{"unknown type inside json", map[string]any{"k": uint8(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := newSink(t, "ok")
			table := schema.NewTable("t", "")
			table.Columns = []schema.Column{{Name: "v", DataType: schema.TypeDouble}}
			err := s.Write(context.Background(), table, "b1", []schema.Row{{"v": 1.0}, {"v": tt.v}})
			if !consumer.IsTerminal(err) || !strings.Contains(err.Error(), "row 1") {
				t.Errorf("Write = %v, want a terminal error about row 1", err)
			}
			if pids := childPIDs(t, dir); len(pids) != 0 {
				t.Errorf("started %d programs for a batch it cannot send", len(pids))
			}
		})
	}
}
