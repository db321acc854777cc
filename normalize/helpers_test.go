package normalize

import (
	"math"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/schema"
)

// emitted is one row as emit saw it, with a snapshot of its table.
type emitted struct {
	table *schema.Table
	row   schema.Row
}

// run normalizes items into table and returns the rows, checking on the way
// that every row fits its table.
func run(t *testing.T, n *Normalizer, table string, items ...any) []emitted {
	t.Helper()
	var out []emitted
	for _, item := range items {
		err := n.Normalize(item, table, func(tb *schema.Table, row schema.Row) error {
			checkRow(t, tb, row)
			out = append(out, emitted{tb.Clone(), row})
			return nil
		})
		if err != nil {
			t.Fatalf("Normalize(%v): %v", item, err)
		}
	}
	return out
}

// checkRow checks that every value of row has the Go type of its column's
// data type, and that json values hold only json content.
func checkRow(t testing.TB, tb *schema.Table, row schema.Row) {
	t.Helper()
	for k, v := range row {
		if v == nil {
			t.Fatalf("table %q: nil value under %q", tb.Name, k)
		}
		dt, ok := schema.TypeOf(v)
		if !ok {
			t.Fatalf("table %q: column %q: value of Go type %T", tb.Name, k, v)
		}
		c, ok := tb.Column(k)
		if !ok {
			t.Fatalf("table %q: no column %q for value %v", tb.Name, k, v)
		}
		if c.DataType != dt {
			t.Fatalf("table %q: column %q is %s, value %v (%T) is %s", tb.Name, k, c.DataType, v, v, dt)
		}
		if ts, ok := v.(time.Time); ok && ts.Location() != time.UTC {
			t.Fatalf("table %q: column %q: timestamp %v not in UTC", tb.Name, k, ts)
		}
		if dt == schema.TypeJSON {
			checkJSONContent(t, k, v)
		}
	}
}

func checkJSONContent(t testing.TB, col string, v any) {
	t.Helper()
	switch x := v.(type) {
	case nil, string, bool, int64, schema.Decimal:
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("column %q: json holds %v", col, x)
		}
	case map[string]any:
		for _, e := range x {
			checkJSONContent(t, col, e)
		}
	case []any:
		for _, e := range x {
			checkJSONContent(t, col, e)
		}
	default:
		t.Fatalf("column %q: json holds %T", col, v)
	}
}

func mustNew(t *testing.T, cfg Config, known ...*schema.Table) *Normalizer {
	t.Helper()
	n, err := New(cfg, known)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustColumn(t *testing.T, tb *schema.Table, name string) schema.Column {
	t.Helper()
	c, ok := tb.Column(name)
	if !ok {
		t.Fatalf("table %q has no column %q; columns %v", tb.Name, name, columnNames(tb))
	}
	return c
}

func columnNames(tb *schema.Table) []string {
	var names []string
	for _, c := range tb.Columns {
		names = append(names, c.Name)
	}
	return names
}
