package bridge

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/fanoutbridge/bridge/producer"
)

// Source is a pull-style input (see producer.Source): pass one to Run or
// Produce as their data. The producer commits its position only once what it
// read is stored.
type Source = producer.Source

// SourceFactory makes a source from its URL (e.g. kafka://broker:9092/topic?group=g).
type SourceFactory func(u *url.URL) (Source, error)

var sources = struct {
	sync.RWMutex
	m map[string]SourceFactory
}{m: map[string]SourceFactory{}}

var schemeName = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)

// RegisterSource makes a source available by URL scheme, so the command line
// (`bridge run --input kafka://...`) and config files can name it. Built-in
// sources are registered the same way.
func RegisterSource(scheme string, f SourceFactory) error {
	if !schemeName.MatchString(scheme) {
		return invalid("source scheme %q: use lower-case letters, digits, '+', '-' and '.'", scheme)
	}
	if f == nil {
		return invalid("source %q: nil factory", scheme)
	}
	sources.Lock()
	defer sources.Unlock()
	if _, ok := sources.m[scheme]; ok {
		return invalid("source %q is already registered", scheme)
	}
	sources.m[scheme] = f
	return nil
}

// IsSourceURL reports whether input names a source by URL (scheme://...)
// rather than a file.
func IsSourceURL(input string) bool {
	scheme, _, ok := strings.Cut(input, "://")
	return ok && schemeName.MatchString(scheme)
}

// LookupSource makes the source an input URL names. Its errors show the URL
// with its password and secret-looking query values hidden (see
// redactSourceURL).
func LookupSource(input string) (Source, error) {
	u, err := url.Parse(input)
	if err != nil {
		// net/url quotes the URL, and its reason may quote a part of the
		// user info (`invalid port ":pa" after host` for a password with a
		// '/'): show the reason only when there is no user info.
		var ue *url.Error
		if !strings.Contains(input, "@") && errors.As(err, &ue) {
			return nil, invalid("source URL does not parse: %v", ue.Err)
		}
		return nil, invalid("source URL does not parse (not shown: it may hold a password)")
	}
	sources.RLock()
	f, ok := sources.m[u.Scheme]
	var known []string
	for k := range sources.m {
		known = append(known, k+"://")
	}
	sources.RUnlock()
	if !ok {
		slices.Sort(known)
		return nil, invalid("no source for %q: known are %s (or a file path, or - for stdin)", u.Scheme+"://", strings.Join(known, ", "))
	}
	s, err := f(u)
	if err != nil {
		return nil, fmt.Errorf("%w: source %s: %w", ErrInvalidOption, redactSourceURL(u), err)
	}
	return s, nil
}

// secretQueryKey matches the query keys whose values redactSourceURL hides.
var secretQueryKey = regexp.MustCompile(`(?i)pass|pwd|token|secret|key|credential|signature|auth`)

// redactSourceURL returns a source URL fit for an error or a log line: the
// password of its user info and the values of its secret-looking query
// keys (password, token, secret, key, ...) are REDACTED, its fragment is
// dropped; the scheme, user, hosts, path and other options stay, so the
// user sees which broker and topic were meant.
func redactSourceURL(u *url.URL) string {
	r := *u
	if r.User != nil {
		if _, ok := r.User.Password(); ok {
			r.User = url.UserPassword(r.User.Username(), redacted)
		}
	}
	if r.RawQuery != "" {
		parts := strings.Split(r.RawQuery, "&")
		for i, kv := range parts {
			k, _, hasValue := strings.Cut(kv, "=")
			name, err := url.QueryUnescape(k)
			if err != nil || hasValue && secretQueryKey.MatchString(name) {
				parts[i] = k + "=" + redacted
			}
		}
		r.RawQuery = strings.Join(parts, "&")
	}
	r.Fragment, r.RawFragment = "", ""
	return r.String()
}
