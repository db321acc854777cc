// Package queuetest starts real NATS servers for tests, like httptest: an
// in-process nats-server with JetStream in t.TempDir(), or the machine's own
// server at 127.0.0.1:4222 (a test fails, not skips, when CI is set and that
// server is missing).
package queuetest

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ExternalURL is the machine's NATS server with JetStream.
var ExternalURL = envOr("BRIDGE_TEST_NATS_URL", "nats://127.0.0.1:4222")

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// RunJetStream starts a nats-server with JetStream storing in t.TempDir(),
// listening on a free loopback port, and shuts it down when the test ends.
func RunJetStream(t testing.TB) *server.Server {
	t.Helper()
	return RunJetStreamAt(t, t.TempDir(), -1)
}

// RunJetStreamAt starts a nats-server with JetStream storing in dir on port
// (-1: a free one). The caller may Shutdown it early; it is shut down at the
// end of the test in any case.
func RunJetStreamAt(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  dir,
		NoSigs:    true,
		NoLog:     true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// External checks that the machine's NATS server is reachable and returns
// its URL. Without it the test is skipped, or fails when CI is set.
func External(t testing.TB) string {
	t.Helper()
	host := strings.TrimPrefix(ExternalURL, "nats://")
	c, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("NATS at %s is required under CI: %v", ExternalURL, err)
		}
		t.Skipf("no NATS at %s: %v", ExternalURL, err)
	}
	c.Close()
	nc, err := nats.Connect(ExternalURL)
	if err != nil {
		t.Fatalf("connect %s: %v", ExternalURL, err)
	}
	nc.Close()
	return ExternalURL
}

var counter atomic.Int64

// UniqueName returns a name unique to this test run, usable as a pipeline
// name on a shared server: letters, digits and '_' only.
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano()%1e9, counter.Add(1))
}
