package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanoutbridge/bridge/sink"
)

func ids(rows []Row) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i], _ = r["id"].(int64)
	}
	return out
}

func idItems(n int) []any {
	items := make([]any, n)
	for i := range items {
		items[i] = map[string]any{"id": i + 1}
	}
	return items
}

// A function failing rows 3 and 7 (0-based: ids 4 and 8) of a 10-row batch:
// 8 rows delivered, one dead letter with the 2 rows and their errors, and a
// replay delivers those 2 only.
func TestRowErrorsDeadLetterOnlyFailedRows(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		e := newEnv(t, b)
		var mu sync.Mutex
		var got [][]int64
		failing := true
		fn := func(ctx context.Context, items []Row, table Table) error {
			mu.Lock()
			defer mu.Unlock()
			if !failing {
				got = append(got, ids(items))
				return nil
			}
			re := sink.RowErrors{3: Terminal(errors.New("bad email in row 3")), 7: Terminal(errors.New("bad email in row 7"))}
			var ok []int64
			for i, it := range items {
				if _, bad := re[i]; !bad {
					ok = append(ok, it["id"].(int64))
				}
			}
			got = append(got, ok)
			return re
		}
		p := e.open(NewDestination("rows", fn, BatchSize(10)))
		info, err := p.Run(ctx, idItems(10), TableName("users"))
		if !errors.Is(err, ErrDeadLettered) {
			t.Fatalf("Run: %v, want ErrDeadLettered", err)
		}
		if n := info.Delivered["users"].Items; n != 8 {
			t.Errorf("delivered %d items, want 8", n)
		}
		mu.Lock()
		if want := [][]int64{{1, 2, 3, 5, 6, 7, 9, 10}}; !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("calls delivered %v, want %v", got, want)
		}
		got, failing = nil, false
		mu.Unlock()

		dls, err := p.DeadLetters(ctx, DeadLetterFilter{})
		if err != nil || len(dls) != 1 {
			t.Fatalf("dead letters: %d, %v; want 1", len(dls), err)
		}
		dl := dls[0]
		if dl.Rows != 2 || !strings.Contains(dl.Error, "row 3") || !strings.Contains(dl.Error, "bad email in row 7") {
			t.Errorf("dead letter: %d rows, error %q; want 2 rows and both row errors", dl.Rows, dl.Error)
		}
		_, rows, err := p.DeadLetterRows(ctx, dl)
		if err != nil || !slices.Equal(ids(rows), []int64{4, 8}) {
			t.Errorf("dead letter rows %v (%v), want ids 4 and 8", ids(rows), err)
		}
		if n, err := p.ReplayDeadLetters(ctx, DeadLetterFilter{}); n != 1 || err != nil {
			t.Fatalf("replay: %d, %v", n, err)
		}
		if _, err := p.Run(ctx, nil); err != nil {
			t.Fatalf("Run after replay: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if want := [][]int64{{4, 8}}; !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("replay delivered %v, want %v", got, want)
		}
	})
}

