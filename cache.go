package bridge

import (
	"sync"

	"github.com/fanoutbridge/bridge/schema"
)

// rowCache keeps the rows of batches this process just published, so a
// worker of the same process that gets the batch on its first delivery
// skips decoding it. The batch is in JetStream all the same: a redelivery, a
// restart or another process decodes the stored payload. It holds at most
// max rows; inserting past that drops the oldest batches.
type rowCache struct {
	mu    sync.Mutex
	max   int
	rows  int
	m     map[string]cachedBatch
	order []string
	hits  int // batches handed over from the cache
}

type cachedBatch struct {
	table *schema.Table
	rows  []Row
}

func newRowCache(max int) *rowCache {
	return &rowCache{max: max, m: make(map[string]cachedBatch)}
}

func (c *rowCache) put(id string, t *schema.Table, rows []Row) {
	if len(rows) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.rows+len(rows) > c.max && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		if b, ok := c.m[old]; ok {
			c.rows -= len(b.rows)
			delete(c.m, old)
		}
	}
	c.m[id] = cachedBatch{table: t, rows: rows}
	c.order = append(c.order, id)
	c.rows += len(rows)
}

// take returns and forgets the batch's rows.
func (c *rowCache) take(id string) (cachedBatch, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[id]
	if ok {
		delete(c.m, id)
		c.rows -= len(b.rows)
		c.hits++
	}
	return b, ok
}
