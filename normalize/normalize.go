// Package normalize infers and evolves each table's schema, applies the
// naming convention and the nesting depth: it turns items into typed rows as
// dlt's relational normalizer does, flattening objects into parent__child
// columns and lists into child tables, and adds the system columns that link
// child rows to their parents.
//
// A column's type is set by its first non-null value and never changes:
// strings that are RFC 3339 date-times make timestamps, Go values map to the
// data types of schema.DataType. A later value of another type is coerced when
// nothing is lost (2.0 into a bigint column, anything into a text column) and
// otherwise goes to the variant column <col>__v_<type> (1.5 into a bigint
// column lands in <col>__v_double).
//
// Keys that normalize to one name never share it: the first key to get a
// name keeps it and the others get the first free suffix _2, _3, ... (see
// discover for the order within a row). Tables record in Keys which key
// path got which name, so later rows and runs name every key the same way.
//
// It is pure: no I/O, no NATS, no goroutines.
package normalize

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// The system columns, and the columns the normalizer makes from values that
// are not objects.
const (
	// ColumnID is every row's id: random for root rows, a digest of the
	// parent id, the table and the list index for child rows.
	ColumnID = "_dlt_id"
	// ColumnLoadID is the load id, on root rows.
	ColumnLoadID = "_dlt_load_id"
	// ColumnParentID is the parent row's ColumnID, on child rows.
	ColumnParentID = "_dlt_parent_id"
	// ColumnListIdx is a child row's position in its list, on child rows.
	ColumnListIdx = "_dlt_list_idx"
	// ColumnValue holds an item that is not an object, and each element of
	// a list of scalars.
	ColumnValue = "value"
	// ColumnList holds a list inside a list: each inner list becomes a row
	// of the outer list's table with the inner list under this key.
	ColumnList = "list"
)

// isSystemName reports whether name is one of the system column names.
func isSystemName(name string) bool {
	switch name {
	case ColumnID, ColumnLoadID, ColumnParentID, ColumnListIdx:
		return true
	}
	return false
}

// Config configures a Normalizer.
type Config struct {
	// Naming is the naming convention for table and column names.
	Naming Convention
	// MaxNesting is dlt's max_table_nesting. 0: nested objects and lists
	// stay one json value and every item is one row of one table. n > 0:
	// objects flatten into parent__child columns and lists become child
	// tables parent__field, down to depth n; deeper values stay json.
	// Each flattened object and each list level counts one.
	MaxNesting int
	// SystemColumns adds _dlt_id to every row, _dlt_load_id to root rows and
	// _dlt_parent_id and _dlt_list_idx to child rows; their columns are
	// flagged System. User values under these four names are dropped.
	SystemColumns bool
	// LoadID is the value of _dlt_load_id.
	LoadID string
	// ReuseInput says the caller owns the input values (freshly parsed JSON,
	// say) and does not touch them after Normalize: the normalizer may then
	// modify input maps and slices and return them as rows and json values,
	// which saves most allocations. Without it, rows share nothing mutable
	// with the input.
	ReuseInput bool
	// MaxColumns bounds the columns of each table (0: no bound). A row that
	// would add a column past it fails with ErrTooManyColumns, so that input
	// with ever new keys (ids used as keys, say) is a clear error per row,
	// not a schema that grows without end. Stored tables wider than the
	// bound keep their columns.
	MaxColumns int
}

// Validate reports an invalid configuration.
func (c Config) Validate() error {
	if !c.Naming.valid() {
		return fmt.Errorf("%w: unknown naming convention %d", ErrConfig, int(c.Naming))
	}
	if c.MaxNesting < 0 {
		return fmt.Errorf("%w: MaxNesting %d is negative", ErrConfig, c.MaxNesting)
	}
	if c.MaxColumns < 0 {
		return fmt.Errorf("%w: MaxColumns %d is negative", ErrConfig, c.MaxColumns)
	}
	return nil
}

// Normalizer normalizes items into rows and keeps the schema of every table
// it has seen. It is not safe for concurrent use.
type Normalizer struct {
	cfg     Config
	loadID  any // cfg.LoadID, boxed once
	tables  []*tableState
	byName  map[string]*tableState // by normalized name
	roots   map[string]*tableState // by the name given to Normalize
	names   map[string]string      // Identifier cache
	version int
	ids     *ids

	// Scratch space of the row being built.
	claimed  []*column   // columns the row created, not yet in the schema
	sets     []namedVal  // values an in-place row moves to another key
	deferred []deferred  // objects an in-place row flattens after its loop
	lists    []childList // lists of the rows being built, a stack

	// The row being built, for discover: its object (with rowRootDone
	// once an in-place row has gone through its top-level keys) and level.
	rowSrc      map[string]any
	rowLvl      int
	rowRootDone bool
	empty       int // items with no value but nulls: no row

	// The fast path's state (see fast): objects counts the objects it
	// took, vals is where it cuts the rows' value slices from.
	objects uint64
	vals    []any
	box     jsonv.Boxer // boxes its timestamps, a slab for many rows
}

