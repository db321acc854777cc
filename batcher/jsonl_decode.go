package batcher

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// decodeJSONL restores the table and rows of the typed JSON-lines payload
// s; the strings of the rows are substrings of it. With rd, it reuses the
// row maps and value boxes of rd's last decode.
func decodeJSONL(s string, resolve Resolver, rd *RowDecoder) (*schema.Table, []schema.Row, error) {
	line, rest, _ := strings.Cut(s, "\n")
	t, err := jsonlDecodeHeader(line, resolve)
	if err != nil {
		return nil, nil, err
	}
	d := newJSONLDecoder(t)
	var old []schema.Row
	n := strings.Count(rest, "\n") + 1
	if rd != nil {
		d.box = &rd.box
		old = rd.rows
		rd.rows = nil // until this decode succeeds
		if cap(old) < n {
			old = slices.Grow(old, n-len(old))
		}
	}
	rows := make([]schema.Row, 0, n)
	if old != nil {
		rows = old[:0:cap(old)]
	}
	for n := 2; rest != ""; n++ {
		line, rest, _ = strings.Cut(rest, "\n")
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimLeft(line, " \t") == "" {
			continue
		}
		var reuse schema.Row
		if i := len(rows); i < len(old) {
			reuse = old[i]
		}
		row, ok := d.fast(line, reuse)
		if !ok {
			if row, err = jsonlDecodeRow(t, line); err != nil {
				return nil, nil, fmt.Errorf("%w: typed-jsonl: line %d: %w", ErrFormat, n, err)
			}
		}
		rows = append(rows, row)
	}
	if rd != nil {
		// Keep every map for the next decode, those past this one's rows
		// included.
		rd.rows = rows[:max(len(rows), len(old))]
	}
	return t, rows, nil
}

// A RowDecoder decodes payloads like DecodeWith, into rows it owns: each
// Decode of a typed JSON-lines payload reuses the row maps, and the memory
// of the strings, numbers and timestamps in them, of the rows it returned
// before. So those rows, and the maps, slices and interface values in them,
// must no longer be used when Decode is called again (the rule of
// bufio.Scanner.Bytes). A value taken out of its interface (row["name"].(string))
// is a copy and may be kept: the bytes of strings are never written over.
// Decode takes a typed JSON-lines payload over: the rows' strings point
// into it, with no copy, so it must not be modified afterwards.
// The zero value is ready to use; a RowDecoder is not safe for concurrent
// use.
type RowDecoder struct {
	rows []schema.Row // the last decode's row maps, to fill again
	box  jsonv.Boxer
}

// Decode is DecodeWith into reused rows (see RowDecoder).
func (rd *RowDecoder) Decode(f Format, payload []byte, resolve Resolver) (*schema.Table, []schema.Row, error) {
	switch f {
	case TypedJSONL:
		rd.box.Reuse()
		// No copy of the payload (see RowDecoder): on the reference
		// events the copy was about a tenth of a worker's decode.
		return decodeJSONL(unsafe.String(unsafe.SliceData(payload), len(payload)), resolve, rd)
	case Parquet:
		rd.box.Reuse()
		return decodeParquetInto(payload, rd)
	}
	return DecodeWith(f, payload, resolve)
}

// Rows returns the rows of t that vals hold (see RowOf), in the row maps of
// rd's last decode, under the same rule: they must no longer be used once
// rd decodes again. The values themselves are those of vals, but for
// jsonv.Raw text, parsed into memory rd reuses.
func (rd *RowDecoder) Rows(t *schema.Table, vals []schema.Vals) []schema.Row {
	rd.box.Reuse()
	old := rd.rows
	rows := make([]schema.Row, len(vals))
	for i, v := range vals {
		if i < len(old) && old[i] != nil {
			n := 0
			for _, x := range v {
				if x != nil {
					n++
				}
			}
			rows[i] = refill(old[i], n, func(row schema.Row) { schema.FillRow(row, t, v) })
		} else {
			rows[i] = schema.RowOf(t, v)
		}
		parseRaw(rows[i], t, v, &rd.box)
	}
	if len(old) > len(rows) {
		rows = append(rows, old[len(rows):]...)
	}
	rd.rows = rows
	return rows[:len(vals)]
}

// Clear empties the row maps of rd's last decode, which it keeps for the
// next, and the json values it parsed, so that the values in them, and the
// text they share memory with, are not kept in memory while rd waits:
// worth it after Rows, whose values are not rd's own. (After Decode they
// are: they share the memory of the payload, which rd has taken over.)
func (rd *RowDecoder) Clear() {
	for _, row := range rd.rows {
		clear(row)
	}
	rd.box.Clear()
}

