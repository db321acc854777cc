package httpsource

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// ParseURL reads a source URL:
//
//	http://[HOST]:PORT[/PATH][?max_body=10485760][&timeout=30s][&table=NAME][&token_env=NAME]
//
// HOST:PORT is the listen address (":8080" on every interface), PATH the
// prefix (default /ingest). token_env names the environment variable holding
// the bearer token; getenv (os.Getenv, say) reads it. max_body takes bytes,
// or a number with KiB, MiB or GiB.
func ParseURL(u *url.URL, getenv func(string) string) (Config, error) {
	var c Config
	if u.Scheme != "http" {
		return c, fmt.Errorf("scheme %q: want http://", u.Scheme)
	}
	if u.User != nil {
		return c, fmt.Errorf("no user in the URL: use token_env=NAME for a bearer token")
	}
	c.Addr, c.Path = u.Host, u.Path
	if c.Addr == "" {
		return c, fmt.Errorf("no listen address: http://:8080/ingest")
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "max_body", "timeout", "table", "token_env":
		default:
			return c, fmt.Errorf("unknown option %q: want max_body, timeout, table or token_env", k)
		}
	}
	c.Table = q.Get("table")
	if v := q.Get("max_body"); v != "" {
		n, err := parseBytes(v)
		if err != nil {
			return c, fmt.Errorf("max_body %q: %w", v, err)
		}
		c.MaxBody = n
	}
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("timeout %q: want a duration like 30s", v)
		}
		c.Timeout = d
	}
	if name := q.Get("token_env"); name != "" {
		if getenv == nil {
			return c, fmt.Errorf("token_env %s: no environment to read it from", name)
		}
		if c.Token = getenv(name); c.Token == "" {
			return c, fmt.Errorf("token_env %s: the variable is empty or not set", name)
		}
	}
	return c, nil
}

func parseBytes(v string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if s, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = s, u.m
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("want a positive number of bytes, e.g. 10485760 or 10MiB")
	}
	return n * mult, nil
}

// FromURL makes a source from its URL (see ParseURL), logging to l (nil: no
// logs).
func FromURL(u *url.URL, getenv func(string) string, l *zap.Logger) (*Source, error) {
	c, err := ParseURL(u, getenv)
	if err != nil {
		return nil, err
	}
	c.Logger = l
	return New(c)
}
