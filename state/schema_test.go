package state_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/state"
)

func table(name string, cols ...schema.Column) *schema.Table {
	t := schema.NewTable(name, "")
	for _, c := range cols {
		if err := t.AddColumn(c); err != nil {
			panic(err)
		}
	}
	return t
}

func col(name string, dt schema.DataType) schema.Column {
	return schema.Column{Name: name, DataType: dt, Nullable: true}
}

func ctx30(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestSaveSchemaConcurrent has two producers evolve the schema at once, each
// saving only what it knows: every table and column of both is stored.
func TestSaveSchemaConcurrent(t *testing.T) {
	st := open(t)
	ctx := ctx30(t)
	const rounds = 15
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, who := range []string{"a", "b"} {
		wg.Go(func() {
			<-start
			own := table("own_" + who)
			shared := table("shared")
			for i := range rounds {
				_ = own.AddColumn(col(fmt.Sprintf("c%d", i), schema.TypeText))
				_ = shared.AddColumn(col(fmt.Sprintf("%s%d", who, i), schema.TypeBigInt))
				sc := state.Schema{Version: i + 1, Tables: []*schema.Table{shared.Clone(), own.Clone()}}
				if err := st.SaveSchema(ctx, sc); err != nil {
					t.Errorf("%s: SaveSchema: %v", who, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()

	sc, err := st.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*schema.Table{}
	for _, tb := range sc.Tables {
		got[tb.Name] = tb
	}
	if len(got) != 3 || len(sc.Tables) != 3 {
		t.Fatalf("tables %v", sc.Tables)
	}
	for _, who := range []string{"a", "b"} {
		if n := len(got["own_"+who].Columns); n != rounds {
			t.Errorf("own_%s has %d columns, want %d", who, n, rounds)
		}
		for i := range rounds {
			if _, ok := got["shared"].Column(fmt.Sprintf("%s%d", who, i)); !ok {
				t.Errorf("shared lost column %s%d", who, i)
			}
		}
	}
	if sc.Version < rounds {
		t.Errorf("version %d, want at least %d", sc.Version, rounds)
	}
}

func TestSaveSchemaAtConflict(t *testing.T) {
	st := open(t)
	ctx := ctx30(t)
	sc, rev, err := st.SchemaRevision(ctx)
	if err != nil || rev != 0 || len(sc.Tables) != 0 {
		t.Fatalf("empty: %+v rev %d %v", sc, rev, err)
	}
	first := state.Schema{Version: 1, Tables: []*schema.Table{table("t", col("a", schema.TypeText))}}
	rev1, err := st.SaveSchemaAt(ctx, first, 0)
	if err != nil || rev1 == 0 {
		t.Fatalf("create: rev %d %v", rev1, err)
	}
	// A second creator, and a saver at a stale revision, conflict.
	if _, err := st.SaveSchemaAt(ctx, first, 0); !errors.Is(err, state.ErrSchemaConflict) {
		t.Fatalf("second create: %v, want ErrSchemaConflict", err)
	}
	second := state.Schema{Version: 2, Tables: []*schema.Table{table("t", col("a", schema.TypeText), col("b", schema.TypeBool))}}
	rev2, err := st.SaveSchemaAt(ctx, second, rev1)
	if err != nil || rev2 <= rev1 {
		t.Fatalf("update: rev %d %v", rev2, err)
	}
	if _, err := st.SaveSchemaAt(ctx, second, rev1); !errors.Is(err, state.ErrSchemaConflict) {
		t.Fatalf("stale update: %v, want ErrSchemaConflict", err)
	}

	// What a caller that lost does: read, merge, save at the new revision.
	mine := state.Schema{Version: 2, Tables: []*schema.Table{table("t", col("a", schema.TypeText), col("c", schema.TypeDouble))}}
	stored, rev, err := st.SchemaRevision(ctx)
	if err != nil || rev != rev2 {
		t.Fatalf("read: rev %d %v", rev, err)
	}
	if _, err := st.SaveSchemaAt(ctx, state.MergeSchema(stored, mine), rev); err != nil {
		t.Fatal(err)
	}
	sc, _ = st.Schema(ctx)
	if names := colNames(sc.Tables[0]); !reflect.DeepEqual(names, []string{"a", "b", "c"}) || sc.Version != 3 {
		t.Fatalf("columns %v, version %d", names, sc.Version)
	}

	// Saving what is stored already writes nothing.
	_, rev, _ = st.SchemaRevision(ctx)
	if err := st.SaveSchema(ctx, mine); err != nil {
		t.Fatal(err)
	}
	if _, again, _ := st.SchemaRevision(ctx); again != rev {
		t.Errorf("an unchanged schema was written again (revision %d -> %d)", rev, again)
	}
}

func colNames(t *schema.Table) []string {
	var out []string
	for _, c := range t.Columns {
		out = append(out, c.Name)
	}
	return out
}

func TestMergeSchema(t *testing.T) {
	stored := state.Schema{Version: 5, Tables: []*schema.Table{
		table("a", col("x", schema.TypeBigInt), col("y", schema.TypeText)),
		table("b", col("z", schema.TypeText)),
	}}
	stored.Tables[0].Keys = map[string][]string{"x": {"x"}, "y": {"y"}, "y_2": {"Y"}}
	ours := state.Schema{Version: 4, Tables: []*schema.Table{
		table("c", col("n", schema.TypeBool)),
		table("a", col("x", schema.TypeText), col("w", schema.TypeDouble)),
	}}
	// Ours named Y "y_3" and a new key "W" "w": only the new one is taken.
	ours.Tables[1].Keys = map[string][]string{"x": {"x"}, "y_3": {"Y"}, "w": {"W"}}
	before := fmt.Sprint(stored, ours)

	m := state.MergeSchema(stored, ours)
	if fmt.Sprint(stored, ours) != before {
		t.Fatal("MergeSchema modified its input")
	}
	var names []string
	for _, tb := range m.Tables {
		names = append(names, tb.Name)
	}
	if !reflect.DeepEqual(names, []string{"a", "b", "c"}) {
		t.Fatalf("tables %v", names)
	}
	a := m.Tables[0]
	if got := colNames(a); !reflect.DeepEqual(got, []string{"x", "y", "w"}) {
		t.Fatalf("columns %v", got)
	}
	if c, _ := a.Column("x"); c.DataType != schema.TypeBigInt {
		t.Errorf("x became %s, want the stored bigint", c.DataType)
	}
	wantKeys := map[string][]string{"x": {"x"}, "y": {"y"}, "y_2": {"Y"}, "w": {"W"}}
	if !reflect.DeepEqual(a.Keys, wantKeys) {
		t.Errorf("keys %v, want %v", a.Keys, wantKeys)
	}
	if m.Version != 6 {
		t.Errorf("version %d, want 6 (above the stored 5)", m.Version)
	}
	if m := state.MergeSchema(stored, state.Schema{Version: 9, Tables: []*schema.Table{table("b")}}); m.Version != 5 {
		t.Errorf("nothing new: version %d, want the stored 5", m.Version)
	}
	if m := state.MergeSchema(stored, state.Schema{Version: 9, Tables: []*schema.Table{table("d")}}); m.Version != 9 {
		t.Errorf("version %d, want ours, 9", m.Version)
	}
}
