// Package batcher cuts normalized rows into batches per table and encodes them
// as self-describing payloads (typed JSON lines or Parquet) that carry the
// table's schema, so a consumer restores every value with its exact Go type.
//
// It is pure: no NATS and no I/O beyond byte slices, readers and writers.
package batcher

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fanoutbridge/bridge/schema"
)

// Format is how a batch is stored in transit and handed over in file mode.
type Format string

// The formats.
const (
	TypedJSONL Format = "typed-jsonl"
	Parquet    Format = "parquet"
)

// ErrFormat is returned for an unknown format or a payload that cannot be decoded.
var ErrFormat = errors.New("batcher: bad format")

// ErrArrayRows is LoadFile's error for a typed JSON-lines payload that
// writes rows as arrays, which a load file does not.
var ErrArrayRows = errors.New("batcher: typed-jsonl: the payload has array rows: a load file has objects")

// Valid reports whether f is a known format.
func (f Format) Valid() bool { return f == TypedJSONL || f == Parquet }

// Ext is the file name extension for load files of this format.
func (f Format) Ext() string {
	if f == Parquet {
		return ".parquet"
	}
	return ".jsonl"
}

// Encode appends the payload for rows of table t to dst and returns it. The
// payload carries t (the table's schema at the time the batch was cut), so
// Decode needs nothing else. Every row's values must have the Go types of
// their columns' data types (see schema.DataType); columns absent from a row
// are null.
func Encode(dst []byte, f Format, t *schema.Table, rows []schema.Row) ([]byte, error) {
	switch f {
	case TypedJSONL:
		return encodeJSONL(dst, t, rows)
	case Parquet:
		return encodeParquet(dst, t, rows)
	}
	return dst, fmt.Errorf("%w: %q", ErrFormat, f)
}

// EncodeBatch appends to dst the payload of b's rows in format f, as Encode
// does, whether the batch holds them as maps (Batch.Rows) or as values by
// column index (Batch.Vals), and returns it. ref may be nil; when it is not
// and f is TypedJSONL, the payload names the table's schema by ref, as
// EncodeRef does (Parquet always carries the schema). In TypedJSONL, the
// rows of values that hold most of their columns are written as arrays
// (see the payload format in jsonl.go): the payload decodes to the same
// rows, but is not a load file as it stands (LoadFile says ErrArrayRows).
func EncodeBatch(dst []byte, f Format, ref *SchemaRef, b Batch) ([]byte, error) {
	if len(b.Vals) == 0 {
		if ref != nil && f == TypedJSONL {
			return EncodeRef(dst, *ref, b.Table, b.Rows)
		}
		return Encode(dst, f, b.Table, b.Rows)
	}
	switch f {
	case TypedJSONL:
		return encodeJSONLVals(dst, ref, b.Table, b.Vals)
	case Parquet:
		return encodeParquetSet(dst, b.Table, rowSet{vals: b.Vals})
	}
	return dst, fmt.Errorf("%w: %q", ErrFormat, f)
}

// rowSet is the rows of a batch to encode: maps, or values by column index.
type rowSet struct {
	maps []schema.Row
	vals []schema.Vals
}

func (r rowSet) len() int { return len(r.maps) + len(r.vals) }

func (r rowSet) slice(lo, hi int) rowSet {
	if r.vals != nil {
		return rowSet{vals: r.vals[lo:hi]}
	}
	return rowSet{maps: r.maps[lo:hi]}
}

// get returns the value row i has for column j, named name, and whether it
// has one.
func (r rowSet) get(i, j int, name string) (any, bool) {
	if r.vals != nil {
		if v := r.vals[i]; j < len(v) && v[j] != nil {
			return v[j], true
		}
		return nil, false
	}
	v, ok := r.maps[i][name]
	return v, ok
}

// check reports rows of values longer than t's columns.
func (r rowSet) check(t *schema.Table) error {
	for i, v := range r.vals {
		if len(v) > len(t.Columns) {
			return fmt.Errorf("row %d: %d values for the %d columns of table %q", i, len(v), len(t.Columns), t.Name)
		}
	}
	return nil
}

// Decode restores the table schema and the rows of a payload made by Encode.
// Every value comes back with the Go type and exact value it was encoded with.
func Decode(f Format, payload []byte) (*schema.Table, []schema.Row, error) {
	return DecodeWith(f, payload, nil)
}

// DecodeWith is Decode for payloads that may name their schema (EncodeRef):
// resolve finds it. An error wraps ErrFormat when the payload is wrong;
// resolve's errors are returned wrapped as they are.
func DecodeWith(f Format, payload []byte, resolve Resolver) (*schema.Table, []schema.Row, error) {
	switch f {
	case TypedJSONL:
		return decodeJSONL(string(payload), resolve, nil) // decoded strings share this one copy
	case Parquet:
		return decodeParquet(payload)
	}
	return nil, nil, fmt.Errorf("%w: %q", ErrFormat, f)
}

// DecodeTable restores only the table schema of a payload made by Encode,
// without decoding its rows (file mode hands over the file as it is).
func DecodeTable(f Format, payload []byte) (*schema.Table, error) {
	return DecodeTableWith(f, payload, nil)
}

// DecodeTableWith is DecodeTable for payloads that may name their schema.
func DecodeTableWith(f Format, payload []byte, resolve Resolver) (*schema.Table, error) {
	switch f {
	case TypedJSONL:
		line, _, _ := bytes.Cut(payload, []byte("\n"))
		return jsonlDecodeHeader(string(line), resolve)
	case Parquet:
		return decodeParquetTable(payload)
	}
	return nil, fmt.Errorf("%w: %q", ErrFormat, f)
}

// isNull reports whether v stands for null: nil, or a nil []byte, map or
// slice.
func isNull(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case []byte:
		return v == nil
	case map[string]any:
		return v == nil
	case []any:
		return v == nil
	}
	return false
}
