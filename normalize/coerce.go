package normalize

import (
	"encoding/base64"
	"encoding/hex"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/fanoutbridge/bridge/internal/jsonv"
	"github.com/fanoutbridge/bridge/schema"
)

// detect returns the data type a new column gets from v: a string that is an
// RFC 3339 date-time is a timestamp (dlt's default iso_timestamp
// autodetection), everything else keeps its own type.
func detect(v any, dt schema.DataType) (any, schema.DataType) {
	if dt == schema.TypeText {
		if t, ok := parseTimestamp(v.(string)); ok {
			return t, schema.TypeTimestamp
		}
	}
	return v, dt
}

// coerce converts v of data type from into data type to when that loses
// nothing, as dlt's coerce_value does, and reports whether it could:
//
//   - into text: anything, as textOf prints it;
//   - into bigint: an integral double or decimal in range, integer text
//     (0x hex too);
//   - into double: a bigint or decimal that float64 holds exactly (a decimal
//     whose text is the float's shortest text), number text;
//   - into decimal: a bigint, a finite double (its shortest text), number
//     text;
//   - into bool: 0 or 1, and dlt's str2bool words (true/false, yes/no, t/f,
//     y/n, 1/0, any case);
//   - into timestamp: ISO 8601 text (RFC 3339; a space for the T; no
//     seconds; offsets as +02:00, +0200 or +02; none: UTC) or YYYY-MM-DD, a
//     date (midnight UTC), and numbers (or number text) as Unix seconds, as
//     dlt does;
//   - into date: its text form, a timestamp (its UTC date), timestamp text
//     as above, and numbers (or number text) as Unix seconds;
//   - into time: its text form;
//   - into json: text that is a JSON object or list;
//   - into binary: 0x hex text and strict standard base64 text.
//
// Where dlt converts with loss (bool(5), float of a long decimal) the value
// goes to a variant column instead.
func coerce(to, from schema.DataType, v any) (any, bool) {
	switch to {
	case schema.TypeText:
		return textOf(v), true
	case schema.TypeBigInt:
		switch from {
		case schema.TypeDouble:
			f := v.(float64)
			if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
				return int64(f), true
			}
		case schema.TypeDecimal:
			d := v.(schema.Decimal)
			if d.IsInt() {
				if i, err := strconv.ParseInt(d.String(), 10, 64); err == nil {
					return i, true
				}
			}
		case schema.TypeText:
			s := strings.TrimSpace(v.(string))
			if h, ok := strings.CutPrefix(s, "0x"); ok {
				if i, err := strconv.ParseInt(h, 16, 64); err == nil {
					return i, true
				}
			} else if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i, true
			}
		}
	case schema.TypeDouble:
		switch from {
		case schema.TypeBigInt:
			if f, ok := exactFloat(v.(int64)); ok {
				return f, true
			}
		case schema.TypeDecimal:
			s := v.(schema.Decimal).String()
			if f, err := strconv.ParseFloat(s, 64); err == nil && textOf(f) == s {
				return f, true
			}
		case schema.TypeText:
			s := strings.TrimSpace(v.(string))
			if h, ok := strings.CutPrefix(s, "0x"); ok {
				if i, err := strconv.ParseInt(h, 16, 64); err == nil {
					if f, ok := exactFloat(i); ok {
						return f, true
					}
				}
			} else if ok, _ := numberSyntax(strings.TrimPrefix(s, "+")); ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					return f, true
				}
			}
		}
	case schema.TypeDecimal:
		switch from {
		case schema.TypeBigInt:
			return schema.DecimalFromInt(big.NewInt(v.(int64))), true
		case schema.TypeDouble:
			f := v.(float64)
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				if d, err := schema.ParseDecimal(strconv.FormatFloat(f, 'g', -1, 64)); err == nil {
					return d, true
				}
			}
		case schema.TypeText:
			if d, ok := decimalText(strings.TrimSpace(v.(string))); ok {
				return d, true
			}
		}
	case schema.TypeBool:
		switch from {
		case schema.TypeText:
			switch strings.ToLower(v.(string)) {
			case "yes", "true", "t", "y", "1":
				return true, true
			case "no", "false", "f", "n", "0":
				return false, true
			}
		case schema.TypeBigInt:
			if i := v.(int64); i == 0 || i == 1 {
				return i == 1, true
			}
		case schema.TypeDouble:
			if f := v.(float64); f == 0 || f == 1 {
				return f == 1, true
			}
		case schema.TypeDecimal:
			switch v.(schema.Decimal).String() {
			case "0":
				return false, true
			case "1":
				return true, true
			}
		}
	case schema.TypeTimestamp:
		switch from {
		case schema.TypeText:
			s := strings.TrimSpace(v.(string))
			if t, ok := parseTimestamp(s); ok {
				return t, true
			}
			if t, ok := parseTimestampLoose(s); ok {
				return t, true
			}
			if d, err := schema.ParseDate(s); err == nil {
				return midnight(d), true
			}
			if ok, _ := numberSyntax(s); ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					return unixSeconds(f)
				}
			}
		case schema.TypeDate:
			return midnight(v.(schema.Date)), true
		case schema.TypeBigInt:
			return unixSeconds(float64(v.(int64)))
		case schema.TypeDouble:
			return unixSeconds(v.(float64))
		}
	case schema.TypeDate:
		switch from {
		case schema.TypeText:
			s := strings.TrimSpace(v.(string))
			if d, err := schema.ParseDate(s); err == nil {
				return d, true
			}
			if t, ok := parseTimestamp(s); ok {
				return dateOf(t), true
			}
			if t, ok := parseTimestampLoose(s); ok {
				return dateOf(t), true
			}
			if ok, _ := numberSyntax(s); ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					if t, ok := unixSeconds(f); ok {
						return dateOf(t.(time.Time)), true
					}
				}
			}
		case schema.TypeTimestamp:
			return dateOf(v.(time.Time)), true
		case schema.TypeBigInt, schema.TypeDouble:
			f, _ := v.(float64)
			if i, ok := v.(int64); ok {
				f = float64(i)
			}
			if t, ok := unixSeconds(f); ok {
				return dateOf(t.(time.Time)), true
			}
		}
	case schema.TypeJSON:
		if from == schema.TypeText {
			s := strings.TrimSpace(v.(string))
			if s != "" && (s[0] == '{' || s[0] == '[') {
				if j, err := jsonv.Parse([]byte(s)); err == nil {
					return j, true
				}
			}
		}
	case schema.TypeTime:
		if from == schema.TypeText {
			if t, err := schema.ParseTimeOfDay(strings.TrimSpace(v.(string))); err == nil {
				return t, true
			}
		}
	case schema.TypeBinary:
		if from == schema.TypeText {
			s := v.(string)
			if h, ok := strings.CutPrefix(s, "0x"); ok {
				if b, err := hex.DecodeString(h); err == nil {
					return b, true
				}
			} else if b, err := base64.StdEncoding.Strict().DecodeString(s); err == nil {
				return b, true
			}
		}
	}
	return nil, false
}