// Transient row errors are retried with only the failed rows, under an id
// derived from the batch's and the rows' (the same for the same rows); rows that keep failing are dead-lettered once the attempts are
// spent, and the run does not redeliver the rows that got through.
func TestRowErrorsRetryOnlyFailedRows(t *testing.T) {
	ctx := ctxT(t)
	e := newEnv(t, backends[0])
	var mu sync.Mutex
	type seen struct {
		id   string
		ids  []int64
		try_ int
	}
	var calls []seen
	s := sink.Func(func(ctx context.Context, b sink.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, seen{b.ID, ids(b.Rows), b.Attempt})
		re := sink.RowErrors{}
		for i, r := range b.Rows {
			switch id := r["id"].(int64); {
			case id == 2 && b.Attempt < 3: // gets through on the third attempt
				re[i] = errors.New("timeout on row")
			case id == 5: // never gets through
				re[i] = errors.New("still busy")
			}
		}
		if len(re) == 0 {
			return nil
		}
		return re
	})
	p := e.open(NewSinkDestination("rows", s, BatchSize(6), MaxRetries(4), RetryBackoff(time.Millisecond, 2*time.Millisecond)))
	info, err := p.Run(ctx, idItems(6), TableName("t"))
	if !errors.Is(err, ErrDeadLettered) {
		t.Fatalf("Run: %v, want ErrDeadLettered", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []seen{
		{calls[0].id, []int64{1, 2, 3, 4, 5, 6}, 1},
		{calls[1].id, []int64{2, 5}, 2},
		{calls[1].id, []int64{2, 5}, 3},
		{calls[3].id, []int64{5}, 4},
	}
	if !slices.EqualFunc(calls, want, func(a, b seen) bool { return a.id == b.id && a.try_ == b.try_ && slices.Equal(a.ids, b.ids) }) {
		t.Errorf("calls %v, want %v", calls, want)
	}
	if len(calls) == 4 && (!strings.HasPrefix(calls[1].id, calls[0].id+".r") || calls[1].id == calls[3].id) {
		t.Errorf("row retry ids %q, %q: want the batch's id %q with a suffix per row set", calls[1].id, calls[3].id, calls[0].id)
	}
	if n := info.Delivered["t"].Items; n != 5 {
		t.Errorf("delivered %d items, want 5", n)
	}
	dls, err := p.DeadLetters(ctx, DeadLetterFilter{})
	if err != nil || len(dls) != 1 || dls[0].Rows != 1 || dls[0].Reason != "retries" || !strings.Contains(dls[0].Error, "still busy") {
		t.Fatalf("dead letters %+v (%v): want one with row id 5, reason retries", dls, err)
	}
}

// A destination that answers RetryAfter is waited for exactly as long as it
// asks, and the waits do not count as attempts.
func TestRetryAfterWaitsAsAsked(t *testing.T) {
	ctx := ctxT(t)
	e := newEnv(t, backends[0])
	var mu sync.Mutex
	var at []time.Time
	s := sink.Func(func(ctx context.Context, b sink.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, time.Now())
		if len(at) <= 3 {
			return sink.RetryAfter(errors.New("429 Too Many Requests"), 300*time.Millisecond)
		}
		return nil
	})
	// One attempt only: the waits must not count.
	p := e.open(NewSinkDestination("api", s, BatchSize(10), MaxRetries(1)))
	info, err := p.Run(ctx, idItems(5), TableName("t"))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := info.Delivered["t"].Items; n != 5 {
		t.Fatalf("delivered %d, want 5", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 4 {
		t.Fatalf("%d calls, want 4", len(at))
	}
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < 300*time.Millisecond || d > 2*time.Second {
			t.Errorf("wait %d was %v, want 300ms as asked", i, d)
		}
	}

	// Beyond MaxRetryAfter, the waits count as attempts.
	at = at[:0]
	mu.Unlock()
	e2 := newEnv(t, backends[0])
	always := sink.Func(func(ctx context.Context, b sink.Batch) error {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		return sink.RetryAfter(errors.New("429"), time.Millisecond)
	})
	p2 := e2.open(NewSinkDestination("api", always, BatchSize(10), MaxRetries(2), MaxRetryAfter(3)))
	_, err = p2.Run(ctx, idItems(1), TableName("t"))
	var re *RetriesError
	if !errors.As(err, &re) || re.Attempts != 2 {
		t.Errorf("Run: %v, want a RetriesError after 2 attempts", err)
	}
	mu.Lock()
	if len(at) != 5 {
		t.Errorf("%d calls, want 3 uncounted waits and 2 attempts", len(at))
	}
}

// lifeSink records its lifecycle and uses the shared store.
type lifeSink struct {
	mu        sync.Mutex
	env       sink.Env
	connected int
	closed    int
	rows      int
	failWith  error
}

func (s *lifeSink) Connect(ctx context.Context, env sink.Env) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failWith != nil {
		return s.failWith
	}
	s.env = env
	s.connected++
	return nil
}

