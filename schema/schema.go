// Package schema holds the types every stage shares: a table's columns and their
// data types, and the exact value types (Decimal, Date, TimeOfDay) that rows carry.
//
// It is pure: no I/O, no NATS.
package schema

import (
	"fmt"
	"slices"
)

// Row is one normalized row: column name to value.
type Row = map[string]any

// DataType is the type of a column. Values in rows carry a fixed Go type per
// data type:
//
//	TypeText      string
//	TypeBigInt    int64
//	TypeDouble    float64
//	TypeBool      bool
//	TypeTimestamp time.Time (UTC)
//	TypeDate      schema.Date
//	TypeTime      schema.TimeOfDay
//	TypeDecimal   schema.Decimal
//	TypeBinary    []byte
//	TypeJSON      map[string]any or []any
type DataType string

// The data types.
const (
	TypeText      DataType = "text"
	TypeBigInt    DataType = "bigint"
	TypeDouble    DataType = "double"
	TypeBool      DataType = "bool"
	TypeTimestamp DataType = "timestamp"
	TypeDate      DataType = "date"
	TypeTime      DataType = "time"
	TypeDecimal   DataType = "decimal"
	TypeBinary    DataType = "binary"
	TypeJSON      DataType = "json"
)

// DataTypes lists every data type.
var DataTypes = []DataType{TypeText, TypeBigInt, TypeDouble, TypeBool, TypeTimestamp, TypeDate, TypeTime, TypeDecimal, TypeBinary, TypeJSON}

// Valid reports whether d is one of the data types.
func (d DataType) Valid() bool { return slices.Contains(DataTypes, d) }

// Column is one column of a table.
type Column struct {
	Name       string   `json:"name"`
	DataType   DataType `json:"data_type"`
	Nullable   bool     `json:"nullable"`
	PrimaryKey bool     `json:"primary_key,omitempty"`
	// Variant is set on a variant column (<col>__v_<type>) that holds the
	// values of Of that did not fit its type.
	Variant bool   `json:"variant,omitempty"`
	Of      string `json:"of,omitempty"`
	// System is set on bridge's own columns (_dlt_id, _dlt_load_id, ...).
	System bool `json:"system,omitempty"`
}

// Table is a table's schema: its name, its parent (for child tables) and its
// ordered columns. The zero value is an empty table; use AddColumn to grow it.
type Table struct {
	Name    string   `json:"name"`
	Parent  string   `json:"parent,omitempty"`
	Columns []Column `json:"columns"`
	// Keys is the normalizer's record, kept in stored schemas: every name it
	// gave in this table (a column, a flattened object, or a list, whose
	// child table is <table>__<name>) and the input key path it came from,
	// so that later rows and runs name each key the same way even when
	// several keys normalize to one name. It is nil in the tables that
	// destinations see.
	Keys map[string][]string `json:"keys,omitempty"`

	index map[string]int
}

// NewTable returns an empty table.
func NewTable(name, parent string) *Table {
	return &Table{Name: name, Parent: parent}
}

// Column returns the column with the given name.
func (t *Table) Column(name string) (Column, bool) {
	i, ok := t.lookup(name)
	if !ok {
		return Column{}, false
	}
	return t.Columns[i], true
}

// ColumnIndex returns the position of the named column in Columns, or -1.
func (t *Table) ColumnIndex(name string) int {
	i, ok := t.lookup(name)
	if !ok {
		return -1
	}
	return i
}

func (t *Table) lookup(name string) (int, bool) {
	if t.index == nil || len(t.index) != len(t.Columns) {
		t.reindex()
	}
	i, ok := t.index[name]
	return i, ok
}

func (t *Table) reindex() {
	t.index = make(map[string]int, len(t.Columns))
	for i, c := range t.Columns {
		t.index[c.Name] = i
	}
}

// AddColumn appends a column. It returns an error if the name is taken.
func (t *Table) AddColumn(c Column) error {
	if _, ok := t.lookup(c.Name); ok {
		return fmt.Errorf("schema: table %q already has column %q", t.Name, c.Name)
	}
	if !c.DataType.Valid() {
		return fmt.Errorf("schema: column %q: unknown data type %q", c.Name, c.DataType)
	}
	t.Columns = append(t.Columns, c)
	t.index[c.Name] = len(t.Columns) - 1
	return nil
}

// Clone returns a deep copy of the table, safe to hand to another goroutine.
func (t *Table) Clone() *Table {
	c := &Table{Name: t.Name, Parent: t.Parent, Columns: slices.Clone(t.Columns)}
	if t.Keys != nil {
		c.Keys = make(map[string][]string, len(t.Keys))
		for name, path := range t.Keys {
			c.Keys[name] = slices.Clone(path)
		}
	}
	c.reindex()
	return c
}

// Snapshot returns the table as it is now, for a table that only grows
// (AddColumn): the snapshot shares the columns so far and does not see
// columns added later. It costs no copy, so a batch can take one of a table
// of thousands of columns. Neither the table's nor the snapshot's existing
// columns may be modified afterwards; use Clone for a copy to change.
func (t *Table) Snapshot() *Table {
	n := len(t.Columns)
	return &Table{Name: t.Name, Parent: t.Parent, Columns: t.Columns[:n:n]}
}

// WithoutSystem returns a copy of the table without system columns.
func (t *Table) WithoutSystem() *Table {
	c := &Table{Name: t.Name, Parent: t.Parent}
	for _, col := range t.Columns {
		if !col.System {
			c.Columns = append(c.Columns, col)
		}
	}
	c.reindex()
	return c
}
