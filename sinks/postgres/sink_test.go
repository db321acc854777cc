package postgres_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge"
	"github.com/fanoutbridge/bridge/schema"
	"github.com/fanoutbridge/bridge/sink"
	"github.com/fanoutbridge/bridge/sinks/postgres"
)

// connect makes a sink on the test's schema and connects it.
func connect(t *testing.T, cfg postgres.Config, dest string) *postgres.Sink {
	t.Helper()
	s, err := postgres.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(ctxT(t), sink.Env{Pipeline: "p", Destination: dest}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return s
}

func table(name string, cols ...schema.Column) schema.Table {
	t := schema.NewTable(name, "")
	for _, c := range cols {
		if err := t.AddColumn(c); err != nil {
			panic(err)
		}
	}
	return *t
}

func idRows(from, to int) []schema.Row {
	var out []schema.Row
	for i := from; i < to; i++ {
		out = append(out, schema.Row{"id": int64(i), "v": fmt.Sprint("v", i)})
	}
	return out
}

var idV = []schema.Column{{Name: "id", DataType: schema.TypeBigInt}, {Name: "v", DataType: schema.TypeText}}

// A batch written again (a retry after a lost ack, a redelivery) is
// skipped; the same id of another destination is not.
func TestBatchWrittenTwiceLoadsOnce(t *testing.T) {
	d := newDB(t)
	s := connect(t, d.config(), "a")
	b := sink.Batch{ID: "p.1.t.1", Table: table("t", idV...), Rows: idRows(0, 10), Attempt: 1}
	for range 3 {
		if err := s.Write(ctxT(t), b); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.int64("SELECT count(*) FROM " + d.ident("t")); n != 10 {
		t.Fatalf("count = %d after 3 writes of one batch, want 10", n)
	}
	other := connect(t, d.config(), "b")
	if err := other.Write(ctxT(t), b); err != nil {
		t.Fatal(err)
	}
	if n := d.int64("SELECT count(*) FROM " + d.ident("t")); n != 20 {
		t.Fatalf("count = %d after the batch for a second destination, want 20", n)
	}
}

// Identifiers are quoted: table and column names with quotes, dots,
// semicolons and spaces are kept as they are.
func TestHostileNames(t *testing.T) {
	d := newDB(t)
	cfg := d.config()
	cfg.TablePrefix = `pre"fix.`
	s := connect(t, cfg, "a")
	name := `x"; DROP TABLE users; --`
	col := `Odd "col"; name.`
	b := sink.Batch{ID: "b1", Table: table(name, schema.Column{Name: "id", DataType: schema.TypeBigInt},
		schema.Column{Name: col, DataType: schema.TypeText}), Rows: []schema.Row{{"id": int64(1), col: "ok"}}}
	if err := s.Write(ctxT(t), b); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := d.pool.QueryRow(ctxT(t), `SELECT "Odd ""col""; name." FROM `+d.ident(cfg.TablePrefix+name)).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "ok" {
		t.Fatalf("got %q", got)
	}
}

// Data the server refuses is a terminal error with PostgreSQL's message,
// and nothing of the batch stays (not even its bookkeeping row, so a fixed
// replay loads).
func TestDataErrorsAreTerminal(t *testing.T) {
	d := newDB(t)
	if _, err := d.pool.Exec(ctxT(t), "CREATE TABLE "+d.ident("short")+" (id bigint, v varchar(3))"); err != nil {
		t.Fatal(err)
	}
	s := connect(t, d.config(), "a")
	b := sink.Batch{ID: "b1", Table: table("short", idV...), Rows: []schema.Row{{"id": int64(1), "v": "abc"}, {"id": int64(2), "v": "too long"}}}
	err := s.Write(ctxT(t), b)
	if !sink.IsTerminal(err) || !strings.Contains(err.Error(), "value too long") || !strings.Contains(err.Error(), "22001") {
		t.Fatalf("Write = %v, want a terminal error with PostgreSQL's message", err)
	}
	t.Log(err)
	if n := d.int64("SELECT count(*) FROM " + d.ident("short")); n != 0 {
		t.Fatalf("%d rows of a failed batch stayed", n)
	}
	b.Rows = b.Rows[:1]
	if err := s.Write(ctxT(t), b); err != nil {
		t.Fatalf("replay of the fixed batch: %v", err)
	}
	if n := d.int64("SELECT count(*) FROM " + d.ident("short")); n != 1 {
		t.Fatalf("count = %d after the fixed replay, want 1", n)
	}

	// A NUL byte in text: invalid input, terminal.
	b = sink.Batch{ID: "b2", Table: table("t", idV...), Rows: []schema.Row{{"id": int64(1), "v": "a\x00b"}}}
	if err := s.Write(ctxT(t), b); !sink.IsTerminal(err) {
		t.Fatalf("Write of a NUL byte = %v, want terminal", err)
	}
}

// Several processes (sinks with caches of their own) creating the same
// table and the same new columns at once all succeed: the catalog races of
// CREATE TABLE / ADD COLUMN IF NOT EXISTS (42P07, 42710, 42701, 23505) are
// tried again.
func TestConcurrentWorkersCreateTableAndColumns(t *testing.T) {
	d := newDB(t)
	const workers, tables, batches = 6, 4, 4
	sinks := make([]*postgres.Sink, workers)
	for i := range sinks {
		sinks[i] = connect(t, d.config(), "a")
	}
	for tb := range tables {
		name := fmt.Sprintf("shared%d", tb)
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, workers*batches)
		for w := range workers {
			wg.Go(func() {
				<-start
				for i := range batches {
					cols := append([]schema.Column{}, idV...)
					for c := range i + 1 {
						cols = append(cols, schema.Column{Name: fmt.Sprintf("c%d", c), DataType: schema.TypeDouble})
					}
					rows := idRows((w*batches+i)*10, (w*batches+i+1)*10)
					for _, r := range rows {
						r[fmt.Sprintf("c%d", i)] = 1.5
					}
					errs <- sinks[w].Write(ctxT(t), sink.Batch{ID: fmt.Sprintf("%s.w%d.%d", name, w, i), Table: table(name, cols...), Rows: rows})
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := d.int64("SELECT count(*) FROM " + d.ident(name)); n != workers*batches*10 {
			t.Fatalf("%s: count = %d, want %d", name, n, workers*batches*10)
		}
		if n := len(d.columns(name)); n != 2+batches {
			t.Fatalf("%s: %d columns, want %d", name, n, 2+batches)
		}
	}
}

// Upsert mode merges on the primary key: a later row of a key replaces the
// stored one, the last of a key within a batch wins. Calls in order per
// table (TableSequential) make the last row of the input win.
func TestUpsertThroughPipeline(t *testing.T) {
	d := newDB(t)
	cfg := d.config()
	cfg.Upsert, cfg.PrimaryKey = true, []string{"id"}
	p := pipeline(t, "pg_"+randName(), t.TempDir(), postgres.Destination("pg", bridge.WithConfig(cfg), bridge.BatchSize(40),
		bridge.LoaderParallelismStrategy(bridge.TableSequential)))
	load := func(from, to int, v string) {
		t.Helper()
		var items []any
		for i := from; i < to; i++ {
			items = append(items, map[string]any{"id": i, "v": v})
		}
		items = append(items, map[string]any{"id": to - 1, "v": v + "-dup"}) // same key in the same batch
		items = append(items, map[string]any{"id": from, "v": v + "-last"})  // same key again, later in the load
		if _, err := p.Run(ctxT(t), items, bridge.TableName("kv")); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	load(0, 100, "one")
	load(50, 150, "two")
	kv := d.ident("kv")
	if n := d.int64("SELECT count(*) FROM " + kv); n != 150 {
		t.Fatalf("count = %d, want 150", n)
	}
	if n := d.int64("SELECT count(*) FROM " + kv + " WHERE v = 'one' AND id BETWEEN 1 AND 49"); n != 49 {
		t.Fatalf("%d rows kept 'one', want 49", n)
	}
	if n := d.int64("SELECT count(*) FROM " + kv + " WHERE v = 'two' AND id BETWEEN 51 AND 148"); n != 98 {
		t.Fatalf("%d rows with 'two', want 98", n)
	}
	for _, tc := range []struct {
		id   int
		want string
	}{{0, "one-last"}, {50, "two-last"}, {99, "two"}, {149, "two-dup"}} {
		var v string
		if err := d.pool.QueryRow(ctxT(t), "SELECT v FROM "+kv+" WHERE id = $1", tc.id).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != tc.want {
			t.Errorf("id %d: %q, want %q", tc.id, v, tc.want)
		}
	}
}

// Connect fails fast and clearly when the server is not there, naming the
// host and port and never the password.
func TestConnectErrorNamesServerNotPassword(t *testing.T) {
	s, err := postgres.New(postgres.Config{DSN: "postgres://bob:s3cr3t-pw@127.0.0.1:1/db?connect_timeout=2", ConnectTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.Connect(ctxT(t), sink.Env{Destination: "a"})
	if err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
	t.Log(err)
	if msg := err.Error(); !strings.Contains(msg, "127.0.0.1:1") || strings.Contains(msg, "s3cr3t-pw") {
		t.Fatalf("error %q: want the address and no password", msg)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("Connect took %v", time.Since(start))
	}
	// A bad DSN fails NewPipeline, without the password either.
	_, err = bridge.NewPipeline("pg_"+randName(), postgres.Destination("pg", bridge.WithConfig(postgres.Config{DSN: "postgres://bob:s3cr3t-pw@127.0.0.1:5432/db?sslmode=bogus"})),
		bridge.WithDataDir(t.TempDir()))
	if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Fatalf("NewPipeline with a bad DSN: %v", err)
	}
	t.Log(err)
}

// A server that answers and refuses (no such role, no such database) is
// reported as reached but refused, with its message and SQLSTATE, at once;
// not as unreachable.
func TestConnectRefusedSaysWhy(t *testing.T) {
	newDB(t) // skips (fails under CI) without a server
	for _, tc := range []struct {
		name, dsn, want string
	}{
		{"no role", "postgres://nosuch@127.0.0.1:5432/test?sslmode=disable", `role "nosuch" does not exist (SQLSTATE 28000)`},
		{"no database", "postgres://postgres@127.0.0.1:5432/nodb?sslmode=disable", `database "nodb" does not exist (SQLSTATE 3D000)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if os.Getenv("BRIDGE_TEST_POSTGRES_DSN") != "" {
				t.Skip("needs the local test server (127.0.0.1:5432, trust auth)")
			}
			s, err := postgres.New(postgres.Config{DSN: tc.dsn}, nil)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = s.Connect(ctxT(t), sink.Env{Destination: "a"})
			if err == nil {
				t.Fatal("Connect succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, "127.0.0.1:5432") || !strings.Contains(msg, "reached but refused: "+tc.want) || strings.Contains(msg, "cannot reach") {
				t.Fatalf("error %q: want the address and \"reached but refused: %s\"", msg, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("Connect took %v to report a refusal", d)
			}
		})
	}
}

// configs/postgres.toml, used as .bridge/config.toml, resolves: the DSN
// from the file (shown as ***), the rest from the defaults.
func TestExampleConfigResolves(t *testing.T) {
	data, err := os.ReadFile("../../configs/postgres.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	dest := postgres.Destination("postgres", bridge.ConfigDir(dir))
	got := map[string]string{}
	for _, v := range dest.ConfigSummary() {
		got[v.Key] = v.Value
	}
	want := map[string]string{"postgres_dsn": "***", "postgres_schema": "public", "postgres_bookkeeping_table": "_bridge_batches",
		"postgres_connect_timeout": "10s"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (summary %v)", k, got[k], v, dest.ConfigSummary())
		}
	}
}

// A table dropped behind the sink's back (its column cache) is created
// again by the next batch.
func TestDroppedTableIsCreatedAgain(t *testing.T) {
	d := newDB(t)
	s := connect(t, d.config(), "a")
	write := func(id string, from, to int) {
		t.Helper()
		if err := s.Write(ctxT(t), sink.Batch{ID: id, Table: table("t", idV...), Rows: idRows(from, to)}); err != nil {
			t.Fatalf("batch %s: %v", id, err)
		}
	}
	write("b1", 0, 10)
	if _, err := d.pool.Exec(ctxT(t), "DROP TABLE "+d.ident("t")); err != nil {
		t.Fatal(err)
	}
	write("b2", 10, 15)
	if n := d.int64("SELECT count(*) FROM " + d.ident("t")); n != 5 {
		t.Fatalf("count = %d, want the 5 rows of the batch after the drop", n)
	}
}

// A value the client cannot encode for an existing column of another type
// (a bigint too big for an integer column) is terminal too.
func TestEncodeErrorIsTerminal(t *testing.T) {
	d := newDB(t)
	if _, err := d.pool.Exec(ctxT(t), "CREATE TABLE "+d.ident("narrow")+" (id integer, v text)"); err != nil {
		t.Fatal(err)
	}
	s := connect(t, d.config(), "a")
	err := s.Write(ctxT(t), sink.Batch{ID: "b1", Table: table("narrow", idV...), Rows: []schema.Row{{"id": int64(1) << 40, "v": "x"}}})
	t.Log(err)
	if !sink.IsTerminal(err) {
		t.Fatalf("Write = %v, want terminal", err)
	}
}

// A connection the server ends (a restart, an administrator) is a
// transient error: the batch is tried again and then loads once.
func TestTerminatedConnectionIsTransient(t *testing.T) {
	d := newDB(t)
	cfg := d.config()
	app := "bridge_test_" + randName()
	sep := "?"
	if strings.Contains(cfg.DSN, "?") {
		sep = "&"
	}
	cfg.DSN += sep + "application_name=" + app
	s := connect(t, cfg, "a")
	b := sink.Batch{ID: "b1", Table: table("t", idV...), Rows: idRows(0, 10)}
	if err := s.Write(ctxT(t), sink.Batch{ID: "b0", Table: b.Table, Rows: idRows(100, 101)}); err != nil {
		t.Fatal(err)
	}
	if n := d.int64("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app); n == 0 {
		t.Fatal("no connection of the sink to terminate")
	}
	var err error
	for try := range 5 {
		if err = s.Write(ctxT(t), b); err == nil {
			break
		}
		t.Logf("try %d: %v", try, err)
		if sink.IsTerminal(err) {
			t.Fatalf("a terminated connection gave a terminal error: %v", err)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if n := d.int64("SELECT count(*) FROM " + d.ident("t")); n != 11 {
		t.Fatalf("count = %d, want 11", n)
	}
}
