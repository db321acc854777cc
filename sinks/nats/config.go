package natssink

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fanoutbridge/bridge/queue"
)

// Config is the NATS sink's settings. Through Destination or the command
// line each field is resolved from code, DESTINATION__<NAME>__<KEY>,
// .bridge/secrets.toml and .bridge/config.toml [destination.<name>], then
// its default (see bridge.NewConfiguredSink). New takes a Config as it is
// and fills the zero fields with the same defaults (JetStream stays as
// given: false is core NATS).
type Config struct {
	// URL is the target NATS server, or a comma-separated list of a
	// cluster's servers. It may be another server than the pipeline's.
	// Keep credentials out of it: use the secret fields.
	URL string `bridge:"nats_url"`
	// User and Password, Token or Creds (the path of a .creds file)
	// authenticate; all optional.
	User     string `bridge:"nats_user,optional"`
	Password string `bridge:"nats_password,secret,optional"`
	Token    string `bridge:"nats_token,secret,optional"`
	Creds    string `bridge:"nats_creds,secret,optional"`
	// Subject is the subject template: {table} is replaced by the table's
	// name as a subject token (letters, digits, '_' and '-' as they are;
	// other names encoded as bridge encodes them on its own streams).
	Subject string `bridge:"nats_subject" default:"bridge.{table}"`
	// Mode is "rows" (one message per row, a JSON object) or "batch" (one
	// message per batch, JSON lines).
	Mode string `bridge:"nats_mode" default:"rows"`
	// JetStream publishes with JetStream and waits for every message's ack;
	// false publishes on core NATS (at most once per subscriber).
	JetStream bool `bridge:"nats_jetstream,optional"`
	// Stream, in JetStream mode, is the stream to use; if it does not exist
	// Connect creates it, capturing the subjects of Subject, with
	// DuplicateWindow. Empty: some stream must already capture the
	// subjects.
	Stream string `bridge:"nats_stream,optional"`
	// DuplicateWindow is the duplicate window of a stream the sink creates.
	// A batch retried within the window leaves no duplicate; it must cover
	// the time a failed batch can take to be written again.
	DuplicateWindow time.Duration `bridge:"nats_duplicate_window" default:"2m"`
	// Timeout bounds the wait for a batch's acks (JetStream) or flush (core).
	Timeout time.Duration `bridge:"nats_timeout" default:"30s"`
}

// The modes.
const (
	ModeRows  = "rows"
	ModeBatch = "batch"
)

// Defaults of the fields New fills when they are zero.
const (
	DefaultSubject         = "bridge.{table}"
	DefaultDuplicateWindow = 2 * time.Minute
	DefaultTimeout         = 30 * time.Second
)

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if c.Mode == "" {
		c.Mode = ModeRows
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case strings.TrimSpace(c.URL) == "":
		return errors.New("nats_url: set the target NATS server")
	case c.Mode != ModeRows && c.Mode != ModeBatch:
		return fmt.Errorf("nats_mode %q: want %q or %q", c.Mode, ModeRows, ModeBatch)
	case c.Timeout < 0:
		return fmt.Errorf("nats_timeout %v: want more than 0", c.Timeout)
	case c.DuplicateWindow < 0:
		return fmt.Errorf("nats_duplicate_window %v: want more than 0", c.DuplicateWindow)
	case c.Token != "" && (c.User != "" || c.Password != ""):
		return errors.New("nats_token and nats_user/nats_password: set one of them")
	case c.Password != "" && c.User == "":
		return errors.New("nats_password without nats_user")
	case c.Stream != "" && !validStreamName(c.Stream):
		return fmt.Errorf("nats_stream %q: use letters, digits, '_' and '-'", c.Stream)
	}
	if _, err := parseSubject(c.Subject); err != nil {
		return err
	}
	return nil
}

func validStreamName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return s != ""
}

// subjectTemplate is a parsed subject template.
type subjectTemplate struct {
	tokens []string // subject tokens; those holding {table} are expanded
}

const tablePlaceholder = "{table}"

// parseSubject checks a subject template: dot-separated tokens, none empty,
// no wildcards or white space, no placeholder other than {table}.
func parseSubject(s string) (subjectTemplate, error) {
	bad := func(why string) (subjectTemplate, error) {
		return subjectTemplate{}, fmt.Errorf("nats_subject %q: %s", s, why)
	}
	if s == "" {
		return bad("empty")
	}
	toks := strings.Split(s, ".")
	for _, tok := range toks {
		rest := strings.ReplaceAll(tok, tablePlaceholder, "")
		switch {
		case tok == "":
			return bad("empty token (two dots, or a dot at an end)")
		case strings.ContainsAny(rest, "{}"):
			return bad("the only placeholder is {table}")
		case strings.ContainsAny(rest, "*> \t\r\n"):
			return bad("no wildcards or white space in a subject to publish on")
		}
	}
	return subjectTemplate{tokens: toks}, nil
}

// subject returns the subject for table.
func (t subjectTemplate) subject(table string) string {
	tok := queue.Token(table)
	out := make([]string, len(t.tokens))
	for i, s := range t.tokens {
		out[i] = strings.ReplaceAll(s, tablePlaceholder, tok)
	}
	return strings.Join(out, ".")
}

// filter returns the subject filter that captures every subject of the
// template: each token holding {table} becomes "*".
func (t subjectTemplate) filter() string {
	out := make([]string, len(t.tokens))
	for i, s := range t.tokens {
		if strings.Contains(s, tablePlaceholder) {
			s = "*"
		}
		out[i] = s
	}
	return strings.Join(out, ".")
}

// captures reports whether a stream listening on patterns receives every
// subject that matches subject (itself a subject or a filter with wildcards).
func captures(patterns []string, subject string) bool {
	for _, p := range patterns {
		if covers(p, subject) {
			return true
		}
	}
	return false
}

// covers reports whether every subject matching sub matches pattern.
func covers(pattern, sub string) bool {
	pt, st := strings.Split(pattern, "."), strings.Split(sub, ".")
	for i, p := range pt {
		if p == ">" {
			return i < len(st)
		}
		if i >= len(st) {
			return false
		}
		switch {
		case p == "*":
			if st[i] == ">" {
				return false
			}
		case p != st[i]:
			return false
		}
	}
	return len(pt) == len(st)
}
