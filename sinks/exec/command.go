package exec

import (
	"fmt"
	"strings"
)

// Prefix starts a destination named as an external program: "exec:CMD ARGS".
const Prefix = "exec:"

// ParseCommand splits a command line into argv the way a POSIX shell splits
// words, without expanding anything. A leading "exec:" is dropped.
//
//   - Blanks (space, tab, newline) separate words.
//   - 'single quotes' keep everything up to the next single quote.
//   - "double quotes" keep everything, except that a backslash escapes
//     ", \, $, ` and newline.
//   - Outside quotes a backslash keeps the next character; backslash-newline
//     is removed.
//   - Quoted and unquoted parts next to each other form one word; a pair
//     of empty quotes is an empty word.
//
// There are no variables, globs, pipes or redirections: an unquoted
// | & ; < > ( ) $ or ` is an error (quote it, or run "sh -c '...'"). Errors
// wrap ErrInvalidConfig.
func ParseCommand(s string) ([]string, error) {
	s = strings.TrimPrefix(s, Prefix)
	var (
		argv   []string
		word   strings.Builder
		inWord bool // a word has begun, possibly empty ("")
	)
	flush := func() {
		if inWord {
			argv = append(argv, word.String())
			word.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			flush()
		case '\\':
			if i+1 == len(s) {
				return nil, commandError(s, i, "backslash at the end")
			}
			i++
			if s[i] != '\n' {
				word.WriteByte(s[i])
				inWord = true
			}
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, commandError(s, i, "unterminated single quote")
			}
			word.WriteString(s[i+1 : i+1+end])
			inWord = true
			i += end + 1
		case '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) && strings.IndexByte("\"\\$`\n", s[j+1]) >= 0 {
					j++
					if s[j] != '\n' {
						word.WriteByte(s[j])
					}
					continue
				}
				word.WriteByte(s[j])
			}
			if j == len(s) {
				return nil, commandError(s, i, "unterminated double quote")
			}
			inWord = true
			i = j
		case '|', '&', ';', '<', '>', '(', ')', '$', '`':
			return nil, commandError(s, i, fmt.Sprintf("unquoted %q: no shell here; quote it or run sh -c '...'", c))
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	flush()
	if len(argv) == 0 {
		return nil, fmt.Errorf("%w: empty command", ErrInvalidConfig)
	}
	return argv, nil
}

func commandError(s string, at int, msg string) error {
	return fmt.Errorf("%w: command %q at byte %d: %s", ErrInvalidConfig, s, at, msg)
}
