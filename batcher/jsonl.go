package batcher

// Typed JSON-lines payloads. Line 1 is a header object carrying the table,
// {"bridge_table": <encoding/json of *schema.Table>}; then one line per row:
// a JSON object, keys in the table's column order, null and absent values
// left out; or, in the payloads EncodeBatch makes of rows of values, for a
// row whose keys would take more bytes than the nulls before its last value,
// a JSON array of its values in column order, null where it has none, up to
// its last value ([1,"a",null,true]), which names no column. Every line ends
// with "\n" and no line holds a raw newline, so the load file handed over in
// file mode (LoadFile) is the row lines alone, when they are all objects.
//
// Each value is written by its column's data type so that it restores with
// its exact Go type and value:
//
//	text       JSON string
//	bigint     JSON integer
//	double     JSON number that parses back to the same bits ("1.0", "1e-7");
//	           NaN, +Inf and -Inf as the strings "NaN", "Infinity", "-Infinity"
//	bool       true or false
//	timestamp  string, RFC 3339 in UTC with nanoseconds, trailing zeros
//	           trimmed ("2026-01-24T08:15:14.5Z")
//	date       string "2006-01-02"
//	time       string "15:04:05.999999999"
//	decimal    string, the decimal's canonical text
//	binary     string, standard base64
//	json       the JSON value itself (jsonv.AppendValue), keys sorted
//
// Years outside 0..9999, which RFC 3339 cannot write, are written as Go's
// time.Format writes them ("-0001", "10000") and read back as well. A nil
// []byte, map[string]any or []any is null, like nil. Strings are UTF-8: the
// bytes of a text value that is not valid UTF-8 come back as U+FFFD.
//
// Decoded rows share one copy of the payload: their strings are substrings of
// it.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// jsonlHeaderKey is the key of the header line's object.
const jsonlHeaderKey = "bridge_table"

// jsonlRefKey is the key of the header line's object when the payload
// names its table schema instead of carrying it (EncodeRef).
const jsonlRefKey = "bridge_schema"

// jsonlHeader is the first line of a typed JSON-lines payload: the table, or
// a reference to its schema.
type jsonlHeader struct {
	Table *schema.Table `json:"bridge_table,omitempty"`
	Ref   *SchemaRef    `json:"bridge_schema,omitempty"`
}

// SchemaRef names a table schema stored outside the payload (see EncodeRef):
// the table, its parent and its first Columns columns, whose digest is Sum.
type SchemaRef struct {
	Table   string `json:"table"`
	Parent  string `json:"parent,omitempty"`
	Columns int    `json:"columns"`
	Sum     string `json:"sum"`
}

// Resolver returns the table a SchemaRef names. The table is shared: it must
// not be modified. An error that is not about the payload (the store is not
// reachable, say) is returned as it is, so that the caller can try again.
type Resolver func(SchemaRef) (*schema.Table, error)

// LoadFile returns the bytes of the load file handed to a file destination
// for a payload made by Encode in format f: for TypedJSONL the row lines
// without the header line, so that the file is exactly one JSON object per
// row; for Parquet the payload itself, which is a complete Parquet file.
// A typed JSON-lines payload that holds array lines (EncodeBatch writes
// them) is ErrArrayRows: decode it and Encode the rows.
func LoadFile(f Format, payload []byte) ([]byte, error) {
	switch f {
	case TypedJSONL:
		i := bytes.IndexByte(payload, '\n')
		if i < 0 || !bytes.HasPrefix(payload, []byte(`{"`+jsonlHeaderKey+`"`)) && !bytes.HasPrefix(payload, []byte(`{"`+jsonlRefKey+`"`)) {
			return nil, fmt.Errorf("%w: typed-jsonl: no header line", ErrFormat)
		}
		if bytes.Contains(payload[i:], []byte("\n[")) {
			return nil, ErrArrayRows
		}
		return payload[i+1:], nil
	case Parquet:
		return payload, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrFormat, f)
}

// encodeJSONL appends the typed JSON-lines payload for rows of t to dst.
func encodeJSONL(dst []byte, t *schema.Table, rows []schema.Row) ([]byte, error) {
	dst, err := appendJSONLHeader(dst, nil, t)
	if err != nil {
		return dst, err
	}
	return AppendRows(dst, t, rows)
}

// EncodeRef is Encode for TypedJSONL with a header that names the table's
// schema by ref instead of carrying it, so that a batch of a table of
// thousands of columns costs its rows, not its schema. The schema must be
// where the Resolver given to DecodeWith finds it.
func EncodeRef(dst []byte, ref SchemaRef, t *schema.Table, rows []schema.Row) ([]byte, error) {
	dst, err := appendJSONLHeader(dst, &ref, t)
	if err != nil {
		return dst, err
	}
	return AppendRows(dst, t, rows)
}

