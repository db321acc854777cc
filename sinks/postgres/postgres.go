// Package postgres is bridge's PostgreSQL sink: each batch is loaded with
// COPY in one transaction that also records the batch id in a bookkeeping
// table, so a batch delivered twice (a retry after a lost ack, a
// redelivery after kill -9) is loaded once. Tables are created from the
// batch's schema and grow columns as it evolves.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sink"
)

// Config is the sink's configuration, resolved by bridge.NewConfiguredSink
// from code, the environment (DESTINATION__<NAME>__<KEY>) and
// .bridge/secrets.toml / config.toml.
type Config struct {
	// DSN is a libpq connection string or URL
	// (postgres://user:pass@host:5432/db?sslmode=disable); pgxpool settings
	// such as pool_max_conns may be added to it.
	DSN string `bridge:"postgres_dsn,secret"`
	// Schema holds the tables and the bookkeeping table; it is created if
	// missing.
	Schema string `bridge:"postgres_schema" default:"public"`
	// TablePrefix is put before every table name.
	TablePrefix string `bridge:"postgres_table_prefix,optional"`
	// Upsert merges rows on the primary key (INSERT ... ON CONFLICT DO
	// UPDATE) instead of appending them.
	Upsert bool `bridge:"postgres_upsert,optional"`
	// PrimaryKey names the key columns for upsert when the table's schema
	// marks none.
	PrimaryKey []string `bridge:"postgres_primary_key,optional"`
	// BookkeepingTable records the loaded batch ids.
	BookkeepingTable string `bridge:"postgres_bookkeeping_table" default:"_bridge_batches"`
	// ConnectTimeout bounds the first connection and ping.
	ConnectTimeout time.Duration `bridge:"postgres_connect_timeout" default:"10s"`
}

// Sink loads batches into PostgreSQL. It is safe for concurrent use.
type Sink struct {
	cfg    Config
	pcfg   *pgxpool.Config
	log    *zap.Logger
	schema string // cfg.Schema, defaulted

	mu   sync.Mutex
	pool *pgxpool.Pool
	dest string
	// cols caches the columns each table is known to have.
	cols map[string]map[string]bool
}

var (
	_ sink.Sink      = (*Sink)(nil)
	_ sink.Connector = (*Sink)(nil)
	_ sink.Closer    = (*Sink)(nil)
)

// New checks cfg and returns a sink; it connects in Connect.
func New(cfg Config, log *zap.Logger) (*Sink, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.DSN == "" {
		return nil, errors.New("postgres: postgres_dsn is empty")
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: postgres_dsn: %s", redact(err.Error(), cfg.DSN))
	}
	if cfg.Schema == "" {
		cfg.Schema = "public"
	}
	if cfg.BookkeepingTable == "" {
		cfg.BookkeepingTable = "_bridge_batches"
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	return &Sink{cfg: cfg, pcfg: pcfg, log: log, schema: cfg.Schema, cols: map[string]map[string]bool{}}, nil
}

// Destination returns a bridge destination writing to PostgreSQL, its
// Config resolved as bridge.NewConfiguredSink resolves it (pass
// bridge.WithConfig(postgres.Config{...}) for values in code).
func Destination(name string, opts ...bridge.Option) *bridge.Destination {
	return DestinationWithLogger(name, zap.NewNop(), opts...)
}

// DestinationWithLogger is Destination with a logger for the sink.
func DestinationWithLogger(name string, log *zap.Logger, opts ...bridge.Option) *bridge.Destination {
	// The sink encodes rows before Write returns and keeps none.
	opts = append([]bridge.Option{bridge.ReuseRows()}, opts...)
	return bridge.NewConfiguredSink(name, func(cfg Config) (sink.Sink, error) {
		return New(cfg, log)
	}, opts...)
}

// Connect opens the pool, pings the server and creates the schema and the
// bookkeeping table.
func (s *Sink) Connect(ctx context.Context, env sink.Env) error {
	s.mu.Lock()
	connected := s.pool != nil
	s.mu.Unlock()
	if connected {
		return errors.New("postgres: Connect called twice")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, s.pcfg)
	if err != nil {
		return fmt.Errorf("postgres: %s", redact(err.Error(), s.cfg.DSN))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return s.connectError(err)
	}
	if err := s.setup(ctx, pool); err != nil {
		pool.Close()
		return err
	}
	s.mu.Lock()
	s.pool, s.dest = pool, env.Destination
	s.mu.Unlock()
	s.log.Info("postgres sink connected", zap.String("server", s.addr()), zap.String("schema", s.schema))
	return nil
}

// connectError says why the first connection failed: the server answered
// and refused (a role or database that does not exist, a wrong password:
// its message and SQLSTATE), or it could not be reached in time.
func (s *Sink) connectError(err error) error {
	db, user := s.pcfg.ConnConfig.Database, s.pcfg.ConnConfig.User
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("postgres: %s (database %q, user %q) reached but refused: %s (SQLSTATE %s); check the user, password and database in postgres_dsn",
			s.addr(), db, user, redact(pe.Message, s.cfg.DSN), pe.Code)
	}
	return fmt.Errorf("postgres: cannot reach %s (database %q, user %q) within %v: %s; check that the server runs and postgres_dsn",
		s.addr(), db, user, s.cfg.ConnectTimeout, redact(err.Error(), s.cfg.DSN))
}

// addr is host:port of the DSN, without credentials.
func (s *Sink) addr() string {
	return net.JoinHostPort(s.pcfg.ConnConfig.Host, strconv.Itoa(int(s.pcfg.ConnConfig.Port)))
}

// setup creates the schema and the bookkeeping table, tolerating other
// workers doing the same at the same time.
func (s *Sink) setup(ctx context.Context, pool *pgxpool.Pool) error {
	stmts := []string{
		"CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{s.schema}.Sanitize(),
		"CREATE TABLE IF NOT EXISTS " + s.bookkeeping() + ` (destination text NOT NULL, batch_id text NOT NULL,
			table_name text NOT NULL, rows integer NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (destination, batch_id))`,
	}
	for _, q := range stmts {
		if err := ddl(ctx, pool, q); err != nil {
			return fmt.Errorf("postgres: setup in schema %q: %w", s.schema, err)
		}
	}
	return nil
}

func (s *Sink) bookkeeping() string {
	return pgx.Identifier{s.schema, s.cfg.BookkeepingTable}.Sanitize()
}

// Close closes the pool once the connections in use are released.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	pool := s.pool
	s.pool = nil
	s.mu.Unlock()
	if pool == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		pool.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("postgres: close: connections still in use: %w", ctx.Err())
	}
}

func (s *Sink) conn() (*pgxpool.Pool, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pool == nil {
		return nil, "", errors.New("postgres: the sink is not connected (Connect was not called, or it is closed)")
	}
	return s.pool, s.dest, nil
}

// redact removes the DSN's password from msg (pgx leaves it out of its
// errors already; this is in case). Passwords under 4 characters are left
// alone rather than masking every such letter.
func redact(msg, dsn string) string {
	if cfg, err := pgx.ParseConfig(dsn); err == nil && len(cfg.Password) >= 4 {
		msg = strings.ReplaceAll(msg, cfg.Password, "xxxxx")
	}
	return msg
}