func (s *lifeSink) Write(ctx context.Context, b sink.Batch) error {
	kv := s.env.Shared
	// Count rows in the shared store with compare-and-set.
	for {
		v, rev, err := kv.Get(ctx, "rows")
		if errors.Is(err, sink.ErrNotFound) {
			if _, err = kv.Create(ctx, "rows", fmt.Appendf(nil, "%d", len(b.Rows))); errors.Is(err, sink.ErrRevisionMismatch) {
				continue
			}
			return err
		}
		if err != nil {
			return err
		}
		var n int
		fmt.Sscan(string(v), &n)
		if _, err = kv.Update(ctx, "rows", fmt.Appendf(nil, "%d", n+len(b.Rows)), rev); errors.Is(err, sink.ErrRevisionMismatch) {
			continue
		}
		return err
	}
}

func (s *lifeSink) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed++
	return nil
}

// A sink is connected when the pipeline opens, gets a shared store with
// compare-and-set, and is closed once by Close; a sink that cannot connect
// stops NewPipeline with its error.
func TestSinkLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		e := newEnv(t, b)
		s := &lifeSink{}
		p := e.open(NewSinkDestination("life", s, BatchSize(7), MaxParallelLoadJobs(8)))
		if s.connected != 1 || s.env.Destination != "life" || s.env.Pipeline != e.name || s.env.Shared == nil {
			t.Fatalf("after NewPipeline: connected %d, env %+v", s.connected, s.env)
		}
		if _, err := p.Run(ctx, idItems(100), TableName("t")); err != nil {
			t.Fatalf("Run: %v", err)
		}
		v, _, err := s.env.Shared.Get(ctx, "rows")
		if err != nil || string(v) != "100" {
			t.Errorf("shared row count %q (%v), want 100", v, err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		_ = p.Close()
		if s.closed != 1 {
			t.Errorf("closed %d times, want 1", s.closed)
		}

		bad := &lifeSink{failWith: errors.New("connection refused")}
		_, err = NewPipeline(e.name, NewSinkDestination("life", bad), b.opts(t, e.dir)...)
		if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), `destination "life": connect`) {
			t.Errorf("NewPipeline with a sink that cannot connect: %v", err)
		}
	})
}

type sinkCfg struct {
	URL   string `bridge:"url"`
	Token string `bridge:"token,secret"`
}

// NewConfiguredSink resolves the config before it makes the sink; a
// constructor error is a config error that names the destination.
func TestNewConfiguredSink(t *testing.T) {
	t.Setenv("DESTINATION__HOOK__URL", "http://example.invalid/hook")
	t.Setenv("DESTINATION__HOOK__TOKEN", "s3cret-token")
	var got sinkCfg
	d := NewConfiguredSink("hook", func(c sinkCfg) (sink.Sink, error) {
		got = c
		return sink.Func(func(context.Context, sink.Batch) error { return nil }), nil
	}, ConfigDir(t.TempDir()))
	if d.err != nil || got.URL != "http://example.invalid/hook" || got.Token != "s3cret-token" || d.Sink() == nil {
		t.Fatalf("config %+v, err %v", got, d.err)
	}
	for _, v := range d.ConfigSummary() {
		if strings.Contains(v.String(), "s3cret") {
			t.Errorf("summary shows the secret: %s", v)
		}
	}
	d = NewConfiguredSink("hook", func(c sinkCfg) (sink.Sink, error) {
		return nil, errors.New("url must be https")
	}, ConfigDir(t.TempDir()))
	if !errors.Is(d.err, ErrInvalidConfig) || !strings.Contains(d.err.Error(), "url must be https") || strings.Contains(d.err.Error(), "s3cret") {
		t.Errorf("constructor error: %v", d.err)
	}
}