// jsonlDecodeHeader returns the table of a header line: the one it carries,
// or the one resolve finds for its ref.
func jsonlDecodeHeader(line string, resolve Resolver) (*schema.Table, error) {
	var h jsonlHeader
	if err := json.Unmarshal([]byte(line), &h); err != nil {
		return nil, fmt.Errorf("%w: typed-jsonl: line 1: header: %w", ErrFormat, err)
	}
	if h.Ref != nil && h.Table == nil {
		if resolve == nil {
			return nil, fmt.Errorf("%w: typed-jsonl: line 1: the header names schema %s of table %q, and no resolver was given",
				ErrFormat, h.Ref.Sum, h.Ref.Table)
		}
		t, err := resolve(*h.Ref)
		if err != nil {
			return nil, fmt.Errorf("batcher: typed-jsonl: schema %s of table %q: %w", h.Ref.Sum, h.Ref.Table, err)
		}
		if t.Name != h.Ref.Table || len(t.Columns) != h.Ref.Columns {
			return nil, fmt.Errorf("%w: typed-jsonl: schema %s: table %q of %d columns, the header wants %q of %d",
				ErrFormat, h.Ref.Sum, t.Name, len(t.Columns), h.Ref.Table, h.Ref.Columns)
		}
		return t.Snapshot(), nil
	}
	if h.Table == nil {
		return nil, fmt.Errorf("%w: typed-jsonl: line 1: header has no %q", ErrFormat, jsonlHeaderKey)
	}
	t := schema.NewTable(h.Table.Name, h.Table.Parent)
	for _, c := range h.Table.Columns {
		if err := t.AddColumn(c); err != nil {
			return nil, fmt.Errorf("%w: typed-jsonl: line 1: header: %w", ErrFormat, err)
		}
	}
	return t, nil
}

// jsonlDecoder decodes row lines as encodeJSONL writes them, guided by the
// table: keys in column order, no whitespace, values in their column's
// form. A line it does not expect it leaves to jsonlDecodeRow, which decodes
// anything valid and explains what is not.
type jsonlDecoder struct {
	t    *schema.Table
	keys []string // per column, `"name":` as encodeJSONL writes it
	cols []int    // scratch: the columns of the values of the current line
	vals []any
	box  *jsonv.Boxer // one per payload: the rows live and die together
}

func newJSONLDecoder(t *schema.Table) *jsonlDecoder {
	d := &jsonlDecoder{t: t, keys: make([]string, len(t.Columns)), box: new(jsonv.Boxer)}
	for j, c := range t.Columns {
		d.keys[j] = string(append(jsonv.AppendString(nil, c.Name), ':'))
	}
	return d
}

// fast decodes line if it is in the form encodeJSONL writes, and reports
// whether it was. It gives the same row as jsonlDecodeRow, in the map reuse
// (cleared) if it is not nil.
func (d *jsonlDecoder) fast(line string, reuse schema.Row) (schema.Row, bool) {
	if len(line) < 2 {
		return nil, false
	}
	d.cols, d.vals = d.cols[:0], d.vals[:0]
	switch line[0] {
	case '{':
		if !d.members(line) {
			return nil, false
		}
	case '[':
		if !d.elements(line) {
			return nil, false
		}
	default:
		return nil, false
	}
	if reuse == nil {
		row := make(schema.Row, len(d.vals))
		for n, k := range d.cols {
			row[d.t.Columns[k].Name] = d.vals[n]
		}
		return row, true
	}
	return refill(reuse, len(d.vals), func(row schema.Row) {
		for n, k := range d.cols {
			row[d.t.Columns[k].Name] = d.vals[n]
		}
	}), true
}

// elements decodes the array line of a row into d.cols and d.vals: its
// values in column order, null where the row has none.
func (d *jsonlDecoder) elements(line string) bool {
	i := 1
	if line[i] == ']' {
		return i == len(line)-1
	}
	for k := 0; ; k++ {
		if k >= len(d.t.Columns) {
			return false
		}
		var end int
		if strings.HasPrefix(line[i:], "null") {
			end = i + 4
		} else {
			v, e, ok := d.value(d.t.Columns[k].DataType, line, i)
			if !ok {
				return false
			}
			d.cols = append(d.cols, k)
			d.vals = append(d.vals, v)
			end = e
		}
		if end >= len(line) {
			return false
		}
		i = end
		if line[i] == ']' {
			return i == len(line)-1
		}
		if line[i] != ',' {
			return false
		}
		i++
		if i >= len(line) {
			return false
		}
	}
}

