package batcher

import (
	"errors"
	"testing"

	"github.com/fanoutbridge/bridge/schema"
)

// DecodeTable gives the table Decode gives, without the rows.
func TestDecodeTable(t *testing.T) {
	tb := schema.NewTable("t", "parent")
	for _, c := range []schema.Column{{Name: "a", DataType: schema.TypeText, Nullable: true}, {Name: "b", DataType: schema.TypeBigInt}} {
		if err := tb.AddColumn(c); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []Format{TypedJSONL, Parquet} {
		t.Run(string(f), func(t *testing.T) {
			payload, err := Encode(nil, f, tb, []schema.Row{{"a": "x", "b": int64(1)}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeTable(f, payload)
			if err != nil {
				t.Fatal(err)
			}
			want, _, _ := Decode(f, payload)
			if got.Name != want.Name || got.Parent != want.Parent || len(got.Columns) != len(want.Columns) {
				t.Fatalf("DecodeTable %+v, Decode %+v", got, want)
			}
			for i := range got.Columns {
				if got.Columns[i] != want.Columns[i] {
					t.Fatalf("column %d: %+v, want %+v", i, got.Columns[i], want.Columns[i])
				}
			}
			if _, err := DecodeTable(f, []byte("garbage")); !errors.Is(err, ErrFormat) {
				t.Fatalf("garbage: %v, want ErrFormat", err)
			}
		})
	}
}
