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

// A source URL in an error keeps what says which source was meant (scheme,
// brokers, topic, options) and hides only the password and secret-looking
// query values.
func TestRedactSourceURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"kafka://127.0.0.1:1/t", "kafka://127.0.0.1:1/t"},
		{"kafka://b1:9092,b2:9092/a,b?group=g&start=first", "kafka://b1:9092,b2:9092/a,b?group=g&start=first"},
		{"kafka://alice:s3cretPW@127.0.0.1:1/t?group=g", "kafka://alice:REDACTED@127.0.0.1:1/t?group=g"},
		{"kafka://alice@127.0.0.1:1/t", "kafka://alice@127.0.0.1:1/t"},
		{"kafka://h:1/t?group=g&password=s3cretPW&api_key=s3cretPW&sasl_token=s3cretPW&client_secret=s3cretPW", "kafka://h:1/t?group=g&password=REDACTED&api_key=REDACTED&sasl_token=REDACTED&client_secret=REDACTED"},
		{"kafka://h:1/t?Token=s3cretPW#s3cretPW", "kafka://h:1/t?Token=REDACTED"},
	} {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redactSourceURL(u); got != tc.want {
			t.Errorf("redactSourceURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// LookupSource's errors show the URL so redacted, and a URL that does not
// parse not at all when it has user info.
func TestLookupSourceErrorShowsURL(t *testing.T) {
	if err := RegisterSource("redacttest", func(u *url.URL) (Source, error) { return nil, errors.New("no broker answers") }); err != nil {
		t.Fatal(err)
	}
	_, err := LookupSource("redacttest://alice:s3cretPW@127.0.0.1:1/topic?group=g&token=s3cretPW")
	if want := "source redacttest://alice:REDACTED@127.0.0.1:1/topic?group=g&token=REDACTED: no broker answers"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("LookupSource: %v, want %q in it", err, want)
	}
	for _, in := range []string{"redacttest://alice:s3c/retPW@127.0.0.1:1/t", "redacttest://alice:s3cret PW@127.0.0.1:1/t"} {
		_, err := LookupSource(in)
		if err == nil || strings.Contains(err.Error(), "s3c") || !strings.Contains(err.Error(), "does not parse") {
			t.Errorf("LookupSource(%q): %v, want \"does not parse\" without the password", in, err)
		}
	}
	if _, err := LookupSource("redacttest://127.0.0.1:1/t%zz"); err == nil || !strings.Contains(err.Error(), `invalid URL escape "%zz"`) {
		t.Errorf("LookupSource with a bad escape: %v, want the reason", err)
	}
}
