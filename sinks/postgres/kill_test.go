package postgres_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/sinks/postgres"
)

// childEnv makes the test binary a child that runs a load (see TestMain).
const childEnv = "BRIDGE_PG_TEST_CHILD"

const killRows, killBatch = 50_000, 500

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "load" {
		os.Exit(childLoad())
	}
	os.Exit(m.Run())
}

// killItems is the input of the kill test: rows with ids 0..n-1.
func killItems(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"id": i, "name": fmt.Sprintf("user %d", i), "amount": float64(i) / 4}
	}
	return out
}

// killDest is the destination of the kill test's pipeline.
func killDest(schema string, log *zap.Logger) *bridge.Destination {
	return postgres.DestinationWithLogger("pg", log, bridge.WithConfig(postgres.Config{DSN: testDSN(), Schema: schema}), bridge.BatchSize(killBatch))
}

// childLoad loads killRows rows into the schema its environment names.
func childLoad() int {
	p, err := bridge.NewPipeline(os.Getenv("BRIDGE_PG_TEST_PIPELINE"), killDest(os.Getenv("BRIDGE_PG_TEST_SCHEMA"), zap.NewNop()),
		bridge.WithDataDir(os.Getenv("BRIDGE_PG_TEST_DIR")))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer p.Close()
	if _, err := p.Run(context.Background(), killItems(killRows), bridge.TableName("events"), bridge.ResumeKey("events-1")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// A load, a kill -9 mid-load, a restart on the same data directory with
// the same input: the table holds every row exactly once.
func TestKill9MidLoadThenRestartLoadsEveryRowOnce(t *testing.T) {
	d := newDB(t)
	dir, name := t.TempDir(), "pg_kill_"+randName()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=load", "BRIDGE_PG_TEST_DIR="+dir, "BRIDGE_PG_TEST_PIPELINE="+name,
		"BRIDGE_PG_TEST_SCHEMA="+d.schema)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Kill once some batches are in, long before the last.
	events := d.ident("events")
	deadline := time.Now().Add(2 * time.Minute)
	var before int64
	for before < 10*killBatch {
		select {
		case err := <-exited:
			t.Fatalf("the child ended (%v) before it was killed, with %d rows in", err, before)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("the child loaded %d rows within 2 minutes; is PostgreSQL slow or the machine overloaded?", before)
		}
		// The table appears with the first batch.
		_ = d.pool.QueryRow(ctxT(t), "SELECT count(*) FROM "+events).Scan(&before)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	before = d.int64("SELECT count(*) FROM " + events)
	t.Logf("killed with %d of %d rows in", before, killRows)
	if before >= killRows {
		t.Fatalf("the child had loaded everything (%d rows) before the kill: not mid-load", before)
	}

	// Restart: the same pipeline, data directory and input.
	core, logs := observer.New(zap.InfoLevel)
	p := pipeline(t, name, dir, killDest(d.schema, zap.New(core)))
	start := time.Now()
	if _, err := p.Run(ctxT(t), killItems(killRows), bridge.TableName("events"), bridge.ResumeKey("events-1")); err != nil {
		t.Fatalf("the run after kill -9: %v", err)
	}
	t.Logf("the restart took %v; it skipped %d batches loaded before", time.Since(start).Round(time.Millisecond),
		logs.FilterMessage("postgres: batch loaded before, skipped").Len())
	total, distinct := d.int64("SELECT count(*) FROM "+events), d.int64("SELECT count(DISTINCT id) FROM "+events)
	if total != killRows || distinct != killRows {
		t.Fatalf("count(*) = %d, count(distinct id) = %d, want both %d", total, distinct, killRows)
	}
	if lo, hi := d.int64("SELECT min(id) FROM "+events), d.int64("SELECT max(id) FROM "+events); lo != 0 || hi != killRows-1 {
		t.Fatalf("ids %d..%d, want 0..%d", lo, hi, killRows-1)
	}
	if n := d.int64("SELECT coalesce(sum(rows), 0) FROM " + d.ident("_bridge_batches")); n != killRows {
		t.Fatalf("the bookkeeping table counts %d rows, want %d", n, killRows)
	}
}
