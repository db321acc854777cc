package bridge

import (
	"sync"

	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/schema"
)

// rowCache keeps the rows of batches this process just published, so a
// worker of the same process that gets the batch on its first delivery
// skips decoding it. The batch is in JetStream all the same: a redelivery, a
// restart or another process decodes the stored payload. It holds at most
// max rows and maxCells values (rows times their table's columns, so that
// wide tables do not fill memory); inserting past that drops the oldest
// batches. Its batches are a
// list, oldest first, that take and put unlink in constant time, so it never
// holds more than its batches.
type rowCache struct {
	mu         sync.Mutex
	max        int
	maxCells   int
	rows       int
	cells      int
	m          map[string]*cacheEntry
	head, tail *cacheEntry // oldest, newest
	free       *cacheEntry // removed entries, for reuse, linked by next
	hits       int         // batches handed over from the cache
}

type cachedBatch struct {
	table *schema.Table
	rows  []Row
	vals  []schema.Vals // instead of rows: see batcher.Batch
	cells int
}

func (b *cachedBatch) len() int { return len(b.rows) + len(b.vals) }

// cacheCellsPerRow is the columns per row below which only the row bound
// applies.
const cacheCellsPerRow = 64

// cacheEntry is one batch in the cache's list.
type cacheEntry struct {
	cachedBatch
	id         string
	prev, next *cacheEntry
}

func newRowCache(max int) *rowCache {
	return &rowCache{max: max, maxCells: max * cacheCellsPerRow, m: make(map[string]*cacheEntry)}
}

func (c *rowCache) put(id string, b batcher.Batch) {
	t, n := b.Table, b.Len()
	cells := n * max(1, len(t.Columns))
	if n > c.max || cells > c.maxCells {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[id]; ok {
		c.remove(old) // a batch published again: the newer rows count
	}
	for (c.rows+n > c.max || c.cells+cells > c.maxCells) && c.head != nil {
		c.remove(c.head)
	}
	e := c.free
	if e != nil {
		c.free = e.next
	} else {
		e = new(cacheEntry)
	}
	*e = cacheEntry{cachedBatch: cachedBatch{table: t, rows: b.Rows, vals: b.Vals, cells: cells}, id: id, prev: c.tail}
	if c.tail != nil {
		c.tail.next = e
	} else {
		c.head = e
	}
	c.tail = e
	c.m[id] = e
	c.rows += n
	c.cells += cells
}

// take returns and forgets the batch's rows.
func (c *rowCache) take(id string) (cachedBatch, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok {
		return cachedBatch{}, false
	}
	b := e.cachedBatch
	c.remove(e)
	c.hits++
	return b, true
}

// remove unlinks e, forgets it and keeps it for reuse.
func (c *rowCache) remove(e *cacheEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	delete(c.m, e.id)
	c.rows -= e.len()
	c.cells -= e.cells
	*e = cacheEntry{next: c.free}
	c.free = e
}
