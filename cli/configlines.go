package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// keyLines finds the line of every key and table header of a TOML file, by
// dotted path (array tables by index: destination[0].spec). It reads the
// common forms (headers, key = value, dotted and quoted keys) and skips the
// inside of multi-line strings and arrays; a key it cannot place has no line.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	arrays := map[string]int{}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	n := 0
	var skipUntil string // the end of a multi-line string
	depth := 0           // open brackets of a multi-line array
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if skipUntil != "" {
			if strings.Contains(line, skipUntil) {
				skipUntil = ""
			}
			continue
		}
		if depth > 0 {
			depth += strings.Count(line, "[") - strings.Count(line, "]")
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if strings.HasPrefix(line, "[[") {
			end := strings.Index(line, "]]")
			if end < 0 {
				continue
			}
			path := joinKey(splitKey(line[2:end]))
			i := arrays[path]
			arrays[path] = i + 1
			table = fmt.Sprintf("%s[%d]", path, i)
			lines[table] = n
			if _, ok := lines[path]; !ok {
				lines[path] = n
			}
			continue
		}
		if line[0] == '[' {
			end := strings.LastIndex(line, "]")
			if end < 0 {
				continue
			}
			table = joinKey(splitKey(line[1:end]))
			// A header inside an array table ([destination.x] after
			// [[destination]]) is not read here: rare in these files.
			lines[table] = n
			continue
		}
		eq := keyEnd(line)
		if eq < 0 {
			continue
		}
		key := joinKey(splitKey(line[:eq]))
		if table != "" {
			key = table + "." + key
		}
		if _, ok := lines[key]; !ok {
			lines[key] = n
		}
		val := strings.TrimSpace(line[eq+1:])
		for _, q := range []string{`"""`, `'''`} {
			if strings.HasPrefix(val, q) && !strings.Contains(val[3:], q) {
				skipUntil = q
			}
		}
		if strings.HasPrefix(val, "[") {
			depth = strings.Count(val, "[") - strings.Count(val, "]")
		}
	}
	return lines
}

// keyEnd returns the index of the = that ends a key, outside quotes.
func keyEnd(line string) int {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '=':
			return i
		}
	}
	return -1
}

// splitKey splits a dotted TOML key, unquoting its parts.
func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '.':
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, strings.TrimSpace(cur.String()))
}

func joinKey(parts []string) string { return strings.Join(parts, ".") }
