package jsonv

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/fanoutbridge/bridge/schema"
)

// encodingJSONString is how encoding/json writes s with HTML escaping off.
func encodingJSONString(t testing.TB, s string) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestAppendString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "hello", `"hello"`},
		{"empty", "", `""`},
		{"quotes and backslash", `a"b\c`, `"a\"b\\c"`},
		{"short escapes", "\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"other control", "\x00\x1f\x7f", `"\u0000\u001f` + "\x7f" + `"`},
		{"html stays", "<a href='x'>&</a>", `"<a href='x'>&</a>"`},
		{"unicode", "héllo 中 😀", `"héllo 中 😀"`},
		{"line separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"invalid utf8", "a\xffb\xe4\xb8", `"a\ufffdb\ufffd\ufffd"`},
		{"slash", "a/b", `"a/b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendString([]byte("x"), tt.in))
			if got != "x"+tt.want {
				t.Fatalf("AppendString(%q) = %s, want %s", tt.in, got[1:], tt.want)
			}
			if ref := encodingJSONString(t, tt.in); got[1:] != ref {
				t.Fatalf("AppendString(%q) = %s, encoding/json %s", tt.in, got[1:], ref)
			}
		})
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "abc", "\x00\"\\\u2028\xff", "😀\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := string(AppendString(nil, s))
		if ref := encodingJSONString(t, s); got != ref {
			t.Fatalf("AppendString(%q) = %s, encoding/json %s", s, got, ref)
		}
		back, err := ParseString(got)
		// Each byte of invalid UTF-8 comes back as U+FFFD.
		if want := string([]rune(s)); err != nil || back != want {
			t.Fatalf("ParseString(%s) = %q, %v", got, back, err)
		}
	})
}

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1, "1.0"},
		{-3, "-3.0"},
		{1395.38, "1395.38"},
		{0.1, "0.1"},
		{1e20, "100000000000000000000.0"},
		{1e21, "1e+21"},
		{123456789e15, "1.23456789e+23"},
		{1e-6, "0.000001"},
		{1e-7, "1e-7"},
		{5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got, err := AppendFloat(nil, tt.in)
			if err != nil || string(got) != tt.want {
				t.Fatalf("AppendFloat(%v) = %s, %v; want %s", tt.in, got, err, tt.want)
			}
			back, err := Parse(got)
			if err != nil || math.Float64bits(back.(float64)) != math.Float64bits(tt.in) {
				t.Fatalf("Parse(%s) = %v, %v", got, back, err)
			}
		})
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := AppendFloat(nil, f); !errors.Is(err, ErrUnsupported) {
			t.Errorf("AppendFloat(%v) error = %v, want ErrUnsupported", f, err)
		}
	}
}

func TestAppendFloatRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		got, err := AppendFloat(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		back, err := strconv.ParseFloat(string(got), 64)
		if err != nil || math.Float64bits(back) != math.Float64bits(f) {
			t.Fatalf("AppendFloat(%v) = %s does not round trip", f, got)
		}
		ref, _ := json.Marshal(f)
		if s := strings.TrimSuffix(string(got), ".0"); s != string(ref) {
			t.Fatalf("AppendFloat(%v) = %s, encoding/json %s", f, got, ref)
		}
	}
}

func TestAppendValue(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, "null"},
		{"string", "a\"b", `"a\"b"`},
		{"int64", int64(-42), "-42"},
		{"int", 7, "7"},
		{"float", 2.5, "2.5"},
		{"whole float", 2.0, "2.0"},
		{"bool", true, "true"},
		{"decimal", schema.MustDecimal("123456789012345678901234567890.000000001"), "123456789012345678901234567890.000000001"},
		{"json number", json.Number("1.5e3"), "1.5e3"},
		{"empty json number", json.Number(""), "0"},
		{"nil map", map[string]any(nil), "null"},
		{"nil slice", []any(nil), "null"},
		{"empty map", map[string]any{}, "{}"},
		{"empty slice", []any{}, "[]"},
		{"sorted keys", map[string]any{"b": int64(1), "a": []any{"x", nil, false}, "": 1.5},
			`{"":1.5,"a":["x",null,false],"b":1}`},
		{"many keys", manyKeys(20), manyKeysJSON(20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendValue(nil, tt.in)
			if err != nil || string(got) != tt.want {
				t.Fatalf("AppendValue(%#v) = %s, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

func manyKeys(n int) map[string]any {
	m := make(map[string]any, n)
	for i := range n {
		m["k"+strconv.Itoa(100+i)] = int64(i)
	}
	return m
}

func manyKeysJSON(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strconv.Itoa(100+i) + `":` + strconv.Itoa(i))
	}
	b.WriteByte('}')
	return b.String()
}

func TestAppendValueErrors(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	tests := []struct {
		name string
		in   any
	}{
		{"NaN", math.NaN()},
		{"Inf in list", []any{math.Inf(1)}},
		{"unknown type", map[string]any{"a": struct{}{}}},
		{"int32", int32(1)},
		{"bad json number", json.Number("1.")},
		{"cycle", cyclic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := AppendValue(nil, tt.in); !errors.Is(err, ErrUnsupported) {
				t.Fatalf("AppendValue error = %v, want ErrUnsupported", err)
			}
		})
	}
}
