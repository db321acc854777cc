package queue

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded is an in-process nats-server with JetStream, reached through an
// in-process connection: it opens no port, so it never takes 4222.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts a nats-server with JetStream storing under dir.
func StartEmbedded(dir string) (*Embedded, error) {
	opts := &server.Options{
		ServerName: "bridge-embedded",
		DontListen: true,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      true,
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
		return nil, fmt.Errorf("embedded nats: not ready after 30s (store %s)", dir)
	}
	return &Embedded{srv: srv}, nil
}

// Server returns the underlying server, for nats.InProcessServer.
func (e *Embedded) Server() *server.Server { return e.srv }

// Shutdown stops the server and waits for it.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
