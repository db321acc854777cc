package batcher

// Typed JSON-lines payloads. Line 1 is a header object carrying the table,
// {"bridge_table": <encoding/json of *schema.Table>}; then one JSON object per
// row, keys in the table's column order, null and absent values left out.
// Every line ends with "\n" and no line holds a raw newline, so the load file
// handed over in file mode (LoadFile) is the row lines alone.
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
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// jsonlHeaderKey is the key of the header line's object.
const jsonlHeaderKey = "bridge_table"

// jsonlHeader is the first line of a typed JSON-lines payload.
type jsonlHeader struct {
	Table *schema.Table `json:"bridge_table"`
}

// LoadFile returns the bytes of the load file handed to a file destination
// for a payload made by Encode in format f: for TypedJSONL the row lines
// without the header line, so that the file is exactly one JSON object per
// row; for Parquet the payload itself, which is a complete Parquet file.
func LoadFile(f Format, payload []byte) ([]byte, error) {
	switch f {
	case TypedJSONL:
		i := bytes.IndexByte(payload, '\n')
		if i < 0 || !bytes.HasPrefix(payload, []byte(`{"`+jsonlHeaderKey+`"`)) {
			return nil, fmt.Errorf("%w: typed-jsonl: no header line", ErrFormat)
		}
		return payload[i+1:], nil
	case Parquet:
		return payload, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrFormat, f)
}

// encodeJSONL appends the typed JSON-lines payload for rows of t to dst.
func encodeJSONL(dst []byte, t *schema.Table, rows []schema.Row) ([]byte, error) {
	if t == nil {
		return dst, errors.New("batcher: typed-jsonl: no table")
	}
	header, err := json.Marshal(jsonlHeader{Table: t})
	if err != nil {
		return dst, fmt.Errorf("batcher: typed-jsonl: table %q: %w", t.Name, err)
	}
	dst = append(dst, header...)
	dst = append(dst, '\n')
	return AppendRows(dst, t, rows)
}

// AppendRows appends the row lines of a typed JSON-lines batch: one JSON
// object per row and line, keys in the table's column order, nulls left out,
// each value written by its column's data type (timestamps RFC 3339 with
// nanoseconds in UTC, dates and times as text, decimals as strings, binary
// as base64, json nested, NaN and infinities as the strings "NaN",
// "Infinity" and "-Infinity"). A row key that is not a column of t, or a
// value whose Go type does not fit its column, is an error.
func AppendRows(dst []byte, t *schema.Table, rows []schema.Row) ([]byte, error) {
	var err error
	// keys holds `"name":` of every column, back to back; ends[j] is where
	// column j's ends.
	var keys []byte
	ends := make([]int, len(t.Columns))
	for j, c := range t.Columns {
		if !c.DataType.Valid() {
			return dst, fmt.Errorf("batcher: typed-jsonl: column %q: unknown data type %q", c.Name, c.DataType)
		}
		keys = jsonv.AppendString(keys, c.Name)
		keys = append(keys, ':')
		ends[j] = len(keys)
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
			if jsonlIsNull(v) {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, key...)
			if dst, err = jsonlAppendValue(dst, c.DataType, v); err != nil {
				return dst, fmt.Errorf("batcher: typed-jsonl: row %d: column %q (%s): %w", i, c.Name, c.DataType, err)
			}
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

// jsonlIsNull reports whether v stands for null.
func jsonlIsNull(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case []byte:
		return v == nil
	case map[string]any:
		return v == nil
	case []any:
		return v == nil
	}
	return false
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
		case map[string]any, []any:
			return jsonv.AppendValue(dst, v)
		}
	default:
		return dst, fmt.Errorf("unknown data type %q", dt)
	}
	return dst, fmt.Errorf("value of Go type %T", v)
}

