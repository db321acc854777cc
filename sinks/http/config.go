package httpsink

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Config is the http sink's settings. With Destination (and the command
// line) the tagged fields are resolved by bridge.NewConfiguredSink: from
// bridge.WithConfig, DESTINATION__<NAME>__<KEY> variables,
// .bridge/secrets.toml and .bridge/config.toml, then the defaults. The keys
// carry an http_ prefix because bridge also reads a key from the variable
// named by the key alone and from the shared [destination] section: a bare
// "url" or "timeout" would pick up unrelated settings.
type Config struct {
	// URL receives the batches; "{table}" in it is replaced by the
	// batch's table name (path-escaped).
	URL string `bridge:"http_url"`
	// Method is the request method.
	Method string `bridge:"http_method" default:"POST"`
	// Body is "json" (one JSON array of the rows) or "jsonl" (one JSON
	// object per line).
	Body string `bridge:"http_body" default:"json"`
	// Headers are extra request headers, each "Name: value". Secret,
	// since API keys travel in headers.
	Headers []string `bridge:"http_headers,secret,optional"`
	// BearerToken sends "Authorization: Bearer <token>".
	BearerToken string `bridge:"http_bearer_token,secret,optional"`
	// BasicUser and BasicPassword send basic authentication.
	BasicUser     string `bridge:"http_basic_user,optional"`
	BasicPassword string `bridge:"http_basic_password,secret,optional"`
	// Timeout bounds each request, from sending to the end of the
	// response (waiting for the rate limit is not counted).
	Timeout time.Duration `bridge:"http_timeout" default:"30s"`
	// TerminalCodes are the statuses that dead-letter a batch at once:
	// codes ("404") or classes ("4xx", "5xx"). Unset: every 4xx but 408
	// and 429. Other error statuses are retried.
	TerminalCodes []string `bridge:"http_terminal_codes,optional"`
	// Rate is the requests per second to start at, shared by every
	// worker process of the destination; 0 sends without a limit.
	Rate float64 `bridge:"http_rate,optional"`
	// MaxRate is the most the rate recovers to (default: Rate).
	MaxRate float64 `bridge:"http_max_rate,optional"`
	// MinRate is the least a 429 or 503 halves the rate to (at most
	// Rate).
	MinRate float64 `bridge:"http_min_rate" default:"1"`
	// RateIncrease is how many requests per second the rate gains per
	// second without a 429 or 503.
	RateIncrease float64 `bridge:"http_rate_increase" default:"1"`

	// Client sends the requests (default: a client of its own); its
	// Timeout is left alone, Config.Timeout applies per request.
	Client *http.Client
	// Logger is the logger Destination hands New (default: none).
	Logger *zap.Logger
}

// Body formats.
const (
	BodyJSON  = "json"
	BodyJSONL = "jsonl"
)

// settings is a validated Config.
type settings struct {
	url       string // raw, with {table}
	logURL    string // redacted, for errors and logs
	method    string
	body      string
	headers   http.Header
	secrets   []string // values kept out of errors: token, password, header values
	timeout   time.Duration
	terminal  func(code int) bool
	rate      rateConfig
	rateLimit bool
}

var errConfig = errors.New("invalid http sink config")

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errConfig, fmt.Sprintf(format, args...))
}

