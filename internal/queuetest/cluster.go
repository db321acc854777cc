package queuetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a JetStream cluster of in-process nats-servers.
type Cluster struct {
	Name    string
	Servers []*server.Server // named n1, n2, ...
}

// RunCluster starts a JetStream cluster of n in-process nats-servers named
// n1..nn, each storing in its own t.TempDir(), listening for clients and
// routes on free loopback ports (never 4222), and waits until JetStream is
// ready on it: a meta leader knows every server and a client's account info
// call succeeds. It fails the test after 30 s. The servers are shut down
// when the test ends; a test may Shutdown one before.
//
// Each server routes to every server started before it, so every pair has
// a route that one side solicits (and re-establishes) without knowing a port
// in advance.
func RunCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{Name: UniqueName("c")}
	var routes []string
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			Cluster:    server.ClusterOpts{Name: c.Name, Host: "127.0.0.1", Port: -1},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("start nats-server n%d: %v", i+1, err)
		}
		s.Start()
		t.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("nats-server n%d not ready", i+1)
		}
		routes = append(routes, fmt.Sprintf("nats://%s", s.ClusterAddr()))
		c.Servers = append(c.Servers, s)
	}
	c.waitReady(t, 30*time.Second)
	return c
}

// URLs returns the client URLs of the servers, comma-joined, as
// WithNATSURL and --nats-url take them.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.ClientURL()
	}
	return strings.Join(urls, ",")
}

// waitReady waits until a meta leader knows every server of the cluster and
// every server is current with it, then until a client gets its account
// info.
func (c *Cluster) waitReady(t testing.TB, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !c.metaReady() {
		if time.Now().After(deadline) {
			t.Fatalf("JetStream cluster %s: no meta leader with all %d servers after %v", c.Name, len(c.Servers), limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		t.Fatalf("connect to cluster %s: %v", c.Name, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream cluster %s: account info after %v: %v", c.Name, limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) metaReady() bool {
	leader := false
	for _, s := range c.Servers {
		if !s.JetStreamIsCurrent() {
			return false
		}
		if s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == len(c.Servers) {
			leader = true
		}
	}
	return leader
}

// StreamLeader returns the server that leads stream (in the global
// account), or nil when none does now.
func (c *Cluster) StreamLeader(stream string) *server.Server {
	for _, s := range c.Servers {
		if s.Running() && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return s
		}
	}
	return nil
}
