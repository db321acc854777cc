package batcher

import (
	"errors"
	"reflect"
	"testing"

	"github.com/fanoutbridge/bridge/schema"
)

func TestEncodeRef(t *testing.T) {
	tb := schema.NewTable("t", "")
	for _, c := range []schema.Column{{Name: "id", DataType: schema.TypeBigInt}, {Name: "s", DataType: schema.TypeText, Nullable: true}} {
		if err := tb.AddColumn(c); err != nil {
			t.Fatal(err)
		}
	}
	rows := []schema.Row{{"id": int64(1), "s": "a"}, {"id": int64(2)}}
	ref := SchemaRef{Table: "t", Columns: 2, Sum: "abc"}
	payload, err := EncodeRef(nil, ref, tb, rows)
	if err != nil {
		t.Fatal(err)
	}
	got, gotRows, err := DecodeWith(TypedJSONL, payload, func(r SchemaRef) (*schema.Table, error) {
		if r != ref {
			t.Errorf("resolver got %+v, want %+v", r, ref)
		}
		return tb, nil
	})
	if err != nil || !reflect.DeepEqual(gotRows, rows) || len(got.Columns) != 2 {
		t.Fatalf("DecodeWith: %v %v %v", got, gotRows, err)
	}
	if file, err := LoadFile(TypedJSONL, payload); err != nil || string(file) != "{\"id\":1,\"s\":\"a\"}\n{\"id\":2}\n" {
		t.Errorf("LoadFile: %q %v", file, err)
	}
	if _, _, err := Decode(TypedJSONL, payload); !errors.Is(err, ErrFormat) {
		t.Errorf("Decode without a resolver: %v, want ErrFormat", err)
	}
	down := errors.New("store down")
	if _, _, err := DecodeWith(TypedJSONL, payload, func(SchemaRef) (*schema.Table, error) { return nil, down }); !errors.Is(err, down) || errors.Is(err, ErrFormat) {
		t.Errorf("resolver failing: %v, want its error, not ErrFormat", err)
	}
	small := schema.NewTable("t", "")
	_ = small.AddColumn(schema.Column{Name: "id", DataType: schema.TypeBigInt})
	if _, _, err := DecodeWith(TypedJSONL, payload, func(SchemaRef) (*schema.Table, error) { return small, nil }); !errors.Is(err, ErrFormat) {
		t.Errorf("resolver returning 1 column for a ref to 2: %v, want ErrFormat", err)
	}
}