// decodeJSONL restores the table and rows of a typed JSON-lines payload.
func decodeJSONL(payload []byte) (*schema.Table, []schema.Row, error) {
	s := string(payload) // decoded strings are substrings of this one copy
	line, rest, _ := strings.Cut(s, "\n")
	t, err := jsonlDecodeHeader(line)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: typed-jsonl: line 1: %w", ErrFormat, err)
	}
	d := newJSONLDecoder(t)
	rows := make([]schema.Row, 0, strings.Count(rest, "\n")+1)
	for n := 2; rest != ""; n++ {
		line, rest, _ = strings.Cut(rest, "\n")
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimLeft(line, " \t") == "" {
			continue
		}
		row, ok := d.fast(line)
		if !ok {
			if row, err = jsonlDecodeRow(t, line); err != nil {
				return nil, nil, fmt.Errorf("%w: typed-jsonl: line %d: %w", ErrFormat, n, err)
			}
		}
		rows = append(rows, row)
	}
	return t, rows, nil
}

func jsonlDecodeHeader(line string) (*schema.Table, error) {
	var h jsonlHeader
	if err := json.Unmarshal([]byte(line), &h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if h.Table == nil {
		return nil, fmt.Errorf("header has no %q", jsonlHeaderKey)
	}
	t := schema.NewTable(h.Table.Name, h.Table.Parent)
	for _, c := range h.Table.Columns {
		if err := t.AddColumn(c); err != nil {
			return nil, fmt.Errorf("header: %w", err)
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
	box  jsonv.Boxer // one per payload: the rows live and die together
}

func newJSONLDecoder(t *schema.Table) *jsonlDecoder {
	d := &jsonlDecoder{t: t, keys: make([]string, len(t.Columns))}
	for j, c := range t.Columns {
		d.keys[j] = string(append(jsonv.AppendString(nil, c.Name), ':'))
	}
	return d
}

// fast decodes line if it is in the form encodeJSONL writes, and reports
// whether it was. It gives the same row as jsonlDecodeRow.
func (d *jsonlDecoder) fast(line string) (schema.Row, bool) {
	if len(line) < 2 || line[0] != '{' {
		return nil, false
	}
	d.cols, d.vals = d.cols[:0], d.vals[:0]
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
				return nil, false
			}
			i += len(d.keys[k])
			next = k + 1
			if i >= len(line) {
				return nil, false
			}
			v, end, ok := d.value(d.t.Columns[k].DataType, line, i)
			if !ok || end >= len(line) {
				return nil, false
			}
			d.cols = append(d.cols, k)
			d.vals = append(d.vals, v)
			i = end
			if line[i] == '}' {
				break
			}
			if line[i] != ',' {
				return nil, false
			}
			i++
		}
	}
	if i != len(line)-1 {
		return nil, false
	}
	row := make(schema.Row, len(d.vals))
	for n, k := range d.cols {
		row[d.t.Columns[k].Name] = d.vals[n]
	}
	return row, true
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
		end := jsonlSkip(line, i)
		if end < 0 {
			return nil, 0, false
		}
		v, err := d.box.ParseString(line[i:end])
		return v, end, err == nil
	}
	// The types written as strings.
	s, end, ok := d.str(line, i)
	if !ok {
		return nil, 0, false
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

// jsonlSkip returns where the JSON object or array at s[i:] ends, or -1. It
// only balances brackets and strings; the value's parser checks the rest.
func jsonlSkip(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1
			}
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		}
	}
	return -1
}

