package normalize

import (
	"github.com/fanoutbridge/bridge/schema"
)

// tableState is the normalizer's working state of one table: its live
// schema, its columns by name (including ones the current row claimed and
// has not added yet) and the tree of input keys seen in its rows.
type tableState struct {
	t      *schema.Table
	cols   map[string]*column
	fields map[string]*field
	// listed is set once the table is in Normalizer.tables (it has had a row).
	listed bool
	// rootSys and childSys are set once the table has the system columns of
	// root rows and of child rows.
	rootSys, childSys bool
}

func newTableState(t *schema.Table) *tableState {
	ts := &tableState{t: t, cols: make(map[string]*column, len(t.Columns)), fields: make(map[string]*field)}
	for _, c := range t.Columns {
		ts.cols[c.Name] = &column{name: c.Name, typ: c.DataType, of: c.Of}
	}
	// Wire variants to the columns they belong to.
	for _, c := range t.Columns {
		if !c.Variant || c.Of == "" {
			continue
		}
		if base, ok := ts.cols[c.Of]; ok && c.DataType.Valid() {
			base.variants[typeIndex(c.DataType)] = ts.cols[c.Name]
		}
	}
	return ts
}

// column returns the state of the named column, creating an empty one (no
// type: the column does not exist yet) if there is none.
func (ts *tableState) column(name string) *column {
	c, ok := ts.cols[name]
	if !ok {
		c = &column{name: name}
		ts.cols[name] = c
	}
	return c
}

// column is one column of a table, or a name that may become one.
type column struct {
	name string
	// typ is the column's data type, "" while the column does not exist.
	typ schema.DataType
	// of is the column a variant column belongs to.
	of       string
	variants [numTypes]*column
}

// field is one input key at one place in a table's rows: a top-level key, or
// a key inside a flattened object. It caches what the key resolves to.
type field struct {
	// name is the normalized column name: the parent field's name, "__" and
	// the normalized key.
	name string
	// same is set when name equals the key, so a row built in place keeps
	// the key.
	same bool
	// skip is set on a system column name: values under it are dropped
	// (the system value replaces them).
	skip  bool
	col   *column
	sub   map[string]*field // keys of an object flattened under this field
	child *tableState       // the child table of a list under this field
}

const numTypes = 10

// typeIndex numbers the data types, for per-type arrays.
func typeIndex(dt schema.DataType) int {
	switch dt {
	case schema.TypeText:
		return 0
	case schema.TypeBigInt:
		return 1
	case schema.TypeDouble:
		return 2
	case schema.TypeBool:
		return 3
	case schema.TypeTimestamp:
		return 4
	case schema.TypeDate:
		return 5
	case schema.TypeTime:
		return 6
	case schema.TypeDecimal:
		return 7
	case schema.TypeBinary:
		return 8
	}
	return 9
}
