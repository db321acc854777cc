package postgres_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/sinks/postgres"
)

// One row of every bridge type goes through a pipeline and comes back from
// PostgreSQL with the same value, in the column type README.md documents.
func TestTypesRoundTrip(t *testing.T) {
	d := newDB(t)
	p := pipeline(t, "pg_"+randName(), t.TempDir(), postgres.Destination("pg", bridge.WithConfig(d.config())))
	ts := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	row := map[string]any{
		"id":   int64(1),
		"txt":  "héllo \"quoted\" 'x' \\ tab\t",
		"big":  int64(-9007199254740993),
		"dbl":  0.1,
		"ok":   true,
		"ts":   ts,
		"day":  schema.Date{Year: 2024, Month: time.February, Day: 29},
		"tod":  schema.TimeOfDay{Hour: 13, Minute: 14, Second: 15, Nanosecond: 123456000},
		"dec":  schema.MustDecimal("-12345678901234567890.123456789"),
		"bin":  []byte{0, 1, 2, 255},
		"doc":  map[string]any{"a": int64(1), "b": []any{"x", true}, "c": nil},
		"list": []any{int64(1), "two"},
	}
	if _, err := p.Run(ctxT(t), []any{row, map[string]any{"id": int64(2)}}, bridge.TableName("types")); err != nil {
		t.Fatalf("Run: %v", err)
	}

	wantTypes := map[string]string{
		"id": "bigint", "txt": "text", "big": "bigint", "dbl": "double precision", "ok": "boolean",
		"ts": "timestamp with time zone", "day": "date", "tod": "time without time zone", "dec": "numeric",
		"bin": "bytea", "doc": "jsonb", "list": "jsonb",
	}
	cols := d.columns("types")
	for c, want := range wantTypes {
		if cols[c] != want {
			t.Errorf("column %s is %q, want %q", c, cols[c], want)
		}
	}

	var (
		txt, day, tod, dec string
		big                int64
		dbl                float64
		ok                 bool
		gotTS              time.Time
		bin                []byte
		doc                map[string]any
		list               []any
	)
	err := d.pool.QueryRow(ctxT(t), `SELECT txt, big, dbl, ok, ts, day::text, tod::text, dec::text, bin, doc, list FROM `+
		d.ident("types")+` WHERE id = 1`).Scan(&txt, &big, &dbl, &ok, &gotTS, &day, &tod, &dec, &bin, &doc, &list)
	if err != nil {
		t.Fatal(err)
	}
	check := func(col string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", col, got, want)
		}
	}
	check("txt", txt, row["txt"])
	check("big", big, row["big"])
	check("dbl", dbl, row["dbl"])
	check("ok", ok, true)
	if !gotTS.Equal(ts) {
		t.Errorf("ts: got %v, want %v", gotTS, ts)
	}
	check("day", day, "2024-02-29")
	check("tod", tod, "13:14:15.123456")
	check("dec", dec, "-12345678901234567890.123456789")
	if !bytes.Equal(bin, row["bin"].([]byte)) {
		t.Errorf("bin: got %x", bin)
	}
	check("doc", doc, map[string]any{"a": float64(1), "b": []any{"x", true}, "c": nil})
	check("list", list, []any{float64(1), "two"})

	// The row without the other fields has NULLs there.
	if n := d.int64(`SELECT count(*) FROM ` + d.ident("types") + ` WHERE id = 2 AND txt IS NULL AND big IS NULL AND dbl IS NULL
		AND ok IS NULL AND ts IS NULL AND day IS NULL AND tod IS NULL AND dec IS NULL AND bin IS NULL AND doc IS NULL AND list IS NULL`); n != 1 {
		t.Errorf("row 2 is not all NULLs but its id")
	}
}
