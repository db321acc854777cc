package bridge

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// natsURLForms are NATS URLs that carry the password (or token) "s3cretPW",
// in every form a user may write one, with what redactURL must still show.
var natsURLForms = []struct {
	name, url, keep string
}{
	{"scheme-less user:pass", "alice:s3cretPW@127.0.0.1:1", "@127.0.0.1:1"},
	{"nats", "nats://alice:s3cretPW@127.0.0.1:4222", "nats://REDACTED@127.0.0.1:4222"},
	{"tls", "tls://alice:s3cretPW@nats.example.org:4443", "tls://REDACTED@nats.example.org:4443"},
	{"ws", "ws://alice:s3cretPW@127.0.0.1:8080", "ws://REDACTED@127.0.0.1:8080"},
	{"wss", "wss://alice:s3cretPW@127.0.0.1:8443/", "wss://REDACTED@127.0.0.1:8443/"},
	{"token only", "nats://s3cretPW@127.0.0.1:4222", "nats://REDACTED@127.0.0.1:4222"},
	{"scheme-less token", "s3cretPW@127.0.0.1:4222", "REDACTED@127.0.0.1:4222"},
	{"percent-escaped", "nats://alice:s3cret%50W%40x@127.0.0.1:4222", "nats://REDACTED@127.0.0.1:4222"},
	{"@ in the password", "nats://alice:s3c@retPW@127.0.0.1:4222", "nats://REDACTED@127.0.0.1:4222"},
	{"// in the password", "nats://alice:s3c//retPW@127.0.0.1:4222", "nats://REDACTED@127.0.0.1:4222"},
	{"server list", "nats://a:s3cretPW@h1:4222, nats://b:s3cretPW@h2:4222,nats://h3:4222",
		"nats://REDACTED@h1:4222, nats://REDACTED@h2:4222,nats://h3:4222"},
	{"scheme-less list", "a:s3cretPW@h1:4222,b:s3cretPW@h2:4222", "REDACTED@h1:4222,REDACTED@h2:4222"},
	{"comma in the password", "nats://alice:s3c,retPW@127.0.0.1:4222", "@127.0.0.1:4222"},
	{"does not parse", "nats://alice:s3cret PW@[::1:4222", "nats://REDACTED@[::1:4222"},
	{"no @, does not parse", "nats://alice:s3cretPW", "REDACTED"},
	{"no @, scheme-less", "alice:s3cretPW", "REDACTED"},
	{"control character", "nats://alice:s3cret\x7fPW@127.0.0.1:4222", "nats://REDACTED@127.0.0.1:4222"},
}

// secretParts are what of the password must never show.
var secretParts = []string{"s3cret", "retPW", "s3c"}

func TestRedactURL(t *testing.T) {
	for _, tc := range natsURLForms {
		t.Run(tc.name, func(t *testing.T) {
			got := redactURL(tc.url)
			for _, s := range secretParts {
				if strings.Contains(got, s) {
					t.Fatalf("redactURL(%q) = %q shows %q", tc.url, got, s)
				}
			}
			if !strings.Contains(got, tc.keep) {
				t.Errorf("redactURL(%q) = %q, want it to show %q", tc.url, got, tc.keep)
			}
		})
	}
	for _, plain := range []string{"", "nats://127.0.0.1:4222", "127.0.0.1:4222", "tls://h1:4443,tls://h2:4443", "nats://[::1]:4222", "localhost"} {
		if got := redactURL(plain); got != plain {
			t.Errorf("redactURL(%q) = %q, want it unchanged", plain, got)
		}
	}
}

func TestRedactConnectError(t *testing.T) {
	for _, tc := range natsURLForms {
		t.Run(tc.name, func(t *testing.T) {
			// What nats.Connect returns for this URL, without a server to
			// reach: a parse error or ErrNoServers.
			nc, err := nats.Connect(tc.url, nats.Timeout(time.Second), nats.MaxReconnects(0))
			if err == nil {
				nc.Close()
				t.Skip("connected")
			}
			red := redactConnectError(tc.url, err)
			for _, verb := range []string{"%v", "%+v", "%s"} {
				msg := fmt.Sprintf(verb, red)
				for _, s := range secretParts {
					if strings.Contains(msg, s) {
						t.Fatalf("%s of the error shows %q: %s", verb, s, msg)
					}
				}
			}
			if errors.Is(err, nats.ErrNoServers) && !errors.Is(red, nats.ErrNoServers) {
				t.Errorf("redacted error %v lost ErrNoServers", red)
			}
		})
	}
	// A quoted URL inside another error's text is redacted too.
	raw := "nats://alice:s3cretPW@127.0.0.1:1"
	err := redactConnectError(raw, fmt.Errorf("dial %s: %w", raw, nats.ErrNoServers))
	if strings.Contains(err.Error(), "s3cret") || !errors.Is(err, nats.ErrNoServers) {
		t.Errorf("got %v", err)
	}
	if err := redactConnectError(raw, &url.Error{Op: "parse", URL: raw, Err: errors.New("bad")}); strings.Contains(err.Error(), "s3cret") {
		t.Errorf("got %v", err)
	}
}
