package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// One process owns a data directory's embedded server; the others join it.
//
// The first process to open the directory takes an exclusive lock on
// Dir/owner.lock, starts the server on Dir/jetstream, listening on a free
// loopback port with a random token, and records {pid, url, token} in
// Dir/owner.json (mode 0600, removed when it shuts down). A process that
// finds the lock held reads the record and connects to the owner as a plain
// NATS client. There are never two servers on one store.
//
// The client of a process that joined dials through Embedded on every
// reconnect: when the owner goes away (it finished, or crashed), the first
// joined process to take the lock starts the server itself, and its
// connection comes back to it; the others join the new owner.

const (
	// StoreDirName is the JetStream store of the embedded server, under the
	// data directory.
	StoreDirName = "jetstream"
	// RecordFileName is the owner's record under the data directory:
	// JSON {pid, url, token}, mode 0600, there while the owner runs.
	RecordFileName = "owner.json"
	// LockFileName is the owner lock under the data directory.
	LockFileName = "owner.lock"
)

var (
	// ErrNotFound is wrapped by the errors of Lookup and of OpenEmbedded
	// without Create when the pipeline or its store does not exist.
	ErrNotFound = errors.New("pipeline not found")
	// ErrStoreBusy is wrapped by OpenEmbedded's error when another process
	// holds the data directory but does not answer.
	ErrStoreBusy = errors.New("embedded NATS store busy")

	// errOwnerAway: the lock is held but its owner cannot be reached (yet).
	errOwnerAway = errors.New("owner of the embedded server not reachable")
	errShutdown  = errors.New("embedded server shut down")
)

// EmbeddedConfig says where a pipeline's embedded server stores.
type EmbeddedConfig struct {
	// Dir is the pipeline's data directory: the store is Dir/jetstream, the
	// lock and the owner's record are beside it.
	Dir string
	// Create makes Dir when it is missing. Without it, a Dir that holds no
	// store is an error wrapping ErrNotFound, and nothing is created.
	Create bool
	// JoinTimeout bounds the wait for an owner that holds the lock but does
	// not answer (it is starting or stopping); default 5s.
	JoinTimeout time.Duration
	// Logger says who runs the server (never the token); default none.
	Logger *zap.Logger
}

// Embedded is a pipeline's embedded nats-server with JetStream: run by this
// process, or by another process on the same data directory that this one
// joined.
type Embedded struct {
	dir         string
	log         *zap.Logger
	joinTimeout time.Duration
	dialed      atomic.Bool // by the NATS client

	mu     sync.Mutex
	srv    *server.Server // the server this process runs; nil while joined
	lock   *lockFile      // held while srv runs
	owner  record         // who runs the server: this process or another
	closed bool
}

// record is what the owner writes for the processes that join it.
type record struct {
	PID   int    `json:"pid"`
	URL   string `json:"url"`
	Token string `json:"token"`
}

// HasStore reports whether dir holds an embedded server's store.
func HasStore(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, StoreDirName))
	return err == nil && fi.IsDir()
}

// shutdownGrace is how long an owner that shuts down waits for the
// processes that joined it to disconnect.
const shutdownGrace = time.Second

// OpenEmbedded starts the embedded server of cfg.Dir, or joins it when
// another process runs it. It waits up to cfg.JoinTimeout for an owner that
// holds the lock without answering, then fails with an error wrapping
// ErrStoreBusy that names that process.
func OpenEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.JoinTimeout <= 0 {
		cfg.JoinTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Create {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	} else if !HasStore(cfg.Dir) {
		return nil, fmt.Errorf("%w: no embedded store in %s", ErrNotFound, cfg.Dir)
	}
	e := &Embedded{dir: cfg.Dir, log: cfg.Logger, joinTimeout: cfg.JoinTimeout}
	c, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.Close()
	return e, nil
}

// connect connects to the store's server (see conn), trying again for up to
// the join timeout while the lock is held by an owner that does not answer
// (starting, or stopping: then this process takes over once it is gone).
func (e *Embedded) connect(ctx context.Context) (net.Conn, error) {
	deadline := time.Now().Add(e.joinTimeout)
	for {
		c, err := e.conn()
		if err == nil || !errors.Is(err, errOwnerAway) {
			return c, err
		}
		if time.Now().After(deadline) {
			return nil, e.busy(err)
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("embedded nats in %s: %w", e.dir, ctx.Err())
		case <-t.C:
		}
	}
}

// busy is the error for a lock held by a process that does not answer.
func (e *Embedded) busy(cause error) error {
	who := "another process"
	if pid := lockHolder(filepath.Join(e.dir, LockFileName)); pid > 0 {
		who = "process " + strconv.Itoa(pid)
	}
	return fmt.Errorf("%w: %s holds %s but its NATS server does not answer (%v); it may be starting or stopping: "+
		"try again in a moment, or stop %s", ErrStoreBusy, who, e.dir, cause, who)
}

// Owner reports whether this process runs the server (at the moment: a
// process that joined takes over when the owner goes away).
func (e *Embedded) Owner() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.srv != nil
}

