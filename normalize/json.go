package normalize

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/fanoutbridge/bridge/schema"
)

// jsonValue returns the json value v (a map[string]any or []any) with its
// contents in the forms internal/jsonv produces: nil, bool, string, int64,
// float64, schema.Decimal, map[string]any and []any. Other leaves are
// converted: integers to int64 (or a decimal), json.Number as jsonv parses
// numbers, timestamps to RFC 3339 text, dates, times and []byte to their
// text (base64 for bytes), structs and typed maps and slices through
// encoding/json. NaN and infinities, which JSON cannot hold, become null.
//
// With reuse, v is fixed in place and returned; otherwise the result is a
// deep copy that shares nothing mutable with v.
func jsonValue(v any, reuse bool) (any, error) {
	out, _, err := jsonElem(v, reuse)
	return out, err
}

// jsonElem returns e in json content form and whether it differs from e (so
// an in-place caller has to store it).
func jsonElem(e any, reuse bool) (any, bool, error) {
	switch x := e.(type) {
	case nil, string, bool, int64, schema.Decimal:
		return e, false, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, true, nil
		}
		return e, false, nil
	case map[string]any:
		if x == nil {
			return nil, true, nil
		}
		if reuse {
			for k, c := range x {
				o, changed, err := jsonElem(c, true)
				if err != nil {
					return nil, false, err
				}
				if changed {
					x[k] = o
				}
			}
			return e, false, nil
		}
		m := make(map[string]any, len(x))
		for k, c := range x {
			o, _, err := jsonElem(c, false)
			if err != nil {
				return nil, false, err
			}
			m[k] = o
		}
		return m, true, nil
	case []any:
		if x == nil {
			return nil, true, nil
		}
		if reuse {
			for i, c := range x {
				o, changed, err := jsonElem(c, true)
				if err != nil {
					return nil, false, err
				}
				if changed {
					x[i] = o
				}
			}
			return e, false, nil
		}
		l := make([]any, len(x))
		for i, c := range x {
			o, _, err := jsonElem(c, false)
			if err != nil {
				return nil, false, err
			}
			l[i] = o
		}
		return l, true, nil
	}
	o, dt, owned, err := convert(e)
	if err != nil {
		return nil, false, err
	}
	switch dt {
	case "":
		return nil, true, nil
	case schema.TypeJSON:
		o, _, err = jsonElem(o, reuse || owned)
		return o, true, err
	case schema.TypeDouble:
		if f := o.(float64); math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, true, nil
		}
	case schema.TypeTimestamp, schema.TypeDate, schema.TypeTime, schema.TypeBinary:
		return textOf(o), true, nil
	}
	return o, true, nil
}

// appendJSON appends the compact JSON text of a json content value (see
// jsonValue), object keys sorted like encoding/json, no HTML escaping.
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case string:
		return appendJSONString(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(b, "null"...)
		}
		return appendFloat(b, x)
	case schema.Decimal:
		return append(b, x.String()...)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSON(b, x[k])
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	}
	// Not json content form; callers normalize first.
	return appendJSONString(b, textOf(v))
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON; encoding/json escapes them for
		// JavaScript, which is not needed here.
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendFloat formats a finite float like encoding/json: shortest text,
// exponent form only for very small or very large magnitudes.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b) - start
		if n >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
	}
	return b
}

// textOf is the text a normalized value becomes in a text column: numbers as
// their text, bool true/false, timestamps RFC 3339 with nanoseconds in UTC,
// dates and times as schema prints them, binary as standard base64 and json
// as compact JSON.
func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		switch {
		case math.IsNaN(x):
			return "NaN"
		case math.IsInf(x, 1):
			return "Infinity"
		case math.IsInf(x, -1):
			return "-Infinity"
		}
		return string(appendFloat(nil, x))
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case schema.Date:
		return x.String()
	case schema.TimeOfDay:
		return x.String()
	case schema.Decimal:
		return x.String()
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case map[string]any, []any:
		return string(appendJSON(nil, x))
	}
	return ""
}
