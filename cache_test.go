package bridge

import (
	"strconv"
	"sync"
	"testing"

	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/schema"
)

// checkCache checks the cache's list against its map and row count.
func checkCache(t *testing.T, c *rowCache) {
	t.Helper()
	n, rows := 0, 0
	var prev *cacheEntry
	for e := c.head; e != nil; e = e.next {
		if e.prev != prev || c.m[e.id] != e {
			t.Fatalf("list broken at %q", e.id)
		}
		n++
		rows += len(e.rows)
		prev = e
	}
	if prev != c.tail || n != len(c.m) || rows != c.rows {
		t.Fatalf("list has %d batches and %d rows, map %d, rows %d", n, rows, len(c.m), c.rows)
	}
}

func TestRowCacheTakeLeavesNothing(t *testing.T) {
	c := newRowCache(16 << 10)
	tb := schema.NewTable("t", "")
	rows := make([]Row, 10)
	for i := range 100_000 {
		id := strconv.Itoa(i)
		c.put(id, batcher.Batch{Table: tb, Rows: rows})
		if _, ok := c.take(id); !ok {
			t.Fatalf("batch %s not cached", id)
		}
	}
	if len(c.m) != 0 || c.rows != 0 || c.head != nil || c.tail != nil || c.hits != 100_000 {
		t.Fatalf("after 100000 put/take: %d batches, %d rows, head %v, tail %v, %d hits", len(c.m), c.rows, c.head, c.tail, c.hits)
	}
}

func TestRowCacheEvictsOldest(t *testing.T) {
	c := newRowCache(30)
	tb := schema.NewTable("t", "")
	rows := make([]Row, 10)
	for _, id := range []string{"a", "b", "c"} {
		c.put(id, batcher.Batch{Table: tb, Rows: rows})
	}
	checkCache(t, c)
	if _, ok := c.take("b"); !ok { // from the middle
		t.Fatal("b not cached")
	}
	c.put("d", batcher.Batch{Table: tb, Rows: rows})
	c.put("e", batcher.Batch{Table: tb, Rows: rows}) // 40 rows: a goes
	checkCache(t, c)
	for id, want := range map[string]bool{"a": false, "b": false, "c": true, "d": true, "e": true} {
		if _, ok := c.m[id]; ok != want {
			t.Errorf("%s cached: %v, want %v", id, ok, want)
		}
	}
	c.put("c", batcher.Batch{Table: tb, Rows: make([]Row, 5)}) // published again: the newer rows, now the newest
	checkCache(t, c)
	if c.rows != 25 || c.tail.id != "c" {
		t.Fatalf("rows %d, newest %q", c.rows, c.tail.id)
	}
	c.put("big", batcher.Batch{Table: tb, Rows: make([]Row, 31)}) // larger than the cache: not kept
	if _, ok := c.take("big"); ok {
		t.Fatal("a batch larger than the cache was kept")
	}
	for _, id := range []string{"d", "e", "c"} {
		if b, ok := c.take(id); !ok || b.table != tb {
			t.Fatalf("take %s: %v", id, ok)
		}
	}
	checkCache(t, c)
	if len(c.m) != 0 || c.rows != 0 {
		t.Fatalf("%d batches, %d rows left", len(c.m), c.rows)
	}
}

func TestRowCacheConcurrent(t *testing.T) {
	c := newRowCache(1000)
	tb := schema.NewTable("t", "")
	rows := make([]Row, 10)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 5000 {
				id := strconv.Itoa(g) + "." + strconv.Itoa(i)
				c.put(id, batcher.Batch{Table: tb, Rows: rows})
				if i%3 != 0 {
					c.take(id)
				}
			}
		})
	}
	wg.Wait()
	checkCache(t, c)
	if c.rows > 1000 {
		t.Fatalf("%d rows, more than the cache holds", c.rows)
	}
}

func BenchmarkRowCachePutTake(b *testing.B) {
	c := newRowCache(16 << 10)
	tb := schema.NewTable("t", "")
	rows := make([]Row, 10)
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := ids[i%len(ids)]
		c.put(id, batcher.Batch{Table: tb, Rows: rows})
		c.take(id)
	}
}
