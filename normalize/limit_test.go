package normalize

import (
	"errors"
	"strconv"
	"testing"

	"github.com/fanoutbridge/bridge/schema"
)

// A table at MaxColumns rejects the rows that would widen it, with an
// error naming the table and the key, and keeps taking rows that fit; the
// rejected keys of a row rejected at the limit are not recorded, so such rows leave
// nothing behind.
func TestMaxColumns(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		t.Run("reuse="+strconv.FormatBool(inPlace), func(t *testing.T) {
			n := mustNew(t, Config{MaxColumns: 3, MaxNesting: 1, ReuseInput: inPlace})
			emit := func(*schema.Table, schema.Row) error { return nil }
			norm := func(item map[string]any) error { return n.Normalize(item, "t", emit) }
			if err := norm(map[string]any{"a": 1, "b": 2}); err != nil {
				t.Fatal(err)
			}
			// Two new keys where one fits: the row is rejected whole.
			err := norm(map[string]any{"c": 1, "d": 2})
			if !errors.Is(err, ErrTooManyColumns) {
				t.Fatalf("a row adding 2 columns to a table of 2 (limit 3): %v, want ErrTooManyColumns", err)
			}
			if err := norm(map[string]any{"c": 1}); err != nil {
				t.Fatalf("a row adding the third column: %v", err)
			}
			for i := range 100 {
				err := norm(map[string]any{"a": 1, "k" + strconv.Itoa(i): 1})
				if !errors.Is(err, ErrTooManyColumns) {
					t.Fatalf("row %d: %v, want ErrTooManyColumns", i, err)
				}
			}
			// A flattened object and a variant column count too.
			if err := norm(map[string]any{"o": map[string]any{"x": 1}}); !errors.Is(err, ErrTooManyColumns) {
				t.Fatalf("flattened object: %v", err)
			}
			if err := norm(map[string]any{"a": "text"}); !errors.Is(err, ErrTooManyColumns) {
				t.Fatalf("variant column: %v", err)
			}
			if err := norm(map[string]any{"a": 5, "b": nil, "c": 7}); err != nil {
				t.Fatalf("a row that fits: %v", err)
			}
			tb := n.Tables()[0]
			if got := columnNames(tb); len(got) != 3 {
				t.Fatalf("columns %v, want a, b, c", got)
			}
			// Only d, of the row that was partly under the limit.
			if len(tb.Keys) > 4 {
				t.Errorf("the key record holds rejected keys: %v", tb.Keys)
			}
			const want = `normalize: too many columns: the key "zz" would make column 4 of table "t", over the limit of 3`
			if err := norm(map[string]any{"zz": 1}); err == nil || err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
		})
	}
}

// System columns do not make a table of MaxColumns data columns reject
// every row.
func TestMaxColumnsWithSystemColumns(t *testing.T) {
	n := mustNew(t, Config{MaxColumns: 4, SystemColumns: true})
	rows := run(t, n, "t", map[string]any{"a": 1, "b": 2}, map[string]any{"a": 3})
	if len(rows) != 2 {
		t.Fatalf("rows %v", rows)
	}
}
