package cli

import (
	"strings"
	"testing"
)

// TestNATSURLPasswordNeverPrinted runs commands against an unreachable NATS
// (127.0.0.1:1) with a password or token in every URL form: the command
// fails, and neither stdout nor stderr shows any of it.
func TestNATSURLPasswordNeverPrinted(t *testing.T) {
	const pw = "s3cretPW"
	urls := []string{
		"alice:" + pw + "@127.0.0.1:1",
		"nats://alice:" + pw + "@127.0.0.1:1",
		"tls://alice:" + pw + "@127.0.0.1:1",
		"ws://alice:" + pw + "@127.0.0.1:1",
		"nats://" + pw + "@127.0.0.1:1",
		"nats://alice:s3cret%50W@127.0.0.1:1",
		"nats://a:" + pw + "@127.0.0.1:1,nats://b:" + pw + "@127.0.0.1:2",
		"nats://alice:s3c,retPW@127.0.0.1:1",
		"nats://alice:s3cret PW@[::1:1",
		"nats://alice:" + pw,
	}
	for _, u := range urls {
		for _, cmd := range [][]string{
			{"run", "--input", "-", "--table", "t", "--destination", "null"},
			{"status"},
		} {
			args := append(cmd, "--nats-url", u, "--data-dir", t.TempDir(), "--log-level", "debug")
			code, out, errOut := runCLI(t, "{\"a\":1}\n", args...)
			if code == 0 {
				t.Errorf("%s with --nats-url %q: exit 0", cmd[0], u)
			}
			for _, s := range []string{"s3cret", "retPW", "s3c"} {
				if strings.Contains(out+errOut, s) {
					t.Errorf("%s with --nats-url %q shows %q:\nstdout: %s\nstderr: %s", cmd[0], u, s, out, errOut)
				}
			}
			if !strings.Contains(errOut, "NATS") && !strings.Contains(errOut, "--nats-url") {
				t.Errorf("%s with --nats-url %q: stderr does not say what failed: %s", cmd[0], u, errOut)
			}
		}
	}
}
