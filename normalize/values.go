package normalize

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"time"

	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// maxIndirections bounds how many pointers and interfaces convert follows, so
// a pointer cycle is an error and not a hang.
const maxIndirections = 64

// convert returns v in its normalized form and the data type of that form:
// one of the Go types schema.TypeOf knows, or nil for a null. Objects and
// lists come back as map[string]any and []any with data type TypeJSON; their
// contents are not converted yet. Strings are TypeText: timestamp detection
// is the caller's business. owned reports that the returned map, slice or
// []byte was made here, so it may be modified.
func convert(v any) (out any, dt schema.DataType, owned bool, err error) {
	switch x := v.(type) {
	case nil:
		return nil, "", false, nil
	case string:
		return v, schema.TypeText, false, nil
	case int64:
		return v, schema.TypeBigInt, false, nil
	case float64:
		return v, schema.TypeDouble, false, nil
	case bool:
		return v, schema.TypeBool, false, nil
	case map[string]any:
		if x == nil {
			return nil, "", false, nil
		}
		return v, schema.TypeJSON, false, nil
	case []any:
		if x == nil {
			return nil, "", false, nil
		}
		return v, schema.TypeJSON, false, nil
	case jsonv.Raw:
		// An object or list the reader left as text: what it stands for.
		parsed, err := jsonv.ParseString(string(x))
		if err != nil {
			return nil, "", false, fmt.Errorf("raw JSON value: %w", err)
		}
		return parsed, schema.TypeJSON, true, nil
	case time.Time:
		if u := x.UTC(); u != x {
			return u, schema.TypeTimestamp, false, nil
		}
		return v, schema.TypeTimestamp, false, nil
	case schema.Decimal:
		return v, schema.TypeDecimal, false, nil
	case schema.Date:
		return v, schema.TypeDate, false, nil
	case schema.TimeOfDay:
		return v, schema.TypeTime, false, nil
	case []byte:
		if x == nil {
			return nil, "", false, nil
		}
		return v, schema.TypeBinary, false, nil
	case json.Number:
		out, dt, err := parseNumber(string(x))
		return out, dt, false, err
	case int:
		return int64(x), schema.TypeBigInt, false, nil
	case int32:
		return int64(x), schema.TypeBigInt, false, nil
	case int16:
		return int64(x), schema.TypeBigInt, false, nil
	case int8:
		return int64(x), schema.TypeBigInt, false, nil
	case uint:
		out, dt := fromUint(uint64(x))
		return out, dt, false, nil
	case uint64:
		out, dt := fromUint(x)
		return out, dt, false, nil
	case uint32:
		return int64(x), schema.TypeBigInt, false, nil
	case uint16:
		return int64(x), schema.TypeBigInt, false, nil
	case uint8:
		return int64(x), schema.TypeBigInt, false, nil
	case float32:
		return fromFloat32(x), schema.TypeDouble, false, nil
	case *big.Int:
		if x == nil {
			return nil, "", false, nil
		}
		return schema.DecimalFromInt(x), schema.TypeDecimal, false, nil
	case *big.Rat:
		if x == nil {
			return nil, "", false, nil
		}
		d, err := schema.DecimalFromRat(x)
		if err != nil {
			return nil, "", false, fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		return d, schema.TypeDecimal, false, nil
	case *time.Time:
		if x == nil {
			return nil, "", false, nil
		}
		return x.UTC(), schema.TypeTimestamp, false, nil
	case *string:
		if x == nil {
			return nil, "", false, nil
		}
		return *x, schema.TypeText, false, nil
	case *int64:
		if x == nil {
			return nil, "", false, nil
		}
		return *x, schema.TypeBigInt, false, nil
	case *int:
		if x == nil {
			return nil, "", false, nil
		}
		return int64(*x), schema.TypeBigInt, false, nil
	case *float64:
		if x == nil {
			return nil, "", false, nil
		}
		return *x, schema.TypeDouble, false, nil
	case *bool:
		if x == nil {
			return nil, "", false, nil
		}
		return *x, schema.TypeBool, false, nil
	case []map[string]any:
		if x == nil {
			return nil, "", false, nil
		}
		l := make([]any, len(x))
		for i, m := range x {
			if m != nil {
				l[i] = m
			}
		}
		// Not owned: the maps in it are the caller's.
		return l, schema.TypeJSON, false, nil
	case map[string]string:
		if x == nil {
			return nil, "", false, nil
		}
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return m, schema.TypeJSON, true, nil
	case []string:
		if x == nil {
			return nil, "", false, nil
		}
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		return l, schema.TypeJSON, true, nil
	case json.RawMessage:
		if x == nil {
			return nil, "", false, nil
		}
		return decodeJSON(x)
	}
	return convertReflect(v)
}

var (
	objectType    = reflect.TypeFor[map[string]any]()
	listType      = reflect.TypeFor[[]any]()
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// convertReflect handles the types convert has no case for: named basic
// types by their kind, pointers by what they point to, and structs, maps,
// slices and arrays (and any type with its own JSON or text encoding) by a
// round trip through encoding/json, so JSON tags are respected.
func convertReflect(v any) (any, schema.DataType, bool, error) {
	rv := reflect.ValueOf(v)
	for range maxIndirections {
		t := rv.Type()
		if k := rv.Kind(); k == reflect.Pointer || k == reflect.Interface {
			if rv.IsNil() {
				return nil, "", false, nil
			}
			if k == reflect.Pointer && implementsMarshaler(t) && !implementsMarshaler(t.Elem()) {
				// MarshalJSON or MarshalText on the pointer receiver.
				return roundTrip(rv.Interface())
			}
			rv = rv.Elem()
			if k := rv.Kind(); k != reflect.Pointer && k != reflect.Interface {
				// The pointed-to value may be one of convert's own cases.
				return convert(rv.Interface())
			}
			continue
		}
		if implementsMarshaler(t) {
			return roundTrip(rv.Interface())
		}
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return rv.Int(), schema.TypeBigInt, false, nil
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			out, dt := fromUint(rv.Uint())
			return out, dt, false, nil
		case reflect.Float32:
			return fromFloat32(float32(rv.Float())), schema.TypeDouble, false, nil
		case reflect.Float64:
			return rv.Float(), schema.TypeDouble, false, nil
		case reflect.String:
			return rv.String(), schema.TypeText, false, nil
		case reflect.Bool:
			return rv.Bool(), schema.TypeBool, false, nil
		case reflect.Slice:
			if rv.IsNil() {
				return nil, "", false, nil
			}
			if t.Elem().Kind() == reflect.Uint8 {
				return bytes.Clone(rv.Bytes()), schema.TypeBinary, true, nil
			}
			if t.ConvertibleTo(listType) {
				// A named []any: the same slice.
				return rv.Convert(listType).Interface(), schema.TypeJSON, false, nil
			}
			return roundTrip(rv.Interface())
		case reflect.Map:
			if rv.IsNil() {
				return nil, "", false, nil
			}
			if t.ConvertibleTo(objectType) {
				// A named map[string]any: the same map.
				return rv.Convert(objectType).Interface(), schema.TypeJSON, false, nil
			}
			return roundTrip(rv.Interface())
		case reflect.Struct, reflect.Array:
			return roundTrip(rv.Interface())
		default:
			return nil, "", false, fmt.Errorf("%w: %s", ErrUnsupported, t)
		}
	}
	return nil, "", false, fmt.Errorf("%w: more than %d indirections", ErrUnsupported, maxIndirections)
}

func implementsMarshaler(t reflect.Type) bool {
	return t.Implements(jsonMarshaler) || t.Implements(textMarshaler)
}

// roundTrip converts v through encoding/json, numbers kept exact.
func roundTrip(v any) (any, schema.DataType, bool, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, "", false, fmt.Errorf("%w: %T: %w", ErrUnsupported, v, err)
	}
	return decodeJSON(b)
}

