package jsonv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/fanoutbridge/bridge/schema"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want any
	}{
		{"null", "null", nil},
		{"true", " true ", true},
		{"false", "\t\r\nfalse\n", false},
		{"zero", "0", int64(0)},
		{"negative zero int", "-0", int64(0)},
		{"small int", "42", int64(42)},
		{"negative int", "-1234567", int64(-1234567)},
		{"max int64", "9223372036854775807", int64(math.MaxInt64)},
		{"min int64", "-9223372036854775808", int64(math.MinInt64)},
		{"above int64", "9223372036854775808", schema.MustDecimal("9223372036854775808")},
		{"below int64", "-9223372036854775809", schema.MustDecimal("-9223372036854775809")},
		{"huge int", "123456789012345678901234567890", schema.MustDecimal("123456789012345678901234567890")},
		{"float", "1395.38", 1395.38},
		{"float zero fraction", "2.0", 2.0},
		{"negative float zero", "-0.0", math.Copysign(0, -1)},
		{"exponent", "1e3", 1000.0},
		{"exponent sign", "-1.5E-7", -1.5e-7},
		{"exponent plus", "2e+2", 200.0},
		{"tiny float", "4.9e-324", 4.9e-324},
		{"underflow", "1e-400", 0.0},
		{"string", `"hello"`, "hello"},
		{"empty string", `""`, ""},
		{"escapes", `"a\"b\\c\/d\be\ff\ng\rh\ti"`, "a\"b\\c/d\be\ff\ng\rh\ti"},
		{"unicode escape", `"\u00e9\u4e2D"`, "é中"},
		{"surrogate pair", `"\ud83d\ude00"`, "😀"},
		{"lone high surrogate", `"\ud83dx"`, "\uFFFDx"},
		{"lone low surrogate", `"\ude00"`, "\uFFFD"},
		{"high then high", `"\ud83d\ud83d\ude00"`, "\uFFFD😀"},
		{"raw utf8", `"héllo 😀"`, "héllo 😀"},
		{"invalid utf8", "\"a\xffb\"", "a\uFFFDb"},
		{"truncated utf8", "\"a\xe4\xb8\"", "a\uFFFD\uFFFD"},
		{"invalid utf8 with escape", "\"\xff\\n\"", "\uFFFD\n"},
		{"literal replacement char", "\"\uFFFD\"", "\uFFFD"},
		{"empty object", "{}", map[string]any{}},
		{"empty array", "[ ]", []any{}},
		{"object", `{"a":1,"b":[true,null,"x"],"c":{"d":1.5}}`,
			map[string]any{"a": int64(1), "b": []any{true, nil, "x"}, "c": map[string]any{"d": 1.5}}},
		{"duplicate key last wins", `{"a":1,"a":2}`, map[string]any{"a": int64(2)}},
		{"escaped key", `{"a\nb":1}`, map[string]any{"a\nb": int64(1)}},
		{"spaces everywhere", " { \"a\" : [ 1 , 2 ] , \"b\" : { } } ",
			map[string]any{"a": []any{int64(1), int64(2)}, "b": map[string]any{}}},
		{"nested arrays", "[[[]],[[1]]]", []any{[]any{[]any{}}, []any{[]any{int64(1)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if f, ok := tt.want.(float64); ok && math.Signbit(f) != math.Signbit(got.(float64)) {
				t.Fatalf("Parse(%q): sign of zero lost", tt.in)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"only space", "   "},
		{"garbage", "x"},
		{"trailing garbage", `{"a":1}x`},
		{"two values", "1 2"},
		{"leading zero", "01"},
		{"minus alone", "-"},
		{"minus letter", "-a"},
		{"dot no digits", "1."},
		{"dot letter", "1.x"},
		{"exponent no digits", "1e"},
		{"exponent sign no digits", "1e+"},
		{"exponent letter", "1ex"},
		{"plus sign", "+1"},
		{"leading dot", ".5"},
		{"tru", "tru"},
		{"trux", "trux"},
		{"fals", "falsy"},
		{"nul", "nulL"},
		{"unterminated string", `"abc`},
		{"control char in string", "\"a\nb\""},
		{"bad escape", `"\x"`},
		{"bad unicode escape", `"\u12g4"`},
		{"short unicode escape", `"\u12`},
		{"escape at end", `"\`},
		{"unterminated object", `{"a":1`},
		{"object missing colon", `{"a" 1}`},
		{"object missing value", `{"a":}`},
		{"object trailing comma", `{"a":1,}`},
		{"object bad key", `{a:1}`},
		{"object bad separator", `{"a":1;"b":2}`},
		{"unterminated array", `[1,2`},
		{"array trailing comma", `[1,]`},
		{"array bad separator", `[1;2]`},
		{"array leading comma", `[,1]`},
		{"single quote", `'a'`},
		{"NaN", `NaN`},
		{"high byte", "\xff"},
		{"nul byte after value", "1\x00"},
		{"too deep", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)},
		{"too deep object", strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error = %v, want *SyntaxError", tt.in, err)
			}
			var want *json.SyntaxError
			var v any
			if !errors.As(json.Unmarshal([]byte(tt.in), &v), &want) {
				t.Fatalf("encoding/json accepts %q", tt.in)
			}
			if !sameSyntaxError(se, want, tt.in) {
				t.Fatalf("Parse(%q) error = %q at %d, encoding/json says %q at %d", tt.in, se.Msg, se.Offset, want.Error(), want.Offset)
			}
		})
	}
}

func TestParseDepth(t *testing.T) {
	in := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	v, err := ParseString(in)
	if err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
	for range MaxDepth - 1 {
		v = v.([]any)[0]
	}
	if a := v.([]any); len(a) != 0 {
		t.Fatalf("innermost = %v", a)
	}
}

func TestParseOutOfRange(t *testing.T) {
	for _, in := range []string{"1e400", "-1e400", `[1.7976931348623159e308]`} {
		_, err := ParseString(in)
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(se.Msg, "out of range") {
			t.Errorf("ParseString(%q) error = %v, want out of range", in, err)
		}
	}
}

// TestParseFloatsLikeEncodingJSON checks random float literals give the same
// float64 as encoding/json.
func TestParseFloatsLikeEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var lit string
		switch r.IntN(3) {
		case 0:
			lit = strconv.FormatFloat(math.Float64frombits(r.Uint64()), 'g', -1, 64)
		case 1:
			lit = strconv.FormatFloat(r.NormFloat64()*1e6, 'f', r.IntN(8)+1, 64)
		default:
			lit = fmt.Sprintf("%d.%de%d", r.IntN(1e6), r.IntN(1e9), r.IntN(600)-300)
		}
		if strings.ContainsAny(lit, "NI") || !strings.ContainsAny(lit, ".e") {
			continue
		}
		var want float64
		if err := json.Unmarshal([]byte(lit), &want); err != nil {
			continue
		}
		got, err := ParseString(lit)
		if err != nil {
			t.Fatalf("ParseString(%q): %v", lit, err)
		}
		if math.Float64bits(got.(float64)) != math.Float64bits(want) {
			t.Fatalf("ParseString(%q) = %v, encoding/json %v", lit, got, want)
		}
	}
}

func TestParseDoesNotKeepInput(t *testing.T) {
	data := []byte(`{"a":"xyz"}`)
	v, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	copy(data, bytes.Repeat([]byte{'#'}, len(data)))
	if got := v.(map[string]any)["a"]; got != "xyz" {
		t.Fatalf("value changed with the input buffer: %q", got)
	}
}

// sameSyntaxError reports whether got matches encoding/json's error for an
// input in. Where encoding/json reports the end of input inside a
// token as "invalid character ' '", Parse says "unexpected end of JSON input".
func sameSyntaxError(got *SyntaxError, want *json.SyntaxError, in string) bool {
	n := len(in)
	if want.Offset == int64(n) && strings.HasPrefix(want.Error(), "invalid character ' '") && (n == 0 || in[n-1] != ' ') {
		return got.Msg == msgEOF && got.Offset == int64(n)
	}
	return got.Msg == want.Error() && got.Offset == want.Offset
}

// fromEncodingJSON maps a value decoded by encoding/json with UseNumber to
// the forms Parse returns.
func fromEncodingJSON(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		s := string(v)
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n, nil
			}
			return schema.ParseDecimal(s)
		}
		return strconv.ParseFloat(s, 64)
	case map[string]any:
		for k, e := range v {
			m, err := fromEncodingJSON(e)
			if err != nil {
				return nil, err
			}
			v[k] = m
		}
	case []any:
		for i, e := range v {
			m, err := fromEncodingJSON(e)
			if err != nil {
				return nil, err
			}
			v[i] = m
		}
	}
	return v, nil
}

// equalValues is reflect.DeepEqual that also tells -0.0 from 0.0.
func equalValues(a, b any) bool {
	switch a := a.(type) {
	case float64:
		b, ok := b.(float64)
		return ok && math.Float64bits(a) == math.Float64bits(b)
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !equalValues(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equalValues(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"id":0,"user_name":"user_85822412","amount":1395.38,"active":true,"address":{"city":"Lisbon"},"tags":["a","b"]}`,
		`[1,-0,1e5,1.5e-7,9223372036854775808,-9223372036854775809,null,true,false]`,
		`"\ud83d\ude00\ud83d\u0041\\\"\/\b\f\n\r\t"`, "\"\xff\xe4\xb8\"", `{"a":1,"a":{}}`,
		"[[[[]]]]", "1e400", "01", `{"a" 1}`, "\"\u2028\"", " \t\r\n0 ",
		`{"a":{"b":1,"c":[2,"x"]},"d":[{"e":null}],"f":{"b":1,"a":2},"g":[1.0,-0,01]}`, `{"":{"":1,"a":[]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Parse(data)
		checkParseObject(t, data, got, err)
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var ref any
		refErr := json.Unmarshal(data, new(json.RawMessage)) // syntax check of the whole input
		if refErr == nil {
			refErr = dec.Decode(&ref)
		}
		if refErr != nil {
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, encoding/json: %v", data, got, refErr)
			}
			var se *SyntaxError
			var want *json.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T, want *SyntaxError", data, err)
			}
			if errors.As(refErr, &want) && !strings.Contains(se.Msg, "out of range") && !sameSyntaxError(se, want, string(data)) {
				t.Fatalf("Parse(%q) error %q at %d, encoding/json %q at %d", data, se.Msg, se.Offset, want.Error(), want.Offset)
			}
			return
		}
		want, mapErr := fromEncodingJSON(ref)
		if mapErr != nil { // a float beyond float64's range
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, want an out of range error", data, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("Parse(%q): %v; encoding/json gives %#v", data, err, want)
		}
		if !equalValues(got, want) {
			t.Fatalf("Parse(%q) = %#v, encoding/json gives %#v", data, got, want)
		}
		// What AppendValue writes parses back to the same value.
		enc, err := AppendValue(nil, got)
		if err != nil {
			t.Fatalf("AppendValue(%#v): %v", got, err)
		}
		back, err := Parse(enc)
		if err != nil || !equalValues(back, got) {
			t.Fatalf("round trip of %q via %q = %#v, %v", data, enc, back, err)
		}
		// A reused Boxer, which writes over the values of the document
		// before, gives the same value.
		var b Boxer
		b.Reuse()
		if _, err := b.ParseString(`{"x":["a",1,2.5,{"y":"z"},[]],"n":123456}`); err != nil {
			t.Fatal(err)
		}
		b.Reuse()
		again, err := b.ParseString(string(data))
		if err != nil || !equalValues(again, got) {
			t.Fatalf("reused Boxer: ParseString(%q) = %#v, %v; want %#v", data, again, err, got)
		}
	})
}

// checkParseObject checks that ParseObject of data agrees with Parse, which
// gave got and err: the same error, an object's members (after what dst
// held) making the same map, any other value the same value.
func checkParseObject(t *testing.T, data []byte, got any, err error) {
	t.Helper()
	var b Boxer
	dst := schema.Object{{Key: "before", Value: int64(1)}}
	out, isObj, v, oerr := b.ParseObject(string(data), dst)
	if fmt.Sprint(err) != fmt.Sprint(oerr) {
		t.Fatalf("ParseObject(%q): error %v, Parse: %v", data, oerr, err)
	}
	if len(out) == 0 || out[0].Key != "before" {
		t.Fatalf("ParseObject(%q) lost what dst held: %v", data, out)
	}
	if err != nil {
		return
	}
	// ParsePrefix takes the same value and stops after it.
	pv, n, perr := b.ParsePrefix(string(data) + "\x00]")
	if perr != nil || !equalValues(pv, got) || strings.TrimSpace(string(data[n:])) != "" {
		t.Fatalf("ParsePrefix(%q) = %#v, %d, %v; Parse gives %#v", data, pv, n, perr, got)
	}
	m, isMap := got.(map[string]any)
	switch {
	case isObj != isMap:
		t.Fatalf("ParseObject(%q): object %v, Parse gave %T", data, isObj, got)
	case isObj && !equalValues(schema.Object(out[1:]).Map(), m):
		t.Fatalf("ParseObject(%q) = %v, Parse gives %#v", data, out[1:], got)
	case !isObj && (len(out) != 1 || !equalValues(v, got)):
		t.Fatalf("ParseObject(%q) = %#v, %v; Parse gives %#v", data, v, out, got)
	}
	checkRaw(t, data, got, isObj)
}

// checkRaw checks that RawNested changes nothing but the form of the
// members' nested values: each Raw parses to what Parse made of it and is
// written back as it stands; and that canonicalEnd accepts only what
// AppendValue writes so.
func checkRaw(t *testing.T, data []byte, got any, isObj bool) {
	t.Helper()
	s := string(data)
	if end, ok := canonicalEnd(s, 0, 0); ok {
		v, err := ParseString(s[:end])
		if err != nil {
			t.Fatalf("canonicalEnd(%q) = %d, but it does not parse: %v", s, end, err)
		}
		if enc, err := AppendValue(nil, v); err != nil || string(enc) != s[:end] {
			t.Fatalf("canonicalEnd(%q) = %d, but AppendValue writes %q (%v)", s, end, enc, err)
		}
	}
	if !isObj {
		return
	}
	b := Boxer{RawNested: true}
	out, _, _, err := b.ParseObject(s, nil)
	if err != nil {
		t.Fatalf("ParseObject(%q) with RawNested: %v", s, err)
	}
	for i, m := range out {
		r, ok := m.Value.(Raw)
		if !ok {
			continue
		}
		v, err := ParseString(string(r))
		if err != nil {
			t.Fatalf("ParseObject(%q) with RawNested: member %d is Raw %q that does not parse: %v", s, i, r, err)
		}
		if enc, _ := AppendValue(nil, v); string(enc) != string(r) {
			t.Fatalf("ParseObject(%q) with RawNested: member %d is Raw %q, written back as %q", s, i, r, enc)
		}
		out[i].Value = v
	}
	if !equalValues(out.Map(), got) {
		t.Fatalf("ParseObject(%q) with RawNested = %v, Parse gives %#v", s, out, got)
	}
}

func TestParseObjectRawNested(t *testing.T) {
	b := Boxer{RawNested: true}
	line := `{"a":{"city":"Lisbon","zip":"77397"},"b":["a",1,null,true,{}],"c":{"z":1,"a":2},"d":[1.5],` +
		`"e":{ "x":1},"f":["\n"],"g":{"x":{"y":[]}},"h":"{}","i":[-0],"j":{"a":1,"a":2},"k":["São"],"l":[]}`
	out, isObj, _, err := b.ParseObject(line, nil)
	if err != nil || !isObj {
		t.Fatalf("ParseObject: %v, %v", isObj, err)
	}
	raw := map[string]string{
		"a": `{"city":"Lisbon","zip":"77397"}`, "b": `["a",1,null,true,{}]`, "g": `{"x":{"y":[]}}`, "k": `["São"]`, "l": `[]`,
	}
	for _, m := range out {
		r, isRaw := m.Value.(Raw)
		want, wantRaw := raw[m.Key]
		switch {
		case isRaw != wantRaw:
			t.Errorf("member %q = %#v (%T): raw %v, want raw %v", m.Key, m.Value, m.Value, isRaw, wantRaw)
		case isRaw && string(r) != want:
			t.Errorf("member %q = %q, want %q", m.Key, r, want)
		}
	}
	// Nested values of a nested object, and values outside ParseObject, are parsed.
	v, err := b.ParseString(`{"a":{"b":{}}}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.(map[string]any)["a"].(map[string]any); !ok {
		t.Fatalf("ParseString with RawNested = %#v, want maps", v)
	}
}

func TestParseObjectMembers(t *testing.T) {
	var b Boxer
	out, isObj, v, err := b.ParseObject(` {"b":1,"a":{"x":[true]},"b":null} `, nil)
	if err != nil || !isObj || v != nil {
		t.Fatalf("ParseObject: %v, %v, %v", isObj, v, err)
	}
	want := schema.Object{{Key: "b", Value: int64(1)}, {Key: "a", Value: map[string]any{"x": []any{true}}}, {Key: "b"}}
	if !equalValues(out.Map(), want.Map()) || len(out) != 3 || out[0].Key != "b" || out[1].Key != "a" || out[2].Value != nil {
		t.Fatalf("members %#v, want %#v", out, want)
	}
	out, isObj, _, err = b.ParseObject(`{}`, nil)
	if err != nil || !isObj || len(out) != 0 {
		t.Fatalf("{}: %v, %v, %v", out, isObj, err)
	}
	out, isObj, v, err = b.ParseObject(`null`, nil)
	if err != nil || isObj || v != nil || out != nil {
		t.Fatalf("null: %v, %v, %v, %v", out, isObj, v, err)
	}
	if _, _, _, err := b.ParseObject(`{"a":1} x`, nil); err == nil || !strings.Contains(err.Error(), "after top-level value") {
		t.Fatalf("trailing data: %v", err)
	}
}

// TestParseValuesSurviveGC checks the values Parse packs into shared slabs
// stay intact through garbage collections while other documents come and go.
func TestParseValuesSurviveGC(t *testing.T) {
	lines := eventLines(2000)
	kept := make([]any, 0, len(lines))
	var b Boxer
	for i, l := range lines {
		var v any
		var err error
		if i%2 == 0 {
			v, err = Parse(l)
		} else {
			v, err = b.ParseString(string(l))
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 { // drop some, keep others
			kept = append(kept, v)
		} else {
			kept = append(kept, nil)
		}
		if i%500 == 0 {
			runtime.GC()
		}
	}
	runtime.GC()
	for i, v := range kept {
		if v == nil {
			continue
		}
		want, _ := Parse(lines[i])
		if !equalValues(v, want) {
			t.Fatalf("value %d changed: %v, want %v", i, v, want)
		}
	}
}

func TestBoxer(t *testing.T) {
	var b Boxer
	var vals []any
	for i := range 1000 {
		vals = append(vals, b.String(strconv.Itoa(i)), b.Int64(int64(i)*1000-7), b.Float64(float64(i)+0.5))
	}
	runtime.GC()
	for i := range 1000 {
		if vals[3*i] != strconv.Itoa(i) || vals[3*i+1] != int64(i)*1000-7 || vals[3*i+2] != float64(i)+0.5 {
			t.Fatalf("%d: %v %v %v", i, vals[3*i], vals[3*i+1], vals[3*i+2])
		}
	}
	if b.String("") != "" || b.Int64(5) != int64(5) {
		t.Fatal("small values")
	}
}

// TestReusedBoxerEmptyList checks that an empty list is an empty list, not
// nil (which encoding/json writes as null), from a reused Boxer too.
func TestReusedBoxerEmptyList(t *testing.T) {
	var b Boxer
	for range 2 {
		b.Reuse()
		for _, s := range []string{`[]`, `{"a":[]}`} {
			v, err := b.ParseString(s)
			if err != nil {
				t.Fatal(err)
			}
			if m, ok := v.(map[string]any); ok {
				v = m["a"]
			}
			if l, ok := v.([]any); !ok || l == nil {
				t.Fatalf("ParseString(%q): empty list %#v, want []any{}", s, v)
			}
		}
	}
}
