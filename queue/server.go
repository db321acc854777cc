package queue

import (
	"fmt"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsDefaultPort is the port the machine's own NATS server takes; the
// embedded one never listens on it.
const natsDefaultPort = 4222

// startServer starts a nats-server with JetStream storing under storeDir.
// It listens on a free loopback port (never 4222), so other processes on the
// same data directory can join it, and every client, in-process ones too,
// must present token.
func startServer(storeDir, token string) (*server.Server, error) {
	for range 3 {
		opts := &server.Options{
			ServerName:    "bridge-embedded",
			Host:          "127.0.0.1",
			Port:          server.RANDOM_PORT,
			Authorization: token,
			JetStream:     true,
			StoreDir:      storeDir,
			NoSigs:        true,
			NoLog:         true,
			// Large batches go through the Object Store; keep the protocol default.
			MaxPayload: 1 << 20,
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: %w", err)
		}
		srv.Start()
		if !srv.ReadyForConnections(30 * time.Second) {
			srv.Shutdown()
			srv.WaitForShutdown()
			return nil, fmt.Errorf("embedded nats: not ready after 30s (store %s)", storeDir)
		}
		if a, ok := srv.Addr().(*net.TCPAddr); ok && a.Port != natsDefaultPort {
			return srv, nil
		}
		// The system handed out 4222 as a free port: leave it to the
		// machine's own server and ask again.
		srv.Shutdown()
		srv.WaitForShutdown()
	}
	return nil, fmt.Errorf("embedded nats: no free loopback port")
}
