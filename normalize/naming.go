package normalize

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Convention is a naming convention: how table and column names from the data
// become identifiers.
type Convention int

// The naming conventions.
const (
	// Direct keeps names; only control characters and quotes (" ' `) become _.
	Direct Convention = iota
	// SnakeCase is dlt's snake_case: camelCase -> camel_case, PErson -> p_erson,
	// a reduced alphabet, a leading digit prefixed with _, trailing _ replaced
	// by x and runs of _ collapsed.
	SnakeCase
)

// pathSeparator joins the fragments of a flattened column name (parent__child)
// and of a child table name (parent_table__field), in both conventions.
const pathSeparator = "__"

// emptyIdentifier replaces a name that is empty or only white space, as dlt's
// relational normalizer does for such keys.
const emptyIdentifier = "_empty"

// String returns the convention's name as dlt spells it: "direct" or
// "snake_case".
func (c Convention) String() string {
	switch c {
	case Direct:
		return "direct"
	case SnakeCase:
		return "snake_case"
	}
	return "Convention(" + strconv.Itoa(int(c)) + ")"
}

func (c Convention) valid() bool { return c == Direct || c == SnakeCase }

// Identifier normalizes one identifier: a column name or one fragment of a
// table name. Fragments are joined with "__" by the caller, so the separator
// survives even though SnakeCase collapses runs of _ inside one identifier.
// A name that is empty or only white space becomes "_empty". Invalid UTF-8
// bytes are treated like control characters.
func (c Convention) Identifier(name string) string {
	if isBlank(name) {
		return emptyIdentifier
	}
	if c == SnakeCase {
		return snakeCase(name)
	}
	return direct(name)
}

// isBlank reports whether s is empty or only white space (Python's str.strip
// notion of white space, which also strips the ASCII separators 0x1c..0x1f).
func isBlank(s string) bool {
	for _, r := range s {
		if !isPySpace(r) {
			return false
		}
	}
	return true
}

func isPySpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// direct replaces control characters, quotes and invalid UTF-8 bytes with _.
func direct(name string) string {
	clean := true
	for i := 0; i < len(name); i++ {
		b := name[i]
		if b < 0x20 || b == 0x7f || b == '"' || b == '\'' || b == '`' || b >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if clean {
		return name
	}
	var sb strings.Builder
	changed := false
	for i, r := range name {
		bad := r == '"' || r == '\'' || r == '`' || unicode.IsControl(r)
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(name[i:]); size == 1 {
				bad = true
			}
		}
		if bad {
			if !changed {
				sb.Grow(len(name))
				sb.WriteString(name[:i])
				changed = true
			}
			sb.WriteByte('_')
			continue
		}
		if changed {
			sb.WriteRune(r)
		}
	}
	if !changed {
		return name
	}
	return sb.String()
}

func isASCIIUpper(r rune) bool { return r >= 'A' && r <= 'Z' }
func isASCIILower(r rune) bool { return r >= 'a' && r <= 'z' }

// snakeCase is dlt's snake_case normalize_identifier (without shortening):
//
//  1. strip surrounding white space;
//  2. translate + - * @ | to x _ x a l;
//  3. replace each run of characters other than [a-zA-Z\d_] with one _
//     (\d is any Unicode decimal digit, as in Python);
//  4. ([^_])([A-Z][a-z]+) -> \1_\2, then ([a-z0-9])([A-Z]) -> \1_\2, then
//     lower case;
//  5. prefix a leading digit with _;
//  6. replace each trailing _ with x;
//  7. collapse runs of _ into one.
func snakeCase(name string) string {
	name = strings.TrimFunc(name, isPySpace)
	// Steps 2 and 3. Invalid UTF-8 decodes to RuneError, which is neither
	// a letter nor a digit, so it is replaced like any other symbol.
	rs := make([]rune, 0, len(name))
	inRun := false
	for _, r := range name {
		switch r {
		case '+', '*':
			r = 'x'
		case '-':
			r = '_'
		case '@':
			r = 'a'
		case '|':
			r = 'l'
		}
		if isASCIIUpper(r) || isASCIILower(r) || r == '_' || unicode.IsDigit(r) {
			rs = append(rs, r)
			inRun = false
			continue
		}
		if !inRun {
			rs = append(rs, '_')
			inRun = true
		}
	}
	// Step 4, break 1: ([^_])([A-Z][a-z]+), matched left to right without
	// overlap, like re.sub.
	out := make([]rune, 0, len(rs)+8)
	for i := 0; i < len(rs); {
		if rs[i] != '_' && i+2 < len(rs) && isASCIIUpper(rs[i+1]) && isASCIILower(rs[i+2]) {
			j := i + 3
			for j < len(rs) && isASCIILower(rs[j]) {
				j++
			}
			out = append(out, rs[i], '_')
			out = append(out, rs[i+1:j]...)
			i = j
			continue
		}
		out = append(out, rs[i])
		i++
	}
	// Break 2: ([a-z0-9])([A-Z]).
	rs = rs[:0]
	for i := 0; i < len(out); {
		if i+1 < len(out) && (isASCIILower(out[i]) || (out[i] >= '0' && out[i] <= '9')) && isASCIIUpper(out[i+1]) {
			rs = append(rs, out[i], '_', out[i+1])
			i += 2
			continue
		}
		rs = append(rs, out[i])
		i++
	}
	// Lower case: only ASCII letters are left.
	for i, r := range rs {
		if isASCIIUpper(r) {
			rs[i] = r + ('a' - 'A')
		}
	}
	var sb strings.Builder
	sb.Grow(len(rs) + 2)
	// Step 5.
	if len(rs) > 0 && unicode.IsDigit(rs[0]) {
		sb.WriteByte('_')
	}
	// Step 6: trailing _ become x, counted before collapsing.
	end := len(rs)
	for end > 0 && rs[end-1] == '_' {
		end--
	}
	// Step 7 while writing.
	prevUnderscore := sb.Len() > 0
	for _, r := range rs[:end] {
		if r == '_' {
			if prevUnderscore {
				continue
			}
			prevUnderscore = true
		} else {
			prevUnderscore = false
		}
		sb.WriteRune(r)
	}
	for range len(rs) - end {
		sb.WriteByte('x')
	}
	return sb.String()
}
