package bridge

import (
	"errors"
	"net/url"
	"strings"
)

// redacted replaces credentials in what redactURL returns.
const redacted = "REDACTED"

// redactURL hides passwords and tokens in a NATS URL, or a comma-separated
// list of them, before it reaches a log line or an error. It does not parse:
// in every server of the list, whatever lies between the scheme's "//" (or
// the start, for user:pass@host:port) and the last "@" is user info, and is
// replaced whole, user and password or token alike, percent-escaped or not.
// A server without "@" that does not parse as a plain host:port URL is
// replaced whole: a password may be in it (nats://user:pa,ss@host splits
// into "nats://user:pa" and "ss@host").
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, part := range parts {
		parts[i] = redactServer(part)
	}
	return strings.Join(parts, ",")
}

// RedactURL returns a NATS URL, or a comma-separated list of them, with
// every password, token and user name replaced by REDACTED: safe to print.
// A URL without credentials comes back unchanged.
func RedactURL(s string) string { return redactURL(s) }

// redactServer redacts one server of a NATS URL list.
func redactServer(s string) string {
	if at := strings.LastIndex(s, "@"); at >= 0 {
		start := len(s) - len(strings.TrimLeft(s, " \t"))
		if i := strings.Index(s[:at], "//"); i >= 0 {
			start = i + 2
		}
		return s[:start] + redacted + s[at:]
	}
	if strings.TrimSpace(s) == "" || plainServer(s) {
		return s
	}
	return redacted
}

// plainServer reports whether s, a server without "@", is a URL of the form
// [scheme://]host[:port][/], as nats.go reads it: nothing in it can be a
// credential.
func plainServer(s string) bool {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return false
	}
	for _, r := range u.Port() {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// redactConnectError returns err, from connecting to the NATS URL rawURL,
// with rawURL's credentials hidden. nats.go's errors for a URL that does
// not parse quote it (net/url's *url.Error, and its reason may quote a part
// of it): such an error becomes a plain "does not parse" without a cause.
// Other errors keep their chain (errors.Is(err, nats.ErrNoServers) holds);
// any server of rawURL found in their text is replaced by its redacted form.
func redactConnectError(rawURL string, err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return errors.New("the NATS URL does not parse (not shown: it may hold a password)")
	}
	msg := err.Error()
	clean := msg
	for _, part := range strings.Split(rawURL, ",") {
		if part = strings.TrimSpace(part); part != "" {
			clean = strings.ReplaceAll(clean, part, redactServer(part))
		}
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// redactedError is an error whose text had credentials removed; it still
// matches what it wraps with errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