// decodeJSON decodes one JSON value with exact numbers and converts it.
func decodeJSON(b []byte) (any, schema.DataType, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, "", false, fmt.Errorf("%w: invalid JSON: %w", ErrUnsupported, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, "", false, fmt.Errorf("%w: invalid JSON: data after the value", ErrUnsupported)
	}
	out, dt, _, err := convert(x)
	// Everything decoded here is new: the caller may modify it.
	return out, dt, true, err
}

func fromUint(u uint64) (any, schema.DataType) {
	if u > math.MaxInt64 {
		return schema.DecimalFromInt(new(big.Int).SetUint64(u)), schema.TypeDecimal
	}
	return int64(u), schema.TypeBigInt
}

// fromFloat32 widens f by its shortest decimal text, so float32(0.1) becomes
// 0.1 and not 0.10000000149011612.
func fromFloat32(f float32) float64 {
	if math.IsInf(float64(f), 0) || math.IsNaN(float64(f)) {
		return float64(f)
	}
	var buf [32]byte
	d, err := strconv.ParseFloat(string(strconv.AppendFloat(buf[:0], float64(f), 'g', -1, 32)), 64)
	if err != nil {
		return float64(f)
	}
	return d
}

// parseNumber converts JSON number text: an integer literal to int64, or a
// decimal when it does not fit; anything else to float64. A number beyond
// float64's range is an error, as in encoding/json.
func parseNumber(s string) (any, schema.DataType, error) {
	valid, isInt := numberSyntax(s)
	if !valid {
		return nil, "", fmt.Errorf("%w: invalid number %q", ErrUnsupported, s)
	}
	if isInt {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, schema.TypeBigInt, nil
		}
		d, err := schema.ParseDecimal(s)
		if err != nil {
			return nil, "", err
		}
		return d, schema.TypeDecimal, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, "", fmt.Errorf("%w: number %s out of range", ErrUnsupported, s)
	}
	return f, schema.TypeDouble, nil
}

// numberSyntax reports whether s is a JSON number, and whether it is an
// integer literal (no fraction, no exponent).
func numberSyntax(s string) (valid, isInt bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i == len(s) {
		return false, false
	}
	switch {
	case s[i] == '0':
		i++
	case s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false, false
	}
	isInt = true
	if i < len(s) && s[i] == '.' {
		isInt = false
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		isInt = false
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false, false
		}
	}
	return i == len(s), isInt
}
