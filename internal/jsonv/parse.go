package jsonv

import (
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/fanoutbridge/bridge/schema"
)

// Parse parses exactly one JSON value from data; whitespace may surround it,
// anything else after it is an error. Objects become map[string]any (the last
// of duplicate keys wins), arrays []any, strings string (escapes decoded,
// invalid UTF-8 replaced by U+FFFD like encoding/json), true and false bool,
// null nil. An integer literal (no fraction, no exponent) becomes int64, or
// schema.Decimal when it does not fit int64; any other number becomes the
// float64 strconv.ParseFloat gives, and one beyond float64's range is an error.
// Errors are *SyntaxError.
//
// Parse copies data once; the strings in the result share that copy.
func Parse(data []byte) (any, error) {
	return ParseString(string(data))
}

// ParseString is Parse for a string. Strings in the result that needed no
// unescaping are substrings of s (no copy), so they keep s in memory.
func ParseString(s string) (any, error) {
	return parse(s, nil)
}

// ParseString is the package's ParseString, boxing the strings and numbers
// of the result into b's slabs, shared with the other values b boxes.
func (b *Boxer) ParseString(s string) (any, error) {
	p := b.start(s)
	defer p.done()
	return p.top()
}

// start readies b's parser for s. A Boxer keeps its parser, with its
// scratch space, from one parse to the next.
func (b *Boxer) start(s string) *parser {
	if b.p == nil {
		b.p = new(parser)
	}
	p := b.p
	p.s, p.i, p.depth, p.box, p.raw = s, 0, 0, &b.slabs, false
	return p
}

// done clears what a Boxer's parser still references of its last parse,
// and drops a one-off huge scratch.
func (p *parser) done() {
	clear(p.vals)
	clear(p.keys)
	p.vals, p.keys, p.s = p.vals[:0], p.keys[:0], ""
	if cap(p.vals) > 1<<14 || cap(p.keys) > 1<<14 || cap(p.buf) > 1<<16 {
		p.vals, p.keys, p.buf = nil, nil, nil
	}
}

// ParseObject is ParseString for a value that is most likely an object: an
// object's members, in input order with duplicate keys kept, are appended to
// dst (out is dst with them, and isObj is set) so that no map is built for
// it; any other value comes back as v, with dst as it was. The members'
// values are boxed like ParseString's; with b.RawNested, those that are
// objects or lists in canonical form are left as Raw.
func (b *Boxer) ParseObject(s string, dst schema.Object) (out schema.Object, isObj bool, v any, err error) {
	p := b.start(s)
	defer p.done()
	p.raw = b.RawNested
	p.skipWS()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		v, err = p.top()
		return dst, false, v, err
	}
	if err := p.members(); err != nil {
		return dst, false, nil, err
	}
	p.skipWS()
	if p.i < len(p.s) {
		return dst, false, nil, errAt(p.i, p.s[p.i], "after top-level value")
	}
	for j, k := range p.keys {
		dst = append(dst, schema.Member{Key: k, Value: p.vals[j]})
	}
	return dst, true, nil, nil
}

// ParsePrefix parses the one JSON value at the start of s, boxed like
// ParseString's, and returns how many bytes of s it took; what follows is
// not looked at.
func (b *Boxer) ParsePrefix(s string) (v any, n int, err error) {
	p := b.start(s)
	v, err = p.value()
	n = p.i
	p.done()
	return v, n, err
}

func parse(s string, box *slabs) (any, error) {
	p := parserPool.Get().(*parser)
	p.s, p.i, p.depth, p.box, p.raw = s, 0, 0, box, false
	if box == nil {
		p.box = &p.own
	}
	v, err := p.top()
	p.release()
	return v, err
}

type parser struct {
	s     string
	i     int
	depth int
	// vals and keys are a scratch stack shared by all open containers: a
	// container appends its members, then copies them into a value of the
	// exact size and truncates back.
	vals []any
	keys []string
	buf  []byte
	box  *slabs // where values are boxed: own, or a Boxer's
	own  slabs
	raw  bool // leave canonical nested values of the top-level object's members as Raw
}

var parserPool = sync.Pool{New: func() any { return new(parser) }}

// release clears what the parser still references and returns it to the pool.
func (p *parser) release() {
	clear(p.vals)
	clear(p.keys)
	p.own.reset()
	p.box = nil
	p.vals, p.keys, p.s = p.vals[:0], p.keys[:0], ""
	if cap(p.vals) > 1<<14 || cap(p.buf) > 1<<16 {
		return // do not pin a one-off huge scratch in the pool
	}
	parserPool.Put(p)
}

func (p *parser) eof() error {
	return &SyntaxError{Offset: int64(len(p.s)), Msg: msgEOF}
}

// strSafe marks the ASCII bytes a string holds as they are: not a control
// character, not '"', not '\\'.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (p *parser) skipWS() {
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			return
		}
		p.i++
	}
}

