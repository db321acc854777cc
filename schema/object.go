package schema

// Member is one key and value of a JSON object.
type Member struct {
	Key   string
	Value any
}

// Object is a JSON object as its members in input order, duplicate keys
// kept: what a parser hands over when no map is wanted (the normalizer takes
// it without building one). Its meaning is that of Map: the last of
// duplicate keys wins.
type Object []Member

// Map returns the object as a map, the last of duplicate keys winning.
func (o Object) Map() map[string]any {
	m := make(map[string]any, len(o))
	for _, kv := range o {
		m[kv.Key] = kv.Value
	}
	return m
}

// Vals is a row as its values by column index of its table: Vals[j] is the
// value of t.Columns[j], nil where the row has none. It may be shorter than
// the table (columns added after the row have no value in it). A batch of
// Vals costs no map per row; RowOf and ValsOf convert.
type Vals = []any

// RowOf returns the row of t that vals holds: its non-nil values under
// their columns' names. vals must not be longer than t.Columns.
func RowOf(t *Table, vals Vals) Row {
	n := 0
	for _, v := range vals {
		if v != nil {
			n++
		}
	}
	row := make(Row, n)
	FillRow(row, t, vals)
	return row
}

// FillRow puts the non-nil values of vals into row under their columns'
// names; row should be empty.
func FillRow(row Row, t *Table, vals Vals) {
	for j, v := range vals {
		if v != nil {
			row[t.Columns[j].Name] = v
		}
	}
}

// ValsOf returns row's values by column index of t, nil where the row has
// none. It reports false when the row has a key that is
// not a column of t.
func ValsOf(t *Table, row Row) (Vals, bool) {
	vals := make(Vals, len(t.Columns))
	for k, v := range row {
		j := t.ColumnIndex(k)
		if j < 0 {
			return nil, false
		}
		vals[j] = v
	}
	return vals, true
}