type namedVal struct {
	name string
	val  any
}

type deferred struct {
	f     *field
	val   any
	reuse bool
}

// childList is a list that becomes rows of a child table.
type childList struct {
	table *tableState
	items []any
	lvl   int // nesting level of the rows
	reuse bool
}

// New returns a Normalizer. known are table schemas from earlier runs:
// evolution continues from them (their columns keep their types, and a
// column that holds json keeps holding json even where MaxNesting would
// flatten it). New works on copies; Tables returns them first, in order.
func New(cfg Config, known []*schema.Table) (*Normalizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Normalizer{
		cfg:    cfg,
		loadID: cfg.LoadID,
		byName: make(map[string]*tableState),
		roots:  make(map[string]*tableState),
		names:  make(map[string]string),
		ids:    newIDs(),
	}
	for _, kt := range known {
		if kt == nil {
			continue
		}
		if _, dup := n.byName[kt.Name]; dup {
			return nil, fmt.Errorf("%w: known table %q given twice", ErrConfig, kt.Name)
		}
		for _, c := range kt.Columns {
			if !c.DataType.Valid() {
				return nil, fmt.Errorf("%w: known table %q: column %q has unknown data type %q", ErrConfig, kt.Name, c.Name, c.DataType)
			}
		}
		ts := newTableState(kt.Clone())
		if cfg.SystemColumns {
			for i, c := range ts.t.Columns {
				if !isSystemName(c.Name) {
					continue
				}
				if want := systemType(c.Name); c.DataType != want {
					return nil, fmt.Errorf("%w: known table %q has system column %q of type %s, not %s",
						ErrConfig, kt.Name, c.Name, c.DataType, want)
				}
				ts.t.Columns[i].System = true
			}
		}
		ts.listed = true
		n.tables = append(n.tables, ts)
		n.byName[kt.Name] = ts
	}
	return n, nil
}

func systemType(name string) schema.DataType {
	if name == ColumnListIdx {
		return schema.TypeBigInt
	}
	return schema.TypeText
}

// SetLoadID sets the value of _dlt_load_id for the rows that follow.
func (n *Normalizer) SetLoadID(id string) {
	n.cfg.LoadID = id
	n.loadID = id
}

// Tables returns a copy of every table, in the order first seen (known
// tables first), with Keys set: the schema to store and pass to New in a
// later run.
func (n *Normalizer) Tables() []*schema.Table {
	out := make([]*schema.Table, len(n.tables))
	for i, ts := range n.tables {
		t := ts.t.Clone()
		if len(ts.names) > 0 {
			t.Keys = make(map[string][]string, len(ts.names))
			for name, path := range ts.names {
				t.Keys[name] = slices.Clone(path)
			}
		}
		out[i] = t
	}
	return out
}

// Version counts schema changes: it increases whenever a table is created or
// a column added. It starts at 0.
func (n *Normalizer) Version() int { return n.version }

// Normalize normalizes one item into rows of table (the root table; its name
// passes through the naming convention) and its child tables, and calls emit
// for each row: the root row first, then child rows depth-first in list
// order (lists of one row in the order of their table names). emit gets the
// live table, whose columns already include every key of the row; clone it
// to keep a snapshot. A row with no values (possible without system columns)
// is not emitted, though its child rows are.
//
// An item that is not an object is wrapped: 1 becomes {"value": 1}. Rows hold
// only the value types of schema.DataType, never nil.
//
// On an error (an unsupported value, or emit's error) Normalize stops; rows
// emitted before stay emitted, and with ReuseInput the input may have been
// modified.
func (n *Normalizer) Normalize(item any, table string, emit func(t *schema.Table, row schema.Row) error) error {
	ts, err := n.rootTable(table)
	if err != nil {
		return err
	}
	if o, ok := item.(schema.Object); ok {
		item = o.Map()
	}
	v, _, owned, err := convert(item)
	if err != nil {
		return fmt.Errorf("normalize: table %q: %w", table, err)
	}
	reuse := n.cfg.ReuseInput || owned
	obj, ok := v.(map[string]any)
	inPlace := reuse
	if !ok {
		obj = map[string]any{ColumnValue: v}
		inPlace = true
	}
	err = n.row(ts, obj, n.cfg.MaxNesting, inPlace, reuse, true, nil, "", 0, emit)
	if err != nil {
		n.reset()
	}
	return err
}

// reset drops the scratch state of a failed Normalize; columns the failed
// row claimed are unclaimed.
func (n *Normalizer) reset() {
	for _, c := range n.claimed {
		c.typ = ""
	}
	clear(n.claimed)
	n.claimed = n.claimed[:0]
	clear(n.sets)
	n.sets = n.sets[:0]
	clear(n.deferred)
	n.deferred = n.deferred[:0]
	clear(n.lists)
	n.lists = n.lists[:0]
}