func (p *parser) top() (any, error) {
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.i < len(p.s) {
		return nil, errAt(p.i, p.s[p.i], "after top-level value")
	}
	return v, nil
}

func (p *parser) value() (any, error) {
	p.skipWS()
	if p.i >= len(p.s) {
		return nil, p.eof()
	}
	switch c := p.s[p.i]; c {
	case '{':
		return p.object()
	case '[':
		return p.array()
	case '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return p.box.boxString(s), nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return p.number()
	case 't':
		return p.literal("true", true)
	case 'f':
		return p.literal("false", false)
	case 'n':
		return p.literal("null", nil)
	default:
		return nil, errAt(p.i, c, "looking for beginning of value")
	}
}

func (p *parser) object() (any, error) {
	kbase, base := len(p.keys), len(p.vals)
	if err := p.members(); err != nil {
		return nil, err
	}
	keys, vals := p.keys[kbase:], p.vals[base:]
	m := p.box.newMap(len(keys))
	for j, k := range keys {
		m[k] = vals[j]
	}
	clear(keys)
	clear(vals)
	p.keys, p.vals = p.keys[:kbase], p.vals[:base]
	return m, nil
}

// members parses the object at p.i, appending its keys and values to
// p.keys and p.vals in input order.
func (p *parser) members() error {
	if p.depth++; p.depth > MaxDepth {
		return errAt(p.i, '{', "exceeded max depth")
	}
	p.i++
	p.skipWS()
	if p.i >= len(p.s) {
		return p.eof()
	}
	if p.s[p.i] == '}' {
		p.i++
		p.depth--
		return nil
	}
	for {
		if c := p.s[p.i]; c != '"' {
			return errAt(p.i, c, "looking for beginning of object key string")
		}
		k, err := p.str()
		if err != nil {
			return err
		}
		p.skipWS()
		if p.i >= len(p.s) {
			return p.eof()
		}
		if c := p.s[p.i]; c != ':' {
			return errAt(p.i, c, "after object key")
		}
		p.i++
		v, err := p.memberValue()
		if err != nil {
			return err
		}
		p.keys = append(p.keys, k)
		p.vals = append(p.vals, v)
		p.skipWS()
		if p.i >= len(p.s) {
			return p.eof()
		}
		c := p.s[p.i]
		p.i++
		if c == '}' {
			break
		}
		if c != ',' {
			return errAt(p.i-1, c, "after object key:value pair")
		}
		p.skipWS()
		if p.i >= len(p.s) {
			return p.eof()
		}
	}
	p.depth--
	return nil
}

// memberValue parses the value of an object's member: with raw, an
// object or list in canonical form in a member of the top-level object is
// left as Raw.
func (p *parser) memberValue() (any, error) {
	if p.raw && p.depth == 1 {
		p.skipWS()
		if p.i < len(p.s) && (p.s[p.i] == '{' || p.s[p.i] == '[') {
			if end, ok := canonicalEnd(p.s, p.i, p.depth); ok {
				v := p.box.boxRaw(p.s[p.i:end])
				p.i = end
				return v, nil
			}
		}
	}
	return p.value()
}

func (p *parser) array() (any, error) {
	if p.depth++; p.depth > MaxDepth {
		return nil, errAt(p.i, '[', "exceeded max depth")
	}
	p.i++
	p.skipWS()
	if p.i >= len(p.s) {
		return nil, p.eof()
	}
	if p.s[p.i] == ']' {
		p.i++
		p.depth--
		return p.box.boxList(p.box.newList(0)), nil
	}
	base := len(p.vals)
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		p.vals = append(p.vals, v)
		p.skipWS()
		if p.i >= len(p.s) {
			return nil, p.eof()
		}
		c := p.s[p.i]
		p.i++
		if c == ']' {
			break
		}
		if c != ',' {
			return nil, errAt(p.i-1, c, "after array element")
		}
	}
	vals := p.vals[base:]
	a := p.box.newList(len(vals))
	copy(a, vals)
	clear(vals)
	p.vals = p.vals[:base]
	p.depth--
	return p.box.boxList(a), nil
}

