package normalize

import (
	"strconv"
	"strings"

	"github.com/fanoutbridge/bridge/schema"
)

// tableState is the normalizer's working state of one table: its live
// schema, its columns by name (including ones the current row claimed and
// has not added yet), the tree of input keys seen in its rows and the names
// given to key paths (see claim).
type tableState struct {
	t      *schema.Table
	cols   map[string]*column
	fields map[string]*field
	// names holds every name given in the table and the key path it was
	// given to; byPath is the other way round, by pathKey. Both start from
	// the stored schema's Keys.
	names  map[string][]string
	byPath map[string]string
	// listed is set once the table is in Normalizer.tables (it has had a row).
	listed bool
	// rootSys and childSys are set once the table has the system columns of
	// root rows and of child rows.
	rootSys, childSys bool
	// byPos caches the top-level field of the key at each position of the
	// last object the fast path took, which is most often where the next
	// object has the same key.
	byPos []*field
	// loadCol and idCol are the root rows' system columns, for the fast
	// path, once it has used them.
	loadCol, idCol *column
}

func newTableState(t *schema.Table) *tableState {
	ts := &tableState{t: t, cols: make(map[string]*column, len(t.Columns)), fields: make(map[string]*field),
		names: make(map[string][]string, len(t.Keys)), byPath: make(map[string]string, len(t.Keys))}
	for name, path := range t.Keys {
		if name == "" || len(path) == 0 {
			continue
		}
		ts.names[name] = path
		ts.byPath[pathKey(path)] = name
	}
	// The live table does not carry the record; Normalizer.Tables adds it.
	t.Keys = nil
	for i, c := range t.Columns {
		ts.cols[c.Name] = &column{name: c.Name, typ: c.DataType, of: c.Of, idx: i}
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

// claim gives the key path of f its name in the table: the name recorded
// for the path before, or else its natural name (the normalized key, after
// its parent's name and "__"), unless another path has that name or a
// variant column uses it; then the natural name with the first free suffix
// _2, _3, ... So no two keys of a table share a column, a flattened prefix
// or a child table. Columns of stored schemas that predate the record are
// not names of any path: the first path whose natural name they are takes
// them, as before.
func (ts *tableState) claim(f *field, natural string) string {
	path := f.path()
	key := pathKey(path)
	if name, ok := ts.byPath[key]; ok {
		return name
	}
	name := natural
	for i := 2; ts.taken(name); i++ {
		name = natural + "_" + strconv.Itoa(i)
	}
	ts.names[name] = path
	ts.byPath[key] = name
	return name
}

// taken reports whether a new key path cannot have name: a path has it, or
// it is a variant column's.
func (ts *tableState) taken(name string) bool {
	if _, ok := ts.names[name]; ok {
		return true
	}
	c := ts.cols[name]
	return c != nil && c.of != ""
}

// variantName returns the name of the variant column of c for data type
// dt: <col>__v_<type>, with the first free suffix _2, _3, ... if a key path
// or another column's variant has that name.
func (ts *tableState) variantName(c *column, base string) string {
	name := base
	for i := 2; ; i++ {
		_, claimed := ts.names[name]
		other := ts.cols[name]
		if !claimed && (other == nil || other.of == "" || other.of == c.name) {
			return name
		}
		name = base + "_" + strconv.Itoa(i)
	}
}

// pathKey encodes a key path as one string, unambiguously.
func pathKey(path []string) string {
	var sb strings.Builder
	for _, k := range path {
		sb.WriteString(strconv.Itoa(len(k)))
		sb.WriteByte(':')
		sb.WriteString(k)
	}
	return sb.String()
}

// column is one column of a table, or a name that may become one.
type column struct {
	name string
	// typ is the column's data type, "" while the column does not exist.
	typ schema.DataType
	// of is the column a variant column belongs to.
	of       string
	variants [numTypes]*column
	// idx is the column's index in the table, once it has a type.
	idx int
}

// field is one input key at one place in a table's rows: a top-level key, or
// a key inside a flattened object. It caches what the key resolves to.
type field struct {
	// key is the input key; parent is the field of the object it is in,
	// nil at the top of a row.
	key    string
	parent *field
	// name is the normalized column name: the parent field's name, "__" and
	// the normalized key, or the name claim gave instead.
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
	// seen is the number of the last object the fast path (see
	// Normalizer.fast) found the key in, to tell duplicate keys.
	seen uint64
}

// path returns the input keys from the top of the row down to f.
func (f *field) path() []string {
	d := 0
	for p := f; p != nil; p = p.parent {
		d++
	}
	out := make([]string, d)
	for p := f; p != nil; p = p.parent {
		d--
		out[d] = p.key
	}
	return out
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
