package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/fanoutbridge/bridge/batcher"
	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/state"
)

// Schemas travel by reference. A typed-jsonl batch names the snapshot of its
// table's schema (table, column count, digest) instead of carrying it; the
// producer stores each snapshot once, in the state bucket, before the first
// batch that names it, as the columns added since the snapshot it stored
// last (a delta), with a whole snapshot every schemaChainMax deltas so that
// a reader never follows a long chain. So a table's schema costs the stream
// and the store once per change, not once per batch. Parquet batches carry
// their schema in the file, as the format requires.

// schemaChainMax bounds the deltas between two whole snapshots.
const schemaChainMax = 16

// schemaLineage is what a producer knows of one table's snapshots: the
// digest chain over its first n columns and the last snapshot it stored.
type schemaLineage struct {
	n         int
	chain     [sha256.Size]byte
	stored    int
	storedSum string
	depth     int
}

// schemaRefs names the snapshots of the tables of one production, in the
// order the batches are cut. Not safe for concurrent use.
type schemaRefs struct {
	tables map[string]*schemaLineage
}

// pendingSchema is a snapshot to store before the batch that names it.
type pendingSchema struct {
	sum string
	ts  state.TableSchema
}

// ref returns the ref of the snapshot t (a batch's table; tables only grow)
// and, when the snapshot is new, what to store for it.
func (r *schemaRefs) ref(t *schema.Table) (batcher.SchemaRef, *pendingSchema, error) {
	if r.tables == nil {
		r.tables = make(map[string]*schemaLineage)
	}
	l := r.tables[t.Name]
	if l == nil || len(t.Columns) < l.n {
		l = &schemaLineage{chain: sha256.Sum256([]byte("bridge table schema v1\x00" + t.Name + "\x00" + t.Parent))}
		r.tables[t.Name] = l
	}
	for _, c := range t.Columns[l.n:] {
		b, err := json.Marshal(c)
		if err != nil {
			return batcher.SchemaRef{}, nil, fmt.Errorf("table %q: column %q: %w", t.Name, c.Name, err)
		}
		h := sha256.New()
		h.Write(l.chain[:])
		h.Write(b)
		h.Sum(l.chain[:0])
	}
	l.n = len(t.Columns)
	ref := batcher.SchemaRef{Table: t.Name, Parent: t.Parent, Columns: l.n, Sum: hex.EncodeToString(l.chain[:16])}
	if l.stored == l.n {
		return ref, nil, nil
	}
	ps := &pendingSchema{sum: ref.Sum, ts: state.TableSchema{Columns: t.Columns[l.stored:l.n]}}
	if l.stored > 0 && l.depth < schemaChainMax {
		ps.ts.Base, ps.ts.BaseColumns = l.storedSum, l.stored
		l.depth++
	} else {
		ps.ts.Columns, l.depth = t.Columns[:l.n], 0
	}
	l.stored, l.storedSum = l.n, ref.Sum
	return ref, ps, nil
}

// schemaCache keeps the snapshots a process resolved, up to
// schemaCacheColumns columns in all.
type schemaCache struct {
	mu     sync.Mutex
	tables map[string]*schema.Table
	cols   int
}

const schemaCacheColumns = 200_000

// resolver returns the Resolver of the pipeline's snapshots.
func (p *Pipeline) resolver(ctx context.Context) batcher.Resolver {
	return func(ref batcher.SchemaRef) (*schema.Table, error) {
		return p.schemas.resolve(ctx, p.st, ref)
	}
}

func (c *schemaCache) resolve(ctx context.Context, st *state.Store, ref batcher.SchemaRef) (*schema.Table, error) {
	c.mu.Lock()
	t, ok := c.tables[ref.Sum]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	ts, err := st.TableSchema(ctx, ref.Sum)
	if err != nil {
		return nil, err
	}
	var cols []schema.Column
	if ts.Base != "" {
		base, err := c.resolve(ctx, st, batcher.SchemaRef{Table: ref.Table, Parent: ref.Parent, Columns: ts.BaseColumns, Sum: ts.Base})
		if err != nil {
			return nil, err
		}
		cols = make([]schema.Column, 0, len(base.Columns)+len(ts.Columns))
		cols = append(cols, base.Columns...)
	}
	t = schema.NewTable(ref.Table, ref.Parent)
	for _, col := range append(cols, ts.Columns...) {
		if err := t.AddColumn(col); err != nil {
			return nil, fmt.Errorf("stored table schema %s: %w", ref.Sum, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tables == nil || c.cols+len(t.Columns) > schemaCacheColumns {
		c.tables, c.cols = make(map[string]*schema.Table), 0
	}
	c.tables[ref.Sum] = t
	c.cols += len(t.Columns)
	return t, nil
}