// encodeJSONLVals is EncodeRef (ref set) or encodeJSONL for rows given as
// values by column index of t.
func encodeJSONLVals(dst []byte, ref *SchemaRef, t *schema.Table, vals []schema.Vals) ([]byte, error) {
	dst, err := appendJSONLHeader(dst, ref, t)
	if err != nil {
		return dst, err
	}
	return appendVals(dst, t, vals, true)
}

// appendJSONLHeader appends the header line: the table, or ref to it.
func appendJSONLHeader(dst []byte, ref *SchemaRef, t *schema.Table) ([]byte, error) {
	if t == nil {
		return dst, errors.New("batcher: typed-jsonl: no table")
	}
	h := jsonlHeader{Table: t}
	if ref != nil {
		if ref.Columns != len(t.Columns) || ref.Table != t.Name {
			return dst, fmt.Errorf("batcher: typed-jsonl: ref to %d columns of %q for table %q of %d", ref.Columns, ref.Table, t.Name, len(t.Columns))
		}
		h = jsonlHeader{Ref: ref}
	}
	header, err := json.Marshal(h)
	if err != nil {
		return dst, fmt.Errorf("batcher: typed-jsonl: table %q: %w", t.Name, err)
	}
	dst = append(dst, header...)
	return append(dst, '\n'), nil
}

// AppendVals is AppendRows for rows given as values by column index of t
// (see schema.Vals); a row longer than t's columns is an error.
func AppendVals(dst []byte, t *schema.Table, rows []schema.Vals) ([]byte, error) {
	return appendVals(dst, t, rows, false)
}

// appendVals is AppendVals; with arrays, a row whose values name more bytes
// of keys than the nulls an array of them would hold is written as that
// array (see the payload format above).
func appendVals(dst []byte, t *schema.Table, rows []schema.Vals, arrays bool) ([]byte, error) {
	keys, ends, err := jsonlKeys(t)
	if err != nil {
		return dst, err
	}
	for i, vals := range rows {
		if len(vals) > len(t.Columns) {
			return dst, fmt.Errorf("batcher: typed-jsonl: row %d: %d values for the %d columns of table %q", i, len(vals), len(t.Columns), t.Name)
		}
		if arrays && denseRow(vals, ends) {
			if dst, err = appendArrayRow(dst, t, vals, i); err != nil {
				return dst, err
			}
			continue
		}
		dst = append(dst, '{')
		first, start := true, 0
		for j, v := range vals {
			key := keys[start:ends[j]]
			start = ends[j]
			if isNull(v) {
				continue
			}
			if dst, err = jsonlAppendMember(dst, first, key, &t.Columns[j], v, i); err != nil {
				return dst, err
			}
			first = false
		}
		dst = append(dst, '}', '\n')
	}
	return dst, nil
}

// denseRow reports whether vals is shorter as an array line than as an
// object line: the bytes of the keys of its values (ends: where each
// column's key ends, see jsonlKeys) outweigh "null," for each null before
// its last value.
func denseRow(vals schema.Vals, ends []int) bool {
	keyBytes, nulls, last := 0, 0, -1
	start := 0
	for j, v := range vals {
		if isNull(v) {
			nulls++
		} else {
			keyBytes += ends[j] - start
			last = j
		}
		start = ends[j]
	}
	nulls -= len(vals) - 1 - last // trailing nulls are left out
	return last >= 0 && 5*nulls < keyBytes
}

// appendArrayRow appends the array line of vals, a row of t: its values in
// column order, null where it has none, up to its last value.
func appendArrayRow(dst []byte, t *schema.Table, vals schema.Vals, i int) ([]byte, error) {
	last := len(vals) - 1
	for last >= 0 && isNull(vals[last]) {
		last--
	}
	dst = append(dst, '[')
	for j, v := range vals[:last+1] {
		if j > 0 {
			dst = append(dst, ',')
		}
		if isNull(v) {
			dst = append(dst, "null"...)
			continue
		}
		var err error
		if dst, err = jsonlAppendValue(dst, t.Columns[j].DataType, v); err != nil {
			return dst, fmt.Errorf("batcher: typed-jsonl: row %d: column %q (%s): %w", i, t.Columns[j].Name, t.Columns[j].DataType, err)
		}
	}
	return append(dst, ']', '\n'), nil
}

// jsonlAppendMember appends key (`"name":`) and v, a value of column c, to
// the line of row i, after a comma unless it is the line's first.
func jsonlAppendMember(dst []byte, first bool, key []byte, c *schema.Column, v any, i int) ([]byte, error) {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, key...)
	dst, err := jsonlAppendValue(dst, c.DataType, v)
	if err != nil {
		return dst, fmt.Errorf("batcher: typed-jsonl: row %d: column %q (%s): %w", i, c.Name, c.DataType, err)
	}
	return dst, nil
}

