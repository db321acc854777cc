package bridge

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/internal/queuetest"
)

// backend is where a test's pipeline keeps its queue.
type backend struct {
	name string
	opts func(t *testing.T, dir string) []PipelineOption
}

// backends are the NATS servers every integration test runs against: the
// embedded one and the machine's own at 127.0.0.1:4222.
var backends = []backend{
	{"embedded", func(t *testing.T, dir string) []PipelineOption {
		return []PipelineOption{WithDataDir(dir)}
	}},
	{"external", func(t *testing.T, dir string) []PipelineOption {
		return []PipelineOption{WithDataDir(dir), WithNATSURL(queuetest.External(t))}
	}},
}

// forEachBackend runs f as a subtest per backend.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// env is one test's pipeline home: a name and a data dir that a second
// pipeline object can reopen.
type env struct {
	t    *testing.T
	b    backend
	name string
	dir  string
}

func newEnv(t *testing.T, b backend) *env {
	t.Helper()
	e := &env{t: t, b: b, name: queuetest.UniqueName("t"), dir: t.TempDir()}
	t.Cleanup(func() {
		// Leave nothing behind on the shared server.
		if b.name != "external" {
			return
		}
		p, err := NewPipeline(e.name, NewDestination("cleanup", func(context.Context, []Row, Table) error { return nil }), b.opts(t, e.dir)...)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = p.Drop(ctx)
		}
	})
	return e
}

// open opens a pipeline object on the env; it is closed when the test ends.
func (e *env) open(dest *Destination, opts ...PipelineOption) *Pipeline {
	e.t.Helper()
	p, err := NewPipeline(e.name, dest, append(e.b.opts(e.t, e.dir), opts...)...)
	if err != nil {
		e.t.Fatalf("NewPipeline: %v", err)
	}
	e.t.Cleanup(func() { p.Close() })
	p.cfg.fetchWait = 50 * time.Millisecond
	return p
}

// call is one recorded call of a destination.
type call struct {
	table   Table
	items   []Row
	batchID string
}

// recorder is a destination function that records its calls, and can be told
// to fail.
type recorder struct {
	mu    sync.Mutex
	calls []call
	fail  func(items []Row, table Table) error
}

func (r *recorder) fn(ctx context.Context, items []Row, table Table) error {
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(items, table); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{table: table, items: slices.Clone(items), batchID: BatchID(ctx)})
	return nil
}

func (r *recorder) setFail(f func(items []Row, table Table) error) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

func (r *recorder) snapshot() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// byTable returns every delivered item per table, in call order.
func (r *recorder) byTable() map[string][]Row {
	out := map[string][]Row{}
	for _, c := range r.snapshot() {
		out[c.table.Name] = append(out[c.table.Name], c.items...)
	}
	return out
}

func tableNames(m map[string][]Row) []string {
	return slices.Sorted(maps.Keys(m))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