// OwnerPID is the id of the process that runs the server.
func (e *Embedded) OwnerPID() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.owner.PID
}

// Server returns the server when this process runs it, else nil.
func (e *Embedded) Server() *server.Server {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.srv
}

// ConnectOptions returns the URL and options to connect to the server: the
// owner connects in process; a process that joined connects to the owner's
// loopback port, dialing through e, so that it takes the server over if the
// owner goes away.
func (e *Embedded) ConnectOptions() (string, []nats.Option) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv != nil {
		return "", []nats.Option{nats.InProcessServer(e.srv), nats.Token(e.owner.Token)}
	}
	return e.owner.URL, []nats.Option{nats.SetCustomDialer(e), nats.TokenHandler(e.token)}
}

func (e *Embedded) token() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.owner.Token
}

// Dial connects to the server whatever the address (nats.CustomDialer): on
// every reconnect of a process that joined, to the owner of the moment, or
// to the server it starts itself when the owner went away. The first dial
// waits like OpenEmbedded for an owner on its way out (the NATS client does
// not retry a first connect); later ones try once, without holding up the
// client, which tries again every reconnect wait.
func (e *Embedded) Dial(network, address string) (net.Conn, error) {
	if e.dialed.CompareAndSwap(false, true) {
		return e.connect(context.Background())
	}
	return e.conn()
}

// conn connects to the store's server: this process's own if it can take
// the lock (then it starts the server), the owner's otherwise.
func (e *Embedded) conn() (net.Conn, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errShutdown
	}
	if e.srv == nil {
		prev := e.owner
		if err := e.own(); err != nil {
			return nil, err
		}
		if e.srv != nil {
			if prev.URL != "" {
				e.log.Info("took over the embedded NATS server: the process that ran it went away",
					zap.Int("previous_owner_pid", prev.PID), zap.String("url", e.owner.URL), zap.String("data_dir", e.dir))
			} else {
				e.log.Info("running the embedded NATS server; other processes on this data directory join it",
					zap.String("url", e.owner.URL), zap.String("data_dir", e.dir))
			}
		}
	}
	if e.srv != nil {
		return e.srv.InProcessConn()
	}
	rec, err := readRecord(e.dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errOwnerAway, err)
	}
	u, err := url.Parse(rec.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: record %s: %w", errOwnerAway, RecordFileName, err)
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errOwnerAway, err)
	}
	if rec.URL != e.owner.URL {
		e.log.Info("joined the embedded NATS server of another process on this data directory",
			zap.Int("owner_pid", rec.PID), zap.String("url", rec.URL), zap.String("data_dir", e.dir))
	}
	e.owner = rec
	return c, nil
}

// own takes the lock if it is free and starts the server; it does nothing
// when another process holds the lock. Called with e.mu held.
func (e *Embedded) own() error {
	lock, err := tryLock(filepath.Join(e.dir, LockFileName))
	if err != nil || lock == nil {
		return err
	}
	token, err := newToken()
	if err != nil {
		return errors.Join(err, lock.unlock())
	}
	srv, err := startServer(filepath.Join(e.dir, StoreDirName), token)
	if err != nil {
		return errors.Join(err, lock.unlock())
	}
	rec := record{PID: os.Getpid(), URL: srv.ClientURL(), Token: token}
	if err := writeRecord(e.dir, rec); err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return errors.Join(err, lock.unlock())
	}
	e.srv, e.lock, e.owner = srv, lock, rec
	return nil
}

// Shutdown stops the server if this process runs it: it removes the
// record, waits up to a second for the processes that joined to disconnect
// (those still there lose their connection, and one of them takes over),
// stops the server and releases the lock. A process that joined just stops
// joining.
func (e *Embedded) Shutdown() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	if e.srv == nil {
		return
	}
	// No one new joins a server on its way out.
	_ = os.Remove(filepath.Join(e.dir, RecordFileName))
	// Give the processes that joined a moment to finish what they asked (a
	// status, a dead-letter listing): a request in flight when the server
	// stops is lost, and its caller waits for its timeout. A joined run
	// stays longer; it takes the server over.
	for deadline := time.Now().Add(shutdownGrace); e.srv.NumClients() > 0 && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	_ = e.lock.unlock()
	e.srv, e.lock = nil, nil
}

func newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("embedded nats token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// writeRecord replaces the owner's record: readable by the owner's user
// only, since it holds the token. Only the lock holder writes it.
func writeRecord(dir string, rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("owner record: %w", err)
	}
	path := filepath.Join(dir, RecordFileName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("owner record: %w", err)
	}
	err = f.Chmod(0o600) // in case an old file had other bits
	if err == nil {
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("owner record: %w", err)
	}
	return nil
}

func readRecord(dir string) (record, error) {
	var rec record
	b, err := os.ReadFile(filepath.Join(dir, RecordFileName))
	if err != nil {
		return rec, fmt.Errorf("owner record: %w", err)
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.URL == "" {
		return rec, fmt.Errorf("owner record %s: not readable", RecordFileName)
	}
	return rec, nil
}

// lockHolder returns the process id written in the lock file, or 0.
func lockHolder(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
