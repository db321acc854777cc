package schema

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Decimal is an exact decimal number. It never passes through float64: it keeps
// the digits it was made from, in a canonical form (no leading zeros, no
// trailing fractional zeros, no exponent), so two equal decimals compare equal
// with ==.
type Decimal struct{ s string }

// ErrDecimal is returned for text that is not a decimal number.
var ErrDecimal = errors.New("schema: not a decimal number")

// ParseDecimal parses a decimal number such as "-12.50" or "1e-3".
func ParseDecimal(s string) (Decimal, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok || strings.ContainsAny(s, "/") {
		return Decimal{}, fmt.Errorf("%w: %q", ErrDecimal, s)
	}
	return DecimalFromRat(r)
}

// MustDecimal is ParseDecimal that panics on error; for constants and tests.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// DecimalFromInt returns the decimal for an integer.
func DecimalFromInt(i *big.Int) Decimal { return Decimal{s: i.String()} }

// DecimalFromRat returns the decimal for r, which must have a finite decimal
// expansion.
func DecimalFromRat(r *big.Rat) (Decimal, error) {
	if r.IsInt() {
		return Decimal{s: r.Num().String()}, nil
	}
	// r = num/den with den = 2^a 5^b: scale by 10^max(a,b).
	den := new(big.Int).Set(r.Denom())
	scale := 0
	ten := big.NewInt(10)
	mod := new(big.Int)
	for den.Cmp(big.NewInt(1)) != 0 {
		switch {
		case mod.Mod(den, ten).Sign() == 0:
			den.Div(den, ten)
		case mod.Mod(den, big.NewInt(2)).Sign() == 0:
			den.Div(den, big.NewInt(2))
		case mod.Mod(den, big.NewInt(5)).Sign() == 0:
			den.Div(den, big.NewInt(5))
		default:
			return Decimal{}, fmt.Errorf("%w: %s has no finite decimal expansion", ErrDecimal, r)
		}
		scale++
	}
	return Decimal{s: r.FloatString(scale)}, nil
}

// String returns the canonical text of the decimal, e.g. "-12.5".
func (d Decimal) String() string {
	if d.s == "" {
		return "0"
	}
	s := d.s
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

// Rat returns the decimal as an exact rational.
func (d Decimal) Rat() *big.Rat {
	r, _ := new(big.Rat).SetString(d.String())
	return r
}

// IsInt reports whether the decimal has no fractional part.
func (d Decimal) IsInt() bool { return !strings.Contains(d.String(), ".") }

// MarshalText implements encoding.TextMarshaler.
func (d Decimal) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Decimal) UnmarshalText(b []byte) error {
	v, err := ParseDecimal(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Date is a calendar date without a time zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate parses "2006-01-02".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("schema: date: %w", err)
	}
	return DateOf(t), nil
}

// String returns the date as "2006-01-02".
func (d Date) String() string {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}

// MarshalText implements encoding.TextMarshaler.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// TimeOfDay is a wall-clock time without a date or time zone.
type TimeOfDay struct {
	Hour, Minute, Second, Nanosecond int
}

// ParseTimeOfDay parses "15:04:05" with optional fractional seconds.
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	t, err := time.Parse("15:04:05.999999999", s)
	if err != nil {
		return TimeOfDay{}, fmt.Errorf("schema: time: %w", err)
	}
	return TimeOfDay{t.Hour(), t.Minute(), t.Second(), t.Nanosecond()}, nil
}

// String returns the time as "15:04:05" with fractional seconds if any.
func (t TimeOfDay) String() string {
	return time.Date(0, 1, 1, t.Hour, t.Minute, t.Second, t.Nanosecond, time.UTC).Format("15:04:05.999999999")
}

// Nanos returns nanoseconds since midnight.
func (t TimeOfDay) Nanos() int64 {
	return int64(t.Hour)*int64(time.Hour) + int64(t.Minute)*int64(time.Minute) +
		int64(t.Second)*int64(time.Second) + int64(t.Nanosecond)
}

// TimeOfDayFromNanos is the inverse of Nanos.
func TimeOfDayFromNanos(n int64) TimeOfDay {
	d := time.Duration(n)
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	s := d / time.Second
	d -= s * time.Second
	return TimeOfDay{int(h), int(m), int(s), int(d)}
}

// MarshalText implements encoding.TextMarshaler.
func (t TimeOfDay) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *TimeOfDay) UnmarshalText(b []byte) error {
	v, err := ParseTimeOfDay(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Days returns days since 1970-01-01.
func (d Date) Days() int32 {
	return int32(time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// DateFromDays is the inverse of Days.
func DateFromDays(n int32) Date { return DateOf(time.Unix(int64(n)*86400, 0).UTC()) }

// TypeOf returns the data type a Go value of the normalized forms has, and
// false for any other Go type.
func TypeOf(v any) (DataType, bool) {
	switch v.(type) {
	case string:
		return TypeText, true
	case int64:
		return TypeBigInt, true
	case float64:
		return TypeDouble, true
	case bool:
		return TypeBool, true
	case time.Time:
		return TypeTimestamp, true
	case Date:
		return TypeDate, true
	case TimeOfDay:
		return TypeTime, true
	case Decimal:
		return TypeDecimal, true
	case []byte:
		return TypeBinary, true
	case map[string]any, []any:
		return TypeJSON, true
	}
	return "", false
}

// CloneRows returns deep copies of rows: new maps, lists and byte slices,
// and every value boxed afresh, so that they stay valid when the memory of
// rows is reused (a destination made with bridge.ReuseRows keeps rows only
// through CloneRows).
func CloneRows(rows []Row) []Row {
	out := make([]Row, len(rows))
	for i, r := range rows {
		if r != nil {
			out[i] = cloneValue(r).(map[string]any)
		}
	}
	return out
}

// cloneValue copies v. Converting a string, number or time back to an
// interface boxes it in new memory.
func cloneValue(v any) any {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return x
	case float64:
		return x
	case time.Time:
		return x
	case []byte:
		if x == nil {
			return x
		}
		return bytes.Clone(x)
	case map[string]any:
		if x == nil {
			return x
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneValue(e)
		}
		return m
	case []any:
		if x == nil {
			return x
		}
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = cloneValue(e)
		}
		return l
	}
	return v
}