// exactFloat returns i as a float64 if that is exact.
func exactFloat(i int64) (float64, bool) {
	f := float64(i)
	if f >= 1<<63 || int64(f) != i {
		return 0, false
	}
	return f, true
}

// decimalText parses decimal number text (JSON number syntax, optional
// leading +) with an exponent of at most three digits, so hostile text such
// as 1e999999999 cannot make a huge number.
func decimalText(s string) (schema.Decimal, bool) {
	t := strings.TrimPrefix(s, "+")
	if ok, _ := numberSyntax(t); !ok {
		return schema.Decimal{}, false
	}
	if i := strings.IndexAny(t, "eE"); i >= 0 {
		exp := strings.TrimLeft(t[i+1:], "+-")
		if len(strings.TrimLeft(exp, "0")) > 3 {
			return schema.Decimal{}, false
		}
	}
	d, err := schema.ParseDecimal(t)
	return d, err == nil
}

// dateOf is t's date in UTC.
func dateOf(t time.Time) schema.Date {
	t = t.UTC()
	return schema.Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}
}

// looseLayouts are the ISO 8601 forms parseTimestampLoose takes besides
// RFC 3339: a space or T between date and time, with or without seconds
// (fractions follow the seconds), and offsets +02:00, +0200, +02 or none.
var looseLayouts = func() []string {
	var out []string
	for _, sep := range []string{"T", " "} {
		for _, clock := range []string{"15:04:05", "15:04"} {
			for _, zone := range []string{"Z07:00", "Z0700", "Z07", ""} {
				out = append(out, "2006-01-02"+sep+clock+zone)
			}
		}
	}
	return out
}()

// parseTimestampLoose parses the ISO 8601 date-times dlt coerces into a
// timestamp column that RFC 3339 does not cover, such as
// "2022-04-26 10:36+02" or "2022-04-26T10:36:00+0200"; without an offset the
// time is UTC. It returns the time in UTC.
func parseTimestampLoose(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02 15:04") || s[4] != '-' || s[10] != 'T' && s[10] != ' ' && s[10] != 't' {
		return time.Time{}, false
	}
	if s[10] == 't' {
		s = s[:10] + "T" + s[11:]
	}
	for _, layout := range looseLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func midnight(d schema.Date) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
}

// unixSeconds returns the UTC time f seconds after the Unix epoch, for years
// 1 to 9999.
func unixSeconds(f float64) (any, bool) {
	const minSec, maxSec = -62135596800, 253402300799 // 0001-01-01, 9999-12-31T23:59:59
	if math.IsNaN(f) || f < minSec || f > maxSec {
		return nil, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), true
}