// jsonlKeys returns `"name":` of every column of t, back to back, and where
// each ends.
func jsonlKeys(t *schema.Table) ([]byte, []int, error) {
	var keys []byte
	ends := make([]int, len(t.Columns))
	for j, c := range t.Columns {
		if !c.DataType.Valid() {
			return nil, nil, fmt.Errorf("batcher: typed-jsonl: column %q: unknown data type %q", c.Name, c.DataType)
		}
		keys = jsonv.AppendString(keys, c.Name)
		keys = append(keys, ':')
		ends[j] = len(keys)
	}
	return keys, ends, nil
}

// AppendRows appends the row lines of a typed JSON-lines batch: one JSON
// object per row and line, keys in the table's column order, nulls left out,
// each value written by its column's data type (timestamps RFC 3339 with
// nanoseconds in UTC, dates and times as text, decimals as strings, binary
// as base64, json nested, NaN and infinities as the strings "NaN",
// "Infinity" and "-Infinity"). A row key that is not a column of t, or a
// value whose Go type does not fit its column, is an error.
func AppendRows(dst []byte, t *schema.Table, rows []schema.Row) ([]byte, error) {
	keys, ends, err := jsonlKeys(t)
	if err != nil {
		return dst, err
	}
	for i, row := range rows {
		dst = append(dst, '{')
		first, known, start := true, 0, 0
		for j, c := range t.Columns {
			key := keys[start:ends[j]]
			start = ends[j]
			v, ok := row[c.Name]
			if !ok {
				continue
			}
			known++
			if isNull(v) {
				continue
			}
			if dst, err = jsonlAppendMember(dst, first, key, &t.Columns[j], v, i); err != nil {
				return dst, err
			}
			first = false
		}
		if known != len(row) {
			for k := range row {
				if t.ColumnIndex(k) < 0 {
					return dst, fmt.Errorf("batcher: typed-jsonl: row %d: column %q is not in table %q", i, k, t.Name)
				}
			}
		}
		dst = append(dst, '}', '\n')
	}
	return dst, nil
}

// jsonlAppendValue appends v, a value of a column of data type dt.
func jsonlAppendValue(dst []byte, dt schema.DataType, v any) ([]byte, error) {
	switch dt {
	case schema.TypeText:
		if s, ok := v.(string); ok {
			return jsonv.AppendString(dst, s), nil
		}
	case schema.TypeBigInt:
		if n, ok := v.(int64); ok {
			return strconv.AppendInt(dst, n, 10), nil
		}
	case schema.TypeDouble:
		if f, ok := v.(float64); ok {
			switch {
			case math.IsNaN(f):
				return append(dst, `"NaN"`...), nil
			case math.IsInf(f, 1):
				return append(dst, `"Infinity"`...), nil
			case math.IsInf(f, -1):
				return append(dst, `"-Infinity"`...), nil
			}
			return jsonv.AppendFloat(dst, f)
		}
	case schema.TypeBool:
		if b, ok := v.(bool); ok {
			return strconv.AppendBool(dst, b), nil
		}
	case schema.TypeTimestamp:
		if ts, ok := v.(time.Time); ok {
			dst = append(dst, '"')
			dst = jsonlAppendTimestamp(dst, ts)
			return append(dst, '"'), nil
		}
	case schema.TypeDate:
		if d, ok := v.(schema.Date); ok {
			if !jsonlValidDate(d.Year, int(d.Month), d.Day) {
				return dst, fmt.Errorf("date %+v is not a calendar date", d)
			}
			dst = append(dst, '"')
			dst = jsonlAppendDate(dst, d.Year, int(d.Month), d.Day)
			return append(dst, '"'), nil
		}
	case schema.TypeTime:
		if tod, ok := v.(schema.TimeOfDay); ok {
			if !jsonlValidClock(tod.Hour, tod.Minute, tod.Second, tod.Nanosecond) {
				return dst, fmt.Errorf("time %+v is not a time of day", tod)
			}
			dst = append(dst, '"')
			dst = jsonlAppendClock(dst, tod.Hour, tod.Minute, tod.Second, tod.Nanosecond)
			return append(dst, '"'), nil
		}
	case schema.TypeDecimal:
		if d, ok := v.(schema.Decimal); ok {
			dst = append(dst, '"')
			dst = append(dst, d.String()...)
			return append(dst, '"'), nil
		}
	case schema.TypeBinary:
		if b, ok := v.([]byte); ok {
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, b)
			return append(dst, '"'), nil
		}
	case schema.TypeJSON:
		switch v.(type) {
		case map[string]any, []any, jsonv.Raw:
			return jsonv.AppendValue(dst, v)
		}
	default:
		return dst, fmt.Errorf("unknown data type %q", dt)
	}
	return dst, fmt.Errorf("value of Go type %T", v)
}
