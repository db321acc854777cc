package normalize

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/fanoutbridge/bridge/schema"
)

// ownID is the _dlt_id an input object brings ("" for none): a string, or
// an integer as text.
func ownID(src map[string]any) string {
	switch v := src[ColumnID].(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

// row normalizes the object src into a row of ts at nesting level lvl,
// emits it, then normalizes its lists into child rows. With inPlace, src
// itself becomes the row.
func (n *Normalizer) row(ts *tableState, src map[string]any, lvl int, inPlace, reuse, root bool,
	parentID any, parentIDText string, idx int,
	emit func(*schema.Table, schema.Row) error,
) error {
	own := "" // the row's own _dlt_id, read before an in-place row drops it
	if n.cfg.SystemColumns {
		own = ownID(src)
	}
	row := src
	if !inPlace {
		row = make(map[string]any, len(src)+3)
	}
	mark := len(n.lists)
	n.rowSrc, n.rowLvl, n.rowRootDone = src, lvl, false
	if err := n.flatten(ts, ts.fields, nil, row, src, lvl, lvl, inPlace, reuse); err != nil {
		return err
	}
	if inPlace {
		n.rowRootDone = true
		for _, s := range n.sets {
			row[s.name] = s.val
		}
		clear(n.sets)
		n.sets = n.sets[:0]
		for i := 0; i < len(n.deferred); i++ {
			d := n.deferred[i]
			if err := n.nest(ts, d.f, d.val, row, lvl, lvl, d.reuse); err != nil {
				return err
			}
		}
		clear(n.deferred)
		n.deferred = n.deferred[:0]
	}
	var id any
	var idText string
	if n.cfg.SystemColumns {
		// A row that brings its own _dlt_id keeps it (as dlt does), so
		// the ids of its child rows, which derive from it, are the same
		// for the same data in every load.
		switch {
		case own != "":
			idText = own
		case root:
			idText = n.ids.root()
		default:
			idText = n.ids.child(parentIDText, ts.t.Name, idx)
		}
		if root {
			row[ColumnLoadID] = n.loadID
		} else {
			row[ColumnParentID] = parentID
			row[ColumnListIdx] = int64(idx)
		}
		id = idText
		row[ColumnID] = id
	}
	if len(row) > 0 {
		if err := n.commit(ts, root); err != nil {
			return err
		}
		if err := emit(ts.t, row); err != nil {
			return err
		}
	} else if root {
		n.empty++
	}
	// Child rows, one list after the other, in table name order.
	end := len(n.lists)
	if end-mark > 1 {
		slices.SortStableFunc(n.lists[mark:end], func(a, b childList) int {
			return cmp.Compare(a.table.t.Name, b.table.t.Name)
		})
	}
	for i := mark; i < end; i++ {
		l := n.lists[i]
		if err := n.listRows(l, id, idText, emit); err != nil {
			return err
		}
	}
	clear(n.lists[mark:end])
	n.lists = n.lists[:mark]
	return nil
}

// listRows normalizes the elements of a list into rows of its child table.
func (n *Normalizer) listRows(l childList, parentID any, parentIDText string, emit func(*schema.Table, schema.Row) error) error {
	for i, e := range l.items {
		v, _, owned, err := convert(e)
		if err != nil {
			return fmt.Errorf("normalize: table %q, list element %d: %w", l.table.t.Name, i, err)
		}
		reuse := l.reuse || owned
		switch x := v.(type) {
		case map[string]any:
			err = n.row(l.table, x, l.lvl, reuse, reuse, false, parentID, parentIDText, i, emit)
		case []any:
			// A list in a list: an intermediate row holds it under "list",
			// one level deeper, as dlt does.
			err = n.row(l.table, map[string]any{ColumnList: x}, l.lvl-1, true, reuse, false, parentID, parentIDText, i, emit)
		default:
			// A scalar (or null) becomes {"value": v}.
			err = n.row(l.table, map[string]any{ColumnValue: v}, l.lvl, true, reuse, false, parentID, parentIDText, i, emit)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// flatten puts the values of the object src, whose keys resolve through
// fields (under parent), into row. lvl is the nesting level of src, rowLvl
// that of the row. With inPlace, row is src: values that move to another
// key are set after the loop.
func (n *Normalizer) flatten(ts *tableState, fields map[string]*field, parent *field, row, src map[string]any,
	rowLvl, lvl int, inPlace, reuse bool,
) error {
	for k, v := range src {
		f := fields[k]
		if f == nil {
			if v != nil && n.full(ts, 0) {
				// Reject the row before its new keys are recorded, so
				// rejected rows cost nothing that stays.
				return n.tooMany(ts, k)
			}
			n.discover(ts)
			if f = fields[k]; f == nil {
				f = n.newField(ts, fields, parent, k)
			}
		}
		if v == nil {
			if inPlace {
				delete(src, k)
			}
			continue
		}
		// Fast paths: the value's Go type is its column's type, or a string
		// goes into a timestamp column.
		if c := f.col; c != nil && !f.skip && (!inPlace || f.same) {
			fits := false
			switch x := v.(type) {
			case string:
				switch c.typ {
				case schema.TypeText:
					fits = true
				case schema.TypeTimestamp:
					if t, ok := parseTimestamp(x); ok {
						v, fits = t, true
						if inPlace {
							src[k] = v
							continue
						}
					}
				}
			case int64:
				fits = c.typ == schema.TypeBigInt
			case float64:
				fits = c.typ == schema.TypeDouble
			case bool:
				fits = c.typ == schema.TypeBool
			}
			if fits {
				if !inPlace {
					row[f.name] = v
				}
				continue
			}
		}
		if err := n.put(ts, f, k, v, row, src, rowLvl, lvl, inPlace, reuse); err != nil {
			return err
		}
	}
	return nil
}

// put normalizes the value v of the key k (resolved to f) into row.
func (n *Normalizer) put(ts *tableState, f *field, k string, v any, row, src map[string]any,
	rowLvl, lvl int, inPlace, reuse bool,
) error {
	if f.skip {
		if inPlace {
			delete(src, k)
		}
		return nil
	}
	out, dt, owned, err := convert(v)
	if err != nil {
		return fmt.Errorf("normalize: table %q, column %q: %w", ts.t.Name, f.name, err)
	}
	if out == nil {
		if inPlace {
			delete(src, k)
		}
		return nil
	}
	if f.col == nil {
		f.col = ts.column(f.name)
	}
	same := false // out is v, unchanged
	switch dt {
	case schema.TypeJSON:
		if lvl > 0 && f.col.typ != schema.TypeJSON {
			// Flatten the object or make the list a child table.
			if inPlace {
				delete(src, k)
				n.deferred = append(n.deferred, deferred{f: f, val: out, reuse: reuse || owned})
				return nil
			}
			return n.nest(ts, f, out, row, rowLvl, lvl, reuse || owned)
		}
		same = reuse && !owned
		if out, err = jsonValue(out, reuse || owned); err != nil {
			return fmt.Errorf("normalize: table %q, column %q: %w", ts.t.Name, f.name, err)
		}
	case schema.TypeBinary:
		if !reuse && !owned {
			out = bytes.Clone(out.([]byte))
		}
	}
	name, val, coerced, err := n.typed(ts, f.col, out, dt)
	if errors.Is(err, ErrTooManyColumns) {
		return err
	}
	if err != nil {
		return fmt.Errorf("normalize: table %q, column %q: %w", ts.t.Name, f.name, err)
	}
	if !inPlace {
		row[name] = val
		return nil
	}
	if name == k {
		if !same || coerced {
			src[k] = val
		}
		return nil
	}
	delete(src, k)
	n.sets = append(n.sets, namedVal{name, val})
	return nil
}

// nest flattens the object or lists the list v found under f at level lvl.
func (n *Normalizer) nest(ts *tableState, f *field, v any, row map[string]any, rowLvl, lvl int, reuse bool) error {
	switch x := v.(type) {
	case map[string]any:
		if f.sub == nil {
			f.sub = make(map[string]*field)
		}
		return n.flatten(ts, f.sub, f, row, x, rowLvl, lvl-1, false, reuse)
	case []any:
		if f.child == nil {
			f.child = n.table(ts.t.Name+pathSeparator+f.name, ts.t.Name)
		}
		n.lists = append(n.lists, childList{table: f.child, items: x, lvl: rowLvl - 1, reuse: reuse})
	}
	return nil
}

// typed fits the value v of data type dt into column c: as it is, coerced,
// or into the variant column for its type. It returns the column name and
// the value, and whether the value was changed.
func (n *Normalizer) typed(ts *tableState, c *column, v any, dt schema.DataType) (string, any, bool, error) {
	if c.typ == dt {
		return c.name, v, false, nil
	}
	if c.typ == "" {
		if n.full(ts, len(n.claimed)) {
			return "", nil, false, n.tooMany(ts, c.name)
		}
		v2, dt2 := detect(v, dt)
		n.claim(c, dt2, "")
		return c.name, v2, dt2 != dt, nil
	}
	if cv, ok := coerce(c.typ, dt, v); ok {
		return c.name, cv, true, nil
	}
	v2, dt2 := detect(v, dt)
	if dt2 == c.typ {
		return c.name, v2, true, nil
	}
	i := typeIndex(dt2)
	vc := c.variants[i]
	if vc == nil {
		// The row's new keys first, so that whether a key or the variant
		// gets a suffix does not depend on the order of the row's keys.
		n.discover(ts)
		vc = ts.column(ts.variantName(c, c.name+pathSeparator+n.ident("v_"+string(dt2))))
		c.variants[i] = vc
	}
	switch vc.typ {
	case "":
		if n.full(ts, len(n.claimed)) {
			return "", nil, false, n.tooMany(ts, vc.name)
		}
		n.claim(vc, dt2, c.name)
		return vc.name, v2, dt2 != dt, nil
	case dt2:
		return vc.name, v2, dt2 != dt, nil
	}
	if cv, ok := coerce(vc.typ, dt2, v2); ok {
		return vc.name, cv, true, nil
	}
	return "", nil, false, fmt.Errorf("%w: a %s fits neither %q (%s) nor %q (%s)", ErrCoerce, dt2, c.name, c.typ, vc.name, vc.typ)
}

// full reports whether ts has no room for another column beside the
// claimed ones the current row adds.
func (n *Normalizer) full(ts *tableState, claimed int) bool {
	return n.cfg.MaxColumns > 0 && len(ts.t.Columns)+claimed >= n.cfg.MaxColumns
}

func (n *Normalizer) tooMany(ts *tableState, key string) error {
	return fmt.Errorf("%w: the key %q would make column %d of table %q, over the limit of %d",
		ErrTooManyColumns, key, len(ts.t.Columns)+len(n.claimed)+1, ts.t.Name, n.cfg.MaxColumns)
}

// claim gives the new column c its type; commit adds it to the schema when
// the row is emitted.
func (n *Normalizer) claim(c *column, dt schema.DataType, of string) {
	c.typ = dt
	c.of = of
	n.claimed = append(n.claimed, c)
}

// commit brings the schema of ts up to date with the row about to be
// emitted: it lists a new table and adds the columns the row claimed (in
// name order, so the order does not depend on map iteration) and the system
// columns.
func (n *Normalizer) commit(ts *tableState, root bool) error {
	changed := false
	if !ts.listed {
		ts.listed = true
		n.tables = append(n.tables, ts)
		changed = true
	}
	if len(n.claimed) > 0 {
		if len(n.claimed) > 1 {
			slices.SortFunc(n.claimed, func(a, b *column) int { return cmp.Compare(a.name, b.name) })
		}
		for _, c := range n.claimed {
			col := schema.Column{Name: c.name, DataType: c.typ, Nullable: true, Variant: c.of != "", Of: c.of}
			if err := ts.t.AddColumn(col); err != nil {
				return fmt.Errorf("normalize: %w", err)
			}
			c.idx = len(ts.t.Columns) - 1
		}
		clear(n.claimed)
		n.claimed = n.claimed[:0]
		changed = true
	}
	if n.cfg.SystemColumns {
		var names []string
		switch {
		case root && !ts.rootSys:
			ts.rootSys = true
			names = []string{ColumnLoadID, ColumnID}
		case !root && !ts.childSys:
			ts.childSys = true
			names = []string{ColumnParentID, ColumnListIdx, ColumnID}
		}
		for _, name := range names {
			c := ts.column(name)
			if c.typ != "" {
				continue
			}
			c.typ = systemType(name)
			if err := ts.t.AddColumn(schema.Column{Name: name, DataType: c.typ, System: true}); err != nil {
				return fmt.Errorf("normalize: %w", err)
			}
			c.idx = len(ts.t.Columns) - 1
			changed = true
		}
	}
	if changed {
		n.version++
	}
	return nil
}
