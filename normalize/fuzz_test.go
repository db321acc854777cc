package normalize

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/fanoutbridge/bridge/schema"
)

// FuzzNormalize feeds arbitrary JSON, decoded with encoding/json and
// UseNumber, through a Normalizer with a random config: it must not panic,
// every emitted value must have its column's data type (and a Go type
// schema.TypeOf knows), no value may be nil, and without ReuseInput the input
// must come out unchanged.
func FuzzNormalize(f *testing.F) {
	seeds := []string{
		`{"id":1,"user_name":"user_00000001","email":"u1@example.org","created_at":"2026-01-02T03:04:05Z","amount":12.5,"active":true,"score":-3,"address":{"city":"Oslo","zip":"01234"},"tags":["a","b"]}`,
		`1`, `"x"`, `null`, `[]`, `[1,"a",null,[2,[3]],{"b":{"c":[{"d":1e300}]}}]`,
		`{"a":null,"A":1,"a_":2.0,"_dlt_id":3,"_dlt_custom":{"x":[]}}`,
		`{"n":1}`, `{"n":1.5,"n__v_double":"x"}`, `{"":1," ":{"":[]}}`,
		`{"t":"2026-13-01T00:00:00Z","u":"2026-02-28T23:59:59.999+14:00"}`,
		`{"big":123456789012345678901234567890,"neg":-0,"e":1E-7}`,
		`{"l":[[[[[]]]]],"o":{"o":{"o":{"o":{}}}}}`,
	}
	for i, s := range seeds {
		f.Add([]byte(s), []byte(`{"n":"text","x":[1]}`), uint8(i))
	}
	f.Fuzz(func(t *testing.T, first, second []byte, flags uint8) {
		cfg := Config{
			Naming:        Convention(flags & 1),
			SystemColumns: flags&2 != 0,
			ReuseInput:    flags&4 != 0,
			MaxNesting:    int(flags>>3) % 5,
			LoadID:        "load",
		}
		n, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, data := range [][]byte{first, second, first} {
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			var item any
			if dec.Decode(&item) != nil {
				continue
			}
			var before []byte
			if !cfg.ReuseInput {
				before, _ = json.Marshal(item)
			}
			err := n.Normalize(item, "fuzz", func(tb *schema.Table, row schema.Row) error {
				checkRow(t, tb, row)
				if cfg.SystemColumns {
					if _, ok := row[ColumnID].(string); !ok {
						t.Fatalf("row without _dlt_id: %v", row)
					}
				}
				return nil
			})
			if err != nil {
				// Only numbers beyond float64's range are refused.
				t.Logf("Normalize: %v", err)
			}
			if !cfg.ReuseInput {
				if after, _ := json.Marshal(item); !bytes.Equal(before, after) {
					t.Fatalf("input changed:\n%s\n%s", before, after)
				}
			}
		}
		for _, tb := range n.Tables() {
			seen := map[string]bool{}
			for _, c := range tb.Columns {
				if seen[c.Name] || !c.DataType.Valid() {
					t.Fatalf("table %q: bad column %+v", tb.Name, c)
				}
				seen[c.Name] = true
			}
		}
	})
}
