package sinktest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/fanoutbridge/bridge/sink"
	"github.com/fanoutbridge/bridge/sinktest"
)

// memory is the simplest sink: it appends rows to a list per table.
type memory struct {
	mu     sync.Mutex
	tables map[string][]sinktest.Got
	seen   map[string]bool // batch ids written, for exactly once
	dedupe bool
}

func (m *memory) Write(ctx context.Context, b sink.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dedupe && m.seen[b.ID] {
		return nil
	}
	m.seen[b.ID] = true
	for _, r := range b.Rows {
		m.tables[b.Table.Name] = append(m.tables[b.Table.Name], sinktest.Got{ID: r["id"].(int64), BatchID: b.ID})
	}
	return nil
}

func (m *memory) read(ctx context.Context, table string) ([]sinktest.Got, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]sinktest.Got(nil), m.tables[table]...), nil
}

func TestMemorySink(t *testing.T) {
	for _, exactly := range []bool{false, true} {
		name := "AtLeastOnce"
		if exactly {
			name = "ExactlyOnce"
		}
		t.Run(name, func(t *testing.T) {
			sinktest.Run(t, sinktest.Harness{
				ExactlyOnce: exactly,
				New: func(t *testing.T) sinktest.Target {
					m := &memory{tables: map[string][]sinktest.Got{}, seen: map[string]bool{}, dedupe: exactly}
					return sinktest.Target{Sink: m, Read: m.read}
				},
			})
		})
	}
}
