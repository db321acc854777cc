package cli

import (
	"fmt"
	"strings"

	"github.com/fanoutbridge/bridge"
)

// command returns a bridge command line to print as a hint, with args and
// the flags that chose the pipeline (when not the defaults), each quoted for
// a POSIX shell, so that it works when pasted. A password or token in
// --nats-url is never shown: the URL is redacted, and passwordNote says so.
func (c common) command(args ...string) string {
	all := append([]string{"bridge"}, args...)
	if c.pipeline != "" && c.pipeline != "bridge" {
		all = append(all, "--pipeline", c.pipeline)
	}
	for _, f := range []struct{ flag, val string }{
		{"--data-dir", c.dataDir},
		{"--nats-url", bridge.RedactURL(c.natsURL)},
		{"--nats-creds", c.creds},
		{"--nats-nkey", c.nkey},
		{"--nats-tls-ca", c.tlsCA},
	} {
		if f.val != "" {
			all = append(all, f.flag, f.val)
		}
	}
	for i, a := range all {
		all[i] = shellQuote(a)
	}
	return strings.Join(all, " ")
}

// passwordNote is a line to print after hints when --nats-url holds
// credentials that the hints do not show; "" otherwise.
func (c common) passwordNote() string {
	if bridge.RedactURL(c.natsURL) == c.natsURL {
		return ""
	}
	return "(the credentials in --nats-url are not shown: put yours in place of REDACTED)"
}

// shellQuote quotes s for a POSIX shell when it holds anything but plain
// characters.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	plain := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.,/:@%+=", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// pluralN writes n with the noun in the right number: "1 batch", "2 batches".
func pluralN[N int | int64 | uint64](n N, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