func (p *parser) literal(word string, v any) (any, error) {
	s, i := p.s, p.i
	if len(s)-i >= len(word) && s[i:i+len(word)] == word {
		p.i = i + len(word)
		return v, nil
	}
	for j := 1; j < len(word); j++ {
		if i+j >= len(s) {
			return nil, p.eof()
		}
		if s[i+j] != word[j] {
			return nil, errAt(i+j, s[i+j], "in literal "+word+" (expecting "+quoteChar(word[j])+")")
		}
	}
	panic("unreachable")
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (p *parser) number() (any, error) {
	start := p.i
	end, isInt, err := scanNumber(p.s, start)
	if err != nil {
		return nil, err
	}
	p.i = end
	lit := p.s[start:end]
	if isInt {
		if len(lit) <= 18 { // cannot overflow int64
			return p.box.boxInt64(smallInt(lit)), nil
		}
		return parseInt(lit, end)
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil { // only ErrRange: the syntax is checked
		return nil, &SyntaxError{Offset: int64(end), Msg: "number " + abbrev(lit) + " is out of range of float64"}
	}
	return p.box.boxFloat64(f), nil
}

// smallInt converts a JSON integer literal of at most 18 digits.
func smallInt(lit string) int64 {
	digits := lit
	if lit[0] == '-' {
		digits = lit[1:]
	}
	var n int64
	for j := 0; j < len(digits); j++ {
		n = n*10 + int64(digits[j]-'0')
	}
	if len(digits) != len(lit) {
		n = -n
	}
	return n
}

// scanNumber checks the number literal starting at s[i] and returns where it
// ends and whether it is an integer literal (no fraction, no exponent).
func scanNumber(s string, i int) (end int, isInt bool, err error) {
	eof := func() (int, bool, error) {
		return 0, false, &SyntaxError{Offset: int64(len(s)), Msg: msgEOF}
	}
	if s[i] == '-' {
		if i++; i >= len(s) {
			return eof()
		}
	}
	switch c := s[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	default:
		return 0, false, errAt(i, c, "in numeric literal")
	}
	isInt = true
	if i < len(s) && s[i] == '.' {
		isInt = false
		if i++; i >= len(s) {
			return eof()
		}
		if !isDigit(s[i]) {
			return 0, false, errAt(i, s[i], "after decimal point in numeric literal")
		}
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		isInt = false
		if i++; i >= len(s) {
			return eof()
		}
		if s[i] == '+' || s[i] == '-' {
			if i++; i >= len(s) {
				return eof()
			}
		}
		if !isDigit(s[i]) {
			return 0, false, errAt(i, s[i], "in exponent of numeric literal")
		}
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	}
	return i, isInt, nil
}

// parseInt converts a valid JSON integer literal ending at offset end.
func parseInt(lit string, end int) (any, error) {
	if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
		return n, nil
	}
	d, err := schema.ParseDecimal(lit)
	if err != nil {
		return nil, &SyntaxError{Offset: int64(end), Msg: "number " + abbrev(lit) + ": " + err.Error()}
	}
	return d, nil
}

func abbrev(s string) string {
	if len(s) > 40 {
		return s[:20] + "..." + s[len(s)-10:]
	}
	return s
}

// str parses the string starting at the quote at p.i.
func (p *parser) str() (string, error) {
	s := p.s
	start := p.i + 1
	i := start
	for i < len(s) && strSafe[s[i]] {
		i++
	}
	if i < len(s) && s[i] == '"' {
		p.i = i + 1
		return s[start:i], nil
	}
	return p.strSlow(start, i)
}

// strSlow continues a string at i that may hold non-ASCII text, escapes or
// errors.
func (p *parser) strSlow(start, i int) (string, error) {
	s := p.s
	// While the text is valid UTF-8 without escapes, it needs no copy.
	for i < len(s) {
		c := s[i]
		if strSafe[c] {
			i++
			continue
		}
		if c == '"' {
			p.i = i + 1
			return s[start:i], nil
		}
		if c < utf8.RuneSelf {
			break // escape or control character
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	b := append(p.buf[:0], s[start:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case strSafe[c]:
			j := i + 1
			for j < len(s) && strSafe[s[j]] {
				j++
			}
			b = append(b, s[i:j]...)
			i = j
		case c == '"':
			p.i = i + 1
			p.buf = b
			return string(b), nil
		case c == '\\':
			if i++; i >= len(s) {
				return "", p.eof()
			}
			switch e := s[i]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, err := p.hex4(i + 1)
				if err != nil {
					return "", err
				}
				i += 4
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
						r2 = getu4(s[i+3 : i+7])
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", errAt(i, e, "in string escape code")
			}
			i++
		case c < 0x20:
			return "", errAt(i, c, "in string literal")
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
	}
	p.buf = b
	return "", p.eof()
}

// hex4 reads the four hex digits of a \u escape starting at i.
func (p *parser) hex4(i int) (rune, error) {
	var r rune
	for j := i; j < i+4; j++ {
		if j >= len(p.s) {
			return 0, p.eof()
		}
		h := unhex(p.s[j])
		if h < 0 {
			return 0, errAt(j, p.s[j], "in \\u hexadecimal character escape")
		}
		r = r<<4 | h
	}
	return r, nil
}

// getu4 decodes four hex digits, or returns -1.
func getu4(s string) rune {
	var r rune
	for j := 0; j < 4; j++ {
		h := unhex(s[j])
		if h < 0 {
			return -1
		}
		r = r<<4 | h
	}
	return r
}

func unhex(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}
