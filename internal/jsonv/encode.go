package jsonv

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fanoutbridge/bridge/schema"
)

// ErrUnsupported is returned by AppendValue for a value JSON cannot hold:
// NaN or an infinity, a Go type it does not know, nesting deeper than MaxDepth.
var ErrUnsupported = errors.New("jsonv: unsupported value")

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped as encoding/json does with
// HTML escaping off: '"', '\\', control characters, U+2028 and U+2029 are
// escaped, and each byte of invalid UTF-8 becomes \ufffd.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if strSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendFloat appends f as the shortest JSON number that parses back to
// exactly f, formatted like encoding/json (ES6 style: exponent only below
// 1e-6 or from 1e21 on). A whole number gets a ".0" suffix so that Parse
// returns it as float64 again, not int64. NaN and infinities are an error.
func AppendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, fmt.Errorf("%w: %s", ErrUnsupported, strconv.FormatFloat(f, 'g', -1, 64))
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		dst = strconv.AppendFloat(dst, f, 'e', -1, 64)
		// clean up e-09 to e-9
		if n := len(dst); dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
		return dst, nil
	}
	n := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	if !slices.Contains(dst[n:], '.') {
		dst = append(dst, '.', '0')
	}
	return dst, nil
}

// AppendValue appends v as JSON. v is one of the generic forms Parse
// returns (map[string]any, []any, string, int64, float64, bool, nil,
// schema.Decimal), or int, json.Number or Raw (written as it stands). Object keys are written in sorted
// order, so equal values encode to equal bytes; a nil map or slice is null.
// Floats are written as AppendFloat does, decimals as JSON numbers of their
// canonical text. Other types, NaN and infinities are an error wrapping
// ErrUnsupported.
func AppendValue(dst []byte, v any) ([]byte, error) {
	return appendValue(dst, v, 0)
}

func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return AppendString(dst, v), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case float64:
		return AppendFloat(dst, v)
	case bool:
		return strconv.AppendBool(dst, v), nil
	case map[string]any:
		return appendObject(dst, v, depth)
	case []any:
		if v == nil {
			return append(dst, "null"...), nil
		}
		if depth++; depth > MaxDepth {
			return dst, fmt.Errorf("%w: nesting deeper than %d", ErrUnsupported, MaxDepth)
		}
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, e, depth); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case schema.Decimal:
		return append(dst, v.String()...), nil
	case Raw:
		return append(dst, v...), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case json.Number:
		if v == "" {
			return append(dst, '0'), nil
		}
		if !validNumber(string(v)) {
			return dst, fmt.Errorf("%w: invalid number literal %q", ErrUnsupported, string(v))
		}
		return append(dst, v...), nil
	}
	return dst, fmt.Errorf("%w: type %T", ErrUnsupported, v)
}

func appendObject(dst []byte, m map[string]any, depth int) ([]byte, error) {
	if m == nil {
		return append(dst, "null"...), nil
	}
	if depth++; depth > MaxDepth {
		return dst, fmt.Errorf("%w: nesting deeper than %d", ErrUnsupported, MaxDepth)
	}
	// The members, sorted by key: by insertion while few, which is most
	// objects, so without a second lookup of each value.
	type member struct {
		k string
		v any
	}
	var small [16]member
	ms := small[:0]
	for k, v := range m {
		ms = append(ms, member{k, v})
		if len(ms) <= len(small) {
			for i := len(ms) - 1; i > 0 && ms[i].k < ms[i-1].k; i-- {
				ms[i], ms[i-1] = ms[i-1], ms[i]
			}
		}
	}
	if len(ms) > len(small) {
		slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.k, b.k) })
	}
	dst = append(dst, '{')
	for i, kv := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, kv.k)
		dst = append(dst, ':')
		var err error
		if dst, err = appendValue(dst, kv.v, depth); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// validNumber reports whether s is a JSON number literal.
func validNumber(s string) bool {
	if s == "" {
		return false
	}
	end, _, err := scanNumber(s, 0)
	return err == nil && end == len(s)
}
