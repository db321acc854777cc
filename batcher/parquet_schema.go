package batcher

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/fanoutbridge/bridge/schema"
)

// parquetRoot returns the Parquet schema of t: one optional leaf per column,
// in the table's order (parquet.Group would sort them by name).
func parquetRoot(t *schema.Table, units []parquetTimeUnit) (parquetGroup, error) {
	// The metadata is JSON, which cannot carry invalid UTF-8, and rows are
	// maps, which cannot hold two columns of one name.
	for _, s := range []string{t.Name, t.Parent} {
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("batcher: parquet: table name %q is not valid UTF-8", s)
		}
	}
	names := make(map[string]bool, len(t.Columns))
	for _, c := range t.Columns {
		if !utf8.ValidString(c.Name) || !utf8.ValidString(c.Of) {
			return nil, fmt.Errorf("batcher: parquet: column %q: name is not valid UTF-8", c.Name)
		}
		if names[c.Name] {
			return nil, fmt.Errorf("batcher: parquet: column %q: duplicate column", c.Name)
		}
		names[c.Name] = true
	}
	g := make(parquetGroup, len(t.Columns))
	used := make(map[string]bool, len(t.Columns))
	for _, c := range t.Columns {
		if parquetNameOK(c.Name) {
			used[c.Name] = true
		}
	}
	for j, c := range t.Columns {
		leaf, err := parquetLeaf(c.DataType, units[j])
		if err != nil {
			return nil, fmt.Errorf("batcher: parquet: column %q: %w", c.Name, err)
		}
		name := c.Name
		if !parquetNameOK(name) {
			// The file gets a stand-in, unique among the names; the
			// metadata carries the real name, which the decoder uses.
			name = "_col" + strconv.Itoa(j)
			for used[name] {
				name += "_"
			}
			used[name] = true
		}
		g[j] = &parquetField{Node: parquet.Optional(leaf), name: name}
	}
	return g, nil
}

// parquetNameOK reports whether name can be a Parquet field name as it is.
// The format and parquet-go's reader and writer take any UTF-8 string, dots,
// stars, spaces, quotes, unicode and long names included (field names are
// path elements, not expressions), but an empty name is no name to other
// tools, and a comma makes parquet-go panic wherever it derives a Go struct
// type from the file's schema (Schema.GoType, reading into structs).
func parquetNameOK(name string) bool {
	return name != "" && !strings.ContainsRune(name, ',')
}

// parquetSchemaName is the name of the root of the Parquet schema.
func parquetSchemaName(table string) string {
	if table == "" {
		return "schema"
	}
	return table
}

// parquetLeaf returns the Parquet leaf for a data type.
func parquetLeaf(dt schema.DataType, unit parquetTimeUnit) (parquet.Node, error) {
	switch dt {
	case schema.TypeText, schema.TypeDecimal:
		return parquet.String(), nil
	case schema.TypeBigInt:
		return parquet.Leaf(parquet.Int64Type), nil
	case schema.TypeDouble:
		return parquet.Leaf(parquet.DoubleType), nil
	case schema.TypeBool:
		return parquet.Leaf(parquet.BooleanType), nil
	case schema.TypeTimestamp:
		switch unit {
		case parquetNanos:
			return parquet.Timestamp(parquet.Nanosecond), nil
		case parquetMicros:
			return parquet.Timestamp(parquet.Microsecond), nil
		}
		return parquet.Leaf(parquet.Int96Type), nil
	case schema.TypeDate:
		return parquet.Date(), nil
	case schema.TypeTime:
		return parquet.Time(parquet.Nanosecond), nil
	case schema.TypeBinary:
		return parquet.Leaf(parquet.ByteArrayType), nil
	case schema.TypeJSON:
		return parquet.JSON(), nil
	}
	return nil, fmt.Errorf("unknown data type %q", dt)
}

// parquetGroup is a Parquet group whose fields keep their order.
type parquetGroup []parquet.Field

func (g parquetGroup) ID() int                     { return 0 }
func (g parquetGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g parquetGroup) Optional() bool              { return false }
func (g parquetGroup) Repeated() bool              { return false }
func (g parquetGroup) Required() bool              { return true }
func (g parquetGroup) Leaf() bool                  { return false }
func (g parquetGroup) Fields() []parquet.Field     { return g }
func (g parquetGroup) Encoding() encoding.Encoding { return nil }
func (g parquetGroup) Compression() compress.Codec { return nil }
func (g parquetGroup) GoType() reflect.Type        { return reflect.TypeFor[map[string]any]() }

func (g parquetGroup) String() string {
	var b strings.Builder
	_ = parquet.PrintSchema(&b, "", g)
	return b.String()
}

// parquetField names a node in a parquetGroup.
type parquetField struct {
	parquet.Node
	name string
}

func (f *parquetField) Name() string { return f.name }

// Value serves reflection-based writers, which bridge does not use: the
// group's Go type is a map keyed by field name.
func (f *parquetField) Value(base reflect.Value) reflect.Value {
	for base.Kind() == reflect.Interface || base.Kind() == reflect.Pointer {
		if base.IsNil() {
			return reflect.Value{}
		}
		base = base.Elem()
	}
	if base.Kind() != reflect.Map {
		return reflect.Value{}
	}
	return base.MapIndex(reflect.ValueOf(f.name))
}
