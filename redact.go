package bridge

import (
	"net/url"
	"strings"
)

// redactURL hides passwords and tokens in NATS URLs before they reach a log
// line or an error.
func redactURL(s string) string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil || u.User == nil {
			out = append(out, part)
			continue
		}
		u.User = url.User("REDACTED")
		out = append(out, u.String())
	}
	return strings.Join(out, ",")
}