// members decodes the object line of a row into d.cols and d.vals.
func (d *jsonlDecoder) members(line string) bool {
	i, next := 1, 0
	if line[i] != '}' {
		for {
			// Keys come in column order; absent columns are skipped.
			k := -1
			for j := next; j < len(d.keys); j++ {
				if strings.HasPrefix(line[i:], d.keys[j]) {
					k = j
					break
				}
			}
			if k < 0 {
				return false
			}
			i += len(d.keys[k])
			next = k + 1
			if i >= len(line) {
				return false
			}
			v, end, ok := d.value(d.t.Columns[k].DataType, line, i)
			if !ok || end >= len(line) {
				return false
			}
			d.cols = append(d.cols, k)
			d.vals = append(d.vals, v)
			i = end
			if line[i] == '}' {
				break
			}
			if line[i] != ',' {
				return false
			}
			i++
		}
	}
	return i == len(line)-1
}

// refill makes row, a reused map, hold exactly the n keys fill puts into
// it. A map that held n keys before most often held these very keys (the
// row before in the same place of a batch of the same table): fill writes
// over them, without clearing the map, and if the map then holds more
// than n keys it held others, so it is cleared and filled again.
func refill(row schema.Row, n int, fill func(schema.Row)) schema.Row {
	if len(row) == n {
		fill(row)
		if len(row) == n {
			return row
		}
	}
	clear(row)
	fill(row)
	return row
}

// value decodes the value of data type dt at line[i:] and returns where it
// ends. It declines (ok false) anything unusual, null included.
func (d *jsonlDecoder) value(dt schema.DataType, line string, i int) (v any, end int, ok bool) {
	switch dt {
	case schema.TypeText:
		s, end, ok := d.str(line, i)
		if !ok {
			return nil, 0, false
		}
		return d.box.String(s), end, true
	case schema.TypeBigInt:
		end, isInt := jsonlNumberEnd(line, i)
		if end < 0 || !isInt {
			return nil, 0, false
		}
		n, err := strconv.ParseInt(line[i:end], 10, 64)
		if err != nil {
			return nil, 0, false
		}
		return d.box.Int64(n), end, true
	case schema.TypeDouble:
		if line[i] == '"' {
			s, end, ok := d.str(line, i)
			if !ok {
				return nil, 0, false
			}
			f, err := jsonlConvertString(dt, s)
			return f, end, err == nil
		}
		end, _ := jsonlNumberEnd(line, i)
		if end < 0 {
			return nil, 0, false
		}
		f, err := strconv.ParseFloat(line[i:end], 64)
		if err != nil {
			return nil, 0, false
		}
		return d.box.Float64(f), end, true
	case schema.TypeBool:
		if strings.HasPrefix(line[i:], "true") {
			return true, i + 4, true
		}
		if strings.HasPrefix(line[i:], "false") {
			return false, i + 5, true
		}
		return nil, 0, false
	case schema.TypeJSON:
		if line[i] != '{' && line[i] != '[' {
			return nil, 0, false
		}
		v, n, err := d.box.ParsePrefix(line[i:])
		return v, i + n, err == nil
	}
	// The types written as strings.
	s, end, ok := d.str(line, i)
	if !ok {
		return nil, 0, false
	}
	if dt == schema.TypeTimestamp {
		ts, ok := jsonlParseTimestamp(s)
		return d.box.Time(ts), end, ok
	}
	v, err := jsonlConvertString(dt, s)
	return v, end, err == nil
}

// str decodes the JSON string at line[i:] and returns where it ends.
func (d *jsonlDecoder) str(line string, i int) (s string, end int, ok bool) {
	if line[i] != '"' {
		return "", 0, false
	}
	ascii, escaped := true, false
	for j := i + 1; j < len(line); j++ {
		switch c := line[j]; {
		case c == '"':
			s = line[i+1 : j]
			if escaped || !ascii && !utf8.ValidString(s) {
				v, err := jsonv.ParseString(line[i : j+1])
				if err != nil {
					return "", 0, false
				}
				s = v.(string)
			}
			return s, j + 1, true
		case c == '\\':
			escaped = true
			j++ // the escaped byte cannot end the string
		case c < 0x20:
			return "", 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", 0, false
}

// jsonlNumberEnd returns where the JSON number at s[i:] ends and whether it
// is an integer literal, or -1 if there is no valid number there.
func jsonlNumberEnd(s string, i int) (end int, isInt bool) {
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() bool {
		start := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if !digits() {
		return -1, false
	}
	isInt = true
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return -1, false
		}
		isInt = false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return -1, false
		}
		isInt = false
	}
	return i, isInt
}

