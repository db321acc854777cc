package normalize

import (
	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// NormalizeObject is Normalize for one JSON object given as its members, in
// input order, as a JSON parser hands them over (schema.Object; duplicate
// keys mean what they mean in obj.Map(): the last wins). The values must be
// the types a JSON parser makes: string, int64, finite float64, bool, nil,
// schema.Decimal, and map[string]any and []any holding these, or
// jsonv.Raw (see jsonv.Boxer.RawNested). Objects and lists under a json
// column are kept as they are, not copied; so is Raw, in the values
// emitVals gets (a map row has what Raw stands for).
//
// When the object makes one row of the table's columns as they stand (every
// key a column already, every value of its column's type, no object to
// flatten, no list to make child rows of, nothing added to the schema),
// NormalizeObject calls emitVals with the row's values by column index (see
// schema.Vals) and builds no map; emitVals may keep the slice. Otherwise it
// is Normalize(obj.Map(), table, emit). Either way the rows are the same,
// and an object of nulls only makes no row (see EmptyRows). emit and
// emitVals must not be nil.
func (n *Normalizer) NormalizeObject(obj schema.Object, table string,
	emit func(*schema.Table, schema.Row) error, emitVals func(*schema.Table, schema.Vals) error,
) error {
	ts, err := n.rootTable(table)
	if err != nil {
		return err
	}
	if vals, ok := n.fast(ts, obj); ok {
		if vals == nil {
			n.empty++
			return nil
		}
		return emitVals(ts.t, vals)
	}
	return n.Normalize(obj.Map(), table, emit)
}

// valSlab is how many values the fast path allocates at once for its rows.
const valSlab = 4096

// fast makes the root row of ts from obj when it can do so without changing
// the schema and as row would make it: it reports false for anything that
// needs more than the fast paths of flatten (a new key, a duplicate key, a
// value to coerce, to flatten or to list, a system key in the input). A row
// of nulls only, which makes no row, is nil, true.
func (n *Normalizer) fast(ts *tableState, obj schema.Object) (schema.Vals, bool) {
	sys := n.cfg.SystemColumns
	if !ts.listed || len(n.claimed) > 0 || (sys && !ts.rootSys) {
		return nil, false
	}
	width := len(ts.t.Columns)
	if len(n.vals) < width {
		n.vals = make([]any, max(valSlab, width))
	}
	vals := n.vals[:width:width]
	n.objects++
	mark := n.objects
	set := 0
	for i, m := range obj {
		var f *field
		if i < len(ts.byPos) && ts.byPos[i] != nil && ts.byPos[i].key == m.Key {
			f = ts.byPos[i]
		} else if f = ts.fields[m.Key]; f != nil {
			if i >= len(ts.byPos) {
				ts.byPos = append(ts.byPos, make([]*field, i+1-len(ts.byPos))...)
			}
			ts.byPos[i] = f
		}
		if f == nil || f.skip || f.seen == mark {
			clear(vals)
			return nil, false
		}
		f.seen = mark
		if m.Value == nil {
			continue
		}
		c := f.col
		if c == nil || c.typ == "" {
			clear(vals)
			return nil, false
		}
		v, ok := n.fastValue(c.typ, m.Value)
		if !ok {
			clear(vals)
			return nil, false
		}
		vals[c.idx] = v
		set++
	}
	if sys {
		if ts.loadCol == nil {
			ts.loadCol, ts.idCol = ts.cols[ColumnLoadID], ts.cols[ColumnID]
		}
		vals[ts.loadCol.idx] = n.loadID
		vals[ts.idCol.idx] = n.box.String(n.ids.root())
	} else if set == 0 {
		return nil, true
	}
	n.vals = n.vals[width:]
	return vals, true
}

// fastValue returns v as a value of a column of type typ when flatten's
// fast paths or put would store it unchanged (a timestamp column parses an
// RFC 3339 string, a json column takes an object or list: parsed JSON holds
// nothing jsonValue would fix), or false.
func (n *Normalizer) fastValue(typ schema.DataType, v any) (any, bool) {
	switch x := v.(type) {
	case string:
		switch typ {
		case schema.TypeText:
			return v, true
		case schema.TypeTimestamp:
			if t, ok := parseTimestamp(x); ok {
				return n.box.Time(t), true
			}
		}
	case int64:
		return v, typ == schema.TypeBigInt
	case float64:
		return v, typ == schema.TypeDouble
	case bool:
		return v, typ == schema.TypeBool
	case map[string]any:
		return v, typ == schema.TypeJSON && x != nil && n.cfg.ReuseInput
	case []any:
		return v, typ == schema.TypeJSON && x != nil && n.cfg.ReuseInput
	case jsonv.Raw:
		// Canonical JSON text: the encoders copy it as it stands.
		return v, typ == schema.TypeJSON
	}
	return nil, false
}
