package state

import (
	"context"
	"strings"
	"testing"
	"time"
)

// SetSchemaPartGrace sets schemaPartGrace for the test.
func SetSchemaPartGrace(t *testing.T, d time.Duration) {
	old := schemaPartGrace
	schemaPartGrace = d
	t.Cleanup(func() { schemaPartGrace = old })
}

// SchemaParts counts the stored schema parts.
func (s *Store) SchemaParts(ctx context.Context) int {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return -1
	}
	defer func() { _ = keys.Stop() }()
	n := 0
	for k := range keys.Keys() {
		if strings.HasPrefix(k, schemaPartPrefix) {
			n++
		}
	}
	return n
}
