package bridge

import "testing"

// Items with no value but nulls make no row, and the run counts them.
func TestEmptyRowsCounted(t *testing.T) {
	rec := &recorder{}
	p := newEnv(t, backends[0]).open(NewDestination("d", rec.fn))
	info, err := p.Run(ctxT(t), []any{map[string]any{"a": nil}, map[string]any{}, map[string]any{"a": 1}}, TableName("t"))
	if err != nil {
		t.Fatal(err)
	}
	if info.EmptyRows != 2 || info.Produced["t"].Items != 1 || len(rec.byTable()["t"]) != 1 {
		t.Fatalf("empty rows %d, produced %+v, delivered %v; want 2 empty, 1 row", info.EmptyRows, info.Produced, rec.byTable())
	}
}
