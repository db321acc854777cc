package exec

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// appendBatch appends what the program reads for one batch: the header line,
// then one line per row. Every line ends in '\n'; JSON escapes every control
// character, so a value never breaks a line.
func appendBatch(dst []byte, table *schema.Table, batchID string, rows []schema.Row) ([]byte, error) {
	dst = appendHeader(dst, table, batchID, len(rows))
	var known map[string]bool // table's columns, built only if a row has others
	for i, row := range rows {
		var err error
		if dst, known, err = appendRow(dst, table, row, known); err != nil {
			return dst, fmt.Errorf("row %d: %w", i, err)
		}
	}
	return dst, nil
}

// appendHeader writes the fields in a fixed order (batch, table, parent,
// rows, columns) that the protocol promises, so a program may pick them out
// without a JSON parser.
func appendHeader(dst []byte, table *schema.Table, batchID string, n int) []byte {
	dst = append(dst, `{"batch":`...)
	dst = jsonv.AppendString(dst, batchID)
	dst = append(dst, `,"table":`...)
	dst = jsonv.AppendString(dst, table.Name)
	if table.Parent != "" {
		dst = append(dst, `,"parent":`...)
		dst = jsonv.AppendString(dst, table.Parent)
	}
	dst = append(dst, `,"rows":`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, `,"columns":[`...)
	for i, c := range table.Columns {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = jsonv.AppendString(dst, c.Name)
		dst = append(dst, `,"data_type":`...)
		dst = jsonv.AppendString(dst, string(c.DataType))
		dst = append(dst, `,"nullable":`...)
		dst = strconv.AppendBool(dst, c.Nullable)
		if c.PrimaryKey {
			dst = append(dst, `,"primary_key":true`...)
		}
		if c.Variant {
			dst = append(dst, `,"variant_of":`...)
			dst = jsonv.AppendString(dst, c.Of)
		}
		if c.System {
			dst = append(dst, `,"system":true`...)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}\n"...)
}

// appendRow writes the row's values in the table's column order, then any
// keys the table does not know, sorted. Absent values stay absent.
func appendRow(dst []byte, table *schema.Table, row schema.Row, known map[string]bool) ([]byte, map[string]bool, error) {
	dst = append(dst, '{')
	written := 0
	var err error
	for _, c := range table.Columns {
		v, ok := row[c.Name]
		if !ok {
			continue
		}
		if dst, err = appendField(dst, written == 0, c.Name, v); err != nil {
			return dst, known, err
		}
		written++
	}
	if written < len(row) {
		if known == nil {
			known = make(map[string]bool, len(table.Columns))
			for _, c := range table.Columns {
				known[c.Name] = true
			}
		}
		var extra []string
		for k := range row {
			if !known[k] {
				extra = append(extra, k)
			}
		}
		slices.Sort(extra)
		for _, k := range extra {
			if dst, err = appendField(dst, written == 0, k, row[k]); err != nil {
				return dst, known, err
			}
			written++
		}
	}
	return append(dst, "}\n"...), known, nil
}

func appendField(dst []byte, first bool, k string, v any) ([]byte, error) {
	if !first {
		dst = append(dst, ',')
	}
	dst = jsonv.AppendString(dst, k)
	dst = append(dst, ':')
	dst, err := appendColumnValue(dst, v)
	if err != nil {
		return dst, fmt.Errorf("column %q: %w", k, err)
	}
	return dst, nil
}

// appendColumnValue writes a column's value: timestamps as RFC 3339 UTC
// strings with nanoseconds, dates "2006-01-02" and times "15:04:05.999999999"
// as strings, decimals as strings of their exact digits, binary as standard
// base64, json values as nested JSON.
func appendColumnValue(dst []byte, v any) ([]byte, error) {
	if d, ok := v.(schema.Decimal); ok {
		return jsonv.AppendString(dst, d.String()), nil
	}
	return appendJSON(dst, v, 0)
}

// appendJSON writes v. Inside json values decimals stay JSON numbers; the
// other schema types are written as at the top.
func appendJSON(dst []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case time.Time:
		dst = append(dst, '"')
		dst = v.UTC().AppendFormat(dst, time.RFC3339Nano)
		return append(dst, '"'), nil
	case schema.Date:
		return jsonv.AppendString(dst, v.String()), nil
	case schema.TimeOfDay:
		return jsonv.AppendString(dst, v.String()), nil
	case []byte:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v)
		return append(dst, '"'), nil
	case map[string]any:
		if v == nil {
			return append(dst, "null"...), nil
		}
		if depth++; depth > jsonv.MaxDepth {
			return dst, fmt.Errorf("%w: nesting deeper than %d", jsonv.ErrUnsupported, jsonv.MaxDepth)
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonv.AppendString(dst, k)
			dst = append(dst, ':')
			var err error
			if dst, err = appendJSON(dst, v[k], depth); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case []any:
		if v == nil {
			return append(dst, "null"...), nil
		}
		if depth++; depth > jsonv.MaxDepth {
			return dst, fmt.Errorf("%w: nesting deeper than %d", jsonv.ErrUnsupported, jsonv.MaxDepth)
		}
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendJSON(dst, e, depth); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}
	// string, int64, float64, bool, nil, schema.Decimal (a number here),
	// int, json.Number; anything else is an error.
	return jsonv.AppendValue(dst, v)
}