// rootTable returns the state of the root table named name.
func (n *Normalizer) rootTable(name string) (*tableState, error) {
	if ts, ok := n.roots[name]; ok {
		return ts, nil
	}
	if name == "" {
		return nil, fmt.Errorf("%w: %q: the table name is empty: give one with TableName or --table", ErrTableName, name)
	}
	if !utf8.ValidString(name) {
		return nil, fmt.Errorf("%w: %q is not valid UTF-8", ErrTableName, name)
	}
	ts := n.table(n.ident(name), "")
	n.roots[name] = ts
	return ts, nil
}

// table returns the state of the table with the normalized name, creating it
// (unlisted: it is listed at its first row).
func (n *Normalizer) table(name, parent string) *tableState {
	if ts, ok := n.byName[name]; ok {
		return ts
	}
	ts := newTableState(schema.NewTable(name, parent))
	n.byName[name] = ts
	return ts
}

// ident normalizes one identifier, cached.
func (n *Normalizer) ident(s string) string {
	if id, ok := n.names[s]; ok {
		return id
	}
	id := n.cfg.Naming.Identifier(s)
	n.names[s] = id
	return id
}

// naturalName is the name of the key k under parent (nil at the top of a
// row) before collisions: the normalized key, after the parent's name and
// "__".
func (n *Normalizer) naturalName(parent *field, k string) string {
	name := n.ident(k)
	if parent != nil {
		name = parent.name + pathSeparator + name
	}
	return name
}

// newField resolves the input key k under parent (nil at the top of a row)
// and gives it its name in ts (see tableState.claim).
func (n *Normalizer) newField(ts *tableState, fields map[string]*field, parent *field, k string) *field {
	f := &field{key: k, parent: parent, name: n.naturalName(parent, k)}
	if n.cfg.SystemColumns && isSystemName(f.name) {
		f.skip = true
	} else {
		f.name = ts.claim(f, f.name)
		f.same = f.name == k
	}
	fields[k] = f
	return f
}

// rowObject is one object of the row being built, for discover.
type rowObject struct {
	fields map[string]*field
	parent *field
	src    map[string]any
	lvl    int
}

// discover names every key of the row being built that has no field yet,
// before any of them is used, in an order that does not depend on map
// iteration: depth by depth from the top of the row; within one depth, keys
// already spelled as their normalized name first, then by key path. So when
// keys collide (normalize to one name), which one keeps the name and which
// get a suffix depends only on the rows, never on chance.
func (n *Normalizer) discover(ts *tableState) {
	// In place, the top of the row hands its objects over to n.deferred,
	// and once it is done, only they are left.
	var handed []rowObject
	for _, d := range n.deferred {
		if m := n.flattened(ts, d.f, d.val); m != nil {
			handed = append(handed, rowObject{d.f.sub, d.f, m, n.rowLvl - 1})
		}
	}
	level := handed
	if !n.rowRootDone {
		level = []rowObject{{ts.fields, nil, n.rowSrc, n.rowLvl}}
	}
	type newKey struct {
		obj   int
		key   string
		path  []string
		exact bool
	}
	var found []newKey
	for depth := 0; len(level) > 0; depth++ {
		found = found[:0]
		for i, o := range level {
			for k := range o.src {
				if o.fields[k] != nil {
					continue
				}
				path := []string{k}
				if o.parent != nil {
					path = append(o.parent.path(), k)
				}
				found = append(found, newKey{i, k, path, strings.Join(path, pathSeparator) == n.naturalName(o.parent, k)})
			}
		}
		slices.SortFunc(found, func(a, b newKey) int {
			if a.exact != b.exact {
				if a.exact {
					return -1
				}
				return 1
			}
			return slices.Compare(a.path, b.path)
		})
		for _, nk := range found {
			o := level[nk.obj]
			n.newField(ts, o.fields, o.parent, nk.key)
		}
		// The objects the next depth flattens: as put decides.
		var next []rowObject
		for _, o := range level {
			if o.lvl <= 0 {
				continue
			}
			for k, v := range o.src {
				f := o.fields[k]
				if m := n.flattened(ts, f, v); m != nil {
					next = append(next, rowObject{f.sub, f, m, o.lvl - 1})
				}
			}
		}
		if depth == 0 && !n.rowRootDone {
			next = append(next, handed...)
		}
		level = next
	}
}

// flattened returns the object that the value v of f flattens into the
// row, or nil: v is not an object, or f's column holds json.
func (n *Normalizer) flattened(ts *tableState, f *field, v any) map[string]any {
	if f == nil || f.skip {
		return nil
	}
	var m map[string]any
	switch x := v.(type) {
	case map[string]any:
		m = x
	case nil, string, int64, float64, bool, []any:
		return nil
	default:
		out, _, _, err := convert(v)
		if err != nil {
			return nil
		}
		if m, _ = out.(map[string]any); m == nil {
			return nil
		}
	}
	c := f.col
	if c == nil {
		c = ts.cols[f.name]
	}
	if c != nil && c.typ == schema.TypeJSON {
		return nil
	}
	if f.sub == nil {
		f.sub = make(map[string]*field)
	}
	return m
}

// EmptyRows returns how many items had no value but nulls, so made no row
// (dlt drops them too).
func (n *Normalizer) EmptyRows() int { return n.empty }