// jsonlDecodeRow parses one row line and converts its values to the Go types
// of their columns.
func jsonlDecodeRow(t *schema.Table, line string) (schema.Row, error) {
	v, err := jsonv.ParseString(line)
	if err != nil {
		return nil, err
	}
	row, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("row is not a JSON object")
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

// Dates and times. time.Time's own RFC 3339 formatting covers years 0..9999
// only; these cover every year, and are faster.

func jsonlAppendTimestamp(dst []byte, ts time.Time) []byte {
	ts = ts.UTC()
	y, mo, d := ts.Date()
	h, mi, s := ts.Clock()
	dst = jsonlAppendDate(dst, y, int(mo), d)
	dst = append(dst, 'T')
	dst = jsonlAppendClock(dst, h, mi, s, ts.Nanosecond())
	return append(dst, 'Z')
}

// jsonlAppendDate appends "2006-01-02"; years beyond four digits as Go's
// time.Format writes them ("-0001", "10000").
func jsonlAppendDate(dst []byte, y, m, d int) []byte {
	if y < 0 {
		dst = append(dst, '-')
		y = -y
	}
	if y < 10000 {
		dst = append(dst, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10))
	} else {
		dst = strconv.AppendInt(dst, int64(y), 10)
	}
	return append(dst, '-', byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
}

// jsonlAppendClock appends "15:04:05" and, if ns > 0, a fraction without
// trailing zeros.
func jsonlAppendClock(dst []byte, h, m, s, ns int) []byte {
	dst = append(dst, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10))
	if ns == 0 {
		return dst
	}
	var frac [10]byte
	frac[0] = '.'
	for i := 9; i >= 1; i-- {
		frac[i] = byte('0' + ns%10)
		ns /= 10
	}
	n := 10
	for frac[n-1] == '0' {
		n--
	}
	return append(dst, frac[:n]...)
}

func jsonlValidDate(y, m, d int) bool {
	return m >= 1 && m <= 12 && d >= 1 && d <= jsonlDaysIn(y, m)
}

func jsonlDaysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func jsonlValidClock(h, m, s, ns int) bool {
	return h >= 0 && h < 24 && m >= 0 && m < 60 && s >= 0 && s < 60 && ns >= 0 && ns < 1e9
}

// jsonlParseTimestamp parses what jsonlAppendTimestamp writes, and any other
// RFC 3339 time, into a time in UTC.
func jsonlParseTimestamp(s string) (time.Time, bool) {
	if i := strings.IndexByte(s, 'T'); i > 0 && strings.HasSuffix(s, "Z") {
		y, mo, d, ok1 := jsonlParseDate(s[:i])
		h, mi, sec, ns, ok2 := jsonlParseClock(s[i+1 : len(s)-1])
		if ok1 && ok2 {
			return time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC), true
		}
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return ts.UTC(), true
}

// jsonlParseDate parses "2006-01-02", with years as jsonlAppendDate writes
// them, and checks it is a calendar date.
func jsonlParseDate(s string) (y, m, d int, ok bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	i := strings.IndexByte(s, '-')
	if i < 4 || len(s) != i+6 || s[i+3] != '-' || (i > 4 && s[0] == '0') || i > 18 {
		return 0, 0, 0, false
	}
	y, ok1 := jsonlDigits(s[:i])
	m, ok2 := jsonlDigits(s[i+1 : i+3])
	d, ok3 := jsonlDigits(s[i+4:])
	if neg {
		y = -y
	}
	return y, m, d, ok1 && ok2 && ok3 && jsonlValidDate(y, m, d)
}

// jsonlParseClock parses "15:04:05" with an optional fraction of 1 to 9 digits.
func jsonlParseClock(s string) (h, m, sec, ns int, ok bool) {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return 0, 0, 0, 0, false
	}
	h, ok1 := jsonlDigits(s[0:2])
	m, ok2 := jsonlDigits(s[3:5])
	sec, ok3 := jsonlDigits(s[6:8])
	if frac := s[8:]; frac != "" {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return 0, 0, 0, 0, false
		}
		n, ok := jsonlDigits(frac[1:])
		if !ok {
			return 0, 0, 0, 0, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		ns = n
	}
	return h, m, sec, ns, ok1 && ok2 && ok3 && jsonlValidClock(h, m, sec, ns)
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

// jsonlDigits converts a non-empty run of at most 18 ASCII digits.
func jsonlDigits(s string) (int, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
