// Package jsonv parses and encodes generic JSON values fast, without
// reflection: objects as map[string]any, arrays as []any, strings, bool, nil,
// and numbers as int64, float64 or an exact schema.Decimal.
//
// Parse accepts exactly what encoding/json accepts and yields the same
// strings and float64 values; the differences are that integers come back as
// int64 (or schema.Decimal when they do not fit) instead of float64, and that
// a number too large for float64 is an error here too, but a *SyntaxError.
// Syntax errors have encoding/json's messages and offsets, except that input
// ending inside a token is always "unexpected end of JSON input".
//
// To allocate little, the strings of a result are substrings of one copy of
// the input, and its strings and numbers are boxed into shared slabs (see
// Boxer): a value kept from a document keeps a little of its document in
// memory. AppendValue writes what Parse reads back to equal values, float64
// included (a whole float is written as "2.0", not "2"); only a
// schema.Decimal with a fraction comes back as float64.
package jsonv

import "strconv"

// MaxDepth is the deepest nesting of objects and arrays Parse accepts, the
// same limit as encoding/json.
const MaxDepth = 10000

// SyntaxError describes malformed JSON. Offset is the number of bytes read
// when the error was found, as in encoding/json.
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string { return e.Msg }

const msgEOF = "unexpected end of JSON input"

func errAt(off int, c byte, context string) *SyntaxError {
	return &SyntaxError{Offset: int64(off) + 1, Msg: "invalid character " + quoteChar(c) + " " + context}
}

// quoteChar formats c as a quoted character literal, as encoding/json does.
func quoteChar(c byte) string {
	switch c {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}
