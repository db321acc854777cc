package cli

import (
	"strings"
	"testing"

	"github.com/fanoutbridge/bridge/internal/queuetest"
)

// --replicas is checked before anything is opened: 1 to 5, over 1 only with
// --nats-url; a server that is not in a cluster refuses over 1, saying so.
func TestReplicasFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(t *testing.T) []string
		code int
		want string
	}{
		{"out of range", func(*testing.T) []string { return []string{"--replicas", "7"} }, 2, "--replicas 7: want 1 to 5"},
		{"embedded", func(*testing.T) []string { return []string{"--replicas", "3"} }, 2, "--replicas 3 needs --nats-url"},
		{"single server", func(t *testing.T) []string { return []string{"--replicas", "3", "--nats-url", queuetest.External(t)} }, 1, "not part of a cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--input", "-", "--pipeline", queuetest.UniqueName("r"), "--data-dir", t.TempDir()}, tc.args(t)...)
			code, _, errOut := runCLI(t, "", args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("bridge %s: exit %d, stderr %q; want exit %d and %q", strings.Join(args, " "), code, errOut, tc.code, tc.want)
			}
		})
	}
}
