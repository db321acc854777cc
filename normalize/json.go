package normalize

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"

	"github.com/fanoutbridge/bridge/internal/jsonv"
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
		b, _ := jsonv.AppendFloat(nil, x) // finite here
		return string(b)
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
		// json content form (see jsonValue) holds no NaN or infinity.
		b, _ := jsonv.AppendValue(nil, x)
		return string(b)
	}
	return ""
}
