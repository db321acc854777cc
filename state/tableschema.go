package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fanoutbridge/bridge/schema"
)

// TableSchema is a stored snapshot of a table's columns, named by a digest
// of them (see batcher.SchemaRef): the columns of the snapshot Base (of
// BaseColumns columns; none when Base is empty), then Columns. A batch
// names the snapshot it was cut with instead of carrying it, so a table's
// schema is stored once per change, however many batches it has.
// Snapshots never change and stay while the pipeline does.
type TableSchema struct {
	Base        string          `json:"base,omitempty"`
	BaseColumns int             `json:"base_columns,omitempty"`
	Columns     []schema.Column `json:"columns,omitempty"`
}

const tableSchemaPrefix = "tschema."

// tableSchemaValue is the value under a snapshot's key: the snapshot, or
// the parts it is stored in when it is larger than schemaPartSize.
type tableSchemaValue struct {
	TableSchema
	Parts int `json:"parts,omitempty"`
	Size  int `json:"size,omitempty"`
}

func tableSchemaKey(sum string) string { return tableSchemaPrefix + sum }

// PutTableSchema stores the snapshot named sum, unless it is stored already.
func (s *Store) PutTableSchema(ctx context.Context, sum string, ts TableSchema) error {
	key := tableSchemaKey(sum)
	b, err := json.Marshal(tableSchemaValue{TableSchema: ts})
	if err != nil {
		return fmt.Errorf("state: encode %s: %w", key, err)
	}
	if len(b) > schemaPartSize {
		partKey := func(i int) string { return key + "." + strconv.Itoa(i) }
		if err := s.putParts(ctx, partKey, b); err != nil {
			return err
		}
		if b, err = json.Marshal(tableSchemaValue{Parts: (len(b) + schemaPartSize - 1) / schemaPartSize, Size: len(b)}); err != nil {
			return fmt.Errorf("state: encode %s: %w", key, err)
		}
	}
	// Create, not Put: a snapshot is stored once, and the parts of the
	// first save stay named by its value.
	if _, err := s.kv.Create(ctx, key, b); err != nil && !isConflict(err) {
		return fmt.Errorf("state: put %s: %w", key, err)
	}
	return nil
}

// ErrNoTableSchema is returned by TableSchema for a snapshot that is not
// stored.
var ErrNoTableSchema = errors.New("state: no such table schema")

// TableSchema returns the snapshot named sum.
func (s *Store) TableSchema(ctx context.Context, sum string) (TableSchema, error) {
	key := tableSchemaKey(sum)
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return TableSchema{}, fmt.Errorf("%w: %s", ErrNoTableSchema, sum)
	}
	if err != nil {
		return TableSchema{}, fmt.Errorf("state: get %s: %w", key, err)
	}
	var v tableSchemaValue
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return TableSchema{}, fmt.Errorf("state: decode %s: %w", key, err)
	}
	if v.Parts > 0 {
		b, err := s.getParts(ctx, func(i int) string { return key + "." + strconv.Itoa(i) }, v.Parts, v.Size)
		if err != nil {
			return TableSchema{}, err
		}
		v = tableSchemaValue{}
		if err := json.Unmarshal(b, &v); err != nil {
			return TableSchema{}, fmt.Errorf("state: decode %s (%d parts): %w", key, v.Parts, err)
		}
	}
	return v.TableSchema, nil
}