// jsonlDecodeRow parses one row line, an object or an array, and converts
// its values to the Go types of their columns.
func jsonlDecodeRow(t *schema.Table, line string) (schema.Row, error) {
	v, err := jsonv.ParseString(line)
	if err != nil {
		return nil, err
	}
	if list, ok := v.([]any); ok {
		return jsonlArrayRow(t, list)
	}
	row, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("row is neither a JSON object nor an array")
	}
	known := 0
	for _, c := range t.Columns {
		x, ok := row[c.Name]
		if !ok {
			continue
		}
		known++
		if x == nil {
			delete(row, c.Name)
			continue
		}
		y, err := jsonlConvert(c.DataType, x)
		if err != nil {
			return nil, fmt.Errorf("column %q (%s): %w", c.Name, c.DataType, err)
		}
		if y != nil {
			row[c.Name] = y
		}
	}
	if known != len(row) {
		for k := range row {
			if t.ColumnIndex(k) < 0 {
				return nil, fmt.Errorf("column %q is not in table %q", k, t.Name)
			}
		}
	}
	return row, nil
}

// jsonlArrayRow converts the values of an array line, in column order, to
// the Go types of their columns.
func jsonlArrayRow(t *schema.Table, list []any) (schema.Row, error) {
	if len(list) > len(t.Columns) {
		return nil, fmt.Errorf("%d values for the %d columns of table %q", len(list), len(t.Columns), t.Name)
	}
	row := make(schema.Row, len(list))
	for j, x := range list {
		if x == nil {
			continue
		}
		c := t.Columns[j]
		y, err := jsonlConvert(c.DataType, x)
		if err != nil {
			return nil, fmt.Errorf("column %q (%s): %w", c.Name, c.DataType, err)
		}
		if y == nil {
			y = x
		}
		row[c.Name] = y
	}
	return row, nil
}

// jsonlConvert returns the value of data type dt for the parsed JSON value x,
// or nil if x is that value already.
func jsonlConvert(dt schema.DataType, x any) (any, error) {
	switch dt {
	case schema.TypeText:
		if _, ok := x.(string); ok {
			return nil, nil
		}
	case schema.TypeBigInt:
		if _, ok := x.(int64); ok {
			return nil, nil
		}
	case schema.TypeDouble:
		switch f := x.(type) {
		case float64:
			return nil, nil
		case int64:
			return float64(f), nil
		case schema.Decimal:
			return strconv.ParseFloat(f.String(), 64)
		case string:
			return jsonlConvertString(dt, f)
		}
	case schema.TypeBool:
		if _, ok := x.(bool); ok {
			return nil, nil
		}
	case schema.TypeJSON:
		switch x.(type) {
		case map[string]any, []any:
			return nil, nil
		}
	default:
		if s, ok := x.(string); ok {
			return jsonlConvertString(dt, s)
		}
	}
	return nil, fmt.Errorf("unexpected JSON value %s", jsonlKind(x))
}

// jsonlConvertString returns the value of data type dt written as the JSON
// string s: a double's NaN or infinity, or a value of the types written as
// strings other than text.
func jsonlConvertString(dt schema.DataType, s string) (any, error) {
	switch dt {
	case schema.TypeDouble:
		switch s {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
	case schema.TypeTimestamp:
		if ts, ok := jsonlParseTimestamp(s); ok {
			return ts, nil
		}
		return nil, fmt.Errorf("bad timestamp %q", s)
	case schema.TypeDate:
		if y, m, d, ok := jsonlParseDate(s); ok {
			return schema.Date{Year: y, Month: time.Month(m), Day: d}, nil
		}
		return nil, fmt.Errorf("bad date %q", s)
	case schema.TypeTime:
		if h, m, sec, ns, ok := jsonlParseClock(s); ok {
			return schema.TimeOfDay{Hour: h, Minute: m, Second: sec, Nanosecond: ns}, nil
		}
		return nil, fmt.Errorf("bad time %q", s)
	case schema.TypeDecimal:
		// Only plain decimal text, as Encode writes: an exponent such as
		// 1e999999999 would make ParseDecimal build a huge number.
		if !jsonlDecimalText(s) {
			return nil, fmt.Errorf("bad decimal %q", s)
		}
		return schema.ParseDecimal(s)
	case schema.TypeBinary:
		b, err := base64.StdEncoding.AppendDecode(make([]byte, 0, base64.StdEncoding.DecodedLen(len(s))), []byte(s))
		if err != nil {
			return nil, fmt.Errorf("bad base64: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unexpected JSON string %q", s)
}

// jsonlKind names the kind of a parsed JSON value for error messages.
func jsonlKind(x any) string {
	switch x.(type) {
	case string:
		return "string"
	case int64, float64, schema.Decimal:
		return "number"
	case bool:
		return "bool"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", x)
}

// jsonlDecimalText reports whether s is -?digits(.digits)?.
func jsonlDecimalText(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(s, ".")
	return jsonlAllDigits(intPart) && (!hasDot || jsonlAllDigits(frac))
}

func jsonlAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
