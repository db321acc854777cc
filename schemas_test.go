package bridge

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// A batch too large for a message, rejected terminally: DeadLetterRows
// reads its dead letter's copy from the Object Store and decodes its rows;
// Schema lists the table and its nested child with their column types.
func TestDeadLetterRowsAndSchema(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, format := range []FileFormat{TypedJSONL, Parquet} {
			t.Run(string(format), func(t *testing.T) {
				ctx := ctxT(t)
				e := newEnv(t, b)
				var r recorder
				r.setFail(func(items []Row, table Table) error {
					for _, it := range items {
						if _, ok := it["big"]; ok && it["big"] != nil {
							return Terminal(errors.New("too big for the remote API"))
						}
					}
					return nil
				})
				p := e.open(NewDestination("d", r.fn, BatchSize(2), LoaderFileFormat(format), MaxTableNesting(1)))
				// Two different values that do not compress: the batch
				// is over the inline limit in both formats.
				big1, big := randomText(700<<10, 1), randomText(700<<10, 2)
				items := []any{
					map[string]any{"id": 1, "big": big1},
					map[string]any{"id": 2, "big": big},
					map[string]any{"id": 3, "lines": []any{map[string]any{"sku": "a", "qty": 2}}},
				}
				if _, err := p.Run(ctx, items, TableName("t")); !errors.Is(err, ErrDeadLettered) {
					t.Fatalf("Run: %v, want ErrDeadLettered", err)
				}
				dead, err := p.DeadLetters(ctx, DeadLetterFilter{Destination: "d"})
				if err != nil || len(dead) != 1 {
					t.Fatalf("DeadLetters: %d, %v; want 1", len(dead), err)
				}
				if dead[0].Header.Get("Bridge-Object") == "" {
					t.Fatalf("the dead letter is not in the Object Store (%d bytes inline): the test does not test it", len(dead[0].Data))
				}
				table, rows, err := p.DeadLetterRows(ctx, dead[0])
				if err != nil {
					t.Fatalf("DeadLetterRows: %v", err)
				}
				if table.Name != "t" || len(rows) != 2 || rows[0]["id"] != int64(1) || rows[1]["id"] != int64(2) || rows[1]["big"] != big {
					t.Fatalf("DeadLetterRows: table %q, %d rows", table.Name, len(rows))
				}

				tables, version, err := p.Schema(ctx)
				if err != nil || version < 1 {
					t.Fatalf("Schema: version %d, %v", version, err)
				}
				types := map[string]string{}
				for _, tb := range tables {
					if tb.Keys != nil {
						t.Errorf("table %s: Schema returns the normalizer's keys", tb.Name)
					}
					for _, c := range tb.Columns {
						types[tb.Name+"."+c.Name] = string(c.DataType)
					}
					if tb.Name == "t__lines" && tb.Parent != "t" {
						t.Errorf("t__lines: parent %q", tb.Parent)
					}
				}
				for col, want := range map[string]string{"t.id": "bigint", "t.big": "text", "t__lines.sku": "text", "t__lines.qty": "bigint"} {
					if types[col] != want {
						t.Errorf("column %s: type %q, want %q (%v)", col, types[col], want, types)
					}
				}
			})
		}
	})
}

// randomText is n letters that hardly compress, the same for the same seed.
func randomText(n int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
	}
	return string(b)
}
