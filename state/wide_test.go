package state_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/state"
)

// A schema far over the server's message size (1 MiB) is saved and read
// back whole, through changes and concurrent saves, and the parts of the
// schemas it replaced are gone.
func TestSaveWideSchema(t *testing.T) {
	st := open(t)
	ctx := ctx30(t)
	wide := func(prefix string, n int) *schema.Table {
		tb := table("wide_" + prefix)
		for i := range n {
			_ = tb.AddColumn(col(fmt.Sprintf("column_with_a_long_name_%s_%06d", prefix, i), schema.TypeBigInt))
		}
		return tb
	}
	if err := st.SaveSchema(ctx, state.Schema{Version: 1, Tables: []*schema.Table{wide("a", 20_000)}}); err != nil {
		t.Fatalf("saving a 20,000-column table: %v", err)
	}
	var wg sync.WaitGroup
	for _, who := range []string{"b", "c"} {
		wg.Go(func() {
			if err := st.SaveSchema(ctx, state.Schema{Version: 2, Tables: []*schema.Table{wide(who, 15_000)}}); err != nil {
				t.Errorf("%s: %v", who, err)
			}
		})
	}
	wg.Wait()
	sc, err := st.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Tables) != 3 {
		t.Fatalf("%d tables, want 3", len(sc.Tables))
	}
	for i, want := range []int{20_000, 15_000, 15_000} {
		if n := len(sc.Tables[i].Columns); n != want {
			t.Errorf("table %s: %d columns, want %d", sc.Tables[i].Name, n, want)
		}
	}
	// Shrinking back under one part keeps only the head (once the parts
	// are old enough to belong to no save under way).
	state.SetSchemaPartGrace(t, 0)
	small := state.Schema{Version: 3, Tables: []*schema.Table{table("small", col("x", schema.TypeText))}}
	_, rev, err := st.SchemaRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveSchemaAt(ctx, small, rev); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Schema(ctx); err != nil || len(got.Tables) != 1 {
		t.Fatalf("after a small save: %v %v", got.Tables, err)
	}
	if n := st.SchemaParts(ctx); n != 0 {
		t.Errorf("%d schema parts left behind, want 0", n)
	}
}
