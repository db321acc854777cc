package httpsink

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// StatusError is an answer other than 2xx. Write returns it marked
// sink.Terminal for a terminal status and sink.RetryAfter for a 429 or 503
// with a Retry-After; match it with errors.As.
type StatusError struct {
	Method string
	URL    string // the URL called ({table} filled in), without password and query string
	Code   int
	Status string // "400 Bad Request"
	// Body is the start of the response body (up to MaxErrorBody bytes).
	Body       string
	RetryAfter time.Duration // the Retry-After asked for, if any
}

// MaxErrorBody is how much of a response body an error keeps.
const MaxErrorBody = 4 << 10

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", e.Method, e.URL, e.Status)
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (Retry-After %v)", e.RetryAfter)
	}
	if body := strings.TrimSpace(e.Body); body != "" {
		fmt.Fprintf(&b, ": %s", body)
	}
	return b.String()
}

// excerpt reads the start of a response body as text.
func excerpt(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, MaxErrorBody))
	for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.Valid(b); i++ { // cut inside a character
		r, size := utf8.DecodeLastRune(b)
		if r != utf8.RuneError || size != 1 {
			break
		}
		b = b[:len(b)-1]
	}
	return strings.ToValidUTF8(string(b), "?")
}

// drain reads a little more of a body so that its connection can be
// reused; a long body is left (its connection closes).
func drain(body io.Reader) { _, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10)) }

// retryAfter parses a Retry-After header: seconds, or an HTTP date (a date
// passed is 0).
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func basicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}