func (c Config) settings() (*settings, error) {
	s := &settings{method: strings.ToUpper(strings.TrimSpace(c.Method)), body: strings.ToLower(strings.TrimSpace(c.Body)),
		timeout: c.Timeout, headers: http.Header{}}
	if s.method == "" {
		s.method = http.MethodPost
	}
	if s.body == "" {
		s.body = BodyJSON
	}
	if c.URL == "" {
		return nil, configErr("http_url is empty")
	}
	// Parse with a stand-in for the placeholder: braces are not valid in
	// a host.
	u, err := url.Parse(strings.ReplaceAll(c.URL, "{table}", "table"))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, configErr("http_url %q: want an http:// or https:// URL", redactURL(c.URL))
	}
	s.url, s.logURL = c.URL, redactURL(c.URL)
	if p, ok := u.User.Password(); ok && p != "" {
		s.secrets = append(s.secrets, p)
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= 8 { // a key, perhaps; shorter values would mangle the text
				s.secrets = append(s.secrets, v)
			}
		}
	}
	switch s.body {
	case BodyJSON, BodyJSONL:
	default:
		return nil, configErr("http_body %q: want json or jsonl", c.Body)
	}
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	for i, h := range c.Headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
			// The entry may hold a key: say which it is, not what.
			return nil, configErr("http_headers: entry %d is not \"Name: value\"", i+1)
		}
		value = strings.TrimSpace(value)
		s.headers.Add(textproto.CanonicalMIMEHeaderKey(name), value)
		if len(value) >= 4 {
			s.secrets = append(s.secrets, value)
		}
	}
	if c.BearerToken != "" && (c.BasicUser != "" || c.BasicPassword != "") {
		return nil, configErr("set http_bearer_token or http_basic_user/http_basic_password, not both")
	}
	if c.BasicPassword != "" && c.BasicUser == "" {
		return nil, configErr("http_basic_password is set without http_basic_user")
	}
	for _, sec := range []string{c.BearerToken, c.BasicPassword} {
		if sec != "" {
			s.secrets = append(s.secrets, sec)
		}
	}
	if s.terminal, err = terminalCodes(c.TerminalCodes); err != nil {
		return nil, err
	}
	if s.rate, err = c.rateConfig(); err != nil {
		return nil, err
	}
	s.rateLimit = c.Rate > 0
	return s, nil
}

// terminalCodes parses http_terminal_codes.
func terminalCodes(list []string) (func(int) bool, error) {
	if len(list) == 0 {
		return func(code int) bool { return code >= 400 && code < 500 && code != 408 && code != 429 }, nil
	}
	codes := map[int]bool{}
	classes := map[int]bool{}
	for _, e := range list {
		e = strings.ToLower(strings.TrimSpace(e))
		if len(e) == 3 && strings.HasSuffix(e, "xx") && (e[0] == '4' || e[0] == '5') {
			classes[int(e[0]-'0')] = true
			continue
		}
		n, err := strconv.Atoi(e)
		if err != nil || n < 400 || n > 599 {
			return nil, configErr("http_terminal_codes: %q is not a status 400-599 or 4xx/5xx", e)
		}
		codes[n] = true
	}
	return func(code int) bool { return codes[code] || classes[code/100] }, nil
}

func (c Config) rateConfig() (rateConfig, error) {
	rc := rateConfig{start: c.Rate, max: c.MaxRate, min: c.MinRate, increase: c.RateIncrease}
	switch {
	case c.Rate < 0:
		return rc, configErr("http_rate %v: want 0 (no limit) or more", c.Rate)
	case c.Rate == 0 && c.MaxRate != 0:
		return rc, configErr("http_max_rate %v needs http_rate, the rate to start at", c.MaxRate)
	case c.Rate == 0:
		return rc, nil
	}
	if rc.max == 0 {
		rc.max = rc.start
	}
	// The default floor (1/s) gives way to a lower start.
	if rc.min <= 0 || rc.min > rc.start {
		rc.min = min(max(rc.min, 1), rc.start)
	}
	if rc.increase < 0 {
		return rc, configErr("http_rate_increase %v: want 0 or more", c.RateIncrease)
	}
	if rc.max < rc.start {
		return rc, configErr("http_max_rate %v is under http_rate %v", rc.max, rc.start)
	}
	return rc, nil
}

// redactURL is raw without its password and query string (either may hold
// a key), for errors and logs.
func redactURL(raw string) string {
	u, err := url.Parse(strings.ReplaceAll(raw, "{table}", "%7Btable%7D"))
	if err != nil {
		return "(unparsable URL)"
	}
	u.RawQuery, u.Fragment = "", ""
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return strings.ReplaceAll(u.String(), "%7Btable%7D", "{table}")
}
