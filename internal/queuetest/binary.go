package queuetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BinaryCluster is a JetStream cluster of nats-server processes: the
// machine's own server binary (nats-server 2.9 on the development machine),
// whose behaviour can differ from the in-process one of go.mod's version.
type BinaryCluster struct {
	URLs  string // client URLs, comma-joined
	procs []*exec.Cmd
}

// RunBinaryCluster starts a JetStream cluster of n processes of the
// nats-server found in PATH, each storing in its own t.TempDir(), on free
// loopback ports, routing to each other (nats-server 2.9 starts a JetStream
// cluster only with routes configured, so the route ports are picked before
// the servers start: another process could take one meanwhile), and waits
// until an R<n> stream can be made on it, for up to 30 s. Without a
// nats-server binary the test is skipped, or fails when CI is set. The
// processes are killed when the test ends.
func RunBinaryCluster(t testing.TB, n int) *BinaryCluster {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("nats-server binary is required under CI: %v", err)
		}
		t.Skipf("no nats-server binary: %v", err)
	}
	c := &BinaryCluster{}
	name := UniqueName("bc")
	var routes, urls []string
	ports := freePorts(t, n)
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	for i := range n {
		dir := t.TempDir()
		conf := fmt.Sprintf(`server_name: n%d
listen: "127.0.0.1:-1"
ports_file_dir: %q
jetstream { store_dir: %q }
cluster { name: %s, listen: "127.0.0.1:%d", routes: [%s] }
`, i+1, dir, filepath.Join(dir, "js"), name, ports[i], strings.Join(routes, ", "))
		path := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-c", path)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		c.procs = append(c.procs, cmd)
		urls = append(urls, readClientURL(t, dir, cmd.Process.Pid))
	}
	c.URLs = strings.Join(urls, ",")
	c.waitReady(t, n, 30*time.Second)
	return c
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out
}

// readClientURL reads the client URL the server with pid wrote to its ports
// file in dir.
func readClientURL(t testing.TB, dir string, pid int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		matches, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("*_%d.ports", pid)))
		if len(matches) == 1 {
			var p struct {
				Nats []string `json:"nats"`
			}
			b, err := os.ReadFile(matches[0])
			if err == nil && json.Unmarshal(b, &p) == nil && len(p.Nats) > 0 {
				return p.Nats[0]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server %d wrote no ports file in %s", pid, dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReady waits until an R<n> stream can be made (and is deleted again).
func (c *BinaryCluster) waitReady(t testing.TB, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	nc, err := nats.Connect(c.URLs, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatalf("connect %s: %v", c.URLs, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "QUEUETEST_PROBE", Subjects: []string{"queuetest.probe"}, Replicas: n})
		if err == nil {
			err = js.DeleteStream(ctx, "QUEUETEST_PROBE")
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server cluster: no R%d stream after %v: %v", n, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
