package file

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// ParseSpec reads the argument of the command line's file destination,
// "DIR" or "DIR?format=parquet&gzip=true&name={date}/{table}/{batch_id}.{ext}":
// the directory (made absolute), then settings as a URL query (format,
// gzip, name; values percent-escaped where needed). A directory whose name
// holds '?' cannot be given this way: use file_dir in the config file.
func ParseSpec(spec string) (Config, error) {
	dir, query, _ := strings.Cut(spec, "?")
	var c Config
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return c, fmt.Errorf("file: directory %q: %w", dir, err)
		}
		c.Dir = abs
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return c, fmt.Errorf("file: settings %q: %w", query, err)
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "format":
			c.Format = v
		case "name":
			c.Name = v
		case "gzip":
			if c.Gzip, err = strconv.ParseBool(v); err != nil {
				return c, fmt.Errorf("file: gzip=%q: want true or false", v)
			}
		default:
			return c, fmt.Errorf("file: unknown setting %q (want format, gzip or name)", k)
		}
	}
	return c, nil
}
