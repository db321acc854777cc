package bridge

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// With the row cache off, every batch is decoded from the stream; with
// ReuseRows, into the memory of the batch before. Every row arrives with its
// values, and the copies CloneRows made during the run are intact after it.
func TestReuseRowsFromStream(t *testing.T) {
	forEachBackend(t, testReuseRowsFromStream)
}

func testReuseRowsFromStream(t *testing.T, b backend) {
	const tables, rows = 3, 1500
	var mu sync.Mutex
	seen := map[string][]string{}
	var kept []Row
	dest := NewDestination("d", func(ctx context.Context, items []Row, table Table) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range items {
			seen[table.Name] = append(seen[table.Name], fmt.Sprintf("%d %s %v %s", r["id"].(int64), r["name"].(string),
				r["tags"], r["at"].(time.Time).Format(time.RFC3339)))
		}
		if table.Name == "t0" {
			kept = append(kept, CloneRows(items)...)
		}
		return nil
	}, ReuseRows(), BatchSize(100), MaxParallelLoadJobs(4))
	p := newEnv(t, b).open(dest, WithRowCache(0))
	var data []any
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := map[string][]string{}
	for i := range rows {
		tbl := fmt.Sprintf("t%d", i%tables)
		at := base.Add(time.Duration(i) * time.Minute)
		tags := []any{fmt.Sprint("a", i), int64(i)}
		data = append(data, map[string]any{"tbl": tbl, "id": i, "name": fmt.Sprintf("name-%d", i), "tags": tags, "at": at})
		want[tbl] = append(want[tbl], fmt.Sprintf("%d name-%d %v %s", i, i, []any{fmt.Sprint("a", i), int64(i)}, at.Format(time.RFC3339)))
	}
	route := TableNameFunc(func(it any) string { return it.(map[string]any)["tbl"].(string) })
	if _, err := p.Run(ctxT(t), data, route); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for tbl, w := range want {
		got := slices.Clone(seen[tbl])
		slices.Sort(got)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Fatalf("table %s: %d rows, want %d; first %q, want %q", tbl, len(got), len(w), got[:min(3, len(got))], w[:3])
		}
	}
	if len(kept) != rows/tables {
		t.Fatalf("kept %d rows of t0, want %d", len(kept), rows/tables)
	}
	var ids []int64
	for _, r := range kept {
		id := r["id"].(int64)
		if r["name"] != fmt.Sprintf("name-%d", id) || r["tags"].([]any)[1] != id {
			t.Fatalf("a row kept with CloneRows changed: %v", r)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i, id := range ids {
		if id != int64(i*tables) {
			t.Fatalf("rows kept with CloneRows changed: ids %v..., want those of t0", ids[:min(10, len(ids))])
		}
	}
}
