package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sinks/postgres"
)

// testDSN is the test server: BRIDGE_TEST_POSTGRES_DSN, or the local one.
func testDSN() string {
	if dsn := os.Getenv("BRIDGE_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// db is a connection to the test server with a schema of the test's own,
// dropped when the test ends.
type db struct {
	t      testing.TB
	pool   *pgxpool.Pool
	schema string
}

// newDB connects to the test server (failing under CI when it is missing,
// skipping otherwise) and creates a fresh schema.
func newDB(t testing.TB) *db {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, testDSN())
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL at %s is needed under CI: %v", "127.0.0.1:5432 (database test, user postgres)", err)
		}
		t.Skipf("no PostgreSQL (start one on 127.0.0.1:5432 with database test, or set BRIDGE_TEST_POSTGRES_DSN): %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	d := &db{t: t, pool: pool, schema: "bridge_test_" + hex.EncodeToString(b[:])}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+d.ident()); err != nil {
		pool.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA "+d.ident()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", d.schema, err)
		}
		pool.Close()
	})
	return d
}

func (d *db) ident(parts ...string) string {
	return pgx.Identifier(append([]string{d.schema}, parts...)).Sanitize()
}

// config is a sink config for the test's schema.
func (d *db) config() postgres.Config {
	return postgres.Config{DSN: testDSN(), Schema: d.schema}
}

// int64 runs a query returning one number.
func (d *db) int64(q string, args ...any) int64 {
	d.t.Helper()
	var n int64
	if err := d.pool.QueryRow(ctxT(d.t), q, args...).Scan(&n); err != nil {
		d.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// columns returns a table's columns and their types.
func (d *db) columns(table string) map[string]string {
	d.t.Helper()
	rows, err := d.pool.Query(ctxT(d.t), `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = $2`, d.schema, table)
	if err != nil {
		d.t.Fatal(err)
	}
	out := map[string]string{}
	var name, typ string
	if _, err := pgx.ForEachRow(rows, []any{&name, &typ}, func() error { out[name] = typ; return nil }); err != nil {
		d.t.Fatal(err)
	}
	return out
}

// pipeline opens a pipeline on an embedded NATS server in a temp dir,
// closed when the test ends.
func pipeline(t testing.TB, name, dir string, dest *bridge.Destination) *bridge.Pipeline {
	t.Helper()
	p, err := bridge.NewPipeline(name, dest, bridge.WithDataDir(dir))
	if err != nil {
		t.Fatalf("NewPipeline: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func randName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
