package jsonv

import (
	"unicode/utf8"
	"unsafe"
)

// Raw is the text of a JSON object or list exactly as AppendValue writes
// the value Parse makes of it (canonical form: no whitespace, object keys
// sorted and unique, strings escaped only where AppendString escapes,
// numbers as AppendValue writes them). A Boxer with RawNested leaves the
// nested objects and lists of ParseObject's members that are already in
// that form as Raw, unparsed: an encoder copies it as it stands, and
// whoever hands the value on parses it (ParseString) into the map or list
// it stands for. AppendValue writes it as it stands.
type Raw string

var rawType = typeOf(Raw(""))

// boxRaw returns r as an interface value, its header in the string slab.
func (b *slabs) boxRaw(r string) any {
	if len(b.strs) == cap(b.strs) {
		b.strs = b.strSlabs.next(b.keep, b.strs)
	}
	b.strs = append(b.strs, r)
	return *(*any)(unsafe.Pointer(&eface{rawType, unsafe.Pointer(&b.strs[len(b.strs)-1])}))
}

// canonicalEnd returns where the JSON value at s[i:] ends if it is written
// in canonical form (see Raw), nested depth containers deep, and ok false
// if it is not, or is not valid JSON at all: the caller parses it then,
// which explains any error. It is conservative: some values AppendValue
// would write as they stand are declined (any escape in a string, any
// number with a fraction or an exponent, an integer of more than 18
// digits), and cost only a parse.
func canonicalEnd(s string, i, depth int) (end int, ok bool) {
	if i >= len(s) {
		return 0, false
	}
	switch c := s[i]; c {
	case '{':
		if depth++; depth > MaxDepth {
			return 0, false
		}
		i++
		if i < len(s) && s[i] == '}' {
			return i + 1, true
		}
		prev, first := "", true
		for {
			end, ok := canonicalString(s, i)
			if !ok {
				return 0, false
			}
			key := s[i+1 : end-1]
			if !first && key <= prev {
				return 0, false // unsorted or duplicate: a map sorts and drops
			}
			prev, first = key, false
			if end >= len(s) || s[end] != ':' {
				return 0, false
			}
			if i, ok = canonicalEnd(s, end+1, depth); !ok || i >= len(s) {
				return 0, false
			}
			switch s[i] {
			case '}':
				return i + 1, true
			case ',':
				i++
			default:
				return 0, false
			}
		}
	case '[':
		if depth++; depth > MaxDepth {
			return 0, false
		}
		i++
		if i < len(s) && s[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = canonicalEnd(s, i, depth); !ok || i >= len(s) {
				return 0, false
			}
			switch s[i] {
			case ']':
				return i + 1, true
			case ',':
				i++
			default:
				return 0, false
			}
		}
	case '"':
		return canonicalString(s, i)
	case 't':
		return literalEnd(s, i, "true")
	case 'f':
		return literalEnd(s, i, "false")
	case 'n':
		return literalEnd(s, i, "null")
	}
	return canonicalInt(s, i)
}

// canonicalString returns where the string at s[i:] ends if AppendString
// writes its text as it stands: no escape, valid UTF-8, no U+2028 or U+2029.
func canonicalString(s string, i int) (end int, ok bool) {
	if i >= len(s) || s[i] != '"' {
		return 0, false
	}
	for j := i + 1; j < len(s); {
		c := s[j]
		if c < utf8.RuneSelf {
			if c == '"' {
				return j + 1, true
			}
			if !strSafe[c] {
				return 0, false
			}
			j++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[j:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return 0, false
		}
		j += size
	}
	return 0, false
}

// canonicalInt returns where the integer at s[i:] ends if it is one that
// Parse makes an int64 of and AppendValue writes back as it stands: no
// fraction, no exponent, no leading zero, no "-0", at most 18 digits.
func canonicalInt(s string, i int) (end int, ok bool) {
	j := i
	if j < len(s) && s[j] == '-' {
		j++
	}
	start := j
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	n := j - start
	switch {
	case n == 0 || n > 18:
		return 0, false
	case s[start] == '0' && (n > 1 || start > i):
		return 0, false
	case j < len(s) && (s[j] == '.' || s[j] == 'e' || s[j] == 'E'):
		return 0, false
	}
	return j, true
}

func literalEnd(s string, i int, word string) (end int, ok bool) {
	if len(s)-i >= len(word) && s[i:i+len(word)] == word {
		return i + len(word), true
	}
	return 0, false
}
